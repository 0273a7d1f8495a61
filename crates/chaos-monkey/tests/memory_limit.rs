//! Memory exhaustion against the node's own limit: a node in a memory
//! cgroup is compared with the cgroup's limit, not the machine's RAM, and
//! the report says which limit it used (`extras.memory_limit`) and names
//! it in the evidence. Needs root and a writable memory cgroup (v2 with the
//! memory controller, or v1's memory hierarchy); skipped with the reason
//! printed otherwise.

mod detect_support;

use detect_support::Weak;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A memory cgroup made for the test, removed when dropped (after the node
/// in it is gone: declare it before the node).
struct Cgroup {
    dir: PathBuf,
    version: &'static str,
}

impl Cgroup {
    /// A new cgroup with a memory limit of `bytes`, or why none can be made.
    fn create(bytes: u64) -> Result<Cgroup, String> {
        let name = format!("chaos-monkey-test-{}", std::process::id());
        let v2 = Path::new("/sys/fs/cgroup");
        let controllers =
            std::fs::read_to_string(v2.join("cgroup.controllers")).unwrap_or_default();
        let (dir, version, file) = if controllers.split_whitespace().any(|c| c == "memory") {
            // The memory controller must be on for the root's children.
            let _ = std::fs::write(v2.join("cgroup.subtree_control"), "+memory");
            (v2.join(&name), "cgroup v2", "memory.max")
        } else if Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists() {
            (
                Path::new("/sys/fs/cgroup/memory").join(&name),
                "cgroup v1",
                "memory.limit_in_bytes",
            )
        } else {
            return Err("no cgroup v2 memory controller and no cgroup v1 memory hierarchy".into());
        };
        std::fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let cg = Cgroup { dir, version };
        std::fs::write(cg.dir.join(file), bytes.to_string())
            .map_err(|e| format!("cannot set {file}: {e}"))?;
        Ok(cg)
    }

    /// Move a process (all its threads) into the cgroup.
    fn enter(&self, pid: &str) -> Result<(), String> {
        std::fs::write(self.dir.join("cgroup.procs"), pid)
            .map_err(|e| format!("cannot move {pid} into {}: {e}", self.dir.display()))
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // The node is killed first; its exit may take a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::remove_dir(&self.dir).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn a_node_in_a_memory_cgroup_is_measured_against_the_cgroup_limit() {
    const LIMIT: u64 = 768 << 20;
    let cgroup = match Cgroup::create(LIMIT) {
        Ok(c) => c,
        Err(why) => {
            println!("skipped: cannot make a memory cgroup here: {why}");
            return;
        }
    };
    let w = Weak::start("weak_none", |b, _| b);
    let pid = w.eval("os:getpid().");
    let pid = pid.trim_matches('"').to_string();
    if let Err(why) = cgroup.enter(&pid) {
        println!("skipped: {why}");
        return;
    }
    // The node itself sees the cgroup (the monkey reads it from there).
    let inside = w.eval("{ok, B} = file:read_file(\"/proc/self/cgroup\"), B.");
    assert!(
        inside.contains(cgroup.dir.file_name().unwrap().to_str().unwrap()),
        "the node's /proc/self/cgroup: {inside}"
    );
    // A threshold any node passes: the memory check fires, against the limit.
    let run = w.monkey(
        "2s",
        &["--weights", "timing=1", "--memory-threshold", "0.001"],
    );
    run.assert_completed(&[0, 1]);
    let report = run.report.as_ref().expect("a report");
    let limit = &report["extras"]["memory_limit"];
    assert_eq!(limit["source"], cgroup.version, "{limit}");
    assert_eq!(limit["bytes"].as_u64(), Some(LIMIT), "{limit}");
    assert!(
        limit["file"]
            .as_str()
            .is_some_and(|f| f.starts_with(cgroup.dir.to_str().unwrap())),
        "{limit}"
    );
    let modes = run.assert_mode("memory_exhaustion", None);
    let detail = modes[0]["evidence"]["detail"]
        .as_str()
        .map_or_else(|| modes[0]["evidence"].to_string(), String::from);
    assert!(
        detail.ends_with(&format!("{} memory limit of {LIMIT} bytes", cgroup.version)),
        "{detail}"
    );
    drop(w);
    drop(cgroup);
}
