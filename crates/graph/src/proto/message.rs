//! Graph messages (`proto-specs/graph.md` §7–§9).
//!
//! One [`Message`] enum covers the three sub-protocols; the variant index is the message
//! type on the wire:
//!
//! | # | message | sub-protocol | from whom |
//! |---|---|---|---|
//! | 0 | `Connect` | topology §9.2 | anyone |
//! | 1 | `Welcome` | topology §9.2 | whoever was sent a `Connect` |
//! | 2 | `Refuse` | topology §9.2 | whoever was sent a `Connect` |
//! | 3 | `Disconnect` | topology §9.2 | a neighbour or direct peer |
//! | 4 | `ForwardJoin` | topology §9.3 | a neighbour |
//! | 5 | `Shuffle` | topology §9.4 | a neighbour |
//! | 6 | `ShuffleReply` | topology §9.4 | the end of a shuffle walk (anyone) |
//! | 7 | `Push` | flooding §7.2 | a neighbour |
//! | 8 | `Announce` | flooding §7.3 | a neighbour |
//! | 9 | `Graft` | flooding §7.3 | a neighbour |
//! | 10 | `Prune` | flooding §7.3 | a neighbour |
//! | 11 | `Sync` | reconciliation §8 | a neighbour |
//! | 12 | `Beacon` | topology §9.5 | a neighbour |
//! | 13 | `Probe` | topology §9.5 | anyone |
//! | 14 | `ProbeReply` | topology §9.5 | whoever was probed |
//! | 15 | `Ping` | topology §9.6 | a neighbour or direct peer |
//! | 16 | `Data` | direct data §9.7 | a neighbour or direct peer |
//! | 17 | `Custody` | flooding §7.2 | a neighbour (the record's writer) |
//!
//! Every list and byte field has a limit, checked by [`Message::check`] before the core
//! acts on a message; records are decoded and checked against the graph's
//! [`RecordLimits`] one by one as they are applied ([`WireRecord::to_record`]).

use std::fmt;
use std::sync::OnceLock;

use peergroup_base::{NodeId, PeerAddr, PeerName, UnixTime};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::GraphError;
use crate::id::{GraphId, RecordId};
use crate::proto::error::ProtoError;
use crate::record::{Record, RecordDigest, RecordLimits};

/// The graph protocol version this code speaks (`graph.md` §9.2).
pub const PROTOCOL_VERSION: u8 = 1;

/// Most referrals a `Refuse` or `Disconnect` carries: 10, as [MS-PPGRH] 3.1.5.2.1.
pub const MAX_REFERRALS: usize = 10;

/// Most nodes a `Shuffle` or `ShuffleReply` carries (HyParView's `ka + kp + 1` is 8 with
/// the defaults; the limit leaves room for other settings).
pub const MAX_SHUFFLE_NODES: usize = 32;

/// Most items of one `Announce` or `Graft`. 4,096 items are about 120 KiB, well inside a
/// frame; a node flushing more sends several messages.
pub const MAX_ANNOUNCE_ITEMS: usize = 4096;

/// Most records of one sync `Records` batch. The batch is also bounded in bytes by the
/// sender's `sync_batch_bytes` and by the frame limit on the wire.
pub const MAX_SYNC_BATCH_RECORDS: usize = 4096;

/// Largest walk length (`ttl`) a `ForwardJoin` or `Shuffle` may carry.
pub const MAX_WALK_LENGTH: u8 = 16;

/// Largest reconciliation payload accepted, whatever the configuration: the largest
/// `max_message_bytes` a reconciliation session allows (16 MiB); each node enforces its
/// own, smaller, configured limit too.
pub const MAX_RECONCILE_PAYLOAD: usize = peergroup_reconcile::MAX_MESSAGE_BYTES;

