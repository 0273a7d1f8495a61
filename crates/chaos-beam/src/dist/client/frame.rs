//! Frames on the wire: checking the terms of an incoming frame before
//! `eetf` decodes them, and encoding an outgoing one.

use super::*;

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
pub(super) fn check_terms(mut bytes: &[u8]) -> Result<(), &'static str> {
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

pub(super) fn encode_frame(buf: &mut Vec<u8>, msg: Message) {
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
