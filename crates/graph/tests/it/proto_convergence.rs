//! Convergence (`graph.md` §3.3, §7, §8): whatever the link delays, the timing of
//! concurrent writes, deletes, partitions and restarts, every replica ends with the same
//! store — property tested over random schedules.
#![allow(clippy::unwrap_used)]

use crate::harness;

use std::time::Duration;

use harness::*;
use peergroup_graph::RecordId;
use peergroup_graph::proto::{Command, Config, NewRecord, RecordUpdate};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Node writes the next version of record `slot` (created by node `slot % n` first).
    Update { node: usize, slot: usize, payload: u8 },
    /// Node deletes record `slot`.
    Delete { node: usize, slot: usize },
    /// Wait.
    Wait { ms: u64 },
    /// Cut the network in two at `at` for `secs` seconds.
    Partition { at: usize, secs: u64 },
    /// The node crashes and restarts with an empty store, then rejoins through the next
    /// node (as the application does on `ConnectionRequired`).
    Restart { node: usize },
}

fn op(nodes: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..nodes, 0..4usize, any::<u8>()).prop_map(|(node, slot, payload)| Op::Update { node, slot, payload }),
        1 => (0..nodes, 0..4usize).prop_map(|(node, slot)| Op::Delete { node, slot }),
        3 => (0..400u64).prop_map(|ms| Op::Wait { ms }),
        1 => (1..nodes, 1..20u64).prop_map(|(at, secs)| Op::Partition { at, secs }),
        1 => (0..nodes).prop_map(|node| Op::Restart { node }),
    ]
}

fn schedule() -> impl Strategy<Value = (u64, usize, Vec<Op>)> {
    (any::<u64>(), 3..7usize)
        .prop_flat_map(|(seed, n)| (Just(seed), Just(n), proptest::collection::vec(op(n), 5..40)))
}

fn run(seed: u64, n: usize, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut net = Net::new(seed);
    let nodes = net.graph(n, &Config::default());
    // Four records, created by different nodes at once.
    let slots: Vec<RecordId> = (0..4).map(|_| net.random_id()).collect();
    for (k, id) in slots.iter().enumerate() {
        let r = NewRecord::new(*id, DATA, Duration::from_secs(3600), vec![k as u8]);
        net.command(nodes[k % n], Command::AddRecord(r));
    }
    let mut heal_at = None;
    for op in ops {
        match *op {
            Op::Update { node, slot, payload } => {
                let u = RecordUpdate {
                    id: slots[slot],
                    payload: Some(vec![payload]),
                    ..Default::default()
                };
                net.command(nodes[node], Command::UpdateRecord(u));
            }
            Op::Delete { node, slot } => {
                net.command(nodes[node], Command::DeleteRecord(slots[slot]))
            }
            Op::Wait { ms } => net.run(Duration::from_millis(ms)),
            Op::Restart { node } => {
                net.sim.restart(nodes[node]);
                net.connect(nodes[node], nodes[(node + 1) % n]);
            }
            Op::Partition { at, secs } => {
                if heal_at.is_none() {
                    let (l, r) = nodes.split_at(at);
                    net.sim.partition(&[l, r]);
                    heal_at = Some(net.now().instant + Duration::from_secs(secs));
                }
            }
        }
        if heal_at.is_some_and(|t| net.now().instant >= t) {
            net.sim.heal();
            heal_at = None;
        }
    }
    net.sim.heal();
    // Restarted nodes lost their stores, so after a partition a group of them may know
    // no member of another group at all: no protocol can find nodes it has never heard
    // of. The application's long-term repair ([MS-PPGRH] 3.1.7.15: it finds a member, by
    // PNRP for a group, and connects) is modelled by each node asking, every 10 s, for
    // a connection to the next node until it has one. Repair, probes and
    // synchronisation do the rest.
    for _ in 0..12 {
        for k in 0..n {
            let next = net.addr(nodes[(k + 1) % n]);
            if !net.node(nodes[k]).neighbour_addrs().contains(&next) {
                net.connect(nodes[k], nodes[(k + 1) % n]);
            }
        }
        net.secs(10);
    }
    let reference = net.contents(nodes[0]);
    for &node in &nodes[1..] {
        prop_assert_eq!(&net.contents(node), &reference, "replica {} differs", node);
    }
    Ok(())
}

proptest! {
    // 64 schedules by default (about a second in debug); `PROPTEST_CASES` runs more.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64),
        ..ProptestConfig::default()
    })]

    #[test]
    fn replicas_converge_to_identical_stores(s in schedule()) {
        run(s.0, s.1, &s.2)?;
    }
}
