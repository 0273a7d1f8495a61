//! A probe from a URL — `amqp://[user:pass@]127.0.0.1:5672[/vhost]`,
//! `http://[user:pass@]127.0.0.1:15672/api/overview`,
//! `line://127.0.0.1:5555`, `tcp://127.0.0.1:5555` — loopback only
//! (`127.0.0.0/8`, `[::1]`, `localhost`). The error names what is wrong;
//! it never repeats a password.

use crate::kinds::amqp::AmqpProbe;
use crate::kinds::http::HttpProbe;
use crate::kinds::line::{LineProbe, LineProtocol};
use crate::kinds::tcp::TcpProbe;
use crate::{Probe, Secret};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// The protocols a probe can speak.
pub const KINDS: &[&str] = &["line", "tcp", "http", "amqp"];

/// A URL that is not a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError(pub String);

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpecError {}

/// A parsed probe URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    /// `line`, `tcp`, `http` or `amqp`.
    pub kind: String,
    /// Where (loopback).
    pub addr: SocketAddr,
    /// User and password from the URL, if any.
    pub credentials: Option<(String, Secret)>,
    /// The path (with the query), `/` when none.
    pub path: String,
}

fn default_port(kind: &str) -> Option<u16> {
    match kind {
        "amqp" => Some(5672),
        "http" => Some(80),
        _ => None,
    }
}

/// `%XX` decoded.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl ProbeSpec {
    /// Parse `url`.
    pub fn parse(url: &str) -> Result<ProbeSpec, SpecError> {
        let err = |why: String| SpecError(format!("probe '{}': {why}", redact(url)));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| err("not a URL; e.g. amqp://127.0.0.1:5672, http://127.0.0.1:8080/health, line://127.0.0.1:5555, tcp://127.0.0.1:5555".into()))?;
        let kind = scheme.to_ascii_lowercase();
        if !KINDS.contains(&kind.as_str()) {
            return Err(err(format!(
                "unknown scheme '{scheme}'; known: {}",
                KINDS.join(", ")
            )));
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let credentials = userinfo.map(|u| match u.split_once(':') {
            Some((a, b)) => (percent_decode(a), Secret(percent_decode(b))),
            None => (percent_decode(u), Secret::default()),
        });
        let (host, port) = if let Some(h) = hostport.strip_prefix('[') {
            let (h, p) = h
                .split_once(']')
                .ok_or_else(|| err("an IPv6 address needs its closing ']'".into()))?;
            (h, p.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| err(format!("'{p}' is not a port")))?,
            None => {
                default_port(&kind).ok_or_else(|| err(format!("a {kind} probe needs a port")))?
            }
        };
        let ip: IpAddr = if host.eq_ignore_ascii_case("localhost") {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            host.parse()
                .map_err(|_| err(format!("'{host}' is not an IP address or localhost")))?
        };
        if !ip.is_loopback() {
            return Err(err(format!(
                "{ip} is not a loopback address; probes only go to 127.0.0.0/8 and ::1"
            )));
        }
        Ok(ProbeSpec {
            kind,
            addr: SocketAddr::new(ip, port),
            credentials,
            path: path.to_string(),
        })
    }

    /// The probe, with `line` speaking `protocol`.
    pub fn build(&self, protocol: &LineProtocol) -> Arc<dyn Probe> {
        match self.kind.as_str() {
            "line" => Arc::new(LineProbe::new(self.addr, protocol.clone())),
            "tcp" => Arc::new(TcpProbe { addr: self.addr }),
            "http" => {
                let mut p = HttpProbe::get(self.addr, &self.path);
                p.credentials = self.credentials.clone();
                Arc::new(p)
            }
            _ => {
                let mut p = AmqpProbe::new(self.addr);
                if let Some(c) = &self.credentials {
                    p.credentials = c.clone();
                }
                let vhost = self.path.trim_start_matches('/');
                if !vhost.is_empty() {
                    p.vhost = percent_decode(vhost);
                }
                Arc::new(p)
            }
        }
    }
}

/// `url` with any password replaced by `***`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split_once(':').map(|(u, _)| u).unwrap_or(user);
            format!("{scheme}://{user}:***@{host}{}", &rest[authority_end..])
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_four_kinds() {
        let s = ProbeSpec::parse("amqp://127.0.0.1:5672").unwrap();
        assert_eq!(
            (s.kind.as_str(), s.addr.port(), s.credentials),
            ("amqp", 5672, None)
        );
        let s = ProbeSpec::parse("amqp://bob:p%40ss@localhost/my%2Fvhost").unwrap();
        assert_eq!(s.addr, "127.0.0.1:5672".parse().unwrap());
        assert_eq!(s.credentials, Some(("bob".into(), Secret("p@ss".into()))));
        assert_eq!(s.path, "/my%2Fvhost");
        let s = ProbeSpec::parse("http://127.0.0.1:15672/api/overview?x=1").unwrap();
        assert_eq!(s.path, "/api/overview?x=1");
        let s = ProbeSpec::parse("tcp://[::1]:4000").unwrap();
        assert_eq!(s.addr, "[::1]:4000".parse().unwrap());
        assert_eq!(ProbeSpec::parse("line://127.0.0.2:7").unwrap().kind, "line");
    }

    #[test]
    fn bad_urls_say_what_is_wrong_and_never_the_password() {
        let e = |u: &str| ProbeSpec::parse(u).unwrap_err().0;
        assert!(e("127.0.0.1:5672").contains("not a URL"));
        assert!(e("ftp://127.0.0.1:21").contains("unknown scheme 'ftp'"));
        assert!(e("tcp://127.0.0.1").contains("needs a port"));
        assert!(e("tcp://127.0.0.1:0").contains("is not a port"));
        assert!(e("http://10.0.0.1:80/").contains("not a loopback address"));
        assert!(e("http://example.com:80/").contains("not an IP address"));
        let secret = e("amqp://bob:hunter22@10.1.1.1:5672");
        assert!(!secret.contains("hunter22"), "{secret}");
        assert!(secret.contains("bob:***@"), "{secret}");
    }
}
