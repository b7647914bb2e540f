//! Errors of the graph protocol core.

use std::sync::Arc;

use peergroup_base::NodeId;

use crate::error::GraphError;
use crate::id::{GraphId, RecordId};
use crate::proto::message::RefuseReason;
use crate::proto::security::ProviderRejection;

/// Why the core refused a message, a record, a connection or a command.
///
/// Reported in [`Event::Rejected`](crate::proto::Event::Rejected) (bad input from a peer)
/// and [`Event::CommandFailed`](crate::proto::Event::CommandFailed) (a local command that
/// could not be carried out); the node keeps serving either way. Variants name the failed
/// check, after the Win32 `PEER_E_*` codes where one fits.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// A record failed a rule of the record layer (decoding, limits, update rules,
    /// expiry, clock drift) or the store failed. The [`GraphError`] names the check.
    #[error("record refused: {0}")]
    Record(Arc<GraphError>),
    /// The security provider refused a record (`PEER_E_INVALID_RECORD`).
    #[error("record {id} refused by the security provider: {reason}")]
    ProviderRejected {
        /// The record.
        id: RecordId,
        /// The provider's reason.
        reason: ProviderRejection,
    },
    /// The security provider could not sign a local record.
    #[error("the security provider cannot sign record {id}: {reason}")]
    SigningFailed {
        /// The record.
        id: RecordId,
        /// The provider's reason.
        reason: String,
    },
    /// The deferred-record list is full; the record was dropped.
    #[error("the deferred-record list is full ({max} records); record {id} dropped")]
    TooManyDeferred {
        /// The record.
        id: RecordId,
        /// The limit.
        max: usize,
    },
    /// A message's bytes are not a valid encoding.
    #[error("malformed message: {reason}")]
    MalformedMessage {
        /// What the decoder found.
        reason: String,
    },
    /// A list in a message has more entries than allowed.
    #[error("{field}: {len} entries, more than the {max} allowed")]
    TooMany {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A byte field in a message is larger than allowed.
    #[error("{field} of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A `Connect` or `Welcome` for another graph.
    #[error("peer is in graph {got}, this node is in graph {expected}")]
    WrongGraph {
        /// This node's graph.
        expected: GraphId,
        /// The peer's.
        got: GraphId,
    },
    /// A peer speaks another protocol version (`PEER_E_UNSUPPORTED_VERSION`).
    #[error("peer speaks graph protocol version {got}, this node speaks {expected}")]
    UnsupportedVersion {
        /// The peer's version.
        got: u8,
        /// Ours.
        expected: u8,
    },
    /// A message that needs a connection came from a peer without one
    /// (`PEER_E_CONNECTION_NOT_FOUND`).
    #[error("{message} from {peer:?}, which has no connection with this node")]
    NotConnected {
        /// The message.
        message: &'static str,
        /// The peer.
        peer: NodeId,
    },
    /// A reconciliation session failed.
    #[error("synchronisation failed: {0}")]
    Reconcile(#[from] peergroup_reconcile::Error),
    /// The node was asked to connect to itself (`PEER_E_CONNECT_SELF`).
    #[error("a node cannot connect to itself")]
    ConnectSelf,
    /// The node is already connected to that peer (`PEER_E_ALREADY_CONNECTED`).
    #[error("already connected to {0:?}")]
    AlreadyConnected(NodeId),
    /// The peer refused the connection (`PEER_E_CONNECTION_REFUSED`).
    #[error("connection refused: {0:?}")]
    ConnectionRefused(RefuseReason),
    /// The connection could not be made, or broke (`PEER_E_CONNECTION_FAILED`).
    #[error("connection failed: the peer is unreachable or did not answer")]
    ConnectionFailed,
    /// The security provider refused a peer (`PEER_E_CONNECTION_NOT_AUTHENTICATED`).
    #[error("peer {peer:?} not admitted: {reason}")]
    NotAuthorized {
        /// The peer.
        peer: NodeId,
        /// The provider's reason.
        reason: ProviderRejection,
    },
    /// No connection with that peer (`PEER_E_CONNECTION_NOT_FOUND`).
    #[error("no connection with {0:?}")]
    ConnectionNotFound(NodeId),
    /// The node has been closed (`PEER_E_GRAPH_SHUTTING_DOWN`).
    #[error("the graph node is closed")]
    Closed,
}

impl From<GraphError> for ProtoError {
    fn from(e: GraphError) -> Self {
        ProtoError::Record(Arc::new(e))
    }
}

impl ProtoError {
    /// The record-layer error, if this is one.
    pub fn as_graph_error(&self) -> Option<&GraphError> {
        match self {
            ProtoError::Record(e) => Some(e),
            _ => None,
        }
    }

    /// `true` if the security provider refused a record or a peer.
    pub fn is_not_authorized(&self) -> bool {
        matches!(self, ProtoError::ProviderRejected { .. } | ProtoError::NotAuthorized { .. })
    }

    /// `true` if a message broke a size or count limit, or a record a record limit.
    pub fn is_limit_exceeded(&self) -> bool {
        match self {
            ProtoError::TooMany { .. } | ProtoError::TooLarge { .. } => true,
            ProtoError::Record(e) => e.is_limit_exceeded(),
            _ => false,
        }
    }
}
