//! Topology (`graph.md` §9): neighbour bounds, repair after crashes, partition detection
//! and healing, refused duplicate and self connections, churn.
#![allow(clippy::unwrap_used)]

use crate::harness;

use std::collections::BTreeSet;
use std::time::Duration;

use harness::*;
use peergroup_graph::proto::{
    Command, Config, Connect, Event, LinkKind, Message, PROTOCOL_VERSION, Priority, ProtoError,
    RefuseReason, TestProvider,
};
use peergroup_sim::{Churn, ChurnNodes, Dist, NodeIdx};
use rand::SeedableRng;
use rand::seq::SliceRandom;

fn check_bounds(net: &Net, nodes: &[NodeIdx], config: &Config) {
    for &n in nodes {
        let s = net.node(n);
        let k = s.neighbours().len();
        assert!(
            k >= config.topology.min_neighbours && k <= config.topology.max_neighbours,
            "{n}: {k} neighbours"
        );
        assert!(s.passive_view().len() <= config.topology.passive_view);
        let me = net.addr(n);
        assert!(!s.neighbour_addrs().contains(&me), "{n} is its own neighbour");
        let distinct: BTreeSet<_> = s.neighbour_addrs().into_iter().collect();
        assert_eq!(distinct.len(), k, "{n} lists a neighbour twice");
        // Links are symmetric.
        for p in s.neighbour_addrs() {
            let other = nodes.iter().find(|&&m| net.addr(m) == p).unwrap();
            assert!(net.node(*other).neighbour_addrs().contains(&me), "{n} – {other} is one-sided");
        }
    }
}

#[test]
fn neighbour_counts_stay_within_bounds_and_the_graph_connected() {
    let mut net = Net::new(51);
    let config = Config::default();
    let nodes = net.graph(80, &config);
    assert!(net.connected());
    check_bounds(&net, &nodes, &config);
    let mean = nodes.iter().map(|&n| net.node(n).neighbours().len()).sum::<usize>() as f64 / 80.0;
    assert!(mean >= config.topology.ideal_neighbours as f64, "mean degree {mean}");
    // One signature: the lowest node id.
    let lowest = nodes.iter().map(|&n| net.addr(n).node).min().unwrap();
    assert!(nodes.iter().all(|&n| net.node(n).signature() == lowest));
}

#[test]
fn neighbours_are_repaired_after_crashes() {
    let mut net = Net::new(52);
    let config = Config::default();
    let nodes = net.graph(60, &config);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(52);
    let mut order = nodes.clone();
    order.shuffle(&mut rng);
    let crashed: Vec<NodeIdx> = order[..30].to_vec();
    for &n in &crashed {
        net.sim.crash(n);
    }
    // Two repair rounds.
    net.run(config.topology.maintenance_interval * 2);
    let up = net.up();
    assert_eq!(up.len(), 30);
    let dead: BTreeSet<_> = crashed.iter().map(|&n| net.addr(n)).collect();
    for &n in &up {
        let nb = net.node(n).neighbour_addrs();
        assert!(nb.iter().all(|p| !dead.contains(p)), "{n} still lists a crashed neighbour");
        assert!(nb.len() >= config.topology.min_neighbours, "{n} has {} neighbours", nb.len());
    }
    assert!(net.connected());
    check_bounds(&net, &up, &config);
    // The repaired graph floods.
    let id = net.publish(up[0], 10);
    net.secs(2);
    assert_eq!(net.holders(&up, &id), up.len());
    // And the signature moved to the lowest surviving node.
    net.secs(40);
    let lowest = up.iter().map(|&n| net.addr(n).node).min().unwrap();
    assert!(up.iter().all(|&n| net.node(n).signature() == lowest));
}

#[test]
fn a_healed_partition_reconverges() {
    let mut net = Net::new(53);
    let nodes = net.graph(40, &Config::default());
    let shared = net.publish(nodes[0], 10);
    net.secs(2);
    let (left, right) = nodes.split_at(20);
    net.sim.partition(&[left, right]);
    // Both sides write, and both update the shared record.
    let mut written = Vec::new();
    for k in 0..10 {
        written.push(net.publish(left[k], 20));
        written.push(net.publish(right[k], 20));
    }
    for (side, n) in [(0u8, left[3]), (1, right[5])] {
        let u = peergroup_graph::proto::RecordUpdate {
            id: shared,
            payload: Some(vec![side; 5]),
            ..Default::default()
        };
        net.command(n, Command::UpdateRecord(u));
    }
    net.secs(60);
    // Each side repaired itself into a component of its own, with its own signature.
    let sigs: BTreeSet<_> = nodes.iter().map(|&n| net.node(n).signature()).collect();
    assert_eq!(sigs.len(), 2, "two components, two signatures");
    assert!(!net.connected());
    net.sim.heal();
    net.secs(120);
    assert!(net.connected(), "partition healed");
    let heals: u64 = nodes.iter().map(|&n| net.node(n).counters().heals).sum();
    assert!(heals >= 1);
    let sigs: BTreeSet<_> = nodes.iter().map(|&n| net.node(n).signature()).collect();
    assert_eq!(sigs.len(), 1);
    let reference = net.contents(nodes[0]);
    assert_eq!(reference.len(), 21);
    for &n in &nodes {
        assert_eq!(net.contents(n), reference, "{n} converged");
    }
    // The concurrent updates resolved to the same version everywhere.
    let v: BTreeSet<_> = nodes.iter().map(|&n| net.get(n, &shared).unwrap().digest()).collect();
    assert_eq!(v.len(), 1);
}

