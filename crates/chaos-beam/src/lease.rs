//! Leases: the first line of defence that undoes every chaos effect at once
//! when the monkey goes silent — killed, frozen (SIGSTOP, a paused VM) or cut
//! off (a stalled network).
//!
//! One *lease keeper* process runs on each node the monkey works on. The
//! monkey renews its lease with one small message every quarter of the term
//! (`{renew, TermMs}`, 250 ms at the default 1 s term). Every process that
//! holds an effect — helpers, the compiled-module janitor, cluster partition
//! holders — monitors the keeper (a local monitor, bound as `Lease` in every
//! snippet) and undoes its effect when the keeper goes. The keeper goes when:
//! * the term passes without a renewal (`lease_expired`): the monkey is frozen
//!   or cut off;
//! * the monkey's node goes down (`monkey_gone`): it was killed, or closed;
//! * the monkey releases it at the end of a run (`normal`).
//!
//! Why a keeper and not `erlang:monitor_node/2` in every helper: a helper that
//! starts after the monkey is gone (its snippet was in flight) would make the
//! node *connect back* to the monkey, and that first outgoing connection
//! starts the node's native name resolver for good (two processes, two ETS
//! tables and a port left behind). Watching the monkey's node with
//! `net_kernel:monitor_nodes/2` never connects anywhere, and a monitor on a
//! keeper that is already gone fires at once. The per-helper deadline stays
//! as the last line of defence.

use crate::dist::term::{atom, int, show, tuple, Pid, Reference, TermExt};
use crate::dist::{DistClient, Event, Mailbox};
use crate::interpret::{interpret, EvalError};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The default term: an effect outlives a silent monkey by at most this (plus its undo).
pub const DEFAULT_TERM: Duration = Duration::from_secs(1);

/// Renewals are sent at most this far apart (and at least four per term).
const MAX_RENEW_INTERVAL: Duration = Duration::from_millis(250);

/// The keeper. Interpreted, never compiled: purging the run's modules must
/// not kill it. It runs at `high` priority: it does almost nothing, and a
/// node the run keeps busy (high-priority spinners of
/// `scheduler_contention`, a full mix at 1,000 ops/s on 10^6 processes)
/// once let a renewal wait past the term, which undid every effect early. It answers its own start (`{lease, Keeper}`) only once it
/// watches the monkey's node, so an effect holder never monitors a keeper
/// that could miss the monkey going.
const KEEPER: &str = r#"
Parent = self(),
Keeper = erlang:spawn_opt(fun() ->
    ok = net_kernel:monitor_nodes(true, [{node_type, all}]),
    case lists:member(Monkey, erlang:nodes(connected)) of
        true -> ok;
        false -> exit(monkey_gone)
    end,
    Parent ! {lease, self()},
    Now = fun() -> erlang:monotonic_time(millisecond) end,
    Loop = fun L(Until) ->
        receive
            {renew, Ms} -> L(Now() + Ms);
            release -> exit(normal);
            {nodedown, Monkey, _} -> exit(monkey_gone);
            _ -> L(Until)
        after max(0, Until - Now()) -> exit(lease_expired)
        end
    end,
    Loop(Now() + TermMs)
end, [{priority, high}]),
R = erlang:monitor(process, Keeper),
receive
    {lease, Keeper} -> erlang:demonitor(R, [flush]), Keeper;
    {'DOWN', R, process, _, Why} -> {error, Why}
after 5000 -> erlang:exit(Keeper, kill), {error, timeout}
end.
"#;

/// The Erlang fragment every effect holder waits in: until `release`, the
/// lease keeper `Lease` goes (monkey silent or gone), or `DeadlineMs` passes.
/// Bindings it needs: `Lease`, `DeadlineMs`. Use it with `concat!`.
#[macro_export]
macro_rules! hold_until_released {
    () => {
        "begin ChaosLeaseRef = erlang:monitor(process, Lease), \
         receive release -> ok; {'DOWN', ChaosLeaseRef, process, _, _} -> ok \
         after DeadlineMs -> ok end end"
    };
}

/// Counters of one lease, for the report and the benchmarks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LeaseStats {
    /// Renewal messages sent.
    pub renewals: u64,
    /// Times the lease expired while the connection was up (renewals came
    /// too late): every effect held then was undone early (spurious undos;
    /// 0 in a healthy run).
    pub expired_while_connected: u64,
    /// Times the keeper ended otherwise while the connection was up (killed,
    /// or the node shutting down): the effects were undone early too.
    pub keeper_lost: u64,
}

struct Shared {
    /// The running keeper, or the last one (already gone: a holder that
    /// monitors it undoes at once, which is what a lapsed lease means).
    keeper: Mutex<Pid>,
    term_ms: AtomicU64,
    renewals: AtomicU64,
    expired: AtomicU64,
    lost: AtomicU64,
    ended: AtomicBool,
}

