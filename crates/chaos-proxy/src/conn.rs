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
use crate::live::{ConnCtl, KILL_RESET_CLIENT, KILL_RESET_UPSTREAM};
use crate::pump::Pump;
use crate::shared::Shared;
use futures_lite::future;
use smol::{Async, Timer};
use socket2::SockRef;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How long we wait for the upstream to accept.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

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
