//! Direct connections and private data (`graph.md` §9.7): typed data on direct and
//! neighbour connections, connection events, limits.
#![allow(clippy::unwrap_used)]

use crate::harness;

use harness::*;
use peergroup_graph::proto::{
    Command, Config, ConnectionChange, DataType, Event, ProtoError, TestProvider,
};

const CHAT: DataType = DataType::from_u128(0xc4a7);

fn incoming(net: &Net, n: peergroup_sim::NodeIdx) -> Vec<(DataType, Vec<u8>)> {
    net.events_of(n)
        .iter()
        .filter_map(|e| match &e.event {
            Event::IncomingData { data_type, data, .. } => Some((*data_type, data.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn direct_connections_carry_typed_data() {
    let mut net = Net::new(71);
    let nodes = net.graph(8, &Config::default());
    // Two members that are not neighbours.
    let a = nodes[0];
    let b = *nodes[1..]
        .iter()
        .find(|&&n| !net.node(a).neighbour_addrs().contains(&net.addr(n)))
        .unwrap();
    let (addr_a, addr_b) = (net.addr(a), net.addr(b));
    net.command(a, Command::OpenDirect(addr_b));
    net.secs(1);
    assert_eq!(net.node(a).direct_peers(), vec![addr_b]);
    assert_eq!(net.node(b).direct_peers(), vec![addr_a]);
    for n in [a, b] {
        assert!(net.events_of(n).iter().any(|e| matches!(
            &e.event,
            Event::Direct { change: ConnectionChange::Connected, .. }
        )));
    }
    net.command(a, Command::SendData { peer: addr_b, data_type: CHAT, data: b"hello".to_vec() });
    net.command(b, Command::SendData { peer: addr_a, data_type: CHAT, data: b"hi".to_vec() });
    net.secs(1);
    assert_eq!(incoming(&net, b), vec![(CHAT, b"hello".to_vec())]);
    assert_eq!(incoming(&net, a), vec![(CHAT, b"hi".to_vec())]);
    // A direct connection is not a neighbour: records do not flood over it.
    assert!(!net.node(a).neighbour_addrs().contains(&addr_b));
    net.command(a, Command::CloseDirect(addr_b));
    net.secs(1);
    assert!(net.node(b).direct_peers().is_empty());
    assert!(
        net.events_of(b).iter().any(|e| matches!(
            &e.event,
            Event::Direct { change: ConnectionChange::Disconnected, .. }
        ))
    );
    net.command(a, Command::SendData { peer: addr_b, data_type: CHAT, data: b"anyone?".to_vec() });
    net.secs(1);
    assert!(net.events_of(a).iter().any(|e| matches!(
        &e.event,
        Event::CommandFailed { command: "SendData", error: ProtoError::ConnectionNotFound(_) }
    )));
    assert_eq!(incoming(&net, b).len(), 1);
}

#[test]
fn neighbours_exchange_data_too_within_the_size_limit() {
    let mut net = Net::new(72);
    let nodes = net.graph(2, &Config::default());
    let (a, b) = (nodes[0], nodes[1]);
    let addr_b = net.addr(b);
    net.command(a, Command::SendData { peer: addr_b, data_type: CHAT, data: vec![1; 1000] });
    net.command(a, Command::SendData { peer: addr_b, data_type: CHAT, data: vec![1; 70_000] });
    net.secs(1);
    assert_eq!(incoming(&net, b).len(), 1);
    assert!(net.events_of(a).iter().any(|e| matches!(
        &e.event,
        Event::CommandFailed {
            command: "SendData",
            error: ProtoError::TooLarge { field: "data", .. }
        }
    )));
}

#[test]
fn direct_connections_can_be_disallowed() {
    let mut net = Net::new(73);
    let mut closed = Config::default();
    closed.topology.accept_direct = false;
    let a = net.add(Config::default(), TestProvider::new());
    let b = net.add(closed, TestProvider::new());
    net.secs(1);
    let addr_b = net.addr(b);
    net.command(a, Command::OpenDirect(addr_b));
    net.secs(1);
    assert!(net.node(a).direct_peers().is_empty());
    assert!(net.events_of(a).iter().any(|e| matches!(
        &e.event,
        Event::Direct {
            change: ConnectionChange::Failed(ProtoError::ConnectionRefused(
                peergroup_graph::proto::RefuseReason::DirectDisallowed
            )),
            ..
        }
    )));
}
