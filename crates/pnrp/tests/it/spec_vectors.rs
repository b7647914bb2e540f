//! Every test vector of `proto-specs/pnrp.md` §12, read from the spec itself, checked
//! against the code. A vector this test does not know fails it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers: a failed unwrap is a failed test

use std::net::SocketAddr;

use peergroup_base::codec::FrameCodec;
use peergroup_base::spec_vectors::{self, Vector};
use peergroup_base::{NodeId, P2pId, PeerAddr, PeerName, ServiceLocation, UnixTime};
use peergroup_pnrp::proto::cpa::{CPA_FORMAT, SimpleDelegation, signature_input};
use peergroup_pnrp::proto::{
    Body, Cloud, CpaBody, CpaError, CpaSigner, InstanceId, Key, Message, Reason, SignedCpa,
    StoreStatus, service_location,
};

const SPEC: &str = include_str!("../../../../proto-specs/pnrp.md");

fn get<'a>(v: &'a Vector, key: &str) -> &'a str {
    spec_vectors::get(v, key).unwrap_or_else(|| panic!("vector lacks {key}: {v:?}"))
}

fn bytes(v: &Vector, key: &str) -> Vec<u8> {
    let s: String = get(v, key).chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(s).unwrap_or_else(|e| panic!("{key} is not hex: {e}"))
}

fn seed(v: &Vector) -> [u8; 32] {
    bytes(v, "signer-seed").try_into().expect("32-byte seed")
}

fn millis(v: &Vector, key: &str) -> UnixTime {
    UnixTime::from_millis(get(v, key).parse().expect("milliseconds"))
}

fn signed(v: &Vector) -> SignedCpa {
    SignedCpa {
        body: bytes(v, "body"),
        signature: bytes(v, "signature").try_into().expect("64 bytes"),
    }
}

fn cpa_1(v: &Vector) -> (CpaSigner, CpaBody) {
    let signer = CpaSigner::from_seed(&seed(v));
    let endpoints: Vec<SocketAddr> =
        get(v, "endpoints").split_whitespace().map(|e| e.parse().expect("endpoint")).collect();
    let body = CpaBody {
        format: CPA_FORMAT,
        name: get(v, "peer-name").parse().expect("peer name"),
        location: ServiceLocation::from_hex(get(v, "location")).expect("location"),
        sequence: get(v, "sequence").parse().expect("sequence"),
        not_after: millis(v, "not-after"),
        revoked: false,
        endpoints,
        comment: get(v, "comment").to_owned(),
        payload: Some(bytes(v, "payload")),
        signer: signer.public_key(),
        delegation: None,
    };
    (signer, body)
}

fn check_frame(v: &Vector, msg: &Message) {
    let codec = FrameCodec::default();
    assert_eq!(
        hex::encode(msg.encode(&codec).unwrap()),
        hex::encode(bytes(v, "frame")),
        "{}",
        get(v, "name")
    );
    assert_eq!(&Message::decode(&codec, &bytes(v, "frame")).unwrap(), msg);
}

