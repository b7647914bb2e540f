//! Synchronisation on connect (`graph.md` §8): a late joiner catches up; the cost is
//! proportional to the difference, not to the database; security records come first.
#![allow(clippy::unwrap_used)]

use crate::harness;

use std::time::Duration;

use harness::*;
use peergroup_graph::proto::{Config, Event, RecordChange, RecordSource, TestProvider};
use peergroup_graph::record::Record;
use peergroup_graph::{MemStore, RecordId, RecordStore, RecordType};
use peergroup_sim::NodeIdx;

const SECURITY: RecordType = RecordType::from_u128(0x0100_0000);

fn quiet() -> Config {
    let mut c = Config::default();
    c.presence.publish_presence = false;
    c
}

fn records(net: &mut Net, t: RecordType, n: usize) -> Vec<Record> {
    (0..n).map(|k| record(net.random_id(), t, k % 7, sim_start(), &[k as u8; 40])).collect()
}

fn prefilled(net: &mut Net, config: Config, provider: TestProvider, recs: Vec<Record>) -> NodeIdx {
    net.add_with_store(config, provider, move || {
        let mut s = MemStore::default();
        s.apply_batch(&recs, sim_start()).unwrap();
        s
    })
}

/// Two nodes share `shared` records and each has `diff / 2` of its own; the second
/// connects to the first. Returns (reconcile bytes both ways, records transferred).
fn sync_pair(seed: u64, shared: usize, diff: usize) -> (u64, u64) {
    let mut net = Net::new(seed);
    let common = records(&mut net, DATA, shared);
    let a_only = records(&mut net, DATA, diff / 2);
    let b_only = records(&mut net, DATA, diff - diff / 2);
    let a = prefilled(
        &mut net,
        quiet(),
        TestProvider::new(),
        [common.clone(), a_only.clone()].concat(),
    );
    let b = prefilled(&mut net, quiet(), TestProvider::new(), [common, b_only.clone()].concat());
    net.run(Duration::from_millis(1));
    net.connect(b, a);
    net.secs(5);
    assert_eq!(net.contents(a), net.contents(b), "both replicas hold the union");
    assert_eq!(net.contents(a).len(), shared + diff);
    for r in a_only.iter().chain(&b_only) {
        assert!(net.has(a, &r.id()) && net.has(b, &r.id()));
    }
    let (ca, cb) = (net.node(a).counters(), net.node(b).counters());
    assert_eq!((ca.syncs_completed, cb.syncs_completed), (1, 1));
    (ca.reconcile_bytes_sent + cb.reconcile_bytes_sent, ca.sync_records_sent + cb.sync_records_sent)
}

#[test]
fn sync_cost_is_proportional_to_the_difference_not_the_database() {
    let (small_db, sent) = sync_pair(1, 500, 20);
    assert_eq!(sent, 20, "exactly the differing records are transferred");
    let (large_db, sent) = sync_pair(2, 8_000, 20);
    assert_eq!(sent, 20);
    // 16 times the records, about the same bytes.
    assert!(
        large_db < small_db * 2,
        "reconciliation bytes grew with the database: {small_db} → {large_db}"
    );
    let (big_diff, sent) = sync_pair(3, 2_000, 400);
    assert_eq!(sent, 400);
    // 20 times the difference: bytes grow with it, at well under 100 bytes per item.
    assert!(big_diff > 5 * small_db, "{small_db} → {big_diff}");
    assert!(big_diff < 400 * 100, "{big_diff} bytes for 400 differences");
    // Identical replicas cost one small exchange.
    let (same, sent) = sync_pair(4, 2_000, 0);
    assert_eq!(sent, 0);
    assert!(same < 2_048, "{same} bytes to find no difference");
}

#[test]
fn late_joiner_catches_up_by_sync() {
    let mut net = Net::new(21);
    let nodes = net.graph(15, &Config::default());
    let ids: Vec<RecordId> = (0..60).map(|k| net.publish(nodes[k % nodes.len()], 50)).collect();
    net.secs(3);
    let late = net.add(Config::default(), TestProvider::new());
    net.run(Duration::from_millis(1));
    net.connect(late, nodes[4]);
    net.secs(5);
    for id in &ids {
        assert!(net.has(late, id), "the late joiner has {id}");
        let how: Vec<_> = net
            .changes(RecordChange::Added, id)
            .into_iter()
            .filter(|e| e.node == late)
            .map(|e| match &e.event {
                Event::RecordChanged { source, .. } => *source,
                _ => unreachable!(),
            })
            .collect();
        assert!(matches!(how[..], [RecordSource::Sync { .. }]), "{how:?}");
    }
    assert_eq!(net.contents(late), net.contents(nodes[0]));
    let synced = net
        .events_of(late)
        .iter()
        .filter(|e| matches!(e.event, Event::Synchronized { .. }))
        .count();
    assert!(synced >= 1);
    assert!(net.node(late).status().synchronized && net.node(late).status().has_connections);
    // The other members know the joiner: its presence record reached them.
    let me = net.addr(late).node;
    assert!(net.node(nodes[9]).nodes().iter().any(|n| n.node == me));
}

