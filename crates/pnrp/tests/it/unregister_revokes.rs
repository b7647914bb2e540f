//! Unregistering stores a signed revocation at the replicas: the name stops resolving, and
//! a replay of the old CPA cannot bring it back.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use crate::common;

use peergroup_pnrp::proto::{Body, Cloud, Command, Event, Message, ResolveOutcome, StoreStatus};
use peergroup_sim::NodeIdx;
use std::time::Duration;

#[test]
fn unregistered_name_no_longer_resolves_and_replays_fail() {
    let mut c = common::cloud(40, 51, common::config());
    let req = c.own_name_request(8);
    let (id, _) = c.register(8, req);
    let name = c.nodes[8].name.clone();
    let before = c.resolve(2, &name, 4);
    assert_eq!(before.outcome, ResolveOutcome::Found);
    let old_cpa = before.instances[0].cpa.clone();

    c.sim.command(NodeIdx(8), Command::Unregister { id });
    let ev = c
        .run_until_event(Duration::from_secs(30), |e| matches!(e, Event::Unregistered { .. }))
        .expect("unregistration ends");
    let Event::Unregistered { replicas, .. } = ev else { unreachable!() };
    assert!(replicas >= 15, "revocation reached {replicas} replicas");
    assert_eq!(c.resolve(2, &name, 4).outcome, ResolveOutcome::NotFound);

    // a node replays the old, validly signed CPA to every replica
    let key = peergroup_pnrp::proto::Key::of_name(&name.p2p_id());
    let replicas: Vec<usize> =
        (0..40).filter(|&i| !c.node(i).store(Cloud::Global).cpas_for(&key).is_empty()).collect();
    assert!(!replicas.is_empty());
    let rogue = c.nodes[30].addr;
    for &i in &replicas {
        let now = c.sim.now_full();
        let p = c.sim.node_state_mut(NodeIdx(i as u32)).unwrap();
        let mut out = peergroup_base::Outbox::new();
        let msg =
            Message { cloud: Cloud::Global, body: Body::Store { txid: 1, cpa: old_cpa.clone() } };
        peergroup_base::Protocol::handle(
            p,
            now,
            peergroup_base::Input::Recv { from: rogue, msg },
            &mut out,
        );
        let status = out.drain().find_map(|o| match o {
            peergroup_base::Output::Send {
                msg: Message { body: Body::StoreAck { status, .. }, .. },
                ..
            } => Some(status),
            _ => None,
        });
        assert_eq!(status, Some(StoreStatus::AlreadyCurrent), "replica {i} keeps the revocation");
    }
    assert_eq!(c.resolve(3, &name, 4).outcome, ResolveOutcome::NotFound);
}
