//! The distribution client against a hostile peer.
//!
//! A real Erlang node never sends malformed frames, so the peer here is a fake:
//! a small server on 127.0.0.1 that runs the server side of the handshake with
//! `erl_dist`, answers the client's first call (`erlang:whereis(user)`) and
//! then misbehaves. Whatever it does, the client must not panic, must not hang
//! (every wait below is bounded) and must end in a clear state: the connection
//! is either still usable or closed with every pending call failed with
//! `CallError::Disconnected`.

use chaos_beam::dist::term::{atom, tuple, TermExt};
use chaos_beam::dist::{
    CallError, ConnectError, ConnectOptions, Cookie, CookieSource, DistClient, Event, RecvError,
};
use erl_dist::handshake::{HandshakeStatus, ServerSideHandshake};
use erl_dist::message::{Message, SpawnRequest};
use erl_dist::node::{Creation, LocalNode};
use erl_dist::term::{FixInteger, List, Mfa, Pid, PidOrAtom, Reference, Term};
use futures::future::Either;
use futures::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::{TcpListener, TcpStream};
use std::future::Future;
use std::time::{Duration, Instant};

const COOKIE: &str = "hostile-test-cookie";
const PEER: &str = "fake@127.0.0.1";
/// Bound for any single step of a test; nothing legitimate takes this long.
const LIMIT: Duration = Duration::from_secs(3);
/// Long enough that liveness never interferes, except where it is the subject.
const QUIET_TICK: Duration = Duration::from_secs(10);

/// `fut`, or a test failure naming the hang.
async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    match futures::future::select(Box::pin(fut), Box::pin(smol::Timer::after(limit))).await {
        Either::Left((v, _)) => v,
        Either::Right(_) => panic!("hang: {what} took longer than {limit:?}"),
    }
}

fn options(port: u16, tick: Duration) -> ConnectOptions {
    let mut opts = ConnectOptions::new(
        PEER.parse().unwrap(),
        Cookie::new(COOKIE, CookieSource::Flag).unwrap(),
    );
    opts.port = Some(port);
    opts.connect_timeout = Duration::from_millis(500);
    opts.call_timeout = Duration::from_secs(2);
    opts.tick = tick;
    opts
}

/// The fake node's end of an established connection.
struct Peer {
    stream: TcpStream,
    creation: u32,
    next_id: std::cell::Cell<u32>,
}

impl Peer {
    /// Server side of the handshake with `cookie`.
    async fn handshake(stream: TcpStream, cookie: &str) -> Result<Peer, String> {
        let creation = Creation::random();
        let local = LocalNode::new(PEER.parse().unwrap(), creation);
        let mut hs = ServerSideHandshake::new(stream, local, cookie);
        hs.execute_recv_name().await.map_err(|e| e.to_string())?;
        let (stream, _) = hs
            .execute_rest(HandshakeStatus::Ok)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Peer {
            stream,
            creation: creation.get(),
            next_id: std::cell::Cell::new(1000),
        })
    }

    fn next_id(&self) -> u32 {
        self.next_id.set(self.next_id.get() + 1);
        self.next_id.get()
    }

    fn pid(&self) -> Pid {
        Pid::new(PEER, self.next_id(), 0, self.creation)
    }

    fn make_ref(&self) -> Reference {
        Reference {
            node: PEER.into(),
            id: vec![self.next_id(), 7, 7],
            creation: self.creation,
        }
    }

    /// Raw bytes on the socket, no framing added.
    async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("peer write");
        self.stream.flush().await.expect("peer flush");
    }

    /// One frame with a correct length prefix around `body`.
    async fn send_raw(&mut self, body: &[u8]) {
        let mut frame = (body.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(body);
        self.write(&frame).await;
    }

    async fn send(&mut self, msg: Message) {
        self.send_raw(&pass_through(msg)).await;
    }

    /// Next message from the client (ticks skipped); `None` once it closed.
    async fn recv(&mut self) -> Option<Message> {
        loop {
            let mut len = [0u8; 4];
            self.stream.read_exact(&mut len).await.ok()?;
            let len = u32::from_be_bytes(len) as usize;
            if len == 0 {
                continue;
            }
            let mut body = vec![0; len];
            self.stream.read_exact(&mut body).await.ok()?;
            assert_eq!(body[0], 112, "the client sends pass-through frames");
            return Some(Message::read_from(&mut &body[1..]).expect("the client's frames decode"));
        }
    }

    /// The first message `pick` accepts (others skipped), within [`LIMIT`].
    async fn expect<T>(&mut self, what: &str, mut pick: impl FnMut(Message) -> Option<T>) -> T {
        within(LIMIT, what, async {
            loop {
                let msg = self
                    .recv()
                    .await
                    .unwrap_or_else(|| panic!("client closed while waiting for {what}"));
                if let Some(v) = pick(msg) {
                    return v;
                }
            }
        })
        .await
    }

    async fn expect_spawn(&mut self) -> SpawnRequest {
        self.expect("a spawn request (a call)", |m| match m {
            Message::SpawnRequest(r) => Some(r),
            _ => None,
        })
        .await
    }

    /// Reply to a call as `erpc:execute_call/4` does: spawned, then `'DOWN'`
    /// with `{Ref, return, Value}`. Returns the "spawned" pid.
    async fn answer(&mut self, req: &SpawnRequest, value: Term) -> Pid {
        let pid = self.pid();
        self.send(spawn_reply(req, PidOrAtom::Pid(pid.clone())))
            .await;
        self.send(down(req, &pid, result(req, "return", value)))
            .await;
        pid
    }
}

