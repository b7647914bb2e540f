//! Groups on the network (feature `net`): the tokio driver of [`GroupNode`] on the peer's
//! shared QUIC [`Endpoint`] under the protocol id `group/1/<tag>` (one per group,
//! [`protocol_id`]), and the application API of Windows' `PeerGroup*` functions (`ms-p2p-facts.md`, grouping).
//!
//! A [`Group`] is this identity's membership of one group:
//!
//! 1. [`Group::create`] makes a new group (this identity its creator and first
//!    administrator; the group key is stored with it, owner-only), [`Group::join`] takes
//!    an [`Invitation`] for this identity, [`Group::open`] opens one created or joined
//!    before. Each lives in `<data>/groups/<identity authority>/<group authority>/`:
//!    `group.json` (the group's peer name, friendly name, cloud, lifetimes and this
//!    member's chain), `records.redb` (the replica) and, for the creator, `group.key`.
//!    [`list_groups`] reads the `group.json` files without opening any store.
//! 2. [`Group::listen`] starts the node; [`Group::connect`] joins the group through a
//!    member's address (the first that answers of several). Every connection runs the
//!    admission exchange of `group.md` §8 first, bound to the connection's TLS session by
//!    an exporter value ([`EXPORTER_LABEL`]): non-members, members of another group,
//!    expired and revoked members are refused before any record flows, and the refusal
//!    is an [`Event::AuthenticationFailed`] on both sides.
//! 3. Records: [`add_record`](Group::add_record), [`update_record`](Group::update_record),
//!    [`delete_record`](Group::delete_record) sign with this member's key and return once
//!    durable; [`get`](Group::get), [`enumerate`](Group::enumerate) and
//!    [`search`](Group::search) read the replica.
//! 4. Members: [`members`](Group::members), [`invite`](Group::invite) (issue credentials
//!    for another identity), [`revoke`](Group::revoke).
//! 5. [`Group::close`] leaves (presence deleted, store flushed); [`delete_group`] removes a
//!    closed group's files.
//!
//! # Events
//!
//! [`Group::events`] gives a [`Stream`](futures_core::Stream) of [`Event`]s; each call a
//! new subscriber with its own bounded queue. Windows' `PEER_GROUP_EVENT_*` map to them:
//!
//! | Windows | here |
//! |---|---|
//! | `STATUS_CHANGED` | `Event::Graph(Status)`: listening, has connections, synchronised |
//! | `PROPERTY_CHANGED` | [`Event::PropertyChanged`], with the properties now |
//! | `RECORD_CHANGED` | `Event::Graph(RecordChanged)`; typed: [`Typed::change_of`] |
//! | `MEMBER_CHANGED` | [`Event::MemberChanged`] (joined, updated, revoked, left) |
//! | `NEIGHBOR_CONNECTION`, `DIRECT_CONNECTION` | `Event::Graph(Neighbour / Direct)` |
//! | `INCOMING_DATA` | `Event::Graph(IncomingData)` |
//! | `CONNECTION_FAILED` | [`Event::ConnectionFailed`] (a dial or a neighbour connection) |
//! | `AUTHENTICATION_FAILED` | [`Event::AuthenticationFailed`] with the [`Refusal`](crate::admission::Refusal); password joins: [`Event::PasswordJoinFailed`] at the verifier |
//!
//! [`Event::PeerAdmitted`] and [`Event::PasswordJoined`] have no Windows counterpart.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use peergroup_group::CreateOptions;
//! use peergroup_group::net::{Group, GroupOptions};
//! use peergroup_identity::Identity;
//! use peergroup_net::{Endpoint, EndpointConfig};
//!
//! let alice = Endpoint::bind(Identity::generate("alice", "")?, EndpointConfig::loopback()).await?;
//! let mut group = Group::create(&alice, &CreateOptions::new("chess"), GroupOptions::default())?;
//! group.listen().await?;
//! // bob's identity info, as `p2p idmgr export-info` prints it:
//! # let bob_info_text = String::new();
//! let bob_info = peergroup_identity::IdentityInfo::parse(&bob_info_text)?;
//! let invitation = group.invite(&bob_info, peergroup_group::Role::Member, None)?;
//! println!("{}", invitation.to_text());
//! group.close().await?;
//! # Ok(()) }
//! ```

