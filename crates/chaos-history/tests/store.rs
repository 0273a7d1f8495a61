//! The history file against real SQLite files: migrations, damaged and
//! newer files, read-only files, two writers at once, and the size and
//! write time of long runs (`bench_*`, ignored: see BENCHMARKS.md).

use chaos_history::record::{
    CompactTimeline, FailureSighting, OutcomeCounts, RecoveryFigures, ResourceFigures,
};
use chaos_history::{compare, HistoryError, HistoryStore, OpSequence, RecordedRun, RunEnd};
use std::collections::BTreeMap;
use std::path::Path;

/// A run shaped like a real one: `seconds` long at 10 operations a second,
/// the report's 240-bucket timeline, 7 resources, 25 operations.
fn synthetic(node: &str, seconds: u64, seed: u64) -> RecordedRun {
    let ops: Vec<String> = (0..25).map(|i| format!("operation_{i}")).collect();
    let n = seconds * 10;
    let resources = [
        "processes",
        "memory",
        "binary",
        "ets",
        "ports",
        "atoms",
        "probe_ms",
    ];
    let buckets = 240usize;
    let mut timeline = CompactTimeline {
        bucket_ms: seconds * 1000 / buckets as u64,
        ..Default::default()
    };
    for b in 0..buckets as u64 {
        timeline.ops.push(n / buckets as u64 + b % 3);
        timeline.kills.push(b % 7);
        timeline.failed.push(b % 11 / 10);
        timeline.unhealthy.push(0);
        for r in resources {
            timeline
                .resources
                .entry(r.to_string())
                .or_default()
                .push(1_000_000 + b * 1_234 + seed);
        }
    }
    RecordedRun {
        id: 0,
        kind: "run".into(),
        started_at_ms: 1_796_281_808_000 + seed as i64,
        target: chaos_history::TargetIdentity {
            node: node.into(),
            otp_release: Some("25".into()),
            applications: [("chaos_demo".to_string(), "0.1.0".to_string())].into(),
        },
        seed,
        settings: serde_json::json!({ "argv": ["--duration", "1h", "--rate", "10"] }),
        end: RunEnd::Finished,
        verdict: "survived; no failure mode found".into(),
        survived: true,
        survival_rate: 1.0 - seed as f64 * 1e-4,
        planned_duration_s: seconds as f64,
        duration_s: seconds as f64,
        ops_per_sec: 10.0,
        total_ops: n,
        confirmed: n * 8 / 10,
        unconfirmed: n / 10,
        skipped: n / 10,
        failed: 0,
        kills: n / 5,
        outcomes: ops
            .iter()
            .map(|o| OutcomeCounts {
                scope: "operation".into(),
                name: o.clone(),
                ops: n / 25,
                confirmed: n / 30,
                ..Default::default()
            })
            .collect(),
        failure_modes: (0..10)
            .map(|i| FailureSighting {
                kind: "process_crash".into(),
                subject: format!("worker_{i} of chaos_demo_sup"),
                first_seen_ms: i * 1000,
                last_seen_ms: i * 2000,
                recovered: true,
            })
            .collect(),
        recovery: (0..6)
            .map(|i| RecoveryFigures {
                by: if i < 3 { "application" } else { "operation" }.into(),
                key: format!("app_{i}"),
                kills: 100,
                recovered: 100,
                p50_ms: 5 + i,
                p95_ms: 20 + i + seed,
                max_ms: 80,
            })
            .collect(),
        resources: resources
            .iter()
            .map(|r| {
                (
                    r.to_string(),
                    ResourceFigures {
                        start: 100,
                        peak: 900,
                        end: 110,
                    },
                )
            })
            .collect::<BTreeMap<_, _>>(),
        timeline,
        op_sequence: OpSequence::from_events(
            (0..n)
                .map(|i| (i, ops[(i * 7 % 25) as usize].clone()))
                .collect(),
        ),
    }
}

