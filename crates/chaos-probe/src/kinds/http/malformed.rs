//! The malformed HTTP requests the probe sends: each must get a 4xx (or a
//! close), never a crash or silence.

use crate::Malformed;

/// Malformed HTTP requests: each must get a 4xx (or a close).
pub(super) fn malformed_requests(host: &str) -> Vec<Malformed> {
    let mut rng = chaos_engine::SeededRng::new(8);
    let random: Vec<u8> = (0..64)
        .map(|_| rng.range_inclusive(0, 255) as u8)
        .filter(|b| *b != b'\n' && *b != b'\r')
        .chain(*b"\r\n\r\n")
        .collect();
    let m = |kind, bytes: &str| Malformed {
        kind,
        bytes: bytes.as_bytes().to_vec(),
    };
    vec![
        Malformed {
            kind: "random_bytes",
            bytes: random,
        },
        m("bad_request_line", "GET\r\n\r\n"),
        m("bad_version", "GET / HTTP/9.7\r\nHost: x\r\n\r\n"),
        m(
            "bad_header",
            &format!("GET / HTTP/1.1\r\nHost: {host}\r\nNo colon here\r\n\r\n"),
        ),
        m(
            "bad_content_length",
            &format!("POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: -12\r\n\r\n"),
        ),
        Malformed {
            kind: "invalid_utf8_path",
            bytes: [
                b"GET /\xff\xfe\xfd HTTP/1.1\r\nHost: ".as_slice(),
                host.as_bytes(),
                b"\r\n\r\n",
            ]
            .concat(),
        },
    ]
}
