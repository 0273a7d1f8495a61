//! The running connection: one reader task, one writer task, one liveness task.
//!
//! * Calls are `spawn_request(erpc, execute_call, [Ref, M, F, A], [monitor])`,
//!   as `erpc:call/5` does: the result arrives as the `'DOWN'` of the spawned
//!   process. Any number of calls may be in flight; each has its own timeout,
//!   and a timed-out call's process is killed on the target.
//! * The writer drains every queued message into one buffer and writes it
//!   with one syscall, so pipelined calls share packets.
//! * Liveness: the node must send us something at least once per `tick`. When
//!   the line is quiet we ask it for a cheap answer (a monitor on a name that
//!   is never registered, which the runtime answers at once with `noproc`);
//!   silence for a whole tick, EOF or an I/O error ends the connection and
//!   fails every pending call at once.
//! * Messages to our pids go to [`Mailbox`]es; `io_request`s (the group
//!   leader protocol) are answered and dropped; anything unexpected is logged
//!   and dropped — the loop never dies on a message.
//! * Frames are checked before `eetf` decodes them (it trusts length fields
//!   and recurses without limit); frames that fail the check or do not decode
//!   are counted in [`ClientStats::undecodable`] and skipped. Only a frame
//!   longer than we accept, EOF or an I/O error ends the connection.

mod dispatch;
mod frame;
mod mailbox;
mod tasks;
mod types;

pub use mailbox::{Mailbox, RecvError};
pub use types::{CallError, ClientStats, ConnectOptions, Event};

use crate::dist::connect::{self, ConnectError};
use crate::dist::cookie::Cookie;
use crate::dist::node_name::NodeName;
use crate::dist::term::{atom, list, tuple, TermExt};
use erl_dist::message::Message;
use erl_dist::term::{FixInteger, List, Mfa, Pid, PidOrAtom, Reference, Term};
use futures::channel::oneshot;
use futures::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use smol::net::TcpStream;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Distribution frame type tag for pass-through messages.
const PASS_THROUGH: u8 = 112;
/// Largest frame we accept (the target never legitimately sends more to us).
const MAX_FRAME: usize = 512 * 1024 * 1024;
/// A name nobody registers: monitoring it gets an immediate `noproc` answer.
const HEARTBEAT_NAME: &str = "$chaos_monkey_heartbeat";

/// Pid ids of our own "processes".
const RPC_PID_ID: u32 = 1;
const HEARTBEAT_PID_ID: u32 = 2;
const FIRST_MAILBOX_PID_ID: u32 = 100;

struct PendingCall {
    mfa: String,
    result_ref: Reference,
    remote: Option<Pid>,
    reply: oneshot::Sender<Result<Term, CallError>>,
}

#[derive(Default)]
struct State {
    closed: Option<String>,
    calls: HashMap<Reference, PendingCall>,
    /// Calls that timed out before their spawn reply came: kill on arrival.
    kill_on_spawn: HashSet<Reference>,
    mailboxes: HashMap<u32, async_channel::Sender<Event>>,
    /// Remote monitors on our mailboxes: (mailbox pid id) -> [(watcher, ref)].
    watchers: HashMap<u32, Vec<(Pid, Reference)>>,
    stats: ClientStats,
}

struct Inner {
    target: NodeName,
    local_name: String,
    creation: u32,
    out: async_channel::Sender<Message>,
    state: Mutex<State>,
    next_pid: AtomicU32,
    next_ref: AtomicU64,
    ref_salt: u32,
    call_timeout: Duration,
    tick: Duration,
    started: Instant,
    /// Milliseconds since `started` of the last frame received.
    last_rx_ms: AtomicU64,
    group_leader: Mutex<Option<Pid>>,
    stream: TcpStream,
    closed_event: event_listener::Event,
    /// Parsed Erlang source (abstract syntax), once per connection per text.
    parsed: Mutex<HashMap<String, Term>>,
    /// Snippets compiled into temporary modules, when a run turned that on.
    /// What a layer above keeps for the length of the connection (the
    /// run's compiled snippets), set once; the client does not know its type.
    extension: std::sync::OnceLock<Arc<dyn std::any::Any + Send + Sync>>,
}

/// A hidden-node connection to one Erlang node. Cheap to clone; the
/// connection closes when the last clone is dropped.
#[derive(Clone)]
pub struct DistClient {
    inner: Arc<Inner>,
    _owner: Arc<CloseOnDrop>,
}

/// Closes the connection when the last [`DistClient`] handle goes away (the
/// connection's own tasks hold only `Inner`, so they do not keep it open).
struct CloseOnDrop(Arc<Inner>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0
            .shutdown("every handle of the client was dropped".to_string());
    }
}

