//! AMQP 0-9-1 frames by hand, for what a client library will not do: read
//! a frame off a raw connection, judge a broker's answer to a malformed
//! frame, the malformed frames themselves, and just enough of the
//! handshake for a client that must stop reading its socket (a channel, a
//! consume).

use crate::line::Line;
use crate::Malformed;
use futures::io::AsyncWriteExt;
use std::io;

/// The protocol header a 0-9-1 client opens with.
pub const HEADER_0_9_1: &[u8; 8] = b"AMQP\x00\x00\x09\x01";

/// A frame on a raw connection: (type, channel, payload).
pub(crate) async fn read_frame(line: &mut Line) -> io::Result<(u8, u16, Vec<u8>)> {
    let mut head = [0u8; 7];
    line.read_exact(&mut head).await?;
    if &head[..4] == b"AMQP" {
        // The broker's own protocol header: it does not speak what we sent.
        let mut rest = [0u8; 1];
        line.read_exact(&mut rest).await?;
        return Ok((b'A', 0, [&head[..], &rest].concat()));
    }
    let size = u32::from_be_bytes([head[3], head[4], head[5], head[6]]) as usize;
    if size > 1 << 20 {
        return Err(io::Error::other(format!("a frame of {size} bytes")));
    }
    let mut payload = vec![0u8; size + 1];
    line.read_exact(&mut payload).await?;
    payload.pop();
    Ok((head[0], u16::from_be_bytes([head[1], head[2]]), payload))
}

/// A frame seen after a malformed one, in words; and whether it is a clean refusal.
pub(crate) fn judge_frame(frame: &(u8, u16, Vec<u8>)) -> (String, bool) {
    let (kind, _, payload) = frame;
    if *kind == b'A' {
        return (
            "the broker's protocol header (unsupported protocol)".into(),
            true,
        );
    }
    if *kind == 1 && payload.len() >= 6 && payload[..4] == [0, 10, 0, 50] {
        let code = u16::from_be_bytes([payload[4], payload[5]]);
        let text_len = *payload.get(6).unwrap_or(&0) as usize;
        let text = String::from_utf8_lossy(payload.get(7..7 + text_len).unwrap_or_default());
        return (format!("connection.close {code} {text}"), true);
    }
    (format!("a frame of type {kind}"), false)
}

/// Malformed input for a broker: raw bytes or a bad header instead of the
/// protocol header, and after a good header a frame of an unknown type, a
/// frame claiming 2 GiB, a frame with a wrong end byte.
pub(crate) fn malformed_frames() -> Vec<Malformed> {
    let mut rng = chaos_engine::SeededRng::new(8);
    let random: Vec<u8> = (0..64).map(|_| rng.range_inclusive(0, 255) as u8).collect();
    let after_header = |frame: &[u8]| [HEADER_0_9_1.as_slice(), frame].concat();
    vec![
        Malformed {
            kind: "random_bytes",
            bytes: random,
        },
        Malformed {
            kind: "bad_protocol_header",
            // AMQP 0-10, which 0-9-1 brokers do not speak.
            bytes: b"AMQP\x00\x00\x0a\x00".to_vec(),
        },
        Malformed {
            kind: "bad_frame_type",
            bytes: after_header(&[9, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4, 0xCE]),
        },
        Malformed {
            kind: "oversized_frame",
            bytes: after_header(&[1, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 10, 0, 11]),
        },
        Malformed {
            kind: "bad_frame_end",
            bytes: after_header(&[1, 0, 0, 0, 0, 0, 4, 0, 10, 0, 11, 0x00]),
        },
    ]
}

fn shortstr(out: &mut Vec<u8>, s: &str) {
    out.push(s.len().min(255) as u8);
    out.extend_from_slice(&s.as_bytes()[..s.len().min(255)]);
}

async fn send_method(
    line: &mut Line,
    channel: u16,
    class: u16,
    method: u16,
    args: &[u8],
) -> io::Result<()> {
    let mut payload = Vec::with_capacity(4 + args.len());
    payload.extend_from_slice(&class.to_be_bytes());
    payload.extend_from_slice(&method.to_be_bytes());
    payload.extend_from_slice(args);
    let mut frame = vec![1u8];
    frame.extend_from_slice(&channel.to_be_bytes());
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&payload);
    frame.push(0xCE);
    line.writer().write_all(&frame).await
}

/// The next method frame's arguments, which must be `class.method`.
async fn expect(line: &mut Line, class: u16, method: u16) -> io::Result<Vec<u8>> {
    loop {
        let (kind, _, payload) = read_frame(line).await?;
        if kind != 1 || payload.len() < 4 {
            continue;
        }
        let got = (
            u16::from_be_bytes([payload[0], payload[1]]),
            u16::from_be_bytes([payload[2], payload[3]]),
        );
        if got == (class, method) {
            return Ok(payload[4..].to_vec());
        }
        return Err(io::Error::other(format!(
            "expected method {class}.{method}, the broker sent {}.{}",
            got.0, got.1
        )));
    }
}

/// Open a connection as `user` on `vhost`, a channel, and consume `queue` without acks.
pub(crate) async fn consume(
    line: &mut Line,
    user: &str,
    password: &str,
    vhost: &str,
    queue: &str,
) -> io::Result<()> {
    line.writer().write_all(HEADER_0_9_1).await?;
    expect(line, 10, 10).await?; // connection.start
    let mut args = Vec::new();
    args.extend_from_slice(&0u32.to_be_bytes()); // client properties: none
    shortstr(&mut args, "PLAIN");
    let response = format!("\0{user}\0{password}");
    args.extend_from_slice(&(response.len() as u32).to_be_bytes());
    args.extend_from_slice(response.as_bytes());
    shortstr(&mut args, "en_US");
    send_method(line, 0, 10, 11, &args).await?; // start-ok
    let tune = expect(line, 10, 30).await?;
    let mut args = tune.get(..6).unwrap_or(&[0, 0, 0, 2, 0, 0]).to_vec();
    args.extend_from_slice(&0u16.to_be_bytes()); // no heartbeats
    send_method(line, 0, 10, 31, &args).await?; // tune-ok
    let mut args = Vec::new();
    shortstr(&mut args, vhost);
    shortstr(&mut args, "");
    args.push(0);
    send_method(line, 0, 10, 40, &args).await?; // connection.open
    expect(line, 10, 41).await?;
    send_method(line, 1, 20, 10, &[0]).await?; // channel.open
    expect(line, 20, 11).await?;
    let mut args = 0u16.to_be_bytes().to_vec();
    shortstr(&mut args, queue);
    shortstr(&mut args, "chaos_monkey_slow");
    args.push(0b0000_0010); // no-ack
    args.extend_from_slice(&0u32.to_be_bytes()); // no arguments
    send_method(line, 1, 60, 20, &args).await?; // basic.consume
    expect(line, 60, 21).await?;
    Ok(())
}
