//! Every supervisor kind Elixir has, read the way chaos-monkey reads any
//! supervisor: the `sups` fixture (`tests/fixtures/sups/`, compiled here
//! with Debian's `mix`) runs a `Supervisor` (module-based, one_for_all), a
//! `DynamicSupervisor`, a `Task.Supervisor`, a `PartitionSupervisor` and a
//! `Registry` under one top `Supervisor`, each with its own known budget.
//!
//! `inspect --json` must read each one's strategy, intensity, period and
//! children; then, for each kind that restarts its children, the test kills
//! exactly the number of children the model says exhausts the budget, one
//! at a time, and sees the supervisor give up at that kill, not before.

use chaos_beam::dist::term::show;
use chaos_beam::dist::{ConnectOptions, Cookie, CookieSource, DistClient};
use chaos_testkit::{NodeBuilder, TestNode};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn output(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e} (run scripts/ensure-release-tools.sh)"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Compile the fixture in a scratch copy and start a node running it.
fn sups_node() -> (TestNode, Scratch) {
    let dir = std::env::temp_dir().join(format!("cm-sups-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    let scratch = Scratch(dir.clone());
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sups");
    for f in ["mix.exs", "lib/sups.ex"] {
        std::fs::copy(fixture.join(f), dir.join(f)).unwrap();
    }
    output(
        Command::new("mix")
            .arg("compile")
            .current_dir(&dir)
            .env("HOME", &dir)
            .env("MIX_ENV", "dev"),
        "mix compile",
    );
    // Elixir's own applications, where Debian's elixir keeps them.
    let elixir_lib = output(
        Command::new("elixir")
            .args([
                "-e",
                "IO.puts(Path.dirname(to_string(:code.lib_dir(:elixir))))",
            ])
            .env("HOME", &dir),
        "elixir",
    );
    let mut b = NodeBuilder::new("sups");
    for app in ["elixir", "logger"] {
        b = b.code_path(&Path::new(&elixir_lib).join(app).join("ebin"));
    }
    let node = b
        .code_path(&dir.join("_build/dev/lib/sups/ebin"))
        .start_expr("{ok, _} = application:ensure_all_started(sups)")
        .start();
    (node, scratch)
}

/// Evaluate `source` on the node; the value as Erlang text.
fn eval(node: &TestNode, source: &str) -> String {
    let opts = ConnectOptions::new(
        node.name.parse().unwrap(),
        Cookie::new(node.cookie.clone(), CookieSource::Flag).unwrap(),
    );
    smol::block_on(async {
        let c = DistClient::connect(&opts).await.expect("connect");
        let v = chaos_beam::eval::eval(&c, source, &[])
            .await
            .unwrap_or_else(|e| panic!("eval `{source}`: {e}"));
        c.close();
        show(&v)
    })
}

fn inspect(node: &mut TestNode) -> Value {
    let cookie = node.cookie_file();
    let out = output(
        Command::new(env!("CARGO_BIN_EXE_chaos-monkey"))
            .args(["inspect", "--node", &node.name, "--json", "--cookie-file"])
            .arg(cookie),
        "chaos-monkey inspect",
    );
    serde_json::from_str(&out).expect("inspect --json")
}

/// The supervisor registered as `name` in the `sups` tree.
fn find<'a>(tree: &'a Value, name: &str) -> &'a Value {
    if tree["registered_name"] == name {
        return tree;
    }
    tree["children"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|c| {
            let found = find(c, name);
            (!found.is_null()).then_some(found)
        })
        .unwrap_or(&Value::Null)
}

fn budget(sup: &Value) -> (String, u64, u64, u64) {
    let b = &sup["budget"];
    assert!(b.is_object(), "no budget read: {sup}");
    (
        b["strategy"].as_str().unwrap().to_string(),
        b["intensity"].as_u64().unwrap(),
        b["period_s"].as_u64().unwrap(),
        b["restarts_in_window"].as_u64().unwrap(),
    )
}

