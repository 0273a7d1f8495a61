//! HTTP/1.1: a request (method, path, body) whose answer must have the
//! expected status (any 2xx by default) and a body matching a regex;
//! writes and read-backs through configurable paths (`PUT /kv/{key}` then
//! `GET /kv/{key}`); malformed request lines and headers sent raw; a large
//! body to the write path. `429` and `503` are clean refusals (the service
//! is there and holds back). Requests go through `ureq` on the blocking
//! pool, never through a proxy from the environment; credentials go in an
//! `Authorization: Basic` header and never into reports.

mod malformed;

use crate::kinds::line::{large_exchange, Pipelined};
use crate::line::{error_kind, within, Line};
use crate::{
    Answer, LargeAnswer, Malformed, MalformedAnswer, Probe, ReadBack, Secret, Session, SlowClient,
};
use base64::prelude::{Engine, BASE64_STANDARD};
use futures::future::BoxFuture;
use futures::io::AsyncWriteExt;
use regex::Regex;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Where values are written and read back.
#[derive(Debug, Clone)]
pub struct HttpWrite {
    /// `PUT` or `POST`.
    pub method: String,
    /// The write's path; `{key}` is filled in.
    pub path: String,
    /// The write's body; `{key}` and `{value}` are filled in.
    pub body: String,
    /// The read's path (`GET`); `{key}` is filled in.
    pub read_path: String,
}

/// An HTTP service.
#[derive(Debug, Clone)]
pub struct HttpProbe {
    /// Where.
    pub addr: SocketAddr,
    /// The liveness request's method.
    pub method: String,
    /// Its path (with the query).
    pub path: String,
    /// Its body, if any.
    pub body: Option<String>,
    /// The status that means up (`None`: any 2xx).
    pub status: Option<u16>,
    /// What the answer's body must match, if anything.
    pub expect_body: Option<Regex>,
    /// Basic-auth user and password (never printed).
    pub credentials: Option<(String, Secret)>,
    /// Write and read-back paths, if the service has them.
    pub write: Option<HttpWrite>,
}

impl HttpProbe {
    /// `GET path` on `addr`, any 2xx.
    pub fn get(addr: SocketAddr, path: &str) -> Self {
        Self {
            addr,
            method: "GET".into(),
            path: if path.starts_with('/') {
                path.to_string()
            } else {
                format!("/{path}")
            },
            body: None,
            status: None,
            expect_body: None,
            credentials: None,
            write: None,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn authorization(&self) -> Option<String> {
        self.credentials
            .as_ref()
            .map(|(u, p)| format!("Basic {}", BASE64_STANDARD.encode(format!("{u}:{}", p.0))))
    }

    /// One request through ureq on the blocking pool: (status, body).
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        limit: Duration,
    ) -> Result<(u16, String), String> {
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(path))
            .header("Connection", "close");
        if let Some(a) = self.authorization() {
            req = req.header("Authorization", a);
        }
        if body.is_some() {
            req = req.header("Content-Type", "application/octet-stream");
        }
        let req = req
            .body(body.unwrap_or_default())
            .map_err(|e| format!("bad request: {e}"))?;
        smol::unblock(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .proxy(None)
                .http_status_as_error(false)
                .timeout_global(Some(limit))
                .max_idle_connections(0)
                .build()
                .into();
            let mut resp = agent.run(req).map_err(|e| short_ureq_error(&e))?;
            let status = resp.status().as_u16();
            let text = resp
                .body_mut()
                .with_config()
                .limit(1 << 20)
                .read_to_string()
                .unwrap_or_default();
            Ok((status, text))
        })
        .await
    }

    fn judge(&self, status: u16, body: &str) -> Answer {
        let head: String = body.chars().take(80).collect();
        let said = format!("{status} {}", head.trim());
        let status_ok = match self.status {
            Some(s) => status == s,
            None => (200..300).contains(&status),
        };
        if status_ok && self.expect_body.as_ref().is_none_or(|r| r.is_match(body)) {
            Answer::Ok(said)
        } else if status == 429 || status == 503 {
            Answer::Refused(said)
        } else {
            Answer::Failed(said)
        }
    }

    fn request_bytes(&self, method: &str, path: &str, body: &[u8], close: bool) -> Vec<u8> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        if let Some(a) = self.authorization() {
            head.push_str(&format!("Authorization: {a}\r\n"));
        }
        if !body.is_empty() || method == "POST" || method == "PUT" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        if close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        [head.as_bytes(), body].concat()
    }
}

