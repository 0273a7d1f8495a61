//! The BEAM target of chaos-monkey: everything Erlang-specific.
//!
//! * [`dist`] — a distribution client: attach to a live node as a hidden node;
//! * [`eval`] — evaluate Erlang source on the target, nothing installed: compiled
//!   ([`compiled`]) or interpreted by `erl_eval` (`interpret`), with one timeout;
//! * [`cluster`] — chaos across a distributed Erlang cluster (composition of per-node targets);
//! * [`chaos`] — the chaos context ([`chaos::BeamTarget`]), one file per operation, the detectors;
//! * [`elixir`] — Elixir module names written the Elixir way in everything shown;
//! * [`failure_kind`] — the failure kinds and the words the BEAM target brings to reports;
//! * [`compiled`] — snippets compiled into temporary modules for the length of a run;
//! * [`line`] — the one line-protocol client (from `chaos-probe`; operations, the client workload);
//! * [`services`] — the TCP listeners of the node's applications, reached on loopback, and what each speaks;
//! * [`lease`] — the monkey's lease on each node: effects undone at once when the monkey goes silent;
//! * [`release`] — attach to a rebar3/relx or mix release by its folder (node name, cookie);
//! * [`inspect`] — what a node is made of (counts, memory, applications, supervision trees, top processes);
//! * [`scenarios`] — the structured scenario suite (one file per scenario);
//! * [`demo`] — the demo system (an OTP application shaped like an MCP server) and its launcher.

pub mod chaos;
pub mod cluster;
pub mod compiled;
pub mod demo;
pub mod dist;
pub mod elixir;
pub mod eval;
pub mod failure_kind;
pub mod inspect;
pub(crate) mod interpret;
pub mod lease;
pub mod release;
pub mod scenarios;
pub mod services;
pub mod supervision;

/// The line-protocol client, shared with the probes.
pub use chaos_probe::line;