impl fmt::Debug for DistClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DistClient")
            .field("target", &self.inner.target.to_string())
            .field("local", &self.inner.local_name)
            .finish()
    }
}

impl DistClient {
    /// Find the node, run the handshake and start the connection's tasks.
    pub async fn connect(opts: &ConnectOptions) -> Result<Self, ConnectError> {
        let port = match opts.port {
            Some(p) => p,
            None => connect::lookup_port(&opts.node, opts.epmd_port, opts.connect_timeout).await?,
        };
        let hs = connect::handshake(&opts.node, port, &opts.cookie, opts.connect_timeout).await?;
        tracing::debug!(target_node = %opts.node, local = %hs.local.name, port, "connected");
        let (out_tx, out_rx) = async_channel::unbounded();
        let inner = Arc::new(Inner {
            target: opts.node.clone(),
            local_name: hs.local.name.to_string(),
            creation: hs.local.creation.get(),
            out: out_tx,
            state: Mutex::new(State::default()),
            next_pid: AtomicU32::new(FIRST_MAILBOX_PID_ID),
            next_ref: AtomicU64::new(1),
            ref_salt: rand::random(),
            call_timeout: opts.call_timeout,
            tick: opts.tick,
            started: Instant::now(),
            last_rx_ms: AtomicU64::new(0),
            group_leader: Mutex::new(None),
            stream: hs.stream.clone(),
            closed_event: event_listener::Event::new(),
            parsed: Mutex::new(HashMap::new()),
            extension: std::sync::OnceLock::new(),
        });
        let _ = &hs.peer;
        smol::spawn(tasks::writer(
            Arc::downgrade(&inner),
            hs.stream.clone(),
            out_rx,
        ))
        .detach();
        smol::spawn(tasks::reader(inner.clone(), hs.stream)).detach();
        smol::spawn(tasks::liveness(Arc::downgrade(&inner))).detach();
        let client = Self {
            _owner: Arc::new(CloseOnDrop(inner.clone())),
            inner,
        };
        // Output of everything we run goes to the target's own `user`, never to us.
        match client.call("erlang", "whereis", vec![atom("user")]).await {
            Ok(Term::Pid(user)) => *client.inner.group_leader.lock().unwrap() = Some(user),
            Ok(_) => {
                tracing::debug!("target has no `user` process; io requests will be answered by us")
            }
            Err(e) => {
                return Err(ConnectError::Handshake {
                    node: opts.node.clone(),
                    detail: format!("first call failed: {e}"),
                })
            }
        }
        Ok(client)
    }

    /// The target's node name.
    pub fn target(&self) -> &NodeName {
        &self.inner.target
    }

    /// Our own (hidden) node name.
    pub fn local_name(&self) -> &str {
        &self.inner.local_name
    }

    /// The default per-call timeout.
    pub fn call_timeout(&self) -> Duration {
        self.inner.call_timeout
    }

    /// Counters.
    pub fn stats(&self) -> ClientStats {
        self.inner.state.lock().unwrap().stats
    }

    /// `Some(reason)` once the connection is gone.
    pub fn closed_reason(&self) -> Option<String> {
        self.inner.state.lock().unwrap().closed.clone()
    }

    /// Resolves when the connection is gone, with the reason.
    pub async fn closed(&self) -> String {
        loop {
            let listener = self.inner.closed_event.listen();
            if let Some(r) = self.closed_reason() {
                return r;
            }
            listener.await;
        }
    }

    /// Close the connection (pending calls fail with `Disconnected`).
    pub fn close(&self) {
        self.inner.shutdown("closed by us".to_string());
    }

    /// `apply(M, F, A)` on the target with the default timeout.
    pub async fn call(
        &self,
        module: &str,
        function: &str,
        args: Vec<Term>,
    ) -> Result<Term, CallError> {
        self.call_with_timeout(module, function, args, self.inner.call_timeout)
            .await
    }

