//! Nodes join through two seeds by the protocol's own bootstrap (no table is pre-filled):
//! every node becomes active, knows its true closest neighbours, and estimates the cloud's
//! size.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use crate::common;

use std::time::Duration;

use peergroup_pnrp::proto::{Cloud, CloudState, Command, Config, Key, Pnrp};
use peergroup_sim::{NodeIdx, Sim, SimConfig};

#[test]
fn every_node_joins_and_knows_its_neighbourhood() {
    let n = 80;
    let c = common::cloud(n, 11, common::config());
    assert!(c.states().iter().all(|s| *s == CloudState::Active), "{:?}", c.states());
    let keys: Vec<Key> = c.nodes.iter().map(|s| Key::of_node(&s.addr.node)).collect();
    let mut knows_closest = 0;
    for i in 0..n {
        let table = c.node(i).table(Cloud::Global);
        assert!(table.len() >= 10, "node {i} knows only {} nodes", table.len());
        let mut others: Vec<usize> = (0..n).filter(|&j| j != i).collect();
        others.sort_by_key(|&j| keys[i].distance(&keys[j]));
        if table.contains(&c.nodes[others[0]].addr.node) {
            knows_closest += 1;
        }
        let estimate = table.size_estimate().expect("enough contacts for an estimate");
        assert!(
            (n as f64 / 3.0..n as f64 * 3.0).contains(&estimate),
            "node {i} estimates {estimate} nodes in a cloud of {n}"
        );
    }
    assert!(
        knows_closest >= n - 2,
        "only {knows_closest} of {n} nodes know their closest neighbour"
    );
}

#[test]
fn a_node_without_seeds_is_alone_until_someone_contacts_it() {
    let nodes = peergroup_pnrp::scenario::sim_nodes(3, 2);
    let mut sim: Sim<Pnrp> = Sim::new(SimConfig::with_seed(3));
    let a = nodes[0].addr;
    let b = nodes[1].addr;
    sim.add_node_with_id(a.node, move |ctx| Pnrp::new(a, Config::default(), ctx.seed));
    sim.run_for(Duration::from_secs(1)).expect("no invariants");
    assert_eq!(sim.node_state(NodeIdx(0)).unwrap().cloud_state(Cloud::Global), CloudState::Alone);
    let cfg = Config { seeds: vec![a], ..Config::default() };
    sim.add_node_with_id(b.node, move |ctx| Pnrp::new(b, cfg.clone(), ctx.seed));
    sim.run_for(Duration::from_secs(5)).expect("no invariants");
    for i in 0..2 {
        let p = sim.node_state(NodeIdx(i)).unwrap();
        assert_eq!(p.cloud_state(Cloud::Global), CloudState::Active, "node {i}");
        assert_eq!(p.table(Cloud::Global).len(), 1);
    }
}

#[test]
fn bootstrap_through_an_unreachable_seed_fails_and_retries() {
    let nodes = peergroup_pnrp::scenario::sim_nodes(4, 2);
    let mut sim: Sim<Pnrp> = Sim::new(SimConfig::with_seed(4));
    let (a, ghost) = (nodes[0].addr, nodes[1].addr);
    let cfg = Config { seeds: vec![ghost], ..Config::default() };
    sim.add_node_with_id(a.node, move |ctx| Pnrp::new(a, cfg.clone(), ctx.seed));
    sim.run_for(Duration::from_secs(5)).expect("no invariants");
    assert_eq!(sim.node_state(NodeIdx(0)).unwrap().cloud_state(Cloud::Global), CloudState::Dead);
    // the seed comes up later: the retry finds it
    sim.add_node_with_id(ghost.node, move |ctx| Pnrp::new(ghost, Config::default(), ctx.seed));
    sim.run_for(Duration::from_secs(60)).expect("no invariants");
    assert_eq!(sim.node_state(NodeIdx(0)).unwrap().cloud_state(Cloud::Global), CloudState::Active);
    // and the retry timer is bounded: the node does not spin
    assert!(sim.stats().messages_sent < 100, "{} messages", sim.stats().messages_sent);
    let _ = Command::QueryCloud { cloud: Cloud::Global };
}
