//! AMQP 0-9-1 (a broker): up when a connection and a channel open; writes
//! are persistent messages published with publisher confirms to a durable
//! queue of the probe's own, read back by consuming that queue — a message
//! the broker confirmed and then lost is data loss. Malformed frames are
//! sent raw; a large message is one publish of that size. The probe's
//! queue is deleted by [`Probe::cleanup`]. Through `lapin` on smol's
//! reactor; credentials (user, password, from the URL or the config) are
//! never printed and scrubbed from error texts.

use crate::line::{error_kind, within, Line};
use crate::{
    Answer, LargeAnswer, Malformed, MalformedAnswer, Probe, ReadBack, Secret, Session, SlowClient,
};
use futures::future::BoxFuture;
use futures::io::AsyncWriteExt;
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

mod frames;
mod slow;

pub use frames::HEADER_0_9_1;
use frames::{judge_frame, malformed_frames, read_frame};

/// An AMQP 0-9-1 broker.
#[derive(Debug, Clone)]
pub struct AmqpProbe {
    /// Where.
    pub addr: SocketAddr,
    /// User and password (default `guest`/`guest`, which brokers allow on loopback).
    pub credentials: (String, Secret),
    /// The virtual host (default `/`).
    pub vhost: String,
    /// The probe's own durable queue (unique per run).
    pub queue: String,
}

impl AmqpProbe {
    /// A probe of `addr` as guest on `/`.
    pub fn new(addr: SocketAddr) -> Self {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() % 1_000_000_000)
            .unwrap_or(0);
        Self {
            addr,
            credentials: ("guest".into(), Secret("guest".into())),
            vhost: "/".into(),
            queue: format!("chaos_monkey_probe_{}_{stamp}", std::process::id()),
        }
    }

    fn uri(&self) -> String {
        let enc = |s: &str| -> String {
            s.bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect()
        };
        format!(
            "amqp://{}:{}@{}/{}",
            enc(&self.credentials.0),
            enc(&self.credentials.1 .0),
            self.addr,
            enc(&self.vhost)
        )
    }

    /// An error text without the credentials.
    fn scrub(&self, e: impl std::fmt::Display) -> String {
        let mut s = e.to_string();
        for secret in [&self.credentials.1 .0, &self.credentials.0] {
            if secret.len() >= 3 {
                s = s.replace(secret.as_str(), "***");
            }
        }
        s.chars().take(200).collect()
    }

    async fn connect(&self, limit: Duration) -> Result<(Connection, Channel), String> {
        within(limit, async {
            let conn = Connection::connect(&self.uri(), ConnectionProperties::default())
                .await
                .map_err(io::Error::other)?;
            let ch = conn.create_channel().await.map_err(io::Error::other)?;
            Ok((conn, ch))
        })
        .await
        .map_err(|e| match e.kind() {
            io::ErrorKind::TimedOut => "timeout".to_string(),
            _ => self.scrub(e),
        })
    }

    async fn declare(&self, ch: &Channel, queue: &str) -> lapin::Result<()> {
        ch.queue_declare(
            queue.into(),
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .map(|_| ())
    }

    /// Publish `body` persistently to `queue` with a confirm: `Ok(true)`
    /// when the broker confirmed it.
    async fn publish(&self, ch: &Channel, queue: &str, body: &[u8]) -> lapin::Result<bool> {
        let confirm = ch
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await?
            .await?;
        Ok(matches!(confirm, Confirmation::Ack(_)))
    }
}

pub(super) async fn close(conn: Connection) {
    let _ = within(Duration::from_secs(2), async {
        conn.close(200, "chaos-monkey probe done".into())
            .await
            .map_err(io::Error::other)
    })
    .await;
}

/// One connection and channel; each request a `basic.qos` round trip
/// (it touches no queue, so sessions never contend for one).
struct AmqpSession {
    conn: Option<Connection>,
    channel: Channel,
}

