//! The Global and LinkLocal clouds are separate: their own tables and stores, LinkLocal
//! bootstrapping from peers the driver discovered. Cloud info reports state, size
//! estimate and table.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use crate::common;

use std::time::Duration;

use peergroup_pnrp::proto::{
    Cloud, CloudState, Command, Event, RegisterRequest, ResolveOutcome, ResolveRequest,
};
use peergroup_sim::NodeIdx;

#[test]
fn link_local_names_stay_in_the_link_local_cloud() {
    let mut config = common::config();
    config.link_local = true;
    let n = 16;
    let mut c = common::cloud(n, 111, config);
    // LinkLocal starts alone everywhere: discovery is the driver's job
    assert!((0..n).all(|i| c.node(i).cloud_state(Cloud::LinkLocal) == CloudState::Alone));
    // the "multicast discovery" of node 0 finds everyone; everyone else finds node 0
    for i in 1..n {
        let peer0 = c.nodes[0].addr;
        let peer = c.nodes[i].addr;
        c.sim.command(NodeIdx(0), Command::AddPeer { cloud: Cloud::LinkLocal, peer });
        c.sim.command(NodeIdx(i as u32), Command::AddPeer { cloud: Cloud::LinkLocal, peer: peer0 });
    }
    c.sim.run_for(Duration::from_secs(10)).expect("no invariants");
    assert!((0..n).all(|i| c.node(i).cloud_state(Cloud::LinkLocal) == CloudState::Active));

    let mut req = c.own_name_request(5);
    req.cloud = Cloud::LinkLocal;
    let (_, ev) = c.register(5, req);
    assert!(matches!(ev, Event::Registered { .. }), "{ev:?}");
    let name = c.nodes[5].name.clone();
    let mut rq = ResolveRequest::new(name.clone());
    rq.cloud = Cloud::LinkLocal;
    assert_eq!(c.resolve_with(9, rq).outcome, ResolveOutcome::Found);
    assert_eq!(c.resolve(9, &name, 4).outcome, ResolveOutcome::NotFound, "not in Global");
    let global: usize = (0..n).map(|i| c.node(i).store(Cloud::Global).len()).sum();
    assert_eq!(global, 0);

    // cloud info
    c.sim.command(NodeIdx(9), Command::QueryCloud { cloud: Cloud::LinkLocal });
    let ev = c
        .run_until_event(Duration::from_secs(1), |e| matches!(e, Event::CloudInfo(_)))
        .expect("answered");
    let Event::CloudInfo(info) = ev else { unreachable!() };
    assert_eq!(info.cloud, Cloud::LinkLocal);
    assert_eq!(info.state, CloudState::Active);
    assert!(!info.table.is_empty());
    assert!(info.size_estimate.is_some_and(|s| s > 2.0));
    let _ = RegisterRequest::new;
}
