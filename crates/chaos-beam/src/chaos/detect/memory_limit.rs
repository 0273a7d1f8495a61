//! The memory the node may use: the machine's RAM, or its control group's
//! limit when it runs in one (a container). Read from the node's side
//! (`/proc/self/cgroup`, `/proc/self/mountinfo` and the limit files, with
//! `file:read_file` on the node: it may be on another machine), parsed here.
//!
//! Where the limit is: the node's cgroup path (cgroup v2's `0::PATH` line,
//! or cgroup v1's line whose controllers include `memory`), under the mount
//! point of that hierarchy (`mountinfo`; a mount whose root is the cgroup
//! itself, as in a container with its own cgroup namespace, is allowed
//! for). A limit set on any ancestor applies too, so every level from the
//! node's cgroup up to the mount point is read and the smallest limit wins.
//! v2 writes `max` for none; v1 writes a huge number (9223372036854771712
//! on 4 KiB pages) for none. A cgroup limit above the machine's RAM changes
//! nothing: the smaller of the two is used, and the report says which.

use crate::chaos::BeamTarget;
use crate::dist::term::{list, TermExt};
use crate::eval::eval_with_timeout;
use serde::Serialize;

/// Where the memory limit came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LimitSource {
    /// The machine's memory (`MemTotal` in `/proc/meminfo`).
    #[serde(rename = "host RAM")]
    HostRam,
    /// `memory.max` of a cgroup v2.
    #[serde(rename = "cgroup v2")]
    CgroupV2,
    /// `memory.limit_in_bytes` of a cgroup v1.
    #[serde(rename = "cgroup v1")]
    CgroupV1,
}

impl LimitSource {
    /// As the report writes it.
    pub fn name(self) -> &'static str {
        match self {
            LimitSource::HostRam => "host RAM",
            LimitSource::CgroupV2 => "cgroup v2",
            LimitSource::CgroupV1 => "cgroup v1",
        }
    }
}

/// The limit node memory is compared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemoryLimit {
    /// Which limit.
    pub source: LimitSource,
    /// Its figure.
    pub bytes: u64,
    /// The file it was read from, on the node.
    pub file: String,
}

impl MemoryLimit {
    /// For evidence: "the cgroup v1 memory limit of N bytes" (the figure last).
    pub fn describe(&self) -> String {
        match self.source {
            LimitSource::HostRam => {
                format!("the machine's memory (host RAM) of {} bytes", self.bytes)
            }
            s => format!(
                "the node's {} memory limit of {} bytes",
                s.name(),
                self.bytes
            ),
        }
    }
}

/// A v1 limit at or above this is "no limit" (the kernel's is 2^63 rounded
/// down to a page).
const V1_NO_LIMIT: u64 = 1 << 62;

/// `memory.max` (v2): `max` is no limit.
pub fn parse_v2_max(text: &str) -> Option<u64> {
    match text.trim() {
        "max" => None,
        n => n.parse().ok(),
    }
}

/// `memory.limit_in_bytes` (v1): a huge number is no limit.
pub fn parse_v1_limit(text: &str) -> Option<u64> {
    text.trim().parse().ok().filter(|n: &u64| *n < V1_NO_LIMIT)
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
pub fn parse_memtotal(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The node's cgroups, from `/proc/self/cgroup`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CgroupPaths {
    /// The unified (v2) hierarchy's path (`0::PATH`).
    pub v2: Option<String>,
    /// The v1 memory controller's path.
    pub v1_memory: Option<String>,
}

/// Read `/proc/self/cgroup`.
pub fn parse_proc_cgroup(text: &str) -> CgroupPaths {
    let mut out = CgroupPaths::default();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if id == "0" && ctrls.is_empty() {
            out.v2 = Some(path.to_string());
        } else if ctrls.split(',').any(|c| c == "memory") {
            out.v1_memory = Some(path.to_string());
        }
    }
    out
}

/// One line of `/proc/self/mountinfo` that mounts a cgroup hierarchy.
#[derive(Debug, PartialEq, Eq)]
pub struct CgroupMount {
    /// The cgroup mounted there (`/` unless the mount shows a sub-tree).
    pub root: String,
    /// Where.
    pub mount_point: String,
    /// `cgroup2`, or `cgroup` (v1).
    pub fs_type: String,
    /// Super options (a v1 mount names its controllers there).
    pub options: Vec<String>,
}

/// The cgroup mounts of `/proc/self/mountinfo`.
pub fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let fields: Vec<&str> = before.split(' ').collect();
            let mut rest = after.split(' ');
            let fs_type = rest.next()?;
            let _source = rest.next()?;
            let options = rest.next().unwrap_or("");
            if fs_type != "cgroup" && fs_type != "cgroup2" {
                return None;
            }
            Some(CgroupMount {
                root: unescape(fields.get(3)?),
                mount_point: unescape(fields.get(4)?),
                fs_type: fs_type.to_string(),
                options: options.split(',').map(str::to_string).collect(),
            })
        })
        .collect()
}

