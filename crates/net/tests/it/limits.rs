//! The limits of `proto-specs/wire.md` §5 on loopback: what a stranger can hold on an
//! endpoint, and that every refusal is counted.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failure is a test failure
use std::time::Duration;

use peergroup_base::codec::WIRE_VERSION;
use peergroup_identity::Identity;
use peergroup_net::{Endpoint, EndpointConfig, Expect, FramedStream, NetError, ProtocolId, codes};

fn id(seed: u8) -> Identity {
    Identity::from_seed([seed; 32], &format!("n{seed}"), "").unwrap()
}

async fn bind(seed: u8, config: EndpointConfig) -> Endpoint {
    Endpoint::bind(id(seed), config).await.unwrap()
}

/// Accepts every stream of `protocol` and keeps reading frames from it (dropping what it
/// reads), so the endpoint's frame limits are what stops a stream.
fn serve_sink(ep: &Endpoint, protocol: &str, max_per_connection: Option<usize>) {
    let p = ProtocolId::new(protocol).unwrap();
    let mut incoming = match max_per_connection {
        Some(n) => ep.register_limited(p, n).unwrap(),
        None => ep.register(p).unwrap(),
    };
    tokio::spawn(async move {
        while let Some(mut stream) = incoming.next().await {
            tokio::spawn(async move { while let Ok(Some(_)) = stream.recv::<String>().await {} });
        }
    });
}

/// The code the far end reset `stream` with, waiting at most 5 s.
async fn reset_code(stream: &mut FramedStream) -> Option<u64> {
    match tokio::time::timeout(Duration::from_secs(5), stream.recv.recv::<String>()).await {
        Ok(Err(NetError::Read(quinn::ReadError::Reset(code)))) => Some(code.into_inner()),
        other => panic!("expected a reset, got {other:?}"),
    }
}

async fn eventually(mut check: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("condition not reached in 5 s");
}

#[tokio::test]
async fn a_bad_length_is_refused_before_the_version_byte() {
    let server = bind(1, EndpointConfig::loopback()).await;
    serve_sink(&server, "sink/1", None);
    let client = bind(2, EndpointConfig::loopback()).await;
    let conn = client
        .connect(server.local_addr().unwrap(), Expect::Node(server.identity().node_id()))
        .await
        .unwrap();
    let mut s = conn.open(&ProtocolId::new("sink/1").unwrap()).await.unwrap();
    // only the 4 length bytes: a length over the maximum, no version byte ever
    s.send.send_raw(&[0xff, 0xff, 0xff, 0xff]).await.unwrap();
    assert_eq!(reset_code(&mut s).await, Some(codes::BAD_FRAME.into_inner()));
    assert_eq!(server.refusals().bad_frame, 1);
}

#[tokio::test]
async fn a_stalled_frame_is_reset_at_its_deadline() {
    let mut config = EndpointConfig::loopback();
    config.frame_timeout = Duration::from_millis(200);
    let server = bind(3, config).await;
    serve_sink(&server, "sink/1", None);
    let client = bind(4, EndpointConfig::loopback()).await;
    let conn = client
        .connect(server.local_addr().unwrap(), Expect::Node(server.identity().node_id()))
        .await
        .unwrap();
    let proto = ProtocolId::new("sink/1").unwrap();
    // stalls inside the header
    let mut a = conn.open(&proto).await.unwrap();
    a.send.send_raw(&[0, 0]).await.unwrap();
    // stalls mid-body
    let mut b = conn.open(&proto).await.unwrap();
    b.send.send_raw(&[0, 0, 0, 10, WIRE_VERSION, 9, b'a']).await.unwrap();
    assert_eq!(reset_code(&mut a).await, Some(codes::STALLED.into_inner()));
    assert_eq!(reset_code(&mut b).await, Some(codes::STALLED.into_inner()));
    assert_eq!(server.refusals().frame_deadline, 2);
    // an idle stream between frames is not a stalled frame: a new stream still works
    let mut c = conn.open(&proto).await.unwrap();
    c.send("fine").await.unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    c.send("still fine").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.refusals().frame_deadline, 2);
}

#[tokio::test]
async fn half_read_frames_per_connection_are_capped() {
    let mut config = EndpointConfig::loopback();
    config.max_half_read_frames = 2;
    let server = bind(5, config).await;
    serve_sink(&server, "sink/1", None);
    let client = bind(6, EndpointConfig::loopback()).await;
    let conn = client
        .connect(server.local_addr().unwrap(), Expect::Node(server.identity().node_id()))
        .await
        .unwrap();
    let proto = ProtocolId::new("sink/1").unwrap();
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = conn.open(&proto).await.unwrap();
        s.send.send_raw(&[0, 0, 0, 100, WIRE_VERSION, 1]).await.unwrap();
        held.push(s);
    }
    eventually(|| server.connections().len() == 1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = conn.open(&proto).await.unwrap();
    third.send.send_raw(&[0, 0, 0, 100, WIRE_VERSION, 1]).await.unwrap();
    assert_eq!(reset_code(&mut third).await, Some(codes::BUSY.into_inner()));
    assert_eq!(server.refusals().half_read_frames, 1);
}

#[tokio::test]
async fn streams_per_protocol_per_connection_are_capped() {
    let server = bind(7, EndpointConfig::loopback()).await;
    serve_sink(&server, "sink/1", Some(2));
    let client = bind(8, EndpointConfig::loopback()).await;
    let conn = client
        .connect(server.local_addr().unwrap(), Expect::Node(server.identity().node_id()))
        .await
        .unwrap();
    let proto = ProtocolId::new("sink/1").unwrap();
    let mut open = Vec::new();
    for _ in 0..2 {
        let mut s = conn.open(&proto).await.unwrap();
        s.send("hello").await.unwrap();
        open.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = conn.open(&proto).await.unwrap();
    third.send("one too many").await.unwrap();
    assert_eq!(reset_code(&mut third).await, Some(codes::BUSY.into_inner()));
    assert_eq!(server.refusals().streams_per_protocol, 1);
    // a stream that ends gives its place back
    let mut first = open.remove(0);
    first.send.finish().unwrap();
    drop(first);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut again = conn.open(&proto).await.unwrap();
    again.send("room again").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.refusals().streams_per_protocol, 1);
}

