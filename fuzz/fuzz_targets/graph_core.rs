//! The graph core (`proto-specs/graph.md`) over an in-memory store, driven by arbitrary
//! sequences of peer messages (connects, valid and garbage records, announcements, grafts,
//! decoded garbage), commands, timers and peer failures. After every step its state must
//! stay within the configured limits: neighbours, passive view, direct connections,
//! deferred and missing records, and one step's output.
#![no_main]

#[path = "common/bytes.rs"]
mod bytes;

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use peergroup_base::{
    Input, Instant, NodeId, Now, Outbox, Output, PeerAddr, PeerName, Protocol, UnixTime,
};
use peergroup_graph::proto::{
    Announcement, Command, Config, Connect, DataType, DigestTag, GraftItem, GraphNode, LinkKind,
    Message, NewRecord, NodeParams, PROTOCOL_VERSION, Priority, TestProvider, WireRecord,
};
use peergroup_graph::record::{Record, RecordBuilder, RecordLimits};
use peergroup_graph::store::MemStore;
use peergroup_graph::{GraphId, Hlc, RecordId, RecordType};

const T0: u64 = 1_767_225_600;
const PEERS: usize = 8;
const DATA: RecordType = RecordType::from_u128(0xda7a);

struct Fixture {
    graph: GraphId,
    peers: Vec<(PeerAddr, PeerName)>,
    /// Records of a few ids at a few versions, some deleted.
    records: Vec<Record>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let graph = GraphId::new("0.fuzz-graph").expect("graph id");
        let peers = (0..PEERS)
            .map(|i| {
                let addr = PeerAddr {
                    node: NodeId([i as u8 + 2; 32]),
                    addr: SocketAddr::from(([10, 0, i as u8, 1], 3587)),
                };
                (addr, format!("0.peer-{i}").parse().expect("name"))
            })
            .collect::<Vec<(PeerAddr, PeerName)>>();
        let mut records = Vec::new();
        for i in 0..4u128 {
            for version in 1..=3u32 {
                let at = UnixTime::from_secs(T0 + u64::from(version));
                let r = RecordBuilder::new(
                    DATA,
                    RecordId::from_u128(0x1000 + i),
                    peers[i as usize].1.clone(),
                    Hlc::new(at, 0, 1),
                    at.saturating_add(Duration::from_secs(600 * u64::from(version))),
                )
                .version(version)
                .payload(vec![version as u8; 16 * version as usize])
                .build(&RecordLimits::default())
                .expect("record");
                records.push(r);
            }
        }
        Fixture { graph, peers, records }
    })
}