/// A message between two graph nodes. See the [module docs](self) for the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Message {
    /// Asks to open a neighbour or direct connection (§9.2).
    Connect(Connect),
    /// Accepts a `Connect` (§9.2).
    Welcome(Welcome),
    /// Refuses a `Connect` (§9.2).
    Refuse(Refuse),
    /// Closes a connection (§9.2).
    Disconnect(Disconnect),
    /// A join walk (HyParView): the last node of the walk connects to `joiner` (§9.3).
    ForwardJoin {
        /// The node that joined.
        joiner: PeerAddr,
        /// Remaining walk length.
        ttl: u8,
    },
    /// A shuffle walk (HyParView): the last node answers `origin` directly (§9.4).
    Shuffle(Shuffle),
    /// The answer to a `Shuffle`: a sample of the answering node's passive view (§9.4).
    ShuffleReply {
        /// The shuffle's nonce.
        nonce: u64,
        /// Nodes, at most [`MAX_SHUFFLE_NODES`].
        nodes: Vec<PeerAddr>,
    },
    /// A record pushed along the spanning tree, in answer to a `Graft`, or sent back to a
    /// sender that has an older version (§7.2).
    Push {
        /// Hops the record has travelled, this one included (1 from its writer).
        hops: u16,
        /// The record.
        record: WireRecord,
    },
    /// Lazy push: the records the sender received recently, by id (§7.3).
    Announce(Vec<Announcement>),
    /// Pull: send me these records, and push to me eagerly from now on (§7.3).
    Graft(Vec<GraftItem>),
    /// Stop pushing eagerly to me; announce instead (§7.3).
    Prune,
    /// Synchronisation on connect (§8).
    Sync(SyncMessage),
    /// The partition signature: the lowest node id of the component (§9.5).
    Beacon(Beacon),
    /// Which component are you in? Sent to a known node that is not a neighbour (§9.5).
    Probe {
        /// Random; echoed.
        nonce: u64,
        /// The prober's signature node.
        signature: NodeId,
    },
    /// The answer to a `Probe` (§9.5).
    ProbeReply {
        /// The probe's nonce.
        nonce: u64,
        /// The answering node's signature node.
        signature: NodeId,
    },
    /// Keepalive on an idle connection; not answered (§9.6).
    Ping,
    /// Application data on a neighbour or direct connection (§9.7).
    Data {
        /// The application's type for the data.
        data_type: DataType,
        /// The data, at most the receiver's `max_data_bytes`.
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// A custody copy: the writer of a record sends it to its lazy neighbours too, so that
    /// it survives the writer's failure. Stored and announced, not pushed on (§7.2).
    Custody {
        /// The record.
        record: WireRecord,
    },
}

/// What kind of connection a `Connect` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LinkKind {
    /// A neighbour: records flood and synchronise over it.
    Neighbour,
    /// A direct connection: application data only ([MS-PPGRH] 1.3.3).
    Direct,
}

/// How strongly a `Connect` asks (HyParView's join / high / low priority, §9.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Priority {
    /// A new node joining through this one; accepted unless refused for a reason other
    /// than capacity, and followed by `ForwardJoin` walks.
    Join,
    /// The asker has fewer than the minimum neighbours, ends a join walk, or heals a
    /// partition: accepted even at the maximum (a random neighbour is dropped).
    High,
    /// The asker wants to reach its ideal count: accepted below the maximum.
    Low,
}

/// The `Connect` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connect {
    /// [`PROTOCOL_VERSION`].
    pub version: u8,
    /// The graph the asker is in.
    pub graph: GraphId,
    /// Neighbour or direct.
    pub kind: LinkKind,
    /// How strongly it asks.
    pub priority: Priority,
    /// The asker's instance: random, new every time a node opens the graph (the "node id"
    /// of [MS-PPGRH] 3.1.4.1). A `Connect` from a neighbour with a new instance means it
    /// restarted.
    pub instance: u64,
    /// The asker's peer name (checked by the security provider).
    pub peer: PeerName,
}

/// The `Welcome` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// [`PROTOCOL_VERSION`].
    pub version: u8,
    /// The graph.
    pub graph: GraphId,
    /// The kind of connection accepted (as asked).
    pub kind: LinkKind,
    /// The answering node's instance.
    pub instance: u64,
    /// The answering node's peer name.
    pub peer: PeerName,
}

