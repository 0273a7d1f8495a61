//! The connection's tasks: the reader (frames in, checked, dispatched), the
//! writer (queued messages batched into one write) and liveness (ticks, and
//! a probe when the line is quiet).

use super::frame::{check_terms, encode_frame};
use super::*;

pub(super) async fn reader(inner: Arc<Inner>, stream: TcpStream) {
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

pub(super) async fn writer(
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

pub(super) async fn liveness(weak: std::sync::Weak<Inner>) {
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
