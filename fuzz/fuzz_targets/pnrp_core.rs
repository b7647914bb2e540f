//! The PNRP core (`proto-specs/pnrp.md`) driven by arbitrary sequences of peer messages,
//! commands, timers and peer failures. Responses answer the requests the core really sent
//! (their transaction ids are recorded), so lookups, registrations and resolves run deep.
//! After every step the state must be within its limits (§9): table, store, requests,
//! lookups and pending resolves bounded, and one step's output bounded.
#![no_main]

#[path = "common/bytes.rs"]
mod bytes;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use peergroup_base::{
    Classifier, FrameCodec, Input, Instant, Now, Outbox, Output, PeerAddr, PeerName, Protocol,
    ServiceLocation, UnixTime,
};
use peergroup_pnrp::proto::cpa::CPA_FORMAT;
use peergroup_pnrp::proto::{
    Body, Cloud, Command, Config, CpaBody, CpaSigner, InstanceId, Key, Message, Pnrp, Reason,
    RegisterRequest, RegistrationId, ResolveId, ResolveRequest, SignedCpa, StoreStatus, Timer,
};

const T0: u64 = 1_767_225_600;
const PEERS: usize = 8;

struct Fixture {
    me: CpaSigner,
    peers: Vec<(CpaSigner, PeerAddr)>,
    names: Vec<PeerName>,
    /// Valid signed CPAs of `names` at a few sequences, and revocations.
    cpas: Vec<SignedCpa>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let me = CpaSigner::from_seed(&[1; 32]);
        let peers: Vec<_> = (0..PEERS)
            .map(|i| {
                let s = CpaSigner::from_seed(&[i as u8 + 2; 32]);
                let addr = SocketAddr::from(([10, 0, i as u8, 1], 3587));
                let node = s.node_id();
                (s, PeerAddr { node, addr })
            })
            .collect();
        let mut names: Vec<PeerName> =
            (0..2).map(|i| format!("0.n{i}").parse().expect("name")).collect();
        for (s, _) in peers.iter().take(2) {
            names.push(PeerName::new(s.authority(), Classifier::new("svc").expect("classifier")));
        }
        names.push(PeerName::new(me.authority(), Classifier::new("mine").expect("classifier")));
        let mut cpas = Vec::new();
        for (i, name) in names.iter().take(4).enumerate() {
            let signer = &peers[i % 2 + if i >= 2 { i - 2 } else { 0 }].0;
            let signer = if name.is_secure() { signer } else { &peers[i].0 };
            for (seq, revoked) in [(1u64, false), (2, false), (3, true)] {
                let body = CpaBody {
                    format: CPA_FORMAT,
                    name: name.clone(),
                    location: ServiceLocation::new(i as u64, 7),
                    sequence: seq,
                    not_after: UnixTime::from_secs(T0 + 3600 * (seq + 1)),
                    revoked,
                    endpoints: if revoked {
                        Vec::new()
                    } else {
                        vec![SocketAddr::from(([192, 0, 2, i as u8], 4000))]
                    },
                    comment: String::new(),
                    payload: None,
                    signer: signer.public_key(),
                    delegation: None,
                };
                cpas.push(body.sign_unchecked(signer));
            }
        }
        Fixture { me, peers, names, cpas }
    })
}

fn cloud(b: &mut Bytes<'_>) -> Cloud {
    if b.bool() { Cloud::LinkLocal } else { Cloud::Global }
}

fn contacts(b: &mut Bytes<'_>, f: &Fixture) -> Vec<PeerAddr> {
    let n = b.below(24); // up to 23: over the limit of 20 sometimes
    (0..n)
        .map(|_| {
            let mut p = f.peers[b.below(PEERS)].1;
            if b.u8() < 16 {
                // an address no one could dial, or another node at a known address
                p.addr = SocketAddr::from(([0, 0, 0, 0], 0));
            }
            p
        })
        .collect()
}

fn cpas(b: &mut Bytes<'_>, f: &Fixture) -> Vec<SignedCpa> {
    let n = b.below(4);
    (0..n)
        .map(|_| {
            let mut c = f.cpas[b.below(f.cpas.len())].clone();
            if b.u8() < 8 {
                c.signature[0] ^= 1; // a forgery
            }
            c
        })
        .collect()
}