/// Why a `Connect` was refused ([MS-PPGRH] 2.2.2.4 REFUSE codes, plus ours).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RefuseReason {
    /// The node has as many neighbours as it takes (or is closing).
    Busy,
    /// The two nodes are already connected.
    AlreadyConnected,
    /// Both nodes asked at once; the other connection is kept.
    DuplicateConnection,
    /// The node does not take direct connections.
    DirectDisallowed,
    /// The asker is in another graph.
    WrongGraph,
    /// The asker speaks another protocol version.
    UnsupportedVersion,
    /// The security provider refused the asker.
    NotAuthorized,
    /// The asker is the node itself.
    ConnectSelf,
}

/// The `Refuse` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refuse {
    /// The kind of connection refused (as asked).
    pub kind: LinkKind,
    /// Why.
    pub reason: RefuseReason,
    /// Other nodes to try, at most [`MAX_REFERRALS`].
    pub referrals: Vec<PeerAddr>,
}

/// Why a connection was closed ([MS-PPGRH] 2.2.2.5 DISCONNECT codes, plus ours).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DisconnectReason {
    /// The node is leaving the graph.
    Leaving,
    /// The node dropped this connection to make room for another.
    LeastUseful,
    /// The application closed the connection.
    AppDisconnect,
    /// The sender has no connection with the receiver (it restarted, or dropped it).
    NotConnected,
    /// The receiver broke the protocol (a failed synchronisation, a refused handshake).
    ProtocolError,
    /// Synchronisation did not finish in time.
    SyncTimeout,
}

/// The `Disconnect` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disconnect {
    /// The kind of connection closed.
    pub kind: LinkKind,
    /// Why.
    pub reason: DisconnectReason,
    /// Other nodes to try, at most [`MAX_REFERRALS`].
    pub referrals: Vec<PeerAddr>,
}

/// The `Shuffle` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shuffle {
    /// Random; echoed in the reply.
    pub nonce: u64,
    /// The node that started the walk (it receives the reply).
    pub origin: PeerAddr,
    /// Remaining walk length.
    pub ttl: u8,
    /// The origin and a sample of its views, at most [`MAX_SHUFFLE_NODES`].
    pub nodes: Vec<PeerAddr>,
}

/// The first 8 bytes of a [`RecordDigest`]: names one version of one record in
/// announcements (with the record id, a collision needs 2^32 versions of one record).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DigestTag(pub [u8; 8]);

impl DigestTag {
    /// The tag of a digest.
    pub fn of(digest: &RecordDigest) -> Self {
        let mut t = [0u8; 8];
        t.copy_from_slice(&digest.0[..8]);
        DigestTag(t)
    }
}

impl fmt::Debug for DigestTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DigestTag({})", hex::encode(self.0))
    }
}

/// One record version in an `Announce`: its id, the leading fields of the conflict order
/// (`graph.md` §3.3) so that a receiver can tell whether it holds a greater version, and
/// its digest tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Announcement {
    /// The record.
    pub id: RecordId,
    /// Whether this version is a tombstone.
    pub deleted: bool,
    /// Its expiration.
    pub expires: UnixTime,
    /// Its version.
    pub version: u32,
    /// Its digest tag.
    pub tag: DigestTag,
    /// Hops it had travelled when the announcer received it (0 for its own records).
    pub hops: u16,
}

impl Announcement {
    /// The announcement of `record`, received after `hops` hops.
    pub fn of(record: &Record, hops: u16) -> Self {
        Announcement {
            id: record.id(),
            deleted: record.is_deleted(),
            expires: record.expires(),
            version: record.version(),
            tag: DigestTag::of(&record.digest()),
            hops,
        }
    }

    /// `true` if `record` (a version of the same record) is greater than the announced
    /// version under the conflict order (`graph.md` §3.3), as far as the announced fields
    /// tell: deleted, then expiration, then version. Ties are not greater.
    pub fn is_beaten_by(&self, record: &Record) -> bool {
        (record.is_deleted(), record.expires(), record.version())
            > (self.deleted, self.expires, self.version)
    }
}

/// One record version asked for in a `Graft`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GraftItem {
    /// The record.
    pub id: RecordId,
    /// The digest tag announced.
    pub tag: DigestTag,
    /// The hops announced; the answering `Push` carries `hops + 1`.
    pub hops: u16,
}

