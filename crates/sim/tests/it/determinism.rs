//! Same seed and inputs → identical run; another seed → another run.
#![allow(clippy::expect_used)] // a failed expect is a failed run

use crate::common;

use std::time::Duration;

use peergroup_base::Instant;
use peergroup_sim::testproto::{self, Command, FloodConfig, FloodNode};
use peergroup_sim::{Churn, ChurnNodes, Dist, Latency, LinkConfig, NodeIdx, Sim, SimConfig, Stats};

/// A run that exercises every random decision: latency, loss, duplication, reordering,
/// churn, timers, pings and floods.
fn scenario(seed: u64) -> (u64, Stats, usize) {
    let link = LinkConfig {
        latency: Latency::Shifted {
            base: Duration::from_millis(5),
            jitter_mean: Duration::from_millis(20),
        },
        loss: 0.05,
        duplicate: 0.05,
        reorder: 0.1,
        ..LinkConfig::default()
    };
    let mut sim = Sim::new(SimConfig { seed, default_link: link, ..SimConfig::default() });
    let graph = testproto::random_graph(300, 6, 1); // same graph for every seed
    let config = FloodConfig { keepalive: Some(Duration::from_secs(2)) };
    let nodes = testproto::add_flood_nodes(&mut sim, &graph, config);
    sim.enable_churn(Churn {
        session: Dist::Exponential { median: Duration::from_secs(20) },
        downtime: Dist::Uniform { min: Duration::from_secs(1), max: Duration::from_secs(5) },
        nodes: ChurnNodes::Only(nodes[..100].to_vec()),
    });
    for r in 0..20u64 {
        let at = Instant::from_micros(r * 1_500_000);
        sim.schedule_command(at, nodes[(r * 13) as usize % 300], Command::Publish(r));
        let peer = sim.derived_peer_addr(NodeIdx(((r * 7 + 1) % 300) as u32));
        sim.schedule_command(at, nodes[(r * 7) as usize % 300], Command::Ping(peer));
    }
    sim.schedule_crash(Instant::from_micros(3_000_000), nodes[150]);
    sim.schedule_restart(Instant::from_micros(9_000_000), nodes[150]);
    sim.run_for(Duration::from_secs(40)).expect("no invariants registered");
    let events = sim.drain_events().len();
    (sim.trace_hash(), *sim.stats(), events)
}

#[test]
fn same_seed_replays_exactly() {
    let a = scenario(7);
    let b = scenario(7);
    assert_eq!(a, b);
    let (_, stats, _) = a;
    // The scenario really exercised the model.
    assert!(stats.dropped_loss > 0 && stats.duplicated > 0 && stats.reordered > 0, "{stats:?}");
    assert!(stats.crashes > 50 && stats.restarts > 50, "{stats:?}");
    assert!(stats.timers_fired > 1000 && stats.timers_discarded > 0, "{stats:?}");
    assert!(stats.peer_downs > 0 && stats.dropped_dead > 0, "{stats:?}");
}

#[test]
fn another_seed_gives_another_trace() {
    let a = scenario(7);
    let b = scenario(8);
    assert_ne!(a.0, b.0);
    assert_ne!(a.1, b.1);
}

#[test]
fn trace_covers_message_bytes() {
    // Two runs that differ only in a rumor id (same sizes, same timing) hash differently.
    let run = |id: u64| {
        let (mut sim, nodes, _) = common::flood_sim(3, 50, 4, common::lan());
        sim.command(nodes[0], Command::Publish(id));
        sim.run_until_idle(1_000_000).expect("no invariants");
        (sim.trace_hash(), *sim.stats())
    };
    let (h1, s1) = run(1);
    let (h2, s2) = run(2);
    assert_eq!(s1, s2, "the runs differ only in message content");
    assert_ne!(h1, h2);
}

#[test]
fn node_seeds_differ_per_node_and_incarnation() {
    let mut sim: Sim<FloodNode> = Sim::new(SimConfig::with_seed(5));
    let seeds = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    for _ in 0..3 {
        let seeds = seeds.clone();
        sim.add_node(move |ctx| {
            seeds.borrow_mut().push((ctx.index, ctx.incarnation, ctx.seed));
            FloodNode::new(Vec::new(), FloodConfig::default(), ctx.seed)
        });
    }
    sim.restart(NodeIdx(1));
    let seeds = seeds.borrow();
    assert_eq!(seeds.len(), 4);
    assert_eq!((seeds[3].0, seeds[3].1), (NodeIdx(1), 1));
    let mut distinct: Vec<u64> = seeds.iter().map(|s| s.2).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 4);
}