/// A request a peer might send.
fn request(b: &mut Bytes<'_>, f: &Fixture) -> Body {
    let txid = b.u64();
    match b.below(4) {
        0 => Body::Ping { nonce: txid },
        1 => {
            let target = if b.bool() {
                Key::of_name(&f.names[b.below(f.names.len())].p2p_id())
            } else {
                Key(f.peers[b.below(PEERS)].1.node.0)
            };
            Body::FindNode { txid, target, count: b.u8() % 24, reason: Reason::Resolve }
        }
        2 => {
            let name = &f.names[b.below(f.names.len())];
            let probe = b.bool().then(|| {
                Box::new(InstanceId {
                    signer: f.peers[b.below(PEERS)].0.public_key(),
                    location: ServiceLocation::new(b.u8().into(), 7),
                })
            });
            Body::FindName {
                txid,
                p2p: name.p2p_id(),
                count: b.u8() % 24,
                max_results: b.u8() % 70,
                hint: b.bool().then(|| ServiceLocation::new(b.u64(), b.u64())),
                probe,
                reason: Reason::Maintenance,
            }
        }
        _ => Body::Store { txid, cpa: f.cpas[b.below(f.cpas.len())].clone() },
    }
}

/// The response of the right kind to a request the core sent.
fn response(b: &mut Bytes<'_>, f: &Fixture, sent: &Body) -> Option<Body> {
    Some(match sent {
        Body::Ping { nonce } => Body::Pong { nonce: *nonce },
        Body::FindNode { txid, .. } => Body::Nodes { txid: *txid, nodes: contacts(b, f) },
        Body::FindName { txid, .. } => Body::Found {
            txid: *txid,
            nodes: contacts(b, f),
            cpas: cpas(b, f),
            holds: b.bool().then(|| u64::from(b.u8() % 4)),
        },
        Body::Store { txid, .. } => Body::StoreAck {
            txid: *txid,
            status: match b.below(4) {
                0 => StoreStatus::Stored,
                1 => StoreStatus::AlreadyCurrent,
                2 => StoreStatus::Invalid,
                _ => StoreStatus::Full,
            },
        },
        _ => return None,
    })
}