/// ureq's error in a few words (connection refused, timeout, …).
fn short_ureq_error(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) => error_kind(io),
        ureq::Error::Timeout(_) => "timeout".into(),
        other => other.to_string(),
    }
}

/// A status that refuses a request it cannot take: any 4xx, `501 Not
/// Implemented` (an unknown method) or `505 HTTP Version Not Supported`.
fn refuses_request(status: u16) -> bool {
    (400..500).contains(&status) || status == 501 || status == 505
}

/// The status code of an HTTP status line.
fn status_of(line: &str) -> Option<u16> {
    let mut parts = line.split_whitespace();
    parts
        .next()
        .filter(|v| v.starts_with("HTTP/"))
        .and(parts.next())
        .and_then(|s| s.parse().ok())
}

/// A connection kept open (keep-alive) for repeated requests.
struct HttpSession {
    line: Line,
    request: Vec<u8>,
    probe: HttpProbe,
}

impl HttpSession {
    /// Send the request, read the status line, the headers and a body of
    /// `Content-Length` (or chunked) bytes.
    async fn exchange(&mut self) -> io::Result<(u16, String)> {
        self.line.writer().write_all(&self.request).await?;
        let status_line = self.line.read().await?;
        let status = status_of(&status_line)
            .ok_or_else(|| io::Error::other(format!("not HTTP: {status_line:?}")))?;
        let (mut length, mut chunked) = (0usize, false);
        loop {
            let h = self.line.read().await?;
            if h.is_empty() {
                break;
            }
            let lower = h.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            } else if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                let size = usize::from_str_radix(self.line.read().await?.trim(), 16)
                    .map_err(io::Error::other)?;
                let mut chunk = vec![0u8; size + 2];
                self.line.read_exact(&mut chunk).await?;
                body.extend_from_slice(&chunk[..size]);
                if size == 0 {
                    break;
                }
            }
        } else {
            body.resize(length, 0);
            self.line.read_exact(&mut body).await?;
        }
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

impl Session for HttpSession {
    fn request(&mut self, limit: Duration) -> BoxFuture<'_, Answer> {
        Box::pin(async move {
            match within(limit, self.exchange()).await {
                Ok((status, body)) => self.probe.judge(status, &body),
                Err(e) => Answer::Failed(error_kind(&e)),
            }
        })
    }
}

impl Probe for HttpProbe {
    fn kind(&self) -> &'static str {
        "http"
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn at(&self, addr: SocketAddr) -> Arc<dyn Probe> {
        Arc::new(HttpProbe {
            addr,
            ..self.clone()
        })
    }

    fn describe(&self) -> String {
        format!(
            "http {} {} {}{}",
            self.addr,
            self.method,
            self.path,
            match self.status {
                Some(s) => format!(" expecting {s}"),
                None => " expecting 2xx".into(),
            }
        )
    }

