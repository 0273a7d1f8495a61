//! Shared by the chaos tests: a demo node that is always stopped, and a
//! chaos context attached to it.

#![allow(dead_code)]

use chaos_beam::chaos::{BeamTarget, Safety};
use chaos_beam::demo::{DemoConfig, DemoNode};
use chaos_beam::dist::term::{Term, TermExt};
use chaos_beam::dist::{ConnectOptions, Cookie, DistClient};
use chaos_engine::Profile;
use std::time::Duration;

/// A demo node that is stopped when dropped, pass or fail.
pub struct Demo {
    pub node: Option<DemoNode>,
    state: std::path::PathBuf,
}

impl Demo {
    pub fn start(prefix: &str) -> Demo {
        let name = format!("{prefix}_{}", std::process::id());
        let mut cfg = DemoConfig::new(&name);
        cfg.state_dir = std::env::temp_dir().join(format!("cm-chaos-test-{name}"));
        let node = DemoNode::start(&cfg).expect("demo node starts");
        Demo {
            node: Some(node),
            state: cfg.state_dir,
        }
    }

    pub fn info(&self) -> &chaos_beam::demo::DemoInfo {
        &self.node.as_ref().unwrap().info
    }

    pub async fn client(&self) -> DistClient {
        let n = self.node.as_ref().unwrap();
        let opts = ConnectOptions::new(
            n.node_name(),
            Cookie::resolve(None, Some(&n.info.cookie_file)).unwrap(),
        );
        DistClient::connect(&opts).await.expect("connect")
    }

    pub async fn target(&self, profile: Profile) -> BeamTarget {
        BeamTarget::new(self.client().await, profile, Safety::default(), 42)
            .await
            .expect("chaos context")
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(n) = self.node.take() {
            let _ = n.stop(Duration::from_secs(5));
        }
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// Shield every worker candidate but `keep` (as the monkey's own helpers,
/// so none is picked); returns `keep`'s candidate, the only one left.
pub async fn shield_all_but(t: &BeamTarget, keep: &Term) -> chaos_beam::chaos::Candidate {
    shield_all_but_listing(t, keep).await.0
}

/// [`shield_all_but`], with the pid texts of the candidates it shielded (the
/// audit names them as helpers still alive: a test that audits expects them).
pub async fn shield_all_but_listing(
    t: &BeamTarget,
    keep: &Term,
) -> (chaos_beam::chaos::Candidate, Vec<String>) {
    let mut shielded = Vec::new();
    for c in t.candidates().await.unwrap().iter() {
        if !c.supervisor && Some(&c.pid) != keep.as_pid() {
            t.note_helper(&Term::from(c.pid.clone()));
            shielded.push(c.pid_text.clone());
        }
    }
    t.invalidate().await;
    let pool: Vec<_> = t
        .candidates()
        .await
        .unwrap()
        .iter()
        .filter(|c| !c.supervisor)
        .cloned()
        .collect();
    assert_eq!(pool.len(), 1, "{pool:?}");
    (pool.into_iter().next().unwrap(), shielded)
}
