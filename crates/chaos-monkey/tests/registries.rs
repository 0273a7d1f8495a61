//! `registry_corrupt` beyond local names (issue 18 §1): a `global` name, a
//! `pg` group membership and an Elixir `Registry` key, each taken away
//! (unregister) or hijacked (decoy) — checked by asking the registry on
//! the node, not by the operation's answer — then given back on release,
//! and given back by the janitor when the monkey's lease ends.

mod detect_support;

use chaos_beam::chaos::ops::builtin;
use chaos_beam::chaos::{BeamTarget, Safety};
use chaos_beam::dist::term::{show, Term};
use chaos_beam::dist::{ConnectOptions, Cookie, CookieSource, DistClient};
use chaos_engine::{Profile, Status};
use detect_support::Weak;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Elixir's ebin directory, when Elixir is installed.
fn elixir_ebin() -> Option<PathBuf> {
    let known = PathBuf::from("/usr/lib/elixir/lib/elixir/ebin");
    if known.join("Elixir.Registry.beam").exists() {
        return Some(known);
    }
    let out = std::process::Command::new("elixir")
        .args(["-e", "IO.puts(:code.lib_dir(:elixir))"])
        .output()
        .ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("ebin");
    dir.join("Elixir.Registry.beam").exists().then_some(dir)
}

async fn target(w: &Weak) -> BeamTarget {
    let opts = ConnectOptions::new(
        w.node.name.parse().unwrap(),
        Cookie::new(w.node.cookie.clone(), CookieSource::Flag).unwrap(),
    );
    let client = DistClient::connect(&opts).await.expect("connect");
    let mut safety = Safety::default();
    safety.only_apps = vec!["weak_registries".into()];
    safety.max_app_share = 1.0;
    BeamTarget::new(client, Profile::Demo, safety, 3)
        .await
        .expect("a chaos context")
}

/// What the registry holds for the kind's entry, as Erlang text: the
/// global name's pid, the group's members, the key's `{Pid, Value}`s.
fn holders(w: &Weak, kind: &str) -> String {
    w.eval(match kind {
        "global" => "global:whereis_name(weak_reg_global).",
        "pg" => "pg:get_local_members(weak_reg_scope, weak_group).",
        _ => "'Elixir.Registry':lookup(weak_reg_keys, weak_key).",
    })
}

/// The worker registered through `kind`, as Erlang pid text.
fn worker(w: &Weak, kind: &str) -> String {
    let kind = if kind == "elixir_registry" {
        "registry"
    } else {
        kind
    };
    w.eval(&format!(
        "hd([P || {{{{worker, {kind}}}, P, _, _}} <- supervisor:which_children(weak_registries_sup)])."
    ))
}

/// The registry's holders as they are when the worker holds its entry.
fn original(kind: &str, worker: &str) -> String {
    match kind {
        "global" => worker.to_string(),
        "pg" => format!("[{worker}]"),
        _ => format!("[{{{worker},weak_value}}]"),
    }
}

/// `<'node@host'.93.0>` (as an eval shows a pid) as the node writes it: `<0.93.0>`.
fn local_form(pid: &str) -> String {
    match pid.rsplit_once("'.") {
        Some((_, rest)) => format!("<0.{rest}"),
        None => pid.to_string(),
    }
}

fn wait_for(w: &Weak, kind: &str, want: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let now = holders(w, kind);
        if now == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{kind}: {what}: the registry holds {now}, not {want}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn global_pg_and_registry_entries_are_taken_confirmed_on_the_node_and_given_back() {
    let ebin = elixir_ebin();
    if ebin.is_none() {
        println!("Elixir is not installed: the Registry case is left out");
    }
    let w = Weak::start("weak_registries", |b, _| match &ebin {
        Some(dir) => b.code_path(dir),
        None => b,
    });
    let mut kinds = vec!["global", "pg"];
    if ebin.is_some() {
        kinds.push("elixir_registry");
    }
    let op = builtin()
        .into_iter()
        .find(|o| o.name() == "registry_corrupt")
        .unwrap();
    smol::block_on(async {
        let t = target(&w).await;
        // As a run does: the snippets compiled on the node (the compiler is
        // stricter about variables than the interpreter).
        t.compile_snippets().await.expect("compiled snippets");
        for kind in &kinds {
            let worker = worker(&w, kind);
            let before = original(kind, &worker);
            assert_eq!(holders(&w, kind), before, "fixture: {kind}");
            for mode in ["unregister", "decoy"] {
                let params = serde_json::json!({
                    "mode": mode, "hold_ms": 30_000, "registry": kind, "entry_pick": 0
                });
                let out = op.run(&t, &params).await;
                assert_eq!(out.status, Status::Confirmed, "{kind} {mode}: {out:?}");
                assert_eq!(out.measurements["registry"], *kind, "{out:?}");
                assert_eq!(
                    out.victim.as_ref().unwrap().id,
                    local_form(&worker),
                    "{out:?}"
                );
                // The registry on the node: the worker is gone from it.
                let now = holders(&w, kind);
                assert!(!now.contains(&worker), "{kind} {mode}: still {now}");
                match (mode, *kind) {
                    ("unregister", "global") => assert_eq!(now, "undefined"),
                    ("unregister", _) => assert_eq!(now, "[]"),
                    // The decoy holds it: one pid that is the run's helper.
                    (_, _) => {
                        let helpers: Vec<String> = t
                            .helpers()
                            .into_iter()
                            .map(|p| show(&Term::from(p)))
                            .collect();
                        assert!(now != "undefined" && now != "[]", "{kind}: no decoy: {now}");
                        assert!(
                            helpers.iter().any(|h| now.contains(h.as_str())),
                            "{kind}: {now} is not a helper of the run ({helpers:?})"
                        );
                    }
                }
                out.effect.expect("an effect").undo().await.expect("undone");
                assert_eq!(holders(&w, kind), before, "{kind} {mode}: given back");
                let kind_atom = if *kind == "elixir_registry" {
                    "registry"
                } else {
                    kind
                };
                assert_eq!(
                    w.eval(&format!(
                        "hd([gen_server:call(P, ping) || {{{{worker, {kind_atom}}}, P, _, _}} \
                         <- supervisor:which_children(weak_registries_sup)])."
                    )),
                    "pong",
                    "{kind} {mode}: the worker answers"
                );
            }
        }
        // The janitor: every kind taken at once, then the lease ends (as
        // when the monkey dies): each entry is back without a release.
        let mut effects = Vec::new();
        for kind in &kinds {
            let params = serde_json::json!({
                "mode": "decoy", "hold_ms": 30_000, "registry": kind, "entry_pick": 0
            });
            let out = op.run(&t, &params).await;
            assert_eq!(out.status, Status::Confirmed, "{kind}: {out:?}");
            assert!(!holders(&w, kind).contains(&worker(&w, kind)));
            effects.push(out.effect.expect("an effect"));
        }
        t.end_lease();
        for kind in &kinds {
            let worker = worker(&w, kind);
            wait_for(&w, kind, &original(kind, &worker), "after the lease ended");
        }
        drop(effects);
        t.client.close();
    });
}
