//! The services a node runs: the TCP sockets its applications listen on
//! (read on the node: every listening port, its owner and the owner's
//! application; the runtime's own left out), the loopback address each is
//! reached on (a wildcard bind, `0.0.0.0` or `::`, is reached on
//! `127.0.0.1` or `::1`; a bind to any other address is listed but never
//! connected to), and what each speaks ([`chaos_probe::guess`]).

use crate::dist::json::to_json;
use crate::dist::DistClient;
use crate::eval::{eval_with_timeout, EvalError};
use chaos_probe::guess::{guess, Guess};
use chaos_probe::kinds::amqp::AmqpProbe;
use chaos_probe::kinds::http::HttpProbe;
use chaos_probe::kinds::line::LineProbe;
use chaos_probe::kinds::tcp::TcpProbe;
use chaos_probe::{LineProtocol, Probe};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

const SNIPPET: &str = include_str!("snippets/listeners.erl");

/// One listening socket of the node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Listener {
    /// The address it is bound to, as the node has it.
    pub ip: String,
    /// Its port.
    pub port: u16,
    /// The process that owns the socket.
    pub owner: String,
    /// Its registered name, if any.
    pub owner_name: Option<String>,
    /// Its application (`None`: a process of no application).
    pub application: Option<String>,
    /// Where we connect to reach it (`None`: bound to an address that is not loopback).
    #[serde(default)]
    pub reach: Option<SocketAddr>,
    /// What it speaks, when asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<GuessView>,
}

/// [`Guess`], as reports carry it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct GuessView {
    /// `line`, `http`, `amqp` or `tcp`.
    pub kind: String,
    /// What it answered that told us.
    pub evidence: String,
}

impl From<Guess> for GuessView {
    fn from(g: Guess) -> Self {
        Self {
            kind: g.kind.to_string(),
            evidence: g.evidence,
        }
    }
}

