//! Graph nodes over real QUIC on loopback: three peers join one graph, exchange records
//! by flooding and synchronisation, send direct data, report events; a node of another
//! graph is refused while the others keep serving; a closed graph reopens with its records.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use peergroup_graph::net::{Graph, GraphEvents, GraphNetError, GraphOptions, random_record_id};
use peergroup_graph::proto::{
    ConnectionChange, DataType, Event, NewRecord, RecordSource, RecordUpdate, TestProvider,
};
use peergroup_graph::{GraphId, RecordFilter, RecordType};
use peergroup_identity::Identity;
use peergroup_net::{Endpoint, EndpointConfig};

const CHAT: RecordType = RecordType::from_u128(0x0c4a_7000_0000_4000_8000_0000_0000_0001);
const WAIT: Duration = Duration::from_secs(30);

async fn endpoint(name: &str) -> Endpoint {
    let id = Identity::generate(name, "").unwrap();
    Endpoint::bind(id, EndpointConfig::loopback()).await.unwrap()
}

fn options(graph: &str, dir: &std::path::Path) -> GraphOptions {
    GraphOptions::new(GraphId::new(graph).unwrap()).data_dir(dir)
}

fn chat(text: &str) -> NewRecord {
    NewRecord::new(random_record_id(), CHAT, Duration::from_secs(3600), text.as_bytes().to_vec())
        .attribute("text", text)
}