    /// `apply(M, F, A)` on the target; after `timeout` the call fails and its
    /// process on the target is killed.
    pub async fn call_with_timeout(
        &self,
        module: &str,
        function: &str,
        args: Vec<Term>,
        timeout: Duration,
    ) -> Result<Term, CallError> {
        let inner = &self.inner;
        let mfa = format!("{module}:{function}/{}", args.len());
        let req_id = inner.make_ref();
        let result_ref = inner.make_ref();
        let (tx, rx) = oneshot::channel();
        {
            let mut st = inner.state.lock().unwrap();
            if let Some(reason) = &st.closed {
                return Err(inner.disconnected(reason));
            }
            st.stats.calls += 1;
            st.calls.insert(
                req_id.clone(),
                PendingCall {
                    mfa: mfa.clone(),
                    result_ref: result_ref.clone(),
                    remote: None,
                    reply: tx,
                },
            );
        }
        let rpc_pid = inner.pid(RPC_PID_ID);
        let group_leader = inner
            .group_leader
            .lock()
            .unwrap()
            .clone()
            .unwrap_or(rpc_pid.clone());
        let request = Message::spawn_request(
            req_id.clone(),
            rpc_pid,
            group_leader,
            Mfa {
                module: "erpc".into(),
                function: "execute_call".into(),
                arity: FixInteger::from(4),
            },
            List::from(vec![atom("monitor")]),
            List::from(vec![
                Term::from(result_ref),
                atom(module),
                atom(function),
                crate::dist::term::wire_safe(list(args)),
            ]),
        );
        inner.send(request);
        match chaos_engine::deadline::within(timeout, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(inner.disconnected(
                &self
                    .closed_reason()
                    .unwrap_or_else(|| "connection task ended".into()),
            )),
            Err(_) => {
                let mut st = inner.state.lock().unwrap();
                if let Some(pending) = st.calls.remove(&req_id) {
                    st.stats.timeouts += 1;
                    match pending.remote {
                        Some(pid) => {
                            drop(st);
                            inner.kill(pid);
                        }
                        None => {
                            st.kill_on_spawn.insert(req_id);
                        }
                    }
                    Err(CallError::Timeout {
                        mfa,
                        after: timeout,
                    })
                } else if let Some(reason) = st.closed.clone() {
                    Err(inner.disconnected(&reason))
                } else {
                    // The answer raced the timer; it was already delivered.
                    drop(st);
                    Err(CallError::Timeout {
                        mfa,
                        after: timeout,
                    })
                }
            }
        }
    }

    /// A new local process identity that can receive messages, link and monitor.
    pub fn mailbox(&self) -> Mailbox {
        let id = self.inner.next_pid.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = async_channel::unbounded();
        self.inner.state.lock().unwrap().mailboxes.insert(id, tx);
        Mailbox {
            client: self.clone(),
            pid: self.inner.pid(id),
            rx,
        }
    }

    /// The cached parse of `source`, if any (see the `interpret` module).
    pub(crate) fn cached_parse(&self, source: &str) -> Option<Term> {
        self.inner.parsed.lock().unwrap().get(source).cloned()
    }

    /// Remember the parse of `source` for this connection.
    pub(crate) fn cache_parse(&self, source: &str, exprs: Term) {
        self.inner
            .parsed
            .lock()
            .unwrap()
            .insert(source.to_string(), exprs);
    }

    /// The connection's extension, when one of type `T` was set.
    pub(crate) fn extension<T: std::any::Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.inner.extension.get()?.clone().downcast::<T>().ok()
    }

    /// Set the connection's extension (once; later calls are ignored).
    pub(crate) fn set_extension<T: std::any::Any + Send + Sync>(&self, value: Arc<T>) {
        let _ = self.inner.extension.set(value);
    }

    /// A fresh reference of our node.
    pub fn make_ref(&self) -> Reference {
        self.inner.make_ref()
    }
}

impl Inner {
    fn pid(&self, id: u32) -> Pid {
        Pid::new(self.local_name.as_str(), id, 0, self.creation)
    }

    fn make_ref(&self) -> Reference {
        let n = self.next_ref.fetch_add(1, Ordering::Relaxed);
        Reference {
            node: self.local_name.as_str().into(),
            id: vec![(n & 0x3ffff) as u32, (n >> 18) as u32, self.ref_salt],
            creation: self.creation,
        }
    }

    fn send(&self, msg: Message) {
        let _ = self.out.try_send(msg);
    }

    fn kill(&self, pid: Pid) {
        self.send(Message::exit2(self.pid(RPC_PID_ID), pid, atom("kill")));
    }

    fn disconnected(&self, reason: &str) -> CallError {
        CallError::Disconnected {
            node: self.target.to_string(),
            reason: reason.to_string(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// End the connection: fail every pending call at once, end every mailbox.
    fn shutdown(&self, reason: String) {
        let (calls, mailboxes) = {
            let mut st = self.state.lock().unwrap();
            if st.closed.is_some() {
                return;
            }
            tracing::debug!(%reason, "distribution connection closed");
            st.closed = Some(reason.clone());
            st.kill_on_spawn.clear();
            (
                std::mem::take(&mut st.calls),
                std::mem::take(&mut st.mailboxes),
            )
        };
        for (_, call) in calls {
            let _ = call.reply.send(Err(self.disconnected(&reason)));
        }
        drop(mailboxes); // receivers see the channel closed
        self.out.close();
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        self.closed_event.notify(usize::MAX);
    }
}
