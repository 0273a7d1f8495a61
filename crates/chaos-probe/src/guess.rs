//! What protocol a listener speaks, found by asking it — never by the
//! name of the program behind it. One line-protocol request first (the
//! configured liveness request, `PING` by default): a line service answers
//! it, an HTTP server with a status line (`400`). A server that says
//! nothing is asked `HEAD / HTTP/1.0`: an HTTP server answers it, an AMQP
//! broker (which waits for 8 bytes of preamble) answers it with its own
//! protocol header. One that still says nothing is a bare TCP service.

use crate::kinds::line::LineProtocol;
use crate::line::within;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use serde::Serialize;
use smol::net::TcpStream;
use std::net::SocketAddr;
use std::time::Duration;

/// A listener's protocol, and why we think so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Guess {
    /// `line`, `http`, `amqp` or `tcp`.
    pub kind: &'static str,
    /// What it answered that told us.
    pub evidence: String,
}

/// Send `request` on a fresh connection; the first bytes of the answer
/// (up to 256) within `limit`, or `None` when it said nothing.
async fn first_bytes(addr: SocketAddr, request: &[u8], limit: Duration) -> Option<Vec<u8>> {
    within(limit, async {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(request).await?;
        let mut buf = vec![0u8; 256];
        let n = s.read(&mut buf).await?;
        buf.truncate(n);
        Ok(buf)
    })
    .await
    .ok()
    .filter(|b| !b.is_empty())
}

/// How `answer` to our line request reads.
fn classify(answer: &[u8], line: &LineProtocol) -> Option<Guess> {
    if answer.starts_with(b"AMQP") && answer.len() >= 8 {
        return Some(Guess {
            kind: "amqp",
            evidence: format!(
                "answered with AMQP's protocol header {}-{}-{}",
                answer[5], answer[6], answer[7]
            ),
        });
    }
    if answer.starts_with(b"HTTP/") {
        let status = String::from_utf8_lossy(answer);
        return Some(Guess {
            kind: "http",
            evidence: format!(
                "answered with an HTTP status line ({})",
                status.lines().next().unwrap_or("").trim()
            ),
        });
    }
    let text = String::from_utf8_lossy(answer);
    let first = text.lines().next().unwrap_or("").trim_end();
    if line.pong.is_match(first) {
        return Some(Guess {
            kind: "line",
            evidence: format!("answered {:?} with {first:?}", line.ping),
        });
    }
    None
}

/// Ask the listener at `addr` what it speaks (each try within `limit`).
pub async fn guess(addr: SocketAddr, line: &LineProtocol, limit: Duration) -> Guess {
    let first = first_bytes(addr, format!("{}\n", line.ping).as_bytes(), limit).await;
    if let Some(g) = first.as_deref().and_then(|a| classify(a, line)) {
        return g;
    }
    let http = first_bytes(addr, b"HEAD / HTTP/1.0\r\n\r\n", limit).await;
    if let Some(g) = http
        .as_deref()
        .and_then(|a| classify(a, line))
        .filter(|g| g.kind != "line")
    {
        return g;
    }
    Guess {
        kind: "tcp",
        evidence: match first {
            Some(a) => format!(
                "answered {:?}, which no probe here speaks",
                String::from_utf8_lossy(&a[..a.len().min(40)])
            ),
            None => "accepted connections but answered neither a line request nor HTTP".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_tell_the_protocol() {
        let p = LineProtocol::default();
        assert_eq!(classify(b"AMQP\x00\x00\x09\x01", &p).unwrap().kind, "amqp");
        let h = classify(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n", &p).unwrap();
        assert_eq!(h.kind, "http");
        assert!(h.evidence.contains("400 Bad Request"), "{h:?}");
        assert_eq!(classify(b"PONG\n", &p).unwrap().kind, "line");
        assert_eq!(classify(b"-ERR unknown\r\n", &p), None);
    }
}
