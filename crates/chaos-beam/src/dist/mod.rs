//! An Erlang distribution client built on the `erl_dist` crate.
//!
//! We attach to a running node as a **hidden** node: epmd lookup (or a fixed
//! `--port`), the handshake and the term codec come from `erl_dist`; framing,
//! batching, call bookkeeping and liveness live here ([`client`]).
//!
//! # Runtime: smol
//! `erl_dist` speaks the `futures` I/O traits and its channel wants a stream
//! that can be cloned so that one task reads while another writes. smol's
//! `TcpStream` is such a stream (tokio's is not, and would need a compat
//! layer and split halves). The whole BEAM target therefore runs on smol and
//! its global executor; the binary drives it with `smol::block_on`. Nothing
//! here depends on tokio.
//!
//! What lives here:
//! * [`node_name`] — `NAME@HOST` parsing, short and long names;
//! * [`cookie`] — where the cookie comes from, and keeping it secret;
//! * [`connect`] — epmd, TCP (with TCP_NODELAY) and the handshake;
//! * [`client`] — the connection: calls, mailboxes, links, monitors, liveness;
//! * [`term`] — helpers to build and read terms.

pub mod client;
pub mod connect;
pub mod cookie;
pub mod json;
pub mod node_name;
pub mod term;

pub use client::{CallError, ClientStats, ConnectOptions, DistClient, Event, Mailbox, RecvError};
pub use connect::ConnectError;
pub use cookie::{Cookie, CookieError, CookieSource};
pub use node_name::{NodeName, NodeNameError};
