//! Presence and the node list (`graph.md` §9.8): every member publishes a presence
//! record, refreshes it at half-life, deletes it on close; a crashed member's presence
//! expires; a node alone with nobody to try asks the application for a connection.
#![allow(clippy::unwrap_used)]

use crate::harness;

use std::collections::BTreeSet;
use std::time::Duration;

use harness::*;
use peergroup_graph::RecordStore;
use peergroup_graph::proto::{
    Command, Config, Event, NodeChange, PRESENCE_TYPE, RecordChange, Status, TestProvider,
};
use peergroup_graph::store::RecordFilter;

fn presence_versions(net: &Net, n: peergroup_sim::NodeIdx) -> Vec<u32> {
    let now = net.now().unix;
    net.node(n)
        .store()
        .enumerate(&RecordFilter::Type(PRESENCE_TYPE), now)
        .unwrap()
        .iter()
        .map(|r| r.version())
        .collect()
}

#[test]
fn presence_is_refreshed_at_half_life_and_expires_after_a_crash() {
    let mut net = Net::new(61);
    let nodes = net.graph(10, &Config::default());
    let everyone: BTreeSet<_> = nodes.iter().map(|&n| net.addr(n).node).collect();
    for &n in &nodes {
        let listed: BTreeSet<_> = net.node(n).nodes().iter().map(|i| i.node).collect();
        let others: BTreeSet<_> =
            everyone.iter().copied().filter(|&x| x != net.addr(n).node).collect();
        assert_eq!(listed, others, "{n}'s node list");
    }
    // Refreshed at half-life (150 s): after 400 s every presence is at version 3 or 4,
    // and still listed.
    net.secs(400);
    for v in presence_versions(&net, nodes[0]) {
        assert!(v >= 3, "refreshed presence, version {v}");
    }
    assert_eq!(net.node(nodes[0]).nodes().len(), 9);
    // A crashed member's presence expires within the lifetime, everywhere.
    let gone = nodes[7];
    let gone_id = net.addr(gone).node;
    net.sim.crash(gone);
    net.secs(310);
    for &n in nodes.iter().filter(|&&n| n != gone) {
        assert!(
            net.node(n).nodes().iter().all(|i| i.node != gone_id),
            "{n} forgot the crashed node"
        );
        assert!(net.events_of(n).iter().any(|e| matches!(
            &e.event,
            Event::NodeChanged { change: NodeChange::Disconnected, node, .. } if *node == gone_id
        )));
        assert!(net.events_of(n).iter().any(|e| matches!(
            &e.event,
            Event::RecordChanged { change: RecordChange::Expired, record_type: PRESENCE_TYPE, .. }
        )));
    }
}

#[test]
fn closing_deletes_the_presence_and_says_goodbye() {
    let mut net = Net::new(62);
    let nodes = net.graph(6, &Config::default());
    let leaving = nodes[2];
    let id = net.addr(leaving).node;
    net.command(leaving, Command::Close);
    net.secs(2);
    assert_eq!(
        net.node(leaving).status(),
        Status { listening: false, has_connections: false, synchronized: false }
    );
    assert!(net.node(leaving).neighbours().is_empty());
    for &n in nodes.iter().filter(|&&n| n != leaving) {
        assert!(net.node(n).nodes().iter().all(|i| i.node != id));
        assert!(!net.node(n).neighbour_addrs().contains(&net.addr(leaving)));
        assert!(net.events_of(n).iter().any(|e| matches!(
            &e.event,
            Event::RecordChanged { change: RecordChange::Deleted, record_type: PRESENCE_TYPE, .. }
        )));
    }
    // A closed node refuses commands.
    net.publish(leaving, 1);
    net.secs(1);
    assert!(net.events_of(leaving).iter().any(|e| matches!(
        &e.event,
        Event::CommandFailed {
            command: "AddRecord",
            error: peergroup_graph::proto::ProtoError::Closed
        }
    )));
}

#[test]
fn status_follows_connections_and_a_lone_node_asks_for_one() {
    let mut net = Net::new(63);
    let a = net.add(Config::default(), TestProvider::new());
    net.secs(10);
    let statuses = |net: &Net, n| -> Vec<Status> {
        net.events_of(n)
            .iter()
            .filter_map(|e| match e.event {
                Event::Status(s) => Some(s),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        statuses(&net, a),
        vec![Status { listening: true, has_connections: false, synchronized: false }]
    );
    assert!(net.events_of(a).iter().any(|e| matches!(e.event, Event::ConnectionRequired)));
    let b = net.add(Config::default(), TestProvider::new());
    net.run(Duration::from_millis(1));
    net.connect(b, a);
    net.secs(2);
    let s = statuses(&net, a);
    assert_eq!(
        *s.last().unwrap(),
        Status { listening: true, has_connections: true, synchronized: true }
    );
}