fn pass_through(msg: Message) -> Vec<u8> {
    let mut body = vec![112];
    msg.write_into(&mut body).expect("encode");
    body
}

fn spawn_reply(req: &SpawnRequest, result: PidOrAtom) -> Message {
    Message::spawn_reply(
        req.req_id.clone(),
        req.from_pid.clone(),
        FixInteger::from(0),
        result,
    )
}

fn down(req: &SpawnRequest, from: &Pid, reason: Term) -> Message {
    Message::payload_monitor_p_exit(
        PidOrAtom::Pid(from.clone()),
        req.from_pid.clone(),
        req.req_id.clone(),
        reason,
    )
}

/// `{Ref, Class, Value}` with the call's result reference (1st argument).
fn result(req: &SpawnRequest, class: &str, value: Term) -> Term {
    tuple(vec![req.arg_list.elements[0].clone(), atom(class), value])
}

/// `(module, function)` of a call's spawn request.
fn call_mf(req: &SpawnRequest) -> (String, String) {
    let a = &req.arg_list.elements;
    (
        a[1].as_atom().unwrap_or("?").to_string(),
        a[2].as_atom().unwrap_or("?").to_string(),
    )
}

/// A connected client and the fake node it talks to.
async fn start(tick: Duration) -> (DistClient, Peer) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let opts = options(listener.local_addr().unwrap().port(), tick);
    let peer = async {
        let (stream, _) = listener.accept().await.unwrap();
        let mut peer = Peer::handshake(stream, COOKIE).await.expect("handshake");
        let req = peer.expect_spawn().await;
        assert_eq!(call_mf(&req), ("erlang".to_string(), "whereis".to_string()));
        peer.answer(&req, atom("undefined")).await;
        peer
    };
    let (client, peer) = within(
        LIMIT,
        "connect",
        futures::future::join(DistClient::connect(&opts), peer),
    )
    .await;
    let client = client.expect("connect to the fake node");
    assert_eq!(client.stats().undecodable, 0);
    (client, peer)
}

/// A call running on the executor, so the test can play the peer meanwhile.
fn spawn_call(client: &DistClient, function: &str) -> smol::Task<Result<Term, CallError>> {
    let client = client.clone();
    let function = function.to_string();
    smol::spawn(async move { client.call("test", &function, vec![]).await })
}

/// A pass-through frame body from encoded terms.
fn frame_of(terms: &[Term]) -> Vec<u8> {
    let mut body = vec![112];
    for t in terms {
        t.encode(&mut body).unwrap();
    }
    body
}

fn int(v: i32) -> Term {
    Term::FixInteger(FixInteger::from(v))
}

