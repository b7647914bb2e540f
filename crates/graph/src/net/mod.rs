//! The graph on a real network: the tokio driver of the [`GraphNode`] core and the
//! application API ([MS-PPGRH] `PeerGraph*` functions; `ms-p2p-facts.md` §4).
//!
//! A [`Graph`] is one node of one graph, on the peer's shared QUIC [`Endpoint`] under the
//! protocol id `graph/1`. Its life follows `PeerGraphCreate` / `PeerGraphOpen`:
//!
//! 1. [`Graph::create`] (a new, empty graph) or [`Graph::open`] (one created before)
//!    opens the record store: a redb file under the per-user data directory,
//!    `<data>/graphs/<authority>/<graph-hash>/records.redb`, next to `graph.json` naming the
//!    graph. While the graph is neither listening nor connected it can be
//!    [exported](Graph::export) and [imported](Graph::import) and read.
//! 2. [`Graph::listen`] starts the node: it takes connections, publishes its presence and
//!    keeps its replica in step. [`Graph::connect`] (which also starts it) joins the graph
//!    through a member's address.
//! 3. Records: [`add_record`](Graph::add_record), [`add_records`](Graph::add_records),
//!    [`update_record`](Graph::update_record), [`delete_record`](Graph::delete_record)
//!    return once the write is durable on this node's disk and handed to the flooding;
//!    [`get`](Graph::get), [`enumerate`](Graph::enumerate) and [`search`](Graph::search) read
//!    this node's replica.
//! 4. Events ([`Graph::events`], a `Stream`), connections ([`Graph::neighbours`],
//!    [`Graph::direct_connections`]), the node list ([`Graph::nodes`]), direct connections
//!    and their data ([`Graph::open_direct`], [`Graph::send_data`]).
//! 5. [`Graph::close`] leaves the graph (presence deleted, neighbours told) and flushes the
//!    store; [`delete_graph`] removes a closed graph's files.
//!
//! # Durability
//!
//! A write the application made is acknowledged only after the store committed it with an
//! fsync. Records received from peers are visible to reads at once; the store stages them
//! in memory, writes them 256 at a time without fsync (`WriteMode::Deferred`), and the
//! driver flushes (fsync) every 0.5 s while the node is busy, and at close: a crash loses
//! at most the last half second of *received* records, which the next synchronisation
//! brings back, and never a record this node's application was told was stored.
//!
//! # Frames
//!
//! Graph messages can carry a record of up to the graph's maximum record size (1 MiB by
//! default, up to 60 MiB), more than the endpoint's default frame limit; the driver raises
//! the frame limit of its own streams to the record limit plus room for the message around
//! it ([`frame_limit`]).
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use peergroup_graph::net::{Graph, GraphOptions};
//! use peergroup_graph::proto::{NewRecord, TestProvider};
//! use peergroup_graph::{GraphId, RecordId, RecordType};
//! use peergroup_identity::Identity;
//! use peergroup_net::{Endpoint, EndpointConfig};
//!
//! let identity = Identity::generate("alice", "")?;
//! let endpoint = Endpoint::bind(identity, EndpointConfig::loopback()).await?;
//! let options = GraphOptions::new(GraphId::new("chess-club")?);
//! let mut graph = Graph::create(&endpoint, options, TestProvider::new())?;
//! graph.listen().await?;
//! let record = NewRecord::new(
//!     RecordId::random(rand_bytes()),
//!     RecordType::from_u128(0x42),
//!     Duration::from_secs(3600),
//!     b"hello".to_vec(),
//! );
//! graph.add_record(record).await?;
//! graph.close().await?;
//! # Ok(()) }
//! # fn rand_bytes() -> [u8; 16] { [7; 16] }
//! ```

mod driven;
mod error;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use peergroup_base::{NodeId, Now, PeerAddr, UnixTime};
use peergroup_net::driver::{self, DriverConfig, Handle};
use peergroup_net::{Endpoint, Expect, ProtocolId};
use ring::rand::SecureRandom;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

pub use driven::GraphEvents;
pub use error::GraphNetError;

