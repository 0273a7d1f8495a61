//! The built-in BEAM operations, one small type per file, each implementing
//! [`chaos_engine::TypedOperation`] (and so [`chaos_engine::Operation`]) for
//! [`BeamTarget`](super::BeamTarget).
//!
//! To add one: write `ops/<name>.rs` with a unit struct, a `<Name>Params`
//! struct (`#[serde(deny_unknown_fields)]`, one documented field per
//! parameter; [`NoParams`](chaos_engine::NoParams) when it takes none), its
//! Erlang snippet (answering with the [`Reply`](super::Reply) protocol) and
//! an `impl TypedOperation<BeamTarget>` whose `plan` draws the params struct
//! and whose `run` gets it back typed; then list it in [`builtin`] (and its
//! snippet in [`snippets`]).

/// A snippet that may end a process, behind the restart-budget gate
/// (`snippets/budget_gate.erl`): `gated_kill!("kill", BODY)` runs BODY (an
/// expression answering with the [`Reply`](super::Reply) protocol, without
/// the final period) only when killing `Victim` with that signal fits the
/// supervisors' budgets; otherwise the answer is `{guarded, Why}`.
/// `gated_kill!("LinkTo", "chaos_test", BODY)` names the victim's variable
/// (not a pid: no gate).
macro_rules! gated_kill {
    ($signal:literal, $body:literal) => {
        gated_kill!("Victim", $signal, $body)
    };
    ($victim:literal, $signal:literal, $body:literal) => {
        concat!(
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/src/snippets/safety_rules.erl"
            )),
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/src/snippets/budget_read.erl"
            )),
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/src/snippets/budget_gate.erl"
            )),
            "GatedKill(",
            $victim,
            ", ",
            $signal,
            ", fun() ->\n",
            $body,
            "\nend).\n"
        )
    };
}

/// The Erlang both ETS row operations start with: among the public set /
/// ordered_set tables owned by the candidates (`Pids`), draw a non-empty one
/// (`TablePick`) and a row near a drawn position (`RowPick`) that does not
/// carry the monkey's marker; it ends in the `case` on the row found.
macro_rules! ets_row_choice {
    () => {
        r#"
Marker = chaos_monkey_corrupted,
Owners = maps:from_list([{P, true} || P <- Pids]),
NonEmpty = fun(Tab) ->
    case ets:info(Tab, size) of N when is_integer(N), N > 0 -> true; _ -> false end
end,
Tables = lists:sort([Tab || Tab <- ets:all(),
                            is_map_key(ets:info(Tab, owner), Owners),
                            ets:info(Tab, protection) =:= public,
                            lists:member(ets:info(Tab, type), [set, ordered_set]),
                            NonEmpty(Tab)]),
case Tables of
    [] ->
        {none, {skipped, <<"no non-empty public set/ordered_set ETS table owned by an eligible process">>}};
    _ ->
        T = lists:nth(1 + TablePick rem length(Tables), Tables),
        try
            Owner = ets:info(T, owner),
            KeyPos = ets:info(T, keypos),
            Size = ets:info(T, size),
            Next = fun(K) -> try ets:next(T, K) catch error:badarg -> ets:first(T) end end,
            Walk = fun W(K, I) when I =< 0; K =:= '$end_of_table' -> K;
                       W(K, I) -> W(Next(K), I - 1)
                   end,
            Start = case Walk(ets:first(T), RowPick rem min(Size, 5000)) of
                        '$end_of_table' -> ets:first(T);
                        K0 -> K0
                    end,
            %% A counter row (every non-key field an integer) is left alone
            %% unless collapse is allowed: ets:update_counter/3 crashes on
            %% it once it is deleted or corrupted, and a crash loop burns
            %% restart budgets at once.
            Counter = fun(O) -> lists:all(fun erlang:is_integer/1,
                                          [E || {I, E} <- lists:zip(lists:seq(1, tuple_size(O)), tuple_to_list(O)),
                                                I =/= KeyPos]) end,
            Usable = fun(O) -> tuple_size(O) > 1 andalso not lists:member(Marker, tuple_to_list(O))
                                   andalso (CountersToo orelse not Counter(O)) end,
            Find = fun F(_, 0) -> none;
                       F('$end_of_table', N) -> F(ets:first(T), N - 1);
                       F(K, N) ->
                           case ets:lookup(T, K) of
                               [O] -> case Usable(O) of true -> {K, O}; false -> F(Next(K), N - 1) end;
                               _ -> F(Next(K), N - 1)
                           end
                   end,
            case Find(Start, 50) of
                none ->
                    {Owner, {skipped, <<"no row without the monkey's marker found near the drawn position">>}};
"#
    };
}

