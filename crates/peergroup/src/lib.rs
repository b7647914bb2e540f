//! # peergroup
//!
//! Secure groups of peers that replicate signed records — Microsoft's Peer-to-Peer
//! Grouping (PNRP, Peer Graphing, Peer Grouping) rebuilt in Rust on QUIC, for Linux, macOS
//! and Windows. This crate is the front door: it starts a [`Peer`] — one identity, one
//! QUIC endpoint, one PNRP node, and the groups it opens — and re-exports the layers
//! below it.
//!
//! ## A guided tour
//!
//! **1. An identity.** A peer is an Ed25519 key pair. Its *peer name* is
//! `<authority>.<classifier>`, the authority being a hash of the public key, so a name
//! proves who owns it. Identities live in the per-user data directory
//! ([`identity::IdentityStore`]); [`PeerBuilder::identity_named`] finds or creates one.
//!
//! **2. A peer.** [`Peer::builder`] binds one QUIC endpoint (mutual TLS 1.3 with identity
//! certificates: every connection is authenticated both ways by peer name) and starts a
//! PNRP node on it, which bootstraps from seed addresses. Every layer shares that one
//! endpoint. A [`Peer`] is cheap to clone.
//!
//! **3. A group.** [`Groups::create`] makes a group owned by the peer's identity: a fresh
//! group key (kept in the data directory, never sent), a root certificate, and the
//! creator's membership certificate as its first administrator. [`Group::invite`] issues
//! credentials to another identity from the identity info it exported
//! ([`identity::IdentityInfo`]); the invitee [`Groups::join`]s with them.
//!
//! **4. Connecting.** [`Groups::connect`] registers the member in PNRP as a participant of
//! the group (only members can), finds the others and connects to one; every connection
//! first proves membership both ways, bound to its TLS session, so non-members, expired and
//! revoked members never see a record.
//!
//! **5. Records.** [`Group::add_record`] writes a record signed by the member; it floods to
//! every member and reaches late joiners by synchronisation. Only its creator or an
//! administrator may change it. [`Group::events`] streams what happens: records, members,
//! connections, refusals.
//!
//! **6. Revocation.** [`Group::revoke`] removes a member for good: its connections are
//! refused at once everywhere, and what it writes from then on is kept by nobody.
//!
//! ```no_run
//! # async fn tour() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use peergroup::{CreateOptions, NewRecord, Peer, RecordType, Role};
//!
//! // alice: a peer on this machine, its PNRP node seeded by a known address
//! let alice = Peer::builder()
//!     .identity_named("alice")
//!     .seed("192.0.2.10:3587".parse()?)
//!     .start()
//!     .await?;
//! let mut group = alice.groups().create(&CreateOptions::new("book-club"))?;
//! alice.groups().connect(&mut group).await?; // alone: she is the first participant
//!
//! // bob sent his identity info (`p2p idmgr export-info bob`); alice invites him
//! # let bob_info_text = String::new();
//! let bob_info = peergroup::identity::IdentityInfo::parse(&bob_info_text)?;
//! let invitation = group.invite(&bob_info, Role::Member, None)?;
//! std::fs::write("bob.invitation", invitation.to_text())?;
//!
//! // a signed record every member will hold
//! const NOTE: RecordType = RecordType::from_u128(0x6e6f_7465);
//! let note = NewRecord::new(
//!     peergroup::random_record_id(),
//!     NOTE,
//!     Duration::from_secs(86_400),
//!     b"first meeting on Tuesday".to_vec(),
//! );
//! group.add_record(note).await?;
//! group.close().await?;
//! alice.close().await;
//! # Ok(()) }
//! ```
//!
//! And bob, in another process or on another machine:
//!
//! ```no_run
//! # async fn bob() -> Result<(), Box<dyn std::error::Error>> {
//! use peergroup::{Invitation, Peer};
//!
//! let bob = Peer::builder().identity_named("bob").seed("192.0.2.10:3587".parse()?).start().await?;
//! let invitation = Invitation::parse(&std::fs::read_to_string("bob.invitation")?)?;
//! let mut group = bob.groups().join(&invitation)?;
//! bob.groups().connect(&mut group).await?; // finds alice through PNRP
//! let mut events = group.events();
//! while let Some(event) = events.next().await {
//!     println!("{event:?}");
//! }
//! # Ok(()) }
//! ```
//!
//! The example `chat` (`cargo run -p peergroup --example chat -- help`) is a group chat
//! between separate processes built on this crate alone.
//!
//! ## The layers
//!
//! | module | crate | what |
//! |---|---|---|
//! | [`base`] | `peergroup-base` | peer names, node ids, time, the sans-IO contract |
//! | [`identity`] | `peergroup-identity` | identities, their store and exported info |
//! | [`net`] | `peergroup-net` | the QUIC endpoint shared by every layer |
//! | [`pnrp`] | `peergroup-pnrp` | serverless name resolution (a DHT) |
//! | [`graph`] | `peergroup-graph` | replicated record databases kept in sync by flooding |
//! | [`group`] | `peergroup-group` | certificates, membership, signed records, revocation |
//!
//! This crate has no features of its own: it turns on the `net` feature (the tokio/QUIC
//! driver) of `pnrp`, `graph` and `group`, and never their `sim` feature (simulator
//! scenarios, adversaries, test providers), so an application built on it links no test
//! code; CI checks that `cargo tree -p peergroup` has no `peergroup-sim`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub use peergroup_base as base;
pub use peergroup_graph as graph;
pub use peergroup_group as group;
pub use peergroup_identity as identity;
pub use peergroup_net as net;
pub use peergroup_pnrp as pnrp;

