//! Mailboxes: local process identities on our hidden node, through which
//! the target's messages, monitors and links reach us.

use super::*;

/// A local process identity on our hidden node.
pub struct Mailbox {
    pub(super) client: DistClient,
    pub(super) pid: Pid,
    pub(super) rx: async_channel::Receiver<Event>,
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
        match chaos_engine::deadline::within(limit, self.rx.recv()).await {
            Ok(r) => r.map_err(|_| RecvError::Disconnected),
            Err(_) => Err(RecvError::Timeout(limit)),
        }
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
