//! Whatever peers send, a node's state stays within its limits: the store keeps the keys
//! closest to the node, resolves beyond capacity end `Busy`, and the queues are capped.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use peergroup_base::{
    Classifier, Input, Instant, Now, Outbox, Output, PeerAddr, PeerName, Protocol, UnixTime,
};
use peergroup_pnrp::proto::cpa::CPA_FORMAT;
use peergroup_pnrp::proto::store::StoreLimits;
use peergroup_pnrp::proto::{
    Body, Cloud, Command, Config, CpaBody, Event, Key, Message, Pnrp, ResolveId, ResolveOutcome,
    ResolveRequest, StoreStatus,
};

const T0: u64 = 1_767_225_600;

fn now() -> Now {
    Now { instant: Instant::from_micros(1_000_000), unix: UnixTime::from_secs(T0) }
}

#[test]
fn a_flood_of_stores_keeps_the_store_within_its_limits() {
    let me_signer = common::signer(1);
    let me = PeerAddr { node: me_signer.node_id(), addr: "10.0.0.1:3587".parse().unwrap() };
    let config = Config {
        store: StoreLimits { per_key: 4, entries: 50, bytes: 1 << 20 },
        ..Config::default()
    };
    let mut p = Pnrp::new(me, config, 1);
    let mut out = Outbox::new();
    p.handle(now(), Input::Start, &mut out);
    let from =
        PeerAddr { node: common::signer(2).node_id(), addr: "10.0.9.1:3587".parse().unwrap() };
    let mut stored = 0;
    let mut full = 0;
    let crowded = Key::of_name(&"0.crowded".parse::<PeerName>().unwrap().p2p_id());
    let mut refused_keys = Vec::new();
    for i in 0..200u32 {
        let s = common::signer((i % 250) as u8 + 3);
        // many names, and some names with many instances (unsecured: anyone may sign)
        let name: PeerName = if i % 4 == 0 {
            "0.crowded".parse().unwrap()
        } else {
            PeerName::new(s.authority(), Classifier::new(&format!("n{i}")).unwrap())
        };
        let body = CpaBody {
            format: CPA_FORMAT,
            name,
            location: peergroup_base::ServiceLocation::new(0, u64::from(i)),
            sequence: 1,
            not_after: UnixTime::from_secs(T0 + 86_400),
            revoked: false,
            endpoints: vec![SocketAddr::from(([192, 0, 2, 1], 4000))],
            comment: String::new(),
            payload: None,
            signer: s.public_key(),
            delegation: None,
        };
        let key = Key::of_name(&body.name.p2p_id());
        let cpa = body.sign(&s, UnixTime::from_secs(T0)).unwrap();
        let msg = Message { cloud: Cloud::Global, body: Body::Store { txid: u64::from(i), cpa } };
        p.handle(now(), Input::Recv { from, msg }, &mut out);
        for o in out.drain() {
            if let Output::Send {
                msg: Message { body: Body::StoreAck { status, .. }, .. }, ..
            } = o
            {
                match status {
                    StoreStatus::Stored => stored += 1,
                    StoreStatus::Full => {
                        full += 1;
                        if key != crowded {
                            refused_keys.push(key);
                        }
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
    }
    let store = p.store(Cloud::Global);
    assert!(store.len() <= 50, "{} cpas held", store.len());
    assert!(store.cpas_for(&crowded).len() <= 4, "per-name limit");
    assert!(full > 0 && stored >= 50, "stored {stored}, refused {full}");
    // what is kept is what is closest to us: every name refused for room is farther from
    // us than every name kept
    let me_key = Key::of_node(&me.node);
    let kept_far = store
        .key_list()
        .filter(|(k, _)| **k != crowded)
        .map(|(k, _)| me_key.distance(k))
        .max()
        .unwrap();
    let refused_near = refused_keys.iter().map(|k| me_key.distance(k)).min().unwrap();
    assert!(kept_far < refused_near);
}

#[test]
fn resolves_beyond_capacity_end_busy() {
    let config = Config { max_lookups: 4, max_queued_resolves: 2, ..common::config() };
    let mut c = common::cloud(20, 101, config);
    for k in 0..20u64 {
        let request = ResolveRequest::new(format!("0.n{k}").parse().unwrap());
        c.sim.command(peergroup_sim::NodeIdx(3), Command::Resolve { id: ResolveId(k), request });
    }
    c.sim.run_for(Duration::from_secs(30)).expect("no invariants");
    let outcomes: Vec<ResolveOutcome> = c
        .sim
        .events()
        .iter()
        .filter_map(|e| match &e.event {
            Event::ResolveDone { outcome, .. } => Some(*outcome),
            _ => None,
        })
        .collect();
    assert_eq!(outcomes.len(), 20, "every resolve ends");
    let busy = outcomes.iter().filter(|o| **o == ResolveOutcome::Busy).count();
    assert!(busy >= 14, "{busy} busy");
    assert!(outcomes.contains(&ResolveOutcome::NotFound));
    assert_eq!(c.node(3).resolves_pending(), 0);
    assert_eq!(c.node(3).lookups_running(Cloud::Global), 0);
}
