//! The connection's public types: how to connect, what a call can fail
//! with, what a mailbox receives, and the connection's counters.

use super::*;

/// Options for [`DistClient::connect`].
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The target node.
    pub node: NodeName,
    /// The cookie.
    pub cookie: Cookie,
    /// Distribution port; `None` asks epmd.
    pub port: Option<u16>,
    /// epmd port on the target host.
    pub epmd_port: u16,
    /// Limit for each step of connecting.
    pub connect_timeout: Duration,
    /// Default limit for each call.
    pub call_timeout: Duration,
    /// The node must be heard from at least this often.
    pub tick: Duration,
}

impl ConnectOptions {
    /// Defaults: epmd lookup, 5 s connect and call timeouts, 1 s tick.
    pub fn new(node: NodeName, cookie: Cookie) -> Self {
        Self {
            node,
            cookie,
            port: None,
            epmd_port: connect::default_epmd_port(),
            connect_timeout: Duration::from_secs(5),
            call_timeout: Duration::from_secs(5),
            tick: Duration::from_secs(1),
        }
    }
}

/// Why a call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// No answer in time; the call's process was killed on the target.
    #[error("call {mfa} timed out after {after:?} (its process on the target was killed)")]
    Timeout {
        /// `module:function/arity`.
        mfa: String,
        /// The limit.
        after: Duration,
    },
    /// The connection is gone (before or during the call).
    #[error("connection to {node} lost: {reason}")]
    Disconnected {
        /// Target.
        node: String,
        /// Why.
        reason: String,
    },
    /// The function raised an exception on the target.
    #[error("{mfa} raised {class}: {reason}")]
    Raised {
        /// `module:function/arity`.
        mfa: String,
        /// `error`, `exit` or `throw`.
        class: String,
        /// The reason, as text.
        reason: String,
        /// The reason term.
        term: Box<Term>,
    },
    /// The call's process died from a signal (for example it was killed).
    #[error("{mfa}: its process on the target died: {reason}")]
    ProcessDied {
        /// `module:function/arity`.
        mfa: String,
        /// Exit reason, as text.
        reason: String,
    },
    /// The target could not spawn the call's process.
    #[error("{mfa}: the target could not start the call: {reason}")]
    SpawnFailed {
        /// `module:function/arity`.
        mfa: String,
        /// Reason atom.
        reason: String,
    },
}

impl CallError {
    /// `true` when the connection is gone.
    pub fn is_disconnect(&self) -> bool {
        matches!(self, Self::Disconnected { .. })
    }
}

/// Something that arrived for a [`Mailbox`].
#[derive(Debug, Clone)]
pub enum Event {
    /// An ordinary message.
    Message(Term),
    /// A monitored process went down.
    Down {
        /// The monitor reference.
        reference: Reference,
        /// The monitored pid or name.
        process: Term,
        /// Its exit reason.
        reason: Term,
    },
    /// An exit signal (a linked process died, or `exit/2`).
    Exit {
        /// Sender.
        from: Pid,
        /// Reason.
        reason: Term,
    },
}

/// Counters of the connection (for benchmarks and the report).
#[derive(Debug, Default, Clone, Copy)]
pub struct ClientStats {
    /// Calls started.
    pub calls: u64,
    /// Calls that timed out.
    pub timeouts: u64,
    /// Messages received.
    pub received: u64,
    /// Messages dropped as unexpected.
    pub unexpected: u64,
    /// Frames that could not be decoded (skipped).
    pub undecodable: u64,
}
