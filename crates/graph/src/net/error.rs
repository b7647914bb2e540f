//! The errors of the graph driver and its API.

use std::path::PathBuf;

use peergroup_net::NetError;

use crate::error::GraphError;
use crate::proto::ProtoError;

/// What went wrong in a graph API call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphNetError {
    /// A record or store operation failed (limits, update rules, storage).
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The graph core refused a command (not connected, provider refused, too large, …).
    #[error("{command}: {error}")]
    Command {
        /// The command.
        command: &'static str,
        /// Why.
        error: ProtoError,
    },
    /// A network operation failed.
    #[error(transparent)]
    Net(#[from] NetError),
    /// `create` found the graph's directory already there.
    #[error("graph {graph:?} already exists in {}", path.display())]
    AlreadyExists {
        /// The graph.
        graph: String,
        /// Its directory.
        path: PathBuf,
    },
    /// `open` or `delete` found no graph there.
    #[error("graph {graph:?} does not exist in {}", path.display())]
    NotFound {
        /// The graph.
        graph: String,
        /// The directory looked for.
        path: PathBuf,
    },
    /// The graph's directory holds another graph (its `graph.json` names another id).
    #[error("{} holds graph {found:?}, not {expected:?}", path.display())]
    WrongGraph {
        /// The graph asked for.
        expected: String,
        /// The graph found.
        found: String,
        /// The metadata file.
        path: PathBuf,
    },
    /// The graph's metadata file is unreadable or damaged.
    #[error("graph metadata {} is damaged: {reason}", path.display())]
    CorruptMetadata {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file operation failed.
    #[error("{operation} {}: {source}", path.display())]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The operation is allowed only before the graph listens or connects (export,
    /// import).
    #[error("{operation} is allowed only before the graph listens or connects")]
    Running {
        /// The operation.
        operation: &'static str,
    },
    /// The operation needs a started graph: call `listen` or `connect` first.
    #[error("the graph has not started: call listen or connect first")]
    NotStarted,
    /// The graph was closed (or its driver stopped).
    #[error("the graph is closed")]
    Closed,
    /// The address answered, but the handshake did not finish in time.
    #[error("connecting to {addr} timed out")]
    ConnectTimeout {
        /// The address.
        addr: std::net::SocketAddr,
    },
    /// One item of a batch failed; the items before it were stored.
    #[error("item {index} of the batch: {source}")]
    BatchItem {
        /// The failed item's position.
        index: usize,
        /// Why.
        source: Box<GraphNetError>,
    },
}

impl GraphNetError {
    pub(crate) fn io(
        operation: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| GraphNetError::Io { operation, path, source }
    }
}
