//! The after-run audit: what is still on the node once the run undid
//! everything (helpers alive, processes suspended, priorities, modules).

use super::*;
use crate::dist::term::tuple;
use crate::failure_kind::FailureKind;
use chaos_engine::AuditFinding;

impl BeamTarget {
    /// After clean-up: what is still there on the target (helpers alive,
    /// processes left suspended, the run's compiled modules). Unloads the
    /// compiled modules first: they are the last thing the run put there.
    pub async fn audit(&self) -> Result<Vec<AuditFinding>, EvalError> {
        let mut found = Vec::new();
        // The process index and the supervision keeper are helpers whose
        // code may be in the modules.
        self.stop_process_index().await;
        self.stop_supervision_keeper().await;
        let prefix = crate::compiled::module_prefix(&self.client);
        let unloaded = crate::compiled::unload(&self.client).await?;
        for m in &unloaded.forced {
            found.push(AuditFinding::left(format!(
                "module {m} had to be purged while a process still ran its code"
            )));
        }
        let helpers: Vec<Term> = self.helpers().into_iter().map(Term::from).collect();
        // Past the cap some touched processes are not remembered; no process
        // is scanned for them: a suspension by the monkey lasts only while
        // the helper that made it lives (ERTS lifts it when its suspender
        // exits), and a live helper is reported below anyway.
        let remembered = |set: &Mutex<HashSet<Pid>>| -> Vec<Term> {
            set.lock()
                .unwrap()
                .iter()
                .cloned()
                .map(Term::from)
                .collect()
        };
        let touched = remembered(&self.ledger.touched);
        let sys_touched = remembered(&self.ledger.sys_touched);
        let priorities: Vec<Term> = self
            .ledger
            .priorities
            .lock()
            .unwrap()
            .iter()
            .map(|(pid, (had, set))| tuple(vec![pid.clone().into(), atom(had), atom(set)]))
            .collect();
        // Helpers still alive (each holds an effect: memory, ports, tables, a
        // decoy name, a saved row); any process left suspended; and the
        // processes an effect was put on: still sys-suspended, still with a
        // message-delay hook, or still at a priority the monkey gave them
        // (one they had before is not ours).
        let snippet = r#"
            Fmt = fun(F, A) -> iolist_to_binary(io_lib:format(F, A)) end,
            Me = self(),
            Alive = [P || P <- Touched, erlang:is_process_alive(P)],
            Askers = [{P, erlang:spawn(fun() -> Me ! {audit, self(), catch sys:get_status(P, 200)} end)}
                      || P <- SysTouched, erlang:is_process_alive(P),
                         erlang:process_info(P, status) =/= {status, suspended}],
            Statuses = [{P, receive {audit, A, St} -> St after 1000 -> none end} || {P, A} <- Askers],
            SysSuspended = [P || {P, {status, _, _, [_, suspended | _]}} <- Statuses],
            %% message_delay's sys debug hook, still installed.
            Hooked = [P || {P, {status, _, _, [_, _, _, Dbg | _]}} <- Statuses, is_list(Dbg),
                           lists:any(fun({{chaos_monkey_delay, _}, _}) -> true; (_) -> false end, Dbg)],
            [Fmt("helper process ~p is still alive", [P]) || P <- Helpers, erlang:is_process_alive(P)] ++
            %% Only the monkey's suspensions are looked for: on the processes it
            %% touched (not a scan of every process: a big node's end of run
            %% stays short).
            %% ERTS's own processes (the literal area collector after a purge) wait in a suspended state.
            [{timing_anomaly, Fmt("process ~p is still suspended", [P])} || P <- Alive,
                                                          erlang:process_info(P, status) =:= {status, suspended},
                                                          (catch erts_internal:is_system_process(P)) =/= true] ++
            [Fmt("process ~p is still sys-suspended", [P]) || P <- SysSuspended] ++
            [Fmt("process ~p still has the monkey's message-delay hook", [P]) || P <- Hooked] ++
            [Fmt("process ~p still runs at priority ~p, which the monkey gave it (it had ~p)", [P, Set, Had])
             || {P, Had, Set} <- Priorities, Set =/= Had,
                erlang:process_info(P, priority) =:= {priority, Set}] ++
            [Fmt("module ~p is still loaded", [M]) || Prefix =/= <<>>, {M, _} <- code:all_loaded(),
                                                      lists:prefix(binary_to_list(Prefix), atom_to_list(M))]."#;
        let t = self
            .exec(
                snippet,
                &[
                    ("Helpers", list(helpers)),
                    ("Touched", list(touched)),
                    ("SysTouched", list(sys_touched)),
                    ("Priorities", list(priorities)),
                    ("Prefix", binary(prefix.unwrap_or_default().as_bytes())),
                ],
            )
            .await?;
        // A plain text is something left behind; `{Kind, Text}` is also a
        // failure mode of the target (a process left suspended is a timing anomaly).
        found.extend(t.as_list().unwrap_or_default().iter().filter_map(|t| {
            match t.as_tuple() {
                Some([kind, text]) => {
                    let kind: FailureKind =
                        serde_json::from_value(Value::from(kind.as_atom()?)).ok()?;
                    let text = text.as_text()?;
                    Some(AuditFinding::failure(
                        kind.name(),
                        crate::elixir::readable(&text),
                    ))
                }
                _ => t
                    .as_text()
                    .map(|text| AuditFinding::left(crate::elixir::readable(&text))),
            }
        }));
        Ok(found)
    }
}
