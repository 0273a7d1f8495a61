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

use super::connect::{self, ConnectError};
use super::cookie::Cookie;
use super::node_name::NodeName;
use super::term::{atom, list, tuple, TermExt};
use erl_dist::message::Message;
use erl_dist::term::{FixInteger, List, Mfa, Pid, PidOrAtom, Reference, Term};
use futures::channel::oneshot;
use futures::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use futures::FutureExt;
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
    snippet_modules: std::sync::OnceLock<Arc<crate::compiled::SnippetModules>>,
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
            snippet_modules: std::sync::OnceLock::new(),
        });
        let _ = &hs.peer;
        smol::spawn(writer(Arc::downgrade(&inner), hs.stream.clone(), out_rx)).detach();
        smol::spawn(reader(inner.clone(), hs.stream)).detach();
        smol::spawn(liveness(Arc::downgrade(&inner))).detach();
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
                super::term::wire_safe(list(args)),
            ]),
        );
        inner.send(request);
        let timer = smol::Timer::after(timeout);
        match futures::future::select(rx, timer).await {
            futures::future::Either::Left((Ok(result), _)) => result,
            futures::future::Either::Left((Err(_), _)) => Err(inner.disconnected(
                &self
                    .closed_reason()
                    .unwrap_or_else(|| "connection task ended".into()),
            )),
            futures::future::Either::Right(_) => {
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

    /// The cached parse of `source`, if any (see [`crate::eval`]).
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

    /// The compiled snippets of this connection, once turned on.
    pub(crate) fn snippet_modules(&self) -> Option<&Arc<crate::compiled::SnippetModules>> {
        self.inner.snippet_modules.get()
    }

    /// Turn compiled snippets on for this connection (once).
    pub(crate) fn set_snippet_modules(&self, m: Arc<crate::compiled::SnippetModules>) {
        let _ = self.inner.snippet_modules.set(m);
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

    fn deliver(&self, to: &Pid, event: Event) -> bool {
        let st = self.state.lock().unwrap();
        match st.mailboxes.get(&to.id) {
            Some(tx) => tx.try_send(event).is_ok(),
            None => false,
        }
    }

    fn on_spawn_reply(&self, req_id: Reference, result: PidOrAtom) {
        let mut st = self.state.lock().unwrap();
        if st.kill_on_spawn.remove(&req_id) {
            drop(st);
            if let PidOrAtom::Pid(pid) = result {
                self.kill(pid);
            }
            return;
        }
        match result {
            PidOrAtom::Pid(pid) => {
                if let Some(call) = st.calls.get_mut(&req_id) {
                    call.remote = Some(pid);
                }
            }
            PidOrAtom::Atom(reason) => {
                if let Some(call) = st.calls.remove(&req_id) {
                    let _ = call.reply.send(Err(CallError::SpawnFailed {
                        mfa: call.mfa,
                        reason: reason.name,
                    }));
                }
            }
        }
    }

    fn on_down(&self, to: Pid, reference: Reference, process: Term, reason: Term) {
        if to.id == HEARTBEAT_PID_ID {
            return;
        }
        if to.id == RPC_PID_ID {
            let call = self.state.lock().unwrap().calls.remove(&reference);
            match call {
                Some(call) => {
                    let result = decode_result(&call.mfa, &call.result_ref, reason);
                    let _ = call.reply.send(result);
                }
                None => tracing::trace!("DOWN for a call that already timed out"),
            }
            return;
        }
        if !self.deliver(
            &to,
            Event::Down {
                reference,
                process,
                reason,
            },
        ) {
            self.note_unexpected("DOWN for an unknown mailbox");
        }
    }

    fn note_unexpected(&self, what: &str) {
        tracing::debug!(what, "dropped an unexpected distribution message");
        self.state.lock().unwrap().stats.unexpected += 1;
    }

    /// Messages to our pids: io protocol requests get answered, the rest goes to mailboxes.
    fn on_message(&self, to: Pid, message: Term) {
        if let Some([tag, from, reply_as, _req]) = message.as_tuple() {
            if tag.as_atom() == Some("io_request") {
                if let Term::Pid(from) = from {
                    let reply = tuple(vec![atom("io_reply"), reply_as.clone(), atom("ok")]);
                    self.send(Message::send(from.clone(), reply));
                    return;
                }
            }
        }
        if !self.deliver(&to, Event::Message(message)) {
            self.note_unexpected("message to an unknown pid");
        }
    }

    fn on_exit(&self, from: Pid, to: Pid, reason: Term) {
        if !self.deliver(&to, Event::Exit { from, reason }) {
            self.note_unexpected("exit signal to an unknown pid");
        }
    }

    fn on_remote_monitor(&self, watcher: Pid, target: PidOrAtom, reference: Reference) {
        let mut st = self.state.lock().unwrap();
        let alive = match &target {
            PidOrAtom::Pid(p) => st.mailboxes.contains_key(&p.id).then_some(p.id),
            PidOrAtom::Atom(_) => None,
        };
        match alive {
            Some(id) => st
                .watchers
                .entry(id)
                .or_default()
                .push((watcher, reference)),
            None => {
                drop(st);
                self.send(Message::monitor_p_exit(
                    target,
                    watcher,
                    reference,
                    atom("noproc"),
                ));
            }
        }
    }

    fn handle(&self, msg: Message) {
        match msg {
            Message::Tick => {}
            Message::SpawnReply(m) => self.on_spawn_reply(m.req_id, m.result),
            Message::SpawnReplyTt(m) => self.on_spawn_reply(m.req_id, m.result),
            Message::MonitorPExit(m) => {
                self.on_down(m.to_pid, m.reference, m.from_proc.into(), m.reason)
            }
            Message::PayloadMonitorPExit(m) => {
                self.on_down(m.to_pid, m.reference, m.from_proc.into(), m.reason)
            }
            Message::Send(m) => self.on_message(m.to_pid, m.message),
            Message::SendTt(m) => self.on_message(m.to_pid, m.message),
            Message::SendSender(m) => self.on_message(m.to_pid, m.message),
            Message::SendSenderTt(m) => self.on_message(m.to_pid, m.message),
            Message::Exit(m) => self.on_exit(m.from_pid, m.to_pid, m.reason),
            Message::ExitTt(m) => self.on_exit(m.from_pid, m.to_pid, m.reason),
            Message::Exit2(m) => self.on_exit(m.from_pid, m.to_pid, m.reason),
            Message::Exit2Tt(m) => self.on_exit(m.from_pid, m.to_pid, m.reason),
            Message::PayloadExit(m) => self.on_exit(m.from_pid, m.to_pid, m.reason),
            Message::PayloadExitTt(m) => self.on_exit(m.from_pid, m.to_pid, m.reason),
            Message::PayloadExit2(m) => self.on_exit(m.from_pid, m.to_pid, m.reason),
            Message::PayloadExit2Tt(m) => self.on_exit(m.from_pid, m.to_pid, m.reason),
            Message::UnlinkId(m) => self.send(Message::unlink_id_ack(m.id, m.to_pid, m.from_pid)),
            Message::MonitorP(m) => self.on_remote_monitor(m.from_pid, m.to_proc, m.reference),
            Message::DemonitorP(m) => {
                let mut st = self.state.lock().unwrap();
                if let PidOrAtom::Pid(p) = &m.to_proc {
                    if let Some(w) = st.watchers.get_mut(&p.id) {
                        w.retain(|(_, r)| *r != m.reference);
                    }
                }
            }
            Message::SpawnRequest(m) => self.send(Message::spawn_reply(
                m.req_id,
                m.from_pid,
                FixInteger::from(0),
                PidOrAtom::Atom("notsup".into()),
            )),
            Message::Link(_)
            | Message::UnlinkIdAck(_)
            | Message::Unlink(_)
            | Message::GroupLeader(_) => {}
            other => self.note_unexpected(message_kind(&other)),
        }
    }
}

fn message_kind(m: &Message) -> &'static str {
    match m {
        Message::RegSend(_) | Message::RegSendTt(_) => "send to a registered name",
        Message::AliasSend(_) | Message::AliasSendTt(_) => "send to an alias",
        Message::SpawnRequestTt(_) => "spawn request",
        Message::NodeLink(_) => "node link",
        _ => "other",
    }
}

/// Turn an `erpc:execute_call/4` exit reason into a call result.
fn decode_result(mfa: &str, result_ref: &Reference, reason: Term) -> Result<Term, CallError> {
    if let Some(elems) = reason.as_tuple() {
        if let Some(Term::Reference(r)) = elems.first() {
            if **r == *result_ref {
                let class = elems.get(1).and_then(|c| c.as_atom()).unwrap_or("");
                return match (class, elems.len()) {
                    ("return", 3) => Ok(elems[2].clone()),
                    (class @ ("throw" | "exit" | "error"), n) if n >= 3 => Err(CallError::Raised {
                        mfa: mfa.to_string(),
                        class: class.to_string(),
                        reason: super::term::show(&elems[2]),
                        term: Box::new(elems[2].clone()),
                    }),
                    _ => Err(CallError::ProcessDied {
                        mfa: mfa.to_string(),
                        reason: super::term::show(&reason),
                    }),
                };
            }
        }
    }
    Err(CallError::ProcessDied {
        mfa: mfa.to_string(),
        reason: super::term::show(&reason),
    })
}

async fn reader(inner: Arc<Inner>, stream: TcpStream) {
    let mut rd = BufReader::with_capacity(256 * 1024, stream);
    let mut buf = Vec::new();
    let reason = loop {
        let mut len = [0u8; 4];
        if let Err(e) = rd.read_exact(&mut len).await {
            break if e.kind() == std::io::ErrorKind::UnexpectedEof {
                "the node closed the connection".to_string()
            } else {
                format!("read error: {e}")
            };
        }
        inner.last_rx_ms.store(inner.now_ms(), Ordering::Relaxed);
        let len = u32::from_be_bytes(len) as usize;
        if len == 0 {
            continue; // tick
        }
        if len > MAX_FRAME {
            break format!("frame of {len} bytes is larger than the {MAX_FRAME} we accept");
        }
        buf.resize(len, 0);
        if let Err(e) = rd.read_exact(&mut buf).await {
            break format!("read error: {e}");
        }
        inner.state.lock().unwrap().stats.received += 1;
        if buf[0] != PASS_THROUGH {
            tracing::warn!(
                tag = buf[0],
                "skipped a distribution frame with an unknown type tag"
            );
            inner.state.lock().unwrap().stats.undecodable += 1;
            continue;
        }
        // `eetf` trusts its input: check the terms first, and never let a
        // decoder panic end the reader.
        let body = &buf[1..];
        let decoded = check_terms(body).map_err(str::to_string).and_then(|()| {
            std::panic::catch_unwind(|| Message::read_from(&mut &body[..]))
                .map_err(|_| "the term decoder panicked".to_string())?
                .map_err(|e| e.to_string())
        });
        match decoded {
            Ok(msg) => inner.handle(msg),
            Err(e) => {
                tracing::warn!(error = %e, "skipped an undecodable distribution message");
                inner.state.lock().unwrap().stats.undecodable += 1;
            }
        }
    };
    inner.shutdown(reason);
}

/// Deepest term nesting we decode: `eetf` decodes recursively (up to about
/// 1.5 KiB of stack per level in a debug build) and our tasks run on the
/// executor's 2 MiB stacks.
const MAX_TERM_DEPTH: usize = 512;

/// Check the terms of a pass-through frame (control message, then payload if
/// any) before `eetf` 0.11 decodes them. It trusts its input: it allocates
/// whatever a count field claims (an 8-byte frame can abort the process),
/// panics on atom cache references, distribution headers and bad bit
/// binaries, and recurses without limit. A frame that passes holds every
/// element it announces, nests at most [`MAX_TERM_DEPTH`] deep and uses only
/// tags `eetf` decodes.
fn check_terms(mut bytes: &[u8]) -> Result<(), &'static str> {
    for _ in 0..2 {
        match bytes.split_first() {
            None => break,
            Some((131, rest)) => bytes = rest,
            Some(_) => return Err("bad term version"),
        }
        let mut scan = TermScan(bytes);
        scan.term(0)?;
        bytes = scan.0;
    }
    Ok(())
}