pub use peergroup_graph::proto::NewRecord;
pub use peergroup_graph::{RecordFilter, RecordId, RecordType};
pub use peergroup_group::net::{
    ConnectOutcome, Group, GroupEvents, GroupNetError, GroupOptions, GroupSummary, random_record_id,
};
pub use peergroup_group::node::Event;
pub use peergroup_group::{CreateOptions, Invitation, Role};
pub use peergroup_identity::{Identity, IdentityInfo, IdentityStore};

use peergroup_group::net::{GroupCloser, ParticipantDelegation};
use peergroup_net::{Endpoint, EndpointConfig};
use peergroup_pnrp::net::{Pnrp, PnrpConfig, Seed};

/// Errors of [`Peer`] and [`Groups`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The identity store.
    #[error(transparent)]
    Identity(#[from] peergroup_identity::IdentityError),
    /// The endpoint.
    #[error(transparent)]
    Net(#[from] peergroup_net::NetError),
    /// PNRP.
    #[error(transparent)]
    Pnrp(#[from] peergroup_pnrp::net::PnrpError),
    /// A group.
    #[error(transparent)]
    Group(#[from] GroupNetError),
    /// The group is already open on this peer (close the other handle first).
    #[error("group {0} is already open on this peer; close the other handle first")]
    AlreadyOpen(peergroup_base::PeerName),
    /// The peer was started without PNRP, and the operation needs it.
    #[error(
        "this peer runs without PNRP (PeerBuilder::without_pnrp); connect to an address instead"
    )]
    NoPnrp,
}

/// How a [`Peer`] starts. From [`Peer::builder`].
#[derive(Debug, Clone)]
pub struct PeerBuilder {
    identity: Option<Identity>,
    identity_name: Option<String>,
    data_dir: Option<PathBuf>,
    bind: Option<SocketAddr>,
    seeds: Vec<Seed>,
    pnrp: bool,
    loopback: bool,
}

impl PeerBuilder {
    /// Runs as this identity.
    pub fn identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self
    }

    /// Runs as the identity of the data directory with this classifier (or peer name),
    /// created if there is none.
    pub fn identity_named(mut self, name: &str) -> Self {
        self.identity_name = Some(name.to_owned());
        self
    }

    /// Keeps identities and groups in this directory (default: the per-user data
    /// directory).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Binds the endpoint to this UDP address (default `0.0.0.0:0`).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = Some(addr);
        self
    }

    /// Everything on this host only: the endpoint on `127.0.0.1`, PNRP without its
    /// routing cache or subnet limits (for tests and demos).
    pub fn loopback(mut self) -> Self {
        self.loopback = true;
        self
    }

    /// A PNRP node to bootstrap through (repeatable).
    pub fn seed(mut self, addr: SocketAddr) -> Self {
        self.seeds.push(Seed::Addr(addr));
        self
    }

    /// Starts no PNRP node: groups connect to addresses only.
    pub fn without_pnrp(mut self) -> Self {
        self.pnrp = false;
        self
    }

    /// Starts the peer: opens the identity store, binds the endpoint, starts PNRP.
    pub async fn start(self) -> Result<Peer, PeerError> {
        let data_dir = match self.data_dir {
            Some(d) => d,
            None => peergroup_identity::default_data_dir()?,
        };
        let store = IdentityStore::open(&data_dir)?;
        let identity = match (self.identity, self.identity_name) {
            (Some(i), _) => i,
            (None, Some(name)) => match store.find(&name) {
                Ok(i) => i,
                Err(_) => store.create(&name, "")?,
            },
            (None, None) => Identity::generate("peer", "")?,
        };
        let config = match (self.bind, self.loopback) {
            (Some(a), _) => EndpointConfig::with_bind(a),
            (None, true) => EndpointConfig::loopback(),
            (None, false) => EndpointConfig::with_bind(([0, 0, 0, 0], 0).into()),
        };
        let endpoint = Endpoint::bind(identity.clone(), config).await?;
        let pnrp = if self.pnrp {
            let mut c = if self.loopback { PnrpConfig::loopback() } else { PnrpConfig::default() };
            c.core.validator = Some(Arc::new(ParticipantDelegation::new()));
            if !self.loopback {
                c.cache = peergroup_pnrp::net::CacheLocation::in_data_dir(&data_dir);
            }
            Some(Pnrp::start(&endpoint, &identity, c.with_seeds(self.seeds)).await?)
        } else {
            None
        };
        Ok(Peer {
            inner: Arc::new(Inner { identity, endpoint, pnrp, data_dir, groups: Mutex::default() }),
        })
    }
}

