//! The line protocol: one request line, one answer line, with templates
//! for liveness, write and read (defaults: the demo system's
//! `PING`/`PUT k v`/`GET k`), and a regex for a protocol error.

use crate::line::{ask_once, error_kind, read_line, within, Line};
use crate::{
    Answer, LargeAnswer, Malformed, MalformedAnswer, Probe, Push, ReadBack, Session, SlowClient,
};
use futures::future::BoxFuture;
use futures::io::AsyncWriteExt;
use regex::Regex;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A line protocol, as the probes speak it. `{key}` and `{value}` are
/// filled in. Defaults: the demo system's protocol.
#[derive(Debug, Clone)]
pub struct LineProtocol {
    /// The liveness request.
    pub ping: String,
    /// Its answer.
    pub pong: Regex,
    /// A write.
    pub put: String,
    /// The write's acknowledgement.
    pub put_ok: Regex,
    /// A read.
    pub get: String,
    /// The read's answer when the value is there.
    pub get_ok: String,
    /// An answer that is a protocol error (a clean refusal).
    pub error: Regex,
}

impl Default for LineProtocol {
    fn default() -> Self {
        Self {
            ping: "PING".into(),
            pong: Regex::new("^PONG$").unwrap(),
            put: "PUT {key} {value}".into(),
            put_ok: Regex::new("^OK$").unwrap(),
            get: "GET {key}".into(),
            get_ok: "VALUE {value}".into(),
            error: Regex::new("^(ERR|ERROR|-ERR)\\b").unwrap(),
        }
    }
}

impl LineProtocol {
    /// `template` with `key` and `value` filled in.
    pub fn fill(template: &str, key: &str, value: &str) -> String {
        template.replace("{key}", key).replace("{value}", value)
    }

    /// The service at `addr` answers the probe request, on a fresh connection, within 2 s.
    pub async fn answers(&self, addr: SocketAddr) -> bool {
        ask_once(addr, &self.ping, Duration::from_secs(2))
            .await
            .is_ok_and(|a| self.pong.is_match(&a))
    }

    /// An answer line judged: expected, a protocol error, or neither.
    pub fn judge(&self, line: String) -> Answer {
        if self.pong.is_match(&line) {
            Answer::Ok(line)
        } else if self.error.is_match(&line) {
            Answer::Refused(line)
        } else {
            Answer::Failed(line)
        }
    }
}

/// A line-protocol service.
#[derive(Debug, Clone)]
pub struct LineProbe {
    /// Where.
    pub addr: SocketAddr,
    /// How it talks.
    pub protocol: LineProtocol,
}

impl LineProbe {
    /// A probe of `addr` speaking `protocol`.
    pub fn new(addr: SocketAddr, protocol: LineProtocol) -> Self {
        Self { addr, protocol }
    }
}

struct LineSession {
    line: Line,
    protocol: LineProtocol,
}

impl Session for LineSession {
    fn request(&mut self, limit: Duration) -> BoxFuture<'_, Answer> {
        Box::pin(async move {
            match self.line.ask(&self.protocol.ping, limit).await {
                Ok(l) => self.protocol.judge(l),
                Err(e) => Answer::Failed(error_kind(&e)),
            }
        })
    }
}

/// The malformed requests every line protocol gets: random bytes, control
/// characters, invalid UTF-8, an unknown command, a known command with bad
/// arguments, a blank line.
fn malformed_lines(protocol: &LineProtocol) -> Vec<Malformed> {
    let mut rng = chaos_engine::SeededRng::new(8);
    let random: Vec<u8> = (0..64)
        .map(|_| rng.range_inclusive(0, 255) as u8)
        .filter(|b| *b != b'\n' && *b != b'\r')
        .collect();
    let put_word = protocol.put.split_whitespace().next().unwrap_or("PUT");
    vec![
        Malformed {
            kind: "random_bytes",
            bytes: random,
        },
        Malformed {
            kind: "control_characters",
            bytes: format!("\x01\x02{}\x7f", protocol.ping).into_bytes(),
        },
        Malformed {
            kind: "invalid_utf8",
            bytes: [
                format!("{put_word} chaos_monkey_bad ").as_bytes(),
                b"\xff\xfe\xfd",
            ]
            .concat(),
        },
        Malformed {
            kind: "unknown_command",
            bytes: b"FROBNICATE the service".to_vec(),
        },
        Malformed {
            kind: "bad_arguments",
            bytes: format!("{put_word} only_a_key").into_bytes(),
        },
        Malformed {
            kind: "blank_line",
            bytes: b"   ".to_vec(),
        },
    ]
}

