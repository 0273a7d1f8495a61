//! Clients of the services a target runs, one module per protocol behind
//! one small interface, [`Probe`]: what a request is and what a good answer
//! is ([`Probe::ask`]), how to write values and read them back for the
//! data-loss check ([`Probe::write`], [`Probe::read_back`]), what a
//! malformed request is ([`Probe::malformed`]) and what a large one is
//! ([`Probe::send_large`]). The scenarios, `run --probe` and the demo's
//! workload use them; none of them knows which protocol it talks.
//!
//! * [`kinds`] — one file per protocol: `line` (request line, answer
//!   line), `tcp` (a bare connect), `http` (HTTP/1.1), `amqp` (AMQP 0-9-1);
//! * [`spec`] — a probe from a URL (`amqp://…`, `http://…`, `line://…`,
//!   `tcp://…`) or from the config, loopback only;
//! * [`guess`] — what a listener speaks, found by asking it;
//! * [`line`] — the line-protocol connection the others build on.

pub mod guess;
pub mod kinds;
pub mod line;
pub mod spec;

use futures::future::BoxFuture;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use kinds::line::LineProtocol;
pub use spec::{ProbeSpec, SpecError};

/// What one request got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The expected answer (what it said).
    Ok(String),
    /// A clean refusal: the service is there and said no (a protocol
    /// error, a rate limit, `503`, a broker closing the connection with a
    /// reply code).
    Refused(String),
    /// Neither: no answer, a broken connection, a wrong answer.
    Failed(String),
}

impl Answer {
    /// The expected answer came.
    pub fn is_ok(&self) -> bool {
        matches!(self, Answer::Ok(_))
    }

    /// A clean refusal.
    pub fn is_refused(&self) -> bool {
        matches!(self, Answer::Refused(_))
    }

    /// What was said, or the error.
    pub fn what(&self) -> &str {
        match self {
            Answer::Ok(s) | Answer::Refused(s) | Answer::Failed(s) => s,
        }
    }
}

/// The acknowledged writes read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadBack {
    /// Acknowledged writes missing or changed.
    pub lost: u64,
    /// Some reads failed (no connection, an error answer): worth retrying.
    pub unsure: bool,
}

/// One malformed request a protocol can be sent.
#[derive(Debug, Clone)]
pub struct Malformed {
    /// Its name in the report ("random_bytes", "bad_frame_type", …).
    pub kind: &'static str,
    /// The bytes, sent as they are (after the protocol's preamble, if any).
    pub bytes: Vec<u8>,
}

/// What the service did with a malformed request.
#[derive(Debug, Clone)]
pub struct MalformedAnswer {
    /// What it said, or what happened to the connection.
    pub said: String,
    /// It refused cleanly: a protocol error, or a close the protocol
    /// prescribes for the error.
    pub protocol_error: bool,
    /// The same connection, asked the probe request next, answered
    /// (`None`: the connection was closed after the error, as the protocol allows).
    pub same_connection_answers: Option<bool>,
}

/// What the service did with a request far over its size limit.
#[derive(Debug, Clone)]
pub struct LargeAnswer {
    /// Bytes sent (or that would have been, when the write ended early).
    pub bytes: usize,
    /// What it said.
    pub said: String,
    /// Refused: a protocol error, or the connection closed without acknowledging.
    pub refused: bool,
    /// The whole request was written (`Err`: why the write ended early).
    pub wrote: Result<(), String>,
}

/// A connection kept open for repeated requests (floods, leaks).
pub trait Session: Send {
    /// One request on this connection, within `limit`.
    fn request(&mut self, limit: Duration) -> BoxFuture<'_, Answer>;
}

/// One push of a [`SlowClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Push {
    /// Requests (or messages) that make the service write to the slow client.
    pub requests: u64,
    /// The service stopped serving the slow client: our write did not go
    /// through within its limit, or the service holds back what it would
    /// send (a broker keeping messages queued).
    pub stuck: bool,
}

/// A client that never reads, pushed again and again until the service stops
/// serving it; dropping it closes its connection.
pub trait SlowClient: Send {
    /// Make the service send it more, within `limit`.
    fn push(&mut self, limit: Duration) -> BoxFuture<'_, io::Result<Push>>;
}

/// A client of one service.
pub trait Probe: Send + Sync + std::fmt::Debug {
    /// `line`, `tcp`, `http` or `amqp`.
    fn kind(&self) -> &'static str;

    /// Where it connects.
    fn addr(&self) -> SocketAddr;

    /// The same probe aimed at `addr` (a proxy in front of the service).
    fn at(&self, addr: SocketAddr) -> Arc<dyn Probe>;

    /// What it asks, for reports. Never credentials.
    fn describe(&self) -> String;

    /// The liveness request on a fresh connection, within `limit`.
    fn ask(&self, limit: Duration) -> BoxFuture<'_, Answer>;

    /// A connection kept open for repeated requests.
    fn open(&self, limit: Duration) -> BoxFuture<'_, io::Result<Box<dyn Session>>>;

    /// Write `pairs` (key, value) so they can be read back: the pairs the
    /// service acknowledged, or `None` when this probe cannot write.
    fn write<'a>(
        &'a self,
        pairs: &'a [(String, String)],
        limit: Duration,
    ) -> BoxFuture<'a, Option<Vec<(String, String)>>>;

    /// Read acknowledged writes back: how many are missing or changed.
    fn read_back<'a>(
        &'a self,
        pairs: &'a [(String, String)],
        limit: Duration,
    ) -> BoxFuture<'a, ReadBack>;

    /// Malformed requests of this protocol; empty when this probe cannot
    /// tell a protocol error from a crash (a bare TCP connect).
    fn malformed(&self) -> Vec<Malformed>;

    /// One whole, harmless request of this protocol as a fresh connection
    /// sends it (its preamble included), for faults that cut a request short
    /// (`mid_request_disconnect`); `None` when the protocol is unknown.
    fn request_bytes(&self) -> Option<Vec<u8>>;

    /// Send `m` on a fresh connection and see what the service does.
    fn send_malformed<'a>(
        &'a self,
        m: &'a Malformed,
        limit: Duration,
    ) -> BoxFuture<'a, MalformedAnswer>;

    /// A request of about `bytes` bytes, written while its answer is read;
    /// `Err(why)` when this probe has no request that carries a payload
    /// (the scenario is skipped, saying why).
    fn send_large(
        &self,
        bytes: usize,
        limit: Duration,
    ) -> BoxFuture<'_, Result<LargeAnswer, String>>;

    /// A client that stops reading (a slow consumer), its connection's
    /// receive window small, with about `bytes` in each answer it makes the
    /// service send; `None` when the protocol has no way to make a service
    /// push answers at a client that does not read them.
    fn slow_client(
        &self,
        bytes: usize,
        limit: Duration,
    ) -> BoxFuture<'_, Option<io::Result<Box<dyn SlowClient>>>>;

    /// Remove what [`Probe::write`] and [`Probe::send_large`] left on the service.
    fn cleanup(&self, limit: Duration) -> BoxFuture<'_, ()>;
}

/// A password: shown as `***` by `Debug`, so no log or report of a
/// probe's settings ever carries it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// A short name for an I/O failure, as a client saw it.
pub fn error_kind(e: &io::Error) -> String {
    line::error_kind(e)
}
