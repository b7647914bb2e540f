//! Loopback QUIC tests of the shared endpoint: exchange, identity checks, bad input,
//! multiplexing and many connections.

#![allow(clippy::unwrap_used)] // test helpers: a failure is a test failure
use std::sync::Arc;
use std::time::Duration;

use peergroup_base::codec::WIRE_VERSION;
use peergroup_identity::Identity;
use peergroup_net::{Endpoint, EndpointConfig, Expect, NetError, ProtocolId};
use tokio::sync::Mutex;

fn id(seed: u8, classifier: &str) -> Identity {
    Identity::from_seed([seed; 32], classifier, "").unwrap()
}

async fn endpoint(seed: u8, classifier: &str) -> Endpoint {
    Endpoint::bind(id(seed, classifier), EndpointConfig::loopback()).await.unwrap()
}

/// Serves `protocol` on `ep`: answers every string with `<tag>:<string>`; records errors.
fn serve_echo(ep: &Endpoint, protocol: &str, tag: &'static str) -> Arc<Mutex<Vec<String>>> {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let mut incoming = ep.register(ProtocolId::new(protocol).unwrap()).unwrap();
    let errs = errors.clone();
    tokio::spawn(async move {
        while let Some(mut stream) = incoming.next().await {
            let errs = errs.clone();
            tokio::spawn(async move {
                loop {
                    match stream.recv::<String>().await {
                        Ok(Some(s)) => {
                            let reply = format!("{tag}:{s}:{}", stream.remote.peer_name);
                            if stream.send(&reply).await.is_err() {
                                break;
                            }
                        }
                        Ok(None) => {
                            let _ = stream.send.finish();
                            break;
                        }
                        Err(e) => {
                            errs.lock().await.push(e.to_string());
                            break;
                        }
                    }
                }
            });
        }
    });
    errors
}

#[tokio::test]
async fn exchange_with_mutual_authentication() {
    let a = endpoint(1, "alice").await;
    let b = endpoint(2, "bob").await;
    serve_echo(&b, "echo/1", "b");
    let conn =
        a.connect(b.local_addr().unwrap(), Expect::Name(b.peer_name().clone())).await.unwrap();
    assert_eq!(&conn.remote().peer_name, b.peer_name());
    let mut s = conn.open(&ProtocolId::new("echo/1").unwrap()).await.unwrap();
    let reply: String = s.request("hi").await.unwrap();
    // the server saw the client's verified peer name
    assert_eq!(reply, format!("b:hi:{}", a.peer_name()));
    // the accepting side reports the remote peer name too
    let b_conns = b.connections();
    assert_eq!(b_conns.len(), 1);
    assert_eq!(&b_conns[0].remote().peer_name, a.peer_name());
    assert_eq!(b_conns[0].remote().node_id, a.identity().node_id());
}

#[tokio::test]
async fn wrong_expected_peer_is_refused() {
    let a = endpoint(3, "alice").await;
    let b = endpoint(4, "bob").await;
    let c = id(5, "carol");
    let addr = b.local_addr().unwrap();

    let err = a.connect(addr, Expect::Name(c.peer_name().clone())).await.unwrap_err();
    assert!(err.is_wrong_peer(), "{err}");
    match err {
        NetError::WrongPeer { found, .. } => assert_eq!(&found.peer_name, b.peer_name()),
        other => panic!("unexpected {other}"),
    }
    let err = a.connect(addr, Expect::Node(c.node_id())).await.unwrap_err();
    assert!(err.is_wrong_peer(), "{err}");

    // same key, other classifier: the name does not match either
    let other_name = peergroup_base::PeerName::new(
        b.peer_name().authority().to_owned(),
        peergroup_base::Classifier::new("not-bob").unwrap(),
    );
    let err = a.connect(addr, Expect::Name(other_name)).await.unwrap_err();
    assert!(err.is_wrong_peer(), "{err}");

    // unsecured names prove nothing and are not accepted as an expectation
    let err = a.connect(addr, Expect::Name("0.bob".parse().unwrap())).await.unwrap_err();
    assert!(matches!(err, NetError::UnsecuredName(_)), "{err}");

    // and the endpoint still works for the right expectation
    assert!(a.connect(addr, Expect::Node(b.identity().node_id())).await.is_ok());
}

