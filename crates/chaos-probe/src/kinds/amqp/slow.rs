//! The AMQP slow consumer: a consumer without acknowledgements on a raw
//! connection with a small receive window that never reads, and a
//! publisher that keeps its queue full.

use super::frames;
use super::{close, AmqpProbe};
use crate::line::{within, Line};
use crate::{Push, SlowClient};
use futures::future::BoxFuture;
use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection};
use std::io;
use std::time::Duration;

impl AmqpProbe {
    /// A consumer that subscribes (no acknowledgements, so the broker pushes
    /// everything it can) to a queue of its own, on a raw connection with a
    /// small receive window, and then never reads; and a publisher that
    /// fills that queue with messages of `bytes` bytes.
    pub(super) async fn slow_consumer(
        &self,
        bytes: usize,
        limit: Duration,
    ) -> io::Result<Box<dyn SlowClient>> {
        let queue = format!("{}_slow", self.queue);
        let (conn, ch) = self.connect(limit).await.map_err(io::Error::other)?;
        within(limit, async {
            ch.queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(io::Error::other)
        })
        .await?;
        let mut line = Line::connect_small_window(self.addr, 4096, limit).await?;
        within(
            limit,
            frames::consume(
                &mut line,
                &self.credentials.0,
                &self.credentials.1 .0,
                &self.vhost,
                &queue,
            ),
        )
        .await?;
        Ok(Box::new(SlowAmqp {
            _consumer: line,
            publisher: Some(conn),
            channel: ch,
            queue,
            body: vec![b's'; bytes.clamp(16, 64 * 1024)],
        }))
    }
}

/// The slow consumer's two connections: the one that never reads (dropped,
/// it closes and the auto-delete queue goes) and the publisher's.
struct SlowAmqp {
    _consumer: Line,
    publisher: Option<Connection>,
    channel: Channel,
    queue: String,
    body: Vec<u8>,
}

impl SlowClient for SlowAmqp {
    /// Publish 16 messages; stuck once the queue keeps messages back (the
    /// broker stopped pushing to the consumer that does not read).
    fn push(&mut self, limit: Duration) -> BoxFuture<'_, io::Result<Push>> {
        Box::pin(async move {
            within(limit, async {
                for _ in 0..16 {
                    self.channel
                        .basic_publish(
                            "".into(),
                            self.queue.as_str().into(),
                            BasicPublishOptions::default(),
                            &self.body,
                            BasicProperties::default(),
                        )
                        .await
                        .map_err(io::Error::other)?;
                }
                let q = self
                    .channel
                    .queue_declare(
                        self.queue.as_str().into(),
                        QueueDeclareOptions {
                            passive: true,
                            ..QueueDeclareOptions::default()
                        },
                        FieldTable::default(),
                    )
                    .await
                    .map_err(io::Error::other)?;
                Ok(Push {
                    requests: 16,
                    stuck: q.message_count() > 0,
                })
            })
            .await
        })
    }
}

impl Drop for SlowAmqp {
    fn drop(&mut self) {
        if let Some(conn) = self.publisher.take() {
            smol::spawn(close(conn)).detach();
        }
    }
}
