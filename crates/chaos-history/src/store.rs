//! The history file: SQLite, one row per run in `runs` and its details in
//! four child tables.
//!
//! # Versions
//!
//! The schema's version is SQLite's `PRAGMA user_version`; [`MIGRATIONS`]
//! takes a file from any older version to the newest, in one transaction.
//! A file written by a newer chaos-monkey (a version this one does not know)
//! is refused, never rewritten.
//!
//! # Two runs at once
//!
//! The file is in WAL mode and every write is one `BEGIN IMMEDIATE`
//! transaction: a second writer waits for the first (up to
//! [`BUSY_TIMEOUT`]) instead of failing, and readers never wait.

use crate::record::{
    CompactTimeline, FailureSighting, OpSequence, OutcomeCounts, RecordedRun, RecoveryFigures,
    ResourceFigures, RunEnd, TargetIdentity,
};
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a write waits for another process's write before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Schema migrations: entry `i` takes version `i` to `i + 1`.
pub const MIGRATIONS: &[&str] = &[
    // 1: runs and their details.
    "CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        started_at_ms INTEGER NOT NULL,
        node TEXT NOT NULL,
        otp_release TEXT,
        applications TEXT NOT NULL,
        seed TEXT NOT NULL,
        settings TEXT NOT NULL,
        run_end TEXT NOT NULL,
        verdict TEXT NOT NULL,
        survived INTEGER NOT NULL,
        survival_rate REAL NOT NULL,
        planned_duration_s REAL NOT NULL,
        duration_s REAL NOT NULL,
        ops_per_sec REAL NOT NULL,
        total_ops INTEGER NOT NULL,
        confirmed INTEGER NOT NULL,
        unconfirmed INTEGER NOT NULL,
        skipped INTEGER NOT NULL,
        failed INTEGER NOT NULL,
        kills INTEGER NOT NULL,
        timeline TEXT NOT NULL,
        op_sequence BLOB NOT NULL
    );
    CREATE INDEX runs_by_node ON runs (node, id);
    CREATE TABLE outcomes (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        scope TEXT NOT NULL, name TEXT NOT NULL,
        ops INTEGER NOT NULL, confirmed INTEGER NOT NULL, unconfirmed INTEGER NOT NULL,
        skipped INTEGER NOT NULL, failed INTEGER NOT NULL
    );
    CREATE INDEX outcomes_by_run ON outcomes (run_id);
    CREATE TABLE failure_modes (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        kind TEXT NOT NULL, subject TEXT NOT NULL,
        first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL, recovered INTEGER NOT NULL
    );
    CREATE INDEX failure_modes_by_run ON failure_modes (run_id);
    CREATE TABLE recovery (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        grouped_by TEXT NOT NULL, key TEXT NOT NULL,
        kills INTEGER NOT NULL, recovered INTEGER NOT NULL,
        p50_ms INTEGER NOT NULL, p95_ms INTEGER NOT NULL, max_ms INTEGER NOT NULL
    );
    CREATE INDEX recovery_by_run ON recovery (run_id);
    CREATE TABLE resources (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        name TEXT NOT NULL, start INTEGER NOT NULL, peak INTEGER NOT NULL, end_value INTEGER NOT NULL
    );
    CREATE INDEX resources_by_run ON resources (run_id);",
];

/// The schema version this build writes.
pub fn schema_version() -> i64 {
    MIGRATIONS.len() as i64
}

/// Why the history file cannot be used; always names the file.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// Not a SQLite file, or a damaged one.
    #[error("history database {0}: the file is corrupted or not a chaos-monkey history database (move it away to start a new history)")]
    Corrupted(PathBuf),
    /// Written by a newer chaos-monkey.
    #[error("history database {path}: schema version {found} is newer than this chaos-monkey knows ({known}); use a newer chaos-monkey or another --history file")]
    NewerSchema {
        /// The file.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// Ours.
        known: i64,
    },
    /// Another process held it longer than [`BUSY_TIMEOUT`].
    #[error("history database {0}: locked by another process for longer than a write waits (up to {t} s)", t = BUSY_TIMEOUT.as_secs())]
    Locked(PathBuf),
    /// No write permission.
    #[error("history database {0}: read-only (no permission to write the file or its directory)")]
    ReadOnly(PathBuf),
    /// No such run.
    #[error("history database {path}: no run {what}")]
    NoSuchRun {
        /// The file.
        path: PathBuf,
        /// What was asked for.
        what: String,
    },
    /// Anything else SQLite or the file system said.
    #[error("history database {path}: {message}")]
    Other {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl HistoryError {
    fn from_sqlite(path: &Path, e: rusqlite::Error) -> Self {
        let path = path.to_path_buf();
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
                HistoryError::Corrupted(path)
            }
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => HistoryError::Locked(path),
            Some(ErrorCode::ReadOnly) => HistoryError::ReadOnly(path),
            Some(ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => HistoryError::Other {
                message: format!("cannot open the file ({e})"),
                path,
            },
            _ => HistoryError::Other {
                message: e.to_string(),
                path,
            },
        }
    }
}