/// Polls `f` until it returns `Some`, at most `WAIT`.
async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let poll = async {
        loop {
            if let Some(v) = f().await {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(WAIT, poll)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// The next event matching `pred`, at most `WAIT`.
async fn next_event(events: &mut GraphEvents, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    tokio::time::timeout(WAIT, async {
        loop {
            let e = events.next().await.expect("event stream ended");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for event: {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_peers_exchange_records_data_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let (ea, eb, ec) = (endpoint("alice").await, endpoint("bob").await, endpoint("carol").await);
    let mut alice = Graph::create(&ea, options("club", dir.path()), TestProvider::new()).unwrap();
    let mut bob = Graph::create(&eb, options("club", dir.path()), TestProvider::new()).unwrap();
    let mut carol = Graph::create(&ec, options("club", dir.path()), TestProvider::new()).unwrap();
    let mut alice_events = alice.events();
    let mut bob_events = bob.events();

    // Writes need a started graph.
    assert!(matches!(alice.add_record(chat("too early")).await, Err(GraphNetError::NotStarted)));

    alice.listen().await.unwrap();
    assert!(alice.status().listening);
    // A record written before anyone joined reaches the joiners by synchronisation.
    let first = alice.add_record(chat("first")).await.unwrap();
    assert_eq!(first.version(), 1);
    assert_eq!(first.creator(), ea.peer_name());

    let a_peer = bob.connect(ea.local_addr().unwrap()).await.unwrap();
    assert_eq!(a_peer.node, ea.identity().node_id());
    carol.connect(ea.local_addr().unwrap()).await.unwrap();
    for g in [&bob, &carol] {
        g.wait_status(WAIT, |s| s.synchronized).await.expect("synchronized");
    }
    next_event(&mut bob_events, "sync of the first record", |e| {
        matches!(e, Event::RecordChanged { id, source: RecordSource::Sync { .. }, .. } if *id == first.id())
            || matches!(e, Event::RecordChanged { id, .. } if *id == first.id())
    })
    .await;
    for g in [&bob, &carol] {
        eventually("first record", || async { g.get(first.id()).await.unwrap() }).await;
    }

    // Flooding: bob writes, alice and carol receive.
    let from_bob = bob.add_record(chat("hello from bob")).await.unwrap();
    for g in [&alice, &carol] {
        let r = eventually("bob's record", || async { g.get(from_bob.id()).await.unwrap() }).await;
        assert_eq!(r.payload(), b"hello from bob");
    }
    next_event(
        &mut alice_events,
        "bob's record event",
        |e| matches!(e, Event::RecordChanged { id, .. } if *id == from_bob.id()),
    )
    .await;

    // Update and delete travel too.
    let update = RecordUpdate {
        id: from_bob.id(),
        payload: Some(b"edited".to_vec()),
        ..RecordUpdate::default()
    };
    let v2 = bob.update_record(update).await.unwrap();
    assert_eq!(v2.version(), 2);
    eventually("the update at carol", || async {
        carol.get(from_bob.id()).await.unwrap().filter(|r| r.version() == 2)
    })
    .await;
    alice.delete_record(first.id()).await.unwrap();
    assert!(alice.get(first.id()).await.unwrap().is_none());
    for g in [&bob, &carol] {
        eventually("the delete", || async {
            g.get(first.id()).await.unwrap().is_none().then_some(())
        })
        .await;
    }

    // Enumerate and search on a replica.
    let chats = carol.enumerate(RecordFilter::Type(CHAT)).await.unwrap();
    assert_eq!(chats.len(), 1, "one live chat record: {chats:?}");
    let found = carol.search("text = \"hello*\"").await.unwrap();
    assert_eq!(found.len(), 1);
    let bad = carol.search("text = ").await.unwrap_err();
    assert!(bad.to_string().contains("at byte"), "{bad}");

    // Node list from presence records (each node lists the two others).
    for g in [&alice, &bob, &carol] {
        eventually("two other nodes", || async {
            (g.nodes().await.unwrap().len() == 2).then_some(())
        })
        .await;
    }

    // Direct data on a neighbour connection.
    let ping = DataType(*b"peergroup/test/1");
    bob.send_data(ea.identity().node_id(), ping, b"ping".to_vec()).await.unwrap();
    let e =
        next_event(&mut alice_events, "incoming data", |e| matches!(e, Event::IncomingData { .. }))
            .await;
    let Event::IncomingData { peer, data_type, data } = e else { unreachable!() };
    assert_eq!(
        (peer.node, data_type, data.as_slice()),
        (eb.identity().node_id(), ping, &b"ping"[..])
    );

    // A direct connection between two nodes that are not neighbours (or are: either way
    // it is a separate link carrying data).
    let c_peer = carol.me();
    bob.open_direct(c_peer).await.unwrap();
    eventually("direct connection", || async {
        bob.direct_connections().await.unwrap().contains(&c_peer).then_some(())
    })
    .await;
    let mut carol_events = carol.events();
    bob.send_data(c_peer.node, ping, b"direct".to_vec()).await.unwrap();
    next_event(
        &mut carol_events,
        "direct data",
        |e| matches!(e, Event::IncomingData { data, .. } if data == b"direct"),
    )
    .await;
    // Sending to a node with no connection is an error naming it.
    let stranger = Identity::generate("stranger", "").unwrap().node_id();
    let err = bob.send_data(stranger, ping, vec![]).await.unwrap_err();
    assert!(matches!(err, GraphNetError::Command { command: "SendData", .. }), "{err}");

    // A node of another graph is refused; alice keeps serving.
    let ed = endpoint("dave").await;
    let mut dave =
        Graph::create(&ed, options("other-graph", dir.path()), TestProvider::new()).unwrap();
    let mut dave_events = dave.events();
    dave.connect(ea.local_addr().unwrap()).await.unwrap();
    next_event(&mut dave_events, "refusal", |e| {
        matches!(e, Event::Neighbour { change: ConnectionChange::Failed(_), .. })
    })
    .await;
    assert!(!dave.status().has_connections);
    let late = alice.add_record(chat("still serving")).await.unwrap();
    eventually("alice still floods", || async { bob.get(late.id()).await.unwrap() }).await;
    assert!(dave.get(late.id()).await.unwrap().is_none());

    // Close bob; reopen: his replica is on disk and readable before listening.
    let bob_count = bob.record_count().await.unwrap();
    bob.close().await.unwrap();
    let reopened = Graph::open(&eb, options("club", dir.path()), TestProvider::new()).unwrap();
    assert_eq!(reopened.record_count().await.unwrap(), bob_count);
    assert!(reopened.get(late.id()).await.unwrap().is_some());
    assert!(matches!(
        Graph::create(&eb, options("club", dir.path()), TestProvider::new()),
        Err(GraphNetError::AlreadyExists { .. })
    ));
    // Export bob's replica (tombstones included) and import it into a new node's.
    let file = dir.path().join("club.export");
    let exported = reopened.export(&file).unwrap();
    assert_eq!(exported, bob_count);
    let ee = endpoint("erin").await;
    let mut erin = Graph::create(&ee, options("club", dir.path()), TestProvider::new()).unwrap();
    let report = erin.import(&file).unwrap();
    assert_eq!(report.stored, bob_count, "{report:?}");
    assert_eq!(erin.import(&file).unwrap().unchanged, bob_count);
    assert!(erin.get(late.id()).await.unwrap().is_some());
    assert!(erin.get(first.id()).await.unwrap().is_none(), "a tombstone stays deleted");
    // Another graph's export, and import while running, are refused.
    let mut other =
        Graph::create(&ee, options("other-graph", dir.path()), TestProvider::new()).unwrap();
    let err = other.import(&file).unwrap_err();
    assert!(
        matches!(err, GraphNetError::Graph(peergroup_graph::GraphError::ExportWrongGraph { .. })),
        "{err}"
    );
    erin.listen().await.unwrap();
    assert!(matches!(erin.import(&file), Err(GraphNetError::Running { operation: "import" })));
    assert!(matches!(erin.export(&file), Err(GraphNetError::Running { operation: "export" })));
    erin.close().await.unwrap();
    other.close().await.unwrap();
    drop(reopened);
    peergroup_graph::net::delete_graph(&eb, &options("club", dir.path())).unwrap();
    assert!(matches!(
        Graph::open(&eb, options("club", dir.path()), TestProvider::new()),
        Err(GraphNetError::NotFound { .. })
    ));

    for g in [alice, carol, dave] {
        g.close().await.unwrap();
    }
}

/// Over QUIC: garbage and an oversize frame on a graph stream close that stream only; a
/// record of nearly the maximum record size (1 MiB, more than the endpoint's default
/// frame limit) still travels; the node keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_are_refused_and_large_records_travel() {
    use peergroup_graph::net::PROTOCOL;
    use peergroup_graph::proto::Message;
    use peergroup_net::{Expect, ProtocolId};

    let dir = tempfile::tempdir().unwrap();
    let (ea, eb) = (endpoint("alice").await, endpoint("bob").await);
    let mut alice = Graph::create(&ea, options("club", dir.path()), TestProvider::new()).unwrap();
    let mut bob = Graph::create(&eb, options("club", dir.path()), TestProvider::new()).unwrap();
    alice.listen().await.unwrap();
    bob.connect(ea.local_addr().unwrap()).await.unwrap();
    bob.wait_status(WAIT, |s| s.synchronized).await.expect("synchronized");

    let mallory = endpoint("mallory").await;
    let protocol = ProtocolId::new(PROTOCOL).unwrap();
    let to_alice = Expect::Node(ea.identity().node_id());
    // Garbage, then a header announcing 100 MiB: each stream is closed unread.
    for junk in [&b"\xff\xfe not a frame at all"[..], &[0x06, 0x40, 0x00, 0x00, 0x01][..]] {
        let mut s =
            mallory.open(ea.local_addr().unwrap(), to_alice.clone(), &protocol).await.unwrap();
        s.send.send_raw(junk).await.unwrap();
        let _ = s.send.finish();
        let answer = tokio::time::timeout(WAIT, s.recv.recv::<Message>()).await.unwrap();
        assert!(!matches!(answer, Ok(Some(_))), "alice answered junk: {answer:?}");
    }

    // A record of exactly the 1 MiB record limit: larger than a default 1 MiB frame once
    // wrapped in a message, so it travels only because graph streams raise their limit.
    let probe =
        NewRecord::new(random_record_id(), CHAT, Duration::from_secs(600), vec![1; 1_000_000]);
    let probe = alice.add_record(probe).await.unwrap();
    let overhead = probe.encoded_len() - 1_000_000;
    let max = 1 << 20;
    let big = NewRecord::new(
        random_record_id(),
        CHAT,
        Duration::from_secs(600),
        vec![0x5a; max - overhead],
    );
    let big = alice.add_record(big).await.unwrap();
    assert_eq!(big.encoded_len(), max, "the record is exactly at the limit");
    let got =
        eventually("the 1 MiB record at bob", || async { bob.get(big.id()).await.unwrap() }).await;
    assert_eq!(got.payload().len(), max - overhead);
    // One byte over the record limit is refused locally, with the limit named.
    let too_big =
        NewRecord::new(random_record_id(), CHAT, Duration::from_secs(600), vec![0; 1 << 20]);
    let err = alice.add_record(too_big).await.unwrap_err();
    assert!(err.to_string().contains("maximum record size"), "{err}");
    // Alice still serves.
    let after = alice.add_record(chat("after the junk")).await.unwrap();
    eventually("a record after the junk", || async { bob.get(after.id()).await.unwrap() }).await;
    bob.close().await.unwrap();
    alice.close().await.unwrap();
}
