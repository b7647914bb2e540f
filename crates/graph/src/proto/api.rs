//! What the application hands a graph node ([`Command`]) and what it gets back
//! ([`Event`]); the events mirror `PEER_GRAPH_EVENT_TYPE` ([MS-PPGRH], `ms-p2p-facts.md`
//! §4.7).

use std::net::SocketAddr;
use std::time::Duration;

use peergroup_base::{Instant, NodeId, PeerAddr, PeerName};
use serde::Serialize;

use crate::id::{RecordId, RecordType};
use crate::proto::error::ProtoError;
use crate::proto::message::{DataType, DigestTag, RefuseReason};
use crate::record::AttributeValue;

/// A command from the local application.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Command {
    /// Connect to a node of the graph as a neighbour (bootstrap, `PeerGraphConnect`).
    /// Refused locally if the address is this node or a neighbour already.
    Connect(PeerAddr),
    /// Open a direct connection (application data only) to a node.
    OpenDirect(PeerAddr),
    /// Close a direct connection.
    CloseDirect(PeerAddr),
    /// Send application data on a neighbour or direct connection.
    SendData {
        /// The peer.
        peer: PeerAddr,
        /// The data's type.
        data_type: DataType,
        /// The data (at most `max_data_bytes`).
        data: Vec<u8>,
    },
    /// Add a record written by this node.
    AddRecord(NewRecord),
    /// Add several records written by this node, in order, as `AddRecord` each would,
    /// signed together (on several cores where the security provider can); stops at the
    /// first that fails (`CommandFailed` names it), the records before it added.
    AddRecords(Vec<NewRecord>),
    /// Write the next version of a record.
    UpdateRecord(RecordUpdate),
    /// Delete a record (store and flood its tombstone).
    DeleteRecord(RecordId),
    /// Validate the deferred records again (`PeerGraphValidateDeferredRecords`).
    RetryDeferred,
    /// Leave the graph: delete this node's presence, disconnect everyone, stop.
    Close,
}

/// A record to add. The node fills in the creator, times, version and security data.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    /// The id (the driver draws a random one; `RecordId::random`).
    pub id: RecordId,
    /// The type.
    pub record_type: RecordType,
    /// Time from now until it expires.
    pub lifetime: Duration,
    /// Attributes.
    pub attributes: Vec<(String, AttributeValue)>,
    /// Payload.
    pub payload: Vec<u8>,
}

impl NewRecord {
    /// A record of `record_type` with `payload`, living `lifetime`, no attributes.
    pub fn new(
        id: RecordId,
        record_type: RecordType,
        lifetime: Duration,
        payload: Vec<u8>,
    ) -> Self {
        NewRecord { id, record_type, lifetime, attributes: Vec::new(), payload }
    }

    /// The same record with one more attribute.
    pub fn attribute(mut self, name: &str, value: impl Into<AttributeValue>) -> Self {
        self.attributes.push((name.to_owned(), value.into()));
        self
    }
}

/// Changes for the next version of a record.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecordUpdate {
    /// The record.
    pub id: RecordId,
    /// A new payload, if any.
    pub payload: Option<Vec<u8>>,
    /// Attributes to set.
    pub set_attributes: Vec<(String, AttributeValue)>,
    /// Attributes to remove.
    pub remove_attributes: Vec<String>,
    /// Move the expiration to now + this (never earlier than it is).
    pub lifetime: Option<Duration>,
}

/// Graph status flags (`PEER_GRAPH_STATUS_FLAGS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Status {
    /// The node takes connections (started and not closed).
    pub listening: bool,
    /// The node has at least one neighbour.
    pub has_connections: bool,
    /// At least one current neighbour has finished synchronising with this node.
    pub synchronized: bool,
}

/// How a record changed (`PEER_RECORD_CHANGE_TYPE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RecordChange {
    /// A record new to this node.
    Added,
    /// A newer version of a record.
    Updated,
    /// A tombstone replaced a live record.
    Deleted,
    /// The record expired and was purged.
    Expired,
    /// The security provider no longer accepts the record (a revocation invalidated its
    /// signer); it was removed without a tombstone.
    Invalidated,
}

/// Where a stored record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordSource {
    /// Written by this node.
    Local,
    /// Flooded by a neighbour; `hops` from its writer.
    Flood {
        /// The neighbour.
        from: NodeId,
        /// Hops travelled.
        hops: u16,
    },
    /// Transferred by synchronisation with a neighbour.
    Sync {
        /// The neighbour.
        from: NodeId,
    },
    /// A deferred record, accepted on retry.
    Deferred,
    /// The purge of expired records.
    Expiry,
    /// The security provider's purge of records it no longer accepts.
    Provider,
}

/// A connection's change (`PEER_CONNECTION_STATUS`).
#[derive(Debug, Clone)]
pub enum ConnectionChange {
    /// Connected.
    Connected,
    /// Disconnected (by either side, or the peer became unreachable).
    Disconnected,
    /// A connection attempt failed.
    Failed(ProtoError),
}

/// A change in the node list (`PEER_NODE_CHANGE_TYPE`), from presence records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeChange {
    /// A node's presence appeared.
    Connected,
    /// A node's presence was deleted or expired.
    Disconnected,
    /// A node's presence was refreshed with new information.
    Updated,
}

/// One entry of the node list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node's id.
    pub node: NodeId,
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its peer name (the presence record's creator).
    pub peer: PeerName,
    /// The presence record.
    pub record: RecordId,
}

