//! Checks the message vectors of `proto-specs/graph.md` §10.2 (`msg-` and `presence-`
//! vectors) against the code: each named message is built here from the fields the spec
//! lists, encoded, compared with the spec's hex, and decoded back. A `msg-` vector this
//! test does not know fails it, and so does a message type without a vector.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::SocketAddr;

use peergroup_base::spec_vectors::{self, get};
use peergroup_base::{NodeId, PeerAddr, PeerName, UnixTime};
use peergroup_graph::hlc::Hlc;
use peergroup_graph::proto::{
    Announcement, Beacon, Connect, DataType, DigestTag, Disconnect, DisconnectReason, GraftItem,
    LinkKind, Message, MessageLimits, PresencePayload, Priority, Refuse, RefuseReason, Shuffle,
    SyncMessage, SyncPhase, Welcome, WireRecord,
};
use peergroup_graph::record::{RecordBuilder, RecordLimits};
use peergroup_graph::{GraphId, RecordId, RecordType};

const SPEC: &str = include_str!("../../../../proto-specs/graph.md");

fn peer(byte: u8, addr: &str) -> PeerAddr {
    PeerAddr { node: NodeId([byte; 32]), addr: addr.parse::<SocketAddr>().unwrap() }
}

/// The record of vector `record-new` (§10.1).
fn record_new() -> peergroup_graph::record::Record {
    RecordBuilder::new(
        RecordType::parse("11111111-2222-4333-8444-555555555555").unwrap(),
        RecordId::parse("00112233-4455-4677-8899-aabbccddeeff").unwrap(),
        PeerName::parse("0.alice").unwrap(),
        Hlc::new(UnixTime::from_millis(1_795_632_699_250), 0, 7),
        UnixTime::from_millis(1_795_636_299_250),
    )
    .attribute("color", "red")
    .attribute("size", 3)
    .payload(b"hello".to_vec())
    .build(&RecordLimits::default())
    .unwrap()
}

fn id() -> RecordId {
    RecordId::parse("00112233-4455-4677-8899-aabbccddeeff").unwrap()
}

