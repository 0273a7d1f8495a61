//! What arrives from the node: each message dispatched to the call, mailbox
//! or monitor it is for; call results decoded.

use super::*;

impl Inner {
    pub(super) fn deliver(&self, to: &Pid, event: Event) -> bool {
        let st = self.state.lock().unwrap();
        match st.mailboxes.get(&to.id) {
            Some(tx) => tx.try_send(event).is_ok(),
            None => false,
        }
    }

    pub(super) fn on_spawn_reply(&self, req_id: Reference, result: PidOrAtom) {
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

    pub(super) fn on_down(&self, to: Pid, reference: Reference, process: Term, reason: Term) {
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

    pub(super) fn note_unexpected(&self, what: &str) {
        tracing::debug!(what, "dropped an unexpected distribution message");
        self.state.lock().unwrap().stats.unexpected += 1;
    }

    /// Messages to our pids: io protocol requests get answered, the rest goes to mailboxes.
    pub(super) fn on_message(&self, to: Pid, message: Term) {
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

    pub(super) fn on_exit(&self, from: Pid, to: Pid, reason: Term) {
        if !self.deliver(&to, Event::Exit { from, reason }) {
            self.note_unexpected("exit signal to an unknown pid");
        }
    }

    pub(super) fn on_remote_monitor(&self, watcher: Pid, target: PidOrAtom, reference: Reference) {
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

    pub(super) fn handle(&self, msg: Message) {
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

pub(super) fn message_kind(m: &Message) -> &'static str {
    match m {
        Message::RegSend(_) | Message::RegSendTt(_) => "send to a registered name",
        Message::AliasSend(_) | Message::AliasSendTt(_) => "send to an alias",
        Message::SpawnRequestTt(_) => "spawn request",
        Message::NodeLink(_) => "node link",
        _ => "other",
    }
}

/// Turn an `erpc:execute_call/4` exit reason into a call result. The value
/// is moved out of the reason, not copied: a reply can be thousands of terms.
pub(super) fn decode_result(
    mfa: &str,
    result_ref: &Reference,
    reason: Term,
) -> Result<Term, CallError> {
    let died = |reason: &Term| CallError::ProcessDied {
        mfa: mfa.to_string(),
        reason: crate::dist::term::show(reason),
    };
    let mut elems = match reason {
        Term::Tuple(t) if matches!(t.elements.first(), Some(Term::Reference(r)) if **r == *result_ref) => {
            t.elements
        }
        other => return Err(died(&other)),
    };
    let class = elems
        .get(1)
        .and_then(|c| c.as_atom())
        .unwrap_or("")
        .to_string();
    match (class.as_str(), elems.len()) {
        ("return", 3) => Ok(elems.swap_remove(2)),
        ("throw" | "exit" | "error", n) if n >= 3 => {
            let term = elems.swap_remove(2);
            Err(CallError::Raised {
                mfa: mfa.to_string(),
                class,
                reason: crate::dist::term::show(&term),
                term: Box::new(term),
            })
        }
        _ => Err(died(&Term::Tuple(elems.into()))),
    }
}
