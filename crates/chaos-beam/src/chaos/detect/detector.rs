//! The detectors: each sample of the steady state compared with the
//! baseline and the thresholds, differences turned into problems.

use super::*;

impl Detector {
    /// Detectors over a baseline.
    pub fn new(settings: DetectSettings, baseline: Baseline) -> Self {
        Self {
            settings,
            baseline,
            history: Vec::new(),
            started: None,
        }
    }

    /// The baseline's named tables (checked every sample).
    pub(super) fn tables(&self) -> Vec<String> {
        self.baseline.tables.clone()
    }

    /// The baseline's name owners (checked for life every sample).
    pub(super) fn owners(&self) -> Vec<String> {
        self.baseline
            .names
            .values()
            .map(|(pid, _)| pid.clone())
            .collect()
    }

    /// Problems in one steady-state sample.
    pub(super) fn check(&mut self, s: &Steady) -> Vec<Problem> {
        let now = Instant::now();
        self.started.get_or_insert(now);
        let mut out = Vec::new();
        let b = &self.baseline;
        // Applications that stopped.
        for app in b.apps.iter().filter(|a| !s.applications.contains(a)) {
            out.push(problem(
                FailureKind::SupervisorCollapse,
                app.clone(),
                format!("application {app} was running at the start and is not running now (its top supervisor gave up)"),
                true,
            ));
        }
        // Static supervisors with fewer children than at the start.
        let now_sups: BTreeMap<&str, &SupState> =
            s.supervisors.iter().map(|x| (x.key.as_str(), x)).collect();
        for (key, base_active) in &b.supervisors {
            match now_sups.get(key.as_str()) {
                Some(sup) if sup.answered && sup.active < *base_active => out.push(problem(
                    FailureKind::ProcessCrash,
                    key.clone(),
                    format!(
                        "supervisor {} ({}) has {} active children, {} at the start; {}",
                        sup.name.clone().unwrap_or_else(|| sup.pid.clone()),
                        key,
                        sup.active,
                        base_active,
                        if sup.missing.is_empty() {
                            "a temporary child that died was not replaced".to_string()
                        } else {
                            format!("not running: {}", sup.missing.join(", "))
                        }
                    ),
                    false,
                )),
                Some(_) => {}
                None if s
                    .applications
                    .contains(&key.split('/').next().unwrap_or("").to_string()) =>
                {
                    out.push(problem(
                        FailureKind::SupervisorCollapse,
                        key.clone(),
                        format!("supervisor {key} is gone from its application's tree"),
                        false,
                    ))
                }
                None => {}
            }
        }
        // Registered names of the applications.
        let names: BTreeMap<&str, &NameState> =
            s.names.iter().map(|n| (n.name.as_str(), n)).collect();
        for (name, (old_pid, app)) in &b.names {
            if !s.applications.contains(app) {
                continue;
            }
            match names.get(name.as_str()) {
                None => {
                    let owner_gone = !s.alive_owners.contains(old_pid);
                    if owner_gone {
                        out.push(problem(
                            FailureKind::ProcessCrash,
                            format!("name {name}"),
                            format!("registered process {name} ({old_pid} at the start) died and nothing registered the name again"),
                            false,
                        ));
                    } else {
                        out.push(problem(
                            FailureKind::RegistryCorruption,
                            format!("name {name}"),
                            format!(
                                "the name {name} is missing while its owner {old_pid} still runs"
                            ),
                            false,
                        ));
                    }
                }
                Some(n) if n.app.as_deref() != Some(app) => out.push(problem(
                    FailureKind::RegistryCorruption,
                    format!("name {name}"),
                    format!(
                        "the name {name} points at {} which is not a process of {app}",
                        n.pid
                    ),
                    false,
                )),
                Some(_) => {}
            }
        }
        // Application tables that vanished.
        for t in &s.vanished_tables {
            out.push(problem(
                FailureKind::EtsCorruption,
                format!("table {t}"),
                format!("the application table {t} vanished"),
                false,
            ));
        }
        // Mailboxes over the threshold.
        for q in &s.queues {
            let who = q.name.clone().unwrap_or_else(|| q.pid.clone());
            out.push(problem(
                FailureKind::MailboxOverflow,
                who.clone(),
                format!(
                    "{who} ({}, application {}) has {} messages queued (threshold {})",
                    q.pid,
                    q.app.clone().unwrap_or_else(|| "none".into()),
                    q.len,
                    self.settings.mailbox_threshold
                ),
                false,
            ));
        }
        // Memory.
        if let Some(total) = b.machine_memory {
            let limit = (total as f64 * self.settings.memory_threshold) as u64;
            if s.memory_bytes > limit {
                out.push(problem(
                    FailureKind::MemoryExhaustion,
                    "node memory",
                    format!(
                        "node memory {} bytes is over {:.1}% of the machine's {} bytes",
                        s.memory_bytes,
                        self.settings.memory_threshold * 100.0,
                        total
                    ),
                    true,
                ));
            }
        }
        // Limits: over the threshold, or growing to reach the limit within the horizon.
        let counts: BTreeMap<&'static str, u64> = [
            ("processes", s.processes),
            ("ports", s.ports),
            ("atoms", s.atoms),
            ("ets_tables", s.ets_tables),
        ]
        .into();
        self.history.push((now, counts));
        let limits = [
            (
                "processes",
                s.processes,
                s.process_limit,
                FailureKind::ProcessExhaustion,
            ),
            ("ports", s.ports, s.port_limit, FailureKind::PortExhaustion),
            ("atoms", s.atoms, s.atom_limit, FailureKind::AtomExhaustion),
            (
                "ets_tables",
                s.ets_tables,
                s.ets_limit,
                FailureKind::EtsExhaustion,
            ),
        ];
        for (what, count, limit, kind) in limits {
            if limit == 0 {
                continue;
            }
            let share = count as f64 / limit as f64;
            if share >= self.settings.limit_threshold {
                out.push(problem(
                    kind,
                    what,
                    format!(
                        "{what}: {count} of {limit} ({:.1}%, threshold {:.0}%)",
                        share * 100.0,
                        self.settings.limit_threshold * 100.0
                    ),
                    true,
                ));
            } else if let Some(rate) = self.growth(what) {
                let horizon = self.settings.horizon.as_secs_f64();
                let elapsed = now
                    .duration_since(self.started.unwrap_or(now))
                    .as_secs_f64();
                let left = (horizon - elapsed).max(0.0);
                // A steady climb, at least 10 % of the limit, that reaches it before the run ends.
                if rate > 0.0
                    && count as f64 + rate * left >= limit as f64
                    && rate * elapsed >= 0.1 * limit as f64
                {
                    out.push(problem(
                        kind,
                        what,
                        format!("{what}: {count} of {limit}, growing {rate:.0}/s: reaches the limit within {left:.0} s"),
                        false,
                    ));
                }
            }
        }
        // Leaks: counts far above the baseline.
        for (what, now_count, base, kind) in [
            (
                "processes",
                s.processes,
                b.processes,
                FailureKind::ProcessLeak,
            ),
            (
                "ets_tables",
                s.ets_tables,
                b.ets_tables,
                FailureKind::EtsLeak,
            ),
        ] {
            if now_count > base + self.settings.leak_threshold {
                out.push(problem(
                    kind,
                    what,
                    format!(
                        "{what}: {now_count}, {} more than the {base} at the start",
                        now_count - base
                    ),
                    false,
                ));
            }
        }
        out
    }

    /// Per-second growth of a count over the last samples (least squares), when it grew steadily.
    fn growth(&self, what: &str) -> Option<f64> {
        let pts: Vec<(f64, f64)> = self
            .history
            .iter()
            .rev()
            .take(10)
            .filter_map(|(t, c)| {
                c.get(what)
                    .map(|v| (t.duration_since(self.history[0].0).as_secs_f64(), *v as f64))
            })
            .collect();
        if pts.len() < 5 {
            return None;
        }
        // Every step up or flat: a steady climb, not a burst.
        let mut sorted = pts.clone();
        sorted.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        if sorted.windows(2).any(|w| w[1].1 < w[0].1) {
            return None;
        }
        let n = sorted.len() as f64;
        let (sx, sy) = sorted
            .iter()
            .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
        let (mx, my) = (sx / n, sy / n);
        let (num, den) = sorted.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
            (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
        });
        (den > 0.0).then(|| num / den)
    }
}
