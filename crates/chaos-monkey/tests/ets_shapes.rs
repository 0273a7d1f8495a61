//! ETS shape invariants (issue 18 §1): the shape of each named table of the
//! applications (arity, and the type of each position all sampled rows
//! agree on) is learnt at the baseline; a row written later in another
//! shape is an `ets_corruption` failure mode naming the table, the key, the
//! shape expected and the shape found. The monkey's own `ets_modify` rows
//! (its marker in every non-key position) are found by the same check and
//! counted in `extras.ets_shapes.injected_rows_seen`, never a failure mode.

mod detect_support;

use detect_support::Weak;
use std::time::{Duration, Instant};

#[test]
fn a_row_of_another_shape_is_ets_corruption_and_the_monkeys_own_rows_are_counted_apart() {
    let w = Weak::start("weak_ets_shape", |b, _| b);
    assert_eq!(w.eval("ets:info(weak_shape_table, size)."), "40");
    // State chaos that corrupts rows (ets_modify), nothing that deletes them.
    let config = w.file("state.toml");
    std::fs::write(
        &config,
        "[weights]\nstate = 1\n\
         [ops.ets_delete]\nenabled = false\n[ops.registry_corrupt]\nenabled = false\n\
         [ops.clear_mailbox]\nenabled = false\n",
    )
    .unwrap();
    let args = w.run_args("5s", &["--config", config.to_str().unwrap()]);
    let monkey = w.spawn_monkey(&args);
    w.wait_until_running();
    // Once ets_modify has corrupted a row, a careless writer adds a row of
    // another shape (a binary where every row had an integer).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(w.file("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .any(|l| l.contains("\"op\":\"ets_modify\"") && l.contains("\"outcome\":\"confirmed\""))
    {
        assert!(
            Instant::now() < deadline,
            "ets_modify never corrupted a row"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    w.eval("ets:insert(weak_shape_table, {<<\"bad\">>, <<\"seven\">>, odd}).");
    let run = monkey.wait(Duration::from_secs(60));
    run.assert_completed(&[0, 1]);
    let report = run.report.as_ref().expect("a report");
    let shapes = &report["extras"]["ets_shapes"];
    let table = shapes["tables"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["table"] == "weak_shape_table"))
        .unwrap_or_else(|| panic!("no shape learnt for weak_shape_table: {shapes}"));
    assert_eq!(table["arity"], 3, "{table}");
    assert_eq!(
        table["tags"],
        serde_json::json!(["binary", "integer", "atom"]),
        "{table}"
    );
    assert_eq!(table["rows"], 40, "{table}");
    assert!(
        shapes["injected_rows_seen"].as_u64().unwrap_or(0) >= 1,
        "the check never saw ets_modify's rows: {shapes}"
    );
    let modes = run.assert_mode("ets_corruption", Some("weak_shape_table"));
    let details: Vec<String> = modes
        .iter()
        .map(|m| {
            m["evidence"]["detail"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert!(
        details.iter().any(|d| d.contains("key <<\"bad\">>")
            && d.contains("has the shape {binary, binary, atom}")
            && d.contains("expected {binary, integer, atom}")),
        "{details:?}"
    );
    // The monkey's own rows ({binary, atom, atom}) are no failure mode.
    assert!(
        !details.iter().any(|d| d.contains("{binary, atom, atom}")),
        "{details:?}"
    );
    assert_eq!(run.code, 1, "{}", run.context());
}