fn command(b: &mut Bytes<'_>, f: &Fixture, next_id: &mut u64) -> Command {
    *next_id += 1;
    match b.below(6) {
        0 => {
            let name = if b.bool() { f.names[4].clone() } else { f.names[b.below(2)].clone() };
            let mut request = RegisterRequest::new(
                name,
                f.me.clone(),
                vec![SocketAddr::from(([10, 9, 9, 9], 3587))],
            );
            request.cloud = cloud(b);
            request.instance_tag = u64::from(b.u8() % 3);
            Command::Register { id: RegistrationId(u64::from(b.u8() % 8)), request }
        }
        1 => Command::Update {
            id: RegistrationId(u64::from(b.u8() % 8)),
            endpoints: (0..b.below(12))
                .map(|i| SocketAddr::from(([10, 1, 1, i as u8], 1)))
                .collect(),
            comment: "c".repeat(b.below(45)),
            payload: b.bool().then(|| vec![0; usize::from(b.u16()) % 5000]),
        },
        2 => Command::Unregister { id: RegistrationId(u64::from(b.u8() % 8)) },
        3 => {
            let mut request = ResolveRequest::new(f.names[b.below(f.names.len())].clone());
            request.cloud = cloud(b);
            request.max_results = b.below(70);
            request.timeout = Duration::from_millis(u64::from(b.u16()));
            Command::Resolve { id: ResolveId(*next_id), request }
        }
        4 => Command::AddPeer { cloud: cloud(b), peer: f.peers[b.below(PEERS)].1 },
        _ => Command::QueryCloud { cloud: cloud(b) },
    }
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let mut b = Bytes::new(data);
    let me = PeerAddr { node: f.me.node_id(), addr: SocketAddr::from(([10, 9, 9, 9], 3587)) };
    let mut config = Config::default();
    config.link_local = b.bool();
    config.seeds = (0..b.below(3)).map(|i| f.peers[i].1).collect();
    let mut p = Pnrp::new(me, config.clone(), b.u64());
    let mut out = Outbox::new();
    let mut now_us: u64 = 1_000_000;
    let now = |us: u64| Now {
        instant: Instant::from_micros(us),
        unix: UnixTime::from_secs(T0 + us / 1_000_000),
    };
    let mut timers: Vec<(Instant, Timer)> = Vec::new();
    // requests the core sent, newest last: (to, cloud, body)
    let mut sent: VecDeque<(PeerAddr, Cloud, Body)> = VecDeque::new();
    let mut next_id = 0u64;
    let mut input = Some(Input::Start);
    let codec = FrameCodec::default();
    let mut steps = 0;
    while steps < 400 {
        steps += 1;
        if let Some(i) = input.take() {
            p.handle(now(now_us), i, &mut out);
        } else {
            if b.is_empty() {
                break;
            }
            let i = match b.below(7) {
                0 => {
                    let (_, from) = f.peers[b.below(PEERS)];
                    Input::Recv {
                        from,
                        msg: Message { cloud: cloud(&mut b), body: request(&mut b, f) },
                    }
                }
                1 | 2 => {
                    if sent.is_empty() {
                        continue;
                    }
                    let k = sent.len() - 1 - b.below(sent.len());
                    let (to, c, body) = sent[k].clone();
                    let Some(body) = response(&mut b, f, &body) else { continue };
                    // now and then from someone else than the node asked
                    let from = if b.u8() < 16 { f.peers[b.below(PEERS)].1 } else { to };
                    Input::Recv { from, msg: Message { cloud: c, body } }
                }
                3 => {
                    let raw = b.take(512);
                    let Ok(msg) = Message::decode(&codec, raw) else { continue };
                    Input::Recv { from: f.peers[b.below(PEERS)].1, msg }
                }
                4 => Input::Command(command(&mut b, f, &mut next_id)),
                5 => Input::PeerDown(f.peers[b.below(PEERS)].1),
                _ => {
                    // time passes: fire what came due, in order
                    now_us += u64::from(b.u16()) * 1_000 * u64::from(b.u8() % 8 + 1);
                    timers.sort_by_key(|(at, _)| *at);
                    let due = timers.partition_point(|(at, _)| at.as_micros() <= now_us);
                    for (_, t) in timers.drain(..due).collect::<Vec<_>>() {
                        p.handle(now(now_us), Input::Timer(t), &mut out);
                    }
                    continue;
                }
            };
            p.handle(now(now_us), i, &mut out);
        }
        let mut n = 0usize;
        for o in out.drain() {
            n += 1;
            match o {
                Output::Send { to, msg } => {
                    if matches!(
                        msg.body,
                        Body::Ping { .. }
                            | Body::FindNode { .. }
                            | Body::FindName { .. }
                            | Body::Store { .. }
                    ) {
                        sent.push_back((to, msg.cloud, msg.body));
                        if sent.len() > 64 {
                            sent.pop_front();
                        }
                    }
                }
                Output::SetTimer { at, timer } => timers.push((at, timer)),
                _ => {}
            }
        }
        assert!(n <= 20_000, "one step produced {n} outputs");
        assert!(timers.len() <= 100_000, "{} timers pending", timers.len());
        for c in [Cloud::Global, Cloud::LinkLocal] {
            let limits = &config.store;
            assert!(p.store(c).len() <= limits.entries, "store over its entries");
            assert!(p.store(c).bytes() <= limits.bytes, "store over its bytes");
            assert!(p.table(c).len() <= 256 * config.k, "table over its size");
            assert!(p.requests_in_flight(c) <= config.max_requests, "requests over their limit");
            assert!(p.lookups_running(c) <= config.max_lookups, "lookups over their limit");
        }
        assert!(
            p.resolves_pending() <= config.max_lookups + config.max_queued_resolves,
            "resolves over their limit"
        );
    }
});
