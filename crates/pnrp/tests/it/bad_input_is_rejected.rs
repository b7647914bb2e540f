//! Bad input gets a specific error and the node keeps serving: malformed and oversize
//! frames, over-limit messages, forged signatures, wrong authority, expired CPAs, too many
//! endpoints, oversize payloads and comments, tampered bodies.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use crate::common;

use std::net::SocketAddr;
use std::time::Duration;

use peergroup_base::codec::{CodecError, FrameCodec};
use peergroup_base::{Input, Instant, Now, Outbox, Output, PeerAddr, PeerName, Protocol, UnixTime};
use peergroup_pnrp::proto::cpa::{CPA_FORMAT, MAX_PAYLOAD_BYTES};
use peergroup_pnrp::proto::{
    Body, Cloud, Config, CpaBody, CpaError, CpaSigner, Key, Message, MessageError, Pnrp, SignedCpa,
    StoreStatus,
};

const T0: u64 = 1_767_225_600;

fn now() -> Now {
    Now { instant: Instant::from_micros(1_000_000), unix: UnixTime::from_secs(T0) }
}

fn node() -> (Pnrp, PeerAddr) {
    let s = common::signer(1);
    let me = PeerAddr { node: s.node_id(), addr: "10.0.0.1:3587".parse().unwrap() };
    let mut p = Pnrp::new(me, Config::default(), 7);
    let mut out = Outbox::new();
    p.handle(now(), Input::Start, &mut out);
    (p, me)
}

fn peer(b: u8) -> PeerAddr {
    PeerAddr { node: common::signer(b).node_id(), addr: SocketAddr::from(([10, 1, b, 1], 3587)) }
}

fn body(signer: &CpaSigner) -> CpaBody {
    CpaBody {
        format: CPA_FORMAT,
        name: PeerName::new(signer.authority(), peergroup_base::Classifier::new("svc").unwrap()),
        location: peergroup_base::ServiceLocation::new(1, 2),
        sequence: 1,
        not_after: UnixTime::from_secs(T0 + 86_400),
        revoked: false,
        endpoints: vec!["192.0.2.7:4000".parse().unwrap()],
        comment: String::new(),
        payload: None,
        signer: signer.public_key(),
        delegation: None,
    }
}

/// Sends `msg` from `from` and returns the answers to it (not the requests the node
/// sends on its own account, e.g. the lookup of its neighbourhood once a first peer
/// appears).
fn deliver(p: &mut Pnrp, from: PeerAddr, msg: Message) -> Vec<Message> {
    let mut out = Outbox::new();
    p.handle(now(), Input::Recv { from, msg }, &mut out);
    out.drain()
        .filter_map(|o| match o {
            Output::Send { to, msg } if to == from => Some(msg),
            _ => None,
        })
        .filter(|m| {
            matches!(
                m.body,
                Body::Pong { .. } | Body::Nodes { .. } | Body::Found { .. } | Body::StoreAck { .. }
            )
        })
        .collect()
}

fn store(p: &mut Pnrp, cpa: SignedCpa) -> StoreStatus {
    let answers =
        deliver(p, peer(9), Message { cloud: Cloud::Global, body: Body::Store { txid: 5, cpa } });
    match answers.as_slice() {
        [Message { body: Body::StoreAck { txid: 5, status }, .. }] => *status,
        other => panic!("unexpected answer {other:?}"),
    }
}

fn still_serves(p: &mut Pnrp) {
    let answers =
        deliver(p, peer(8), Message { cloud: Cloud::Global, body: Body::Ping { nonce: 77 } });
    assert_eq!(answers, vec![Message { cloud: Cloud::Global, body: Body::Pong { nonce: 77 } }]);
}