impl Session for AmqpSession {
    fn request(&mut self, limit: Duration) -> BoxFuture<'_, Answer> {
        Box::pin(async move {
            let r = within(limit, async {
                self.channel
                    .basic_qos(0, BasicQosOptions::default())
                    .await
                    .map_err(io::Error::other)
            })
            .await;
            match r {
                Ok(()) => Answer::Ok("qos-ok".into()),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => Answer::Failed("timeout".into()),
                Err(e) => Answer::Failed(e.to_string().chars().take(200).collect()),
            }
        })
    }
}

impl Drop for AmqpSession {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            smol::spawn(close(conn)).detach();
        }
    }
}

impl Probe for AmqpProbe {
    fn kind(&self) -> &'static str {
        "amqp"
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn at(&self, addr: SocketAddr) -> Arc<dyn Probe> {
        Arc::new(AmqpProbe {
            addr,
            ..self.clone()
        })
    }

    fn describe(&self) -> String {
        format!(
            "amqp {} (a connection and a channel open; confirmed persistent messages on queue {})",
            self.addr, self.queue
        )
    }

    fn ask(&self, limit: Duration) -> BoxFuture<'_, Answer> {
        Box::pin(async move {
            match self.connect(limit).await {
                Ok((conn, _ch)) => {
                    // Closed before answering, so no connection of the probe's
                    // outlives it (the steady state counts connection handlers).
                    close(conn).await;
                    Answer::Ok("connection and channel open".into())
                }
                Err(e) => Answer::Failed(e),
            }
        })
    }

    fn open(&self, limit: Duration) -> BoxFuture<'_, io::Result<Box<dyn Session>>> {
        Box::pin(async move {
            let (conn, channel) = self.connect(limit).await.map_err(io::Error::other)?;
            Ok(Box::new(AmqpSession {
                conn: Some(conn),
                channel,
            }) as Box<dyn Session>)
        })
    }

    fn write<'a>(
        &'a self,
        pairs: &'a [(String, String)],
        limit: Duration,
    ) -> BoxFuture<'a, Option<Vec<(String, String)>>> {
        Box::pin(async move {
            let Ok((conn, ch)) = self.connect(limit).await else {
                return Some(Vec::new());
            };
            let mut acked = Vec::new();
            let ready = within(limit, async {
                ch.confirm_select(ConfirmSelectOptions::default())
                    .await
                    .map_err(io::Error::other)?;
                self.declare(&ch, &self.queue)
                    .await
                    .map_err(io::Error::other)
            })
            .await;
            if ready.is_ok() {
                for (key, value) in pairs {
                    let body = format!("{key}={value}");
                    let confirmed = within(limit, async {
                        self.publish(&ch, &self.queue, body.as_bytes())
                            .await
                            .map_err(io::Error::other)
                    })
                    .await;
                    if let Ok(true) = confirmed {
                        acked.push((key.clone(), value.clone()));
                    }
                }
            }
            close(conn).await;
            Some(acked)
        })
    }

    fn read_back<'a>(
        &'a self,
        pairs: &'a [(String, String)],
        limit: Duration,
    ) -> BoxFuture<'a, ReadBack> {
        Box::pin(async move {
            let all_lost = |unsure| ReadBack {
                lost: pairs.len() as u64,
                unsure,
            };
            let Ok((conn, ch)) = self.connect(limit).await else {
                return all_lost(true);
            };
            // Everything in the queue, taken off it (acknowledged as read).
            let mut bodies = Vec::new();
            let drained = within(limit, async {
                while let Some(m) = ch
                    .basic_get(self.queue.as_str().into(), BasicGetOptions { no_ack: true })
                    .await
                    .map_err(io::Error::other)?
                {
                    bodies.push(String::from_utf8_lossy(&m.delivery.data).into_owned());
                }
                Ok(())
            })
            .await;
            close(conn).await;
            match drained {
                // A queue restarting answers 404 for a while: the caller asks
                // again until its bound, then counts what is still missing.
                Err(_) => all_lost(true),
                Ok(()) => ReadBack {
                    lost: pairs
                        .iter()
                        .filter(|(k, v)| !bodies.contains(&format!("{k}={v}")))
                        .count() as u64,
                    unsure: false,
                },
            }
        })
    }

    fn request_bytes(&self) -> Option<Vec<u8>> {
        // A client's first request: the protocol header (the broker answers
        // with connection.start).
        Some(frames::HEADER_0_9_1.to_vec())
    }

    fn malformed(&self) -> Vec<Malformed> {
        malformed_frames()
    }

    fn send_malformed<'a>(
        &'a self,
        m: &'a Malformed,
        limit: Duration,
    ) -> BoxFuture<'a, MalformedAnswer> {
        Box::pin(async move {
            let answer = within(limit, async {
                let mut line = Line::connect(self.addr, limit).await?;
                if m.bytes.starts_with(HEADER_0_9_1) {
                    // Header first, then the broker's connection.start, then the bad frame.
                    line.writer().write_all(HEADER_0_9_1).await?;
                    let start = read_frame(&mut line).await?;
                    if start.0 != 1 {
                        return Ok(judge_frame(&start));
                    }
                    line.writer()
                        .write_all(&m.bytes[HEADER_0_9_1.len()..])
                        .await?;
                } else {
                    line.writer().write_all(&m.bytes).await?;
                }
                match read_frame(&mut line).await {
                    Ok(f) => Ok(judge_frame(&f)),
                    // The spec has the peer close the socket on a frame error; a
                    // close with our bytes still unread arrives as a reset.
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset
                        ) =>
                    {
                        Ok((format!("closed the connection ({})", error_kind(&e)), true))
                    }
                    Err(e) => Err(e),
                }
            })
            .await;
            let (said, protocol_error) = answer.unwrap_or_else(|e| (error_kind(&e), false));
            MalformedAnswer {
                said,
                protocol_error,
                same_connection_answers: None,
            }
        })
    }

    fn send_large(
        &self,
        bytes: usize,
        limit: Duration,
    ) -> BoxFuture<'_, Result<LargeAnswer, String>> {
        Box::pin(async move {
            let (conn, ch) = match self.connect(limit).await {
                Ok(c) => c,
                Err(e) => {
                    return Ok(LargeAnswer {
                        bytes,
                        said: format!("could not connect ({e})"),
                        refused: false,
                        wrote: Err("not connected".into()),
                    })
                }
            };
            // A queue of its own, deleted after: the probe's writes are not touched.
            let queue = format!("{}_large", self.queue);
            let body = vec![b'L'; bytes];
            let r = within(limit, async {
                ch.confirm_select(ConfirmSelectOptions::default())
                    .await
                    .map_err(io::Error::other)?;
                self.declare(&ch, &queue).await.map_err(io::Error::other)?;
                self.publish(&ch, &queue, &body)
                    .await
                    .map_err(io::Error::other)
            })
            .await;
            delete_queues(&ch, &[&queue], limit).await;
            close(conn).await;
            let (said, refused, wrote) = match r {
                Ok(true) => ("confirmed (accepted)".to_string(), false, Ok(())),
                Ok(false) => ("nack (refused)".to_string(), true, Ok(())),
                Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                    ("timeout".to_string(), false, Err("timeout".to_string()))
                }
                Err(e) => (
                    format!("refused: {}", self.scrub(&e)),
                    true,
                    Err(self.scrub(&e)),
                ),
            };
            Ok(LargeAnswer {
                bytes,
                said,
                refused,
                wrote,
            })
        })
    }

    fn slow_client(
        &self,
        bytes: usize,
        limit: Duration,
    ) -> BoxFuture<'_, Option<io::Result<Box<dyn SlowClient>>>> {
        Box::pin(async move { Some(self.slow_consumer(bytes, limit).await) })
    }

    fn cleanup(&self, limit: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Ok((conn, ch)) = self.connect(limit).await {
                let large = format!("{}_large", self.queue);
                delete_queues(&ch, &[&self.queue, &large], limit).await;
                close(conn).await;
            }
        })
    }
}

/// Delete `queues` (a queue that is not there is no error worth a word).
async fn delete_queues(ch: &Channel, queues: &[&str], limit: Duration) {
    for q in queues {
        let _ = within(limit, async {
            ch.queue_delete((*q).into(), QueueDeleteOptions::default())
                .await
                .map_err(io::Error::other)
        })
        .await;
    }
}