#[tokio::test]
async fn connections_per_prefix_and_handshake_rate_are_capped() {
    let mut config = EndpointConfig::loopback();
    config.max_connections_per_prefix = 2;
    config.handshakes_per_second_per_prefix = 1000;
    let server = bind(9, config).await;
    let addr = server.local_addr().unwrap();
    let expect = Expect::Node(server.identity().node_id());
    let mut clients = Vec::new();
    for seed in 10..12 {
        let c = bind(seed, EndpointConfig::loopback()).await;
        c.connect(addr, expect.clone()).await.unwrap();
        clients.push(c);
    }
    let third = bind(12, EndpointConfig::loopback()).await;
    assert!(third.connect(addr, expect.clone()).await.is_err());
    assert_eq!(server.refusals().connections_per_prefix, 1);

    // a rate of 2 handshakes a second: a burst of 4 gets 2, the others a Retry and then
    // a refusal
    let mut config = EndpointConfig::loopback();
    config.handshakes_per_second_per_prefix = 2;
    let server = bind(13, config).await;
    let addr = server.local_addr().unwrap();
    let expect = Expect::Node(server.identity().node_id());
    let mut ok = 0;
    for seed in 14..18 {
        let c = bind(seed, EndpointConfig::loopback()).await;
        if c.connect(addr, expect.clone()).await.is_ok() {
            ok += 1;
        }
        clients.push(c);
    }
    assert_eq!(ok, 2);
    let r = server.refusals();
    assert_eq!(r.handshake_rate, 2, "{r:?}");
    assert_eq!(r.retries, 2, "{r:?}");
}

/// Answers every frame of `protocol` with the same text.
fn serve_echo(ep: &Endpoint, protocol: &str) {
    let mut incoming = ep.register(ProtocolId::new(protocol).unwrap()).unwrap();
    tokio::spawn(async move {
        while let Some(mut stream) = incoming.next().await {
            tokio::spawn(async move {
                while let Ok(Some(text)) = stream.recv::<String>().await {
                    if stream.send(&text).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
}

async fn echo(stream: &mut FramedStream, text: &str) -> String {
    stream.send(text).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), stream.recv::<String>())
        .await
        .expect("an answer within 5 s")
        .unwrap()
        .expect("an answer, not the end of the stream")
}

/// wire.md §5.1: a connection that opens and drops streams in a loop is refused, then
/// closed with STREAM_RATE; another peer's connection to the same node is still served.
#[tokio::test]
async fn a_churning_connection_is_closed_and_an_honest_one_is_still_served() {
    let mut config = EndpointConfig::loopback();
    // no refill, so the counts below do not depend on timing: 8 streams, then 8 refused
    config.new_streams_per_second = 0;
    config.new_stream_burst = 8;
    let server = bind(30, config).await;
    serve_echo(&server, "echo/1");
    let addr = server.local_addr().unwrap();
    let expect = Expect::Node(server.identity().node_id());
    let proto = ProtocolId::new("echo/1").unwrap();

    let honest = bind(31, EndpointConfig::loopback()).await;
    let honest_conn = honest.connect(addr, expect.clone()).await.unwrap();
    let mut honest_stream = honest_conn.open(&proto).await.unwrap();
    assert_eq!(echo(&mut honest_stream, "before").await, "before");

    let churner = bind(32, EndpointConfig::loopback()).await;
    let conn = churner.connect(addr, expect).await.unwrap();
    // the burst is served…
    let mut served = Vec::new();
    for i in 0..8 {
        let mut s = conn.open(&proto).await.unwrap();
        assert_eq!(echo(&mut s, &format!("{i}")).await, format!("{i}"));
        served.push(s);
    }
    // …the next stream is refused before its preamble is read…
    let mut refused = conn.open(&proto).await.unwrap();
    assert_eq!(reset_code(&mut refused).await, Some(codes::BUSY.into_inner()));
    assert_eq!(server.refusals().stream_rate, 1);
    // …and a connection that keeps opening streams while refused is closed
    let closed = loop {
        match conn.open(&proto).await {
            Ok(mut s) => {
                let _ = s.send.finish();
                s.recv.stop(codes::OK);
            }
            Err(NetError::Connection(e))
            | Err(NetError::Write(quinn::WriteError::ConnectionLost(e))) => break e,
            Err(e) => panic!("expected the connection to close, got {e}"),
        }
    };
    let quinn::ConnectionError::ApplicationClosed(close) = closed else {
        panic!("expected an application close, got {closed}");
    };
    assert_eq!(close.error_code, codes::STREAM_RATE);
    assert_eq!(&close.reason[..], b"too many new streams");
    let r = server.refusals();
    assert_eq!((r.stream_rate, r.stream_rate_closed), (8, 1), "{r:?}");

    // the honest peer's connection is untouched and still served, on its old stream and a
    // new one
    assert!(!honest_conn.is_closed());
    assert_eq!(echo(&mut honest_stream, "after").await, "after");
    let mut fresh = honest_conn.open(&proto).await.unwrap();
    assert_eq!(echo(&mut fresh, "fresh").await, "fresh");
    assert_eq!(server.refusals().stream_rate_closed, 1);
}
