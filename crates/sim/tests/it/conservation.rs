//! Property: whatever the link model and crashes, every message copy is accounted for.

use crate::common;

use std::time::Duration;

use peergroup_base::Instant;
use peergroup_sim::testproto::Command;
use peergroup_sim::{Latency, LinkConfig, NodeIdx};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn every_copy_is_delivered_dropped_or_in_flight(
        seed in any::<u64>(),
        loss in 0.0..0.5f64,
        duplicate in 0.0..0.5f64,
        reorder in 0.0..0.5f64,
        crashes in proptest::collection::vec((0u64..2_000, 0u32..60), 0..10),
        cut in 0usize..60,
    ) {
        let link = LinkConfig {
            latency: Latency::Exponential { mean: Duration::from_millis(20) },
            loss, duplicate, reorder,
            ..LinkConfig::default()
        };
        let (mut sim, nodes, _) = common::flood_sim(seed, 60, 6, link);
        if cut > 0 {
            sim.partition(&[&nodes[..cut]]);
        }
        for (at_ms, node) in &crashes {
            sim.schedule_crash(Instant::from_micros(at_ms * 1000), NodeIdx(*node));
            sim.schedule_restart(Instant::from_micros(at_ms * 1000 + 300_000), NodeIdx(*node));
        }
        for id in 0..5u64 {
            sim.schedule_command(Instant::from_micros(id * 400_000), nodes[id as usize * 11], Command::Publish(id));
        }
        for _ in 0..40 {
            sim.run_for(Duration::from_millis(50)).expect("no invariants");
            common::assert_conservation(&sim);
        }
        sim.run_until_idle(10_000_000).expect("no invariants");
        prop_assert_eq!(sim.messages_in_flight(), 0);
        common::assert_conservation(&sim);
        let s = *sim.stats();
        prop_assert_eq!(s.bytes_delivered, sim.all_node_stats().iter().map(|n| n.received_bytes).sum::<u64>());
    }
}
