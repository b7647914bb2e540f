//! What an application gives a PNRP core ([`Command`]) and gets back ([`Event`]).

use std::net::SocketAddr;
use std::time::Duration;

use peergroup_base::{Instant, NodeId, PeerAddr, PeerName, ServiceLocation, UnixTime};
use serde::Serialize;

use crate::proto::cpa::{CpaDigest, CpaError, CpaSigner, SignedCpa};
use crate::proto::message::Cloud;

/// Names a registration (chosen by the application, unique per node).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RegistrationId(pub u64);

/// Names a resolve (chosen by the application).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ResolveId(pub u64);

/// A name to register.
#[derive(Debug, Clone)]
pub struct RegisterRequest {
    /// The cloud to register in.
    pub cloud: Cloud,
    /// The name. Secure names need `signer` to be the owner's key or to carry a delegation.
    pub name: PeerName,
    /// The key that signs the CPA.
    pub signer: CpaSigner,
    /// Where the service listens: 1..=10 endpoints.
    pub endpoints: Vec<SocketAddr>,
    /// Fewer than 40 characters.
    pub comment: String,
    /// At most 4 KiB.
    pub payload: Option<Vec<u8>>,
    /// Tells apart several instances of one name registered with one key; the service
    /// location's suffix is derived from it, so re-registering with the same tag (after a
    /// restart) replaces the old instance instead of adding one.
    pub instance_tag: u64,
    /// The service location's address hint; default: derived from the first endpoint.
    pub address_hint: Option<u64>,
}

impl RegisterRequest {
    /// A registration of `name` in the Global cloud with no comment or payload.
    pub fn new(name: PeerName, signer: CpaSigner, endpoints: Vec<SocketAddr>) -> Self {
        RegisterRequest {
            cloud: Cloud::Global,
            name,
            signer,
            endpoints,
            comment: String::new(),
            payload: None,
            instance_tag: 0,
            address_hint: None,
        }
    }
}

/// A name to resolve.
#[derive(Debug, Clone)]
pub struct ResolveRequest {
    /// The name.
    pub name: PeerName,
    /// The cloud.
    pub cloud: Cloud,
    /// Most instances to return, 1..=64 (values outside are clamped).
    pub max_results: usize,
    /// Give up after this long. [MS-PNRP]'s API default is 30 s.
    pub timeout: Duration,
    /// Rank instances nearest to this service location (XOR over 128 bits).
    pub hint: Option<ServiceLocation>,
}

impl ResolveRequest {
    /// Resolve `name` in the Global cloud: up to 16 instances, 30 s.
    pub fn new(name: PeerName) -> Self {
        ResolveRequest {
            name,
            cloud: Cloud::Global,
            max_results: 16,
            timeout: Duration::from_secs(30),
            hint: None,
        }
    }
}

/// Commands to a PNRP core.
#[derive(Debug, Clone)]
pub enum Command {
    /// Register a name; answered by [`Event::Registered`] or [`Event::RegistrationFailed`].
    Register {
        /// The application's id for it.
        id: RegistrationId,
        /// What to register.
        request: RegisterRequest,
    },
    /// Change a registration's endpoints, comment and payload (a new, higher sequence).
    Update {
        /// The registration.
        id: RegistrationId,
        /// New endpoints.
        endpoints: Vec<SocketAddr>,
        /// New comment.
        comment: String,
        /// New payload.
        payload: Option<Vec<u8>>,
    },
    /// Unregister: a signed revocation goes to the replicas; answered by
    /// [`Event::Unregistered`].
    Unregister {
        /// The registration.
        id: RegistrationId,
    },
    /// Resolve a name; instances stream as [`Event::ResolveInstance`], the end comes as
    /// [`Event::ResolveDone`].
    Resolve {
        /// The application's id for it.
        id: ResolveId,
        /// What to resolve.
        request: ResolveRequest,
    },
    /// A peer was discovered (LAN multicast for LinkLocal, a seed address resolved by the
    /// driver, a persisted cache entry).
    AddPeer {
        /// Its cloud.
        cloud: Cloud,
        /// The peer.
        peer: PeerAddr,
    },
    /// Report the cloud's state as [`Event::CloudInfo`].
    QueryCloud {
        /// The cloud.
        cloud: Cloud,
    },
}

/// The state of a cloud, as Windows' `PNRP_CLOUD_STATE` ([MS-PNRP] via pnrpdef.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum CloudState {
    /// Created, not started (0).
    Virtual,
    /// Bootstrapping (1).
    Synchronising,
    /// Bootstrapped; resolves and registrations run (2).
    Active,
    /// Bootstrap failed: no seed or discovered peer answered; retrying (3).
    Dead,
    /// Turned off by configuration (4).
    Disabled,
    /// No network (5); the core never enters it by itself (the driver's concern).
    NoNet,
    /// No other node known: the first node of a cloud (6). Resolves see only the local
    /// store.
    Alone,
}

/// One instance of a resolved name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    /// The name.
    pub name: PeerName,
    /// Its service location.
    pub location: ServiceLocation,
    /// Where it listens.
    pub endpoints: Vec<SocketAddr>,
    /// Its comment.
    pub comment: String,
    /// Its payload.
    pub payload: Option<Vec<u8>>,
    /// Its CPA's expiry.
    pub not_after: UnixTime,
    /// Its version.
    pub sequence: u64,
    /// The signer's public key.
    #[serde(with = "hex_key")]
    pub signer: [u8; 32],
    /// `true` for an unsecured name (anyone could have registered it).
    pub unsecured: bool,
    /// `true` if registered by a delegate.
    pub delegated: bool,
    /// Digest of the exact signed CPA.
    pub digest: CpaDigest,
    /// The node that served it (ourselves for a local hit).
    pub source: NodeId,
    /// The exact signed CPA, for applications that pass it on or check it themselves.
    #[serde(skip)]
    pub cpa: SignedCpa,
}