#[derive(Debug)]
struct Inner {
    identity: Identity,
    endpoint: Endpoint,
    pnrp: Option<Pnrp>,
    data_dir: PathBuf,
    /// The groups created, joined or opened through this peer and not yet closed.
    groups: Mutex<Vec<GroupCloser>>,
}

/// One running peer: an identity, its QUIC endpoint, its PNRP node and the groups it
/// opened. Cheap to clone; every clone is the same peer. See the [crate docs](crate).
#[derive(Debug, Clone)]
pub struct Peer {
    inner: Arc<Inner>,
}

impl Peer {
    /// How to start one.
    pub fn builder() -> PeerBuilder {
        PeerBuilder {
            identity: None,
            identity_name: None,
            data_dir: None,
            bind: None,
            seeds: Vec::new(),
            pnrp: true,
            loopback: false,
        }
    }

    /// The identity it runs as.
    pub fn identity(&self) -> &Identity {
        &self.inner.identity
    }

    /// Its QUIC endpoint (every layer's traffic goes through it).
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    /// The address the endpoint listens on.
    pub fn local_addr(&self) -> Result<SocketAddr, PeerError> {
        Ok(self.inner.endpoint.local_addr()?)
    }

    /// Its PNRP node (`None` when started without).
    pub fn pnrp(&self) -> Option<&Pnrp> {
        self.inner.pnrp.as_ref()
    }

    /// The identities of its data directory.
    pub fn identities(&self) -> Result<IdentityStore, PeerError> {
        Ok(IdentityStore::open(&self.inner.data_dir)?)
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Its groups.
    pub fn groups(&self) -> Groups<'_> {
        Groups { peer: self }
    }

    /// Closes every group still open through this peer (each one's writes made durable
    /// first; their [`Group`] handles then answer [`GroupNetError::Closed`]), stops PNRP
    /// (its registrations withdrawn) and closes the endpoint.
    pub async fn close(&self) {
        let open: Vec<GroupCloser> = std::mem::take(&mut *self.inner.lock_groups());
        for g in open {
            if let Err(e) = g.close().await {
                tracing::warn!(group = %g.name(), error = %e, "closing the group failed");
            }
        }
        if let Some(p) = &self.inner.pnrp {
            let _ = tokio::time::timeout(Duration::from_secs(5), p.shutdown()).await;
        }
        self.inner.endpoint.close().await;
    }
}