/// The loopback address that reaches a socket bound to `ip`.
pub fn reach(ip: IpAddr, port: u16) -> Option<SocketAddr> {
    let ip = match ip {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip if ip.is_loopback() => ip,
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

impl Listener {
    /// `127.0.0.1:5672 (rabbit, <0.700.0> name)` for lists.
    pub fn describe(&self) -> String {
        format!(
            "{}:{} ({}{})",
            if self.ip.contains(':') {
                format!("[{}]", self.ip)
            } else {
                self.ip.clone()
            },
            self.port,
            self.application.as_deref().unwrap_or("no application"),
            self.owner_name
                .as_deref()
                .map(|n| format!(", {}", crate::elixir::readable(n)))
                .unwrap_or_default()
        )
    }

    /// The probe its guessed protocol calls for (`line` speaking `line`).
    pub fn probe(&self, line: &LineProtocol) -> Option<Arc<dyn Probe>> {
        let addr = self.reach?;
        Some(match self.protocol.as_ref().map(|g| g.kind.as_str()) {
            Some("amqp") => Arc::new(AmqpProbe::new(addr)),
            Some("http") => Arc::new(HttpProbe::get(addr, "/")),
            Some("line") => Arc::new(LineProbe::new(addr, line.clone())),
            _ => Arc::new(TcpProbe { addr }),
        })
    }
}

/// The node's listeners, by port; not yet asked what they speak.
pub async fn listeners(client: &DistClient) -> Result<Vec<Listener>, EvalError> {
    let t = eval_with_timeout(client, SNIPPET, &[], Duration::from_secs(10)).await?;
    let mut out: Vec<Listener> = serde_json::from_value(to_json(&t)).unwrap_or_default();
    for l in &mut out {
        l.reach = l.ip.parse().ok().and_then(|ip| reach(ip, l.port));
    }
    out.sort_by_key(|l| (l.port, l.ip.clone()));
    Ok(out)
}

/// Ask every reachable listener what it speaks (each try within `limit`).
pub async fn guess_protocols(listeners: &mut [Listener], line: &LineProtocol, limit: Duration) {
    for l in listeners.iter_mut() {
        if let Some(addr) = l.reach {
            l.protocol = Some(guess(addr, line, limit).await.into());
        }
    }
}

/// The listener a probe should talk to when none was named: reachable;
/// speaking a protocol whose probe can also write and read back (line,
/// AMQP) before HTTP (which needs a write path named), before a bare TCP
/// one; an application's before one of no application; then the lowest port.
pub fn pick(listeners: &[Listener]) -> Option<&Listener> {
    listeners
        .iter()
        .filter(|l| l.reach.is_some())
        .min_by_key(|l| {
            let rank = match l.protocol.as_ref().map(|g| g.kind.as_str()) {
                Some("line" | "amqp") => 0,
                Some("http") => 1,
                _ => 2,
            };
            (rank, l.application.is_none(), l.port)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(port: u16, ip: &str, app: Option<&str>, kind: &str) -> Listener {
        Listener {
            ip: ip.into(),
            port,
            owner: "<0.1.0>".into(),
            owner_name: None,
            application: app.map(str::to_string),
            reach: reach(ip.parse().unwrap(), port),
            protocol: Some(GuessView {
                kind: kind.into(),
                evidence: String::new(),
            }),
        }
    }

    #[test]
    fn wildcards_are_reached_on_loopback_and_nothing_else_is() {
        let r = |ip: &str| reach(ip.parse().unwrap(), 5672).map(|a| a.to_string());
        assert_eq!(r("0.0.0.0").as_deref(), Some("127.0.0.1:5672"));
        assert_eq!(r("::").as_deref(), Some("[::1]:5672"));
        assert_eq!(r("127.0.0.5").as_deref(), Some("127.0.0.5:5672"));
        assert_eq!(r("::1").as_deref(), Some("[::1]:5672"));
        assert_eq!(r("10.1.2.3"), None);
        assert_eq!(r("192.168.0.1"), None);
    }

    #[test]
    fn the_pick_prefers_a_probe_that_writes_then_an_application_then_the_lowest_port() {
        let ls = vec![
            l(4000, "0.0.0.0", Some("a"), "tcp"),
            l(5672, "::", Some("b"), "amqp"),
            l(5000, "10.0.0.1", Some("c"), "http"),
            l(15672, "0.0.0.0", Some("d"), "http"),
            l(3000, "127.0.0.1", None, "line"),
        ];
        // AMQP of an application over a line service of none.
        assert_eq!(pick(&ls).unwrap().port, 5672);
        // A line service (it writes) over HTTP, even of no application.
        assert_eq!(pick(&ls[3..]).unwrap().port, 3000);
        assert_eq!(pick(&[ls[0].clone(), ls[3].clone()]).unwrap().port, 15672);
        assert_eq!(pick(&ls[..1]).unwrap().port, 4000);
        assert!(pick(&ls[2..3]).is_none());
    }
}

/// What to send a listener when a fault needs one of its requests
/// (`mid_request_disconnect` cuts one short): the request of the probe the
/// user configured for that port, else of the protocol the listener
/// answers to when asked ([`guess`]), asked once per port.
#[derive(Default)]
pub struct Requests {
    /// The probes the user configured (`--probe`, `[[probes]]`).
    configured: Vec<Arc<dyn Probe>>,
    /// Port → its protocol and request, or `None` for a protocol with no request.
    asked: std::sync::Mutex<std::collections::HashMap<u16, Option<ProtocolRequest>>>,
}

/// A protocol's name and one whole request of it.
type ProtocolRequest = (String, Vec<u8>);

/// How long each try of [`guess`] may take when a fault asks a listener.
const ASK_LIMIT: Duration = Duration::from_millis(1500);

impl Requests {
    /// With the probes the user configured.
    pub fn configured(probes: Vec<Arc<dyn Probe>>) -> Self {
        Self {
            configured: probes,
            ..Self::default()
        }
    }

    /// The protocol and one whole request for the listener on `port` (on
    /// loopback), or `Err(why not)`.
    pub async fn for_port(&self, port: u16) -> Result<ProtocolRequest, String> {
        if let Some(p) = self
            .configured
            .iter()
            .find(|p| p.addr().port() == port && p.addr().ip().is_loopback())
        {
            return p
                .request_bytes()
                .map(|r| (p.kind().to_string(), r))
                .ok_or_else(|| {
                    format!(
                        "the {} probe configured for port {port} has no request",
                        p.kind()
                    )
                });
        }
        let known = self.asked.lock().unwrap().get(&port).cloned();
        let known = match known {
            Some(k) => k,
            None => {
                let line = LineProtocol::default();
                let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
                let g = guess(addr, &line, ASK_LIMIT).await;
                let l = Listener {
                    ip: "127.0.0.1".into(),
                    port,
                    owner: String::new(),
                    owner_name: None,
                    application: None,
                    reach: Some(addr),
                    protocol: Some(g.into()),
                };
                let k = l
                    .probe(&line)
                    .and_then(|p| p.request_bytes().map(|r| (p.kind().to_string(), r)));
                self.asked.lock().unwrap().insert(port, k.clone());
                k
            }
        };
        known.ok_or_else(|| {
            format!("the listener on port {port} speaks no protocol known here (asked with a line request and HTTP)")
        })
    }
}
