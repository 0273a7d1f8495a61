//! `refuse`: turn new connections away while active.
//!
//! A listener that stays bound cannot refuse at the SYN level: the kernel
//! completes the handshake before `accept` sees the connection, and the only
//! way to answer SYNs with RST is to close the listener and give up the port.
//! So the accept loop accepts, sets `SO_LINGER` 0 and closes at once: the
//! client's connect succeeds, then its first read fails with a reset (or
//! sees EOF) and no data ever arrives. The direction is ignored. Refusals are
//! counted by the accept loop.

use super::Toxic;

pub(crate) struct Refuse;

impl Toxic for Refuse {
    fn refuses(&self) -> bool {
        true
    }
}