/// An event for the local application.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// The status flags changed.
    Status(Status),
    /// A record was added, updated, deleted or expired.
    RecordChanged {
        /// How.
        change: RecordChange,
        /// The record.
        id: RecordId,
        /// Its type.
        record_type: RecordType,
        /// Its version now.
        version: u32,
        /// Where it came from.
        source: RecordSource,
    },
    /// The provider deferred a record; it is kept until `RetryDeferred` decides.
    RecordDeferred {
        /// The record.
        id: RecordId,
        /// Its type.
        record_type: RecordType,
    },
    /// A neighbour connection changed.
    Neighbour {
        /// The peer.
        peer: PeerAddr,
        /// What happened.
        change: ConnectionChange,
    },
    /// A direct connection changed.
    Direct {
        /// The peer.
        peer: PeerAddr,
        /// What happened.
        change: ConnectionChange,
    },
    /// The node list changed.
    NodeChanged {
        /// How.
        change: NodeChange,
        /// The node.
        node: NodeId,
        /// Its peer name.
        peer: PeerName,
    },
    /// Application data arrived on a connection.
    IncomingData {
        /// The sender.
        peer: PeerAddr,
        /// The data's type.
        data_type: DataType,
        /// The data.
        data: Vec<u8>,
    },
    /// Synchronisation with a neighbour finished (both phases, both directions).
    Synchronized {
        /// The neighbour.
        peer: PeerAddr,
        /// Records received from it.
        records_received: u64,
        /// Records sent to it.
        records_sent: u64,
    },
    /// The node has no neighbour and knows no node to try: the application should
    /// `Connect` to one (`PEER_GRAPH_EVENT_CONNECTION_REQUIRED`).
    ConnectionRequired,
    /// A peer sent something the node refused; the node keeps serving.
    Rejected {
        /// The peer.
        peer: PeerAddr,
        /// What was wrong.
        error: ProtoError,
    },
    /// A local command could not be carried out.
    CommandFailed {
        /// The command's name.
        command: &'static str,
        /// Why.
        error: ProtoError,
    },
}

/// A timer of the core (opaque to drivers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer(pub(crate) TimerKind);

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TimerKind {
    Maintenance,
    Keepalive,
    Shuffle,
    Beacon { generation: u64 },
    Probe,
    AnnounceFlush,
    Graft { id: RecordId, tag: DigestTag },
    ConnectTimeout { node: NodeId, attempt: u64 },
    Expiry { generation: u64 },
    PresenceRefresh { generation: u64 },
}

/// Counters of what a node sent, received and refused; for tests, tools and the
/// simulator's reports. They restart from zero when a node restarts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Counters {
    /// Messages handled.
    pub messages_received: u64,
    /// Messages sent.
    pub messages_sent: u64,
    /// Messages received that carry records (`Push`, sync `Records`).
    pub record_messages_received: u64,
    /// Full record copies received (in `Push` or sync batches), presence records excluded.
    pub copies_received: u64,
    /// Full presence record copies received.
    pub presence_copies_received: u64,
    /// Copies of the security provider's security records received (not in
    /// `copies_received`).
    pub security_copies_received: u64,
    /// Wire bytes (body only) of the records received, presence excluded.
    pub copy_bytes_received: u64,
    /// Copies of records this node already held.
    pub duplicates: u64,
    /// Copies older than the version held (the node sent its newer copy back).
    pub older_received: u64,
    /// `Push` messages sent.
    pub pushes_sent: u64,
    /// `Announce` messages sent.
    pub announce_messages_sent: u64,
    /// Announcement items sent.
    pub announcements_sent: u64,
    /// `Graft` messages sent.
    pub grafts_sent: u64,
    /// `Prune` messages sent.
    pub prunes_sent: u64,
    /// Synchronisations finished.
    pub syncs_completed: u64,
    /// Reconciliation bytes sent (payloads).
    pub reconcile_bytes_sent: u64,
    /// Records sent by synchronisation.
    pub sync_records_sent: u64,
    /// Records received by synchronisation that were new here.
    pub sync_records_stored: u64,
    /// Records refused (decoding, limits, rules, provider).
    pub records_rejected: u64,
    /// Records deferred by the provider.
    pub records_deferred: u64,
    /// Stored records removed because the provider no longer accepts them.
    pub records_invalidated: u64,
    /// Messages refused (limits, wrong graph, not connected, …).
    pub messages_rejected: u64,
    /// Unsolicited answers ignored (shuffle replies, probe replies, welcomes).
    pub unsolicited: u64,
    /// Neighbour connections made (both directions).
    pub neighbours_connected: u64,
    /// Neighbours lost (any reason).
    pub neighbours_lost: u64,
    /// Partition heals started (connections to a node of another component).
    pub heals: u64,
}

/// A snapshot of one neighbour, for tools and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighbourInfo {
    /// The peer.
    pub peer: PeerAddr,
    /// Its peer name.
    pub name: PeerName,
    /// Whether records are pushed to it eagerly (spanning-tree link) or announced.
    pub eager: bool,
    /// Whether synchronisation with it has finished.
    pub synchronized: bool,
    /// When the connection was made.
    pub since: Instant,
}

/// Refusals as errors (for connection-failed events).
pub(crate) fn refused(reason: RefuseReason) -> ProtoError {
    ProtoError::ConnectionRefused(reason)
}