#[test]
fn duplicate_and_self_connections_are_refused() {
    let mut net = Net::new(54);
    let a = net.add(Config::default(), TestProvider::new());
    let b = net.add(Config::default(), TestProvider::new());
    let raw = net.add_raw();
    net.run(Duration::from_millis(1));
    // Both ask at once: one connection.
    net.connect(a, b);
    net.connect(b, a);
    net.secs(2);
    assert_eq!(net.node(a).neighbour_addrs(), vec![net.addr(b)]);
    assert_eq!(net.node(b).neighbour_addrs(), vec![net.addr(a)]);
    // Self and an existing neighbour: refused locally.
    net.connect(a, a);
    net.connect(a, b);
    net.secs(1);
    let failures: Vec<ProtoError> = net
        .events_of(a)
        .iter()
        .filter_map(|e| match &e.event {
            Event::CommandFailed { command: "Connect", error } => Some(error.clone()),
            _ => None,
        })
        .collect();
    assert!(
        matches!(failures[..], [ProtoError::ConnectSelf, ProtoError::AlreadyConnected(_)]),
        "{failures:?}"
    );
    // A peer asking twice with the same instance is refused; with a new instance (it
    // restarted) it replaces its old connection.
    let connect = |instance| {
        Message::Connect(Connect {
            version: PROTOCOL_VERSION,
            graph: graph_id(),
            kind: LinkKind::Neighbour,
            priority: Priority::High,
            instance,
            peer: name_of(9),
        })
    };
    net.raw_send(raw, a, connect(1));
    net.secs(1);
    net.raw_send(raw, a, connect(1));
    net.secs(1);
    net.raw_send(raw, a, connect(2));
    net.secs(1);
    let answers: Vec<String> = net
        .raw_received(raw)
        .iter()
        .filter_map(|(_, m)| match m {
            Message::Welcome(_) => Some("welcome".to_owned()),
            Message::Refuse(r) => Some(format!("{:?}", r.reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        answers,
        vec!["welcome", &format!("{:?}", RefuseReason::AlreadyConnected), "welcome"]
    );
    let raws = net.node(a).neighbour_addrs().iter().filter(|p| **p == net.addr(raw)).count();
    assert_eq!(raws, 1);
}

#[test]
fn peers_the_provider_refuses_cannot_connect() {
    let mut net = Net::new(55);
    let raw_id = net.sim.derived_peer_addr(NodeIdx(1)).node;
    let a = net.add(Config::default(), TestProvider::new().deny_node(raw_id));
    let raw = net.add_raw();
    net.run(Duration::from_millis(1));
    net.raw_send(
        raw,
        a,
        Message::Connect(Connect {
            version: PROTOCOL_VERSION,
            graph: graph_id(),
            kind: LinkKind::Neighbour,
            priority: Priority::Join,
            instance: 1,
            peer: name_of(1),
        }),
    );
    net.secs(1);
    assert!(
        net.raw_received(raw).iter().any(
            |(_, m)| matches!(m, Message::Refuse(r) if r.reason == RefuseReason::NotAuthorized)
        )
    );
    assert!(net.events_of(a).iter().any(|e| matches!(
        &e.event,
        Event::Rejected { error: ProtoError::NotAuthorized { .. }, .. }
    )));
    assert!(net.node(a).neighbours().is_empty());
}

#[test]
fn churning_members_converge_once_churn_stops() {
    let mut net = Net::new(56);
    let nodes = net.graph(30, &Config::default());
    let churners: Vec<NodeIdx> = nodes[10..].to_vec();
    net.sim.enable_churn(Churn {
        session: Dist::Exponential { median: Duration::from_secs(20) },
        downtime: Dist::Exponential { median: Duration::from_secs(5) },
        nodes: ChurnNodes::Only(churners.clone()),
    });
    // A restarted node rejoins through a stable member (as an application would, with
    // the address it knows), with an empty store.
    let mut ids = Vec::new();
    for k in 0..60 {
        let up = net.up();
        ids.push(net.publish(up[k % up.len()], 10));
        for &n in &churners {
            if net.try_node(n).is_some_and(|s| s.neighbours().is_empty()) {
                net.connect(n, nodes[k % 10]);
            }
        }
        net.secs(1);
    }
    net.sim.disable_churn();
    for &n in &churners {
        if !net.sim.is_up(n) {
            net.sim.restart(n);
        }
    }
    net.run(Duration::from_millis(1));
    // The application answers `ConnectionRequired` (a node that restarted alone).
    for &n in &churners {
        if net.node(n).neighbours().is_empty() {
            net.connect(n, nodes[1]);
        }
    }
    net.secs(30);
    assert!(net.connected());
    let reference = net.contents(nodes[0]);
    for &n in &nodes {
        assert_eq!(net.contents(n), reference, "{n} converged");
    }
    // Records written by members that crashed right after writing may be lost; all the
    // others are everywhere.
    let held = ids.iter().filter(|id| net.has(nodes[0], id)).count();
    assert!(held >= 50, "{held} of 60 records survived churn");
}
