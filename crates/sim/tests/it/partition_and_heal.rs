//! Partitions and blocked links stop messages, and senders learn it as `PeerDown`.

use crate::common;

use std::time::Duration;

use peergroup_sim::NodeIdx;
use peergroup_sim::testproto::{Command, Event};

#[test]
fn rumor_stays_in_its_half_until_heal() {
    let n = 200;
    let (mut sim, nodes, _) = common::flood_sim(21, n, 6, common::lan());
    let (left, right) = nodes.split_at(n / 2);
    sim.partition(&[left]); // the right half is the "unlisted" group
    assert!(sim.is_separated(left[0], right[0]));
    assert!(!sim.is_separated(right[0], right[1]));

    sim.command(left[3], Command::Publish(1));
    sim.run_for(Duration::from_secs(5)).expect("no invariants");
    let d = common::deliveries(sim.events(), 1);
    let reached: Vec<NodeIdx> = d.keys().copied().collect();
    assert_eq!(reached, left.to_vec(), "exactly the publisher's half");
    let s = *sim.stats();
    assert!(s.dropped_partition > 0);
    assert_eq!(s.dropped(), s.dropped_partition);
    // Every message across the cut came back as PeerDown, one unreachable timeout later.
    let downs = common::peer_downs(sim.events());
    assert_eq!(downs.len() as u64, s.dropped_partition);
    for (node, _, peer) in &downs {
        assert!(left.contains(node), "only senders in the left half learn of the cut");
        let target = sim.node_at(peer.addr).expect("a node is there");
        assert!(right.contains(&target));
    }
    assert!(downs.iter().all(|(_, at, _)| at.as_micros() >= 1_000_000));

    sim.heal();
    sim.drain_events();
    sim.command(left[3], Command::Publish(2));
    sim.run_for(Duration::from_secs(5)).expect("no invariants");
    assert_eq!(common::deliveries(sim.events(), 2).len(), n, "after heal, everyone");
    assert!(common::deliveries(sim.events(), 1).is_empty(), "the old rumor is not re-flooded");
    common::assert_conservation(&sim);
}

#[test]
fn listed_groups_are_isolated_from_each_other_and_from_the_rest() {
    let (mut sim, nodes, _) = common::flood_sim(22, 9, 2, common::lan());
    sim.partition(&[&nodes[0..3], &nodes[3..6]]);
    assert!(sim.is_separated(nodes[0], nodes[3]));
    assert!(sim.is_separated(nodes[3], nodes[6]));
    assert!(sim.is_separated(nodes[0], nodes[8]));
    assert!(!sim.is_separated(nodes[6], nodes[8]));
    assert!(!sim.is_separated(nodes[4], nodes[5]));
}

#[test]
fn blocked_link_gives_peer_down_until_unblocked() {
    let (mut sim, nodes, _) = common::flood_sim(23, 3, 2, common::lan());
    let b = sim.peer_addr(nodes[1]).expect("exists");
    sim.block_link(nodes[1], nodes[0]);
    sim.command(nodes[0], Command::Ping(b));
    sim.run_until_idle(1000).expect("no invariants");
    assert_eq!(common::peer_downs(sim.events()), vec![(nodes[0], sim.now(), b)]);
    assert_eq!(sim.now().as_micros(), 1_000_000, "after the unreachable timeout");
    assert_eq!(sim.node_stats(nodes[1]).received, 0);

    sim.unblock_link(nodes[0], nodes[1]);
    sim.drain_events();
    sim.command(nodes[0], Command::Ping(b));
    sim.run_until_idle(1000).expect("no invariants");
    assert!(sim.events().iter().any(|e| matches!(e.event, Event::Pong { peer, .. } if peer == b)));
}