/// Walks one encoded term (external term format) without building it.
struct TermScan<'a>(&'a [u8]);

impl TermScan<'_> {
    fn skip(&mut self, n: usize) -> Result<(), &'static str> {
        if n > self.0.len() {
            return Err("truncated term");
        }
        self.0 = &self.0[n..];
        Ok(())
    }

    /// A big-endian unsigned integer of `n` bytes.
    fn uint(&mut self, n: usize) -> Result<usize, &'static str> {
        let head = self.0.get(..n).ok_or("truncated term")?;
        self.0 = &self.0[n..];
        Ok(head.iter().fold(0, |acc, &b| acc << 8 | usize::from(b)))
    }

    /// `n` terms; each takes at least one byte.
    fn terms(&mut self, n: usize, depth: usize) -> Result<(), &'static str> {
        if n > self.0.len() {
            return Err("element count larger than the frame");
        }
        (0..n).try_for_each(|_| self.term(depth))
    }

    fn term(&mut self, depth: usize) -> Result<(), &'static str> {
        if depth >= MAX_TERM_DEPTH {
            return Err("term nested too deeply");
        }
        let d = depth + 1;
        // Tags as in erts' external term format documentation.
        match self.uint(1)? {
            106 => Ok(()),
            97 => self.skip(1),
            98 => self.skip(4),
            70 => self.skip(8),
            99 => self.skip(31),
            // Atoms, strings, binaries, bignums: a length, then bytes.
            115 | 119 => self.uint(1).and_then(|n| self.skip(n)),
            100 | 118 | 107 => self.uint(2).and_then(|n| self.skip(n)),
            109 => self.uint(4).and_then(|n| self.skip(n)),
            110 => self.uint(1).and_then(|n| self.skip(n.saturating_add(1))),
            111 => self.uint(4).and_then(|n| self.skip(n.saturating_add(1))),
            77 => {
                let n = self.uint(4)?;
                let bits = self.uint(1)?;
                if n > 0 && !(1..=8).contains(&bits) {
                    return Err("bad bit binary");
                }
                self.skip(n)
            }
            // Tuples, lists (with their tail), maps.
            104 => self.uint(1).and_then(|n| self.terms(n, d)),
            105 => self.uint(4).and_then(|n| self.terms(n, d)),
            108 => self
                .uint(4)
                .and_then(|n| self.terms(n.saturating_add(1), d)),
            116 => self
                .uint(4)
                .and_then(|n| self.terms(n.saturating_mul(2), d)),
            // Pids, ports and references: a node name, then fixed fields.
            103 => self.term(d).and_then(|()| self.skip(9)),
            88 | 120 => self.term(d).and_then(|()| self.skip(12)),
            101 | 102 => self.term(d).and_then(|()| self.skip(5)),
            89 => self.term(d).and_then(|()| self.skip(8)),
            tag @ (114 | 90) => {
                let ids = self.uint(2)?;
                self.term(d)?;
                self.skip(if tag == 90 { 4 } else { 1 } + 4 * ids)
            }
            // Funs: fixed fields, then 4 (or 3) terms, then the free variables.
            113 => self.terms(3, d),
            112 => {
                self.skip(25)?;
                let free = self.uint(4)?;
                self.terms(free.saturating_add(4), d)
            }
            117 => self
                .uint(4)
                .and_then(|free| self.terms(free.saturating_add(4), d)),
            _ => Err("unsupported term tag"),
        }
    }
}

