//! Bad input (`graph.md` §7–§9 limits): malformed, oversize, expired, rule-breaking and
//! unauthorised records and messages are refused with the error naming the failed check,
//! and the node keeps serving.
#![allow(clippy::unwrap_used)]

use crate::harness;

use std::time::Duration;

use harness::*;
use peergroup_base::UnixTime;
use peergroup_graph::hlc::Hlc;
use peergroup_graph::proto::{
    Announcement, Config, Connect, DigestTag, Disconnect, DisconnectReason, Event, LinkKind,
    Message, PROTOCOL_VERSION, Priority, ProtoError, RefuseReason, SyncMessage, SyncPhase,
    TestProvider, WireRecord,
};
use peergroup_graph::record::{RecordBuilder, RecordLimits};
use peergroup_graph::{GraphError, GraphId};
use peergroup_sim::NodeIdx;

fn connect_msg(graph: GraphId, version: u8) -> Message {
    Message::Connect(Connect {
        version,
        graph,
        kind: LinkKind::Neighbour,
        priority: Priority::High,
        instance: 42,
        peer: name_of(77),
    })
}

/// A victim with `provider`, a well-behaved neighbour, and a raw peer connected to the
/// victim as a neighbour.
fn setup(
    seed: u64,
    provider: TestProvider,
    limits: RecordLimits,
) -> (Net, NodeIdx, NodeIdx, NodeIdx) {
    let mut net = Net::new(seed);
    net.limits = limits;
    let victim = net.add(Config::default(), provider.clone());
    net.limits = RecordLimits::default();
    let good = net.add(Config::default(), provider);
    let raw = net.add_raw();
    net.run(Duration::from_millis(1));
    net.connect(good, victim);
    net.secs(1);
    net.raw_send(raw, victim, connect_msg(graph_id(), PROTOCOL_VERSION));
    net.secs(1);
    assert!(net.raw_received(raw).iter().any(|(_, m)| matches!(m, Message::Welcome(_))));
    (net, victim, good, raw)
}

fn rejections(net: &Net, n: NodeIdx) -> Vec<ProtoError> {
    net.events_of(n)
        .iter()
        .filter_map(|e| match &e.event {
            Event::Rejected { error, .. } => Some(error.clone()),
            _ => None,
        })
        .collect()
}

fn graph_error(e: &ProtoError) -> Option<&GraphError> {
    e.as_graph_error()
}

/// The node still floods: a record published by its good neighbour is stored.
fn still_serving(net: &mut Net, victim: NodeIdx, good: NodeIdx) {
    let id = net.publish(good, 30);
    net.secs(1);
    assert!(net.has(victim, &id), "the node keeps serving");
}

fn data_record(creator: usize, at: UnixTime, payload: usize) -> peergroup_graph::record::Record {
    let mut net_rng_id = [0u8; 16];
    net_rng_id[0] = payload as u8;
    net_rng_id[1] = creator as u8;
    record(peergroup_graph::RecordId::random(net_rng_id), DATA, creator, at, &vec![7; payload])
}

#[test]
fn malformed_records_are_refused_as_malformed() {
    let (mut net, victim, good, raw) = setup(41, TestProvider::new(), RecordLimits::default());
    for bytes in [vec![], vec![0xff; 7], vec![3, 1, 2, 3]] {
        net.raw_send(raw, victim, Message::Push { hops: 1, record: WireRecord::from_bytes(bytes) });
    }
    // A valid record with a byte flipped in its body: not canonical, or not decodable.
    let r = data_record(77, sim_start(), 10);
    let mut bytes = r.encoded().to_vec();
    bytes[0] = bytes[0].wrapping_add(1);
    net.raw_send(raw, victim, Message::Push { hops: 1, record: WireRecord::from_bytes(bytes) });
    net.secs(1);
    let errs = rejections(&net, victim);
    assert_eq!(errs.len(), 4, "{errs:?}");
    assert!(
        errs.iter().all(|e| matches!(
            graph_error(e),
            Some(GraphError::MalformedRecord { .. } | GraphError::NonCanonicalRecord)
        )),
        "{errs:?}"
    );
    assert_eq!(net.node(victim).counters().records_rejected, 4);
    still_serving(&mut net, victim, good);
}

