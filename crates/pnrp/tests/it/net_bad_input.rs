//! Bad input over the wire: a peer that sends malformed and oversize frames, messages
//! that break the limits, and forged CPAs. Each is refused (stream closed, message
//! dropped, `StoreAck Invalid`), nothing forged is ever served, and the node keeps
//! serving honest peers — and the attacker's own valid requests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::net_support;

use std::time::Duration;

use net_support::{WAIT, cloud, peer, within};
use peergroup_base::{ServiceLocation, UnixTime};
use peergroup_identity::Identity;
use peergroup_net::{Endpoint, EndpointConfig, Expect, FramedStream, ProtocolId};
use peergroup_pnrp::net::{Endpoints, PROTOCOL, ResolveOptions};
use peergroup_pnrp::proto::cpa::CPA_FORMAT;
use peergroup_pnrp::proto::{Body, Cloud, CpaBody, CpaSigner, Key, Message, Reason, StoreStatus};

fn forged_body(
    name: &peergroup_base::PeerName,
    signer: &Identity,
    at: std::net::SocketAddr,
) -> CpaBody {
    #[allow(clippy::disallowed_methods)] // the CPA's validity is wall-clock time
    let now = UnixTime::now();
    CpaBody {
        format: CPA_FORMAT,
        name: name.clone(),
        location: ServiceLocation::new(1, 2),
        sequence: now.as_millis(),
        not_after: now.saturating_add(Duration::from_secs(24 * 3600)),
        revoked: false,
        endpoints: vec![at],
        comment: "forged".into(),
        payload: None,
        signer: signer.public_key(),
        delegation: None,
    }
}

/// Reads messages from the victim's streams to us until `want` has seen enough.
async fn read_until(
    incoming: &mut peergroup_net::Incoming,
    mut want: impl FnMut(&Message) -> bool,
) {
    let mut stream: Option<FramedStream> = None;
    loop {
        if stream.is_none() {
            stream =
                Some(incoming.next().await.expect("the victim answers on a stream of its own"));
        }
        let s = stream.as_mut().unwrap();
        match s.recv::<Message>().await {
            Ok(Some(m)) => {
                if want(&m) {
                    return;
                }
            }
            _ => stream = None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_and_forged_cpas_are_refused_and_the_node_keeps_serving() {
    let peers = cloud(2).await;
    let (victim, honest) = (&peers[0], &peers[1]);
    let honest_name = honest.identity.peer_name().clone();
    let _reg = within(
        "register",
        honest.pnrp.register(honest_name.clone(), Endpoints::Auto, "real", None),
    )
    .await
    .unwrap();

    let attacker = Identity::generate("mallory", "").unwrap();
    let ep = Endpoint::bind(attacker.clone(), EndpointConfig::loopback()).await.unwrap();
    let protocol = ProtocolId::new(PROTOCOL).unwrap();
    let mut incoming = ep.register(protocol.clone()).unwrap();
    let victim_addr = victim.endpoint.local_addr().unwrap();
    let expect = Expect::Node(victim.identity.node_id());

    // 1. Garbage, then a frame header announcing 2 MiB (over the 1 MiB limit): the victim
    //    closes each stream without reading further.
    for junk in
        [&b"\xff\xfe\xfd\xfc garbage that is no frame"[..], &[0x00, 0x20, 0x00, 0x00, 0x01][..]]
    {
        let mut s = ep.open(victim_addr, expect.clone(), &protocol).await.unwrap();
        s.send.send_raw(junk).await.unwrap();
        let _ = s.send.finish();
        let answer = within("stream closed", s.recv.recv::<Message>()).await;
        assert!(!matches!(answer, Ok(Some(_))), "the victim answered junk: {answer:?}");
    }

    // 2. On a fresh stream: a request over the limits (dropped), two forged CPAs (refused
    //    with StoreAck Invalid), then a ping (answered: the victim still serves us).
    let mut s = ep.open(victim_addr, expect.clone(), &protocol).await.unwrap();
    let over_limit = Message {
        cloud: Cloud::Global,
        body: Body::FindNode { txid: 1, target: Key([0; 32]), count: 200, reason: Reason::Resolve },
    };
    s.send(&over_limit).await.unwrap();
    // someone else's name signed with our key: wrong authority
    let wrong_authority = forged_body(&honest_name, &attacker, ep.local_addr().unwrap())
        .sign_unchecked(&CpaSigner::from_identity(&attacker));
    // our own name with a broken signature
    let mut bad_signature = forged_body(attacker.peer_name(), &attacker, ep.local_addr().unwrap())
        .sign_unchecked(&CpaSigner::from_identity(&attacker));
    bad_signature.signature[7] ^= 0x40;
    for (txid, cpa) in [(11u64, wrong_authority), (12, bad_signature)] {
        s.send(&Message { cloud: Cloud::Global, body: Body::Store { txid, cpa } }).await.unwrap();
    }
    s.send(&Message { cloud: Cloud::Global, body: Body::Ping { nonce: 99 } }).await.unwrap();

    let mut acks = Vec::new();
    let mut pong = false;
    within(
        "answers",
        read_until(&mut incoming, |m| {
            match &m.body {
                Body::StoreAck { txid, status } => acks.push((*txid, *status)),
                Body::Pong { nonce: 99 } => pong = true,
                Body::Nodes { txid: 1, .. } => panic!("a request over the limits was answered"),
                _ => {}
            }
            acks.len() == 2 && pong
        }),
    )
    .await;
    acks.sort_by_key(|(t, _)| *t);
    assert_eq!(acks, vec![(11, StoreStatus::Invalid), (12, StoreStatus::Invalid)]);

    // 3. Nothing forged is served: the honest name resolves to the honest instance only,
    //    and the attacker's name to nothing.
    let opts = ResolveOptions::default().with_timeout(Duration::from_secs(10));
    for resolver in [victim, honest] {
        let found =
            within("resolve", resolver.pnrp.resolve(&honest_name, opts.clone())).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].comment, "real");
        assert_eq!(found[0].signer, honest.identity.public_key());
        let err = within("resolve", resolver.pnrp.resolve(attacker.peer_name(), opts.clone()))
            .await
            .unwrap_err();
        assert!(err.is_not_found(), "{err}");
    }

    // 4. The victim still serves newcomers.
    let late = peer("late", &[victim.seed()]).await;
    late.pnrp.wait_active(Cloud::Global, WAIT).await.unwrap();
    let found = within("resolve", late.pnrp.resolve(&honest_name, opts)).await.unwrap();
    assert_eq!(found[0].signer, honest.identity.public_key());
}
