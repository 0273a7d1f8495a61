//! ETS shape invariants (issue 18 §1): the shape of each named table of the
//! applications (arity, and the type of each position all sampled rows
//! agree on) is learnt at the baseline; a row written later in another
//! shape is an `ets_corruption` failure mode naming the table, the key, the
//! shape expected and the shape found. The monkey's own `ets_modify` rows
//! (its marker in every non-key position) are found by the same check and
//! counted in `extras.ets_shapes.injected_rows_seen`, never a failure mode.

mod detect_support;

use detect_support::{Run, Weak};
use std::time::{Duration, Instant};

/// State chaos that corrupts rows (ets_modify), nothing that deletes them.
const ETS_MODIFY_ONLY: &str = "[weights]\nstate = 1\n\
    [ops.ets_delete]\nenabled = false\n[ops.registry_corrupt]\nenabled = false\n\
    [ops.clear_mailbox]\nenabled = false\n";

/// A run of ETS_MODIFY_ONLY for `duration`; `meanwhile` runs once
/// ets_modify has corrupted a row.
fn run(w: &Weak, duration: &str, meanwhile: impl FnOnce()) -> Run {
    let config = w.file("state.toml");
    std::fs::write(&config, ETS_MODIFY_ONLY).unwrap();
    let monkey = w.spawn_monkey(&w.run_args(duration, &["--config", config.to_str().unwrap()]));
    let deadline = Instant::now() + Duration::from_secs(30);
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
    meanwhile();
    let run = monkey.wait(Duration::from_secs(60));
    run.assert_completed(&[0, 1]);
    run
}

fn ets_shapes(run: &Run) -> &serde_json::Value {
    &run.report.as_ref().expect("a report")["extras"]["ets_shapes"]
}

#[test]
fn a_row_of_another_shape_is_ets_corruption_and_the_monkeys_own_rows_are_counted_apart() {
    let w = Weak::start("weak_ets_shape", |b, _| b);
    assert_eq!(w.eval("ets:info(weak_shape_table, size)."), "40");

    // Only the monkey's own corruption: seen by the check, no failure mode.
    // (5 s: the rows it holds, up to 5 s each, would outlast the 2 s
    // recovery window if they counted.)
    let own = run(&w, "5s", || {});
    let shapes = ets_shapes(&own);
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
    assert!(
        !own.modes().iter().any(|m| m["kind"] == "ets_corruption"),
        "the monkey's own rows made a failure mode\n{}",
        own.context()
    );

    // A careless writer adds a row of another shape (a binary where every
    // row had an integer), and one with a field not set (no break).
    let run = run(&w, "3s", || {
        w.eval("ets:insert(weak_shape_table, {<<\"bad\">>, <<\"seven\">>, odd}).");
        w.eval("ets:insert(weak_shape_table, {<<\"unset\">>, undefined, odd}).");
    });
    let modes = run.assert_mode("ets_corruption", Some("weak_shape_table"));
    let detail = modes[0]["evidence"]["detail"].as_str().unwrap_or_default();
    assert_eq!(
        detail,
        "table weak_shape_table: the row with key <<\"bad\">> has the shape {binary, binary, atom}, \
         expected {binary, integer, atom} (every one of the 40 rows sampled at the start)",
        "{}",
        run.context()
    );
    assert_eq!(run.code, 1, "{}", run.context());
}