fn scratch() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn a_run_comes_back_as_it_was_stored() {
    let dir = scratch();
    let path = dir.path().join("sub/dir/history.db");
    let mut store = HistoryStore::open(&path).unwrap();
    assert_eq!(
        store.version().unwrap(),
        chaos_history::store::schema_version()
    );
    let run = synthetic("a@host", 60, 1);
    let id = store.record(&run).unwrap();
    let back = store.get(id).unwrap();
    assert_eq!(back, RecordedRun { id, ..run.clone() });
    let id2 = store.record(&synthetic("a@host", 60, 2)).unwrap();
    store.record(&synthetic("b@host", 60, 3)).unwrap();
    assert_eq!(store.resolve("last", Some("a@host")).unwrap(), id2);
    assert_eq!(store.resolve("previous", Some("a@host")).unwrap(), id);
    assert_eq!(store.resolve(&id.to_string(), None).unwrap(), id);
    let listed = store.list(Some("a@host"), 10).unwrap();
    assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), [id, id2]);
    assert!(
        listed[0].op_sequence.is_empty(),
        "a list leaves the bulk out"
    );
    assert_eq!(store.list(None, 1).unwrap().len(), 1);
    let e = store.resolve("99", None).unwrap_err().to_string();
    assert!(
        e.contains("history.db") && e.contains("no run with id 99"),
        "{e}"
    );
    let e = store.resolve("yesterday", None).unwrap_err().to_string();
    assert!(e.contains("`last` or `previous`"), "{e}");
    let c = compare(&store.get(id).unwrap(), &store.get(id2).unwrap());
    assert_eq!(c.same_operations, Some(true));
    assert_eq!(c.figure("recovery_p95").unwrap().a, Some(20.0 + 2.0 + 1.0));
}

#[test]
fn an_older_file_is_migrated_and_a_newer_one_refused() {
    let dir = scratch();
    let path = dir.path().join("h.db");
    // Version 0: an empty SQLite file someone created.
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE other (x)")
        .unwrap();
    let store = HistoryStore::open(&path).unwrap();
    assert_eq!(
        store.version().unwrap(),
        chaos_history::store::schema_version()
    );
    drop(store);
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    let e = HistoryStore::open(&path).unwrap_err();
    assert!(
        matches!(e, HistoryError::NewerSchema { found: 99, .. }),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains(&path.display().to_string()) && text.contains("newer"),
        "{text}"
    );
}

#[test]
fn a_corrupted_file_is_named_and_left_alone() {
    let dir = scratch();
    let path = dir.path().join("h.db");
    let junk = b"this is not a database, it is a shopping list\n".repeat(200);
    std::fs::write(&path, &junk).unwrap();
    let e = HistoryStore::open(&path).unwrap_err();
    assert!(matches!(e, HistoryError::Corrupted(_)), "{e:?}");
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), junk, "the file is untouched");
}

#[test]
fn a_damaged_page_in_a_real_history_is_reported() {
    let dir = scratch();
    let path = dir.path().join("h.db");
    {
        let mut s = HistoryStore::open(&path).unwrap();
        for i in 0..5 {
            s.record(&synthetic("a@host", 600, i)).unwrap();
        }
    }
    // Checkpointed and closed: overwrite the middle of the file.
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 64 * 1024, "{}", bytes.len());
    for b in &mut bytes[8192..40960] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let result = HistoryStore::open(&path).and_then(|s| {
        let last = s.resolve("last", None)?;
        s.get(last)?;
        s.list(None, 100)
    });
    let e = result.unwrap_err();
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
}

/// Makes a file read-only, for root too (`chattr +i`: root ignores
/// permissions, not the immutable flag); undone when dropped.
struct ReadOnly(std::path::PathBuf, bool);

