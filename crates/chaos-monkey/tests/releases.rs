//! Real deployments: a rebar3 (relx) release of the demo system with bundled
//! ERTS, and a mix release of a small Elixir application (Supervisor,
//! GenServer, DynamicSupervisor, Registry, a public ETS table, a TCP
//! listener), both built here with Debian's `rebar3` and `elixir`
//! (`scripts/ensure-release-tools.sh`), started with their own `bin/NAME
//! daemon`, attached to with `--release PATH`, and always stopped.
//!
//! In a release every application lives under the release's root; the
//! monkey must still tell the user's applications from the runtime's, kill
//! their processes, and say so — not find no victim and report "survived".

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{monkey, run};

/// A release started with `bin/NAME daemon`, stopped when dropped.
struct Started {
    bin: PathBuf,
    env: Vec<(String, String)>,
    _dir: TempDir,
}

impl Started {
    fn ctl(&self, cmd: &str) -> std::process::Output {
        Command::new(&self.bin)
            .arg(cmd)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run the release's start script")
    }

    fn start(bin: PathBuf, env: Vec<(String, String)>, dir: TempDir) -> Started {
        let s = Started {
            bin,
            env,
            _dir: dir,
        };
        let out = s.ctl("daemon");
        assert!(out.status.success(), "daemon: {out:?}");
        // Up when the start script can reach it (a poll with a deadline).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !s.ctl("pid").status.success() {
            assert!(
                std::time::Instant::now() < deadline,
                "the release did not come up"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        s
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let pid = String::from_utf8_lossy(&self.ctl("pid").stdout)
            .trim()
            .to_string();
        let _ = self.ctl("stop");
        if let Ok(pid) = pid.parse::<i32>() {
            // SAFETY: a plain kill(2) of the release's own VM.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(prefix: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("cm-{prefix}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tool(name: &str) -> String {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{name} is missing: run scripts/ensure-release-tools.sh (Debian's rebar3 and elixir)"
    );
    name.to_string()
}

fn build(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn random_cookie() -> String {
    format!("c{:016x}", rand::random::<u64>())
}

/// A 20 s default run against the release: processes of `app` killed,
/// something confirmed in every category, conclusive; its report.
fn chaos_run(release: &Path, env: &[(String, String)], app: &str, out: &Path) -> serde_json::Value {
    let (code, stdout, err) = run(monkey()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(["run", "--release"])
        .arg(release)
        .args([
            "--duration",
            "20s",
            "--seed",
            "1",
            "--no-progress",
            "--report",
        ])
        .arg(out));
    assert!(code == 0 || code == 1, "exit {code}\n{stdout}\n{err}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    assert_eq!(r["inconclusive"], serde_json::json!([]), "{stdout}");
    assert!(r["kills"].as_u64() > Some(0), "{stdout}");
    let eligible = r["reach"]["eligible_by_group"][app].as_u64().unwrap_or(0);
    assert!(
        eligible >= 10,
        "{app}'s processes are eligible: {}",
        r["reach"]
    );
    for (cat, c) in r["by_category"].as_object().unwrap() {
        assert!(
            c["confirmed"].as_u64() > Some(0),
            "nothing confirmed in {cat}\n{stdout}"
        );
    }
    // Killed victims are the user's.
    let recovery = r["recovery"].as_array().unwrap();
    assert!(
        recovery
            .iter()
            .any(|row| row["by"] == "application" && row["key"] == app),
        "{recovery:?}"
    );
    r
}

#[test]
fn a_rebar3_release_with_bundled_erts_gets_real_chaos() {
    let rebar3 = tool("rebar3");
    let dir = TempDir::new("relx");
    let root = dir.0.clone();
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::create_dir_all(root.join("config")).unwrap();
    for f in std::fs::read_dir(repo().join("demo/chaos_demo/src")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, root.join("src").join(f.file_name().unwrap())).unwrap();
    }
    let name = format!("relx_{}", std::process::id());
    std::fs::write(
        root.join("rebar.config"),
        "{erl_opts, [debug_info]}.\n\
         {relx, [{release, {shop_rel, \"1.0.0\"}, [chaos_demo, sasl]},\n\
                 {mode, prod}, {include_erts, true}, {extended_start_script, true},\n\
                 {vm_args, \"config/vm.args\"}]}.\n",
    )
    .unwrap();
    std::fs::write(
        root.join("config/vm.args"),
        format!("-sname {name}\n-setcookie {}\n", random_cookie()),
    )
    .unwrap();
    build(
        Command::new(rebar3)
            .arg("release")
            .current_dir(&root)
            .env("HOME", &root),
        "rebar3 release",
    );
    let release = root.join("_build/default/rel/shop_rel");
    let bundled_erts = std::fs::read_dir(&release).unwrap().any(|e| {
        e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("erts-")
    });
    assert!(bundled_erts, "the release bundles ERTS");
    let node = Started::start(release.join("bin/shop_rel"), vec![], dir);

    // inspect by the release's folder: the user's tree.
    let (code, out, err) = run(monkey().args(["inspect", "--release"]).arg(&release));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("chaos_demo_sup [supervisor"), "{out}");
    // ... and what chaos could reach there, per application.
    let reach = out
        .lines()
        .skip_while(|l| !l.starts_with("Chaos reach"))
        .find_map(|l| l.trim().strip_prefix("chaos_demo: "))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(reach >= Some(10), "{out}");
    chaos_run(&release, &[], "chaos_demo", &node._dir.0.join("relx.json"));
}

#[test]
fn a_mix_release_of_an_elixir_app_gets_real_chaos_and_reads_the_elixir_way() {
    let mix = tool("mix");
    let dir = TempDir::new("mix");
    let root = dir.0.clone();
    std::fs::create_dir_all(root.join("lib")).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/shop");
    std::fs::copy(fixture.join("mix.exs"), root.join("mix.exs")).unwrap();
    std::fs::copy(fixture.join("lib/shop.ex"), root.join("lib/shop.ex")).unwrap();
    build(
        Command::new(mix)
            .args(["release", "--overwrite"])
            .current_dir(&root)
            .env("HOME", &root)
            .env("MIX_ENV", "prod"),
        "mix release",
    );
    let release = root.join("_build/prod/rel/shop");
    assert!(release.join("releases/COOKIE").exists());
    // As a user would start it: a node name of their own; the cookie is the
    // release's (releases/COOKIE), which --release reads.
    let env = vec![(
        "RELEASE_NODE".to_string(),
        format!("shop_{}", std::process::id()),
    )];
    let node = Started::start(release.join("bin/shop"), env.clone(), dir);

    let (code, out, err) = run(monkey()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .args(["inspect", "--top", "200", "--release"])
        .arg(&release));
    assert_eq!(code, 0, "{out}\n{err}");
    // Elixir names, written the Elixir way; Elixir's own applications are the runtime's.
    assert!(out.contains("Shop.Supervisor [supervisor"), "{out}");
    assert!(out.contains("20 × [Shop.Cart] [worker]"), "{out}");
    assert!(!out.contains("Elixir."), "{out}");
    // Restart budgets, Elixir's DynamicSupervisor included (defaults: 3 in 5 s).
    let cart_sup = out
        .lines()
        .find(|l| l.contains("Shop.CartSup [supervisor"))
        .unwrap();
    assert!(
        cart_sup.contains("one_for_one, at most 3 restarts in 5 s"),
        "{cart_sup}"
    );
    // Carts registered through Registry show as such.
    assert!(out.contains("{via,Registry,{Shop.Registry,"), "{out}");
    let r = chaos_run(&release, &env, "shop", &node._dir.0.join("mix.json"));
    let text = r.to_string();
    let erlang_spelling: Vec<&str> = text
        .match_indices("'Elixir.")
        .map(|(i, _)| &text[i.saturating_sub(120)..(i + 60).min(text.len())])
        .collect();
    assert!(
        erlang_spelling.is_empty(),
        "no Erlang spelling of Elixir modules in the report: {erlang_spelling:#?}"
    );
    // Supervisors are known by what they are: the DynamicSupervisor and the
    // Registry's supervisor too, not only OTP's `supervisor` module.
    let sups = &r["reach"]["excluded"]["supervisors (only kill_supervisor, when allowed)"];
    assert!(sups.as_u64() >= Some(3), "{}", r["reach"]);
    // elixir's and logger's processes are never victims.
    assert!(
        r["reach"]["eligible_by_group"]["elixir"].is_null(),
        "{}",
        r["reach"]
    );
    assert!(
        r["reach"]["eligible_by_group"]["logger"].is_null(),
        "{}",
        r["reach"]
    );
}
