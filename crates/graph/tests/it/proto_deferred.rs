//! Deferred records (`graph.md` §7.5): a record the provider cannot decide yet is kept,
//! not stored or flooded, and validated again on `RetryDeferred`.
#![allow(clippy::unwrap_used)]

use crate::harness;

use std::time::Duration;

use harness::*;
use peergroup_graph::RecordType;
use peergroup_graph::proto::{Command, Config, Event, RecordChange, RecordSource, TestProvider};

const MEMBER_DATA: RecordType = RecordType::from_u128(0xbeef);

#[test]
fn deferred_records_are_kept_and_retried() {
    let mut net = Net::new(31);
    let config = Config::default();
    // a — b — c in a line (a and c refuse each other): b defers the type, so neither b
    // nor c may get the records until b retries.
    let id_of = |net: &Net, k| net.sim.derived_peer_addr(peergroup_sim::NodeIdx(k)).node;
    let (a_id, c_id) = (id_of(&net, 0), id_of(&net, 2));
    let a = net.add(config.clone(), TestProvider::new().deny_node(c_id));
    let b = net.add(config.clone(), TestProvider::new().defer_type(MEMBER_DATA));
    let c = net.add(config, TestProvider::new().deny_node(a_id));
    net.run(Duration::from_millis(1));
    net.connect(b, a);
    net.secs(1);
    net.connect(c, b);
    net.secs(2);
    assert_eq!(net.node(c).neighbour_addrs(), vec![net.addr(b)]);
    let ids: Vec<_> = (0..3).map(|_| net.publish_type(a, MEMBER_DATA, 20)).collect();
    net.secs(3);
    for id in &ids {
        assert!(!net.has(b, id) && !net.has(c, id), "deferred records are not stored or flooded");
    }
    assert_eq!(net.node(b).deferred_len(), 3);
    let deferred = net
        .events_of(b)
        .iter()
        .filter(|e| matches!(e.event, Event::RecordDeferred { record_type: MEMBER_DATA, .. }))
        .count();
    assert_eq!(deferred, 3);
    // Still undecided: a retry keeps them.
    net.command(b, Command::RetryDeferred);
    net.secs(1);
    assert_eq!(net.node(b).deferred_len(), 3);
    // The membership that was missing arrives: the provider decides, the retry stores and
    // floods them on.
    net.node_mut(b).provider_mut().release_type(MEMBER_DATA);
    net.command(b, Command::RetryDeferred);
    net.secs(3);
    assert_eq!(net.node(b).deferred_len(), 0);
    for id in &ids {
        assert!(net.has(b, id) && net.has(c, id), "stored on retry and flooded on");
        let at_b: Vec<_> =
            net.changes(RecordChange::Added, id).into_iter().filter(|e| e.node == b).collect();
        assert!(matches!(
            at_b[0].event,
            Event::RecordChanged { source: RecordSource::Deferred, .. }
        ));
    }
}

#[test]
fn a_retry_that_the_provider_refuses_drops_the_record() {
    let mut net = Net::new(32);
    let a = net.add(Config::default(), TestProvider::new());
    let b = net.add(Config::default(), TestProvider::new().defer_type(MEMBER_DATA));
    net.run(Duration::from_millis(1));
    net.connect(b, a);
    net.secs(1);
    let id = net.publish_type(a, MEMBER_DATA, 20);
    net.secs(2);
    assert_eq!(net.node(b).deferred_len(), 1);
    // The provider now knows the author is not a member.
    let p = net.node_mut(b).provider_mut();
    p.release_type(MEMBER_DATA);
    *p = p.clone().reject_type(MEMBER_DATA, "author is not a member");
    net.command(b, Command::RetryDeferred);
    net.secs(1);
    assert_eq!(net.node(b).deferred_len(), 0);
    assert!(!net.has(b, &id));
    assert!(net.events_of(b).iter().any(|e| matches!(
        &e.event,
        Event::Rejected { error, .. } if error.is_not_authorized()
    )));
}