use crate::id::{GraphId, RecordId};
use crate::proto::Validation;
use crate::proto::{
    Command, Config, Counters, DataType, GraphNode, NeighbourInfo, NewRecord, NodeInfo, NodeParams,
    RecordUpdate, SecurityProvider, Status,
};
use crate::record::{Record, RecordLimits};
use crate::search::Query;
use crate::store::{ApplyOutcome, RecordFilter, RecordStore, RedbStore, SyncRange, WriteMode};
use driven::{Driven, Request, Shared};

/// The protocol id of graph streams on the shared endpoint.
pub const PROTOCOL: &str = "graph/1";

/// Room for a message around its largest record or payload in a frame.
pub const FRAME_OVERHEAD: u32 = 64 << 10;

/// Name of the metadata file in a graph's directory.
pub const METADATA_FILE: &str = "graph.json";

/// Name of the record store in a graph's directory.
pub const STORE_FILE: &str = "records.redb";

/// The frame limit of graph streams for these settings: the largest thing one message can
/// carry (a record, a synchronisation batch, a reconciliation payload, application data)
/// plus [`FRAME_OVERHEAD`], at most the codec's absolute maximum (64 MiB).
pub fn frame_limit(config: &Config, limits: &RecordLimits) -> u32 {
    let largest = [
        limits.max_record_size() as usize,
        config.sync.sync_batch_bytes,
        config.sync.reconcile.max_message_bytes,
        config.max_data_bytes,
    ]
    .into_iter()
    .max()
    .unwrap_or(0);
    u32::try_from(largest)
        .unwrap_or(u32::MAX)
        .saturating_add(FRAME_OVERHEAD)
        .min(peergroup_base::codec::ABSOLUTE_MAX_FRAME_LEN)
}

/// What a graph is created or opened with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GraphOptions {
    /// The graph.
    pub graph: GraphId,
    /// Protocol settings (neighbours, timers, sync).
    pub config: Config,
    /// Record limits (maximum record size 1 MiB by default, up to 60 MiB).
    pub limits: RecordLimits,
    /// The data directory; `None`: the per-user default
    /// ([`peergroup_identity::default_data_dir`]).
    pub data_dir: Option<PathBuf>,
    /// The address other nodes reach this one at (published in its presence record);
    /// `None`: the endpoint's local address.
    pub advertise: Option<SocketAddr>,
    /// Events waiting per subscriber before further ones are dropped. Default 4,096.
    pub event_queue: usize,
    /// Messages waiting per peer before further ones are dropped. Default 65,536; new
    /// commands (local writes) wait while a peer's queue is more than half full.
    pub peer_queue: usize,
    /// The record store's page cache, in bytes. Default
    /// [`DEFAULT_CACHE_BYTES`](crate::store::DEFAULT_CACHE_BYTES) (64 MiB).
    pub store_cache_bytes: usize,
}

impl GraphOptions {
    /// Default options for `graph`.
    pub fn new(graph: GraphId) -> Self {
        GraphOptions {
            graph,
            config: Config::default(),
            limits: RecordLimits::default(),
            data_dir: None,
            advertise: None,
            event_queue: 4096,
            peer_queue: 65_536,
            store_cache_bytes: crate::store::DEFAULT_CACHE_BYTES,
        }
    }

    /// The same options with another data directory.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// The same options with other protocol settings.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The same options with other record limits.
    pub fn limits(mut self, limits: RecordLimits) -> Self {
        self.limits = limits;
        self
    }
}

/// What [`Graph::import`] did with the records of an export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportReport {
    /// Records new here, or newer than the version held.
    pub stored: u64,
    /// Records this replica held already (or a newer version of).
    pub unchanged: u64,
    /// Records the provider or the store's rules refused.
    pub rejected: u64,
    /// Records the provider could not decide yet (not imported).
    pub deferred: u64,
}

/// The metadata file of a graph's directory.
#[derive(Debug, Serialize, Deserialize)]
struct Metadata {
    format: String,
    graph: String,
}

const METADATA_FORMAT: &str = "peergroup-graph/1";

