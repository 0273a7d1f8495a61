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

use crate::record::RecordedRun;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a write waits for another process's write before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

mod read;
mod schema;

pub use schema::{schema_version, MIGRATIONS};

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

/// Switch the file to WAL (a no-op once it is), retrying while another
/// connection holds a lock, for at most `busy`. SQLite answers "busy" to
/// this switch at once, without its busy handler, when another connection
/// is between reading and writing the same fresh file (two writers opening
/// a new history at the same moment: `tests/store.rs` caught it).
fn wal_mode(conn: &Connection, busy: Duration) -> Result<String, rusqlite::Error> {
    let deadline = std::time::Instant::now() + busy;
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)) {
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
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
        let mode = wal_mode(&conn, busy).map_err(err)?;
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