#[test]
fn each_bad_cpa_is_refused_with_its_own_error_and_the_node_keeps_serving() {
    let owner = common::signer(2);
    let other = common::signer(3);
    let at = UnixTime::from_secs(T0);
    let (mut p, _) = node();

    // forged signature: the owner's body, someone else's signature
    let mut forged = body(&owner).sign(&owner, at).unwrap();
    forged.signature = other.sign(b"something else");
    assert_eq!(forged.verify(at, None).unwrap_err(), CpaError::SignatureInvalid);
    assert_eq!(store(&mut p, forged), StoreStatus::Invalid);

    // tampered body under a genuine signature
    let mut tampered = body(&owner).sign(&owner, at).unwrap();
    let n = tampered.body.len();
    tampered.body[n - 40] ^= 0x01;
    assert!(tampered.verify(at, None).is_err());
    assert_eq!(store(&mut p, tampered), StoreStatus::Invalid);

    // wrong authority: the owner's name signed by another key
    let mut b = body(&owner);
    b.signer = other.public_key();
    let wrong = b.sign(&other, at).unwrap();
    assert!(matches!(wrong.verify(at, None), Err(CpaError::WrongAuthority { .. })));
    assert_eq!(store(&mut p, wrong), StoreStatus::Invalid);

    // expired
    let mut b = body(&owner);
    b.not_after = UnixTime::from_secs(T0 - 1);
    let expired = b.sign_unchecked(&owner);
    assert!(matches!(expired.verify(at, None), Err(CpaError::Expired { .. })));
    assert_eq!(store(&mut p, expired), StoreStatus::Invalid);

    // more than 10 endpoints
    let mut b = body(&owner);
    b.endpoints = (0..11).map(|i| SocketAddr::from(([192, 0, 2, i], 4000))).collect();
    assert_eq!(b.sign(&owner, at).unwrap_err(), CpaError::TooManyEndpoints { count: 11 });
    let eleven = b.sign_unchecked(&owner);
    assert_eq!(eleven.verify(at, None).unwrap_err(), CpaError::TooManyEndpoints { count: 11 });
    assert_eq!(store(&mut p, eleven), StoreStatus::Invalid);

    // oversize payload
    let mut b = body(&owner);
    b.payload = Some(vec![0; MAX_PAYLOAD_BYTES + 1]);
    let big = b.sign_unchecked(&owner);
    assert_eq!(
        big.verify(at, None).unwrap_err(),
        CpaError::PayloadTooLarge { len: MAX_PAYLOAD_BYTES + 1 }
    );
    assert_eq!(store(&mut p, big), StoreStatus::Invalid);

    // a 40-character comment, a control character
    let mut b = body(&owner);
    b.comment = "x".repeat(40);
    assert_eq!(
        b.sign_unchecked(&owner).verify(at, None).unwrap_err(),
        CpaError::CommentTooLong { chars: 40 }
    );
    b.comment = "a\u{7}".into();
    assert_eq!(
        b.sign_unchecked(&owner).verify(at, None).unwrap_err(),
        CpaError::CommentControlCharacter { code: 7 }
    );

    // no endpoint, a bad endpoint, too long a lifetime, a future format, garbage
    let mut b = body(&owner);
    b.endpoints.clear();
    assert_eq!(b.sign_unchecked(&owner).verify(at, None).unwrap_err(), CpaError::NoEndpoints);
    b.endpoints = vec!["0.0.0.0:4000".parse().unwrap()];
    assert!(matches!(
        b.sign_unchecked(&owner).verify(at, None),
        Err(CpaError::InvalidEndpoint { .. })
    ));
    let mut b = body(&owner);
    b.not_after = UnixTime::from_secs(T0 + 8 * 86_400);
    assert!(matches!(
        b.sign_unchecked(&owner).verify(at, None),
        Err(CpaError::LifetimeTooLong { .. })
    ));
    let mut b = body(&owner);
    b.not_after = UnixTime::from_secs(T0 + 3600);
    assert!(matches!(b.sign(&owner, at), Err(CpaError::LifetimeTooShort { .. })));
    let mut b = body(&owner);
    b.format = 2;
    assert_eq!(
        b.sign_unchecked(&owner).verify(at, None).unwrap_err(),
        CpaError::UnsupportedFormat { got: 2 }
    );
    let garbage = SignedCpa { body: vec![CPA_FORMAT, 0xff, 0xff, 0xff], signature: [0; 64] };
    assert!(matches!(garbage.verify(at, None), Err(CpaError::Malformed(_))));
    let mut trailing = body(&owner).sign(&owner, at).unwrap();
    trailing.body.push(0);
    assert_eq!(trailing.verify(at, None).unwrap_err(), CpaError::TrailingBytes(1));
    assert_eq!(store(&mut p, garbage), StoreStatus::Invalid);

    let c = p.counters();
    assert_eq!(c.stores_refused, 7);
    assert!(c.forged_cpas >= 3, "{c:?}");
    assert_eq!(p.store(Cloud::Global).len(), 0, "nothing bad was stored");
    still_serves(&mut p);
    // and a good one is still taken
    assert_eq!(store(&mut p, body(&owner).sign(&owner, at).unwrap()), StoreStatus::Stored);
}