#[test]
fn oversize_records_are_refused_before_decoding() {
    let small = RecordLimits::default().with_max_record_size(4096).unwrap();
    let (mut net, victim, good, raw) = setup(42, TestProvider::new(), small);
    let big = data_record(77, sim_start(), 10_000);
    net.raw_send(
        raw,
        victim,
        Message::Push { hops: 1, record: WireRecord::from_bytes(big.encoded().to_vec()) },
    );
    net.raw_send(raw, victim, Message::Push { hops: 1, record: WireRecord::from(&big) });
    net.secs(1);
    let errs = rejections(&net, victim);
    assert_eq!(errs.len(), 2);
    for e in &errs {
        assert!(
            matches!(graph_error(e), Some(GraphError::MaxRecordSizeExceeded { max: 4096, .. })),
            "{e:?}"
        );
        assert!(e.is_limit_exceeded());
    }
    assert!(!net.has(victim, &big.id()));
    still_serving(&mut net, victim, good);
}

#[test]
fn records_failing_the_provider_are_refused_with_its_reason() {
    let provider = TestProvider::new().signing(b"group key");
    let (mut net, victim, good, raw) = setup(43, provider, RecordLimits::default());
    // Unsigned (or signed with another key): refused.
    let forged = data_record(77, sim_start(), 10)
        .with_security_data(&[0u8; 16], &RecordLimits::default())
        .unwrap();
    net.raw_send(raw, victim, Message::Push { hops: 1, record: WireRecord::from(&forged) });
    net.secs(1);
    let errs = rejections(&net, victim);
    assert!(
        matches!(
            &errs[..],
            [ProtoError::ProviderRejected { reason, .. }] if reason.to_string() == "bad test signature"
        ),
        "{errs:?}"
    );
    assert!(!net.has(victim, &forged.id()));
    // Records of the good neighbour, signed by the same provider, pass.
    still_serving(&mut net, victim, good);
}

#[test]
fn records_breaking_store_rules_are_refused_with_the_rule() {
    let (mut net, victim, good, raw) = setup(44, TestProvider::new(), RecordLimits::default());
    let now = net.now().unix;
    let original = data_record(77, now, 10);
    net.raw_send(raw, victim, Message::Push { hops: 1, record: WireRecord::from(&original) });
    net.secs(1);
    assert!(net.has(victim, &original.id()));
    // Same id, another creator.
    let hijack = RecordBuilder::new(
        DATA,
        original.id(),
        name_of(78),
        original.created(),
        original.expires(),
    )
    .payload(vec![1])
    .build(&RecordLimits::default())
    .unwrap();
    // Expired on arrival.
    let t = net.now().unix;
    let expired = RecordBuilder::new(
        DATA,
        net.random_id(),
        name_of(77),
        Hlc::new(UnixTime::from_millis(t.as_millis() - 10_000), 0, 1),
        UnixTime::from_millis(t.as_millis() - 1),
    )
    .build(&RecordLimits::default())
    .unwrap();
    // Written ten minutes in the future: beyond the clock drift bound.
    let future = RecordBuilder::new(
        DATA,
        net.random_id(),
        name_of(77),
        Hlc::new(t.saturating_add(Duration::from_secs(600)), 0, 1),
        t.saturating_add(Duration::from_secs(3600)),
    )
    .build(&RecordLimits::default())
    .unwrap();
    for r in [&hijack, &expired, &future] {
        net.raw_send(raw, victim, Message::Push { hops: 1, record: WireRecord::from(r) });
    }
    net.secs(1);
    let errs = rejections(&net, victim);
    assert!(matches!(graph_error(&errs[0]), Some(GraphError::CreatorChanged { .. })), "{errs:?}");
    assert!(matches!(graph_error(&errs[1]), Some(GraphError::RecordExpired { .. })), "{errs:?}");
    assert!(matches!(graph_error(&errs[2]), Some(GraphError::ClockDrift { .. })), "{errs:?}");
    assert_eq!(
        net.get(victim, &original.id()).unwrap(),
        original,
        "the stored record is untouched"
    );
    assert!(!net.has(victim, &future.id()));
    still_serving(&mut net, victim, good);
}

