//! Errors of the group's network API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use peergroup_graph::GraphError;
use peergroup_graph::proto::ProtoError;
use peergroup_net::NetError;

use crate::error::GroupError;

/// Why a command the node ran failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CommandFailure {
    /// The graph refused it (record rules, limits, connections).
    #[error(transparent)]
    Graph(#[from] ProtoError),
    /// The group refused it (roles, revocation rules, credentials).
    #[error(transparent)]
    Group(#[from] GroupError),
}

/// Errors of [`Group`](crate::net::Group) and the functions around it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GroupNetError {
    /// A group rule or structure.
    #[error(transparent)]
    Group(#[from] GroupError),
    /// The record store.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// The transport.
    #[error(transparent)]
    Net(#[from] NetError),
    /// A password join was refused or failed (wrong password, locked, throttled, …).
    #[error("password join: {0}")]
    Password(#[from] crate::error::PasswordError),
    /// A password join stopped midway.
    #[error("password join: {reason}")]
    PasswordJoinStalled {
        /// What happened.
        reason: String,
    },
    /// PNRP (participant registration or resolution).
    #[error("pnrp: {0}")]
    Pnrp(#[from] peergroup_pnrp::net::PnrpError),
    /// A command failed on the node.
    #[error("{command}: {error}")]
    Command {
        /// The command.
        command: &'static str,
        /// Why.
        error: CommandFailure,
    },
    /// `create` or `join` found the group already in the data directory.
    #[error("group {group} already exists in {}", path.display())]
    AlreadyExists {
        /// The group's peer name.
        group: String,
        /// Its directory.
        path: PathBuf,
    },
    /// No such group for this identity.
    #[error("group {group} does not exist in {}", path.display())]
    NotFound {
        /// The group asked for.
        group: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The group's metadata file cannot be read.
    #[error("group metadata {} is damaged: {reason}", path.display())]
    CorruptMetadata {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file operation failed.
    #[error("{operation} {}: {source}", path.display())]
    Io {
        /// What was done.
        operation: &'static str,
        /// On which path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The operation needs the group stopped (not listening or connected).
    #[error("{operation} is allowed only before the group listens or connects")]
    Running {
        /// The operation.
        operation: &'static str,
    },
    /// The group has not started.
    #[error("the group has not started: call listen or connect first")]
    NotStarted,
    /// The group is closed.
    #[error("the group is closed")]
    Closed,
    /// Dialling a member timed out.
    #[error("connecting to {addr} timed out")]
    ConnectTimeout {
        /// The address.
        addr: SocketAddr,
    },
    /// No member answered at any of the addresses tried.
    #[error("no member answered at {tried} address(es); last error: {last}")]
    NoMemberReached {
        /// Addresses tried.
        tried: usize,
        /// The last failure.
        last: String,
    },
    /// No member by that name in this replica.
    #[error("{peer} is not a member of this group (no membership record here)")]
    UnknownMember {
        /// The peer name asked for.
        peer: String,
    },
}

impl GroupNetError {
    pub(crate) fn io<'a>(
        operation: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(std::io::Error) -> GroupNetError + 'a {
        move |source| GroupNetError::Io { operation, path: path.to_path_buf(), source }
    }
}