#[test]
fn spec_vectors_match_the_code() {
    let vectors = spec_vectors::parse(SPEC);
    assert!(vectors.len() >= 13, "found {} vectors", vectors.len());
    let find = |name: &str| {
        vectors.iter().find(|v| get(v, "name") == name).expect("vector present").clone()
    };
    let cpa1 = find("cpa-1");
    for v in &vectors {
        match get(v, "name") {
            "name-key" => {
                let name: PeerName = get(v, "peer-name").parse().unwrap();
                assert_eq!(name.p2p_id().to_hex(), get(v, "p2p-id"));
                assert_eq!(Key::of_name(&name.p2p_id()).to_hex(), get(v, "key"));
            }
            "service-location" | "service-location-tagged" => {
                let signer = CpaSigner::from_seed(&seed(v));
                assert_eq!(hex::encode(signer.public_key()), get(v, "signer"));
                let name: PeerName = get(v, "peer-name").parse().unwrap();
                assert_eq!(name.authority(), &signer.authority());
                assert_eq!(name.p2p_id().to_hex(), get(v, "p2p-id"));
                let hint = u64::from_str_radix(get(v, "address-hint"), 16).unwrap();
                assert_eq!(hint, ServiceLocation::address_hint_of("192.0.2.1".parse().unwrap()));
                let tag: u64 = get(v, "instance-tag").parse().unwrap();
                let loc = service_location(hint, &signer.public_key(), &name.p2p_id(), tag);
                assert_eq!(loc.to_hex(), get(v, "location"));
            }
            "cpa-1" => {
                let (signer, body) = cpa_1(v);
                let now = millis(v, "now");
                let s = body.sign(&signer, now).unwrap();
                assert_eq!(hex::encode(&s.body), hex::encode(bytes(v, "body")));
                assert_eq!(
                    hex::encode(signature_input(&s.body)),
                    hex::encode(bytes(v, "signature-input"))
                );
                assert_eq!(hex::encode(s.signature), hex::encode(bytes(v, "signature")));
                assert_eq!(s.digest().to_string(), get(v, "digest"));
                let cpa = signed(v).verify(now, None).expect("the vector verifies");
                assert_eq!(cpa.body(), &body);
            }
            "revocation-1" => {
                let s = signed(v);
                let cpa = s.verify(millis(v, "now"), None).expect("the revocation verifies");
                let (_, original) = cpa_1(&cpa1);
                let b = cpa.body();
                assert!(b.revoked && b.endpoints.is_empty() && b.payload.is_none());
                assert_eq!(b.sequence, original.sequence + 1);
                assert_eq!(cpa.instance().location, original.location);
                // our encoder and signer produce exactly these bytes
                let signer = CpaSigner::from_seed(&seed(v));
                let again = b.sign(&signer, millis(v, "now")).unwrap();
                assert_eq!(again, s);
            }
            "cpa-delegated" => {
                let owner = CpaSigner::from_seed(&bytes(v, "owner-seed").try_into().unwrap());
                let delegate = CpaSigner::from_seed(&seed(v));
                let name: PeerName = get(v, "peer-name").parse().unwrap();
                assert_eq!(name.authority(), &owner.authority());
                let proof = SimpleDelegation::issue(
                    &owner,
                    &delegate.public_key(),
                    &name,
                    millis(v, "delegation-not-after"),
                );
                assert_eq!(hex::encode(&proof), hex::encode(bytes(v, "proof")));
                let hint = ServiceLocation::address_hint_of("192.0.2.1".parse().unwrap());
                let body = CpaBody {
                    format: CPA_FORMAT,
                    name: name.clone(),
                    location: service_location(hint, &delegate.public_key(), &name.p2p_id(), 0),
                    sequence: get(&cpa1, "sequence").parse().unwrap(),
                    not_after: millis(&cpa1, "not-after"),
                    revoked: false,
                    endpoints: vec!["192.0.2.1:4000".parse().unwrap()],
                    comment: String::new(),
                    payload: None,
                    signer: delegate.public_key(),
                    delegation: Some(proof),
                };
                let s = body.sign_unchecked(&delegate);
                assert_eq!(hex::encode(&s.body), hex::encode(bytes(v, "body")));
                assert_eq!(hex::encode(s.signature), hex::encode(bytes(v, "signature")));
                let now = millis(v, "now");
                let cpa = signed(v).verify(now, Some(&SimpleDelegation)).expect("verifies");
                assert!(cpa.is_delegated());
                assert!(matches!(
                    signed(v).verify(now, None),
                    Err(CpaError::DelegationUnsupported { .. })
                ));
            }
            "frame-find-name-probe" => {
                let location = ServiceLocation::from_hex(get(&cpa1, "location")).unwrap();
                let signer = CpaSigner::from_seed(&seed(&cpa1)).public_key();
                let msg = Message {
                    cloud: Cloud::Global,
                    body: Body::FindName {
                        txid: 1,
                        p2p: P2pId::from_hex("ff4a2b5d64e8dbba272b7650cbc1f81c").unwrap(),
                        count: 20,
                        max_results: 0,
                        hint: Some(location),
                        probe: Some(Box::new(InstanceId { signer, location })),
                        reason: Reason::Registration,
                    },
                };
                check_frame(v, &msg);
            }
            "frame-nodes" => {
                let nodes = vec![
                    PeerAddr { node: NodeId([0x11; 32]), addr: "127.0.0.1:3587".parse().unwrap() },
                    PeerAddr {
                        node: NodeId([0x22; 32]),
                        addr: "[2001:db8::1]:3587".parse().unwrap(),
                    },
                ];
                check_frame(
                    v,
                    &Message { cloud: Cloud::Global, body: Body::Nodes { txid: 3, nodes } },
                );
            }
            "frame-found-cpas" => {
                let msg = Message {
                    cloud: Cloud::Global,
                    body: Body::Found {
                        txid: 4,
                        nodes: Vec::new(),
                        cpas: vec![signed(&cpa1)],
                        holds: None,
                    },
                };
                check_frame(v, &msg);
            }
            "frame-store" => {
                let msg = Message {
                    cloud: Cloud::Global,
                    body: Body::Store { txid: 1, cpa: signed(&cpa1) },
                };
                check_frame(v, &msg);
            }
            "frame-find-name" => {
                let msg = Message {
                    cloud: Cloud::Global,
                    body: Body::FindName {
                        txid: 0x0102_0304_0506_0708,
                        p2p: P2pId::from_hex("ff4a2b5d64e8dbba272b7650cbc1f81c").unwrap(),
                        count: 8,
                        max_results: 16,
                        hint: None,
                        probe: None,
                        reason: Reason::Resolve,
                    },
                };
                check_frame(v, &msg);
            }
            "frame-found" => {
                let peer =
                    PeerAddr { node: NodeId([0x11; 32]), addr: "127.0.0.1:3587".parse().unwrap() };
                let msg = Message {
                    cloud: Cloud::LinkLocal,
                    body: Body::Found {
                        txid: 7,
                        nodes: vec![peer],
                        cpas: Vec::new(),
                        holds: Some(5),
                    },
                };
                check_frame(v, &msg);
            }
            "frame-find-node" => {
                let msg = Message {
                    cloud: Cloud::Global,
                    body: Body::FindNode {
                        txid: 9,
                        target: Key([0x22; 32]),
                        count: 20,
                        reason: Reason::Maintenance,
                    },
                };
                check_frame(v, &msg);
            }
            "frame-ping" => {
                check_frame(v, &Message { cloud: Cloud::Global, body: Body::Ping { nonce: 300 } })
            }
            "frame-store-ack" => check_frame(
                v,
                &Message {
                    cloud: Cloud::Global,
                    body: Body::StoreAck { txid: 1, status: StoreStatus::AlreadyCurrent },
                },
            ),
            name if name.starts_with("reject-") => {
                let err =
                    signed(v).verify(millis(v, "now"), None).expect_err("the vector is refused");
                let text = err.to_string();
                assert!(text.starts_with(get(v, "error")), "{name}: got {text:?}");
            }
            other => panic!("unknown vector {other:?}: add a check for it"),
        }
    }
}
