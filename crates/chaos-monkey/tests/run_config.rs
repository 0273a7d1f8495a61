//! `run` settings: bad input gets a precise error and exit code 2, before anything is touched.

mod support;

use support::{monkey, run};

fn config(text: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!(
        "cm-run-config-{}-{}.toml",
        std::process::id(),
        text.len()
    ));
    std::fs::write(&p, text).unwrap();
    p
}

fn expect_usage(args: &[&str], needle: &str) {
    let (code, _, err) = run(monkey().args(args));
    assert_eq!(code, 2, "{args:?}: {err}");
    assert!(
        err.contains(needle),
        "{args:?}: expected {needle:?} in {err}"
    );
}

#[test]
fn flag_errors() {
    let base = ["run", "--node", "app@localhost", "--cookie", "x"];
    let with = |extra: &[&'static str]| -> Vec<&str> {
        base.iter().copied().chain(extra.iter().copied()).collect()
    };
    expect_usage(&with(&["--duration", "0s"]), "--duration");
    expect_usage(&with(&["--duration", "-5s"]), "--duration");
    expect_usage(&with(&["--rate", "NaN"]), "--rate");
    expect_usage(&with(&["--duration", "584542046090y"]), "--duration");
    expect_usage(
        &with(&["--duration", "18446744073709551615s 1000000000ns"]),
        "--duration",
    );
    expect_usage(&with(&["--rate", "-1"]), "--rate");
    expect_usage(&with(&["--rate", "0"]), "--rate");
    expect_usage(&with(&["--weights", "process=0,memory=0"]), "add up to 0");
    expect_usage(
        &with(&["--weights", "process=1,bogus=2"]),
        "unknown name 'bogus'",
    );
    expect_usage(&with(&["--profile", "extreme"]), "unknown profile");
    expect_usage(&with(&["--protect-name", "[oops"]), "--protect-name");
    expect_usage(&with(&["--max-app-share", "1.5"]), "--max-app-share");
    expect_usage(&with(&["--allow-atom-exhaustion"]), "aggressive");
    expect_usage(
        &["run", "--node", "app", "--cookie", "x"],
        "has no host part",
    );
    expect_usage(&["run", "--cookie", "x"], "no target node");
}

#[test]
fn config_errors_say_file_and_line() {
    let p = config("node = \"app@localhost\"\nduraton = \"5s\"\n");
    expect_usage(
        &["run", "--cookie", "x", "--config", p.to_str().unwrap()],
        &format!("{}:2:1", p.display()),
    );
    let p = config("node = \"app@localhost\"\n\nrate = -3\n");
    expect_usage(
        &["run", "--cookie", "x", "--config", p.to_str().unwrap()],
        &format!("{}:3", p.display()),
    );
    let p = config("node = \"app@localhost\"\nrate = \"fast\"\n");
    expect_usage(
        &["run", "--cookie", "x", "--config", p.to_str().unwrap()],
        &format!("{}:2:8", p.display()),
    );
    let p = config("node = \"app@localhost\"\n[ops.kill_everything]\nweight = 1\n");
    expect_usage(
        &["run", "--cookie", "x", "--config", p.to_str().unwrap()],
        "unknown operation 'kill_everything'",
    );
    let p = config("node = \"app@localhost\"\n[[ops.custom]]\nname = \"x\"\ncategory = \"weather\"\nerlang = \"ok.\"\n");
    expect_usage(
        &["run", "--cookie", "x", "--config", p.to_str().unwrap()],
        "unknown category 'weather'",
    );
    let p = config("node = \"app@localhost\"\n[weights]\nprocess = 0\n");
    expect_usage(
        &["run", "--cookie", "x", "--config", p.to_str().unwrap()],
        "add up to 0",
    );
    let p = config("node = \"app\"\n");
    expect_usage(
        &["run", "--cookie", "x", "--config", p.to_str().unwrap()],
        &format!("{}:1", p.display()),
    );
    // Flags win over the file.
    let p = config("node = \"app\"\nrate = -1\n");
    let (code, _, err) = run(monkey().args([
        "run",
        "--cookie",
        "x",
        "--config",
        p.to_str().unwrap(),
        "--node",
        "nosuch@localhost",
        "--rate",
        "5",
        "--epmd-port",
        "1",
    ]));
    assert_eq!(code, 3, "{err}");
}

#[test]
fn the_example_config_is_valid() {
    // Valid settings get as far as connecting: exit 3 with no epmd, never 2.
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/chaos.example.toml");
    let (code, _, err) = run(monkey().args([
        "run",
        "--cookie",
        "x",
        "--config",
        example,
        "--epmd-port",
        "1",
    ]));
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("no epmd"), "{err}");
}