#[test]
fn security_records_sync_before_data_records() {
    let mut net = Net::new(22);
    let provider = TestProvider::new().with_security_types(vec![SECURITY]);
    let mut recs = records(&mut net, DATA, 300);
    let security = records(&mut net, SECURITY, 30);
    recs.extend(security.iter().cloned());
    let a = prefilled(&mut net, quiet(), provider.clone(), recs);
    let b = net.add(quiet(), provider);
    net.run(Duration::from_millis(1));
    net.connect(b, a);
    net.secs(5);
    let order: Vec<RecordType> = net
        .events_of(b)
        .iter()
        .filter_map(|e| match &e.event {
            Event::RecordChanged { change: RecordChange::Added, record_type, .. } => {
                Some(*record_type)
            }
            _ => None,
        })
        .collect();
    assert_eq!(order.len(), 330);
    let first_data = order.iter().position(|t| *t == DATA).unwrap();
    let last_security = order.iter().rposition(|t| *t == SECURITY).unwrap();
    assert!(last_security < first_data, "every security record arrived before any data record");
    assert_eq!(first_data, 30);
}

#[test]
fn sync_batches_are_bounded_and_acknowledged() {
    use peergroup_graph::proto::{
        Connect, LinkKind, Message, PROTOCOL_VERSION, Priority, SyncMessage, SyncPhase,
    };
    use peergroup_reconcile::{DigestSet, Session};

    let mut net = Net::new(23);
    let mut config = quiet();
    config.sync.sync_batch_bytes = 4096;
    config.sync.sync_window = 2;
    let recs = records(&mut net, DATA, 200);
    let a = prefilled(&mut net, config, TestProvider::new(), recs);
    // A raw peer connects and runs the reconciliation itself, from an empty set.
    let raw = net.add_raw();
    net.run(Duration::from_millis(1));
    let connect = Connect {
        version: PROTOCOL_VERSION,
        graph: graph_id(),
        kind: LinkKind::Neighbour,
        priority: Priority::High,
        instance: 1,
        peer: name_of(50),
    };
    net.raw_send(raw, a, Message::Connect(connect));
    net.secs(1);
    let mut session =
        Session::initiator(peergroup_reconcile::Config::default(), DigestSet::new(), [3; 16])
            .unwrap();
    let mut seen = 0;
    let batches = |net: &Net| -> Vec<usize> {
        net.raw_received(raw)
            .iter()
            .filter_map(|(_, m)| match m {
                Message::Sync(SyncMessage::Records { records, .. }) => {
                    Some(records.iter().map(|r| r.len()).sum::<usize>())
                }
                _ => None,
            })
            .collect()
    };
    while !session.is_finished() {
        while let Some(payload) = session.poll_transmit() {
            let m = Message::Sync(SyncMessage::Reconcile { phase: SyncPhase::All, payload });
            net.raw_send(raw, a, m);
        }
        net.secs(1);
        let replies: Vec<Vec<u8>> = net.raw_received(raw)[seen..]
            .iter()
            .filter_map(|(_, m)| match m {
                Message::Sync(SyncMessage::Reconcile { payload, .. }) => Some(payload.clone()),
                _ => None,
            })
            .collect();
        seen = net.raw_received(raw).len();
        for p in replies {
            session.handle(&p).unwrap();
        }
    }
    assert_eq!(session.take_outcome().unwrap().remote_only.len(), 200);
    net.secs(2);
    // Without acknowledgements the node sends exactly `sync_window` batches, each within
    // `sync_batch_bytes`.
    let got = batches(&net);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.iter().all(|&b| b <= 4096), "{got:?}");
    // Each acknowledgement releases one more batch; the node ends with `Done`.
    let mut acks = 0;
    while !net
        .raw_received(raw)
        .iter()
        .any(|(_, m)| matches!(m, Message::Sync(SyncMessage::Done { .. })))
    {
        net.raw_send(raw, a, Message::Sync(SyncMessage::Ack { phase: SyncPhase::All }));
        acks += 1;
        net.secs(1);
        assert!(batches(&net).len() <= acks + 2);
        assert!(acks < 100);
    }
    let total: usize = net
        .raw_received(raw)
        .iter()
        .filter_map(|(_, m)| match m {
            Message::Sync(SyncMessage::Records { records, .. }) => Some(records.len()),
            _ => None,
        })
        .sum();
    assert_eq!(total, 200);
    assert!(batches(&net).len() >= 200 * 100 / 4096, "records came in many bounded batches");
}