async fn writer(
    inner: std::sync::Weak<Inner>,
    mut stream: TcpStream,
    out: async_channel::Receiver<Message>,
) {
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    while let Ok(first) = out.recv().await {
        buf.clear();
        encode_frame(&mut buf, first);
        while buf.len() < 256 * 1024 {
            match out.try_recv() {
                Ok(m) => encode_frame(&mut buf, m),
                Err(_) => break,
            }
        }
        if let Err(e) = stream.write_all(&buf).await {
            if let Some(inner) = inner.upgrade() {
                inner.shutdown(format!("write error: {e}"));
            }
            return;
        }
    }
}

fn encode_frame(buf: &mut Vec<u8>, msg: Message) {
    if matches!(msg, Message::Tick) {
        buf.extend_from_slice(&[0, 0, 0, 0]);
        return;
    }
    let start = buf.len();
    buf.extend_from_slice(&[0, 0, 0, 0, PASS_THROUGH]);
    if let Err(e) = msg.write_into(buf) {
        tracing::error!(error = %e, "could not encode a distribution message; dropped");
        buf.truncate(start);
        return;
    }
    let len = (buf.len() - start - 4) as u32;
    buf[start..start + 4].copy_from_slice(&len.to_be_bytes());
}

async fn liveness(weak: std::sync::Weak<Inner>) {
    let step = match weak.upgrade() {
        Some(inner) => inner.tick / 4,
        None => return,
    };
    loop {
        smol::Timer::after(step).await;
        let Some(inner) = weak.upgrade() else { return };
        if inner.state.lock().unwrap().closed.is_some() {
            return;
        }
        let quiet_ms = inner
            .now_ms()
            .saturating_sub(inner.last_rx_ms.load(Ordering::Relaxed));
        if quiet_ms >= inner.tick.as_millis() as u64 {
            inner.shutdown(format!(
                "the node did not answer for {quiet_ms} ms (tick {:?})",
                inner.tick
            ));
            return;
        }
        if quiet_ms >= step.as_millis() as u64 {
            let probe = Message::monitor_p(
                inner.pid(HEARTBEAT_PID_ID),
                PidOrAtom::Atom(HEARTBEAT_NAME.into()),
                inner.make_ref(),
            );
            inner.send(probe);
        }
        // The Erlang side also expects traffic: a tick costs 4 bytes.
        inner.send(Message::Tick);
    }
}

