//! Scale benchmark of the simulator engine (`crates/sim`).
//!
//! 10,000 [`FloodNode`]s on a random graph of average degree 8, default link model
//! (uniform 10–50 ms latency, so every message costs one RNG draw), rumors published
//! every 100 ms from different nodes until the floods add up to at least 1,000,000
//! delivered messages. Each of 5 repetitions builds a fresh simulator and runs it until
//! idle; only the run is timed (setup is reported separately). Prints one JSON line.
//!
//! Run with `cargo bench -p peergroup-benches --bench sim_engine`.
#![allow(clippy::disallowed_methods)] // a benchmark measures wall time
#![allow(clippy::expect_used)] // a failed expect is a failed run

use std::time::Instant as WallClock;

use peergroup_base::Instant;
use peergroup_sim::testproto::{self, Command, Event, FloodConfig, FloodNode};
use peergroup_sim::{Sim, SimConfig};

const NODES: usize = 10_000;
const DEGREE: usize = 8;
const TARGET_MESSAGES: u64 = 1_000_000;
const RUNS: usize = 5;
const SEED: u64 = 2026;

struct Run {
    setup_s: f64,
    wall_s: f64,
    delivered: u64,
    steps: u64,
    trace: u64,
}

fn run_once(graph: &[Vec<u32>], rumors: u64) -> Run {
    let setup = WallClock::now();
    let mut sim: Sim<FloodNode> = Sim::new(SimConfig::with_seed(SEED));
    let nodes = testproto::add_flood_nodes(&mut sim, graph, FloodConfig::default());
    for r in 0..rumors {
        let publisher = nodes[(r as usize * 7919) % NODES];
        sim.schedule_command(Instant::from_micros(r * 100_000), publisher, Command::Publish(r));
    }
    let setup_s = setup.elapsed().as_secs_f64();

    let start = WallClock::now();
    let idle = sim.run_until_idle(u64::MAX).expect("no invariants are registered");
    let wall_s = start.elapsed().as_secs_f64();

    assert!(idle, "the floods end");
    let stats = *sim.stats();
    assert_eq!(stats.messages_delivered, rumors * testproto::flood_cost(graph));
    assert_eq!(stats.dropped(), 0);
    let delivered_events =
        sim.events().iter().filter(|e| matches!(e.event, Event::Delivered(_))).count();
    assert_eq!(delivered_events as u64, rumors * NODES as u64, "every node got every rumor");
    Run {
        setup_s,
        wall_s,
        delivered: stats.messages_delivered,
        steps: stats.steps,
        trace: sim.trace_hash(),
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; there are no other options.
    let graph = testproto::random_graph(NODES, DEGREE, SEED);
    let rumors = TARGET_MESSAGES.div_ceil(testproto::flood_cost(&graph));
    let runs: Vec<Run> = (0..RUNS).map(|_| run_once(&graph, rumors)).collect();

    let first = &runs[0];
    for r in &runs[1..] {
        assert_eq!(r.trace, first.trace, "same seed, same trace");
        assert_eq!((r.delivered, r.steps), (first.delivered, first.steps));
    }
    assert!(first.delivered >= TARGET_MESSAGES);
    let wall: Vec<f64> = runs.iter().map(|r| r.wall_s).collect();
    let median_wall = median(wall.clone());
    let line = serde_json::json!({
        "bench": "sim_engine",
        "nodes": NODES,
        "degree": DEGREE,
        "rumors": rumors,
        "messages_delivered": first.delivered,
        "events": first.steps,
        "setup_seconds": runs.iter().map(|r| r.setup_s).collect::<Vec<_>>(),
        "wall_seconds": wall,
        "median_wall_seconds": median_wall,
        "messages_per_second_median": first.delivered as f64 / median_wall,
        "events_per_second_median": first.steps as f64 / median_wall,
        "trace_hash": format!("{:016x}", first.trace),
    });
    println!("{line}");
}