/// The directory of `graph` for the identity of `endpoint` under `options.data_dir`.
pub fn graph_dir(endpoint: &Endpoint, options: &GraphOptions) -> Result<PathBuf, GraphNetError> {
    let data = match &options.data_dir {
        Some(d) => d.clone(),
        None => peergroup_identity::default_data_dir().map_err(|e| GraphNetError::Io {
            operation: "find the data directory",
            path: PathBuf::new(),
            source: std::io::Error::other(e.to_string()),
        })?,
    };
    let hash = ring::digest::digest(&ring::digest::SHA256, options.graph.as_str().as_bytes());
    Ok(data
        .join("graphs")
        .join(endpoint.peer_name().authority().to_string())
        .join(hex::encode(&hash.as_ref()[..16])))
}

/// Where a graph stands.
enum State<S: RecordStore, P> {
    /// Opened, not started: the node is here.
    Idle(Box<GraphNode<S, P>>),
    /// Started: the node is in the driver's actor.
    Running(Handle<Request<S, P>>),
    /// Closed.
    Closed,
}

/// One node of a graph: its replica, its connections, its events. See the
/// [module docs](self).
///
/// `S` is the record store (a [`RedbStore`] from [`Graph::create`]), `P` the
/// [`SecurityProvider`]: the grouping layer's in a group. No
/// default: the one provider here for anything else, `TestProvider`, is test code (feature
/// `sim`).
pub struct Graph<S: RecordStore, P> {
    endpoint: Endpoint,
    graph: GraphId,
    me: PeerAddr,
    dir: Option<PathBuf>,
    frame_limit: u32,
    peer_queue: usize,
    connect_timeout: Duration,
    shared: Arc<Shared>,
    state: State<S, P>,
}

impl<S: RecordStore, P> std::fmt::Debug for Graph<S, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("graph", &self.graph)
            .field("me", &self.me)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn random_seed() -> u64 {
    let mut b = [0u8; 8];
    // The OS RNG does not fail on supported platforms; a fixed seed would still work.
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    u64::from_le_bytes(b)
}

/// A fresh random record id from the OS RNG.
pub fn random_record_id() -> RecordId {
    let mut b = [0u8; 16];
    let _ = ring::rand::SystemRandom::new().fill(&mut b);
    RecordId::random(b)
}

#[allow(clippy::disallowed_methods)] // the driver side reads the wall clock
fn wall_now() -> UnixTime {
    UnixTime::now()
}

impl<P> Graph<RedbStore, P>
where
    P: SecurityProvider + Send + 'static,
{
    /// Creates a new graph (`PeerGraphCreate`): its directory and an empty store. Fails
    /// with [`GraphNetError::AlreadyExists`] if this identity has the graph already.
    pub fn create(
        endpoint: &Endpoint,
        options: GraphOptions,
        provider: P,
    ) -> Result<Self, GraphNetError> {
        let dir = graph_dir(endpoint, &options)?;
        let meta_path = dir.join(METADATA_FILE);
        if meta_path.exists() {
            return Err(GraphNetError::AlreadyExists {
                graph: options.graph.as_str().to_owned(),
                path: dir,
            });
        }
        std::fs::create_dir_all(&dir).map_err(GraphNetError::io("create", &dir))?;
        let store = RedbStore::open_with_cache(
            dir.join(STORE_FILE),
            options.limits,
            options.store_cache_bytes,
        )?;
        let meta =
            Metadata { format: METADATA_FORMAT.into(), graph: options.graph.as_str().into() };
        let bytes = serde_json::to_vec_pretty(&meta).map_err(|e| {
            GraphNetError::CorruptMetadata { path: meta_path.clone(), reason: e.to_string() }
        })?;
        peergroup_base::fsutil::write_atomic(&meta_path, &bytes)
            .map_err(GraphNetError::io("write", &meta_path))?;
        let mut g = Graph::with_store(endpoint, options, store, provider)?;
        g.dir = Some(dir);
        Ok(g)
    }

    /// Opens a graph created before (`PeerGraphOpen`), with the records it had. Fails with
    /// [`GraphNetError::NotFound`] if there is none.
    pub fn open(
        endpoint: &Endpoint,
        options: GraphOptions,
        provider: P,
    ) -> Result<Self, GraphNetError> {
        let dir = graph_dir(endpoint, &options)?;
        check_metadata(&dir, &options.graph)?;
        let store = RedbStore::open_with_cache(
            dir.join(STORE_FILE),
            options.limits,
            options.store_cache_bytes,
        )?;
        let mut g = Graph::with_store(endpoint, options, store, provider)?;
        g.dir = Some(dir);
        Ok(g)
    }
}