    fn ask(&self, limit: Duration) -> BoxFuture<'_, Answer> {
        Box::pin(async move {
            match self
                .call(&self.method, &self.path, self.body.clone(), limit)
                .await
            {
                Ok((status, body)) => self.judge(status, &body),
                Err(e) => Answer::Failed(e),
            }
        })
    }

    fn open(&self, limit: Duration) -> BoxFuture<'_, io::Result<Box<dyn Session>>> {
        Box::pin(async move {
            let line = Line::connect(self.addr, limit).await?;
            let body = self.body.clone().unwrap_or_default();
            Ok(Box::new(HttpSession {
                line,
                request: self.request_bytes(&self.method, &self.path, body.as_bytes(), false),
                probe: self.clone(),
            }) as Box<dyn Session>)
        })
    }

    fn write<'a>(
        &'a self,
        pairs: &'a [(String, String)],
        limit: Duration,
    ) -> BoxFuture<'a, Option<Vec<(String, String)>>> {
        Box::pin(async move {
            let w = self.write.as_ref()?;
            let mut acked = Vec::new();
            for (key, value) in pairs {
                let path = w.path.replace("{key}", key);
                let body = w.body.replace("{key}", key).replace("{value}", value);
                if let Ok((200..=299, _)) = self.call(&w.method, &path, Some(body), limit).await {
                    acked.push((key.clone(), value.clone()));
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
            let mut out = ReadBack::default();
            let Some(w) = self.write.as_ref() else {
                return out;
            };
            for (key, value) in pairs {
                let path = w.read_path.replace("{key}", key);
                match self.call("GET", &path, None, limit).await {
                    Ok((200..=299, body)) if body.contains(value.as_str()) => {}
                    Ok((404 | 410, _)) | Ok((200..=299, _)) => out.lost += 1,
                    Ok(_) | Err(_) => {
                        out.unsure = true;
                        out.lost += 1;
                    }
                }
            }
            out
        })
    }

    fn request_bytes(&self) -> Option<Vec<u8>> {
        // A GET of the liveness path (never its method, which may write),
        // without credentials: completed, it changes nothing.
        Some(
            format!(
                "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                self.path, self.addr
            )
            .into_bytes(),
        )
    }

    fn malformed(&self) -> Vec<Malformed> {
        malformed::malformed_requests(&self.addr.to_string())
    }

    fn send_malformed<'a>(
        &'a self,
        m: &'a Malformed,
        limit: Duration,
    ) -> BoxFuture<'a, MalformedAnswer> {
        Box::pin(async move {
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
                line.writer().write_all(&m.bytes).await?;
                line.read().await
            })
            .await;
            let (said, protocol_error) = match &answer {
                Ok(a) => (a.clone(), status_of(a).is_some_and(refuses_request)),
                // Closing on a request it cannot parse is what HTTP/1.1 allows.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                    ("closed the connection".into(), true)
                }
                Err(e) => (error_kind(e), false),
            };
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
            let (method, path) = match &self.write {
                Some(w) => (
                    w.method.as_str(),
                    w.path.replace("{key}", "chaos_monkey_large"),
                ),
                None => ("POST", self.path.clone()),
            };
            let body = vec![b'L'; bytes];
            let request = self.request_bytes(method, &path, &body, true);
            let a = large_exchange(self.addr, request, limit, |l| {
                status_of(l).is_some_and(|s| (400..500).contains(&s))
            })
            .await;
            // Refused for its method or path, not its size: the size limit went untested.
            if let Some(s @ (404 | 405 | 501)) = status_of(&a.said) {
                return Err(format!(
                    "{method} {path} was answered {s} before its body counted (the path takes no body); name one that does with write_path"
                ));
            }
            Ok(a)
        })
    }

    fn slow_client(
        &self,
        _bytes: usize,
        limit: Duration,
    ) -> BoxFuture<'_, Option<io::Result<Box<dyn SlowClient>>>> {
        Box::pin(async move {
            let body = self.body.clone().unwrap_or_default();
            let one = self.request_bytes(&self.method, &self.path, body.as_bytes(), false);
            // HTTP/1.1 pipelining: requests one after another, answers never read.
            Some(
                Line::connect_small_window(self.addr, 4096, limit)
                    .await
                    .map(|line| {
                        Box::new(Pipelined {
                            line,
                            batch: one.repeat(16),
                            per_batch: 16,
                        }) as Box<dyn SlowClient>
                    }),
            )
        })
    }

    fn cleanup(&self, _limit: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(status_of("HTTP/1.1 413 Payload Too Large"), Some(413));
        assert_eq!(status_of("HTTP/1.0 200"), Some(200));
        assert_eq!(status_of("PONG"), None);
    }
}
