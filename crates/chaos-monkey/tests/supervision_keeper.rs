//! The supervision keeper (`chaos-beam/src/snippets/supervision_keeper.erl`)
//! against a real node running the `weak_process_leak` fixture (its leak
//! stopped) with 3,000 children under its simple_one_for_one supervisor:
//! the keeper gives the health sample the same view of every supervisor as
//! reading them all afresh, calls no supervisor that did not change (a
//! tracer on the node counts the requests each supervisor receives), never
//! lists a dynamic supervisor's children, and shows a restarted supervisor
//! at once.

mod detect_support;

use chaos_beam::chaos::detect::{DetectSettings, Supervision};
use chaos_beam::chaos::{BeamTarget, Safety};
use chaos_beam::dist::term::show;
use chaos_beam::dist::{ConnectOptions, Cookie, CookieSource, DistClient};
use chaos_engine::Profile;
use detect_support::Weak;
use std::time::{Duration, Instant};

const CHILDREN: usize = 3000;

/// Start a tracer on the node that counts, per kind, the requests the
/// fixture's supervisors receive: `which_children` calls, other gen calls,
/// and system messages (`sys`). Registered as `keeper_test_tracer`.
const TRACE: &str = "\
Sups = [whereis(weak_process_leak_sup), whereis(weak_pl_idle_sup)],
Tracer = proc_lib:spawn(fun() ->
    Loop = fun L(C) ->
        receive
            {trace, _, 'receive', {'$gen_call', _, which_children}} -> L(C#{which_children => maps:get(which_children, C, 0) + 1});
            {trace, _, 'receive', {'$gen_call', _, _}} -> L(C#{call => maps:get(call, C, 0) + 1});
            {trace, _, 'receive', {system, _, _}} -> L(C#{sys => maps:get(sys, C, 0) + 1});
            {trace, _, _, _} -> L(C);
            {counts, From} -> From ! {counts, C}, L(#{})
        end
    end,
    Loop(#{})
end),
register(keeper_test_tracer, Tracer),
[erlang:trace(S, true, ['receive', {tracer, Tracer}]) || S <- Sups],
ok.";

/// The tracer's counts since the last read, as `#{...}` text (sorted keys).
const COUNTS: &str = "\
T = whereis(keeper_test_tracer), T ! {counts, self()},
receive {counts, C} -> lists:sort(maps:to_list(C)) after 5000 -> timeout end.";

fn node() -> Weak {
    let w = Weak::start("weak_process_leak", |b, _| {
        b.arg("-weak_process_leak").arg("max").arg("0")
    });
    w.eval(&format!(
        "[{{ok, _}} = weak_pl_idle_sup:start_idle() || _ <- lists:seq(1, {CHILDREN})], ok."
    ));
    w
}

async fn target(w: &Weak) -> BeamTarget {
    let opts = ConnectOptions::new(
        w.node.name.parse().unwrap(),
        Cookie::new(w.node.cookie.clone(), CookieSource::Flag).unwrap(),
    );
    let client = DistClient::connect(&opts).await.expect("connect");
    let mut safety = Safety::default();
    safety.only_apps = vec!["weak_process_leak".into()];
    BeamTarget::new(client, Profile::Demo, safety, 7)
        .await
        .expect("a chaos context")
        .with_detection(DetectSettings::default())
        .await
        .expect("baseline")
}

/// `(key, pid, active, dynamic, missing count, answered)` of each supervisor, sorted.
fn rows(s: &Supervision) -> Vec<(String, String, u64, bool, bool)> {
    let mut v: Vec<_> = s
        .supervisors
        .iter()
        .map(|x| {
            (
                x.key.clone(),
                x.pid.clone(),
                x.active,
                x.dynamic,
                x.answered,
            )
        })
        .collect();
    v.sort();
    v
}

fn idle_sup(s: &Supervision) -> (String, u64) {
    let x = s
        .supervisors
        .iter()
        .find(|x| x.key.ends_with("/weak_pl_idle_sup"))
        .unwrap_or_else(|| panic!("no idle supervisor in {:?}", rows(s)));
    (x.pid.clone(), x.active)
}

#[test]
fn the_keeper_gives_the_same_view_and_calls_no_supervisor_that_did_not_change() {
    let w = node();
    smol::block_on(async {
        let t = target(&w).await;
        w.eval(TRACE);
        // Read afresh (no keeper): every supervisor is asked every time.
        let walked = t.supervisors_now().await.expect("walk");
        let counts = w.eval(COUNTS);
        assert!(
            counts.contains("{sys,2}"),
            "reading afresh asks each of the two supervisors once: {counts}"
        );
        assert_eq!(
            idle_sup(&walked),
            (idle_sup(&walked).0, CHILDREN as u64),
            "the dynamic supervisor's children are counted"
        );
        assert!(
            !counts.contains("which_children"),
            "an OTP supervisor is read inside it, never listed: {counts}"
        );

        t.start_supervision_keeper().await.expect("keeper");
        let kept = t.supervisors_now().await.expect("keeper's view");
        assert_eq!(
            rows(&kept),
            rows(&walked),
            "the keeper's view is the walk's"
        );
        let _ = w.eval(COUNTS); // its first read asks each supervisor once
        for _ in 0..3 {
            let again = t.supervisors_now().await.expect("keeper's view");
            assert_eq!(rows(&again), rows(&walked));
        }
        let counts = w.eval(COUNTS);
        assert_eq!(
            counts, "[]",
            "three health samples with nothing changed ask no supervisor anything"
        );

        // A supervisor killed and restarted by its parent shows at once,
        // with its new pid and no children.
        let (old, _) = idle_sup(&kept);
        w.eval(
            "P = whereis(weak_pl_idle_sup), R = erlang:monitor(process, P), exit(P, kill), \
             receive {'DOWN', R, _, _, _} -> ok end.",
        );
        let deadline = Instant::now() + Duration::from_secs(2);
        let after = loop {
            let now = t.supervisors_now().await.expect("keeper's view");
            let (pid, active) = idle_sup(&now);
            if pid != old || Instant::now() > deadline {
                break (pid, active);
            }
        };
        assert_ne!(after.0, old, "the restarted supervisor's new pid");
        assert_eq!(
            after.1, 0,
            "the restarted dynamic supervisor has no children"
        );
        // The audit stops the keeper: nothing of it is left on the node.
        let keeper = t.supervision_keeper().expect("the keeper's pid");
        t.audit().await.expect("audit");
        let alive =
            chaos_beam::eval::eval(&t.client, "is_process_alive(K).", &[("K", keeper.into())])
                .await
                .expect("is the keeper alive");
        assert_eq!(show(&alive), "false", "the keeper is stopped by the audit");
    });
}