/// The two phases of synchronisation on connect (§8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SyncPhase {
    /// Records of the security provider's security record types.
    Security,
    /// Every record.
    All,
}

/// The `Sync` sub-messages (§8.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum SyncMessage {
    /// A message of the reconciliation session of a phase (`reconcile.md` §7), opaque here.
    Reconcile {
        /// The phase.
        phase: SyncPhase,
        /// The reconciliation message.
        #[serde(with = "serde_bytes")]
        payload: Vec<u8>,
    },
    /// Records the receiver lacks, found by the phase's reconciliation.
    Records {
        /// The phase.
        phase: SyncPhase,
        /// At most [`MAX_SYNC_BATCH_RECORDS`].
        records: Vec<WireRecord>,
    },
    /// A `Records` batch was applied (flow control: a sender keeps at most
    /// `sync_window` batches unacknowledged).
    Ack {
        /// The phase.
        phase: SyncPhase,
    },
    /// The sender has sent every record of the phase the receiver lacks.
    Done {
        /// The phase.
        phase: SyncPhase,
    },
    /// Opens a periodic re-synchronisation (§8.6); sent by the side that initiated the
    /// connection's first synchronisation, right before the first phase's `Reconcile`.
    Resync {
        /// Both sides leave out the records modified at or after this time.
        settled_before: UnixTime,
    },
}

/// A partition signature beacon (§9.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Beacon {
    /// The lowest node id the sender knows in its component.
    pub node: NodeId,
    /// That node's beacon round; higher is fresher.
    pub round: u64,
    /// Milliseconds since that node emitted this round, as far as the sender knows.
    pub age_ms: u32,
    /// The sender's depth in the flooding tree: hops from `node` along first arrivals
    /// (0 when the sender is `node`).
    pub hops: u16,
    /// A withdrawal: `node` failed; forget its rounds up to `round` (§9.5).
    pub withdrawn: bool,
}

/// The type of application data sent on a connection (a UUID, like a record type).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DataType(pub [u8; 16]);

impl DataType {
    /// The type from a `u128` in big-endian order.
    pub const fn from_u128(v: u128) -> Self {
        DataType(v.to_be_bytes())
    }
}

impl fmt::Debug for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataType({})", RecordId::from_bytes(self.0))
    }
}

/// A record as carried in a message: on the wire, its encoding as `bytes` (`graph.md`
/// §2.2); in memory, either those bytes (as decoded from a frame) or a [`Record`] value
/// built by the sender.
///
/// The receiver turns either into a checked [`Record`] with [`WireRecord::to_record`]:
/// bytes are decoded as `graph.md` §2.5 says; a `Record` value (the simulator hands the
/// sender's message over without a byte round trip) is checked against the receiver's
/// limits exactly as decoding its bytes would, which is all decoding adds to a value that
/// is valid and canonical by construction.
#[derive(Clone)]
pub struct WireRecord(Repr);

#[derive(Clone)]
enum Repr {
    Record(Record),
    /// Bytes, and the record they decoded to under the limits beside it: a receiver that
    /// decodes a record ahead of handling its message (to verify a batch of signatures on
    /// several cores) does not decode it again.
    Bytes(Vec<u8>, OnceLock<(RecordLimits, Record)>),
}

impl WireRecord {
    /// Raw bytes, for example from a peer that does not follow the rules.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        WireRecord(Repr::Bytes(bytes, OnceLock::new()))
    }

    /// The encoded bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Record(r) => r.encoded(),
            Repr::Bytes(b, _) => b,
        }
    }

    /// Length of the encoding.
    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    /// `true` if the encoding is empty (never a valid record).
    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }

    /// The checked record under the receiving graph's `limits` (decoded once per limits).
    pub fn to_record(&self, limits: &RecordLimits) -> Result<Record, GraphError> {
        match &self.0 {
            Repr::Bytes(b, decoded) => {
                if let Some((l, r)) = decoded.get()
                    && l == limits
                {
                    return Ok(r.clone());
                }
                let r = Record::decode(b, limits)?;
                let _ = decoded.set((*limits, r.clone()));
                Ok(r)
            }
            Repr::Record(r) => {
                if r.encoded_len() > limits.max_record_size() as usize {
                    return Err(GraphError::MaxRecordSizeExceeded {
                        size: r.encoded_len(),
                        max: limits.max_record_size(),
                    });
                }
                r.check_limits(limits).map_err(|e| e.into_error(r.id(), r.expires()))?;
                Ok(r.clone())
            }
        }
    }
}

