//! Reordering is visible in delivery order; `Disconnect` reaches the peer as `PeerDown`.
#![allow(clippy::expect_used)] // a failed expect is a failed run

use crate::common;

use std::time::Duration;

use peergroup_base::sansio::{InputOf, OutboxOf};
use peergroup_base::{Input, Instant, Now, PeerAddr, Protocol};
use peergroup_sim::testproto::{Command, Event};
use peergroup_sim::{Latency, LinkConfig, Sim, SimConfig};

/// Pong nonces in arrival order, relative to the first nonce sent.
fn pong_order(reorder: f64) -> (Vec<u64>, u64) {
    let link = common::lan().with_reorder(
        reorder,
        Latency::Uniform { min: Duration::ZERO, max: Duration::from_millis(30) },
    );
    let (mut sim, nodes, _) = common::flood_sim(61, 2, 2, link);
    let b = sim.peer_addr(nodes[1]).expect("exists");
    for _ in 0..200 {
        sim.command(nodes[0], Command::Ping(b));
    }
    sim.run_until_idle(100_000).expect("no invariants");
    let nonces: Vec<u64> = sim
        .events()
        .iter()
        .filter_map(|e| match e.event {
            Event::Pong { nonce, .. } => Some(nonce),
            _ => None,
        })
        .collect();
    assert_eq!(nonces.len(), 200, "reordering loses nothing");
    let first = *nonces.iter().min().expect("pongs");
    (nonces.into_iter().map(|n| n - first).collect(), sim.stats().reordered)
}

#[test]
fn fixed_latency_keeps_send_order() {
    let (order, reordered) = pong_order(0.0);
    assert_eq!(order, (0..200).collect::<Vec<_>>());
    assert_eq!(reordered, 0);
}

#[test]
fn reordering_lets_later_messages_overtake() {
    let (order, reordered) = pong_order(0.3);
    assert_ne!(order, (0..200).collect::<Vec<_>>());
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..200).collect::<Vec<_>>(), "same pongs, different order");
    // 400 messages (pings and pongs), each held back with probability 0.3.
    assert!((80..160).contains(&reordered), "{reordered} reordered");
}

/// A protocol that disconnects from a peer on command and reports `PeerDown`s.
struct Closer;

impl Protocol for Closer {
    type Message = ();
    type Command = PeerAddr;
    type Event = PeerAddr;
    type Timer = ();

    fn handle(&mut self, _now: Now, input: InputOf<Self>, out: &mut OutboxOf<Self>) {
        match input {
            Input::Command(peer) => out.disconnect(peer),
            Input::PeerDown(peer) => out.emit(peer),
            _ => {}
        }
    }
}

#[test]
fn disconnect_reaches_the_peer_after_one_latency() {
    let config = SimConfig { default_link: common::lan(), ..SimConfig::default() };
    let mut sim = Sim::new(config);
    let a = sim.add_node(|_| Closer);
    let b = sim.add_node(|_| Closer);
    let (a_addr, b_addr) = (sim.peer_addr(a).expect("a"), sim.peer_addr(b).expect("b"));
    sim.command(a, b_addr);
    sim.run_until_idle(100).expect("no invariants");
    let got: Vec<_> = sim.events().iter().map(|e| (e.at, e.node, e.event)).collect();
    assert_eq!(got, vec![(Instant::from_micros(10_000), b, a_addr)]);
    assert_eq!(sim.stats().disconnects, 1);

    // A disconnect to a crashed peer goes nowhere.
    sim.crash(b);
    sim.command(a, b_addr);
    sim.run_until_idle(100).expect("no invariants");
    assert_eq!(sim.events().len(), 1);
    assert_eq!(sim.stats().disconnects, 2);
}

#[test]
fn unix_time_follows_the_virtual_clock() {
    struct Clock(Vec<Now>);
    impl Protocol for Clock {
        type Message = ();
        type Command = ();
        type Event = Now;
        type Timer = ();
        fn handle(&mut self, now: Now, input: InputOf<Self>, out: &mut OutboxOf<Self>) {
            match input {
                Input::Start => out.set_timer(now.instant + Duration::from_millis(1500), ()),
                Input::Timer(()) => out.emit(now),
                _ => {}
            }
            self.0.push(now);
        }
    }
    let mut sim = Sim::new(SimConfig::default());
    sim.add_node(|_| Clock(Vec::new()));
    sim.run_until_idle(10).expect("no invariants");
    let start = SimConfig::default().start_unix;
    let fired = sim.events()[0].event;
    assert_eq!(fired.instant, Instant::from_micros(1_500_000));
    assert_eq!(fired.unix, start.saturating_add(Duration::from_millis(1500)));
    let _ = LinkConfig::default();
}