/// Deterministic noise.
fn noise(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Frame bodies that must each be skipped (and counted as undecodable).
fn garbage_frames(client_pid: &Pid) -> Vec<(&'static str, Vec<u8>)> {
    let peer_pid = Term::Pid(Pid::new(PEER, 5, 0, 1));
    let to = Term::Pid(client_pid.clone());
    let mut send_ctrl = frame_of(&[tuple(vec![int(2), atom(""), to.clone()])]);
    let mut truncated = send_ctrl.clone();
    truncated.truncate(truncated.len() - 3);
    let mut frames = vec![
        ("random bytes", noise(1, 64)),
        ("random bytes after the pass-through tag", {
            let mut b = vec![112, 131];
            b.extend(noise(2, 200));
            b
        }),
        ("more random term bytes", {
            let mut b = vec![112, 131, 104, 5];
            b.extend(noise(3, 300));
            b
        }),
        ("unknown type tag", vec![113, 131, 104, 1, 97, 2]),
        ("type tag only", vec![112]),
        ("one zero byte", vec![0]),
        ("bad term version", vec![112, 130, 104, 1, 97, 2]),
        ("truncated tuple", vec![112, 131, 104, 4, 97, 2, 106]),
        ("truncated control message", truncated),
        ("control without its payload", send_ctrl.clone()),
        ("unknown op", frame_of(&[tuple(vec![int(99), atom("a")])])),
        (
            "op is not an integer",
            frame_of(&[tuple(vec![atom("send"), to.clone()])]),
        ),
        ("empty control tuple", frame_of(&[tuple(vec![])])),
        ("control is not a tuple", frame_of(&[atom("hello")])),
        (
            "SEND with an atom for the pid",
            frame_of(&[tuple(vec![int(2), atom(""), atom("nobody")]), atom("m")]),
        ),
        (
            "MONITOR_P_EXIT with the wrong arity",
            frame_of(&[tuple(vec![int(21), peer_pid.clone(), to.clone()])]),
        ),
        (
            "MONITOR_P_EXIT with an integer reference",
            frame_of(&[tuple(vec![
                int(21),
                peer_pid.clone(),
                to.clone(),
                int(42),
                atom("normal"),
            ])]),
        ),
        (
            "SPAWN_REPLY with an atom reference",
            frame_of(&[tuple(vec![
                int(31),
                atom("r"),
                to.clone(),
                int(0),
                peer_pid,
            ])]),
        ),
        // Inputs aimed at the term decoder itself (`eetf` trusts length fields,
        // has unimplemented tags and recurses without limit).
        (
            "list claiming 4G elements",
            vec![112, 131, 108, 255, 255, 255, 255, 106],
        ),
        (
            "tuple claiming 4G elements",
            vec![112, 131, 105, 255, 255, 255, 255, 106],
        ),
        (
            "map claiming 4G pairs",
            vec![112, 131, 116, 255, 255, 255, 255],
        ),
        (
            "binary claiming 4 GiB",
            vec![112, 131, 109, 255, 255, 255, 255, 1, 2],
        ),
        (
            "big integer claiming 4 GiB",
            vec![112, 131, 111, 255, 255, 255, 255, 0, 1],
        ),
        (
            "bit binary with 0 tail bits",
            vec![112, 131, 77, 0, 0, 0, 1, 0, 255],
        ),
        (
            "bit binary with 200 tail bits",
            vec![112, 131, 77, 0, 0, 0, 1, 200, 255],
        ),
        ("atom cache reference", vec![112, 131, 82, 0]),
        ("distribution header", vec![112, 131, 68, 0]),
        (
            "compressed garbage",
            vec![112, 131, 80, 0, 0, 0, 9, 1, 2, 3, 4],
        ),
        ("fun with 4G free variables", {
            let mut b = vec![112, 131, 112, 0, 0, 0, 60, 0];
            b.extend([0; 16]); // uniq
            b.extend([0, 0, 0, 0]); // index
            b.extend([255, 255, 255, 255]); // num_free
            b.extend([119, 1, b'm', 97, 0, 97, 0]); // module, old index, old uniq
            b.extend([88, 119, 1, b'n', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]); // pid
            b
        }),
        ("old fun with 4G free variables", {
            let mut b = vec![112, 131, 117, 255, 255, 255, 255];
            b.extend([88, 119, 1, b'n', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]); // pid
            b.extend([119, 1, b'm', 97, 0, 97, 0]); // module, index, uniq
            b
        }),
        ("100 000 nested tuples", {
            let mut b = vec![112, 131];
            for _ in 0..100_000 {
                b.extend([104, 1]);
            }
            b.push(106);
            b
        }),
        ("100 000 nested lists", {
            let mut b = vec![112, 131];
            for _ in 0..100_000 {
                b.extend([108, 0, 0, 0, 1]);
            }
            b.push(106);
            b
        }),
        ("export with a bad arity", {
            let mut b = vec![112, 131, 113, 119, 1, b'm', 119, 1, b'f', 98, 0, 0, 1, 0];
            b.push(106);
            b
        }),
    ];
    // The control message alone decodes; its payload is junk.
    send_ctrl.extend([131, 255]);
    frames.push(("SEND with a junk payload", send_ctrl));
    frames
}

#[test]
fn garbage_frames_are_skipped_and_counted() {
    smol::block_on(async {
        let (client, mut peer) = start(QUIET_TICK).await;
        let call = spawn_call(&client, "answer");
        let req = peer.expect_spawn().await;
        let frames = garbage_frames(&req.from_pid);
        let (first, second) = frames.split_at(frames.len() / 2);
        // Garbage, the spawn reply, more garbage, then the result.
        for (_, body) in first {
            peer.send_raw(body).await;
        }
        let remote = peer.pid();
        peer.send(spawn_reply(&req, PidOrAtom::Pid(remote.clone())))
            .await;
        for (_, body) in second {
            peer.send_raw(body).await;
        }
        peer.send(down(&req, &remote, result(&req, "return", int(42))))
            .await;
        let answer = within(LIMIT, "the call amid garbage", call).await;
        assert_eq!(answer.unwrap().as_i64(), Some(42));
        assert_eq!(
            client.stats().undecodable,
            frames.len() as u64,
            "every bad frame is counted once: {:?}",
            frames.iter().map(|(n, _)| *n).collect::<Vec<_>>()
        );
        assert_eq!(client.closed_reason(), None);
        // Still fully usable.
        let call = spawn_call(&client, "again");
        let req = peer.expect_spawn().await;
        peer.answer(&req, atom("fine")).await;
        let answer = within(LIMIT, "a later call", call).await;
        assert_eq!(answer.unwrap().as_atom(), Some("fine"));
    });
}

#[test]
fn unexpected_messages_are_answered_or_dropped() {
    smol::block_on(async {
        let (client, mut peer) = start(QUIET_TICK).await;
        let mailbox = client.mailbox();
        let before = client.stats().unexpected;
        let theirs = peer.pid();
        // Our own pids, as the peer learns them from a call.
        let call = spawn_call(&client, "who");
        let req = peer.expect_spawn().await;
        peer.answer(&req, atom("ok")).await;
        within(LIMIT, "a call", call).await.unwrap();
        let rpc = req.from_pid.clone();
        let ours_unknown = Pid::new(rpc.node.name.as_str(), 4242, 0, rpc.creation);
        let elsewhere = Pid::new("other@127.0.0.1", 7, 0, 3);

        // Messages and signals for pids that do not exist.
        for to in [&ours_unknown, &elsewhere] {
            peer.send(Message::send(to.clone(), atom("hello"))).await;
            peer.send(Message::send_sender(theirs.clone(), to.clone(), atom("hi")))
                .await;
            peer.send(Message::link(theirs.clone(), to.clone())).await;
            peer.send(Message::exit(theirs.clone(), to.clone(), atom("boom")))
                .await;
            peer.send(Message::exit2(theirs.clone(), to.clone(), atom("kill")))
                .await;
            peer.send(Message::payload_exit(theirs.clone(), to.clone(), atom("x")))
                .await;
            peer.send(Message::unlink(theirs.clone(), to.clone())).await;
            peer.send(Message::group_leader(theirs.clone(), to.clone()))
                .await;
        }
        let alias = peer.make_ref();
        peer.send(Message::alias_send(
            theirs.clone(),
            alias,
            atom("via alias"),
        ))
        .await;
        peer.send(Message::reg_send(
            theirs.clone(),
            "some_name".into(),
            atom("m"),
        ))
        .await;
        peer.send(Message::node_link()).await;
        peer.send(Message::demonitor_p(
            theirs.clone(),
            PidOrAtom::Pid(ours_unknown.clone()),
            peer.make_ref(),
        ))
        .await;

        // A monitor on a pid that does not exist: immediate `noproc`.
        let mref = peer.make_ref();
        peer.send(Message::monitor_p(
            theirs.clone(),
            PidOrAtom::Pid(ours_unknown.clone()),
            mref.clone(),
        ))
        .await;
        let reason = peer
            .expect("noproc for a monitor on an unknown pid", |m| match m {
                Message::MonitorPExit(x) if x.reference == mref => Some(x.reason),
                _ => None,
            })
            .await;
        assert_eq!(reason.as_atom(), Some("noproc"));

        // The group leader protocol, sent to the pid our calls come from.
        let reply_as = peer.make_ref();
        let request = tuple(vec![
            atom("io_request"),
            Term::Pid(theirs.clone()),
            Term::from(reply_as.clone()),
            tuple(vec![atom("put_chars"), atom("unicode"), atom("hi")]),
        ]);
        peer.send(Message::send(rpc.clone(), request)).await;
        let reply = peer
            .expect("io_reply", |m| match m {
                Message::Send(s) if s.to_pid == theirs => Some(s.message),
                _ => None,
            })
            .await;
        let reply = reply.as_tuple().expect("io_reply tuple").to_vec();
        assert_eq!(reply[0].as_atom(), Some("io_reply"));
        assert_eq!(reply[1], Term::from(reply_as));
        assert_eq!(reply[2].as_atom(), Some("ok"));

        // The peer asks us to spawn something: refused with a reply.
        let spawn_id = peer.make_ref();
        peer.send(Message::spawn_request(
            spawn_id.clone(),
            theirs.clone(),
            theirs.clone(),
            Mfa {
                module: "os".into(),
                function: "cmd".into(),
                arity: FixInteger::from(1),
            },
            List::nil(),
            List::from(vec![atom("rm -rf /")]),
        ))
        .await;
        let refused = peer
            .expect("a spawn reply", |m| match m {
                Message::SpawnReply(r) if r.req_id == spawn_id => Some(r),
                _ => None,
            })
            .await;
        assert_eq!(refused.to_pid, theirs);
        assert!(matches!(refused.result, PidOrAtom::Atom(_)), "{refused:?}");

        // UNLINK_ID is acknowledged.
        peer.send(Message::unlink_id(
            int(77),
            theirs.clone(),
            ours_unknown.clone(),
        ))
        .await;
        peer.expect("UNLINK_ID_ACK", |m| match m {
            Message::UnlinkIdAck(a) if a.id == int(77) => Some(()),
            _ => None,
        })
        .await;

        // Still up, calls still work, mailboxes still get their messages.
        peer.send(Message::send(
            mailbox.pid().clone(),
            atom("for the mailbox"),
        ))
        .await;
        let got = within(LIMIT, "mailbox message", mailbox.recv_timeout(LIMIT)).await;
        assert!(
            matches!(&got, Ok(Event::Message(t)) if t.as_atom() == Some("for the mailbox")),
            "{got:?}"
        );
        let call = spawn_call(&client, "later");
        let req = peer.expect_spawn().await;
        peer.answer(&req, atom("still_fine")).await;
        let answer = within(LIMIT, "a later call", call).await;
        assert_eq!(answer.unwrap().as_atom(), Some("still_fine"));
        assert_eq!(client.closed_reason(), None);
        assert_eq!(client.stats().undecodable, 0);
        assert!(client.stats().unexpected > before);
    });
}

#[test]
fn stray_and_duplicate_replies_are_ignored() {
    smol::block_on(async {
        let (client, mut peer) = start(QUIET_TICK).await;
        let call = spawn_call(&client, "first");
        let req = peer.expect_spawn().await;
        let rpc = req.from_pid.clone();

        // Replies to requests we never made.
        let stranger = peer.pid();
        let unknown = SpawnRequest {
            req_id: peer.make_ref(),
            ..req.clone()
        };
        peer.send(spawn_reply(&unknown, PidOrAtom::Pid(stranger.clone())))
            .await;
        peer.send(spawn_reply(
            &unknown,
            PidOrAtom::Atom("system_limit".into()),
        ))
        .await;
        peer.send(Message::spawn_reply_tt(
            peer.make_ref(),
            rpc.clone(),
            FixInteger::from(0),
            PidOrAtom::Pid(stranger.clone()),
            atom("token"),
        ))
        .await;
        peer.send(down(&unknown, &stranger, result(&req, "return", int(1))))
            .await;
        peer.send(Message::monitor_p_exit(
            PidOrAtom::Atom("gone".into()),
            rpc.clone(),
            peer.make_ref(),
            atom("noproc"),
        ))
        .await;
        // A 'DOWN' for a mailbox that does not exist, and one for the heartbeat.
        for id in [4242, 2] {
            let to = Pid::new(rpc.node.name.as_str(), id, 0, rpc.creation);
            peer.send(Message::monitor_p_exit(
                PidOrAtom::Pid(stranger.clone()),
                to,
                peer.make_ref(),
                atom("normal"),
            ))
            .await;
        }

        // The real answer, then every reply again (with another value).
        let remote = peer.answer(&req, int(1)).await;
        peer.send(spawn_reply(&req, PidOrAtom::Pid(remote.clone())))
            .await;
        peer.send(spawn_reply(&req, PidOrAtom::Atom("badarg".into())))
            .await;
        peer.send(down(&req, &remote, result(&req, "return", int(2))))
            .await;
        let answer = within(LIMIT, "the call", call).await;
        assert_eq!(answer.unwrap().as_i64(), Some(1));

        // A malformed result: `{Ref, error}` instead of `{Ref, error, Reason, Stack}`.
        let call = spawn_call(&client, "short_result");
        let req = peer.expect_spawn().await;
        let remote = peer.pid();
        peer.send(spawn_reply(&req, PidOrAtom::Pid(remote.clone())))
            .await;
        let short = tuple(vec![req.arg_list.elements[0].clone(), atom("error")]);
        peer.send(down(&req, &remote, short)).await;
        let answer = within(LIMIT, "the call with a short result", call).await;
        assert!(
            matches!(&answer, Err(CallError::ProcessDied { .. })),
            "{answer:?}"
        );

        // A late spawn reply for a call that timed out: its process gets killed.
        let late = {
            let client = client.clone();
            smol::spawn(async move {
                client
                    .call_with_timeout("test", "slow", vec![], Duration::from_millis(100))
                    .await
            })
        };
        let req = peer.expect_spawn().await;
        let answer = within(LIMIT, "a call timing out", late).await;
        assert!(
            matches!(&answer, Err(CallError::Timeout { .. })),
            "{answer:?}"
        );
        let remote = peer.answer(&req, int(3)).await;
        let killed = peer
            .expect("EXIT2 kill for the late process", |m| match m {
                Message::Exit2(e) => Some(e),
                _ => None,
            })
            .await;
        assert_eq!(killed.to_pid, remote);
        assert_eq!(killed.reason.as_atom(), Some("kill"));

        // Nothing of that broke the connection.
        let call = spawn_call(&client, "last");
        let req = peer.expect_spawn().await;
        peer.answer(&req, int(4)).await;
        let answer = within(LIMIT, "a later call", call).await;
        assert_eq!(answer.unwrap().as_i64(), Some(4));
        assert_eq!(client.closed_reason(), None);
        assert_eq!(client.stats().undecodable, 0);
    });
}

/// Start `n` calls and wait until the peer has seen them all.
async fn pending_calls(
    client: &DistClient,
    peer: &mut Peer,
    n: usize,
) -> Vec<smol::Task<Result<Term, CallError>>> {
    let calls: Vec<_> = (0..n)
        .map(|i| spawn_call(client, &format!("f{i}")))
        .collect();
    for i in 0..n {
        let req = peer.expect_spawn().await;
        if i == 0 {
            // One of them has its process "running" on the target.
            let pid = peer.pid();
            peer.send(spawn_reply(&req, PidOrAtom::Pid(pid))).await;
        }
    }
    calls
}

/// Every call fails with `Disconnected` within `limit`.
async fn all_disconnected(calls: Vec<smol::Task<Result<Term, CallError>>>, limit: Duration) {
    let started = Instant::now();
    for call in calls {
        let r = within(limit, "a pending call after the connection broke", call).await;
        assert!(
            matches!(&r, Err(CallError::Disconnected { .. })),
            "expected Disconnected, got {r:?}"
        );
    }
    assert!(started.elapsed() < limit);
}

async fn assert_closed(client: &DistClient, mentions: &str) {
    assert_closed_any(client, &[mentions]).await;
}

/// Closed, for a reason that mentions one of `any`.
async fn assert_closed_any(client: &DistClient, any: &[&str]) {
    let reason = within(LIMIT, "closed()", client.closed()).await;
    assert!(
        any.iter().any(|m| !m.is_empty() && reason.contains(m)),
        "close reason: {reason}"
    );
    let later = within(LIMIT, "a call after close", client.call("m", "f", vec![])).await;
    assert!(
        matches!(later, Err(CallError::Disconnected { .. })),
        "{later:?}"
    );
}

#[test]
fn oversized_frame_closes_the_connection() {
    smol::block_on(async {
        for len in [u32::MAX, 512 * 1024 * 1024 + 1] {
            let (client, mut peer) = start(QUIET_TICK).await;
            let mailbox = client.mailbox();
            let calls = pending_calls(&client, &mut peer, 3).await;
            peer.write(&len.to_be_bytes()).await;
            peer.write(&[112, 131]).await;
            all_disconnected(calls, Duration::from_millis(500)).await;
            assert_closed(&client, "larger").await;
            let got = within(LIMIT, "mailbox", mailbox.recv_timeout(LIMIT)).await;
            assert!(matches!(got, Err(RecvError::Disconnected)), "{got:?}");
            // The client hung up its end of the socket.
            within(LIMIT, "peer sees EOF", async {
                while peer.recv().await.is_some() {}
            })
            .await;
        }
    });
}

#[test]
fn peer_closing_mid_frame_fails_pending_calls() {
    smol::block_on(async {
        // Cut inside a frame's body, and inside its length prefix.
        let cuts: [&[u8]; 2] = [&[0, 0, 0, 100, 112, 131, 104, 3, 97], &[0, 0]];
        for cut in cuts {
            let (client, mut peer) = start(QUIET_TICK).await;
            let calls = pending_calls(&client, &mut peer, 3).await;
            peer.write(cut).await;
            drop(peer);
            all_disconnected(calls, Duration::from_millis(500)).await;
            // EOF or a reset, depending on timing: either, said so.
            assert_closed_any(&client, &["the node closed the connection", "read error"]).await;
        }
    });
}

#[test]
fn silent_peer_is_detected_within_a_tick() {
    smol::block_on(async {
        let tick = Duration::from_millis(500);

        // A quiet peer that answers the liveness probes stays connected.
        let (client, mut peer) = start(tick).await;
        let responder = smol::spawn(async move {
            while let Some(m) = peer.recv().await {
                if let Message::MonitorP(p) = m {
                    let reply =
                        Message::monitor_p_exit(p.to_proc, p.from_pid, p.reference, atom("noproc"));
                    peer.send(reply).await;
                }
            }
        });
        smol::Timer::after(tick * 2 + tick / 2).await;
        assert_eq!(client.closed_reason(), None, "a responsive peer stays up");
        drop(client);
        within(LIMIT, "responder sees EOF", responder).await;

        // A peer that keeps the socket open but says nothing.
        let (client, mut peer) = start(tick).await;
        let started = Instant::now();
        let calls: Vec<_> = (0..3)
            .map(|i| spawn_call(&client, &format!("f{i}")))
            .collect();
        all_disconnected(calls, tick * 2).await;
        let took = started.elapsed();
        assert!(
            took < tick + tick / 2,
            "liveness took {took:?} for a tick of {tick:?}"
        );
        assert_closed(&client, "did not answer").await;
        // Before giving up, the client probed the peer.
        let mut probed = false;
        within(LIMIT, "reading what the client sent", async {
            while let Some(m) = peer.recv().await {
                probed |=
                    matches!(m, Message::MonitorP(p) if matches!(p.to_proc, PidOrAtom::Atom(_)));
            }
        })
        .await;
        assert!(probed, "the client sent a liveness probe");
    });
}

/// Run `DistClient::connect` against a peer that does `script` with the socket.
async fn connect_against<F, Fut>(script: F) -> (Result<DistClient, ConnectError>, Duration)
where
    F: FnOnce(TcpStream) -> Fut,
    Fut: Future<Output = ()>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut opts = options(listener.local_addr().unwrap().port(), QUIET_TICK);
    opts.call_timeout = Duration::from_millis(400);
    let started = Instant::now();
    let peer = async {
        let (stream, _) = listener.accept().await.unwrap();
        script(stream).await;
    };
    // The client must give up on its own: the peer script may never finish.
    let client = within(LIMIT, "connect to a hostile peer", async {
        futures::pin_mut!(peer);
        let connect = DistClient::connect(&opts);
        futures::pin_mut!(connect);
        match futures::future::select(connect, peer).await {
            Either::Left((c, _)) => c,
            Either::Right((_, connect)) => connect.await,
        }
    })
    .await;
    (client, started.elapsed())
}

