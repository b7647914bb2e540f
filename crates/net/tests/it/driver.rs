//! The generic driver runs a sans-IO core (the simulator's flood/ping test protocol) on real
//! QUIC endpoints: floods reach everyone, pings come back, a peer with the wrong key is
//! reported down and never sent anything, a stream refused with `BUSY` is closed and
//! retried with a back-off.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use peergroup_base::PeerAddr;
use peergroup_identity::Identity;
use peergroup_net::driver::{self, DriverConfig, Events, Handle};
use peergroup_net::{Endpoint, EndpointConfig, Expect, ProtocolId};
use peergroup_sim::testproto::{Command, Event, FloodConfig, FloodNode, Message};

async fn next_matching(events: &mut Events<Event>, pred: impl Fn(&Event) -> bool) -> Event {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let e = events.next().await.expect("driver running");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .expect("event within 10 s")
}

struct Node {
    _endpoint: Endpoint,
    addr: PeerAddr,
    handle: Handle<Command>,
    events: Events<Event>,
}

async fn ring(n: usize) -> Vec<Node> {
    let protocol = ProtocolId::new("flood/1").unwrap();
    let mut endpoints = Vec::new();
    for i in 0..n {
        let id = Identity::from_seed([40 + i as u8; 32], &format!("n{i}"), "").unwrap();
        endpoints.push(Endpoint::bind(id, EndpointConfig::loopback()).await.unwrap());
    }
    let addrs: Vec<PeerAddr> = endpoints
        .iter()
        .map(|e| PeerAddr { node: e.identity().node_id(), addr: e.local_addr().unwrap() })
        .collect();
    let mut nodes = Vec::new();
    for (i, ep) in endpoints.into_iter().enumerate() {
        // a ring: each node knows its two neighbours
        let neighbours = vec![addrs[(i + 1) % n], addrs[(i + n - 1) % n]];
        let state = FloodNode::new(neighbours, FloodConfig::default(), i as u64);
        let (handle, events) =
            driver::spawn(&ep, protocol.clone(), state, DriverConfig::default()).unwrap();
        nodes.push(Node { _endpoint: ep, addr: addrs[i], handle, events });
    }
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_reaches_every_node_over_quic() {
    let mut nodes = ring(6).await;
    for node in &mut nodes {
        next_matching(&mut node.events, |e| *e == Event::Started).await;
    }
    nodes[0].handle.command(Command::Publish(7)).await.unwrap();
    for node in &mut nodes {
        next_matching(&mut node.events, |e| *e == Event::Delivered(7)).await;
    }
    // a second rumor from the other side of the ring
    nodes[3].handle.command(Command::Publish(8)).await.unwrap();
    for node in &mut nodes {
        next_matching(&mut node.events, |e| *e == Event::Delivered(8)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_pong_and_wrong_key_reported_down() {
    let mut nodes = ring(2).await;
    let target = nodes[1].addr;
    nodes[0].handle.command(Command::Ping(target)).await.unwrap();
    let pong = next_matching(&mut nodes[0].events, |e| matches!(e, Event::Pong { .. })).await;
    match pong {
        Event::Pong { peer, .. } => assert_eq!(peer, target),
        other => panic!("{other:?}"),
    }
    // node 1's address, but a node id that is not node 1's key: the dial is refused in the
    // handshake and the core hears PeerDown
    let impostor = PeerAddr { node: peergroup_base::NodeId([9; 32]), addr: target.addr };
    nodes[0].handle.command(Command::Ping(impostor)).await.unwrap();
    let down = next_matching(&mut nodes[0].events, |e| matches!(e, Event::PeerDown(_))).await;
    assert_eq!(down, Event::PeerDown(impostor));
}

#[tokio::test]
async fn dropping_every_handle_stops_the_driver() {
    let nodes = ring(1).await;
    let Node { handle, mut events, _endpoint, .. } = nodes.into_iter().next().unwrap();
    next_matching(&mut events, |e| *e == Event::Started).await;
    drop(handle);
    let end = tokio::time::timeout(Duration::from_secs(5), async {
        while events.next().await.is_some() {}
    })
    .await;
    assert!(end.is_ok(), "the event stream ends once the actor stops");
}

/// A peer that refuses our stream with `BUSY` (it already holds its maximum of our streams
/// of the protocol): the writer closes the refused stream, opens another after a back-off,
/// once per refusal — never in a tight loop — and after `busy_retries` refusals in a row
/// reports the peer down. Once the peer has room, the next message goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_refused_busy_is_closed_and_retried_with_back_off() {
    let protocol = ProtocolId::new("flood/1").unwrap();
    let a = Identity::from_seed([60; 32], "a", "").unwrap();
    let b = Identity::from_seed([61; 32], "b", "").unwrap();
    let a_ep = Endpoint::bind(a, EndpointConfig::loopback()).await.unwrap();
    let b_ep = Endpoint::bind(b, EndpointConfig::loopback()).await.unwrap();
    let b_addr = PeerAddr { node: b_ep.identity().node_id(), addr: b_ep.local_addr().unwrap() };
    // B takes one `flood/1` stream per connection, and A holds it already.
    let mut incoming = b_ep.register_limited(protocol.clone(), 1).unwrap();
    let conn = a_ep.connect(b_addr.addr, Expect::Node(b_addr.node)).await.unwrap();
    let mut held = conn.open(&protocol).await.unwrap();
    held.send(&Message::Keepalive).await.unwrap();
    let mut held_at_b = incoming.next().await.unwrap();
    assert_eq!(held_at_b.recv::<Message>().await.unwrap(), Some(Message::Keepalive));

    let mut config = DriverConfig::default();
    config.busy_backoff = Duration::from_millis(10);
    config.busy_retries = 3;
    let state = FloodNode::new(Vec::new(), FloodConfig::default(), 1);
    let (handle, mut events) = driver::spawn(&a_ep, protocol.clone(), state, config).unwrap();
    next_matching(&mut events, |e| *e == Event::Started).await;
    handle.command(Command::Ping(b_addr)).await.unwrap();
    let down = next_matching(&mut events, |e| matches!(e, Event::PeerDown(_))).await;
    assert_eq!(down, Event::PeerDown(b_addr));
    // The first stream and one per retry, each refused once.
    assert_eq!(b_ep.refusals().streams_per_protocol, 1 + 3);

    // B has room again: the next message is delivered on a new stream.
    drop(held_at_b);
    drop(held);
    handle.command(Command::Ping(b_addr)).await.unwrap();
    let mut stream = tokio::time::timeout(Duration::from_secs(10), incoming.next())
        .await
        .expect("a stream within 10 s")
        .expect("endpoint open");
    let msg = tokio::time::timeout(Duration::from_secs(10), stream.recv::<Message>())
        .await
        .expect("a message within 10 s")
        .unwrap();
    assert!(matches!(msg, Some(Message::Ping { .. })), "{msg:?}");
    assert_eq!(b_ep.refusals().streams_per_protocol, 1 + 3, "no further refusal");
}

/// The messages written on a stream before the peer's `BUSY` refusal arrived are written
/// again, in order, on the next stream (the peer refuses a stream before its handler reads
/// any of it): none is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_written_before_a_busy_refusal_are_written_again_on_the_next_stream() {
    let protocol = ProtocolId::new("flood/1").unwrap();
    let a = Identity::from_seed([62; 32], "a", "").unwrap();
    let b = Identity::from_seed([63; 32], "b", "").unwrap();
    let a_ep = Endpoint::bind(a, EndpointConfig::loopback()).await.unwrap();
    let b_ep = Endpoint::bind(b, EndpointConfig::loopback()).await.unwrap();
    let b_addr = PeerAddr { node: b_ep.identity().node_id(), addr: b_ep.local_addr().unwrap() };
    // B takes one `flood/1` stream per connection, and A holds it already.
    let mut incoming = b_ep.register_limited(protocol.clone(), 1).unwrap();
    let conn = a_ep.connect(b_addr.addr, Expect::Node(b_addr.node)).await.unwrap();
    let mut held = conn.open(&protocol).await.unwrap();
    held.send(&Message::Keepalive).await.unwrap();
    let mut held_at_b = incoming.next().await.unwrap();
    assert_eq!(held_at_b.recv::<Message>().await.unwrap(), Some(Message::Keepalive));

    let mut config = DriverConfig::default();
    config.busy_backoff = Duration::from_millis(20);
    config.busy_retries = 1000; // never give up in this test
    let state = FloodNode::new(Vec::new(), FloodConfig::default(), 1);
    let (handle, mut events) = driver::spawn(&a_ep, protocol.clone(), state, config).unwrap();
    next_matching(&mut events, |e| *e == Event::Started).await;
    // Three pings: the first is written on the new stream before B's refusal can arrive.
    for _ in 0..3 {
        handle.command(Command::Ping(b_addr)).await.unwrap();
    }
    tokio::time::timeout(Duration::from_secs(10), async {
        while b_ep.refusals().streams_per_protocol == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("B refuses A's second stream");

    // B has room again: the next stream carries all three pings.
    drop(held_at_b);
    drop(held);
    let mut stream = tokio::time::timeout(Duration::from_secs(10), incoming.next())
        .await
        .expect("a stream within 10 s")
        .expect("endpoint open");
    let mut pings = Vec::new();
    while pings.len() < 3 {
        let msg = tokio::time::timeout(Duration::from_secs(10), stream.recv::<Message>())
            .await
            .expect("a message within 10 s")
            .unwrap();
        match msg {
            Some(Message::Ping { nonce }) => pings.push(nonce),
            Some(_) => {}
            None => panic!("stream ended after {} pings", pings.len()),
        }
    }
    pings.dedup();
    assert_eq!(pings.len(), 3, "three distinct pings, in order: {pings:?}");
}