/// The Erlang the network operations (and the scenarios) start with: the
/// loopback TCP ports (`Listeners`, sorted) that the given processes
/// (`Candidates`, pids) listen on.
macro_rules! listeners {
    () => {
        r#"
Owners = maps:from_list([{O, true} || O <- Candidates]),
Listeners = lists:usort([Port || P <- erlang:ports(),
                erlang:port_info(P, name) =:= {name, "tcp_inet"},
                {connected, Owner} <- [erlang:port_info(P, connected)],
                maps:is_key(Owner, Owners),
                case prim_inet:getstatus(P) of {ok, St} -> lists:member(listen, St); _ -> false end,
                {ok, {Ip, Port}} <- [inet:sockname(P)],
                Ip =:= {127,0,0,1} orelse Ip =:= {0,0,0,0} orelse Ip =:= {0,0,0,0,0,0,0,0}]),
"#
    };
}

mod atom_exhaustion;
mod clear_mailbox;
mod drop_connection;
mod ets_churn;
mod ets_delete;
mod ets_modify;
#[cfg(test)]
mod example_gated;
mod exit_signal;
mod force_gc;
pub(crate) mod hold_binary;
pub(crate) mod kill_supervisor;
pub(crate) mod kill_worker;
mod link_crash_chain;
mod mailbox_flood;
mod malformed_data;
mod memory_hog;
mod message_delay;
mod mid_request_disconnect;
pub(crate) mod monitor_kill;
mod port_exhaustion;
mod priority;
mod registry_corrupt;
pub(crate) mod scheduler_contention;
mod socket_delay;
mod spawn_burst;
mod suspend;
mod sys_suspend;

use super::BeamTarget;
use chaos_engine::Operation;
use std::sync::Arc;

/// Things every operation file needs.
#[allow(unused_imports)]
pub(crate) mod prelude {
    pub use super::super::{BeamTarget, Candidate, HelperEffect, Reply, Want};
    pub use crate::dist::term::{atom, binary, int, list, tuple, Term, TermExt};
    pub use chaos_engine::{
        Category, Effect, NoParams, Operation, Outcome, Profile, SeededRng, Status, TypedOperation,
    };
    pub use futures::future::BoxFuture;
    pub use serde::{Deserialize, Serialize};
    pub use serde_json::{json, Value};
    pub use std::time::Duration;

    /// A uniform whole number of milliseconds in `low..=high`.
    pub fn ms(rng: &mut SeededRng, low: u64, high: u64) -> u64 {
        rng.range_inclusive(low, high)
    }
}

/// Every snippet the built-in operations and the run's own bookkeeping
/// evaluate, compiled together before the clock starts
/// ([`crate::compiled::prime`]): no operation starts interpreted, and every
/// run compiles the same set, so only the first run on a node adds the
/// atoms their compiled code needs (a cluster run adds its node-level
/// snippets, `cluster::ops::snippets`, once). A test runs every operation and checks
/// that nothing else was compiled, so this list cannot drift.
pub(crate) fn snippets() -> Vec<&'static str> {
    vec![
        atom_exhaustion::SNIPPET,
        clear_mailbox::LOSS,
        clear_mailbox::SNIPPET,
        drop_connection::SNIPPET,
        ets_churn::SNIPPET,
        ets_delete::SNIPPET,
        ets_modify::SNIPPET,
        exit_signal::SNIPPET,
        force_gc::SNIPPET,
        hold_binary::SNIPPET,
        kill_supervisor::NON_TOP,
        kill_supervisor::SNIPPET,
        link_crash_chain::SNIPPET,
        mailbox_flood::SNIPPET,
        malformed_data::SNIPPET,
        message_delay::SNIPPET,
        memory_hog::SNIPPET,
        mid_request_disconnect::SNIPPET,
        mid_request_disconnect::LISTENERS,
        kill_worker::SNIPPET,
        monitor_kill::MONITORED,
        monitor_kill::SNIPPET,
        port_exhaustion::SNIPPET,
        priority::SNIPPET,
        registry_corrupt::ENTRIES,
        registry_corrupt::SNIPPET,
        scheduler_contention::MEASURED,
        scheduler_contention::SNIPPET,
        socket_delay::OWNERS,
        spawn_burst::SNIPPET,
        suspend::SNIPPET,
        sys_suspend::SNIPPET,
        super::helper::KILL_HELPER,
        super::detect::STEADY,
        super::detect::READ_FILES,
        super::detect::SHAPES,
        super::CANDIDATES,
        super::PROCESS_INDEX,
        super::SUPERVISION_KEEPER,
        super::REACH,
        super::SAMPLE,
    ]
}