/// Read the client's SEND_NAME (a 2-byte-length handshake message).
async fn read_name(s: &mut TcpStream) {
    let mut len = [0u8; 2];
    s.read_exact(&mut len).await.unwrap();
    let mut body = vec![0; u16::from_be_bytes(len) as usize];
    s.read_exact(&mut body).await.unwrap();
    assert_eq!(body[0], b'N');
}

async fn hold_open(s: TcpStream) {
    smol::Timer::after(LIMIT).await;
    drop(s);
}

#[test]
fn handshake_garbage_is_a_connect_error() {
    type Script = Box<dyn Fn(TcpStream) -> futures::future::BoxFuture<'static, ()>>;
    let scripts: Vec<(&str, Script)> = vec![
        (
            "close at once",
            Box::new(|s| Box::pin(async move { drop(s) })),
        ),
        (
            "close after the name",
            Box::new(|mut s| {
                Box::pin(async move {
                    read_name(&mut s).await;
                })
            }),
        ),
        (
            "nonsense instead of the status",
            Box::new(|mut s| {
                Box::pin(async move {
                    read_name(&mut s).await;
                    s.write_all(b"\x00\x05hello").await.unwrap();
                    hold_open(s).await;
                })
            }),
        ),
        (
            "unframed noise",
            Box::new(|mut s| {
                Box::pin(async move {
                    s.write_all(&noise(9, 40)).await.unwrap();
                    hold_open(s).await;
                })
            }),
        ),
        ("silence", Box::new(|s| Box::pin(hold_open(s)))),
        (
            "an unknown status",
            Box::new(|mut s| {
                Box::pin(async move {
                    read_name(&mut s).await;
                    s.write_all(b"\x00\x08sbananas").await.unwrap();
                    hold_open(s).await;
                })
            }),
        ),
        (
            "a truncated named: status",
            Box::new(|mut s| {
                Box::pin(async move {
                    read_name(&mut s).await;
                    s.write_all(b"\x00\x08snamed:\x00").await.unwrap();
                    hold_open(s).await;
                })
            }),
        ),
        (
            "ok, then close",
            Box::new(|mut s| {
                Box::pin(async move {
                    read_name(&mut s).await;
                    s.write_all(b"\x00\x03sok").await.unwrap();
                })
            }),
        ),
        (
            "status alive",
            Box::new(|mut s| {
                Box::pin(async move {
                    read_name(&mut s).await;
                    s.write_all(b"\x00\x06salive").await.unwrap();
                    hold_open(s).await;
                })
            }),
        ),
        (
            "ok, then nonsense instead of the challenge",
            Box::new(|mut s| {
                Box::pin(async move {
                    read_name(&mut s).await;
                    s.write_all(b"\x00\x03sok\x00\x04xyzw").await.unwrap();
                    hold_open(s).await;
                })
            }),
        ),
        (
            "ok, then a challenge with a bad node name",
            Box::new(|mut s| {
                Box::pin(async move {
                    read_name(&mut s).await;
                    let mut ch = vec![b'N'];
                    ch.extend(0x0000_0001_0000_0000u64.to_be_bytes()); // flags: HANDSHAKE_23
                    ch.extend([0, 0, 0, 1, 0, 0, 0, 1, 0, 5]);
                    ch.extend(b"nohost");
                    let mut frame = (ch.len() as u16).to_be_bytes().to_vec();
                    frame.extend(ch);
                    s.write_all(b"\x00\x03sok").await.unwrap();
                    s.write_all(&frame).await.unwrap();
                    hold_open(s).await;
                })
            }),
        ),
        (
            "ok, then a 64 KiB challenge that never comes",
            Box::new(|mut s| {
                Box::pin(async move {
                    read_name(&mut s).await;
                    s.write_all(b"\x00\x03sok\xff\xffN").await.unwrap();
                    hold_open(s).await;
                })
            }),
        ),
        (
            "another cookie",
            Box::new(|s| {
                Box::pin(async move {
                    let _ = Peer::handshake(s, "not-the-cookie").await;
                })
            }),
        ),
        (
            "close right after the handshake",
            Box::new(|s| {
                Box::pin(async move {
                    let _ = Peer::handshake(s, COOKIE).await;
                })
            }),
        ),
        (
            "an oversized frame after the handshake",
            Box::new(|s| {
                Box::pin(async move {
                    if let Ok(mut peer) = Peer::handshake(s, COOKIE).await {
                        peer.write(&[255; 8]).await;
                        hold_open(peer.stream).await;
                    }
                })
            }),
        ),
        (
            "no answer to the first call",
            Box::new(|s| {
                Box::pin(async move {
                    if let Ok(peer) = Peer::handshake(s, COOKIE).await {
                        hold_open(peer.stream).await;
                    }
                })
            }),
        ),
        (
            "an error as the first call's spawn reply",
            Box::new(|s| {
                Box::pin(async move {
                    if let Ok(mut peer) = Peer::handshake(s, COOKIE).await {
                        let req = peer.expect_spawn().await;
                        peer.send(spawn_reply(&req, PidOrAtom::Atom("badarg".into())))
                            .await;
                        hold_open(peer.stream).await;
                    }
                })
            }),
        ),
    ];
    smol::block_on(async {
        let runs = scripts.iter().map(|(what, script)| async move {
            let (result, took) = connect_against(script).await;
            match result {
                Ok(_) => panic!("{what}: connect succeeded"),
                Err(e) => {
                    assert!(
                        took < Duration::from_millis(1500),
                        "{what}: took {took:?} to fail ({e})"
                    );
                    eprintln!("{what}: {e}");
                }
            }
        });
        futures::future::join_all(runs).await;
    });
}