#[tokio::test]
async fn garbage_closes_only_that_stream() {
    let a = endpoint(6, "alice").await;
    let b = endpoint(7, "bob").await;
    let errors = serve_echo(&b, "echo/1", "b");
    let proto = ProtocolId::new("echo/1").unwrap();
    let conn =
        a.connect(b.local_addr().unwrap(), Expect::Node(b.identity().node_id())).await.unwrap();

    // 1. a header announcing a 4 GiB frame: refused before allocating
    let mut s = conn.open(&proto).await.unwrap();
    s.send.send_raw(&[0xff, 0xff, 0xff, 0xff, WIRE_VERSION]).await.unwrap();
    assert!(s.recv.recv::<String>().await.is_err(), "server stops the stream");

    // 2. a well-sized frame whose body is not a string
    let mut s = conn.open(&proto).await.unwrap();
    s.send.send_raw(&[0, 0, 0, 3, WIRE_VERSION, 0xff, 0xff]).await.unwrap();
    assert!(s.recv.recv::<String>().await.is_err());

    // 3. an unknown wire version
    let mut s = conn.open(&proto).await.unwrap();
    s.send.send_raw(&[0, 0, 0, 2, 99, 0]).await.unwrap();
    assert!(s.recv.recv::<String>().await.is_err());

    // 4. a stream for a protocol nobody serves
    let mut s = conn.open(&ProtocolId::new("nobody/1").unwrap()).await.unwrap();
    let _ = s.send("x").await;
    assert!(s.recv.recv::<String>().await.is_err());

    // the connection still works
    let mut s = conn.open(&proto).await.unwrap();
    let reply: String = s.request("still here").await.unwrap();
    assert!(reply.starts_with("b:still here:"));
    assert_eq!(a.connections().len(), 1, "same connection throughout");

    // the server records each error just after closing the stream; wait for the three
    for _ in 0..2000 {
        if errors.lock().await.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let errors = errors.lock().await.clone();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].contains("exceeds the maximum"), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("malformed message")), "{errors:?}");
    assert!(errors.iter().any(|e| e.contains("unsupported wire version 99")), "{errors:?}");
}

#[tokio::test]
async fn two_protocols_share_one_connection() {
    let a = endpoint(8, "alice").await;
    let b = endpoint(9, "bob").await;
    serve_echo(&b, "pnrp/1", "pnrp");
    serve_echo(&b, "graph/1", "graph");
    let addr = b.local_addr().unwrap();
    let expect = Expect::Name(b.peer_name().clone());
    let mut s1 = a.open(addr, expect.clone(), &ProtocolId::new("pnrp/1").unwrap()).await.unwrap();
    let mut s2 = a.open(addr, expect.clone(), &ProtocolId::new("graph/1").unwrap()).await.unwrap();
    s1.send("one").await.unwrap();
    s2.send("two").await.unwrap();
    let r1: String = s1.recv().await.unwrap().unwrap();
    let r2: String = s2.recv().await.unwrap().unwrap();
    assert!(r1.starts_with("pnrp:one:"));
    assert!(r2.starts_with("graph:two:"));
    assert_eq!(a.connections().len(), 1);
    assert_eq!(b.connections().len(), 1);
    // B reuses the connection A dialled when it talks back to A
    serve_echo(&a, "pnrp/1", "a-pnrp");
    let back =
        b.connect(a.local_addr().unwrap(), Expect::Node(a.identity().node_id())).await.unwrap();
    assert_eq!(back.stable_id(), b.connections()[0].stable_id());
    let mut s3 = back.open(&ProtocolId::new("pnrp/1").unwrap()).await.unwrap();
    let r3: String = s3.request("three").await.unwrap();
    assert!(r3.starts_with("a-pnrp:three:"));
    assert_eq!(a.connections().len(), 1);
    assert!(matches!(
        b.register(ProtocolId::new("pnrp/1").unwrap()),
        Err(NetError::ProtocolAlreadyRegistered(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_connections() {
    let server = endpoint(10, "server").await;
    serve_echo(&server, "echo/1", "s");
    let addr = server.local_addr().unwrap();
    let expect = Expect::Name(server.peer_name().clone());
    let mut tasks = Vec::new();
    for i in 0..100u8 {
        let expect = expect.clone();
        tasks.push(tokio::spawn(async move {
            let client = Endpoint::bind(
                Identity::from_seed([100u8.wrapping_add(i); 32], &format!("c{i}"), "").unwrap(),
                EndpointConfig::loopback(),
            )
            .await
            .unwrap();
            let mut s =
                client.open(addr, expect, &ProtocolId::new("echo/1").unwrap()).await.unwrap();
            let reply: String = s.request(&format!("n{i}")).await.unwrap();
            assert!(reply.starts_with(&format!("s:n{i}:")));
            client
        }));
    }
    let mut clients = Vec::new();
    for t in tasks {
        clients.push(t.await.unwrap());
    }
    let conns = server.connections();
    assert_eq!(conns.len(), 100);
    let mut names: Vec<_> = conns.iter().map(|c| c.remote().peer_name.to_string()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 100, "100 distinct authenticated peers");
    drop(clients);
}

#[test]
fn protocol_ids_are_checked() {
    assert!(ProtocolId::new("pnrp/1").is_ok());
    assert!(ProtocolId::new("").is_err());
    assert!(ProtocolId::new(&"x".repeat(33)).is_err());
    assert!(ProtocolId::new("has space").is_err());
}