/// The history file, open.
pub struct HistoryStore {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for HistoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryStore")
            .field("path", &self.path)
            .finish()
    }
}

impl HistoryStore {
    /// Open (creating it and its folder when missing) and migrate `path`.
    pub fn open(path: &Path) -> Result<Self, HistoryError> {
        Self::open_waiting(path, BUSY_TIMEOUT)
    }

    /// [`HistoryStore::open`], a write waiting at most `busy` for another's.
    pub fn open_waiting(path: &Path, busy: Duration) -> Result<Self, HistoryError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| HistoryError::Other {
                path: path.to_path_buf(),
                message: format!("cannot create its folder {}: {e}", dir.display()),
            })?;
        }
        let err = |e| HistoryError::from_sqlite(path, e);
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(err)?;
        conn.busy_timeout(busy).map_err(err)?;
        // Reading the header is what finds a file that is not a database.
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(err)?;
        if version > schema_version() {
            return Err(HistoryError::NewerSchema {
                path: path.to_path_buf(),
                found: version,
                known: schema_version(),
            });
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(err)?;
        if !mode.eq_ignore_ascii_case("wal") && conn.is_readonly("main").unwrap_or(false) {
            return Err(HistoryError::ReadOnly(path.to_path_buf()));
        }
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
            .map_err(err)?;
        let mut store = HistoryStore {
            conn,
            path: path.to_path_buf(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> HistoryError {
        HistoryError::from_sqlite(&self.path, e)
    }

    /// The file's schema version.
    pub fn version(&self) -> Result<i64, HistoryError> {
        self.conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))
    }

    fn migrate(&mut self) -> Result<(), HistoryError> {
        if self.version()? == schema_version() {
            return Ok(());
        }
        let path = self.path.clone();
        let err = |e| HistoryError::from_sqlite(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        // Read again under the write lock: another process may have migrated meanwhile.
        let mut v: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(err)?;
        if v > schema_version() {
            return Err(HistoryError::NewerSchema {
                path: path.clone(),
                found: v,
                known: schema_version(),
            });
        }
        while v < schema_version() {
            tx.execute_batch(MIGRATIONS[v as usize]).map_err(err)?;
            v += 1;
            tx.execute_batch(&format!("PRAGMA user_version = {v}"))
                .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// Store `run`; its new id.
    pub fn record(&mut self, run: &RecordedRun) -> Result<i64, HistoryError> {
        let path = self.path.clone();
        let err = |e| HistoryError::from_sqlite(&path, e);
        let json = |v: &dyn erased::Ser| v.json();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        tx.execute(
            "INSERT INTO runs (kind, started_at_ms, node, otp_release, applications, seed, settings,
                run_end, verdict, survived, survival_rate, planned_duration_s, duration_s, ops_per_sec,
                total_ops, confirmed, unconfirmed, skipped, failed, kills, timeline, op_sequence)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)",
            params![
                run.kind,
                run.started_at_ms,
                run.target.node,
                run.target.otp_release,
                json(&run.target.applications),
                run.seed.to_string(),
                json(&run.settings),
                run.end.name(),
                run.verdict,
                run.survived,
                run.survival_rate,
                run.planned_duration_s,
                run.duration_s,
                run.ops_per_sec,
                run.total_ops as i64,
                run.confirmed as i64,
                run.unconfirmed as i64,
                run.skipped as i64,
                run.failed as i64,
                run.kills as i64,
                json(&run.timeline),
                run.op_sequence.to_blob(),
            ],
        )
        .map_err(err)?;
        let id = tx.last_insert_rowid();
        {
            let mut st = tx
                .prepare_cached("INSERT INTO outcomes VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
                .map_err(err)?;
            for o in &run.outcomes {
                st.execute(params![
                    id,
                    o.scope,
                    o.name,
                    o.ops as i64,
                    o.confirmed as i64,
                    o.unconfirmed as i64,
                    o.skipped as i64,
                    o.failed as i64
                ])
                .map_err(err)?;
            }
            let mut st = tx
                .prepare_cached("INSERT INTO failure_modes VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .map_err(err)?;
            for f in &run.failure_modes {
                st.execute(params![
                    id,
                    f.kind,
                    f.subject,
                    f.first_seen_ms as i64,
                    f.last_seen_ms as i64,
                    f.recovered
                ])
                .map_err(err)?;
            }
            let mut st = tx
                .prepare_cached("INSERT INTO recovery VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")
                .map_err(err)?;
            for r in &run.recovery {
                st.execute(params![
                    id,
                    r.by,
                    r.key,
                    r.kills as i64,
                    r.recovered as i64,
                    r.p50_ms as i64,
                    r.p95_ms as i64,
                    r.max_ms as i64
                ])
                .map_err(err)?;
            }
            let mut st = tx
                .prepare_cached("INSERT INTO resources VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(err)?;
            for (name, t) in &run.resources {
                st.execute(params![
                    id,
                    name,
                    t.start as i64,
                    t.peak as i64,
                    t.end as i64
                ])
                .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(id)
    }

    /// The id `spec` names: a number, `last` (the newest run) or `previous`
    /// (the one before it) — of `node` when given, else of any target.
    pub fn resolve(&self, spec: &str, node: Option<&str>) -> Result<i64, HistoryError> {
        let no_such = |what: String| HistoryError::NoSuchRun {
            path: self.path.clone(),
            what,
        };
        let offset = match spec {
            "last" | "latest" => 0,
            "previous" | "prev" => 1,
            _ => {
                let id: i64 = spec.trim_start_matches('#').parse().map_err(|_| {
                    no_such(format!(
                        "'{spec}': name a run by its id (see `chaos-monkey history`), `last` or `previous`"
                    ))
                })?;
                let found: Option<i64> = self
                    .conn
                    .query_row("SELECT id FROM runs WHERE id = ?1", [id], |r| r.get(0))
                    .optional()
                    .map_err(|e| self.err(e))?;
                return found.ok_or_else(|| no_such(format!("with id {id}")));
            }
        };
        let found: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM runs WHERE (?1 IS NULL OR node = ?1) ORDER BY id DESC LIMIT 1 OFFSET ?2",
                params![node, offset],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        found.ok_or_else(|| {
            no_such(format!(
                "'{spec}'{}",
                node.map(|n| format!(" against {n}")).unwrap_or_default()
            ))
        })
    }

    /// Run `id`, whole.
    pub fn get(&self, id: i64) -> Result<RecordedRun, HistoryError> {
        self.load("WHERE id = ?1", [id], true)?
            .pop()
            .ok_or_else(|| HistoryError::NoSuchRun {
                path: self.path.clone(),
                what: format!("with id {id}"),
            })
    }

    /// The newest `last` runs (of `node` when given), oldest first, without
    /// their timelines and operation sequences.
    pub fn list(&self, node: Option<&str>, last: usize) -> Result<Vec<RecordedRun>, HistoryError> {
        let oldest: Option<i64> = self
            .conn
            .query_row(
                "SELECT min(id) FROM (SELECT id FROM runs WHERE (?1 IS NULL OR node = ?1)
                 ORDER BY id DESC LIMIT ?2)",
                params![node, last.min(i64::MAX as usize) as i64],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        let Some(oldest) = oldest else {
            return Ok(Vec::new());
        };
        self.load(
            "WHERE (?1 IS NULL OR node = ?1) AND id >= ?2",
            params![node, oldest],
            false,
        )
    }

    /// The runs `clause` (with `args`) selects, oldest first; `bulk`: with
    /// their timelines and operation sequences.
    fn load(
        &self,
        clause: &str,
        args: impl rusqlite::Params,
        bulk: bool,
    ) -> Result<Vec<RecordedRun>, HistoryError> {
        let e = |e| self.err(e);
        let mut st = self
            .conn
            .prepare(&format!(
                "SELECT id, kind, started_at_ms, node, otp_release, applications, seed, settings,
                    run_end, verdict, survived, survival_rate, planned_duration_s, duration_s,
                    ops_per_sec, total_ops, confirmed, unconfirmed, skipped, failed, kills,
                    {} FROM runs {clause} ORDER BY id",
                if bulk {
                    "timeline, op_sequence"
                } else {
                    "'null', x''"
                }
            ))
            .map_err(e)?;
        let mut runs = st
            .query_map(args, |r| {
                let apps: String = r.get(5)?;
                let seed: String = r.get(6)?;
                let settings: String = r.get(7)?;
                let end: String = r.get(8)?;
                let timeline: String = r.get(21)?;
                let seq: Vec<u8> = r.get(22)?;
                Ok(RecordedRun {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    started_at_ms: r.get(2)?,
                    target: TargetIdentity {
                        node: r.get(3)?,
                        otp_release: r.get(4)?,
                        applications: serde_json::from_str(&apps).unwrap_or_default(),
                    },
                    seed: seed.parse().unwrap_or(0),
                    settings: serde_json::from_str(&settings).unwrap_or_default(),
                    end: RunEnd::from_name(&end),
                    verdict: r.get(9)?,
                    survived: r.get(10)?,
                    survival_rate: r.get(11)?,
                    planned_duration_s: r.get(12)?,
                    duration_s: r.get(13)?,
                    ops_per_sec: r.get(14)?,
                    total_ops: r.get::<_, i64>(15)? as u64,
                    confirmed: r.get::<_, i64>(16)? as u64,
                    unconfirmed: r.get::<_, i64>(17)? as u64,
                    skipped: r.get::<_, i64>(18)? as u64,
                    failed: r.get::<_, i64>(19)? as u64,
                    kills: r.get::<_, i64>(20)? as u64,
                    outcomes: Vec::new(),
                    failure_modes: Vec::new(),
                    recovery: Vec::new(),
                    resources: Default::default(),
                    timeline: serde_json::from_str::<Option<CompactTimeline>>(&timeline)
                        .ok()
                        .flatten()
                        .unwrap_or_default(),
                    op_sequence: OpSequence::from_blob(&seq),
                })
            })
            .map_err(e)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(e)?;
        for run in &mut runs {
            self.details(run)?;
        }
        Ok(runs)
    }

    fn details(&self, run: &mut RecordedRun) -> Result<(), HistoryError> {
        let e = |e| self.err(e);
        let id = run.id;
        let mut st = self
            .conn
            .prepare_cached("SELECT scope, name, ops, confirmed, unconfirmed, skipped, failed FROM outcomes WHERE run_id = ?1")
            .map_err(e)?;
        run.outcomes = st
            .query_map([id], |r| {
                Ok(OutcomeCounts {
                    scope: r.get(0)?,
                    name: r.get(1)?,
                    ops: r.get::<_, i64>(2)? as u64,
                    confirmed: r.get::<_, i64>(3)? as u64,
                    unconfirmed: r.get::<_, i64>(4)? as u64,
                    skipped: r.get::<_, i64>(5)? as u64,
                    failed: r.get::<_, i64>(6)? as u64,
                })
            })
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;
        let mut st = self
            .conn
            .prepare_cached("SELECT kind, subject, first_seen_ms, last_seen_ms, recovered FROM failure_modes WHERE run_id = ?1")
            .map_err(e)?;
        run.failure_modes = st
            .query_map([id], |r| {
                Ok(FailureSighting {
                    kind: r.get(0)?,
                    subject: r.get(1)?,
                    first_seen_ms: r.get::<_, i64>(2)? as u64,
                    last_seen_ms: r.get::<_, i64>(3)? as u64,
                    recovered: r.get(4)?,
                })
            })
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;
        let mut st = self
            .conn
            .prepare_cached("SELECT grouped_by, key, kills, recovered, p50_ms, p95_ms, max_ms FROM recovery WHERE run_id = ?1")
            .map_err(e)?;
        run.recovery = st
            .query_map([id], |r| {
                Ok(RecoveryFigures {
                    by: r.get(0)?,
                    key: r.get(1)?,
                    kills: r.get::<_, i64>(2)? as u64,
                    recovered: r.get::<_, i64>(3)? as u64,
                    p50_ms: r.get::<_, i64>(4)? as u64,
                    p95_ms: r.get::<_, i64>(5)? as u64,
                    max_ms: r.get::<_, i64>(6)? as u64,
                })
            })
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;
        let mut st = self
            .conn
            .prepare_cached("SELECT name, start, peak, end_value FROM resources WHERE run_id = ?1")
            .map_err(e)?;
        run.resources = st
            .query_map([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    ResourceFigures {
                        start: r.get::<_, i64>(1)? as u64,
                        peak: r.get::<_, i64>(2)? as u64,
                        end: r.get::<_, i64>(3)? as u64,
                    },
                ))
            })
            .map_err(e)?
            .collect::<Result<_, _>>()
            .map_err(e)?;
        Ok(())
    }

    /// Every run of `node`, oldest first, without timelines and sequences (for trends).
    pub fn runs_of(&self, node: &str) -> Result<Vec<RecordedRun>, HistoryError> {
        self.load("WHERE node = ?1", [node], false)
    }
}

/// JSON text of anything serialisable (columns holding JSON).
mod erased {
    pub trait Ser {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Ser for T {
        fn json(&self) -> String {
            serde_json::to_string(self).expect("serialisable")
        }
    }
}