#[test]
fn every_elixir_supervisor_kind_is_read_and_gives_up_at_the_predicted_kill() {
    let (mut node, _scratch) = sups_node();
    let v = inspect(&mut node);
    let app = v["applications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "sups")
        .expect("sups listed")
        .clone();
    let top = &app["supervision_tree"];
    assert_eq!(top["registered_name"], "Elixir.Sups.Supervisor");
    assert_eq!(budget(top), ("one_for_one".into(), 5, 10, 0));
    assert_eq!(
        app["escalation"]["kills_to_stop"], 6,
        "{}",
        app["escalation"]
    );

    // (name, strategy, children listed, intensity, period, dynamic, restart type of its children)
    let kinds = [
        (
            "Elixir.Sups.OneForAll",
            "one_for_all",
            2,
            2,
            5,
            false,
            "permanent",
        ),
        ("Elixir.Sups.Dyn", "one_for_one", 2, 3, 7, true, "permanent"),
        (
            "Elixir.Sups.Tasks",
            "one_for_one",
            1,
            4,
            6,
            true,
            "temporary",
        ),
        (
            "Elixir.Sups.Parts",
            "one_for_one",
            2,
            6,
            8,
            false,
            "permanent",
        ),
        (
            "Elixir.Sups.Reg",
            "one_for_all",
            1,
            3,
            5,
            false,
            "permanent",
        ),
    ];
    for (name, strategy, children, intensity, period, dynamic, restart) in kinds {
        let sup = find(top, name);
        assert!(!sup.is_null(), "{name} not in the tree: {top}");
        assert_eq!(
            budget(sup),
            (strategy.to_string(), intensity, period, 0),
            "{name}"
        );
        assert_eq!(sup["dynamic"], dynamic, "{name}");
        let kids = sup["children"].as_array().unwrap();
        assert_eq!(kids.len(), children, "{name}: {sup}");
        let spec = if dynamic {
            &sup["template"]
        } else {
            &kids[0]["spec"]
        };
        assert_eq!(spec["restart"], restart, "{name}: {sup}");
    }

    // Kill children one at a time (each time the one running now, after
    // the supervisor restarted the last): the supervisor must still be the
    // same process after intensity kills and give up at the next.
    for name in [
        "Elixir.Sups.OneForAll",
        "Elixir.Sups.Dyn",
        "Elixir.Sups.Parts",
    ] {
        let (_, intensity, _, used) = budget(find(top, name));
        let predicted = intensity - used + 1;
        let sup_pid = eval(&node, &format!("whereis('{name}')."));
        for k in 1..=predicted {
            let killed = eval(
                &node,
                &format!(
                    "S = whereis('{name}'), \
                     [P | _] = [C || {{_, C, _, _}} <- supervisor:which_children(S), is_pid(C)], \
                     R = erlang:monitor(process, P), exit(P, kill), \
                     receive {{'DOWN', R, process, P, _}} -> ok end, \
                     Kids = fun() -> try supervisor:which_children(S) catch _:_ -> gone end end, \
                     Wait = fun W(0) -> timeout; \
                                W(N) -> case Kids() of \
                                            gone -> gave_up; \
                                            L -> case [C || {{_, C, _, _}} <- L, is_pid(C), C =/= P] of \
                                                     [] -> receive after 5 -> W(N - 1) end; \
                                                     _ -> restarted \
                                                 end \
                                        end \
                            end, \
                     Wait(400)."
                ),
            );
            let now = eval(&node, &format!("whereis('{name}')."));
            if k < predicted {
                assert_eq!(killed, "restarted", "{name}: kill {k} of {predicted}");
                assert_eq!(
                    now, sup_pid,
                    "{name} gave up at kill {k}, before the predicted {predicted}"
                );
            } else {
                assert_ne!(
                    now, sup_pid,
                    "{name} did not give up at the predicted kill {predicted}"
                );
            }
        }
    }
    // The top supervisor absorbed the three (5 in 10 s): the application runs.
    assert_eq!(
        eval(
            &node,
            "lists:keymember(sups, 1, application:which_applications())."
        ),
        "true"
    );
}
