//! The schema, as the migrations that build it: entry `i` takes a file from
//! version `i` to `i + 1` (SQLite's `PRAGMA user_version`). Add a version by
//! appending an entry; never edit one that shipped.

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