impl Probe for LineProbe {
    fn kind(&self) -> &'static str {
        "line"
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn at(&self, addr: SocketAddr) -> Arc<dyn Probe> {
        Arc::new(LineProbe::new(addr, self.protocol.clone()))
    }

    fn describe(&self) -> String {
        format!(
            "line {} ({:?} expecting /{}/)",
            self.addr,
            self.protocol.ping,
            self.protocol.pong.as_str()
        )
    }

    fn ask(&self, limit: Duration) -> BoxFuture<'_, Answer> {
        Box::pin(async move {
            match ask_once(self.addr, &self.protocol.ping, limit).await {
                Ok(l) => self.protocol.judge(l),
                Err(e) => Answer::Failed(error_kind(&e)),
            }
        })
    }

    fn open(&self, limit: Duration) -> BoxFuture<'_, io::Result<Box<dyn Session>>> {
        Box::pin(async move {
            let line = Line::connect(self.addr, limit).await?;
            Ok(Box::new(LineSession {
                line,
                protocol: self.protocol.clone(),
            }) as Box<dyn Session>)
        })
    }

    fn write<'a>(
        &'a self,
        pairs: &'a [(String, String)],
        limit: Duration,
    ) -> BoxFuture<'a, Option<Vec<(String, String)>>> {
        Box::pin(async move {
            let p = &self.protocol;
            let Ok(mut line) = Line::connect(self.addr, limit).await else {
                return Some(Vec::new());
            };
            let mut acked = Vec::new();
            for (key, value) in pairs {
                if let Ok(a) = line
                    .ask(&LineProtocol::fill(&p.put, key, value), limit)
                    .await
                {
                    if p.put_ok.is_match(&a) {
                        acked.push((key.clone(), value.clone()));
                    }
                }
            }
            Some(acked)
        })
    }

    fn read_back<'a>(
        &'a self,
        pairs: &'a [(String, String)],
        limit: Duration,
    ) -> BoxFuture<'a, ReadBack> {
        Box::pin(async move {
            let p = &self.protocol;
            let Ok(mut line) = Line::connect(self.addr, limit).await else {
                return ReadBack {
                    lost: pairs.len() as u64,
                    unsure: true,
                };
            };
            let mut out = ReadBack::default();
            for (key, value) in pairs {
                match line
                    .ask(&LineProtocol::fill(&p.get, key, value), limit)
                    .await
                {
                    Ok(a) if a == LineProtocol::fill(&p.get_ok, key, value) => {}
                    Ok(a) if p.error.is_match(&a) => {
                        out.unsure = true;
                        out.lost += 1;
                    }
                    Ok(_) => out.lost += 1,
                    Err(_) => {
                        out.unsure = true;
                        out.lost += 1;
                    }
                }
            }
            out
        })
    }

    fn request_bytes(&self) -> Option<Vec<u8>> {
        Some(format!("{}\n", self.protocol.ping).into_bytes())
    }

    fn malformed(&self) -> Vec<Malformed> {
        malformed_lines(&self.protocol)
    }

    fn send_malformed<'a>(
        &'a self,
        m: &'a Malformed,
        limit: Duration,
    ) -> BoxFuture<'a, MalformedAnswer> {
        Box::pin(async move {
            let p = &self.protocol;
            let mut line = match Line::connect(self.addr, limit).await {
                Ok(l) => l,
                Err(e) => {
                    return MalformedAnswer {
                        said: format!("no connection ({})", error_kind(&e)),
                        protocol_error: false,
                        same_connection_answers: Some(false),
                    }
                }
            };
            let answer = within(limit, async {
                line.send(&m.bytes).await?;
                line.read().await
            })
            .await;
            let (said, protocol_error) = match &answer {
                Ok(a) => (a.clone(), p.error.is_match(a)),
                Err(e) => (error_kind(e), false),
            };
            // Did the handler survive? Ask the probe on the same connection.
            let same_connection_answers = match line.ask(&p.ping, limit).await {
                Ok(a) => Some(p.pong.is_match(&a)),
                // Closed after its error line: the caller tries a new connection.
                Err(_) if protocol_error => None,
                Err(_) => Some(false),
            };
            MalformedAnswer {
                said,
                protocol_error,
                same_connection_answers,
            }
        })
    }

    fn send_large(
        &self,
        bytes: usize,
        limit: Duration,
    ) -> BoxFuture<'_, Result<LargeAnswer, String>> {
        Box::pin(async move {
            let p = &self.protocol;
            let request = format!(
                "{}\n",
                LineProtocol::fill(&p.put, "chaos_monkey_large", &"L".repeat(bytes))
            );
            Ok(large_exchange(self.addr, request.into_bytes(), limit, |a| {
                p.error.is_match(a)
            })
            .await)
        })
    }

    fn slow_client(
        &self,
        bytes: usize,
        limit: Duration,
    ) -> BoxFuture<'_, Option<io::Result<Box<dyn SlowClient>>>> {
        Box::pin(async move {
            let p = &self.protocol;
            let value = "s".repeat(bytes.max(16));
            let connect = async {
                let mut slow = Line::connect_small_window(self.addr, 4096, limit).await?;
                let key = "chaos_monkey_slow_consumer";
                match slow
                    .ask(&LineProtocol::fill(&p.put, key, &value), limit)
                    .await
                {
                    Ok(a) if p.put_ok.is_match(&a) => {}
                    other => {
                        return Err(io::Error::other(format!(
                            "could not store the value to read: {other:?}"
                        )))
                    }
                }
                let get = format!("{}\n", LineProtocol::fill(&p.get, key, &value)).repeat(64);
                Ok(Box::new(Pipelined {
                    line: slow,
                    batch: get.into_bytes(),
                    per_batch: 64,
                }) as Box<dyn SlowClient>)
            };
            Some(connect.await)
        })
    }

    fn cleanup(&self, _limit: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// Write `request` on a fresh connection while reading the first answer
/// line (the server may answer, and stop reading, before the end):
/// refused when the answer is a protocol error (`is_error`) or the
/// connection closed without acknowledging.
pub(crate) async fn large_exchange(
    addr: SocketAddr,
    request: Vec<u8>,
    limit: Duration,
    is_error: impl Fn(&str) -> bool,
) -> LargeAnswer {
    let bytes = request.len();
    let line = match Line::connect(addr, limit.min(Duration::from_secs(2))).await {
        Ok(l) => l,
        Err(e) => {
            return LargeAnswer {
                bytes,
                said: format!("could not connect ({})", error_kind(&e)),
                refused: false,
                wrote: Err("not connected".into()),
            }
        }
    };
    let (mut reader, mut writer) = line.split();
    let write = async {
        let r = writer.write_all(&request).await;
        let _ = writer.flush().await;
        r
    };
    let read = read_line(&mut reader);
    let (wrote, answer) = match within(limit, async {
        Ok(futures::future::join(write, read).await)
    })
    .await
    {
        Ok(both) => both,
        Err(e) => (Err(io::Error::other("not written")), Err(e)),
    };
    let (said, refused) = match &answer {
        Ok(a) if is_error(a) => (a.clone(), true),
        Ok(a) => (a.clone(), false),
        Err(e) if e.kind() == io::ErrorKind::TimedOut => (error_kind(e), false),
        Err(e) => (
            format!("closed without acknowledging ({})", error_kind(e)),
            true,
        ),
    };
    LargeAnswer {
        bytes,
        said,
        refused,
        wrote: wrote.map_err(|e| error_kind(&e)),
    }
}

/// A slow client that writes a batch of requests again and again on a
/// connection with a small receive window and never reads the answers.
pub(crate) struct Pipelined {
    pub(crate) line: Line,
    pub(crate) batch: Vec<u8>,
    pub(crate) per_batch: u64,
}

impl SlowClient for Pipelined {
    fn push(&mut self, limit: Duration) -> BoxFuture<'_, io::Result<Push>> {
        Box::pin(async move {
            match within(limit, self.line.writer().write_all(&self.batch)).await {
                Ok(()) => Ok(Push {
                    requests: self.per_batch,
                    stuck: false,
                }),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(Push {
                    requests: 0,
                    stuck: true,
                }),
                Err(e) => Err(e),
            }
        })
    }
}