fn message(b: &mut Bytes<'_>, f: &Fixture) -> Option<Message> {
    Some(match b.below(8) {
        0 => Message::Connect(Connect {
            version: if b.u8() < 8 { 0 } else { PROTOCOL_VERSION },
            graph: f.graph.clone(),
            kind: if b.bool() { LinkKind::Neighbour } else { LinkKind::Direct },
            priority: if b.bool() { Priority::High } else { Priority::Low },
            instance: u64::from(b.u8()),
            peer: f.peers[b.below(PEERS)].1.clone(),
        }),
        1 | 2 => {
            let r = &f.records[b.below(f.records.len())];
            let mut bytes = r.encoded().to_vec();
            if b.u8() < 16 && !bytes.is_empty() {
                let i = b.below(bytes.len());
                bytes[i] ^= 1 << (b.u8() % 8); // a damaged record
            }
            Message::Push { hops: u16::from(b.u8()), record: WireRecord::from_bytes(bytes) }
        }
        3 => Message::Announce(
            (0..b.below(6))
                .map(|_| {
                    let r = &f.records[b.below(f.records.len())];
                    let mut a = Announcement::of(r, u16::from(b.u8()));
                    if b.u8() < 32 {
                        // an announcement no record matches
                        a.version = u32::from(b.u8());
                        a.deleted = b.bool();
                    }
                    a
                })
                .collect(),
        ),
        4 => Message::Graft(
            (0..b.below(6))
                .map(|_| {
                    let r = &f.records[b.below(f.records.len())];
                    GraftItem {
                        id: r.id(),
                        tag: DigestTag::of(&r.digest()),
                        hops: u16::from(b.u8()),
                    }
                })
                .collect(),
        ),
        5 => Message::Prune,
        6 => Message::Ping,
        _ => {
            let raw = b.take(1024);
            Message::decode(raw).ok()?
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let mut b = Bytes::new(data);
    let me = PeerAddr { node: NodeId([1; 32]), addr: SocketAddr::from(([10, 9, 9, 9], 3587)) };
    let config = Config::default();
    let mut node = GraphNode::new(NodeParams {
        graph: f.graph.clone(),
        me,
        peer_name: "0.me".parse().expect("name"),
        config: config.clone(),
        store: MemStore::new(RecordLimits::default()),
        provider: TestProvider::new(),
        seed: b.u64(),
    });
    let mut out = Outbox::new();
    let mut now_us: u64 = 1_000_000;
    let now = |us: u64| Now {
        instant: Instant::from_micros(us),
        unix: UnixTime::from_secs(T0 + us / 1_000_000),
    };
    let mut timers = Vec::new();
    let mut input = Some(Input::Start);
    let mut steps = 0;
    while steps < 300 {
        steps += 1;
        let i = match input.take() {
            Some(i) => i,
            None => {
                if b.is_empty() {
                    break;
                }
                match b.below(6) {
                    0..=2 => {
                        let from = f.peers[b.below(PEERS)].0;
                        let Some(msg) = message(&mut b, f) else { continue };
                        Input::Recv { from, msg }
                    }
                    3 => {
                        let peer = f.peers[b.below(PEERS)].0;
                        let c = match b.below(6) {
                            0 => Command::Connect(peer),
                            1 => Command::OpenDirect(peer),
                            2 => Command::CloseDirect(peer),
                            3 => Command::SendData {
                                peer,
                                data_type: DataType::from_u128(1),
                                data: vec![0; usize::from(b.u16())],
                            },
                            4 => Command::AddRecord(NewRecord::new(
                                RecordId::from_u128(0x2000 + u128::from(b.u8() % 8)),
                                DATA,
                                Duration::from_secs(u64::from(b.u16())),
                                vec![0; usize::from(b.u8())],
                            )),
                            _ => Command::DeleteRecord(f.records[b.below(f.records.len())].id()),
                        };
                        Input::Command(c)
                    }
                    4 => Input::PeerDown(f.peers[b.below(PEERS)].0),
                    _ => {
                        now_us += u64::from(b.u16()) * 1_000 * u64::from(b.u8() % 8 + 1);
                        timers.sort_by_key(|(at, _): &(Instant, _)| *at);
                        let due = timers.partition_point(|(at, _)| at.as_micros() <= now_us);
                        for (_, t) in timers.drain(..due).collect::<Vec<_>>() {
                            node.handle(now(now_us), Input::Timer(t), &mut out);
                        }
                        continue;
                    }
                }
            }
        };
        node.handle(now(now_us), i, &mut out);
        let mut n = 0usize;
        for o in out.drain() {
            n += 1;
            if let Output::SetTimer { at, timer } = o {
                timers.push((at, timer));
            }
        }
        assert!(n <= 20_000, "one step produced {n} outputs");
        assert!(timers.len() <= 100_000, "{} timers pending", timers.len());
        assert!(node.neighbours().len() <= config.topology.max_neighbours, "too many neighbours");
        assert!(node.passive_view().len() <= config.topology.passive_view, "passive view over its size");
        assert!(node.direct_peers().len() <= config.topology.max_direct, "too many direct connections");
        assert!(node.deferred_len() <= config.records.max_deferred, "deferred over its limit");
        assert!(node.missing_len() <= config.flood.max_missing, "missing over its limit");
    }
});
