//! The registry of live connections, and how one is told to end (a close,
//! or a reset of either side).

use crate::fault::Direction;
use event_listener::Event;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

/// Kill: close both sides normally.
pub(crate) const KILL_CLOSE: u8 = 1;
/// Kill: reset the client side.
pub(crate) const KILL_RESET_CLIENT: u8 = 2;
/// Kill: reset the server side.
pub(crate) const KILL_RESET_UPSTREAM: u8 = 4;

/// A live connection's kill switch.
#[derive(Default)]
pub(crate) struct ConnCtl {
    kill: AtomicU8,
    event: Event,
}

impl ConnCtl {
    fn kill(&self, bits: u8) {
        self.kill.fetch_or(bits, Ordering::AcqRel);
        self.event.notify(usize::MAX);
    }

    /// Resolves with the kill bits once the connection has been killed.
    pub(crate) async fn killed(&self) -> u8 {
        loop {
            let bits = self.kill.load(Ordering::Acquire);
            if bits != 0 {
                return bits;
            }
            let listener = self.event.listen();
            let bits = self.kill.load(Ordering::Acquire);
            if bits != 0 {
                return bits;
            }
            listener.await;
        }
    }
}

/// Live connections, by number.
#[derive(Default)]
pub(crate) struct Connections {
    map: Mutex<HashMap<u64, Arc<ConnCtl>>>,
    next: AtomicU64,
    closed: Event,
}

impl Connections {
    /// A new connection number (from 1) and its kill switch.
    pub fn register(&self) -> (u64, Arc<ConnCtl>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let ctl = Arc::new(ConnCtl::default());
        self.map.lock().unwrap().insert(id, ctl.clone());
        (id, ctl)
    }

    pub(crate) fn deregister(&self, id: u64) {
        self.map.lock().unwrap().remove(&id);
        self.closed.notify(usize::MAX);
    }

    /// Kill every live connection with `bits`; returns how many there were.
    pub fn kill_all(&self, bits: u8) -> u64 {
        let map = self.map.lock().unwrap();
        for ctl in map.values() {
            ctl.kill(bits);
        }
        map.len() as u64
    }

    /// Reset every live connection on the side(s) `direction` points to.
    pub fn reset_all(&self, direction: Direction) -> u64 {
        let bits = match direction {
            Direction::Downstream => KILL_RESET_CLIENT,
            Direction::Upstream => KILL_RESET_UPSTREAM,
            Direction::Both => KILL_RESET_CLIENT | KILL_RESET_UPSTREAM,
        };
        self.kill_all(bits)
    }

    /// Resolves once no connection is left.
    pub async fn wait_empty(&self) {
        loop {
            let listener = self.closed.listen();
            if self.map.lock().unwrap().is_empty() {
                return;
            }
            listener.await;
        }
    }
}
