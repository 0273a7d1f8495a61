//! State chaos: take a registered application process's name away for
//! 0.2–3 s (demo) / 1–10 s (aggressive), in one of two modes drawn in `plan`:
//!
//! * `unregister` — the name is simply gone: calls and sends by name fail
//!   (`noproc`, `badarg`);
//! * `decoy` — the helper registers itself under the name and swallows every
//!   message (including `'$gen_call'`s, so callers time out).
//!
//! Confirmed by `whereis(Name)` returning `undefined` / the decoy. On release,
//! or at its own deadline, the helper gives up the decoy name and registers
//! the original pid again if it is alive and the name is free. If the victim
//! died meanwhile, the decoy frees the name at once (so its supervisor can
//! register the replacement), and whoever holds the name at release time (a
//! restarted replacement) is left alone. The helper traps exits so only a
//! `kill` can stop it before it has put the name back; if it is killed, the
//! name stays missing.

use super::prelude::*;

/// Unregister a process's name, or hijack it with a decoy.
pub struct RegistryCorrupt;

pub(crate) const SNIPPET: &str = r#"
case erlang:process_info(Victim, registered_name) of
    {registered_name, Name} ->
        Parent = self(),
        Helper = erlang:spawn(fun() ->
            process_flag(trap_exit, true),
            Me = self(),
            Deadline = erlang:monotonic_time(millisecond) + DeadlineMs,
            Mon = erlang:monitor(process, Victim),
            Took = case whereis(Name) of
                       Victim ->
                           try unregister(Name) of
                               true ->
                                   case Mode of
                                       decoy -> try register(Name, Me) of true -> decoy catch error:badarg -> lost end;
                                       _ -> unregistered
                                   end
                           catch error:badarg -> gone
                           end;
                       _ -> gone
                   end,
            Parent ! {took, Me, Took},
            %% The janitor: if the monkey's lease ends, give the name back at once.
            LeaseRef = erlang:monitor(process, Lease),
            Loop = fun L(Dropped) ->
                Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
                receive
                    release -> Dropped;
                    {'DOWN', LeaseRef, process, _, _} -> Dropped;
                    {'DOWN', Mon, process, _, _} ->
                        %% the victim died: free the name for its replacement
                        _ = whereis(Name) =:= Me andalso unregister(Name),
                        L(Dropped);
                    _ -> L(Dropped + 1)
                after Left -> Dropped
                end
            end,
            case Took of
                gone -> exit(normal);
                _ ->
                    _ = Loop(0),
                    _ = whereis(Name) =:= Me andalso unregister(Name),
                    Undone = case whereis(Name) of
                                 undefined ->
                                     case erlang:is_process_alive(Victim) of
                                         true ->
                                             try register(Name, Victim) of
                                                 true -> ok
                                             catch error:badarg ->
                                                 case erlang:process_info(Victim, registered_name) of
                                                     {registered_name, Name} -> ok;
                                                     {registered_name, Other} ->
                                                         {failed, iolist_to_binary(io_lib:format(
                                                             "~0p now has another name, ~0p", [Victim, Other]))};
                                                     _ -> ok
                                                 end
                                             end;
                                         false -> ok  %% died; nothing to give the name back to
                                     end;
                                 _ -> ok  %% back already, or held by a replacement: left alone
                             end,
                    exit({undone, Undone})
            end
        end),
        receive
            {took, Helper, gone} -> gone;
            {took, Helper, Took} ->
                Now = whereis(Name),
                case {Took, Now} of
                    {unregistered, undefined} ->
                        {confirmed, iolist_to_binary(io_lib:format(
                            "~0p unregistered from ~0p, whereis returns undefined; registered again after ~b ms",
                            [Name, Victim, HoldMs])), #{}, Helper};
                    {decoy, Helper} ->
                        {confirmed, iolist_to_binary(io_lib:format(
                            "~0p taken from ~0p by the decoy ~0p (swallows every message), whereis returns the decoy; "
                            "given back after ~b ms", [Name, Victim, Helper, HoldMs])), #{}, Helper};
                    _ ->
                        Helper ! release,
                        {unconfirmed, iolist_to_binary(io_lib:format(
                            "~0p: mode ~0p, but whereis returns ~0p; released at once", [Name, Took, Now]))}
                end
        after 2000 ->
            erlang:exit(Helper, kill),
            {failed, <<"the registry helper did not report within 2 s">>}
        end;
    _ -> gone  %% dead ([] would mean no name any more: gone as well)
end.
"#;

/// The parameters of one registry corruption.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryCorruptParams {
    /// How the name is taken away: `unregister` or `decoy`.
    pub mode: String,
    /// How long it stays away before it is given back.
    pub hold_ms: i64,
}

impl TypedOperation<BeamTarget> for RegistryCorrupt {
    type Params = RegistryCorruptParams;

    fn name(&self) -> &'static str {
        "registry_corrupt"
    }

    fn category(&self) -> Category {
        Category::State
    }

    fn describe(&self) -> &'static str {
        "unregister a process's name or hijack it with a decoy, then give it back; confirmed by whereis"
    }

    fn plan(&self, rng: &mut SeededRng, profile: Profile) -> RegistryCorruptParams {
        let (low, high) = match profile {
            Profile::Demo => (200, 3_000),
            Profile::Aggressive => (1_000, 10_000),
        };
        let mode = if rng.range_inclusive(0, 1) == 0 {
            "unregister"
        } else {
            "decoy"
        };
        RegistryCorruptParams {
            mode: mode.to_string(),
            hold_ms: ms(rng, low, high) as i64,
        }
    }

    fn run<'a>(&'a self, ctx: &'a BeamTarget, p: RegistryCorruptParams) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let hold = p.hold_ms;
            let mode = p.mode.as_str();
            let want = Want {
                named_only: true,
                ..Want::default()
            };
            ctx.on_victim(want, |v| async move {
                let deadline = hold + super::super::helper::DEADLINE_MARGIN.as_millis() as i64;
                let name = v.name.clone().unwrap_or_default();
                // Held from before it is taken: a kill drawn meanwhile sees it.
                let names = ctx.hold_name(&name, v.app.as_deref());
                let reply = ctx
                    .reply(
                        SNIPPET,
                        &[
                            ("Victim", v.pid.clone().into()),
                            ("Mode", atom(mode)),
                            ("HoldMs", int(hold)),
                            ("DeadlineMs", int(deadline)),
                        ],
                    )
                    .await;
                let Some(h) = reply.helper() else {
                    names.lock().unwrap().release(&name);
                    return (reply, None);
                };
                let effect = Box::new(
                    ctx.held_by(
                        h,
                        Duration::from_millis(hold.max(0) as u64),
                        format!("name {name} of {} taken away ({mode})", v.pid_text),
                    )
                    .clearing(ctx.affect(&v), &v.pid_text)
                    .releasing_name(names, &name),
                ) as Box<dyn Effect>;
                (reply, Some(effect))
            })
            .await
        })
    }
}