/// A local process identity on our hidden node.
pub struct Mailbox {
    client: DistClient,
    pid: Pid,
    rx: async_channel::Receiver<Event>,
}

/// Why [`Mailbox::recv_timeout`] returned without an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// Nothing arrived in time.
    #[error("nothing received within {0:?}")]
    Timeout(Duration),
    /// The connection is gone.
    #[error("connection closed")]
    Disconnected,
}

impl Mailbox {
    /// This mailbox's pid (send it to the target so helpers can reach us).
    pub fn pid(&self) -> &Pid {
        &self.pid
    }

    /// Next event; `None` once the connection is gone.
    pub async fn recv(&self) -> Option<Event> {
        self.rx.recv().await.ok()
    }

    /// Next event within `limit`.
    pub async fn recv_timeout(&self, limit: Duration) -> Result<Event, RecvError> {
        let timer = smol::Timer::after(limit).map(|_| Err(RecvError::Timeout(limit)));
        let recv = self
            .rx
            .recv()
            .map(|r| r.map_err(|_| RecvError::Disconnected));
        futures::future::select(Box::pin(recv), Box::pin(timer))
            .await
            .factor_first()
            .0
    }

    /// Send a message to a remote pid.
    pub fn send(&self, to: &Pid, message: Term) {
        self.client.inner.send(Message::send(to.clone(), message));
    }