#[test]
fn messages_over_their_limits_are_refused_with_the_field() {
    let (mut net, victim, good, raw) = setup(45, TestProvider::new(), RecordLimits::default());
    let a = Announcement {
        id: peergroup_graph::RecordId::NIL,
        deleted: false,
        expires: UnixTime::from_secs(1),
        version: 1,
        tag: DigestTag([0; 8]),
        hops: 0,
    };
    net.raw_send(raw, victim, Message::Announce(vec![a; 5000]));
    net.raw_send(
        raw,
        victim,
        Message::Data {
            data_type: peergroup_graph::proto::DataType([0; 16]),
            data: vec![0; 100_000],
        },
    );
    net.secs(1);
    let errs = rejections(&net, victim);
    assert!(
        matches!(errs[0], ProtoError::TooMany { field: "announcements", len: 5000, .. }),
        "{errs:?}"
    );
    assert!(
        matches!(errs[1], ProtoError::TooLarge { field: "data", len: 100_000, .. }),
        "{errs:?}"
    );
    assert_eq!(net.node(victim).missing_len(), 0, "the oversize announcement left no state");
    still_serving(&mut net, victim, good);
}

#[test]
fn connects_for_another_graph_or_version_are_refused() {
    let (mut net, victim, good, _) = setup(46, TestProvider::new(), RecordLimits::default());
    let stranger = net.add_raw();
    net.run(Duration::from_millis(1));
    net.raw_send(stranger, victim, connect_msg(GraphId::new("0.other").unwrap(), PROTOCOL_VERSION));
    net.raw_send(stranger, victim, connect_msg(graph_id(), 9));
    net.secs(1);
    let refusals: Vec<RefuseReason> = net
        .raw_received(stranger)
        .iter()
        .filter_map(|(_, m)| match m {
            Message::Refuse(r) => Some(r.reason),
            _ => None,
        })
        .collect();
    assert_eq!(refusals, vec![RefuseReason::WrongGraph, RefuseReason::UnsupportedVersion]);
    let errs = rejections(&net, victim);
    assert!(matches!(errs[0], ProtoError::WrongGraph { .. }));
    assert!(matches!(errs[1], ProtoError::UnsupportedVersion { got: 9, expected: 1 }));
    assert!(!net.node(victim).neighbour_addrs().contains(&net.addr(stranger)));
    still_serving(&mut net, victim, good);
}

#[test]
fn neighbour_only_messages_from_strangers_are_answered_with_not_connected() {
    let (mut net, victim, good, _) = setup(47, TestProvider::new(), RecordLimits::default());
    let stranger = net.add_raw();
    net.run(Duration::from_millis(1));
    let r = data_record(77, net.now().unix, 10);
    net.raw_send(stranger, victim, Message::Push { hops: 1, record: WireRecord::from(&r) });
    net.raw_send(stranger, victim, Message::Sync(SyncMessage::Done { phase: SyncPhase::All }));
    net.raw_send(stranger, victim, Message::ShuffleReply { nonce: 5, nodes: vec![net.addr(good)] });
    net.raw_send(
        stranger,
        victim,
        Message::ProbeReply { nonce: 5, signature: net.addr(good).node },
    );
    net.secs(1);
    assert!(!net.has(victim, &r.id()));
    let answers: Vec<&Message> = net.raw_received(stranger).iter().map(|(_, m)| m).collect();
    let not_connected = Message::Disconnect(Disconnect {
        kind: LinkKind::Neighbour,
        reason: DisconnectReason::NotConnected,
        referrals: vec![],
    });
    assert_eq!(answers, vec![&not_connected, &not_connected], "unsolicited replies get no answer");
    let c = net.node(victim).counters();
    assert_eq!((c.messages_rejected, c.unsolicited), (2, 2));
    still_serving(&mut net, victim, good);
}