impl From<Record> for WireRecord {
    fn from(r: Record) -> Self {
        WireRecord(Repr::Record(r))
    }
}

impl From<&Record> for WireRecord {
    fn from(r: &Record) -> Self {
        WireRecord(Repr::Record(r.clone()))
    }
}

impl PartialEq for WireRecord {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl fmt::Debug for WireRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Record(r) => write!(f, "WireRecord({:?} v{})", r.id(), r.version()),
            Repr::Bytes(b, _) => write!(f, "WireRecord({} bytes)", b.len()),
        }
    }
}

impl Serialize for WireRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.bytes())
    }
}

impl<'de> Deserialize<'de> for WireRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let b = serde_bytes::ByteBuf::deserialize(d)?;
        Ok(WireRecord::from_bytes(b.into_vec()))
    }
}

/// The limits [`Message::check`] enforces that depend on the receiver's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageLimits {
    /// Largest reconciliation payload (the receiver's `reconcile.max_message_bytes`).
    pub max_reconcile_payload: usize,
    /// Largest application data.
    pub max_data_bytes: usize,
}

fn at_most(field: &'static str, len: usize, max: usize) -> Result<(), ProtoError> {
    if len > max { Err(ProtoError::TooMany { field, len, max }) } else { Ok(()) }
}

fn bytes_at_most(field: &'static str, len: usize, max: usize) -> Result<(), ProtoError> {
    if len > max { Err(ProtoError::TooLarge { field, len, max }) } else { Ok(()) }
}

