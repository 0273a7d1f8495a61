//! A cluster of test nodes: several [`TestNode`]s with one shared random
//! cookie, started in parallel, each connected to all the others (a full
//! mesh, `global` synchronised) before it reports ready. Every node is
//! stopped when the [`TestCluster`] is dropped, also if starting one failed.
//! [`TestCluster::with_app`] runs a small clustered OTP application on every
//! member (`fixtures/cluster_app`: a supervisor, a registered worker and
//! anonymous ones, all in a `pg` group), so chaos has victims everywhere.

use crate::{random_cookie, unique_name, NodeBuilder, TestNode};
use std::path::{Path, PathBuf};
use std::process::Command;

/// How long a member keeps trying to reach the others while starting.
const MESH_DEADLINE_MS: u64 = 20_000;

/// Nodes of one Erlang cluster, owned by a test.
#[derive(Debug)]
pub struct TestCluster {
    /// The members, in start order.
    pub nodes: Vec<TestNode>,
    /// The cookie they share (random, test-only).
    pub cookie: String,
    /// Compiled fixture code, removed with the cluster.
    code_dir: Option<PathBuf>,
}

/// The fixture application every member of [`TestCluster::with_app`] runs.
pub const FIXTURE_APP: &str = "chaos_cluster_app";

impl Drop for TestCluster {
    fn drop(&mut self) {
        self.nodes.clear();
        if let Some(d) = self.code_dir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

impl TestCluster {
    /// Start `size` nodes named after `prefix`; `configure` adds what every
    /// member needs (code paths, start expressions) to its builder.
    pub fn start(
        prefix: &str,
        size: usize,
        configure: impl Fn(NodeBuilder) -> NodeBuilder + Sync,
    ) -> TestCluster {
        let cookie = random_cookie();
        let names: Vec<String> = (0..size)
            .map(|i| unique_name(&format!("{prefix}{i}")))
            .collect();
        let atoms: Vec<String> = names.iter().map(|n| format!("'{n}@localhost'")).collect();
        let mesh = format!(
            "Peers = [{}] -- [node()], \
             MeshUntil = erlang:monotonic_time(millisecond) + {MESH_DEADLINE_MS}, \
             Mesh = fun M() -> \
                 case lists:all(fun(P) -> net_kernel:connect_node(P) =:= true end, Peers) of \
                     true -> ok; \
                     false -> \
                         case erlang:monotonic_time(millisecond) > MeshUntil of \
                             true -> erlang:error({{no_full_mesh, nodes()}}); \
                             false -> timer:sleep(50), M() \
                         end \
                 end \
             end, \
             ok = Mesh(), \
             global:sync()",
            atoms.join(", ")
        );
        let results: Vec<std::thread::Result<TestNode>> = std::thread::scope(|scope| {
            let handles: Vec<_> = names
                .iter()
                .map(|name| {
                    let mut b = configure(NodeBuilder::new(prefix)).cookie(&cookie);
                    b.name = Some(name.clone());
                    let b = b.start_expr(&mesh);
                    scope.spawn(move || b.start())
                })
                .collect();
            handles.into_iter().map(|h| h.join()).collect()
        });
        let mut nodes = Vec::new();
        let mut failed = false;
        for r in results {
            match r {
                Ok(n) => nodes.push(n),
                Err(_) => failed = true,
            }
        }
        if failed {
            drop(nodes);
            panic!("a member of test cluster {prefix} did not start (see its output above)");
        }
        TestCluster {
            nodes,
            cookie,
            code_dir: None,
        }
    }

    /// Start `size` members that each run the fixture application
    /// [`FIXTURE_APP`] (with the default `pg` scope started).
    pub fn with_app(prefix: &str, size: usize) -> TestCluster {
        let dir = std::env::temp_dir().join(unique_name(&format!("chaos-testkit-{prefix}")));
        let ebin = dir.join("ebin");
        compile_fixture(&ebin);
        let mut cluster = Self::start(prefix, size, |b| {
            b.code_path(&ebin)
                .arg("-kernel")
                .arg("start_pg")
                .arg("true")
                .start_expr(&format!(
                    "{{ok, _}} = application:ensure_all_started({FIXTURE_APP})"
                ))
        });
        cluster.code_dir = Some(dir);
        cluster
    }

    /// Member names, `name@localhost`.
    pub fn names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }
}

/// Compile `fixtures/cluster_app` into `ebin` (with its `.app` file).
fn compile_fixture(ebin: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/cluster_app");
    std::fs::create_dir_all(ebin).expect("create the fixture's ebin");
    let erls: Vec<PathBuf> = std::fs::read_dir(&src)
        .expect("read fixtures/cluster_app")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "erl"))
        .collect();
    let out = Command::new("erlc")
        .arg("-o")
        .arg(ebin)
        .args(&erls)
        .output()
        .expect("cannot run `erlc`: is Erlang/OTP installed?");
    assert!(
        out.status.success(),
        "erlc failed for the cluster fixture:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::copy(
        src.join(format!("{FIXTURE_APP}.app.src")),
        ebin.join(format!("{FIXTURE_APP}.app")),
    )
    .expect("copy the fixture's .app file");
}