/// Anti-entropy (`graph.md` §8.6): a record one replica holds but never flooded (here:
/// written into its store behind the node's back, as a lost `Push` would leave things)
/// reaches the neighbour at the next periodic re-synchronisation, once it is older than
/// the settle time; identical replicas re-synchronise without transferring anything.
#[test]
fn periodic_resync_repairs_a_lost_flood() {
    let mut net = Net::new(41);
    let a = net.add(quiet(), TestProvider::new());
    let b = net.add(quiet(), TestProvider::new());
    net.run(Duration::from_millis(1));
    net.connect(b, a);
    net.secs(2);
    assert_eq!(net.node(b).counters().syncs_completed, 1);
    let lost = record(net.random_id(), DATA, 1, net.now().unix, b"lost on the way");
    let now = net.now().unix;
    net.node_mut(a).store_mut().apply(&lost, now).unwrap();
    assert!(!net.has(b, &lost.id()));
    // Re-synchronisations run every 30 s (checked at 5 s maintenance rounds); the record
    // is left out until it is 5 s old, then transferred.
    net.secs(45);
    assert!(net.has(b, &lost.id()), "the re-synchronisation brought the lost record");
    let by_sync = net.changes(RecordChange::Added, &lost.id());
    assert!(
        by_sync.iter().any(|e| matches!(
            e.event,
            Event::RecordChanged { source: RecordSource::Sync { .. }, .. }
        )),
        "it came by synchronisation"
    );
    let (ca, cb) = (net.node(a).counters(), net.node(b).counters());
    assert!(ca.syncs_completed >= 2 && cb.syncs_completed >= 2, "{ca:?} {cb:?}");
    // Identical replicas: later rounds transfer nothing and cost little.
    let sent_before = ca.sync_records_sent + cb.sync_records_sent;
    let bytes_before = ca.reconcile_bytes_sent + cb.reconcile_bytes_sent;
    let rounds_before = ca.syncs_completed;
    net.secs(120);
    let (ca, cb) = (net.node(a).counters(), net.node(b).counters());
    assert!(ca.syncs_completed >= rounds_before + 3, "re-synchronisations keep running");
    assert_eq!(ca.sync_records_sent + cb.sync_records_sent, sent_before);
    let per_round = (ca.reconcile_bytes_sent + cb.reconcile_bytes_sent - bytes_before)
        / (ca.syncs_completed - rounds_before);
    assert!(per_round < 1024, "a re-synchronisation of identical replicas cost {per_round} B");
    // And none of them is reported as news.
    let syncs =
        net.events_of(b).iter().filter(|e| matches!(e.event, Event::Synchronized { .. })).count();
    assert_eq!(syncs, 2, "the first synchronisation and the one that moved a record");
}

/// A joiner's further neighbours (join walks end at them, and they connect to it) hold
/// their first synchronisation with it until its running one is over, so the joiner
/// receives each record about once, not once per neighbour.
#[test]
fn a_joiner_receives_each_record_about_once() {
    let mut net = Net::new(23);
    let nodes = net.graph(12, &Config::default());
    let n = 3_000;
    let ids: Vec<RecordId> = (0..n).map(|k| net.publish(nodes[k % nodes.len()], 1_000)).collect();
    net.secs(10);
    let late = net.add(Config::default(), TestProvider::new());
    net.run(Duration::from_millis(1));
    net.connect(late, nodes[4]);
    net.secs(20);
    for id in &ids {
        assert!(net.has(late, id));
    }
    let c = net.node(late).counters();
    let neighbours = net.node(late).neighbours().len();
    eprintln!(
        "joiner: {} copies for {n} records, {neighbours} neighbours, {c:?}",
        c.copies_received
    );
    assert!(neighbours >= 2, "the joiner got more than one neighbour");
    assert!(
        (c.copies_received as f64) < 1.2 * n as f64,
        "{} copies for {n} records",
        c.copies_received
    );
}

/// The same when the joiner itself connects to several members at once: it opens one
/// first synchronisation at a time.
#[test]
fn a_joiner_connecting_to_several_members_receives_each_record_about_once() {
    let mut net = Net::new(24);
    let nodes = net.graph(12, &Config::default());
    let n = 3_000;
    for k in 0..n {
        net.publish(nodes[k % nodes.len()], 1_000);
    }
    net.secs(10);
    let late = net.add(Config::default(), TestProvider::new());
    net.run(Duration::from_millis(1));
    for &m in &nodes[..3] {
        net.connect(late, m);
    }
    net.secs(30);
    assert_eq!(net.contents(late), net.contents(nodes[5]), "the joiner has everything");
    let c = net.node(late).counters();
    assert!(net.node(late).neighbours().len() >= 3);
    assert!(
        (c.copies_received as f64) < 1.2 * n as f64,
        "{} copies for {n} records",
        c.copies_received
    );
}
