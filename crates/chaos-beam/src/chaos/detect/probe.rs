//! User-configured probes (`--probe URL`, `--probe-tcp`, `--probe-erlang`,
//! `[[probes]]`): parsing, running one. A service probe speaks its
//! protocol through `chaos_probe` (line, bare TCP, HTTP, AMQP).

use super::*;

/// A user-configured probe.
#[derive(Debug, Clone)]
pub enum Probe {
    /// Send a line, expect an answer matching a regex, within an objective.
    Tcp {
        /// Where.
        addr: SocketAddr,
        /// The line to send (a newline is added).
        send: String,
        /// What the first answer line must match.
        expect: regex::Regex,
        /// Latency objective.
        objective: Duration,
    },
    /// A service's liveness request in its own protocol (`--probe URL`),
    /// answered within an objective.
    Service {
        /// The client.
        probe: std::sync::Arc<dyn chaos_probe::Probe>,
        /// Latency objective.
        objective: Duration,
    },
    /// An Erlang expression that must return `true` (an application invariant).
    Erlang {
        /// The expression.
        expr: String,
    },
}

impl Probe {
    /// Parse `ADDR|SEND|EXPECT_REGEX[|OBJECTIVE]`.
    pub fn parse_tcp(s: &str) -> Result<Probe, String> {
        let parts: Vec<&str> = s.split('|').collect();
        if !(3..=4).contains(&parts.len()) {
            return Err(format!("'{s}' is not ADDR|SEND|EXPECT_REGEX[|OBJECTIVE], e.g. 127.0.0.1:4000|PING|^PONG$|200ms"));
        }
        let addr: SocketAddr = parts[0]
            .parse()
            .map_err(|_| format!("'{}' is not IP:PORT", parts[0]))?;
        if !addr.ip().is_loopback() {
            return Err(format!(
                "{addr} is not a loopback address; probes only go to 127.0.0.0/8 and ::1"
            ));
        }
        let expect =
            regex::Regex::new(parts[2]).map_err(|e| format!("bad regex '{}': {e}", parts[2]))?;
        let objective = match parts.get(3) {
            Some(o) => chaos_engine::duration::checked_humantime(o)
                .map_err(|e| format!("bad objective '{o}': {e}"))?,
            None => Duration::from_secs(1),
        };
        if objective.is_zero() {
            return Err("the objective must be greater than zero".into());
        }
        Ok(Probe::Tcp {
            addr,
            send: parts[1].to_string(),
            expect,
            objective,
        })
    }

    pub(super) fn label(&self) -> String {
        match self {
            Probe::Tcp { addr, send, .. } => format!("tcp {addr} {send:?}"),
            Probe::Service { probe, .. } => probe.describe(),
            Probe::Erlang { expr } => format!("erlang {expr:?}"),
        }
    }
}

/// A probe's finding, and for a TCP probe that got an answer, how long it took.
pub(super) async fn run_probe(
    target: &BeamTarget,
    probe: &Probe,
) -> (Option<Problem>, Option<Duration>) {
    match probe {
        Probe::Erlang { expr } => {
            let r = eval_with_timeout(&target.client, expr, &[], Duration::from_secs(5)).await;
            let found = match r {
                Ok(t) if to_json(&t) == Value::Bool(true) => None,
                Ok(t) => Some(problem(
                    FailureKind::EtsCorruption,
                    probe.label(),
                    format!("invariant {expr} returned {}", crate::dist::term::show(&t)),
                    false,
                )),
                Err(e) if e.is_disconnect() => None,
                Err(e) => Some(problem(
                    FailureKind::EtsCorruption,
                    probe.label(),
                    format!("invariant {expr} raised: {e}"),
                    false,
                )),
            };
            (found, None)
        }
        Probe::Service {
            probe: client,
            objective,
        } => {
            if proxied_fault(target, client.addr()) {
                return (None, None);
            }
            let limit = ask_limit(*objective);
            let t0 = Instant::now();
            let answer = client.ask(limit).await;
            let took = t0.elapsed();
            let found = match &answer {
                chaos_probe::Answer::Ok(_) if took > *objective => {
                    Some(slow(probe, took, *objective))
                }
                chaos_probe::Answer::Ok(_) => None,
                chaos_probe::Answer::Failed(w) if w == "timeout" => {
                    Some(no_answer(probe, limit, *objective))
                }
                chaos_probe::Answer::Refused(w) => Some(problem(
                    FailureKind::ProbeFailure,
                    probe.label(),
                    format!("refused: {w}"),
                    false,
                )),
                chaos_probe::Answer::Failed(w) => Some(problem(
                    FailureKind::ProbeFailure,
                    probe.label(),
                    format!("failed: {w}"),
                    false,
                )),
            };
            (found, answer.is_ok().then_some(took))
        }
        Probe::Tcp {
            addr,
            send,
            expect,
            objective,
        } => {
            if proxied_fault(target, *addr) {
                return (None, None);
            }
            let limit = ask_limit(*objective);
            let t0 = Instant::now();
            let answer = crate::line::ask_once(*addr, send, limit).await;
            let took = t0.elapsed();
            let answered = answer.is_ok().then_some(took);
            let found = match answer {
                Ok(line) if !expect.is_match(&line) => Some(problem(
                    FailureKind::ProbeFailure,
                    probe.label(),
                    format!(
                        "answered {line:?}, which does not match {}",
                        expect.as_str()
                    ),
                    false,
                )),
                Ok(_) if took > *objective => Some(slow(probe, took, *objective)),
                Ok(_) => None,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    Some(no_answer(probe, limit, *objective))
                }
                Err(e) => Some(problem(
                    FailureKind::ProbeFailure,
                    probe.label(),
                    format!("failed: {e}"),
                    false,
                )),
            };
            (found, answered)
        }
    }
}

/// A probe through a proxy that has a fault on now sees the fault, not the system.
fn proxied_fault(target: &BeamTarget, addr: SocketAddr) -> bool {
    target
        .proxies
        .iter()
        .any(|p| p.listen_addr() == addr && !p.active_faults().is_empty())
}

/// How long a probe with `objective` waits for its answer.
fn ask_limit(objective: Duration) -> Duration {
    (objective * 4).max(Duration::from_secs(2))
}

/// A probe answered, but slower than its objective.
fn slow(probe: &Probe, took: Duration, objective: Duration) -> Problem {
    problem(
        FailureKind::TimingAnomaly,
        probe.label(),
        format!(
            "answered in {} ms, objective {} ms",
            took.as_millis(),
            objective.as_millis()
        ),
        false,
    )
}

/// A probe got no answer within `limit`.
fn no_answer(probe: &Probe, limit: Duration, objective: Duration) -> Problem {
    problem(
        FailureKind::TimingAnomaly,
        probe.label(),
        format!(
            "no answer within {} ms (objective {} ms)",
            limit.as_millis(),
            objective.as_millis()
        ),
        false,
    )
}