mod hex_key {
    pub(super) fn serialize<S: serde::Serializer>(k: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(k))
    }
}

/// How a resolve ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ResolveOutcome {
    /// At least one instance was found.
    Found,
    /// The lookup converged on the closest nodes and none holds the name.
    NotFound,
    /// The timeout passed with nothing found.
    TimedOut,
    /// The cloud is not running, dead, or disabled.
    CloudNotReady,
    /// Too many lookups or queued resolves.
    Busy,
}

/// What a resolve cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ResolveStats {
    /// Depth of the answer that completed the resolve (§7.1); 0 for a local hit. For a
    /// resolve that found nothing, the deepest answer.
    pub hops: u32,
    /// Requests the resolver sent (answered or not).
    pub requests: u32,
    /// Answers it received in time.
    pub responses: u32,
    /// Wire bytes of the requests sent.
    pub bytes_sent: u64,
    /// Wire bytes of the answers received.
    pub bytes_received: u64,
    /// CPAs refused (forged, expired, for another name, …).
    pub rejected_cpas: u32,
    /// Time from the command to the end.
    pub elapsed_micros: u64,
}

/// Why a registration failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// The CPA would not validate (bad limits, wrong authority, …).
    #[error("invalid registration: {0}")]
    InvalidCpa(#[from] CpaError),
    /// The id is already in use.
    #[error("registration id {0:?} is already in use")]
    DuplicateId(RegistrationId),
    /// No registration has this id.
    #[error("no registration {0:?}")]
    UnknownRegistration(RegistrationId),
    /// The cloud is disabled.
    #[error("cloud {0:?} is disabled")]
    CloudDisabled(Cloud),
    /// Too many registrations on this node.
    #[error("too many registrations (at most {0})")]
    TooManyRegistrations(usize),
}

/// A routing-table entry, as reported by [`CloudInfo`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableEntry {
    /// The contact.
    pub peer: PeerAddr,
    /// Its bucket.
    pub bucket: u32,
    /// When last heard from directly.
    #[serde(skip)]
    pub last_seen: Instant,
    /// Failed requests in a row.
    pub failures: u8,
}

/// A cloud's state, size estimate and table ([`Command::QueryCloud`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CloudInfo {
    /// The cloud.
    pub cloud: Cloud,
    /// Its state.
    pub state: CloudState,
    /// Estimated number of nodes (§5.3), if the table allows one.
    pub size_estimate: Option<f64>,
    /// The routing table.
    pub table: Vec<TableEntry>,
    /// CPAs held as a replica.
    pub stored_cpas: usize,
    /// Distinct names held as a replica.
    pub stored_names: usize,
    /// Registrations of this node in the cloud.
    pub registrations: usize,
}

/// Events of a PNRP core.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A cloud changed state.
    CloudState {
        /// The cloud.
        cloud: Cloud,
        /// Its new state.
        state: CloudState,
    },
    /// A registration (or a new version of it) reached its replicas.
    Registered {
        /// The registration.
        id: RegistrationId,
        /// The version stored.
        sequence: u64,
        /// Digest of the CPA stored.
        digest: CpaDigest,
        /// Replicas that confirmed holding this version (0 when the cloud is alone).
        replicas: usize,
    },
    /// A registration was refused.
    RegistrationFailed {
        /// The registration.
        id: RegistrationId,
        /// Why.
        error: RegisterError,
    },
    /// The revocation of an unregistered name reached its replicas.
    Unregistered {
        /// The registration.
        id: RegistrationId,
        /// Replicas that confirmed the revocation.
        replicas: usize,
    },
    /// A resolve found an instance (or a newer version of one).
    ResolveInstance {
        /// The resolve.
        id: ResolveId,
        /// The instance (boxed: it is much larger than the other events).
        instance: Box<Instance>,
    },
    /// A resolve ended.
    ResolveDone {
        /// The resolve.
        id: ResolveId,
        /// How.
        outcome: ResolveOutcome,
        /// The instances, ranked (by hint, else newest first), at most `max_results`.
        instances: Vec<Instance>,
        /// What it cost.
        stats: ResolveStats,
    },
    /// Answer to [`Command::QueryCloud`].
    CloudInfo(Box<CloudInfo>),
}

/// Timers of a PNRP core (never cancelled: stale ones are ignored when they fire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// Expire the requests of a cloud whose timeout has passed.
    Requests {
        /// The cloud.
        cloud: Cloud,
    },
    /// Re-examine a lookup (stall, or deadline).
    Lookup {
        /// Its cloud.
        cloud: Cloud,
        /// The lookup.
        lookup: u64,
    },
    /// The periodic maintenance tick of a cloud.
    Maintenance {
        /// The cloud.
        cloud: Cloud,
    },
    /// Retry a failed bootstrap.
    Bootstrap {
        /// The cloud.
        cloud: Cloud,
        /// Attempt number it belongs to.
        attempt: u32,
    },
    /// A resolve's timeout.
    ResolveDeadline {
        /// The resolve.
        id: ResolveId,
    },
    /// A registration's upkeep round.
    Registration {
        /// The registration.
        id: RegistrationId,
        /// Generation (older timers are ignored).
        generation: u32,
    },
}