impl ReadOnly {
    fn make(path: &Path) -> Option<ReadOnly> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o444)).unwrap();
        if !is_root() {
            return Some(ReadOnly(path.to_path_buf(), false));
        }
        let ok = std::process::Command::new("chattr")
            .arg("+i")
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| ReadOnly(path.to_path_buf(), true))
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        if self.1 {
            let _ = std::process::Command::new("chattr")
                .arg("-i")
                .arg(&self.0)
                .status();
        }
    }
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[cfg(unix)]
#[test]
fn a_read_only_file_says_so() {
    let dir = scratch();
    let path = dir.path().join("h.db");
    HistoryStore::open(&path).unwrap();
    let Some(_guard) = ReadOnly::make(&path) else {
        eprintln!("skipped: running as root and chattr +i is not available here");
        return;
    };
    let e = HistoryStore::open(&path)
        .and_then(|mut s| s.record(&synthetic("a@host", 10, 1)))
        .unwrap_err();
    assert!(matches!(e, HistoryError::ReadOnly(_)), "{e:?}");
    assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    assert!(e.to_string().contains("read-only"), "{e}");
}

#[test]
fn two_writers_at_once_both_land() {
    let dir = scratch();
    let path = dir.path().join("h.db");
    // Each opens its own connection on a fresh file, migrating at the same time.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let (path, barrier) = (path.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let mut s = HistoryStore::open(&path).unwrap();
                (0..10)
                    .map(|i| s.record(&synthetic("a@host", 60, t * 100 + i)).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut ids: Vec<i64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40);
    let s = HistoryStore::open(&path).unwrap();
    assert_eq!(s.list(None, 1000).unwrap().len(), 40);
}

#[test]
fn a_lock_held_too_long_is_named() {
    let dir = scratch();
    let path = dir.path().join("h.db");
    HistoryStore::open(&path).unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let started = std::time::Instant::now();
    let e = HistoryStore::open_waiting(&path, std::time::Duration::from_millis(200))
        .and_then(|mut s| s.record(&synthetic("a@host", 10, 1)))
        .unwrap_err();
    assert!(matches!(e, HistoryError::Locked(_)), "{e:?}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));
    let text = e.to_string();
    assert!(
        text.contains(&path.display().to_string()) && text.contains("locked"),
        "{text}"
    );
    // Once the other lets go, the write lands.
    other.execute_batch("COMMIT").unwrap();
    let mut s = HistoryStore::open(&path).unwrap();
    s.record(&synthetic("a@host", 10, 1)).unwrap();
}

fn file_size(path: &Path) -> u64 {
    let wal = path.with_extension("db-wal");
    std::fs::metadata(path).map_or(0, |m| m.len()) + std::fs::metadata(wal).map_or(0, |m| m.len())
}

/// `cargo test --release -p chaos-history --test store -- --ignored --nocapture bench_`
#[test]
#[ignore]
fn bench_thousand_hour_long_runs() {
    let dir = scratch();
    let path = dir.path().join("h.db");
    let mut store = HistoryStore::open(&path).unwrap();
    let runs: Vec<RecordedRun> = (0..1000).map(|i| synthetic("a@host", 3600, i)).collect();
    let mut times = Vec::new();
    for r in &runs {
        let t = std::time::Instant::now();
        store.record(r).unwrap();
        times.push(t.elapsed());
    }
    times.sort();
    drop(store);
    // What a run pays at its end: open (and check the schema), write, close.
    let mut ends = Vec::new();
    for i in 0..20 {
        let t = std::time::Instant::now();
        let mut s = HistoryStore::open(&path).unwrap();
        s.record(&synthetic("a@host", 3600, 2000 + i)).unwrap();
        drop(s);
        ends.push(t.elapsed());
    }
    ends.sort();
    let t = std::time::Instant::now();
    let s = HistoryStore::open(&path).unwrap();
    let all = s.runs_of("a@host").unwrap();
    let trend_read = t.elapsed();
    println!(
        "1,020 one-hour runs (36,000 operations each): file {:.1} MB; record p50 {:?} max {:?}; open+record+close p50 {:?} max {:?}; reading all {} runs for a trend {:?}",
        file_size(&path) as f64 / 1e6,
        times[times.len() / 2],
        times[times.len() - 1],
        ends[ends.len() / 2],
        ends[ends.len() - 1],
        all.len(),
        trend_read
    );
    assert!(file_size(&path) < 200_000_000);
    assert!(ends[ends.len() / 2] < std::time::Duration::from_millis(50));
}