mod driven;
mod error;
mod files;
mod participant;
mod password;
mod records;
mod typed;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use peergroup_base::{NodeId, Now, PeerAddr, PeerName, UnixTime};
use peergroup_graph::RecordId;
use peergroup_graph::proto::{Command as GraphCommand, Config, GraphNode, NodeParams, Status};
use peergroup_graph::record::{Record, RecordLimits};
use peergroup_graph::store::{RecordFilter, RecordStore, RedbStore};
use peergroup_identity::IdentityInfo;
use peergroup_net::driver::{self, DriverConfig, Handle};
use peergroup_net::{Endpoint, Expect, ProtocolId};
use ring::rand::SecureRandom;

use tokio::sync::oneshot;

pub use driven::GroupEvents;
pub use error::{CommandFailure, GroupNetError};
pub use files::{GroupSummary, delete_group, group_dir, identity_groups_dir, list_groups};
use files::{
    METADATA_FORMAT, Metadata, corrupt, metadata_chain, parse_name, read_metadata, summary,
    write_metadata,
};
pub use participant::{PARTICIPANT_CLASSIFIER, ParticipantDelegation, participant_name};
pub use password::{JOIN_PROTOCOL, JOIN_WAIT, PASSWORD_FILE, join_protocol_id};
pub use typed::{Typed, TypedError};

use crate::cert::Role;
use crate::chain::{CertCache, Chain, Verifier};
use crate::group::{CreateOptions, GroupKey, LocalMember, create_group, graph_id};
use crate::invitation::{Invitation, InviteOptions};
use crate::node::{ChannelBinding, Command, Event, GroupNode, MemberInfo};
use crate::records::{DEFAULT_MEMBER_DATA_LIFETIME, DEFAULT_PRESENCE_LIFETIME, RevocationReason};
use crate::security::GroupSecurity;
use driven::{Driven, Request, Shared};

/// The protocol of group streams on the shared endpoint; each group's streams carry the id
/// [`protocol_id`] gives (`group/1/` and the group's tag, `group.md` §14.1).
pub const PROTOCOL: &str = "group/1";

/// Hex digits of the group key's authority in the protocol ids of a group's streams.
pub const PROTOCOL_TAG_DIGITS: usize = 16;

/// The protocol id of `group`'s streams (`group.md` §14.1): `group/1/` and the first
/// [`PROTOCOL_TAG_DIGITS`] hex digits of the group key's authority, so that each group an
/// endpoint runs gets its own streams.
pub fn protocol_id(group: &PeerName) -> Result<ProtocolId, GroupNetError> {
    Ok(ProtocolId::new(&tagged(PROTOCOL, group))?)
}

/// `prefix/` and the group's tag (`group.md` §14.1).
fn tagged(prefix: &str, group: &PeerName) -> String {
    let authority = group.authority().to_string();
    let tag = authority.get(..PROTOCOL_TAG_DIGITS).unwrap_or(&authority);
    format!("{prefix}/{tag}")
}

/// The TLS exporter label of the admission binding (`group.md` §8.1).
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-peergroup-group-admission";

/// Name of the metadata file in a group's directory.
pub const METADATA_FILE: &str = "group.json";
/// Name of the record store in a group's directory.
pub const STORE_FILE: &str = "records.redb";
/// Name of the group key file (creator only) in a group's directory.
pub const KEY_FILE: &str = "group.key";

/// How a group is opened: where, and with which protocol settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GroupOptions {
    /// The data directory; `None`: the per-user default
    /// ([`peergroup_identity::default_data_dir`]).
    pub data_dir: Option<PathBuf>,
    /// Graph protocol settings (neighbours, timers, synchronisation).
    pub config: Config,
    /// Record limits.
    pub limits: RecordLimits,
    /// The address other members reach this one at; `None`: the endpoint's.
    pub advertise: Option<SocketAddr>,
    /// Events waiting per subscriber before further ones are dropped. Default 4,096.
    pub event_queue: usize,
    /// Messages waiting per peer before further ones are dropped. Default 65,536.
    pub peer_queue: usize,
    /// The record store's page cache, in bytes. Default
    /// [`DEFAULT_CACHE_BYTES`](peergroup_graph::store::DEFAULT_CACHE_BYTES) (64 MiB).
    pub store_cache_bytes: usize,
}