/// Every built-in operation. Those that declare a [`Operation::gate`] run
/// only when the user names them (`--allow NAME`, see [`chaos_engine::admit`]).
pub fn builtin() -> Vec<Arc<dyn Operation<BeamTarget>>> {
    #[allow(unused_mut)]
    let mut ops: Vec<Arc<dyn Operation<BeamTarget>>> = vec![
        // process
        Arc::new(kill_worker::KillWorker),
        Arc::new(spawn_burst::SpawnBurst),
        Arc::new(exit_signal::ExitSignal),
        Arc::new(link_crash_chain::LinkCrashChain),
        Arc::new(monitor_kill::MonitorKill),
        // memory
        Arc::new(hold_binary::HoldBinary),
        Arc::new(mailbox_flood::MailboxFlood),
        Arc::new(memory_hog::MemoryHog),
        Arc::new(ets_churn::EtsChurn),
        Arc::new(force_gc::ForceGc),
        // state
        Arc::new(ets_modify::EtsModify),
        Arc::new(ets_delete::EtsDelete),
        Arc::new(registry_corrupt::RegistryCorrupt),
        Arc::new(clear_mailbox::ClearMailbox),
        // network, on the node
        Arc::new(drop_connection::DropConnection),
        Arc::new(malformed_data::MalformedData),
        Arc::new(mid_request_disconnect::MidRequestDisconnect),
        Arc::new(socket_delay::SocketDelay),
        // timing
        Arc::new(suspend::Suspend),
        Arc::new(priority::Priority),
        Arc::new(scheduler_contention::SchedulerContention),
        Arc::new(sys_suspend::SysSuspend),
        Arc::new(message_delay::MessageDelay),
        // gated: irreversible or able to take the node down
        Arc::new(kill_supervisor::KillSupervisor),
        Arc::new(atom_exhaustion::AtomExhaustion),
        Arc::new(port_exhaustion::PortExhaustion),
    ];
    #[cfg(test)]
    ops.push(Arc::new(example_gated::ExampleGated));
    ops
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ops::{node_ops, partition};
    use chaos_engine::{NoParams, Profile, SeededRng};
    use serde::de::DeserializeOwned;
    use serde_json::{json, Value};

    const PROFILES: [Profile; 2] = [Profile::Demo, Profile::Aggressive];

    /// Every operation (built-in and node-level), with seeds 0..20 under
    /// both profiles: the same seed plans the same JSON, and that JSON (what
    /// events and replays carry) reads back strictly as the op's params type
    /// and writes out unchanged. New operations are covered by being listed.
    /// Checks each of `ops`; how many there were.
    fn plans_read_back<C: ?Sized>(ops: Vec<Arc<dyn Operation<C>>>) -> usize {
        for op in &ops {
            let name = op.name();
            for profile in PROFILES {
                for seed in 0..20 {
                    let plan = || op.plan(&mut SeededRng::new(seed), profile);
                    let planned = plan();
                    assert_eq!(planned, plan(), "{name}, seed {seed}: not deterministic");
                    assert_eq!(
                        op.read_params(&planned),
                        Ok(planned.clone()),
                        "{name}, seed {seed}, {}",
                        profile.name()
                    );
                }
            }
        }
        ops.len()
    }

    #[test]
    fn every_planned_params_reads_back_as_its_type() {
        assert!(plans_read_back(builtin()) >= 24);
        assert_eq!(plans_read_back(node_ops()), 4);
    }

    /// Reading `params` as `P` fails, and the reason says `why`.
    fn rejected<P: DeserializeOwned + std::fmt::Debug>(params: Value, why: &str) {
        match serde_json::from_value::<P>(params.clone()) {
            Ok(p) => panic!("{params} read as {p:?}"),
            Err(e) => assert!(e.to_string().contains(why), "{params}: {e}"),
        }
    }

    #[test]
    fn a_missing_extra_or_wrong_parameter_is_refused_by_name() {
        // Missing: named, not read as 0.
        rejected::<suspend::SuspendParams>(json!({}), "missing field `hold_ms`");
        rejected::<ets_modify::EtsModifyParams>(
            json!({ "table_pick": 1, "hold_ms": 500 }),
            "missing field `row_pick`",
        );
        rejected::<link_crash_chain::LinkCrashChainParams>(
            json!({ "chain_length": 3 }),
            "missing field `link_victim`",
        );
        rejected::<partition::PartitionParams>(
            json!({ "hold_ms": 2000, "side_pick": 0 }),
            "missing field `size_pick`",
        );
        // Extra: a misspelt key does not pass unnoticed.
        rejected::<sys_suspend::SysSuspendParams>(
            json!({ "hold_ms": 5, "hold": 5 }),
            "unknown field `hold`",
        );
        rejected::<NoParams>(json!({ "hold_ms": 5 }), "unknown field `hold_ms`");
        // Wrong shape: `link_victim` is a bool, `rows` a list, `mode` a string.
        rejected::<link_crash_chain::LinkCrashChainParams>(
            json!({ "chain_length": 3, "link_victim": 1 }),
            "expected a boolean",
        );
        rejected::<ets_churn::EtsChurnParams>(
            json!({ "rows": 100, "hold_ms": 500 }),
            "expected a sequence",
        );
        rejected::<registry_corrupt::RegistryCorruptParams>(
            json!({ "mode": 1, "hold_ms": 500 }),
            "expected a string",
        );
    }
}
