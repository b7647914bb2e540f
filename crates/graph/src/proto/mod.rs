//! The sans-IO graph core (`proto-specs/graph.md` §7–§10): a [`GraphNode`] keeps one
//! replica of a graph's record database in step with the other members'.
//!
//! # What flows where
//!
//! A driver — the QUIC actor on a real network, the simulator in tests — owns a
//! [`GraphNode`] and hands it inputs ([`peergroup_base::Input`]): messages from peers,
//! application [`Command`]s, timers it asked for, and `PeerDown` when a peer is
//! unreachable. The node answers with messages to send, [`Event`]s and timers. It reads no
//! clock, does no I/O, and draws randomness from an RNG seeded by its builder. Three
//! sub-protocols share each neighbour connection:
//!
//! * **Topology** (§9). Neighbours form the *active view* of HyParView (Leitão, Pereira,
//!   Rodrigues, DSN 2007): between `min_neighbours` (2) and `max_neighbours` (8), aiming
//!   at `ideal_neighbours` (4), with a *passive view* of 30 other nodes refreshed by join
//!   walks and periodic shuffles. A lost neighbour (`PeerDown`, `Disconnect`, a failed
//!   keepalive) is replaced at once from the passive view or the node list. Duplicate and self connections are refused. The lowest node id of a
//!   component, flooded as a beacon, is its *signature* ([MS-PPGRH] 1.3.2.1); a few nodes
//!   per component probe known nodes of the node list, and two nodes with different
//!   signatures connect, which heals the partition.
//! * **Flooding** (§7). A new or newer record is pushed to the *eager* neighbours and
//!   announced to the *lazy* ones (PlumTree, Leitão et al., SRDS 2007). The eager links
//!   are a spanning tree — the first-arrival tree of the signature beacons, rebuilt every
//!   round — so each member receives each record about once; an announced record that
//!   does not arrive within `graft_timeout` is pulled from the announcer (`Graft`), which
//!   repairs the tree after failures. The writer also hands its lazy neighbours custody
//!   copies, so a record outlives its writer's crash. Older or equal copies stop; a
//!   receiver holding a newer version sends it back; expired records are never sent.
//! * **Synchronisation on connect** (§8). Two new neighbours reconcile their stores with
//!   `peergroup-reconcile` (rateless IBLT set reconciliation; cost proportional to the
//!   difference), security record types first, then transfer the missing records in
//!   bounded, acknowledged batches, and emit [`Event::Synchronized`].
//! * **Anti-entropy** (§8.6). Every `resync_interval` (30 s) the initiator of a
//!   neighbour connection re-synchronises with it, leaving out records younger than
//!   `resync_settle` (5 s): this repairs whatever flooding lost (a full send queue, a crash
//!   between two hops) at a cost of a few hundred bytes when nothing differs.
//!
//! Records come from the application ([`Command::AddRecord`] and friends, signed by the
//! [`SecurityProvider`]) or from peers (checked against the graph's record limits, the
//! store's rules, the HLC drift bound and the provider — which may *defer* a record until
//! [`Command::RetryDeferred`]). Each node publishes a presence record (300 s, refreshed at
//! half-life); the presence records are the node list. Direct connections carry typed
//! application data ([`Command::SendData`], [`Event::IncomingData`]).
//!
//! # Bounded state
//!
//! Whatever peers send, a node keeps at most: `max_neighbours` neighbours,
//! `max_direct` direct connections, `max_pending_connects` outgoing connects, a passive
//! view of `passive_view` nodes, one open shuffle, 4 open probes, `max_missing` announced
//! records (8 announcers each), 4,096 custody copies, `max_deferred` deferred records,
//! 1,024 refused record versions, one reconciliation session and `sync_window`
//! unacknowledged batches per neighbour, and announcement queues flushed every
//! `announce_interval`. Every message is
//! checked against its limits ([`Message::check`]) before anything else; replies and
//! answers that match nothing open are counted and dropped.
//!
//! # The driver contract
//!
//! As for every core ([`peergroup_base::sansio`]): deliver `Start` first; deliver each
//! timer at or after its instant; `from` must be the peer's authenticated node id (and
//! its listening address); report unreachable peers and broken connections as `PeerDown`.
//! Messages between two nodes must arrive in the order they were sent (one stream per
//! peer, as the QUIC driver does): reconciliation sessions rely on it.

mod api;
mod config;
mod error;
mod flood;
pub mod message;
mod node;
mod presence;
mod records;
mod security;
mod signature;
mod sync;
#[cfg(any(test, feature = "sim"))]
mod test_provider;
mod topology;

pub use api::{
    Command, ConnectionChange, Counters, Event, NeighbourInfo, NewRecord, NodeChange, NodeInfo,
    RecordChange, RecordSource, RecordUpdate, Status, Timer,
};
pub use config::{
    BeaconConfig, Config, FloodConfig, PresenceConfig, RecordsConfig, SyncConfig, TopologyConfig,
};
pub use error::ProtoError;
pub use message::{
    Announcement, Beacon, Connect, DataType, DigestTag, Disconnect, DisconnectReason, GraftItem,
    LinkKind, Message, MessageLimits, PROTOCOL_VERSION, Priority, Refuse, RefuseReason, Shuffle,
    SyncMessage, SyncPhase, Welcome, WireRecord,
};
#[cfg(feature = "net")]
pub(crate) use node::command_name;
pub use node::{GraphNode, NodeParams};
pub use presence::{PRESENCE_TYPE, PresencePayload};
pub use security::{
    Admission, NoRecords, PeerInfo, ProviderActions, ProviderContext, ProviderRejection,
    RecordLookup, SecurityProvider, SigningError, Validation,
};
#[cfg(any(test, feature = "sim"))]
pub use test_provider::TestProvider;
