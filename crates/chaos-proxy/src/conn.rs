//! One proxied connection, and the registry of live ones.
//!
//! A connection task connects to the upstream, then runs its two pumps
//! until both directions have ended (EOF both ways), one fails, or it is
//! killed. A kill comes through its [`ConnCtl`]: a plain close (shutdown),
//! or a reset of the client side, the server side or both (`reset` fault),
//! done by setting `SO_LINGER` to 0 before the sockets are dropped. A side
//! closed normally is drained first, since closing a socket with unread data
//! makes the kernel send RST.
//!
//! When a pump fails (a peer reset us, a write hit a dead socket) both sides
//! are reset, so that neither peer mistakes the failure for a clean close.

use crate::fault::Direction;
use crate::proxy::Shared;
use crate::pump::Pump;
use event_listener::Event;
use futures_lite::future;
use smol::{Async, Timer};
use socket2::SockRef;
use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Kill: close both sides normally.
pub(crate) const KILL_CLOSE: u8 = 1;
/// Kill: reset the client side.
pub(crate) const KILL_RESET_CLIENT: u8 = 2;
/// Kill: reset the server side.
pub(crate) const KILL_RESET_UPSTREAM: u8 = 4;

/// How long we wait for the upstream to accept.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A live connection's kill switch.
#[derive(Default)]
pub(crate) struct ConnCtl {
    kill: AtomicU8,
    event: Event,
}

impl ConnCtl {
    fn kill(&self, bits: u8) {
        self.kill.fetch_or(bits, Ordering::AcqRel);
        self.event.notify(usize::MAX);
    }

    /// Resolves with the kill bits once the connection has been killed.
    async fn killed(&self) -> u8 {
        loop {
            let bits = self.kill.load(Ordering::Acquire);
            if bits != 0 {
                return bits;
            }
            let listener = self.event.listen();
            let bits = self.kill.load(Ordering::Acquire);
            if bits != 0 {
                return bits;
            }
            listener.await;
        }
    }
}

/// Live connections, by number.
#[derive(Default)]
pub(crate) struct Connections {
    map: Mutex<HashMap<u64, Arc<ConnCtl>>>,
    next: AtomicU64,
    closed: Event,
}

impl Connections {
    /// A new connection number (from 1) and its kill switch.
    pub fn register(&self) -> (u64, Arc<ConnCtl>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let ctl = Arc::new(ConnCtl::default());
        self.map.lock().unwrap().insert(id, ctl.clone());
        (id, ctl)
    }

    fn deregister(&self, id: u64) {
        self.map.lock().unwrap().remove(&id);
        self.closed.notify(usize::MAX);
    }

    /// Kill every live connection with `bits`; returns how many there were.
    pub fn kill_all(&self, bits: u8) -> u64 {
        let map = self.map.lock().unwrap();
        for ctl in map.values() {
            ctl.kill(bits);
        }
        map.len() as u64
    }

    /// Reset every live connection on the side(s) `direction` points to.
    pub fn reset_all(&self, direction: Direction) -> u64 {
        let bits = match direction {
            Direction::Downstream => KILL_RESET_CLIENT,
            Direction::Upstream => KILL_RESET_UPSTREAM,
            Direction::Both => KILL_RESET_CLIENT | KILL_RESET_UPSTREAM,
        };
        self.kill_all(bits)
    }

    /// Resolves once no connection is left.
    pub async fn wait_empty(&self) {
        loop {
            let listener = self.closed.listen();
            if self.map.lock().unwrap().is_empty() {
                return;
            }
            listener.await;
        }
    }
}

/// Serve one accepted connection until it ends; deregisters it at the end.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    id: u64,
    ctl: Arc<ConnCtl>,
    client: Async<TcpStream>,
) {
    run(&shared, id, &ctl, client).await;
    shared.counters.active.fetch_sub(1, Ordering::Relaxed);
    shared.conns.deregister(id);
    tracing::debug!(conn = id, "connection closed");
}

enum Outcome {
    Done(io::Result<((), ())>),
    Killed(u8),
}

async fn run(shared: &Shared, id: u64, ctl: &ConnCtl, client: Async<TcpStream>) {
    // The kill switch is polled first everywhere, so that a kill wins over
    // any progress made in the same wake-up (e.g. a stall ending at shutdown).
    let connect = async { Ok(connect(shared.upstream).await) };
    let upstream = match future::or(async { Err(ctl.killed().await) }, connect).await {
        Ok(Ok(upstream)) => upstream,
        Ok(Err(e)) => {
            tracing::debug!(conn = id, upstream = %shared.upstream, "upstream connect failed: {e}");
            shared
                .counters
                .connect_failures
                .fetch_add(1, Ordering::Relaxed);
            linger_zero(&client);
            return;
        }
        Err(bits) => {
            if bits & KILL_RESET_CLIENT != 0 {
                linger_zero(&client);
            } else {
                drain(&client);
            }
            return;
        }
    };

    let pumps = future::try_zip(
        Pump::new(shared, id, Direction::Upstream, &client, &upstream).run(),
        Pump::new(shared, id, Direction::Downstream, &upstream, &client).run(),
    );
    let outcome = future::or(async { Outcome::Killed(ctl.killed().await) }, async {
        Outcome::Done(pumps.await)
    })
    .await;
    match outcome {
        Outcome::Done(Ok(_)) => {}
        Outcome::Done(Err(e)) => {
            tracing::debug!(conn = id, "connection failed: {e}");
            linger_zero(&client);
            linger_zero(&upstream);
        }
        Outcome::Killed(bits) => {
            for (side, reset) in [
                (&client, bits & KILL_RESET_CLIENT != 0),
                (&upstream, bits & KILL_RESET_UPSTREAM != 0),
            ] {
                if reset {
                    linger_zero(side);
                } else {
                    drain(side);
                }
            }
        }
    }
    // Dropping the sockets closes them: FIN, or RST where lingering is 0.
}

async fn connect(addr: SocketAddr) -> io::Result<Async<TcpStream>> {
    let timeout = async {
        Timer::after(CONNECT_TIMEOUT).await;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "upstream connect timed out",
        ))
    };
    let stream = future::or(Async::<TcpStream>::connect(addr), timeout).await?;
    stream.get_ref().set_nodelay(true)?;
    Ok(stream)
}

/// Throw away what is waiting in `stream`'s receive buffer (without
/// blocking), so that closing it sends FIN: the kernel answers a close with
/// unread data by RST.
fn drain(stream: &Async<TcpStream>) {
    let mut buf = [0u8; 16 * 1024];
    let mut socket = stream.get_ref();
    for _ in 0..256 {
        match socket.read(&mut buf) {
            Ok(n) if n > 0 => continue,
            _ => return,
        }
    }
}

/// Make the next close of `stream` send RST instead of FIN.
pub(crate) fn linger_zero(stream: &Async<TcpStream>) {
    if let Err(e) = SockRef::from(stream.get_ref()).set_linger(Some(Duration::ZERO)) {
        tracing::debug!("SO_LINGER 0 failed: {e}");
    }
}