impl Default for GroupOptions {
    fn default() -> Self {
        GroupOptions {
            data_dir: None,
            config: Config::default(),
            limits: RecordLimits::default(),
            advertise: None,
            event_queue: 4096,
            peer_queue: 65_536,
            store_cache_bytes: peergroup_graph::store::DEFAULT_CACHE_BYTES,
        }
    }
}

impl GroupOptions {
    /// The same options with another data directory.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// The same options with other graph settings.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    fn data(&self) -> Result<PathBuf, GroupNetError> {
        match &self.data_dir {
            Some(d) => Ok(d.clone()),
            None => peergroup_identity::default_data_dir().map_err(|e| GroupNetError::Io {
                operation: "find the data directory",
                path: PathBuf::new(),
                source: std::io::Error::other(e.to_string()),
            }),
        }
    }
}

/// A store seen at one instant, for the provider during an import.
struct ImportView<'a> {
    store: &'a RedbStore,
    now: UnixTime,
}

impl peergroup_graph::proto::RecordLookup for ImportView<'_> {
    fn get(&self, id: &RecordId) -> Option<Record> {
        self.store.get(id, self.now).ok().flatten()
    }
    fn enumerate(&self, filter: &RecordFilter) -> Vec<Record> {
        self.store.enumerate(filter, self.now).unwrap_or_default()
    }
}

/// The admission binding on QUIC: the TLS exporter of the live connections with a peer.
struct NetBinding {
    endpoint: Endpoint,
}

impl ChannelBinding for NetBinding {
    fn exporter(&self, me: &PeerAddr, peer: &PeerAddr) -> Option<[u8; 32]> {
        // With two connections (both ends dialled at once) both ends pick the same one.
        self.accepted(me, peer).into_iter().min()
    }

    fn accepted(&self, _me: &PeerAddr, peer: &PeerAddr) -> Vec<[u8; 32]> {
        self.endpoint
            .connections()
            .iter()
            .filter(|c| c.remote().node_id == peer.node)
            .filter_map(|c| c.exporter(EXPORTER_LABEL, b""))
            .collect()
    }
}

#[allow(clippy::disallowed_methods)] // the driver side reads the wall clock
fn wall_now() -> UnixTime {
    UnixTime::now()
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The OS RNG does not fail on supported platforms.
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    b
}

/// A fresh random record id.
pub fn random_record_id() -> RecordId {
    RecordId::random(random())
}

enum State {
    Idle(Box<GroupNode<RedbStore>>),
    Running(Handle<Request>),
    Closed,
}

/// This identity's membership of one group: its replica, connections and events. See
/// the [module docs](self).
pub struct Group {
    endpoint: Endpoint,
    name: PeerName,
    dir: PathBuf,
    meta: Metadata,
    local: LocalMember,
    group_key: bool,
    me: PeerAddr,
    frame_limit: u32,
    peer_queue: usize,
    connect_timeout: Duration,
    shared: Arc<Shared>,
    state: State,
    participant: Option<peergroup_pnrp::net::Registration>,
    password: Option<Arc<std::sync::Mutex<crate::password::PasswordVerifier>>>,
    password_server: Option<tokio::task::JoinHandle<()>>,
}