    /// Send a message to a registered name on the target.
    pub fn send_named(&self, name: &str, message: Term) {
        self.client
            .inner
            .send(Message::reg_send(self.pid.clone(), name.into(), message));
    }

    /// Link to a remote process: its death arrives as [`Event::Exit`].
    pub fn link(&self, to: &Pid) {
        self.client
            .inner
            .send(Message::link(self.pid.clone(), to.clone()));
    }

    /// Monitor a remote process: its death arrives as [`Event::Down`].
    pub fn monitor(&self, to: &Pid) -> Reference {
        let r = self.client.make_ref();
        self.client.inner.send(Message::monitor_p(
            self.pid.clone(),
            PidOrAtom::Pid(to.clone()),
            r.clone(),
        ));
        r
    }

    /// Remove a monitor.
    pub fn demonitor(&self, to: &Pid, reference: Reference) {
        self.client.inner.send(Message::demonitor_p(
            self.pid.clone(),
            PidOrAtom::Pid(to.clone()),
            reference,
        ));
    }
}

impl Drop for Mailbox {
    fn drop(&mut self) {
        let watchers = {
            let mut st = self.client.inner.state.lock().unwrap();
            st.mailboxes.remove(&self.pid.id);
            st.watchers.remove(&self.pid.id).unwrap_or_default()
        };
        for (watcher, reference) in watchers {
            self.client.inner.send(Message::monitor_p_exit(
                PidOrAtom::Pid(self.pid.clone()),
                watcher,
                reference,
                atom("normal"),
            ));
        }
    }
}

impl fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mailbox({})", self.pid)
    }
}