impl Inner {
    /// The open groups, the closed ones forgotten.
    fn lock_groups(&self) -> std::sync::MutexGuard<'_, Vec<GroupCloser>> {
        let mut g = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        g.retain(GroupCloser::is_open);
        g
    }
}

/// The groups of a [`Peer`]'s identity. From [`Peer::groups`].
#[derive(Debug, Clone, Copy)]
pub struct Groups<'a> {
    peer: &'a Peer,
}

impl Groups<'_> {
    fn options(&self) -> GroupOptions {
        GroupOptions::default().data_dir(&self.peer.inner.data_dir)
    }

    /// Keeps `group` in the peer's open groups, unless it is open already.
    fn track(
        &self,
        make: impl FnOnce() -> Result<Group, GroupNetError>,
    ) -> Result<Group, PeerError> {
        let mut open = self.peer.inner.lock_groups();
        let group = make()?;
        if open.iter().any(|g| g.name() == group.name()) {
            // the store's lock refuses a second open; a join of an open group gets here
            return Err(PeerError::AlreadyOpen(group.name().clone()));
        }
        open.push(group.closer());
        Ok(group)
    }

    /// Creates a group owned by this identity (`PeerGroupCreate`).
    pub fn create(&self, options: &CreateOptions) -> Result<Group, PeerError> {
        self.track(|| Group::create(&self.peer.inner.endpoint, options, self.options()))
    }

    /// Joins a group with an invitation for this identity (`PeerGroupJoin`).
    pub fn join(&self, invitation: &Invitation) -> Result<Group, PeerError> {
        if let Some(g) = self.find_open(&invitation.group()) {
            return Err(PeerError::AlreadyOpen(g));
        }
        self.track(|| Group::join(&self.peer.inner.endpoint, invitation, self.options()))
    }

    /// Opens a group created or joined before (`PeerGroupOpen`). A group that is open on
    /// this peer already is refused with [`PeerError::AlreadyOpen`].
    pub fn open(&self, group: &peergroup_base::PeerName) -> Result<Group, PeerError> {
        if let Some(g) = self.find_open(group) {
            return Err(PeerError::AlreadyOpen(g));
        }
        self.track(|| Group::open(&self.peer.inner.endpoint, group, self.options()))
    }

    fn find_open(&self, group: &peergroup_base::PeerName) -> Option<peergroup_base::PeerName> {
        self.peer.inner.lock_groups().iter().find(|g| g.name() == group).map(|g| g.name().clone())
    }

    /// The groups open on this peer (created, joined or opened through it and neither
    /// closed nor dropped).
    pub fn opened(&self) -> Vec<peergroup_base::PeerName> {
        self.peer.inner.lock_groups().iter().map(|g| g.name().clone()).collect()
    }

    /// This identity's groups, read from disk (`PeerGroupEnum`).
    pub fn list(&self) -> Result<Vec<GroupSummary>, PeerError> {
        let (found, _damaged) = peergroup_group::net::list_groups(
            self.peer.inner.identity.peer_name(),
            &self.options(),
        )?;
        Ok(found)
    }

    /// Deletes a closed group's files (`PeerGroupDelete`).
    pub fn delete(&self, group: &peergroup_base::PeerName) -> Result<(), PeerError> {
        Ok(peergroup_group::net::delete_group(&self.peer.inner.endpoint, group, &self.options())?)
    }

    /// Connects `group` the way Windows did: registers this member as a participant in
    /// PNRP, finds the other participants and connects to the first that answers, or
    /// listens alone.
    pub async fn connect(&self, group: &mut Group) -> Result<ConnectOutcome, PeerError> {
        let pnrp = self.peer.inner.pnrp.as_ref().ok_or(PeerError::NoPnrp)?;
        Ok(group.connect_with_pnrp(pnrp, Duration::from_secs(5)).await?)
    }
}
