//! A partitioned cloud keeps resolving on each side what it can reach; after the heal,
//! names registered during the split resolve from both sides again.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use crate::common;

use std::time::Duration;

use peergroup_pnrp::proto::ResolveOutcome;
use peergroup_sim::NodeIdx;

#[test]
fn names_registered_during_a_split_resolve_everywhere_after_the_heal() {
    let n = 48;
    let mut c = common::cloud(n, 71, common::config());
    let left: Vec<NodeIdx> = (0..n / 2).map(|i| NodeIdx(i as u32)).collect();
    c.sim.partition(&[&left]);
    // register on the left during the split: only left nodes can store it
    let req = c.own_name_request(3);
    c.register(3, req);
    let name = c.nodes[3].name.clone();
    assert_eq!(c.resolve(7, &name, 4).outcome, ResolveOutcome::Found, "same side");
    let across = c.resolve(40, &name, 4).outcome;
    assert_ne!(across, ResolveOutcome::Found, "the other side cannot reach it");

    c.sim.heal();
    // upkeep rounds, liveness pings and refreshes reconnect the halves
    c.sim.run_for(Duration::from_secs(40 * 60)).expect("no invariants");
    for i in [30, 40, 47] {
        assert_eq!(c.resolve(i, &name, 4).outcome, ResolveOutcome::Found, "from node {i}");
    }
}