/// The monkey's lease on one node: the keeper there and the task renewing it.
/// Dropping it stops the renewals and releases the keeper.
pub struct Lease {
    client: DistClient,
    shared: Arc<Shared>,
    _renewer: smol::Task<()>,
}

impl Lease {
    /// Start a keeper on the node behind `client` and keep renewing it.
    pub async fn start(client: &DistClient, term: Duration) -> Result<Self, EvalError> {
        let keeper = start_keeper(client, term).await?;
        let shared = Arc::new(Shared {
            keeper: Mutex::new(keeper.clone()),
            term_ms: AtomicU64::new(term.as_millis().max(1) as u64),
            renewals: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            ended: AtomicBool::new(false),
        });
        let mailbox = client.mailbox();
        let reference = mailbox.monitor(&keeper);
        let renewer = smol::spawn(renew(
            client.clone(),
            mailbox,
            shared.clone(),
            keeper,
            reference,
        ));
        Ok(Self {
            client: client.clone(),
            shared,
            _renewer: renewer,
        })
    }

    /// The keeper effect holders watch (bind it as `Lease`). A keeper that
    /// ended is still answered until its successor runs: a holder that
    /// monitors it then undoes at once, which is what a lapsed lease means.
    pub fn keeper(&self) -> Pid {
        self.shared.keeper.lock().unwrap().clone()
    }

    /// Change the term (sent with the next renewal).
    pub fn set_term(&self, term: Duration) {
        self.shared
            .term_ms
            .store(term.as_millis().max(1) as u64, Ordering::Relaxed);
    }

    /// Renewals sent and early ends so far.
    pub fn stats(&self) -> LeaseStats {
        LeaseStats {
            renewals: self.shared.renewals.load(Ordering::Relaxed),
            expired_while_connected: self.shared.expired.load(Ordering::Relaxed),
            keeper_lost: self.shared.lost.load(Ordering::Relaxed),
        }
    }

    /// End the lease: the keeper exits, every holder still waiting undoes.
    pub fn end(&self) {
        if !self.shared.ended.swap(true, Ordering::SeqCst) {
            let keeper = self.keeper();
            self.client.mailbox().send(&keeper, atom("release"));
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.end();
    }
}

async fn start_keeper(client: &DistClient, term: Duration) -> Result<Pid, EvalError> {
    let t = interpret(
        client,
        KEEPER,
        &[
            ("Monkey", atom(client.local_name())),
            ("TermMs", int(term.as_millis().max(1) as i64)),
        ],
        client.call_timeout(),
    )
    .await?;
    match t.as_pid() {
        Some(p) => Ok(p.clone()),
        None => Err(EvalError::Raised {
            class: "error".into(),
            reason: format!("the lease keeper did not start: {}", show(&t)),
            term: Box::new(t),
        }),
    }
}

/// Send `{renew, TermMs}` every quarter term (at most 250 ms apart); when the
/// keeper ends while the connection is up, count it and start another.
async fn renew(
    client: DistClient,
    mailbox: Mailbox,
    shared: Arc<Shared>,
    mut keeper: Pid,
    mut reference: Reference,
) {
    use futures::FutureExt;
    loop {
        let term = Duration::from_millis(shared.term_ms.load(Ordering::Relaxed));
        let interval = (term / 4).min(MAX_RENEW_INTERVAL);
        if shared.ended.load(Ordering::SeqCst) {
            return;
        }
        mailbox.send(
            &keeper,
            tuple(vec![atom("renew"), int(term.as_millis() as i64)]),
        );
        shared.renewals.fetch_add(1, Ordering::Relaxed);
        let deadline = std::time::Instant::now() + interval;
        // Wait out the interval, watching for the keeper's end.
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            let event = futures::select! {
                e = mailbox.recv().fuse() => e,
                _ = smol::Timer::after(left).fuse() => break,
            };
            let Some(event) = event else {
                return; // the connection is gone
            };
            let Event::Down {
                reference: r,
                reason,
                ..
            } = event
            else {
                continue;
            };
            if r != reference {
                continue;
            }
            if shared.ended.load(Ordering::SeqCst) || client.closed_reason().is_some() {
                return;
            }
            if reason.as_atom() == Some("lease_expired") {
                shared.expired.fetch_add(1, Ordering::Relaxed);
            } else {
                shared.lost.fetch_add(1, Ordering::Relaxed);
            }
            tracing::warn!(
                reason = %show(&reason),
                "the lease on {} ended while connected: every effect held there was undone early",
                client.target()
            );
            // Compiled snippets were unloaded with it: interpret from now on.
            crate::compiled::disable(&client);
            match start_keeper(&client, term).await {
                Ok(k) => {
                    reference = mailbox.monitor(&k);
                    *shared.keeper.lock().unwrap() = k.clone();
                    keeper = k;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not start a new lease keeper");
                    return;
                }
            }
            break;
        }
    }
}
