//! Errors of the PNRP driver and its API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use peergroup_base::PeerName;
use peergroup_net::NetError;

use crate::proto::{Cloud, CloudState, RegisterError};

/// Why a PNRP operation failed. Each variant names what failed; the outcomes of a resolve
/// that ran but found nothing are variants too ([`NotFound`](PnrpError::NotFound),
/// [`TimedOut`](PnrpError::TimedOut), [`CloudNotReady`](PnrpError::CloudNotReady),
/// [`Busy`](PnrpError::Busy)), so `resolve(..)?` reads naturally and callers can tell
/// them apart with the predicates.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PnrpError {
    /// The transport refused (binding the protocol on the endpoint, dialling).
    #[error(transparent)]
    Net(#[from] NetError),
    /// The lookup converged on the nodes closest to the name and none holds it.
    #[error("not found: {name}")]
    NotFound {
        /// The name resolved.
        name: PeerName,
    },
    /// The resolve's timeout passed with nothing found.
    #[error("timed out after {:.1} s resolving {name}", after.as_secs_f64())]
    TimedOut {
        /// The name resolved.
        name: PeerName,
        /// The timeout.
        after: Duration,
    },
    /// The cloud cannot resolve: disabled, or its bootstrap failed (no seed, cached or
    /// discovered peer answered).
    #[error("cloud {cloud:?} is not ready (state {state:?})")]
    CloudNotReady {
        /// The cloud.
        cloud: Cloud,
        /// Its state when the resolve ended.
        state: CloudState,
    },
    /// Too many lookups or queued resolves on this node; try again later.
    #[error("too many resolves in progress; {name} was not resolved")]
    Busy {
        /// The name resolved.
        name: PeerName,
    },
    /// The core refused the registration (invalid CPA, limits, unknown id, …).
    #[error("registration refused: {0}")]
    Registration(#[from] RegisterError),
    /// No confirmation of the registration (or of its update / unregistration) arrived
    /// in time; the core keeps trying in the background unless the registration is
    /// dropped.
    #[error("registration of {name} not confirmed within {:.1} s", after.as_secs_f64())]
    RegistrationTimedOut {
        /// The name registered.
        name: PeerName,
        /// How long the driver waited.
        after: Duration,
    },
    /// Automatic endpoints were asked for, but the endpoint's address gave none that
    /// others could dial.
    #[error("no usable endpoint address to register (endpoint bound to {local})")]
    NoUsableEndpoint {
        /// The endpoint's local address.
        local: SocketAddr,
    },
    /// A seed given on the command line or in the configuration is malformed.
    #[error("invalid seed {text:?}: expected ADDR:PORT or NODEID@ADDR:PORT")]
    InvalidSeed {
        /// The text.
        text: String,
    },
    /// LinkLocal discovery was asked for and no multicast socket could be set up.
    #[error("lan discovery: {reason}")]
    Discovery {
        /// What failed.
        reason: String,
    },
    /// The routing cache could not be written.
    #[error("routing cache {}: {source}", path.display())]
    CacheWrite {
        /// The cache file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The per-user data directory (for the default cache path) is unknown.
    #[error("no per-user data directory for the routing cache: {0}")]
    NoDataDir(String),
    /// The PNRP node has shut down.
    #[error("pnrp node stopped")]
    Stopped,
}

impl PnrpError {
    /// `true` if a resolve converged and found nothing.
    pub fn is_not_found(&self) -> bool {
        matches!(self, PnrpError::NotFound { .. })
    }

    /// `true` if a resolve or registration ran out of time.
    pub fn is_timed_out(&self) -> bool {
        matches!(self, PnrpError::TimedOut { .. } | PnrpError::RegistrationTimedOut { .. })
    }

    /// `true` if the cloud could not serve the request.
    pub fn is_cloud_not_ready(&self) -> bool {
        matches!(self, PnrpError::CloudNotReady { .. })
    }

    /// `true` once the node has stopped.
    pub fn is_stopped(&self) -> bool {
        matches!(self, PnrpError::Stopped)
    }
}
