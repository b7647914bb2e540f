//! Helpers shared by the simulator's integration tests.
#![allow(dead_code, unreachable_pub)] // each test file uses a different subset

use std::collections::BTreeMap;
use std::time::Duration;

use peergroup_sim::testproto::{self, Event, FloodConfig, FloodNode};
use peergroup_sim::{Emitted, LinkConfig, NodeIdx, Sim, SimConfig};

/// A simulator of flood nodes on a random graph with the given link model.
pub fn flood_sim(
    seed: u64,
    n: usize,
    degree: usize,
    link: LinkConfig,
) -> (Sim<FloodNode>, Vec<NodeIdx>, Vec<Vec<u32>>) {
    let mut sim = Sim::new(SimConfig { seed, default_link: link, ..SimConfig::default() });
    let graph = testproto::random_graph(n, degree, seed);
    let nodes = testproto::add_flood_nodes(&mut sim, &graph, FloodConfig::default());
    (sim, nodes, graph)
}

/// A perfect link with a 10 ms delay.
pub fn lan() -> LinkConfig {
    LinkConfig::fixed(Duration::from_millis(10))
}

/// How many times each node emitted `Delivered(id)`.
pub fn deliveries(events: &[Emitted<Event>], id: u64) -> BTreeMap<NodeIdx, usize> {
    let mut out = BTreeMap::new();
    for e in events {
        if e.event == Event::Delivered(id) {
            *out.entry(e.node).or_default() += 1;
        }
    }
    out
}

/// The `PeerDown` events each node emitted, with their times.
pub fn peer_downs(
    events: &[Emitted<Event>],
) -> Vec<(NodeIdx, peergroup_base::Instant, peergroup_base::PeerAddr)> {
    events
        .iter()
        .filter_map(|e| match e.event {
            Event::PeerDown(p) => Some((e.node, e.at, p)),
            _ => None,
        })
        .collect()
}

/// Asserts the message conservation law of [`peergroup_sim::Stats`].
pub fn assert_conservation(sim: &Sim<FloodNode>) {
    let s = sim.stats();
    assert_eq!(
        s.messages_sent + s.duplicated,
        s.messages_delivered + s.dropped() + sim.messages_in_flight(),
        "every message copy is delivered, dropped or in flight: {s:?}"
    );
}
