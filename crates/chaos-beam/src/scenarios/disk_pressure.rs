//! `disk_pressure`: only with `--disk-dir DIR` (skipped otherwise, with
//! the reason): a file is written in DIR up to `disk_bytes` (64 MiB; never
//! more than half the space free there), synced, held for `load_duration`
//! (2 s), and deleted — also when interrupted (a guard deletes it when
//! dropped). The service is probed every 20 ms throughout. Detection: from
//! the file written and synced (the write is the injection, not counted) to
//! the filesystem reporting at least 90 % of the file's size taken. Recovery: from the deletion to the filesystem
//! reporting 90 % of it given back (compared with just before the
//! deletion) and the service answering. Expected: every probe answered or refused
//! cleanly while the disk is under pressure; the file gone after.

use super::client::Watch;
use super::{ScenarioCtx, Settings};
use chaos_engine::scenario::{Observation, Scenario};
use futures::future::BoxFuture;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CHUNK: usize = 1 << 20;

/// Fill a file in a directory the user names.
pub struct DiskPressure;

/// Fill files being written or held now (for [`remove_fill_files`]).
static FILLS: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// The fill file; deleted when dropped.
struct Fill(PathBuf);

impl Fill {
    fn new(path: PathBuf) -> Fill {
        FILLS.lock().unwrap().push(path.clone());
        Fill(path)
    }
}

impl Drop for Fill {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        FILLS.lock().unwrap().retain(|p| *p != self.0);
    }
}

/// Delete every fill file now: for an exit that skips the guards (a
/// second Ctrl-C).
pub fn remove_fill_files() {
    for p in FILLS.lock().unwrap().drain(..) {
        let _ = std::fs::remove_file(p);
    }
}

/// Bytes available to us on the filesystem holding `dir`.
fn available(dir: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::other("the path has a NUL byte"))?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

impl Scenario<ScenarioCtx, Settings> for DiskPressure {
    fn name(&self) -> &'static str {
        "disk_pressure"
    }

    fn fault(&self) -> &'static str {
        "fill a file in a directory the user names, up to a bound"
    }

    fn expected(&self, settings: &Settings) -> String {
        format!(
            "the service answers or refuses cleanly while a file of up to {} MiB fills the disk for {} ms; the file is gone after",
            settings.disk_bytes >> 20,
            settings.load_duration.as_millis()
        )
    }

    fn run<'a>(&'a self, ctx: &'a ScenarioCtx) -> BoxFuture<'a, Observation> {
        Box::pin(async move {
            let Some(dir) = ctx.settings.disk_dir.clone() else {
                return Observation::skipped(
                    "no --disk-dir given: disk_pressure only writes into a directory you name",
                );
            };
            let probe = match ctx.probe() {
                Ok(p) => p,
                Err(skip) => return *skip,
            };
            let free = match available(&dir) {
                Ok(f) => f,
                Err(e) => {
                    return Observation::judged(false, format!("cannot use {}: {e}", dir.display()))
                }
            };
            let bytes = ctx.settings.disk_bytes.min(free / 2);
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let fill = Fill::new(dir.join(format!(
                "chaos-monkey-disk-pressure-{}-{stamp}.fill",
                std::process::id()
            )));
            let watch = Watch::start(probe.clone());
            let start = watch.start;
            // The file is written and synced first; detection is timed from
            // there (the write itself is the injection, not its detection).
            let written = write_fill(&fill.0, bytes, ctx);
            let filled = Instant::now();
            let detection = super::poll_until(
                filled,
                ctx.settings.load_duration,
                Duration::from_millis(5),
                || async {
                    ctx.stop.is_stopped()
                        || available(&dir)
                            .is_ok_and(|now| free.saturating_sub(now) >= bytes / 10 * 9)
                },
            )
            .await
            .filter(|_| !ctx.stop.is_stopped());
            ctx.pause(ctx.settings.load_duration.saturating_sub(start.elapsed()))
                .await;
            let path = fill.0.clone();
            let held = available(&dir).unwrap_or(0);
            drop(fill);
            let removed = Instant::now();
            let gone = !path.exists();
            // Space back, compared with just before the deletion: other writers on the filesystem move it too.
            let recovery = watch
                .recovery(
                    removed,
                    ctx.settings.recovery,
                    Duration::from_millis(10),
                    || async { available(&dir).is_ok_and(|a| a >= held + bytes / 10 * 9) },
                )
                .await;
            let w = watch.window(removed).await;
            let observed = format!(
                "{} in {} ({} MiB free before){}; during: {}; the file {}{}",
                match &written {
                    Ok(n) => format!("wrote {} MiB", n >> 20),
                    Err(e) => format!("writing stopped: {e}"),
                },
                dir.display(),
                free >> 20,
                match detection {
                    Some(d) => format!(", the space taken seen after {:.3} ms", super::ms(d)),
                    None => ", the space taken never seen".into(),
                },
                w.describe(),
                if gone {
                    "was deleted"
                } else {
                    "could NOT be deleted"
                },
                match recovery {
                    Some(r) => format!(", space back {:.3} ms after", super::ms(r)),
                    None => ", space not back".into(),
                }
            );
            Observation::judged(
                written.is_ok() && gone && w.clean() && recovery.is_some(),
                observed,
            )
            .detected(detection)
            .recovered(recovery)
            .with_measurements(json!({
                "dir": dir.display().to_string(), "bytes": written.as_ref().ok(),
                "free_before": free, "probes": w.json(),
            }))
        })
    }
}

/// Write `bytes` of zeros to `path` in 1 MiB chunks, calling `each` after
/// every chunk; synced at the end. Stops early on the stop signal.
fn write_fill(path: &Path, bytes: u64, ctx: &ScenarioCtx) -> std::io::Result<u64> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    let chunk = vec![0u8; CHUNK];
    let mut done = 0u64;
    while done < bytes && !ctx.stop.is_stopped() {
        let n = (bytes - done).min(CHUNK as u64) as usize;
        f.write_all(&chunk[..n])?;
        done += n as u64;
        if done.is_multiple_of(8 * CHUNK as u64) {
            f.sync_data()?;
        }
    }
    f.sync_all()?;
    Ok(done)
}
