//! Flooding with lazy push (`graph.md` §7): every member receives every record, about
//! once; the eager links form a spanning tree; an older copy is answered with the newer
//! one; updates, deletes and expired records follow the store's rules.
#![allow(clippy::unwrap_used)]

use crate::harness;

use std::time::Duration;

use harness::*;
use peergroup_graph::proto::{
    Command, Config, Event, LinkKind, Message, PROTOCOL_VERSION, Priority, RecordChange,
    RecordSource, RecordUpdate, WireRecord,
};

#[test]
fn flooding_delivers_every_record_to_every_member() {
    let mut net = Net::new(11);
    let nodes = net.graph(40, &Config::default());
    assert!(net.connected());
    let mut ids = Vec::new();
    for k in 0..30 {
        let from = nodes[(k * 7) % nodes.len()];
        ids.push(net.publish(from, 64));
        net.run(Duration::from_millis(37));
    }
    net.secs(3);
    for id in &ids {
        assert_eq!(net.holders(&nodes, id), nodes.len(), "record {id} reached everyone");
        // Exactly one `Added` per member: nobody stored it twice.
        assert_eq!(net.changes(RecordChange::Added, id).len(), nodes.len());
    }
}

#[test]
fn lazy_push_keeps_copies_near_one_on_a_spanning_tree() {
    let mut net = Net::new(12);
    let nodes = net.graph(60, &Config::default());
    // Beacon rounds have shaped the tree: each node's eager links are its parent and its
    // children, so the eager links are a spanning tree — 2·(n − 1) link ends.
    let eager: usize =
        nodes.iter().map(|&n| net.node(n).neighbours().iter().filter(|l| l.eager).count()).sum();
    assert_eq!(eager, 2 * (nodes.len() - 1), "eager link ends");
    assert_eq!(nodes.iter().filter(|&&n| net.node(n).parent().is_none()).count(), 1, "one root");
    let before = net.copies(&nodes);
    let records = 50;
    let mut custody = 0;
    for k in 0..records {
        let writer = nodes[(k * 13) % nodes.len()];
        // The writer also hands each lazy neighbour a custody copy (graph.md §7.2).
        custody += net.node(writer).neighbours().iter().filter(|l| !l.eager).count() as u64;
        net.publish(writer, 100);
        net.run(Duration::from_millis(20));
    }
    net.secs(3);
    let copies = net.copies(&nodes) - before;
    let deliveries = (records * (nodes.len() - 1)) as u64;
    assert_eq!(
        copies,
        deliveries + custody,
        "the tree delivers each record exactly once, plus the writer's custody copies"
    );
    assert!((copies as f64) < 1.1 * deliveries as f64);
    // Naive flooding would have sent every record over every link: Σ degree − (n − 1)
    // copies per record, several times more.
    let degree: usize = nodes.iter().map(|&n| net.node(n).neighbours().len()).sum();
    assert!(degree > 3 * nodes.len(), "the overlay has spare links the tree does not use");
}

#[test]
fn receiver_with_a_newer_copy_sends_it_back() {
    let mut net = Net::new(13);
    let nodes = net.graph(3, &Config::default());
    let a = nodes[0];
    let id = net.publish(a, 10);
    net.secs(1);
    let v1 = net.get(a, &id).unwrap();
    net.command(
        a,
        Command::UpdateRecord(RecordUpdate {
            id,
            payload: Some(vec![2; 10]),
            ..Default::default()
        }),
    );
    net.secs(1);
    let v2 = net.get(a, &id).unwrap();
    assert_eq!(v2.version(), 2);
    // An outdated peer joins as a neighbour of `a` and pushes version 1.
    let raw = net.add_raw();
    net.run(Duration::from_millis(1));
    let connect = peergroup_graph::proto::Connect {
        version: PROTOCOL_VERSION,
        graph: graph_id(),
        kind: LinkKind::Neighbour,
        priority: Priority::High,
        instance: 7,
        peer: name_of(99),
    };
    net.raw_send(raw, a, Message::Connect(connect));
    net.secs(1);
    assert!(net.raw_received(raw).iter().any(|(_, m)| matches!(m, Message::Welcome(_))));
    net.clear_raw(raw);
    net.raw_send(raw, a, Message::Push { hops: 1, record: WireRecord::from(&v1) });
    net.secs(1);
    let back: Vec<_> = net
        .raw_received(raw)
        .iter()
        .filter_map(|(_, m)| match m {
            Message::Push { record, .. } => Some(record.clone()),
            _ => None,
        })
        .collect();
    assert!(back.contains(&WireRecord::from(&v2)), "the newer version came back: {back:?}");
    assert_eq!(net.get(a, &id).unwrap(), v2, "the older copy changed nothing");
    assert!(net.node(a).counters().older_received >= 1);
}