fn message(name: &str) -> Message {
    let graph = GraphId::new("0.graph").unwrap();
    let alice = PeerName::parse("0.alice").unwrap();
    let p1 = peer(0x11, "192.0.2.1:3587");
    let p2 = peer(0x22, "[2001:db8::2]:3587");
    match name {
        "msg-connect" => Message::Connect(Connect {
            version: 1,
            graph,
            kind: LinkKind::Neighbour,
            priority: Priority::Join,
            instance: 0x0102_0304_0506_0708,
            peer: alice,
        }),
        "msg-connect-direct" => Message::Connect(Connect {
            version: 1,
            graph,
            kind: LinkKind::Direct,
            priority: Priority::High,
            instance: 0,
            peer: alice,
        }),
        "msg-connect-low" => Message::Connect(Connect {
            version: 1,
            graph,
            kind: LinkKind::Neighbour,
            priority: Priority::Low,
            instance: u64::MAX,
            peer: alice,
        }),
        "msg-welcome" => Message::Welcome(Welcome {
            version: 1,
            graph,
            kind: LinkKind::Neighbour,
            instance: 300,
            peer: alice,
        }),
        "msg-refuse" => Message::Refuse(Refuse {
            kind: LinkKind::Neighbour,
            reason: RefuseReason::Busy,
            referrals: vec![p1],
        }),
        "msg-refuse-not-authorized" => Message::Refuse(Refuse {
            kind: LinkKind::Direct,
            reason: RefuseReason::NotAuthorized,
            referrals: Vec::new(),
        }),
        "msg-disconnect-sync-timeout" => Message::Disconnect(Disconnect {
            kind: LinkKind::Neighbour,
            reason: DisconnectReason::SyncTimeout,
            referrals: Vec::new(),
        }),
        "msg-disconnect" => Message::Disconnect(Disconnect {
            kind: LinkKind::Direct,
            reason: DisconnectReason::LeastUseful,
            referrals: vec![p2],
        }),
        "msg-forward-join" => Message::ForwardJoin { joiner: p1, ttl: 6 },
        "msg-shuffle" => {
            Message::Shuffle(Shuffle { nonce: 1, origin: p1, ttl: 3, nodes: vec![p1, p2] })
        }
        "msg-shuffle-reply" => Message::ShuffleReply { nonce: 1, nodes: vec![p2] },
        "msg-push" => Message::Push { hops: 3, record: WireRecord::from(record_new()) },
        "msg-announce" => Message::Announce(vec![Announcement {
            id: id(),
            deleted: false,
            expires: UnixTime::from_millis(1_795_636_299_250),
            version: 2,
            tag: DigestTag([0x96, 0xac, 0x59, 0x99, 0x12, 0x65, 0x13, 0xc5]),
            hops: 4,
        }]),
        "msg-graft" => Message::Graft(vec![GraftItem {
            id: id(),
            tag: DigestTag([0x96, 0xac, 0x59, 0x99, 0x12, 0x65, 0x13, 0xc5]),
            hops: 4,
        }]),
        "msg-graft-tree" => Message::Graft(Vec::new()),
        "msg-prune" => Message::Prune,
        "msg-sync-reconcile" => Message::Sync(SyncMessage::Reconcile {
            phase: SyncPhase::Security,
            payload: vec![0x02],
        }),
        "msg-sync-records" => Message::Sync(SyncMessage::Records {
            phase: SyncPhase::All,
            records: vec![WireRecord::from(record_new())],
        }),
        "msg-sync-ack" => Message::Sync(SyncMessage::Ack { phase: SyncPhase::All }),
        "msg-sync-done" => Message::Sync(SyncMessage::Done { phase: SyncPhase::Security }),
        "msg-sync-resync" => Message::Sync(SyncMessage::Resync {
            settled_before: UnixTime::from_millis(1_767_225_610_000),
        }),
        "msg-beacon" => Message::Beacon(Beacon {
            node: NodeId([0x01; 32]),
            round: 1_767_225_610_000,
            age_ms: 250,
            hops: 2,
            withdrawn: false,
        }),
        "msg-beacon-withdrawn" => Message::Beacon(Beacon {
            node: NodeId([0x01; 32]),
            round: 1_767_225_610_000,
            age_ms: 0,
            hops: 0,
            withdrawn: true,
        }),
        "msg-probe" => Message::Probe { nonce: 0xfedc_ba98, signature: NodeId([0x01; 32]) },
        "msg-probe-reply" => {
            Message::ProbeReply { nonce: 0xfedc_ba98, signature: NodeId([0x02; 32]) }
        }
        "msg-ping" => Message::Ping,
        "msg-data" => {
            Message::Data { data_type: DataType::from_u128(0xc4a7), data: b"hi".to_vec() }
        }
        "msg-custody" => Message::Custody { record: WireRecord::from(record_new()) },
        other => panic!("unknown vector {other}"),
    }
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

#[test]
fn message_vectors() {
    let mut names = BTreeSet::new();
    let mut presence = 0;
    let mut refusals = 0;
    for v in spec_vectors::parse(SPEC) {
        let name = get(&v, "name").unwrap().to_owned();
        if name.starts_with("msg-reject-") {
            // A refusal: the body does not decode, or decodes and breaks a limit (§9.1).
            let error = get(&v, "error").unwrap();
            let encoding = unhex(get(&v, "encoding").unwrap());
            let limits =
                MessageLimits { max_reconcile_payload: 60 * 1024, max_data_bytes: 64 * 1024 };
            let err = Message::decode(&encoding).and_then(|m| m.check(&limits)).unwrap_err();
            assert!(
                format!("{err:?}").starts_with(error),
                "{name}: got {err:?}, spec says {error}"
            );
            refusals += 1;
        } else if name.starts_with("msg-") {
            let m = message(&name);
            let encoding = unhex(get(&v, "encoding").unwrap());
            assert_eq!(hex::encode(m.encode()), hex::encode(&encoding), "{name}: encoding");
            assert_eq!(Message::decode(&encoding).unwrap(), m, "{name}: decoding");
            names.insert(m.name());
        } else if name.starts_with("presence-") {
            presence += 1;
            let p = PresencePayload {
                node: NodeId([0x33; 32]),
                addr: "198.51.100.7:3587".parse().unwrap(),
                instance: 9,
            };
            let encoding = unhex(get(&v, "encoding").unwrap());
            assert_eq!(hex::encode(postcard::to_allocvec(&p).unwrap()), hex::encode(&encoding));
            assert_eq!(PresencePayload::decode(&encoding), Some(p));
        }
    }
    assert_eq!(presence, 1);
    assert!(refusals >= 4, "the refusal vectors are checked");
    // Every message type (and sync sub-message) has a vector.
    let all = [
        "Connect",
        "Welcome",
        "Refuse",
        "Disconnect",
        "ForwardJoin",
        "Shuffle",
        "ShuffleReply",
        "Push",
        "Announce",
        "Graft",
        "Prune",
        "Sync/Reconcile",
        "Sync/Records",
        "Sync/Ack",
        "Sync/Done",
        "Sync/Resync",
        "Beacon",
        "Probe",
        "ProbeReply",
        "Ping",
        "Data",
        "Custody",
    ];
    assert_eq!(names, all.into_iter().collect::<BTreeSet<_>>());
}

/// Prints the vectors (run with `--ignored --nocapture` to regenerate the spec's hex).
#[test]
#[ignore]
fn print_vectors() {
    for name in [
        "msg-connect",
        "msg-connect-direct",
        "msg-connect-low",
        "msg-welcome",
        "msg-refuse",
        "msg-refuse-not-authorized",
        "msg-disconnect",
        "msg-disconnect-sync-timeout",
        "msg-forward-join",
        "msg-shuffle",
        "msg-shuffle-reply",
        "msg-push",
        "msg-announce",
        "msg-graft",
        "msg-graft-tree",
        "msg-prune",
        "msg-sync-reconcile",
        "msg-sync-records",
        "msg-sync-ack",
        "msg-sync-done",
        "msg-beacon",
        "msg-beacon-withdrawn",
        "msg-probe",
        "msg-probe-reply",
        "msg-ping",
        "msg-data",
        "msg-custody",
    ] {
        println!("{name}: {}", hex::encode(message(name).encode()));
    }
    let p = PresencePayload {
        node: NodeId([0x33; 32]),
        addr: "198.51.100.7:3587".parse().unwrap(),
        instance: 9,
    };
    println!("presence: {}", hex::encode(postcard::to_allocvec(&p).unwrap()));
}