/// What [`Group::connect_with_pnrp`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectOutcome {
    /// Connected through the participant at this address (admission follows).
    Connected(PeerAddr),
    /// No other participant was found, or none answered: the node listens alone, as
    /// Windows does when the group's properties are in the local database.
    Alone {
        /// Participant addresses tried.
        tried: usize,
        /// Why the last one failed.
        last_error: Option<String>,
    },
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("name", &self.name)
            .field("me", &self.me)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Group {
    /// Creates a group (`PeerGroupCreate`) with this endpoint's identity as its creator
    /// and first administrator. The group key is written to the group's directory
    /// (owner-only, atomically, fsynced) and never leaves it.
    pub fn create(
        endpoint: &Endpoint,
        create: &CreateOptions,
        options: GroupOptions,
    ) -> Result<Group, GroupNetError> {
        let now = wall_now();
        let key = GroupKey::generate()?;
        let new = create_group(endpoint.identity(), key, create, now, [random(), random()])?;
        let dir = group_dir(endpoint, &new.name, &options)?;
        if dir.join(METADATA_FILE).exists() {
            return Err(GroupNetError::AlreadyExists { group: new.name.to_string(), path: dir });
        }
        std::fs::create_dir_all(&dir).map_err(GroupNetError::io("create", &dir))?;
        new.key.save(&dir.join(KEY_FILE))?;
        let meta = Metadata {
            format: METADATA_FORMAT.into(),
            group: new.name.to_string(),
            friendly_name: new.properties.friendly_name.clone(),
            cloud: new.properties.cloud.clone(),
            member_data_lifetime_secs: create.member_data_lifetime.as_secs(),
            presence_lifetime_secs: create.presence_lifetime.as_secs(),
            chain: hex::encode(new.creator.chain.chain().encode()),
        };
        let mut store = RedbStore::open_with_cache(
            dir.join(STORE_FILE),
            options.limits,
            options.store_cache_bytes,
        )?;
        store.apply(&new.properties_record, now)?;
        store.apply(&new.membership_record, now)?;
        store.flush()?;
        write_metadata(&dir, &meta)?;
        Group::build(endpoint, dir, meta, new.creator, Some(new.key), store, options)
    }

    /// Joins a group with an invitation for this endpoint's identity (`PeerGroupJoin`):
    /// checks it (issued to this identity's key, valid now), and creates the group's
    /// directory with an empty replica. Then [`connect`](Group::connect) to a member.
    pub fn join(
        endpoint: &Endpoint,
        invitation: &Invitation,
        options: GroupOptions,
    ) -> Result<Group, GroupNetError> {
        let now = wall_now();
        invitation.check_for(&endpoint.identity().public_key(), now)?;
        Group::join_with(
            endpoint,
            invitation.chain.chain(),
            &invitation.friendly_name,
            &invitation.cloud,
            options,
        )
    }

    fn join_with(
        endpoint: &Endpoint,
        chain: &Chain,
        friendly_name: &str,
        cloud: &str,
        options: GroupOptions,
    ) -> Result<Group, GroupNetError> {
        let local =
            LocalMember::new(endpoint.identity().clone(), chain, &mut CertCache::default())?;
        let name = local.chain.group_name();
        let dir = group_dir(endpoint, &name, &options)?;
        if dir.join(METADATA_FILE).exists() {
            return Err(GroupNetError::AlreadyExists { group: name.to_string(), path: dir });
        }
        std::fs::create_dir_all(&dir).map_err(GroupNetError::io("create", &dir))?;
        let meta = Metadata {
            format: METADATA_FORMAT.into(),
            group: name.to_string(),
            friendly_name: friendly_name.to_owned(),
            cloud: cloud.to_owned(),
            member_data_lifetime_secs: DEFAULT_MEMBER_DATA_LIFETIME.as_secs(),
            presence_lifetime_secs: DEFAULT_PRESENCE_LIFETIME.as_secs(),
            chain: hex::encode(chain.encode()),
        };
        let store = RedbStore::open_with_cache(
            dir.join(STORE_FILE),
            options.limits,
            options.store_cache_bytes,
        )?;
        write_metadata(&dir, &meta)?;
        Group::build(endpoint, dir, meta, local, None, store, options)
    }

    /// Opens a group this identity created or joined before (`PeerGroupOpen`).
    pub fn open(
        endpoint: &Endpoint,
        group: &PeerName,
        options: GroupOptions,
    ) -> Result<Group, GroupNetError> {
        let dir = group_dir(endpoint, group, &options)?;
        if !dir.join(METADATA_FILE).exists() {
            return Err(GroupNetError::NotFound { group: group.to_string(), path: dir });
        }
        let meta = read_metadata(&dir)?;
        if parse_name(&dir, &meta.group)? != *group {
            return Err(corrupt(&dir, format!("holds group {}, not {group}", meta.group)));
        }
        let chain = metadata_chain(&dir, &meta)?;
        let local =
            LocalMember::new(endpoint.identity().clone(), &chain, &mut CertCache::default())?;
        let key_path = dir.join(KEY_FILE);
        let key = if key_path.exists() { Some(GroupKey::load(&key_path)?) } else { None };
        let store = RedbStore::open_with_cache(
            dir.join(STORE_FILE),
            options.limits,
            options.store_cache_bytes,
        )?;
        Group::build(endpoint, dir, meta, local, key, store, options)
    }

    fn build(
        endpoint: &Endpoint,
        dir: PathBuf,
        meta: Metadata,
        local: LocalMember,
        key: Option<GroupKey>,
        store: RedbStore,
        options: GroupOptions,
    ) -> Result<Group, GroupNetError> {
        let name = parse_name(&dir, &meta.group)?;
        let addr = match options.advertise {
            Some(a) => a,
            None => endpoint.local_addr()?,
        };
        let me = PeerAddr { node: endpoint.identity().node_id(), addr };
        let frame_limit = peergroup_graph::net::frame_limit(&options.config, store.limits());
        let connect_timeout = options.config.topology.connect_timeout;
        let group_key = key.is_some();
        let security =
            GroupSecurity::new(local.chain.root(), Some(local.clone()), key, Verifier::new());
        let graph = GraphNode::new(NodeParams {
            graph: graph_id(&name)?,
            me,
            peer_name: endpoint.peer_name().clone(),
            config: options.config,
            store,
            provider: security,
            seed: u64::from_le_bytes(random()),
        });
        let node = GroupNode::new(
            graph,
            Box::new(NetBinding { endpoint: endpoint.clone() }),
            Duration::from_secs(meta.member_data_lifetime_secs),
        );
        Ok(Group {
            endpoint: endpoint.clone(),
            name,
            dir,
            meta,
            local,
            group_key,
            me,
            frame_limit,
            peer_queue: options.peer_queue,
            connect_timeout,
            shared: Arc::new(Shared::new(options.event_queue)),
            state: State::Idle(Box::new(node)),
            participant: None,
            password: None,
            password_server: None,
        })
    }

    /// The group's peer name.
    pub fn name(&self) -> &PeerName {
        &self.name
    }

    /// The group's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// This node's id and advertised address.
    pub fn me(&self) -> PeerAddr {
        self.me
    }

    /// This member's credentials (identity and chain).
    pub fn local(&self) -> &LocalMember {
        &self.local
    }

    /// This member's role.
    pub fn role(&self) -> Role {
        self.local.role()
    }

    /// Whether this node holds the group key (the creator).
    pub fn is_creator(&self) -> bool {
        self.group_key
    }

    /// The friendly name and cloud as this node knows them.
    pub fn summary(&self) -> Result<GroupSummary, GroupNetError> {
        summary(&self.dir, &self.meta)
    }

    /// Whether the node has started and not closed.
    pub fn is_running(&self) -> bool {
        matches!(&self.state, State::Running(h) if !h.is_stopped())
    }

    /// Starts the node (`PeerGroupConnect` without a peer to call: it listens alone, as
    /// Windows does when the group's properties are in the local database).
    pub async fn listen(&mut self) -> Result<(), GroupNetError> {
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Idle(node) => {
                let mut config = DriverConfig::default();
                config.max_frame_len = Some(self.frame_limit);
                config.peer_queue = self.peer_queue.max(1);
                config.pause_commands_above = Some(config.peer_queue / 2);
                let driven = Driven::new(*node, self.shared.clone());
                let (handle, events) =
                    driver::spawn(&self.endpoint, protocol_id(&self.name)?, driven, config)?;
                drop(events);
                *self.shared.handle.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some(handle.downgrade());
                self.state = State::Running(handle);
                self.read(|_, _| ()).await?;
                self.serve_password()
            }
            running @ State::Running(_) => {
                self.state = running;
                Ok(())
            }
            State::Closed => Err(GroupNetError::Closed),
        }
    }

    /// Connects to the group through a member at `addr` (`PeerGroupConnect`), starting
    /// the node if needed; returns who answered there. Admission and synchronisation
    /// follow asynchronously: watch [`events`](Group::events) or
    /// [`wait_status`](Group::wait_status).
    ///
    /// A failure is returned and also raised as [`Event::ConnectionFailed`].
    pub async fn connect(&mut self, addr: SocketAddr) -> Result<PeerAddr, GroupNetError> {
        self.listen().await?;
        let dialled = match tokio::time::timeout(
            self.connect_timeout,
            self.endpoint.connect(addr, Expect::Any),
        )
        .await
        {
            Ok(c) => c.map_err(GroupNetError::from),
            Err(_) => Err(GroupNetError::ConnectTimeout { addr }),
        };
        let conn = match dialled {
            Ok(c) => c,
            Err(e) => {
                self.shared.publish_event(Event::ConnectionFailed {
                    addr,
                    node: None,
                    reason: e.to_string(),
                });
                return Err(e);
            }
        };
        let peer = PeerAddr { node: conn.remote().node_id, addr };
        match self.run_one(Command::Graph(GraphCommand::Connect(peer)), false, "Connect").await {
            // Connected already: that is what was asked for.
            Err(GroupNetError::Command {
                error:
                    CommandFailure::Graph(peergroup_graph::proto::ProtoError::AlreadyConnected(_)),
                ..
            }) => Ok(peer),
            other => other.map(|()| peer),
        }
    }

    /// Tries `addrs` one by one and connects through the first member that answers
    /// (Windows' connect: resolve the participants, try their addresses in turn).
    pub async fn connect_any(&mut self, addrs: &[SocketAddr]) -> Result<PeerAddr, GroupNetError> {
        let mut last = String::from("no address given");
        for addr in addrs {
            match self.connect(*addr).await {
                Ok(p) => return Ok(p),
                Err(e) => last = e.to_string(),
            }
        }
        Err(GroupNetError::NoMemberReached { tried: addrs.len(), last })
    }

    /// Registers this member as a participant of the group in PNRP
    /// (`<group authority>.participant`, signed by this identity with its chain as the
    /// delegation; see `participant_name`) at the endpoint's addresses, in the
    /// Global cloud. The registration is renewed by PNRP and withdrawn at
    /// [`close`](Group::close).
    pub async fn register_participant(
        &mut self,
        pnrp: &peergroup_pnrp::net::Pnrp,
    ) -> Result<(), GroupNetError> {
        let signer = peergroup_pnrp::proto::CpaSigner::from_identity(&self.local.identity)
            .with_delegation(self.local.chain.chain().encode());
        let endpoints = peergroup_pnrp::net::auto_endpoints(self.me.addr);
        let request = peergroup_pnrp::proto::RegisterRequest::new(
            participant_name(&self.name)?,
            signer,
            endpoints,
        );
        let registration = pnrp.register_request(request).await?;
        if let Some(old) = self.participant.replace(registration) {
            let _ = old.unregister().await;
        }
        Ok(())
    }

    /// The addresses of the group's other participants, from PNRP (at most 16 instances;
    /// this node's own registration left out). Empty when none is registered.
    pub async fn find_participants(
        &self,
        pnrp: &peergroup_pnrp::net::Pnrp,
        timeout: Duration,
    ) -> Result<Vec<SocketAddr>, GroupNetError> {
        let options = peergroup_pnrp::net::ResolveOptions::default()
            .with_max_results(16)
            .with_timeout(timeout);
        let me = self.local.identity.public_key();
        match pnrp.resolve(&participant_name(&self.name)?, options).await {
            Ok(instances) => Ok(instances
                .into_iter()
                .filter(|i| i.signer != me)
                .flat_map(|i| i.endpoints)
                .collect()),
            Err(peergroup_pnrp::net::PnrpError::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    /// Connects the way Windows' `PeerGroupConnect` does: starts the node, resolves the
    /// other participants, registers this member as one, and tries their addresses one by
    /// one; when none is found or none answers, listens alone.
    pub async fn connect_with_pnrp(
        &mut self,
        pnrp: &peergroup_pnrp::net::Pnrp,
        timeout: Duration,
    ) -> Result<ConnectOutcome, GroupNetError> {
        self.listen().await?;
        // Resolve before registering: once this node holds its own registration, a resolve
        // can be answered by that local hit alone.
        let addrs = self.find_participants(pnrp, timeout).await?;
        self.register_participant(pnrp).await?;
        let mut last_error = None;
        for addr in &addrs {
            match self.connect(*addr).await {
                Ok(p) => return Ok(ConnectOutcome::Connected(p)),
                Err(e) => last_error = Some(format!("{addr}: {e}")),
            }
        }
        Ok(ConnectOutcome::Alone { tried: addrs.len(), last_error })
    }

    /// Subscribes to the group's events; every call gives a new, independent stream.
    pub fn events(&self) -> GroupEvents {
        self.shared.subscribe()
    }

    /// Events subscribers missed because their queue was full.
    pub fn events_dropped(&self) -> u64 {
        self.shared.dropped()
    }

    /// The status flags (listening, has connections, synchronised).
    pub fn status(&self) -> Status {
        *self.shared.status.borrow()
    }

    /// Waits until the status satisfies `pred`, at most `timeout`.
    pub async fn wait_status(
        &self,
        timeout: Duration,
        pred: impl Fn(&Status) -> bool,
    ) -> Option<Status> {
        let mut rx = self.shared.status.subscribe();
        let wait = rx.wait_for(|s| pred(s));
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(s)) => Some(*s),
            _ => None,
        }
    }

    // ----- members ------------------------------------------------------------------------

    /// The members this replica knows (`PeerGroupEnumMembers`): peer name, role,
    /// validity, revoked or not, present or not.
    pub async fn members(&self) -> Result<Vec<MemberInfo>, GroupNetError> {
        self.read(|now, node| node.members(now.unix)).await
    }

    /// The peers admitted on live connections now.
    pub async fn admitted_peers(&self) -> Result<Vec<NodeId>, GroupNetError> {
        self.read(|_, node| node.admitted_peers()).await
    }

    /// Issues credentials to another identity (`PeerGroupIssueCredentials`): an
    /// invitation with a new certificate for `invitee`'s key, with `role` (which this
    /// member's role must be allowed to issue), valid `validity` (default one year; never
    /// beyond this member's own certificate).
    pub fn invite(
        &self,
        invitee: &IdentityInfo,
        role: Role,
        validity: Option<Duration>,
    ) -> Result<Invitation, GroupNetError> {
        let mut o = InviteOptions::member(&self.meta.cloud, random());
        o.role = role;
        o.friendly_name = self.meta.friendly_name.clone();
        if let Some(v) = validity {
            o.validity = v;
        }
        Ok(Invitation::create(&self.local, invitee, &o, wall_now())?)
    }

    /// Revokes a member's certificate (administrator, or the member's issuer; the
    /// creator signs with the group key). The revocation cascades to everything the
    /// member issued, is flooded first, and every replica refuses the member's
    /// connections and its later records (`group.md` §6).
    pub async fn revoke(&self, member: &PeerName) -> Result<(), GroupNetError> {
        let who = member.clone();
        let chain = self
            .read(move |now, node| node.member_chain(&who, now.unix))
            .await?
            .ok_or_else(|| GroupNetError::UnknownMember { peer: member.to_string() })?;
        let leaf = chain.leaf();
        let command = Command::Revoke {
            target: leaf.id(),
            target_not_after: leaf.not_after(),
            reason: RevocationReason::Unspecified,
            as_group: self.group_key,
        };
        self.run_one(command, true, "Revoke").await
    }

    // ----- lifecycle ----------------------------------------------------------------------

    /// Leaves the group (`PeerGroupClose`): presence deleted, neighbours told, store
    /// flushed, node stopped. Subscribers' streams end.
    pub async fn close(mut self) -> Result<(), GroupNetError> {
        if let Some(r) = self.participant.take() {
            let _ = r.unregister().await;
        }
        if let Some(t) = self.password_server.take() {
            t.abort();
        }
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Idle(mut node) => Ok(node.graph_mut().store_mut().flush()?),
            State::Running(handle) => shutdown(handle, &self.shared).await,
            State::Closed => Ok(()),
        }
    }

    /// Something that can close this group once it runs, without owning it: for whoever
    /// runs the endpoint (the facade's `Peer` closes its open groups this way).
    pub fn closer(&self) -> GroupCloser {
        GroupCloser { name: self.name.clone(), shared: Arc::downgrade(&self.shared) }
    }

    // ----- plumbing -----------------------------------------------------------------------

    async fn run_one(
        &self,
        command: Command,
        durable: bool,
        name: &'static str,
    ) -> Result<(), GroupNetError> {
        let State::Running(handle) = &self.state else {
            return Err(match self.state {
                State::Idle(_) => GroupNetError::NotStarted,
                _ => GroupNetError::Closed,
            });
        };
        let (tx, rx) = oneshot::channel();
        handle
            .command(Request::Run { commands: vec![command], durable, reply: tx })
            .await
            .map_err(|_| GroupNetError::Closed)?;
        let mut results = rx.await.map_err(|_| GroupNetError::Closed)??;
        match results.pop() {
            Some(Ok(())) => Ok(()),
            Some(Err(error)) => Err(GroupNetError::Command { command: name, error }),
            None => Err(GroupNetError::Closed),
        }
    }

    async fn stored(&self, id: RecordId, command: &'static str) -> Result<Record, GroupNetError> {
        self.read(move |now, node| node.graph().store().get(&id, now.unix)).await??.ok_or(
            GroupNetError::Command {
                command,
                error: CommandFailure::Graph(peergroup_graph::proto::ProtoError::Closed),
            },
        )
    }

    /// Runs `f` with the node: here if it has not started, on the actor otherwise.
    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(Now, &mut GroupNode<RedbStore>) -> R + Send + 'static,
    ) -> Result<R, GroupNetError> {
        match &self.state {
            State::Idle(_) => Err(GroupNetError::NotStarted),
            State::Running(handle) => {
                let (tx, rx) = oneshot::channel();
                let job: driven::InspectFn = Box::new(move |now, node| {
                    let _ = tx.send(f(now, node));
                });
                handle
                    .command_urgent(Request::Inspect(job))
                    .await
                    .map_err(|_| GroupNetError::Closed)?;
                rx.await.map_err(|_| GroupNetError::Closed)
            }
            State::Closed => Err(GroupNetError::Closed),
        }
    }
}