/// The frame check must not reject what a real node sends: every kind of term.
#[test]
fn real_node_terms_of_every_kind_pass_the_frame_check() {
    use chaos_beam::eval::{eval, eval_with_timeout, EvalError};
    let node = chaos_testkit::TestNode::start("dist_hostile_terms");
    smol::block_on(async {
        let opts = ConnectOptions::new(
            node.name.parse().unwrap(),
            Cookie::new(node.cookie.clone(), CookieSource::Flag).unwrap(),
        );
        let client = within(LIMIT, "connect", DistClient::connect(&opts))
            .await
            .expect("connect");
        let src = "X = 5, Deep = lists:foldl(fun(_, A) -> {A} end, x, lists:seq(1, 400)),
            {fun(Y) -> X + Y end, fun lists:map/2, #{a => 1, {k} => [v]}, <<1:3>>, <<\"bin\">>,
             1 bsl 200, -(1 bsl 70), 3.25, -7, 300, self(), hd(erlang:ports()), make_ref(),
             [a | b], \"abc\", 'ünïcode', list_to_tuple(lists:seq(1, 300)), [], {}, #{}, Deep}.";
        let v = within(LIMIT, "eval", eval(&client, src, &[])).await;
        let v = v.expect("every kind of term decodes");
        assert_eq!(v.as_tuple().map(|t| t.len()), Some(21));
        assert_eq!(client.stats().undecodable, 0);

        // Deeper than the client decodes: skipped and counted, the call times
        // out, the connection stays up.
        let deeper = "lists:foldl(fun(_, A) -> {A} end, x, lists:seq(1, 600)).";
        let r = within(
            LIMIT,
            "too deep",
            eval_with_timeout(&client, deeper, &[], Duration::from_millis(300)),
        )
        .await;
        assert!(
            matches!(r, Err(EvalError::Call(CallError::Timeout { .. }))),
            "{r:?}"
        );
        assert_eq!(client.stats().undecodable, 1);
        let v = within(LIMIT, "eval", eval(&client, "1 + 1.", &[])).await;
        assert_eq!(v.unwrap().as_i64(), Some(2));
    });
}