#[test]
fn a_broken_reconciliation_drops_the_neighbour_but_not_the_node() {
    let (mut net, victim, good, raw) = setup(48, TestProvider::new(), RecordLimits::default());
    net.clear_raw(raw);
    let garbage =
        Message::Sync(SyncMessage::Reconcile { phase: SyncPhase::All, payload: vec![0xde, 0xad] });
    net.raw_send(raw, victim, garbage);
    net.secs(1);
    let errs = rejections(&net, victim);
    assert!(matches!(errs[..], [ProtoError::Reconcile(_)]), "{errs:?}");
    assert!(!net.node(victim).neighbour_addrs().contains(&net.addr(raw)));
    assert!(net.raw_received(raw).iter().any(|(_, m)| matches!(
        m,
        Message::Disconnect(Disconnect { reason: DisconnectReason::ProtocolError, .. })
    )));
    still_serving(&mut net, victim, good);
}

#[test]
fn malformed_message_bytes_are_refused_by_the_decoder() {
    for bytes in [&[][..], &[200][..], &[7, 1][..], &[15, 0][..]] {
        assert!(
            matches!(Message::decode(bytes), Err(ProtoError::MalformedMessage { .. })),
            "{bytes:?}"
        );
    }
    // A frame body that decodes, but has a list over its limit, is refused by `check`.
    let a = Announcement {
        id: peergroup_graph::RecordId::NIL,
        deleted: false,
        expires: UnixTime::from_secs(1),
        version: 1,
        tag: DigestTag([0; 8]),
        hops: 0,
    };
    let m = Message::decode(&Message::Announce(vec![a; 4097]).encode()).unwrap();
    let limits = peergroup_graph::proto::MessageLimits {
        max_reconcile_payload: 61_440,
        max_data_bytes: 65_536,
    };
    assert!(matches!(m.check(&limits), Err(ProtoError::TooMany { field: "announcements", .. })));
}

#[test]
fn unsolicited_walks_and_probes_cannot_grow_the_nodes_state() {
    let (mut net, victim, good, raw) = setup(49, TestProvider::new(), RecordLimits::default());
    let before = net.sim.stats().dropped_unreachable;
    // Fifty join walks ending here, each naming a node nobody runs: the victim would
    // connect to each. It keeps at most `max_pending_connects` attempts open.
    for k in 0..50u8 {
        let joiner = peergroup_base::PeerAddr {
            node: peergroup_base::NodeId([k; 32]),
            addr: format!("198.51.100.{}:3587", k + 1).parse().unwrap(),
        };
        net.raw_send(raw, victim, Message::ForwardJoin { joiner, ttl: 0 });
    }
    net.run(Duration::from_millis(500));
    let attempted = net.sim.stats().dropped_unreachable - before;
    assert!(
        attempted >= 1 && attempted <= Config::default().topology.max_pending_connects as u64,
        "{attempted} connects"
    );
    // Unsolicited shuffle replies add nothing to the passive view.
    let passive = net.node(victim).passive_view().to_vec();
    let nodes: Vec<_> = (0..32u8)
        .map(|k| peergroup_base::PeerAddr {
            node: peergroup_base::NodeId([k + 100; 32]),
            addr: format!("203.0.113.{}:3587", k + 1).parse().unwrap(),
        })
        .collect();
    net.raw_send(raw, victim, Message::ShuffleReply { nonce: 12345, nodes });
    net.secs(1);
    assert_eq!(net.node(victim).passive_view(), &passive[..]);
    still_serving(&mut net, victim, good);
}

#[test]
fn a_resync_out_of_turn_drops_the_neighbour_but_not_the_node() {
    // The raw neighbour never finished the first synchronisation: it may not open a
    // re-synchronisation (graph.md §8.6).
    let (mut net, victim, good, raw) = setup(49, TestProvider::new(), RecordLimits::default());
    net.clear_raw(raw);
    let settled_before = net.now().unix;
    net.raw_send(raw, victim, Message::Sync(SyncMessage::Resync { settled_before }));
    net.secs(1);
    let errs = rejections(&net, victim);
    assert!(
        matches!(errs[..], [ProtoError::NotConnected { message: "Sync/Resync", .. }]),
        "{errs:?}"
    );
    assert!(!net.node(victim).neighbour_addrs().contains(&net.addr(raw)));
    still_serving(&mut net, victim, good);
}