/// Deletes a graph's files (`PeerGraphDelete`). The graph must not be open (in this
/// process or another): its store is locked while open.
pub fn delete_graph(endpoint: &Endpoint, options: &GraphOptions) -> Result<(), GraphNetError> {
    let dir = graph_dir(endpoint, options)?;
    check_metadata(&dir, &options.graph)?;
    // Opening the store proves nobody has it open; drop it before removing.
    drop(RedbStore::open_with_cache(
        dir.join(STORE_FILE),
        options.limits,
        options.store_cache_bytes,
    )?);
    std::fs::remove_dir_all(&dir).map_err(GraphNetError::io("remove", &dir))?;
    if let Some(parent) = dir.parent() {
        peergroup_base::fsutil::sync_dir(parent);
    }
    Ok(())
}

fn check_metadata(dir: &Path, graph: &GraphId) -> Result<(), GraphNetError> {
    let path = dir.join(METADATA_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(GraphNetError::NotFound {
                graph: graph.as_str().to_owned(),
                path: dir.to_path_buf(),
            });
        }
        Err(e) => return Err(GraphNetError::Io { operation: "read", path, source: e }),
    };
    let meta: Metadata = serde_json::from_slice(&bytes).map_err(|e| {
        GraphNetError::CorruptMetadata { path: path.clone(), reason: e.to_string() }
    })?;
    if meta.format != METADATA_FORMAT {
        return Err(GraphNetError::CorruptMetadata {
            path,
            reason: format!("unknown format {:?}", meta.format),
        });
    }
    if meta.graph != graph.as_str() {
        return Err(GraphNetError::WrongGraph {
            expected: graph.as_str().to_owned(),
            found: meta.graph,
            path,
        });
    }
    Ok(())
}

