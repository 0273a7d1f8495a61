//! A bare TCP connect, for protocols none of the other probes speak: a
//! service is up when it accepts a connection (and does not close it at
//! once). It cannot write, read back or tell a protocol error, so the
//! scenarios that need those say so; connection leaks, partitions and
//! CPU saturation still measure something.

use crate::line::{error_kind, within};
use crate::{
    Answer, LargeAnswer, Malformed, MalformedAnswer, Probe, ReadBack, Session, SlowClient,
};
use futures::future::BoxFuture;
use futures::io::AsyncReadExt;
use smol::net::TcpStream;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A service that accepts TCP connections.
#[derive(Debug, Clone)]
pub struct TcpProbe {
    /// Where.
    pub addr: SocketAddr,
}

/// How long an accepted connection is watched for an immediate close.
const SETTLE: Duration = Duration::from_millis(20);

/// Connect; then a close within [`SETTLE`] is a refusal (a server that
/// accepts and drops at once is not serving).
async fn connect(addr: SocketAddr, limit: Duration) -> Result<TcpStream, Answer> {
    let s = within(limit, TcpStream::connect(addr))
        .await
        .map_err(|e| Answer::Failed(error_kind(&e)))?;
    let mut buf = [0u8; 1];
    match within(SETTLE, s.peek(&mut buf)).await {
        Ok(0) => Err(Answer::Refused("accepted, then closed at once".into())),
        Err(e) if e.kind() != io::ErrorKind::TimedOut => Err(Answer::Refused(format!(
            "accepted, then {}",
            error_kind(&e)
        ))),
        _ => Ok(s),
    }
}

struct TcpSession {
    stream: TcpStream,
}

impl Session for TcpSession {
    /// Still open: nothing to read means nobody closed it.
    fn request(&mut self, _limit: Duration) -> BoxFuture<'_, Answer> {
        Box::pin(async move {
            let mut buf = [0u8; 512];
            match within(Duration::from_millis(1), self.stream.read(&mut buf)).await {
                Ok(0) => Answer::Failed("closed".into()),
                Err(e) if e.kind() != io::ErrorKind::TimedOut => Answer::Failed(error_kind(&e)),
                _ => Answer::Ok("open".into()),
            }
        })
    }
}

impl Probe for TcpProbe {
    fn kind(&self) -> &'static str {
        "tcp"
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn at(&self, addr: SocketAddr) -> Arc<dyn Probe> {
        Arc::new(TcpProbe { addr })
    }

    fn describe(&self) -> String {
        format!("tcp {} (a connection accepted)", self.addr)
    }

    fn ask(&self, limit: Duration) -> BoxFuture<'_, Answer> {
        Box::pin(async move {
            match connect(self.addr, limit).await {
                Ok(_) => Answer::Ok("accepted".into()),
                Err(a) => a,
            }
        })
    }

    fn open(&self, limit: Duration) -> BoxFuture<'_, io::Result<Box<dyn Session>>> {
        Box::pin(async move {
            let stream = connect(self.addr, limit)
                .await
                .map_err(|a| io::Error::other(a.what().to_string()))?;
            Ok(Box::new(TcpSession { stream }) as Box<dyn Session>)
        })
    }

    fn write<'a>(
        &'a self,
        _pairs: &'a [(String, String)],
        _limit: Duration,
    ) -> BoxFuture<'a, Option<Vec<(String, String)>>> {
        Box::pin(async { None })
    }

    fn read_back<'a>(
        &'a self,
        _pairs: &'a [(String, String)],
        _limit: Duration,
    ) -> BoxFuture<'a, ReadBack> {
        Box::pin(async { ReadBack::default() })
    }

    fn malformed(&self) -> Vec<Malformed> {
        Vec::new()
    }

    fn request_bytes(&self) -> Option<Vec<u8>> {
        None
    }

    fn send_malformed<'a>(
        &'a self,
        _m: &'a Malformed,
        _limit: Duration,
    ) -> BoxFuture<'a, MalformedAnswer> {
        Box::pin(async {
            MalformedAnswer {
                said: "a bare TCP probe sends no requests".into(),
                protocol_error: false,
                same_connection_answers: None,
            }
        })
    }

    fn send_large(
        &self,
        _bytes: usize,
        _limit: Duration,
    ) -> BoxFuture<'_, Result<LargeAnswer, String>> {
        Box::pin(async {
            Err("a bare TCP probe sends no request that carries a payload (name one that speaks the service's protocol with --probe)".into())
        })
    }

    fn slow_client(
        &self,
        _bytes: usize,
        _limit: Duration,
    ) -> BoxFuture<'_, Option<io::Result<Box<dyn SlowClient>>>> {
        Box::pin(async { None })
    }

    fn cleanup(&self, _limit: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}