/// mountinfo writes space, tab, newline and backslash as octal escapes.
fn unescape(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// The limit files to read for the node's cgroups: the node's own level and
/// every ancestor up to the mount point, v2 then v1.
pub fn limit_files(cgroups: &CgroupPaths, mounts: &[CgroupMount]) -> Vec<(LimitSource, String)> {
    let mut out = Vec::new();
    let mut add = |source, path: &str, mount: &CgroupMount, file: &str| {
        // Relative to the mount's root (a container's namespace shows `/`).
        let rel = if mount.root == "/" {
            path
        } else {
            path.strip_prefix(mount.root.as_str()).unwrap_or(path)
        };
        let mut dir = format!(
            "{}/{}",
            mount.mount_point.trim_end_matches('/'),
            rel.trim_matches('/')
        );
        loop {
            let d = dir.trim_end_matches('/');
            out.push((source, format!("{d}/{file}")));
            if d.len() <= mount.mount_point.trim_end_matches('/').len() {
                break;
            }
            match d.rfind('/') {
                Some(i) => dir = d[..i].to_string(),
                None => break,
            }
        }
    };
    if let Some(path) = &cgroups.v2 {
        if let Some(m) = mounts.iter().find(|m| m.fs_type == "cgroup2") {
            add(LimitSource::CgroupV2, path, m, "memory.max");
        }
    }
    if let Some(path) = &cgroups.v1_memory {
        if let Some(m) = mounts
            .iter()
            .find(|m| m.fs_type == "cgroup" && m.options.iter().any(|o| o == "memory"))
        {
            add(LimitSource::CgroupV1, path, m, "memory.limit_in_bytes");
        }
    }
    out
}

/// The limit in force: the smallest cgroup limit read (`files`: source,
/// path, content when the file could be read), unless the machine's RAM
/// is smaller.
pub fn choose(
    host: Option<u64>,
    files: &[(LimitSource, String, Option<String>)],
) -> Option<MemoryLimit> {
    let cgroup = files
        .iter()
        .filter_map(|(source, path, text)| {
            let text = text.as_deref()?;
            let bytes = match source {
                LimitSource::CgroupV2 => parse_v2_max(text),
                LimitSource::CgroupV1 => parse_v1_limit(text),
                LimitSource::HostRam => parse_memtotal(text),
            }?;
            Some(MemoryLimit {
                source: *source,
                bytes,
                file: path.clone(),
            })
        })
        .min_by_key(|l| l.bytes);
    let host = host.map(|bytes| MemoryLimit {
        source: LimitSource::HostRam,
        bytes,
        file: "/proc/meminfo".to_string(),
    });
    match (cgroup, host) {
        (Some(c), Some(h)) if c.bytes < h.bytes => Some(c),
        (Some(_), Some(h)) => Some(h),
        (c, h) => c.or(h),
    }
}

/// Files read on the node (`Paths`, binaries): each one's content, or
/// `null` when it cannot be read. For the memory limit.
pub(crate) const READ_FILES: &str =
    "[case file:read_file(P) of {ok, B} -> B; _ -> null end || P <- Paths].";

/// Read `paths` on the node: each one's text, `None` when unreadable.
async fn read_files(target: &BeamTarget, paths: &[String]) -> Vec<Option<String>> {
    let bindings = [(
        "Paths",
        list(
            paths
                .iter()
                .map(|p| crate::dist::term::binary(p.as_bytes()))
                .collect(),
        ),
    )];
    let Ok(t) = eval_with_timeout(
        &target.client,
        READ_FILES,
        &bindings,
        crate::chaos::OP_TIMEOUT,
    )
    .await
    else {
        return vec![None; paths.len()];
    };
    let mut out: Vec<Option<String>> = t
        .as_list()
        .unwrap_or_default()
        .iter()
        .map(|v| match v.as_atom() {
            Some("null") => None,
            _ => v.as_text(),
        })
        .collect();
    out.resize(paths.len(), None);
    out
}

/// The limit node memory is compared with, read on the node: its cgroup's
/// (v2 `memory.max`, v1 `memory.limit_in_bytes`, ancestors included) when
/// lower than the machine's RAM, else the RAM ([`memory_limit`]).
pub(super) async fn read_memory_limit(target: &BeamTarget) -> Option<MemoryLimit> {
    let own = ["/proc/meminfo", "/proc/self/cgroup", "/proc/self/mountinfo"].map(String::from);
    let [meminfo, cgroup, mountinfo]: [Option<String>; 3] =
        read_files(target, &own).await.try_into().ok()?;
    let host = meminfo.as_deref().and_then(parse_memtotal);
    let files = match (cgroup, mountinfo) {
        (Some(c), Some(m)) => limit_files(&parse_proc_cgroup(&c), &parse_mountinfo(&m)),
        _ => Vec::new(),
    };
    let paths: Vec<String> = files.iter().map(|(_, p)| p.clone()).collect();
    let texts = if paths.is_empty() {
        Vec::new()
    } else {
        read_files(target, &paths).await
    };
    let read: Vec<_> = files
        .into_iter()
        .zip(texts)
        .map(|((source, path), text)| (source, path, text))
        .collect();
    choose(host, &read)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_max_is_no_limit_and_a_number_is_one() {
        assert_eq!(parse_v2_max("max\n"), None);
        assert_eq!(parse_v2_max("536870912\n"), Some(536_870_912));
        assert_eq!(parse_v2_max("garbage"), None);
    }

    #[test]
    fn v1_huge_value_is_no_limit() {
        assert_eq!(parse_v1_limit("9223372036854771712\n"), None);
        assert_eq!(parse_v1_limit("9223372036854775807"), None);
        assert_eq!(parse_v1_limit("268435456\n"), Some(268_435_456));
        assert_eq!(parse_v1_limit(""), None);
    }

    #[test]
    fn proc_cgroup_gives_the_v2_path_and_the_v1_memory_path() {
        let hybrid =
            "9:name=systemd:/\n4:memory:/process_api/abc\n3:cpu,cpuacct:/x\n0::/user.slice\n";
        assert_eq!(
            parse_proc_cgroup(hybrid),
            CgroupPaths {
                v2: Some("/user.slice".into()),
                v1_memory: Some("/process_api/abc".into())
            }
        );
        let v1 = "5:cpuacct,memory:/docker/0123\n";
        assert_eq!(
            parse_proc_cgroup(v1).v1_memory.as_deref(),
            Some("/docker/0123")
        );
        assert_eq!(parse_proc_cgroup("0::/\n").v2.as_deref(), Some("/"));
    }

    const MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn limit_files_walk_from_the_node_cgroup_up_to_the_mount() {
        let mounts = parse_mountinfo(MOUNTINFO);
        assert_eq!(mounts.len(), 2);
        let paths = CgroupPaths {
            v2: Some("/".into()),
            v1_memory: Some("/process_api/abc".into()),
        };
        let files = limit_files(&paths, &mounts);
        assert_eq!(
            files,
            vec![
                (
                    LimitSource::CgroupV2,
                    "/sys/fs/cgroup/unified/memory.max".to_string()
                ),
                (
                    LimitSource::CgroupV1,
                    "/sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes".to_string()
                ),
                (
                    LimitSource::CgroupV1,
                    "/sys/fs/cgroup/memory/process_api/memory.limit_in_bytes".to_string()
                ),
                (
                    LimitSource::CgroupV1,
                    "/sys/fs/cgroup/memory/memory.limit_in_bytes".to_string()
                ),
            ]
        );
    }

    #[test]
    fn a_container_namespace_mount_shows_its_own_cgroup_at_the_mount_point() {
        let mounts = parse_mountinfo(
            "1 0 0:26 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw,nsdelegate\n",
        );
        let files = limit_files(
            &CgroupPaths {
                v2: Some("/".into()),
                v1_memory: None,
            },
            &mounts,
        );
        assert_eq!(
            files,
            vec![(
                LimitSource::CgroupV2,
                "/sys/fs/cgroup/memory.max".to_string()
            )]
        );
        // A mount of a sub-tree: the node's path is read relative to it.
        let mounts = parse_mountinfo(
            "1 0 0:26 /docker/ab /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
        );
        let files = limit_files(
            &CgroupPaths {
                v2: None,
                v1_memory: Some("/docker/ab".into()),
            },
            &mounts,
        );
        assert_eq!(
            files,
            vec![(
                LimitSource::CgroupV1,
                "/sys/fs/cgroup/memory/memory.limit_in_bytes".to_string()
            )]
        );
    }

    #[test]
    fn the_smallest_limit_wins_and_says_where_it_came_from() {
        let f = |s, p: &str, t: Option<&str>| (s, p.to_string(), t.map(str::to_string));
        let files = [
            f(LimitSource::CgroupV2, "/a/memory.max", Some("max")),
            f(
                LimitSource::CgroupV1,
                "/m/x/memory.limit_in_bytes",
                Some("536870912"),
            ),
            f(
                LimitSource::CgroupV1,
                "/m/memory.limit_in_bytes",
                Some("9223372036854771712"),
            ),
            f(LimitSource::CgroupV2, "/gone/memory.max", None),
        ];
        let l = choose(Some(8 << 30), &files).unwrap();
        assert_eq!(l.source, LimitSource::CgroupV1);
        assert_eq!(l.bytes, 536_870_912);
        assert_eq!(l.file, "/m/x/memory.limit_in_bytes");
        assert!(l
            .describe()
            .ends_with("cgroup v1 memory limit of 536870912 bytes"));
        // A cgroup limit above the machine's RAM: the RAM.
        let l = choose(Some(256 << 20), &files).unwrap();
        assert_eq!(l.source, LimitSource::HostRam);
        // No limit anywhere: the RAM; nothing readable: none.
        assert_eq!(
            choose(Some(1 << 30), &files[..1]).unwrap().source,
            LimitSource::HostRam
        );
        assert_eq!(choose(None, &files[..1]), None);
        let v2 = [f(
            LimitSource::CgroupV2,
            "/a/memory.max",
            Some("1073741824\n"),
        )];
        assert_eq!(choose(None, &v2).unwrap().source, LimitSource::CgroupV2);
        assert_eq!(
            parse_memtotal("MemTotal:       24683584 kB\n"),
            Some(24_683_584 * 1024)
        );
    }
}