impl<S, P> Graph<S, P>
where
    S: RecordStore + Send + 'static,
    P: SecurityProvider + Send + 'static,
{
    /// A graph node over any store (a [`MemStore`](crate::store::MemStore) for tests, a
    /// `SledStore`); `create`/`open` use this with a [`RedbStore`] in the data directory.
    pub fn with_store(
        endpoint: &Endpoint,
        options: GraphOptions,
        store: S,
        provider: P,
    ) -> Result<Self, GraphNetError> {
        let addr = match options.advertise {
            Some(a) => a,
            None => endpoint.local_addr()?,
        };
        let me = PeerAddr { node: endpoint.identity().node_id(), addr };
        let frame_limit = frame_limit(&options.config, store.limits());
        let connect_timeout = options.config.topology.connect_timeout;
        let node = GraphNode::new(NodeParams {
            graph: options.graph.clone(),
            me,
            peer_name: endpoint.peer_name().clone(),
            config: options.config,
            store,
            provider,
            seed: random_seed(),
        });
        Ok(Graph {
            endpoint: endpoint.clone(),
            graph: options.graph,
            me,
            dir: None,
            frame_limit,
            peer_queue: options.peer_queue,
            connect_timeout,
            shared: Arc::new(Shared::new(options.event_queue)),
            state: State::Idle(Box::new(node)),
        })
    }

    /// The graph.
    pub fn id(&self) -> &GraphId {
        &self.graph
    }

    /// This node's id and advertised address.
    pub fn me(&self) -> PeerAddr {
        self.me
    }

    /// The graph's directory (`None` for a graph over a caller's store).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// Whether the node has started (listening or connected) and not closed.
    pub fn is_running(&self) -> bool {
        matches!(&self.state, State::Running(h) if !h.is_stopped())
    }

    /// Starts the node (`PeerGraphListen`): it accepts connections, publishes its presence
    /// and keeps its replica in step. Does nothing if it runs already.
    pub async fn listen(&mut self) -> Result<(), GraphNetError> {
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Idle(node) => {
                let mut config = DriverConfig::default();
                config.max_frame_len = Some(self.frame_limit);
                config.peer_queue = self.peer_queue.max(1);
                // A local writer waits while a peer's queue is half full, rather than
                // overflow it (lost messages would wait for the next re-synchronisation).
                config.pause_commands_above = Some(config.peer_queue / 2);
                let driven = Driven::new(*node, self.shared.clone());
                match driver::spawn(&self.endpoint, ProtocolId::new(PROTOCOL)?, driven, config) {
                    Ok((handle, events)) => {
                        // Driven hands events to subscribers itself; the driver's stream
                        // carries none.
                        drop(events);
                        self.state = State::Running(handle);
                        // The actor handles `Start` before any request: once this read
                        // returns, the node is listening.
                        self.read(|_, _| ()).await
                    }
                    Err(e) => Err(e.into()),
                }
            }
            running @ State::Running(_) => {
                self.state = running;
                Ok(())
            }
            State::Closed => Err(GraphNetError::Closed),
        }
    }

    /// Joins the graph through the member at `addr` (`PeerGraphConnect`), starting the
    /// node if needed. The address is dialled first to learn who answers there (its
    /// certificate names its node id); the returned peer is that node. The neighbour
    /// connection itself completes asynchronously: watch [`Graph::events`] or
    /// [`Graph::wait_status`].
    pub async fn connect(&mut self, addr: SocketAddr) -> Result<PeerAddr, GraphNetError> {
        self.listen().await?;
        let conn = match tokio::time::timeout(
            self.connect_timeout,
            self.endpoint.connect(addr, Expect::Any),
        )
        .await
        {
            Ok(c) => c?,
            Err(_) => return Err(GraphNetError::ConnectTimeout { addr }),
        };
        let peer = PeerAddr { node: conn.remote().node_id, addr };
        self.run_one(Command::Connect(peer), false).await?;
        Ok(peer)
    }

    /// Joins the graph through a node whose id is known.
    pub async fn connect_peer(&mut self, peer: PeerAddr) -> Result<(), GraphNetError> {
        self.listen().await?;
        self.run_one(Command::Connect(peer), false).await
    }

    /// Subscribes to the graph's events (status, records, connections, nodes, data). Every
    /// call gives a new, independent stream of the events from then on.
    pub fn events(&self) -> GraphEvents {
        self.shared.subscribe()
    }

    /// Events that subscribers missed because their queue was full.
    pub fn events_dropped(&self) -> u64 {
        self.shared.dropped()
    }

    /// The status flags (listening, has connections, synchronized).
    pub fn status(&self) -> Status {
        *self.shared.status.borrow()
    }

    /// Waits until the status satisfies `pred`, at most `timeout`; returns the status
    /// then, or `None` on timeout.
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

    // ----- records ------------------------------------------------------------------------

    /// Adds a record written by this node (`PeerGraphAddRecord`); returns it as stored
    /// (creator, times, version 1, security data filled in) once it is on disk.
    pub async fn add_record(&self, record: NewRecord) -> Result<Record, GraphNetError> {
        let id = record.id;
        self.run_one(Command::AddRecord(record), true).await?;
        self.stored(id, "AddRecord").await
    }

    /// Adds several records with one durable commit (much faster than one by one); returns
    /// them as stored. Stops at the first failure
    /// ([`GraphNetError::BatchItem`]); the records before it are stored.
    pub async fn add_records(&self, records: Vec<NewRecord>) -> Result<Vec<Record>, GraphNetError> {
        let ids: Vec<RecordId> = records.iter().map(|r| r.id).collect();
        let results = self.run(records.into_iter().map(Command::AddRecord).collect(), true).await?;
        for (index, r) in results.into_iter().enumerate() {
            if let Err(error) = r {
                return Err(GraphNetError::BatchItem {
                    index,
                    source: Box::new(GraphNetError::Command { command: "AddRecord", error }),
                });
            }
        }
        let out = self
            .read(move |now, node| {
                ids.iter().map(|id| node.store().get(id, now.unix)).collect::<Result<Vec<_>, _>>()
            })
            .await??;
        out.into_iter()
            .zip(0..)
            .map(|(r, index)| {
                r.ok_or(GraphNetError::BatchItem {
                    index,
                    source: Box::new(GraphNetError::Command {
                        command: "AddRecord",
                        error: crate::proto::ProtoError::Closed,
                    }),
                })
            })
            .collect()
    }

    /// Writes the next version of a record (`PeerGraphUpdateRecord`); returns it as stored.
    pub async fn update_record(&self, update: RecordUpdate) -> Result<Record, GraphNetError> {
        let id = update.id;
        self.run_one(Command::UpdateRecord(update), true).await?;
        self.stored(id, "UpdateRecord").await
    }

    /// Deletes a record (`PeerGraphDeleteRecord`): its tombstone replaces it here and is
    /// flooded.
    pub async fn delete_record(&self, id: RecordId) -> Result<(), GraphNetError> {
        self.run_one(Command::DeleteRecord(id), true).await
    }

    /// The record with this id, if this replica has it live (tombstones are not returned).
    pub async fn get(&self, id: RecordId) -> Result<Option<Record>, GraphNetError> {
        Ok(self.read(move |now, node| node.store().get_live(&id, now.unix)).await??)
    }

    /// The live records matching `filter` (`PeerGraphEnumRecords`).
    pub async fn enumerate(&self, filter: RecordFilter) -> Result<Vec<Record>, GraphNetError> {
        let mut records =
            self.read(move |now, node| node.store().enumerate(&filter, now.unix)).await??;
        records.retain(|r| !r.is_deleted());
        Ok(records)
    }

    /// The live records matching a query of the search language (`PeerGraphSearchRecords`;
    /// [`crate::search`]). A query that does not parse gives
    /// [`GraphError::InvalidSearch`](crate::GraphError::InvalidSearch) with the position.
    pub async fn search(&self, query: &str) -> Result<Vec<Record>, GraphNetError> {
        let query = Query::parse(query).map_err(crate::GraphError::from)?;
        let mut records =
            self.read(move |now, node| node.store().search(&query, now.unix)).await??;
        records.retain(|r| !r.is_deleted());
        Ok(records)
    }

    /// One page of [`enumerate`](Graph::enumerate): up to `limit` live records matching
    /// `filter` whose ids come after `after` (from the first when `None`), in id order,
    /// and where the next page starts. The node reads only as far as the page reaches; at
    /// most [`MAX_PAGE`](crate::MAX_PAGE) records per page (a larger `limit` counts as
    /// that).
    pub async fn enumerate_page(
        &self,
        filter: RecordFilter,
        after: Option<RecordId>,
        limit: usize,
    ) -> Result<crate::RecordPage, GraphNetError> {
        let limit = limit.min(crate::MAX_PAGE);
        let records = self
            .read(move |now, node| {
                node.store().enumerate_page(&filter, after.as_ref(), limit, now.unix)
            })
            .await??;
        Ok(crate::RecordPage::new(records, limit))
    }

    /// One page of [`search`](Graph::search), as [`enumerate_page`](Graph::enumerate_page)
    /// pages [`enumerate`](Graph::enumerate).
    pub async fn search_page(
        &self,
        query: &str,
        after: Option<RecordId>,
        limit: usize,
    ) -> Result<crate::RecordPage, GraphNetError> {
        let query = Query::parse(query).map_err(crate::GraphError::from)?;
        let limit = limit.min(crate::MAX_PAGE);
        let records = self
            .read(move |now, node| {
                node.store().search_page(&query, after.as_ref(), limit, now.unix)
            })
            .await??;
        Ok(crate::RecordPage::new(records, limit))
    }

    /// The number of records in this replica (tombstones and not yet purged records
    /// included).
    pub async fn record_count(&self) -> Result<u64, GraphNetError> {
        Ok(self.read(|_, node| node.store().len()).await??)
    }

    // ----- export and import ----------------------------------------------------------------

    /// Writes this replica — live records and tombstones — to an export file
    /// (`PeerGraphExportDatabase`; format in [`crate::export`]); returns the number of
    /// records. Allowed only before the graph listens or connects. The file is written
    /// atomically (temporary file, fsync, rename).
    pub fn export(&self, path: &Path) -> Result<u64, GraphNetError> {
        let State::Idle(node) = &self.state else {
            return Err(GraphNetError::Running { operation: "export" });
        };
        let now = wall_now();
        let mut records = Vec::new();
        let mut range = SyncRange::ALL;
        loop {
            let chunk = node.store().sync_records(&range, 4096, now)?;
            let Some(last) = chunk.last() else { break };
            range = SyncRange::after(last.sync_key());
            records.extend(chunk);
        }
        let mut result = Ok(0);
        peergroup_base::fsutil::write_atomic_with(path, |w| {
            result = crate::export::write_export(w, &self.graph, &records);
            match &result {
                Ok(_) => Ok(()),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            }
        })
        .map_err(|e| match std::mem::replace(&mut result, Ok(0)) {
            Err(g) => GraphNetError::Graph(g),
            Ok(_) => GraphNetError::Io { operation: "write", path: path.to_path_buf(), source: e },
        })?;
        Ok(records.len() as u64)
    }

    /// Merges the records of an export file of this graph into this replica
    /// (`PeerGraphImportDatabase`). Allowed only before the graph listens or connects. The
    /// whole file is read and its checksum checked before anything is stored; each record
    /// then goes through the security provider (as a record from the network would) and
    /// the store's update rules, and the import is durable when this returns.
    pub fn import(&mut self, path: &Path) -> Result<ImportReport, GraphNetError> {
        let graph = self.graph.clone();
        let State::Idle(node) = &mut self.state else {
            return Err(GraphNetError::Running { operation: "import" });
        };
        let file = std::fs::File::open(path).map_err(GraphNetError::io("open", path))?;
        let limits = *node.store().limits();
        let records = crate::export::read_export(std::io::BufReader::new(file), &graph, &limits)?;
        let now = wall_now();
        let mut report = ImportReport::default();
        let mut accepted = Vec::with_capacity(records.len());
        for r in records {
            match node.validate_with_provider(&r, now) {
                Validation::Accept => accepted.push(r),
                Validation::Reject(_) => report.rejected += 1,
                Validation::Defer => report.deferred += 1,
            }
        }
        let store = node.store_mut();
        store.set_write_mode(WriteMode::Deferred);
        let applied = (|| {
            for chunk in accepted.chunks(1024) {
                for outcome in store.apply_batch(chunk, now)? {
                    match outcome {
                        ApplyOutcome::Added | ApplyOutcome::Updated { .. } => report.stored += 1,
                        ApplyOutcome::Rejected(_) => report.rejected += 1,
                        _ => report.unchanged += 1,
                    }
                }
            }
            store.flush()
        })();
        store.set_write_mode(WriteMode::Durable);
        applied?;
        Ok(report)
    }

    // ----- connections and nodes ----------------------------------------------------------

    /// The neighbour connections (`PeerGraphEnumConnections` with neighbour flag).
    pub async fn neighbours(&self) -> Result<Vec<NeighbourInfo>, GraphNetError> {
        self.read(|_, node| node.neighbours()).await
    }

    /// The direct connections (`PeerGraphEnumConnections` with direct flag).
    pub async fn direct_connections(&self) -> Result<Vec<PeerAddr>, GraphNetError> {
        self.read(|_, node| node.direct_peers()).await
    }

    /// The node list: every other node with a live presence record (`PeerGraphEnumNodes`).
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, GraphNetError> {
        self.read(|_, node| node.nodes()).await
    }

    /// The node's counters (messages, copies, syncs, refusals).
    pub async fn counters(&self) -> Result<Counters, GraphNetError> {
        self.read(|_, node| *node.counters()).await
    }

    /// Opens a direct connection to a node of the graph (`PeerGraphOpenDirectConnection`),
    /// for application data only.
    pub async fn open_direct(&self, peer: PeerAddr) -> Result<(), GraphNetError> {
        self.run_one(Command::OpenDirect(peer), false).await
    }

    /// Closes a direct connection.
    pub async fn close_direct(&self, peer: PeerAddr) -> Result<(), GraphNetError> {
        self.run_one(Command::CloseDirect(peer), false).await
    }

    /// Sends typed application data to a neighbour or direct connection
    /// (`PeerGraphSendData`); it arrives as [`Event::IncomingData`](crate::proto::Event).
    pub async fn send_data(
        &self,
        peer: NodeId,
        data_type: DataType,
        data: Vec<u8>,
    ) -> Result<(), GraphNetError> {
        let addr = self
            .read(move |_, node| {
                node.neighbour_addrs()
                    .into_iter()
                    .chain(node.direct_peers())
                    .find(|p| p.node == peer)
            })
            .await?;
        let Some(addr) = addr else {
            return Err(GraphNetError::Command {
                command: "SendData",
                error: crate::proto::ProtoError::ConnectionNotFound(peer),
            });
        };
        self.run_one(Command::SendData { peer: addr, data_type, data }, false).await
    }

    /// Validates the deferred records again (`PeerGraphValidateDeferredRecords`).
    pub async fn retry_deferred(&self) -> Result<(), GraphNetError> {
        self.run_one(Command::RetryDeferred, false).await
    }

    /// Leaves the graph (`PeerGraphClose`): deletes this node's presence, tells the
    /// neighbours, flushes the store and stops the node. Subscribers' streams end.
    pub async fn close(mut self) -> Result<(), GraphNetError> {
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Idle(mut node) => Ok(node.store_mut().flush()?),
            State::Running(handle) => {
                let (tx, rx) = oneshot::channel();
                handle.command(Request::Shutdown(tx)).await.map_err(|_| GraphNetError::Closed)?;
                let r = rx.await.map_err(|_| GraphNetError::Closed)?;
                // Give the Disconnect messages a moment to leave before the actor stops.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let mut stopped = self.shared.stopped.subscribe();
                drop(handle);
                // Wait until the actor dropped the store (its file lock goes with it), so
                // the graph can be opened again at once.
                let _ =
                    tokio::time::timeout(Duration::from_secs(10), stopped.wait_for(|s| *s)).await;
                Ok(r?)
            }
            State::Closed => Ok(()),
        }
    }

    // ----- plumbing -----------------------------------------------------------------------

    async fn run(
        &self,
        commands: Vec<Command>,
        durable: bool,
    ) -> Result<Vec<Result<(), crate::proto::ProtoError>>, GraphNetError> {
        match &self.state {
            State::Idle(_) => Err(GraphNetError::NotStarted),
            State::Running(handle) => {
                let (tx, rx) = oneshot::channel();
                handle
                    .command(Request::Run { commands, durable, reply: tx })
                    .await
                    .map_err(|_| GraphNetError::Closed)?;
                Ok(rx.await.map_err(|_| GraphNetError::Closed)??)
            }
            State::Closed => Err(GraphNetError::Closed),
        }
    }

    async fn run_one(&self, command: Command, durable: bool) -> Result<(), GraphNetError> {
        let name = crate::proto::command_name(&command);
        let mut results = self.run(vec![command], durable).await?;
        match results.pop() {
            Some(Ok(())) => Ok(()),
            Some(Err(error)) => Err(GraphNetError::Command { command: name, error }),
            None => Err(GraphNetError::Closed),
        }
    }

    async fn stored(&self, id: RecordId, command: &'static str) -> Result<Record, GraphNetError> {
        self.read(move |now, node| node.store().get(&id, now.unix))
            .await??
            .ok_or(GraphNetError::Command { command, error: crate::proto::ProtoError::Closed })
    }

    /// Runs `f` with the node: here if it has not started, on the actor otherwise.
    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(Now, &GraphNode<S, P>) -> R + Send + 'static,
    ) -> Result<R, GraphNetError> {
        match &self.state {
            State::Idle(node) => {
                Ok(f(Now { instant: peergroup_base::Instant::ZERO, unix: wall_now() }, node))
            }
            State::Running(handle) => {
                let (tx, rx) = oneshot::channel();
                let job: driven::InspectFn<S, P> = Box::new(move |now, node| {
                    let _ = tx.send(f(now, node));
                });
                handle
                    .command_urgent(Request::Inspect(job))
                    .await
                    .map_err(|_| GraphNetError::Closed)?;
                rx.await.map_err(|_| GraphNetError::Closed)
            }
            State::Closed => Err(GraphNetError::Closed),
        }
    }
}