/// Stops a running group's actor: a durable flush, then the node and its store dropped.
async fn shutdown(handle: Handle<Request>, shared: &Shared) -> Result<(), GroupNetError> {
    let (tx, rx) = oneshot::channel();
    handle.command(Request::Shutdown(tx)).await.map_err(|_| GroupNetError::Closed)?;
    let r = rx.await.map_err(|_| GroupNetError::Closed)?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut stopped = shared.stopped.subscribe();
    drop(handle);
    let _ = tokio::time::timeout(Duration::from_secs(10), stopped.wait_for(|s| *s)).await;
    Ok(r?)
}

/// Closes a group that someone else holds (from [`Group::closer`]); it does not keep the
/// group open.
#[derive(Debug, Clone)]
pub struct GroupCloser {
    name: PeerName,
    shared: std::sync::Weak<Shared>,
}

impl GroupCloser {
    /// The group's peer name.
    pub fn name(&self) -> &PeerName {
        &self.name
    }

    /// `true` while the [`Group`] exists and has not been closed (a group dropped while
    /// it runs stops at once).
    pub fn is_open(&self) -> bool {
        self.shared.upgrade().is_some_and(|s| {
            !*s.stopped.borrow() && !s.shut.load(std::sync::atomic::Ordering::Relaxed)
        })
    }

    /// Closes the group if it runs: every write made durable and the node closed (its
    /// connections too). The [`Group`] handle then answers [`GroupNetError::Closed`];
    /// the store is released when that handle is dropped. Its PNRP participant name stays
    /// registered until PNRP stops. A group that never started has nothing unwritten and
    /// is left as it is.
    pub async fn close(&self) -> Result<(), GroupNetError> {
        let Some(shared) = self.shared.upgrade() else {
            return Ok(());
        };
        let handle = shared
            .handle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .and_then(|h| h.upgrade());
        let Some(handle) = handle else {
            return Ok(());
        };
        let (tx, rx) = oneshot::channel();
        handle.command(Request::Shutdown(tx)).await.map_err(|_| GroupNetError::Closed)?;
        Ok(rx.await.map_err(|_| GroupNetError::Closed)??)
    }
}
