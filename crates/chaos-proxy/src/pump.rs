//! Moving bytes one way through a connection.
//!
//! Fast path (no fault on this direction): read into the pump's buffer,
//! load the fault generation (one atomic), write the chunk out, count it.
//! No allocation, no lock, no clock.
//!
//! When the generation moves, the pump re-reads the fault registry and keeps
//! one [`ToxicLink`] per active fault on its direction. With links present,
//! each chunk goes through the faulty path:
//! 1. hold while any link holds (`stall`), not reading either;
//! 2. let every link see the chunk and plan its delivery (change bytes,
//!    add delay, drop it);
//! 3. wait out the delay, counted from when the chunk was read;
//! 4. write it, in pieces and at a pace if a link shapes it (`slicer`,
//!    `bandwidth`); a wait between pieces is cut short when the faults
//!    change, so a fault that ends stops shaping at once and a stall that
//!    starts stops the rest of the chunk.

use crate::fault::{Direction, FaultId};
use crate::shared::Shared;
use crate::toxics::{LinkInfo, Plan, Shape, ToxicLink};
use futures_lite::future;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::{Async, Timer};
use std::io;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Bytes read (and written) at once.
pub(crate) const BUF_SIZE: usize = 128 * 1024;

struct Link {
    id: FaultId,
    link: Box<dyn ToxicLink>,
}

pub(crate) struct Pump<'a> {
    shared: &'a Shared,
    conn: u64,
    flow: Direction,
    src: &'a Async<TcpStream>,
    dst: &'a Async<TcpStream>,
    buf: Box<[u8]>,
    /// Fault generation `links` was built for.
    generation: u64,
    links: Vec<Link>,
    /// When the bandwidth budget next allows a write.
    pace_at: Instant,
}

impl<'a> Pump<'a> {
    pub fn new(
        shared: &'a Shared,
        conn: u64,
        flow: Direction,
        src: &'a Async<TcpStream>,
        dst: &'a Async<TcpStream>,
    ) -> Self {
        let mut pump = Pump {
            shared,
            conn,
            flow,
            src,
            dst,
            buf: vec![0u8; BUF_SIZE].into_boxed_slice(),
            generation: u64::MAX,
            links: Vec::new(),
            pace_at: Instant::now(),
        };
        pump.sync();
        pump
    }

    /// Pump until EOF (then half-close the other side) or an I/O error.
    pub async fn run(mut self) -> io::Result<()> {
        let forwarded = self.shared.counters.bytes(self.flow);
        let mut src = self.src;
        let mut dst = self.dst;
        loop {
            let limit = if self.links.is_empty() {
                self.buf.len()
            } else {
                self.wait_while_held(0).await;
                self.read_limit()
            };
            let n = src.read(&mut self.buf[..limit]).await?;
            if n == 0 {
                let _ = dst.get_ref().shutdown(Shutdown::Write);
                return Ok(());
            }
            self.sync();
            if self.links.is_empty() {
                dst.write_all(&self.buf[..n]).await?;
                forwarded.fetch_add(n as u64, Ordering::Relaxed);
            } else {
                self.deliver(n).await?;
            }
        }
    }

    /// Rebuild the links if the set of faults changed.
    fn sync(&mut self) {
        if self.shared.generation.load(Ordering::Acquire) != self.generation {
            self.refresh();
        }
    }

    fn refresh(&mut self) {
        let registry = self.shared.registry.lock().unwrap();
        self.generation = self.shared.generation.load(Ordering::Acquire);
        let mut old = std::mem::take(&mut self.links);
        let info = LinkInfo {
            conn: self.conn,
            flow: self.flow,
        };
        for fault in registry.active() {
            if !fault.direction.covers(self.flow) {
                continue;
            }
            if let Some(pos) = old.iter().position(|l| l.id == fault.id) {
                self.links.push(old.swap_remove(pos));
            } else if let Some(link) = fault.toxic.link(&info) {
                self.links.push(Link { id: fault.id, link });
            }
        }
    }

    fn read_limit(&self) -> usize {
        self.links
            .iter()
            .filter_map(|l| l.link.read_limit())
            .fold(self.buf.len(), usize::min)
            .max(1)
    }

    fn holds(&self) -> bool {
        self.links.iter().any(|l| l.link.holds())
    }

    /// Wait while a link holds the stream; `pending` bytes are in hand.
    async fn wait_while_held(&mut self, pending: usize) {
        let mut counted = false;
        loop {
            self.sync();
            if !self.holds() {
                return;
            }
            if !counted {
                counted = true;
                if pending > 0 {
                    for l in self.links.iter_mut().filter(|l| l.link.holds()) {
                        l.link.on_hold(pending);
                    }
                }
            }
            let listener = self.shared.changed.listen();
            self.sync();
            if !self.holds() {
                return;
            }
            listener.await;
        }
    }

    /// The faulty path for the `n` bytes at the start of the buffer.
    async fn deliver(&mut self, n: usize) -> io::Result<()> {
        let read_at = Instant::now();
        self.wait_while_held(n).await;
        let mut plan = Plan::default();
        for l in &mut self.links {
            l.link.on_chunk(&mut self.buf[..n], &mut plan);
        }
        if plan.drop {
            return Ok(());
        }
        if !plan.delay.is_zero() {
            Timer::at(read_at + plan.delay).await;
        }

        let forwarded = self.shared.counters.bytes(self.flow);
        let mut dst = self.dst;
        let mut off = 0;
        let mut last_write: Option<Instant> = None;
        while off < n {
            self.wait_while_held(n - off).await;
            let mut shape = Shape::default();
            for l in &self.links {
                l.link.shape(&mut shape);
            }
            let k = if shape.is_plain() {
                n - off
            } else {
                shape.piece.min(n - off)
            };
            let now = Instant::now();
            let paced = shape.rate.map(|rate| {
                self.pace_at.max(now) + Duration::from_secs_f64(k as f64 / rate as f64)
            });
            let gap = last_write
                .filter(|_| !shape.gap.is_zero())
                .map(|t| t + shape.gap);
            if let Some(due) = paced.max(gap).filter(|&due| due > now) {
                // Wait for the piece's turn, unless the faults change first:
                // then look again (a fault that ended stops shaping at once).
                let listener = self.shared.changed.listen();
                if self.shared.generation.load(Ordering::Acquire) != self.generation {
                    continue;
                }
                let on_time = future::or(
                    async {
                        Timer::at(due).await;
                        true
                    },
                    async {
                        listener.await;
                        false
                    },
                )
                .await;
                if !on_time {
                    continue;
                }
            }
            if let Some(paced) = paced {
                self.pace_at = paced;
            }
            dst.write_all(&self.buf[off..off + k]).await?;
            forwarded.fetch_add(k as u64, Ordering::Relaxed);
            last_write = Some(Instant::now());
            off += k;
        }
        Ok(())
    }
}