#[test]
fn updates_and_deletes_flood_and_tombstones_stay_until_expiry() {
    let mut net = Net::new(14);
    let nodes = net.graph(20, &Config::default());
    let id = net.random_id();
    let r = peergroup_graph::proto::NewRecord::new(id, DATA, Duration::from_secs(120), vec![1]);
    net.command(nodes[3], Command::AddRecord(r));
    net.secs(2);
    net.command(
        nodes[5],
        Command::UpdateRecord(RecordUpdate { id, payload: Some(vec![2]), ..Default::default() }),
    );
    net.secs(2);
    assert!(nodes.iter().all(|&n| net.get(n, &id).unwrap().version() == 2));
    net.command(nodes[7], Command::DeleteRecord(id));
    net.secs(2);
    for &n in &nodes {
        let r = net.get(n, &id).unwrap();
        assert!(r.is_deleted() && r.version() == 3, "tombstone everywhere");
    }
    assert_eq!(net.changes(RecordChange::Deleted, &id).len(), nodes.len());
    // Updating a deleted record fails with the store's rule.
    net.command(
        nodes[3],
        Command::UpdateRecord(RecordUpdate { id, payload: Some(vec![9]), ..Default::default() }),
    );
    net.secs(1);
    assert!(net.events_of(nodes[3]).iter().any(|e| matches!(
        &e.event,
        Event::CommandFailed { command: "UpdateRecord", error } if matches!(error.as_graph_error(), Some(peergroup_graph::GraphError::RecordDeleted { .. }))
    )));
    // The tombstone lives as long as the record would have: purged at expiry everywhere.
    net.secs(120);
    assert_eq!(net.holders(&nodes, &id), 0);
    assert_eq!(net.changes(RecordChange::Expired, &id).len(), nodes.len());
}

#[test]
fn local_records_are_reported_as_local_and_remote_ones_with_their_hops() {
    let mut net = Net::new(15);
    let nodes = net.graph(10, &Config::default());
    let id = net.publish(nodes[0], 5);
    net.secs(2);
    let adds = net.changes(RecordChange::Added, &id);
    let local: Vec<_> = adds
        .iter()
        .filter(|e| matches!(&e.event, Event::RecordChanged { source: RecordSource::Local, .. }))
        .collect();
    assert_eq!(local.len(), 1);
    assert_eq!(local[0].node, nodes[0]);
    for e in adds.iter().filter(|e| e.node != nodes[0]) {
        assert!(
            matches!(&e.event, Event::RecordChanged { source: RecordSource::Flood { hops, .. }, .. } if *hops >= 1)
        );
    }
}

#[test]
fn a_record_survives_the_failure_of_its_writer_and_its_tree_neighbours() {
    let mut net = Net::new(16);
    let nodes = net.graph(40, &Config::default());
    // A writer with both tree links and lazy links.
    let lazy = |net: &Net, n| net.node(n).neighbours().iter().filter(|l| !l.eager).count();
    let writer = *nodes.iter().max_by_key(|&&n| lazy(&net, n)).unwrap();
    assert!(lazy(&net, writer) >= 2);
    let tree: Vec<_> = net
        .node(writer)
        .neighbours()
        .iter()
        .filter(|l| l.eager)
        .map(|l| nodes.iter().copied().find(|&n| net.addr(n) == l.peer).unwrap())
        .collect();
    assert!(!tree.is_empty());
    let id = net.publish(writer, 10);
    // The writer and every tree neighbour fail before the first copy arrives (links take
    // at least 10 ms): only the writer's custody copies to its lazy neighbours remain.
    net.run(Duration::from_millis(5));
    net.sim.crash(writer);
    for &n in &tree {
        net.sim.crash(n);
    }
    net.secs(10);
    let up = net.up();
    assert_eq!(net.holders(&up, &id), up.len(), "every survivor got the record");
}

/// `AddRecords` adds in order as `AddRecord` each would, floods them, and stops at the
/// first that fails (named in `CommandFailed`), the ones before it kept.
#[test]
fn add_records_adds_in_order_and_stops_at_the_first_failure() {
    use peergroup_graph::proto::{Event, NewRecord};
    let mut net = Net::new(15);
    let nodes = net.graph(5, &Config::default());
    let ids: Vec<_> = (0..4).map(|_| net.random_id()).collect();
    let new = |id| NewRecord::new(id, DATA, Duration::from_secs(120), vec![7]);
    // the third repeats the first's id: it fails, and the fourth is not added
    let batch = vec![new(ids[0]), new(ids[1]), new(ids[0]), new(ids[3])];
    net.command(nodes[0], Command::AddRecords(batch));
    net.secs(3);
    for &n in &nodes {
        assert!(net.has(n, &ids[0]) && net.has(n, &ids[1]), "node {n:?}");
        assert!(!net.has(n, &ids[3]), "node {n:?}: added after the failure");
    }
    let failed: Vec<_> = net
        .events_of(nodes[0])
        .into_iter()
        .filter_map(|e| match &e.event {
            Event::CommandFailed { command, error } => Some((*command, error.to_string())),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, "AddRecords");
    assert!(failed[0].1.contains(&ids[0].to_string()), "{failed:?}");
}
