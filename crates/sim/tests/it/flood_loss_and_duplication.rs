//! Loss drops messages silently; duplication adds copies; a flood dedups both.

use crate::common;

use std::time::Duration;

use peergroup_base::codec::{HEADER_LEN, body_len};
use peergroup_sim::LinkConfig;
use peergroup_sim::testproto::{self, Command, Event, Message};

#[test]
fn lossless_flood_delivers_every_rumor_once_everywhere() {
    let (mut sim, nodes, graph) = common::flood_sim(11, 500, 8, common::lan());
    for (k, id) in [10u64, 20, 30].into_iter().enumerate() {
        sim.command(nodes[k * 97], Command::Publish(id));
    }
    assert!(sim.run_until_idle(10_000_000).expect("no invariants"), "a flood ends");
    let events = sim.drain_events();
    for id in [10, 20, 30] {
        let d = common::deliveries(&events, id);
        assert_eq!(d.len(), 500, "rumor {id} reached every node");
        assert!(d.values().all(|&c| c == 1), "rumor {id} delivered once per node");
    }
    let s = *sim.stats();
    assert_eq!(s.messages_sent, 3 * testproto::flood_cost(&graph));
    assert_eq!(s.messages_delivered, s.messages_sent);
    assert_eq!(s.dropped(), 0);
    assert_eq!(s.bytes_delivered, s.bytes_sent);
    let per_node: u64 = sim.all_node_stats().iter().map(|n| n.received).sum();
    assert_eq!(per_node, s.messages_delivered);
    let per_node_bytes: u64 = sim.all_node_stats().iter().map(|n| n.sent_bytes).sum();
    assert_eq!(per_node_bytes, s.bytes_sent);
    common::assert_conservation(&sim);
}

#[test]
fn lossy_flood_reaches_fewer_nodes_and_counts_the_losses() {
    let n = 400;
    let (mut ok, nodes, _) = common::flood_sim(12, n, 4, common::lan());
    let (mut lossy, _, _) = common::flood_sim(12, n, 4, common::lan().with_loss(0.3));
    for id in 0..5u64 {
        ok.command(nodes[id as usize * 50], Command::Publish(id));
        lossy.command(nodes[id as usize * 50], Command::Publish(id));
    }
    ok.run_until_idle(10_000_000).expect("no invariants");
    lossy.run_until_idle(10_000_000).expect("no invariants");
    let reached = |sim: &peergroup_sim::Sim<_>| -> usize {
        (0..5).map(|id| common::deliveries(sim.events(), id).len()).sum()
    };
    assert_eq!(reached(&ok), 5 * n);
    assert!(reached(&lossy) < 5 * n, "30% loss leaves some nodes out");
    for id in 0..5 {
        let d = common::deliveries(lossy.events(), id);
        assert!(d.values().all(|&c| c == 1), "never delivered twice");
    }
    let s = *lossy.stats();
    assert_eq!(s.dropped(), s.dropped_loss, "loss is the only cause of drops");
    assert_eq!(s.dropped_loss, s.messages_sent - s.messages_delivered);
    let rate = s.dropped_loss as f64 / s.messages_sent as f64;
    assert!((0.27..0.33).contains(&rate), "loss rate {rate} over {} messages", s.messages_sent);
    assert_eq!(lossy.messages_in_flight(), 0);
    common::assert_conservation(&lossy);
}

#[test]
fn duplicates_are_delivered_and_counted() {
    let (mut sim, nodes, graph) = common::flood_sim(13, 300, 6, common::lan().with_duplicate(0.5));
    sim.command(nodes[0], Command::Publish(1));
    sim.run_until_idle(10_000_000).expect("no invariants");
    let s = *sim.stats();
    assert_eq!(s.messages_sent, testproto::flood_cost(&graph), "dups do not change the flood");
    let rate = s.duplicated as f64 / s.messages_sent as f64;
    assert!((0.45..0.55).contains(&rate), "duplication rate {rate}");
    assert_eq!(s.messages_delivered, s.messages_sent + s.duplicated);
    let d = common::deliveries(sim.events(), 1);
    assert_eq!(d.len(), 300);
    assert!(d.values().all(|&c| c == 1), "the protocol dedups duplicates");
    common::assert_conservation(&sim);
}

#[test]
fn bytes_are_counted_as_on_the_wire() {
    let (mut sim, nodes, _) = common::flood_sim(14, 2, 2, common::lan());
    let b = sim.peer_addr(nodes[1]).expect("node 1 exists");
    sim.command(nodes[0], Command::Ping(b));
    sim.run_until_idle(1000).expect("no invariants");
    let nonce = sim
        .events()
        .iter()
        .find_map(|e| match e.event {
            Event::Pong { nonce, rtt, .. } => {
                assert_eq!(rtt, Duration::from_millis(20), "two fixed 10 ms hops");
                Some(nonce)
            }
            _ => None,
        })
        .expect("a pong came back");
    let ping = HEADER_LEN + body_len(&Message::Ping { nonce }).expect("encodable");
    let pong = HEADER_LEN + body_len(&Message::Pong { nonce }).expect("encodable");
    let s = sim.stats();
    assert_eq!(s.bytes_sent, (ping + pong) as u64);
    assert_eq!(s.bytes_delivered, (ping + pong) as u64);
    assert_eq!(sim.node_stats(nodes[0]).sent_bytes, ping as u64);
    assert_eq!(sim.node_stats(nodes[0]).received_bytes, pong as u64);
}

#[test]
fn per_link_overrides_apply_in_both_directions() {
    let (mut sim, nodes, _) = common::flood_sim(15, 3, 2, common::lan());
    sim.set_link(nodes[1], nodes[0], LinkConfig::fixed(Duration::from_millis(100)));
    let b = sim.peer_addr(nodes[1]).expect("exists");
    let c = sim.peer_addr(nodes[2]).expect("exists");
    sim.command(nodes[0], Command::Ping(b));
    sim.command(nodes[0], Command::Ping(c));
    sim.run_until_idle(1000).expect("no invariants");
    let rtts: Vec<(peergroup_base::PeerAddr, Duration)> = sim
        .events()
        .iter()
        .filter_map(|e| match e.event {
            Event::Pong { peer, rtt, .. } => Some((peer, rtt)),
            _ => None,
        })
        .collect();
    assert_eq!(rtts, vec![(c, Duration::from_millis(20)), (b, Duration::from_millis(200))]);
}
