//! A candidate: one process chaos may touch, as the victim list
//! (`snippets/candidates.erl`) describes it, and what owner-seeking
//! operations send the node of a list of them.

use super::*;
use std::collections::BTreeMap;

/// A process chaos may touch.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Its pid.
    pub pid: Pid,
    /// Pid text.
    pub pid_text: String,
    /// Owning application.
    pub app: Option<String>,
    /// Registered name.
    pub name: Option<String>,
    /// `'$initial_call'` (or `initial_call`) as `M:F/A`.
    pub initial_call: String,
    /// Supervisor (or bridge), not a plain worker.
    pub supervisor: bool,
    /// Started by `proc_lib`, so it answers system messages.
    pub otp: bool,
    /// Traps exits.
    pub trap_exit: bool,
    /// Owned a port (a socket, a listener) when the list was made.
    pub owns_ports: bool,
    /// Owned an ETS table when the list was made.
    pub owns_tables: bool,
}

/// Up to this many candidates, an operation that looks for what they own
/// (sockets, tables) sends the node all of them; past it, only those that
/// owned some when the list was made (one that opened a socket since waits
/// for the next refresh). At 10^6 processes, sending all 10,000 pids with
/// every such operation held about 1 MB of the monkey's memory per
/// operation in flight (187 MiB at 1,000 ops/s) and a decode on the node.
pub(super) const SEND_ALL_UP_TO: usize = 2_000;

/// The pids of `all` an owner-seeking operation sends: every one on a
/// small list, else those `owns` says own something.
pub(super) fn owner_pids<'a>(
    all: impl IntoIterator<Item = &'a Candidate>,
    owns: impl Fn(&Candidate) -> bool,
) -> Term {
    let all: Vec<&Candidate> = all.into_iter().collect();
    let small = all.len() <= SEND_ALL_UP_TO;
    list(
        all.into_iter()
            .filter(|c| small || owns(c))
            .map(|c| Term::from(c.pid.clone()))
            .collect(),
    )
}

impl Candidate {
    /// As the engine reports it.
    pub fn victim(&self) -> Victim {
        let mut attrs = BTreeMap::from([
            ("pid".to_string(), self.pid_text.clone()),
            (
                "initial_call".to_string(),
                crate::elixir::readable(&self.initial_call).into_owned(),
            ),
        ]);
        if let Some(name) = &self.name {
            attrs.insert("registered_name".to_string(), name.clone());
        }
        if let Some(app) = &self.app {
            attrs.insert("application".to_string(), app.clone());
        }
        Victim {
            id: self.pid_text.clone(),
            label: self
                .name
                .as_deref()
                .map(|n| crate::elixir::readable(n).into_owned()),
            group: self.app.clone(),
            node: None,
            attrs,
        }
    }
}

pub(super) fn parse_candidate(t: &Term) -> Option<Candidate> {
    let [pid, app, name, init, kind, otp, trap, pid_text, ports, tables] = t.as_tuple()? else {
        return None;
    };
    let pid = pid.as_pid()?.clone();
    let opt = |t: &Term| match t.as_atom() {
        Some("null") => None,
        _ => t.as_text(),
    };
    Some(Candidate {
        pid_text: pid_text.as_text()?,
        pid,
        app: opt(app),
        name: opt(name),
        initial_call: init.as_text().unwrap_or_default(),
        supervisor: kind.as_atom() == Some("supervisor"),
        otp: otp.as_bool().unwrap_or(false),
        trap_exit: trap.as_bool().unwrap_or(false),
        owns_ports: ports.as_bool().unwrap_or(false),
        owns_tables: tables.as_bool().unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(i: u32, owns_ports: bool) -> Candidate {
        Candidate {
            pid: Pid::new("n@h", i, 0, 0),
            pid_text: format!("<0.{i}.0>"),
            app: None,
            name: None,
            initial_call: String::new(),
            supervisor: false,
            otp: true,
            trap_exit: false,
            owns_ports,
            owns_tables: false,
        }
    }

    #[test]
    fn a_small_list_is_sent_whole_and_a_big_one_only_its_owners() {
        let small: Vec<Candidate> = (0..10).map(|i| candidate(i, i == 3)).collect();
        let sent = owner_pids(small.iter(), |c| c.owns_ports);
        assert_eq!(sent.as_list().unwrap().len(), 10);
        let big: Vec<Candidate> = (0..(SEND_ALL_UP_TO as u32 + 1))
            .map(|i| candidate(i, i % 1000 == 7))
            .collect();
        let sent = owner_pids(big.iter(), |c| c.owns_ports);
        let sent = sent.as_list().unwrap();
        assert_eq!(sent.len(), 2, "{sent:?}"); // 7 and 1007
        assert!(sent.iter().all(|p| p.as_pid().unwrap().id % 1000 == 7));
    }
}