impl Message {
    /// The message's name, for counters and errors.
    pub fn name(&self) -> &'static str {
        match self {
            Message::Connect(_) => "Connect",
            Message::Welcome(_) => "Welcome",
            Message::Refuse(_) => "Refuse",
            Message::Disconnect(_) => "Disconnect",
            Message::ForwardJoin { .. } => "ForwardJoin",
            Message::Shuffle(_) => "Shuffle",
            Message::ShuffleReply { .. } => "ShuffleReply",
            Message::Push { .. } => "Push",
            Message::Announce(_) => "Announce",
            Message::Graft(_) => "Graft",
            Message::Prune => "Prune",
            Message::Sync(SyncMessage::Reconcile { .. }) => "Sync/Reconcile",
            Message::Sync(SyncMessage::Records { .. }) => "Sync/Records",
            Message::Sync(SyncMessage::Ack { .. }) => "Sync/Ack",
            Message::Sync(SyncMessage::Done { .. }) => "Sync/Done",
            Message::Sync(SyncMessage::Resync { .. }) => "Sync/Resync",
            Message::Beacon(_) => "Beacon",
            Message::Probe { .. } => "Probe",
            Message::ProbeReply { .. } => "ProbeReply",
            Message::Ping => "Ping",
            Message::Data { .. } => "Data",
            Message::Custody { .. } => "Custody",
        }
    }

    /// `true` for messages that carry full records (`Push`, `Custody`, sync `Records`).
    pub fn carries_records(&self) -> bool {
        matches!(
            self,
            Message::Push { .. }
                | Message::Custody { .. }
                | Message::Sync(SyncMessage::Records { .. })
        )
    }

    /// Checks every list and byte field against its limit (`graph.md` §7–§9). Records
    /// inside are checked when applied, against the graph's record limits.
    pub fn check(&self, limits: &MessageLimits) -> Result<(), ProtoError> {
        match self {
            Message::Refuse(r) => at_most("referrals", r.referrals.len(), MAX_REFERRALS),
            Message::Disconnect(d) => at_most("referrals", d.referrals.len(), MAX_REFERRALS),
            Message::ForwardJoin { ttl, .. } => {
                at_most("walk length", usize::from(*ttl), usize::from(MAX_WALK_LENGTH))
            }
            Message::Shuffle(s) => {
                at_most("walk length", usize::from(s.ttl), usize::from(MAX_WALK_LENGTH))?;
                at_most("shuffle nodes", s.nodes.len(), MAX_SHUFFLE_NODES)
            }
            Message::ShuffleReply { nodes, .. } => {
                at_most("shuffle nodes", nodes.len(), MAX_SHUFFLE_NODES)
            }
            Message::Announce(items) => at_most("announcements", items.len(), MAX_ANNOUNCE_ITEMS),
            Message::Graft(items) => at_most("graft items", items.len(), MAX_ANNOUNCE_ITEMS),
            Message::Sync(SyncMessage::Reconcile { payload, .. }) => bytes_at_most(
                "reconciliation payload",
                payload.len(),
                limits.max_reconcile_payload.min(MAX_RECONCILE_PAYLOAD),
            ),
            Message::Sync(SyncMessage::Records { records, .. }) => {
                at_most("sync records", records.len(), MAX_SYNC_BATCH_RECORDS)
            }
            Message::Data { data, .. } => bytes_at_most("data", data.len(), limits.max_data_bytes),
            Message::Connect(_)
            | Message::Welcome(_)
            | Message::Push { .. }
            | Message::Custody { .. }
            | Message::Prune
            | Message::Sync(
                SyncMessage::Ack { .. } | SyncMessage::Done { .. } | SyncMessage::Resync { .. },
            )
            | Message::Beacon(_)
            | Message::Probe { .. }
            | Message::ProbeReply { .. }
            | Message::Ping => Ok(()),
        }
    }

    /// The postcard encoding (the frame body on the wire).
    pub fn encode(&self) -> Vec<u8> {
        // Invariant: every field serialises (no maps with non-string keys, no
        // unsupported types), so postcard cannot fail on a Message.
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes a frame body; the whole input must be consumed. The caller then runs
    /// [`Message::check`].
    pub fn decode(bytes: &[u8]) -> Result<Message, ProtoError> {
        let (m, rest) = postcard::take_from_bytes::<Message>(bytes)
            .map_err(|e| ProtoError::MalformedMessage { reason: e.to_string() })?;
        if !rest.is_empty() {
            return Err(ProtoError::MalformedMessage {
                reason: format!("{} trailing bytes after the message", rest.len()),
            });
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_record_serialises_as_bytes_and_decodes_raw() {
        let w = WireRecord::from_bytes(vec![1, 2, 3]);
        let enc = postcard::to_allocvec(&w).unwrap();
        assert_eq!(enc, [3, 1, 2, 3]);
        let back: WireRecord = postcard::from_bytes(&enc).unwrap();
        assert_eq!(back, w);
        assert!(matches!(
            back.to_record(&RecordLimits::default()),
            Err(GraphError::MalformedRecord { .. })
        ));
    }

    #[test]
    fn limits_are_enforced_per_field() {
        let limits = MessageLimits { max_reconcile_payload: 1024, max_data_bytes: 10 };
        let m = Message::Data { data_type: DataType([0; 16]), data: vec![0; 11] };
        assert!(matches!(m.check(&limits), Err(ProtoError::TooLarge { field: "data", .. })));
        let items = vec![
            GraftItem { id: RecordId::NIL, tag: DigestTag([0; 8]), hops: 0 };
            MAX_ANNOUNCE_ITEMS + 1
        ];
        assert!(matches!(
            Message::Graft(items).check(&limits),
            Err(ProtoError::TooMany { field: "graft items", .. })
        ));
        let m = Message::ForwardJoin {
            joiner: PeerAddr { node: NodeId([0; 32]), addr: "127.0.0.1:1".parse().unwrap() },
            ttl: 200,
        };
        assert!(m.check(&limits).is_err());
        assert!(Message::Ping.check(&limits).is_ok());
    }

    #[test]
    fn decode_refuses_trailing_bytes() {
        let mut b = Message::Ping.encode();
        assert_eq!(Message::decode(&b).ok(), Some(Message::Ping));
        b.push(0);
        assert!(matches!(Message::decode(&b), Err(ProtoError::MalformedMessage { .. })));
    }
}
