//! A message to the right address but the wrong node id fails like a handshake would.

use crate::common;

use std::time::Duration;

use peergroup_base::{NodeId, PeerAddr};
use peergroup_sim::testproto::{Command, Event};

#[test]
fn wrong_id_at_an_address_gives_peer_down_and_delivers_nothing() {
    let (mut sim, nodes, _) = common::flood_sim(41, 2, 2, common::lan());
    let b = sim.peer_addr(nodes[1]).expect("exists");
    let impostor = PeerAddr { node: NodeId([0xee; 32]), addr: b.addr };
    sim.command(nodes[0], Command::Ping(impostor));
    sim.run_for(Duration::from_secs(5)).expect("no invariants");

    assert_eq!(sim.node_stats(nodes[1]).received, 0, "nothing reached the node at that address");
    let s = sim.stats();
    assert_eq!((s.messages_sent, s.dropped_unreachable, s.messages_delivered), (1, 1, 0));
    let downs = common::peer_downs(sim.events());
    assert_eq!(downs.len(), 1);
    let (node, at, peer) = downs[0];
    assert_eq!((node, peer), (nodes[0], impostor), "PeerDown names the address as dialled");
    assert_eq!(at.as_micros(), 1_000_000, "after the default 1 s unreachable timeout");
    assert!(!sim.events().iter().any(|e| matches!(e.event, Event::Pong { .. })));
}

#[test]
fn nobody_at_the_address_gives_peer_down() {
    let (mut sim, nodes, _) = common::flood_sim(42, 2, 2, common::lan());
    let b = sim.peer_addr(nodes[1]).expect("exists");
    let nowhere = PeerAddr { node: b.node, addr: "127.255.255.254:3587".parse().expect("valid") };
    assert_eq!(sim.node_at(nowhere.addr), None);
    sim.command(nodes[0], Command::Ping(nowhere));
    sim.run_for(Duration::from_secs(5)).expect("no invariants");
    assert_eq!(sim.stats().dropped_unreachable, 1);
    assert_eq!(common::peer_downs(sim.events()).len(), 1);
    assert_eq!(sim.node_stats(nodes[1]).received, 0);
}
