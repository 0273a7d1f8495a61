//! A cluster of test nodes: several [`TestNode`]s with one shared random
//! cookie, started in parallel, each connected to all the others (a full
//! mesh, `global` synchronised) before it reports ready. Every node is
//! stopped when the [`TestCluster`] is dropped, also if starting one failed.

use crate::{random_cookie, unique_name, NodeBuilder, TestNode};

/// How long a member keeps trying to reach the others while starting.
const MESH_DEADLINE_MS: u64 = 20_000;

/// Nodes of one Erlang cluster, owned by a test.
#[derive(Debug)]
pub struct TestCluster {
    /// The members, in start order.
    pub nodes: Vec<TestNode>,
    /// The cookie they share (random, test-only).
    pub cookie: String,
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
        TestCluster { nodes, cookie }
    }

    /// Member names, `name@localhost`.
    pub fn names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }
}