#[test]
fn malformed_and_over_limit_messages_are_refused() {
    let codec = FrameCodec::default();
    // garbage body
    let frame = [0, 0, 0, 3, 1, 0x09, 0xff];
    assert!(matches!(
        Message::decode(&codec, &frame),
        Err(MessageError::Codec(CodecError::Malformed(_)))
    ));
    // oversize frame header: refused before reading the body
    let small = FrameCodec::new(64);
    let big = Message {
        cloud: Cloud::Global,
        body: Body::Nodes { txid: 1, nodes: (0..20).map(|i| peer(i as u8 + 10)).collect() },
    };
    let frame = big.encode(&codec).unwrap();
    assert!(matches!(
        Message::decode(&small, &frame),
        Err(MessageError::Codec(CodecError::FrameTooLarge { .. }))
    ));
    // 21 contacts: over the limit even though the frame is fine
    let over = Message {
        cloud: Cloud::Global,
        body: Body::Nodes { txid: 1, nodes: (0..21).map(|i| peer(i as u8 + 10)).collect() },
    };
    let frame = over.encode(&codec).unwrap();
    assert_eq!(
        Message::decode(&codec, &frame).unwrap_err(),
        MessageError::TooManyContacts { count: 21 }
    );
    // a request for 0 contacts
    let zero = Message {
        cloud: Cloud::Global,
        body: Body::FindNode {
            txid: 1,
            target: Key([0; 32]),
            count: 0,
            reason: peergroup_pnrp::proto::Reason::Resolve,
        },
    };
    assert_eq!(zero.check().unwrap_err(), MessageError::BadContactCount { count: 0 });

    // the same messages delivered in memory are refused by the core, which keeps serving
    let (mut p, _) = node();
    assert!(deliver(&mut p, peer(4), over).is_empty());
    assert!(deliver(&mut p, peer(4), zero).is_empty());
    assert_eq!(p.counters().messages_rejected, 2);
    still_serves(&mut p);
}

#[test]
fn unsolicited_responses_are_ignored_and_keep_no_state() {
    let (mut p, _) = node();
    for i in 0..2000u64 {
        let from = peer((i % 200) as u8 + 20);
        let body = match i % 3 {
            0 => Body::Pong { nonce: i },
            1 => Body::Nodes { txid: i, nodes: vec![peer(5), peer(6)] },
            _ => Body::Found { txid: i, nodes: vec![peer(7)], cpas: Vec::new(), holds: Some(3) },
        };
        assert!(deliver(&mut p, from, Message { cloud: Cloud::Global, body }).is_empty());
    }
    assert_eq!(p.counters().unsolicited_responses, 2000);
    assert_eq!(p.table(Cloud::Global).len(), 0, "unsolicited answers admit nobody");
    assert_eq!(p.requests_in_flight(Cloud::Global), 0);
    still_serves(&mut p);
    let _ = Duration::ZERO;
}
