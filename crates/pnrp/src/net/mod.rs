//! The PNRP driver: the sans-IO core on the shared QUIC endpoint, and the application API
//! (DESIGN.md §5, `proto-specs/pnrp-driver.md`).
//!
//! # What runs
//!
//! [`Pnrp::start`] moves a [`proto::Pnrp`](crate::proto::Pnrp) core into the generic
//! actor of [`peergroup_net::driver`] under the protocol id [`PROTOCOL`] (`pnrp/1`), on the
//! endpoint the application already has, and starts three small tasks beside it:
//!
//! * the **router** reads the core's events and hands each to whoever waits for it (a
//!   resolve's stream, a registration's state, a cloud-info query), keyed by the
//!   [`ResolveId`] / [`RegistrationId`] the command carried;
//! * **housekeeping** persists the Global routing table ([`cache`]) every
//!   [`PnrpConfig::cache_save_interval`] and at shutdown, and keeps dialling seeds that
//!   did not answer at start;
//! * **LAN discovery** ([`discovery`], only with LinkLocal on) announces the node on a
//!   multicast group and turns other nodes' announcements into
//!   [`Command::AddPeer`] for the LinkLocal cloud.
//!
//! # The driver contract
//!
//! * The core's node id is the endpoint's: the hash of the TLS key every connection
//!   proves, so `from` in every message it receives is authenticated, and it is never
//!   sent to a peer that is not who its table says (the actor dials with
//!   `Expect::Node`).
//! * Bootstrap peers known at start go into the core's configuration: the cache entries
//!   first, then the seeds. A seed given only as an address is dialled first with
//!   `Expect::Any` and enters as the node that answered; one that does not answer is
//!   retried every [`PnrpConfig::seed_retry_interval`] and handed over as
//!   [`Command::AddPeer`] once it does.
//! * Frames that do not decode close their stream only; messages that break a limit are
//!   counted and dropped by the core. Nothing a peer sends ends the actor.
//! * Time: the actor gives the core monotonic time since it started and the wall clock.
//! * On an endpoint bound to a loopback address the Global table's IP-prefix diversity
//!   limits are turned off: every peer it can reach shares 127.0.0.0/8.
//! * The node stops when the last [`Pnrp`] clone (registrations hold one) is dropped, or
//!   at [`Pnrp::shutdown`], which also writes the cache one last time.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use peergroup_identity::Identity;
//! use peergroup_net::{Endpoint, EndpointConfig};
//! use peergroup_pnrp::net::{Endpoints, Pnrp, PnrpConfig, ResolveOptions, Seed};
//!
//! let id = Identity::generate("printer", "")?;
//! let endpoint = Endpoint::bind(id.clone(), EndpointConfig::loopback()).await?;
//! let mut config = PnrpConfig::loopback();
//! config.seeds.push("127.0.0.1:3587".parse::<Seed>()?);
//! let pnrp = Pnrp::start(&endpoint, &id, config).await?;
//! let name = id.peer_name().clone();
//! let registration = pnrp.register(name.clone(), Endpoints::Auto, "office", None).await?;
//! let found = pnrp.resolve(&name, ResolveOptions::default()).await?;
//! println!("{} at {:?}", name, found[0].endpoints);
//! registration.unregister().await?;
//! # Ok(()) }
//! ```

pub mod cache;
pub mod discovery;
mod error;
mod registration;
mod resolve;
mod router;
mod seeds;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use peergroup_base::{NodeId, PeerAddr, PeerName, UnixTime};
use peergroup_identity::Identity;
use peergroup_net::driver::{self, DriverConfig, Handle};
use peergroup_net::{Endpoint, ProtocolId};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

pub use discovery::DiscoveryConfig;
pub use error::PnrpError;
pub use registration::Registration;
pub use resolve::{ResolveOptions, ResolveStream, Resolved};
pub use seeds::{Seed, auto_endpoints};

/// The core's types that the API hands out, re-exported for convenience.
pub use crate::proto::{
    Cloud, CloudInfo, CloudState, Instance, RegisterRequest, ResolveOutcome, ResolveStats,
};

use crate::proto::cpa::MAX_ENDPOINTS;
use crate::proto::{Command, Config, CpaSigner, RegistrationId, ResolveId, ResolveRequest};

/// The protocol id of PNRP streams on the shared endpoint.
pub const PROTOCOL: &str = "pnrp/1";

/// Bound on the wait for the core's first state report at start (it comes at once).
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Most cache entries handed to the core as bootstrap peers (it remembers 64; the seeds
/// come after them and must fit).
const CACHE_BOOTSTRAP_PEERS: usize = 48;

/// Where the Global routing cache lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheLocation {
    /// `<per-user data dir>/pnrp/global.cache` (see `peergroup_identity::datadir`).
    Default,
    /// This file.
    At(PathBuf),
    /// No cache: nothing read, nothing written.
    Off,
}

impl CacheLocation {
    /// `<data_dir>/pnrp/global.cache`.
    pub fn in_data_dir(data_dir: &std::path::Path) -> Self {
        CacheLocation::At(cache::cache_path_in(data_dir))
    }
}

/// Settings of a PNRP node. `Default` suits a real network; [`PnrpConfig::loopback`]
/// suits tests and demos on one host.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PnrpConfig {
    /// The core's settings (`proto::Config`; its `seeds` are kept and added to). Default:
    /// the core's defaults. `link_local` is set from [`link_local`](Self::link_local).
    pub core: Config,
    /// Seeds of the Global cloud. Default: none (the node starts alone unless its cache
    /// names peers).
    pub seeds: Vec<Seed>,
    /// The Global routing cache. Default: [`CacheLocation::Default`].
    pub cache: CacheLocation,
    /// Period of cache writes (besides the one at shutdown). Default 5 min: a crash loses
    /// at most five minutes of table changes, at one small file write per period.
    pub cache_save_interval: Duration,
    /// LinkLocal cloud with LAN multicast discovery; `None` turns LinkLocal off.
    /// Default: `None` (DESIGN.md §5: Global is the cloud every node runs).
    pub link_local: Option<DiscoveryConfig>,
    /// How long a seed given as an address may take to answer at start. Default 5 s
    /// (half the endpoint's handshake timeout: a dead seed must not hold the start up).
    pub seed_dial_timeout: Duration,
    /// Period of retries of seeds that did not answer. Default 30 s.
    pub seed_retry_interval: Duration,
    /// How long `register`, `update` and `unregister` wait for the replicas to confirm.
    /// Default 30 s (a registration round is one lookup and one store round trip; a cloud
    /// still bootstrapping delays it).
    pub confirm_timeout: Duration,
    /// Queue sizes of the actor.
    pub driver: DriverConfig,
    /// Seed of the core's RNG. Default `None`: drawn from the OS.
    pub rng_seed: Option<u64>,
}

impl Default for PnrpConfig {
    fn default() -> Self {
        PnrpConfig {
            core: Config::default(),
            seeds: Vec::new(),
            cache: CacheLocation::Default,
            cache_save_interval: Duration::from_secs(300),
            link_local: None,
            seed_dial_timeout: Duration::from_secs(5),
            seed_retry_interval: Duration::from_secs(30),
            confirm_timeout: Duration::from_secs(30),
            driver: DriverConfig::default(),
            rng_seed: None,
        }
    }
}

impl PnrpConfig {
    /// Defaults for peers that all live on one host: no routing cache, no IP-prefix
    /// diversity limits (every loopback peer shares 127.0.0.0/24, and the limits would cap
    /// the whole table at 10 entries).
    pub fn loopback() -> Self {
        let mut c = PnrpConfig { cache: CacheLocation::Off, ..Self::default() };
        c.core.subnet_limits = None;
        c
    }

    /// These settings with seeds `seeds`.
    pub fn with_seeds(mut self, seeds: impl IntoIterator<Item = Seed>) -> Self {
        self.seeds.extend(seeds);
        self
    }
}

/// Where a registration says its service listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoints {
    /// The endpoint's own address(es) ([`auto_endpoints`]).
    Auto,
    /// These addresses (1 to 10).
    Explicit(Vec<SocketAddr>),
}

#[derive(Debug)]
struct Inner {
    shared: Arc<router::Shared>,
    core: Mutex<Option<Handle<Command>>>,
    shutdown: watch::Sender<bool>,
    housekeeping: Mutex<Option<JoinHandle<Result<(), PnrpError>>>>,
    discovery: Mutex<Option<JoinHandle<()>>>,
    endpoint: Endpoint,
    signer: CpaSigner,
    node: NodeId,
    local: SocketAddr,
    cache: Option<PathBuf>,
    confirm_timeout: Duration,
    link_local: bool,
}

/// A running PNRP node: the handle applications use. Cheap to clone; the node stops
/// when the last clone is dropped (or at [`shutdown`](Self::shutdown)).
#[derive(Debug, Clone)]
pub struct Pnrp {
    inner: Arc<Inner>,
}

impl Pnrp {
    /// Starts PNRP on `endpoint`. Names are registered with `identity`'s key (the
    /// endpoint's identity, usually; the node id is always the endpoint's). Dials the
    /// address-only seeds (at most [`PnrpConfig::seed_dial_timeout`]), loads the routing
    /// cache, binds LAN discovery if LinkLocal is on, and starts the actor.
    ///
    /// Fails if the endpoint already runs PNRP or LAN discovery cannot bind any group.
    pub async fn start(
        endpoint: &Endpoint,
        identity: &Identity,
        config: PnrpConfig,
    ) -> Result<Pnrp, PnrpError> {
        let protocol = ProtocolId::new(PROTOCOL)?;
        let local = endpoint.local_addr()?;
        let node = endpoint.identity().node_id();
        let me = PeerAddr { node, addr: auto_endpoints(local).first().copied().unwrap_or(local) };

        let cache = match &config.cache {
            CacheLocation::Off => None,
            CacheLocation::At(p) => Some(p.clone()),
            CacheLocation::Default => match peergroup_identity::default_data_dir() {
                Ok(d) => Some(cache::cache_path_in(&d)),
                Err(e) => {
                    warn!(error = %e, "no per-user data directory: routing cache off");
                    None
                }
            },
        };
        let cached = match &cache {
            Some(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || cache::load(&path, node))
                    .await
                    .unwrap_or_default()
            }
            None => Vec::new(),
        };

        let mut known: Vec<PeerAddr> = Vec::new();
        let mut addrs: Vec<SocketAddr> = Vec::new();
        for s in &config.seeds {
            match s {
                Seed::Peer(p) => known.push(*p),
                Seed::Addr(a) => addrs.push(*a),
            }
        }
        let (learned, unresolved) =
            seeds::learn_all(endpoint, &addrs, config.seed_dial_timeout).await;

        let mut core_config = config.core.clone();
        let mut bootstrap: Vec<PeerAddr> = cached.into_iter().take(CACHE_BOOTSTRAP_PEERS).collect();
        bootstrap.extend(core_config.seeds.iter().copied());
        bootstrap.extend(known);
        bootstrap.extend(learned);
        let mut seen = std::collections::HashSet::new();
        // keep the last mention of each node (seeds after the cache)
        bootstrap.reverse();
        bootstrap.retain(|p| p.node != node && seen.insert(p.node));
        bootstrap.reverse();
        core_config.seeds = bootstrap;
        if local.ip().is_loopback() {
            // Every peer of a loopback endpoint shares one prefix; the limits would cap the
            // table at `per_table` entries.
            core_config.subnet_limits = None;
        }
        core_config.link_local = config.link_local.is_some();
        let initial = |on: bool| if on { CloudState::Virtual } else { CloudState::Disabled };
        let shared = Arc::new(router::Shared::new(
            initial(core_config.global),
            initial(core_config.link_local),
        ));

        let discovery = match &config.link_local {
            Some(d) => Some(discovery::Discovery::bind(d.clone(), node, local)?),
            None => None,
        };

        let rng_seed = config.rng_seed.unwrap_or_else(random_seed);
        let link_local = core_config.link_local;
        let core = crate::proto::Pnrp::new(me, core_config, rng_seed);
        let (handle, events) = driver::spawn(endpoint, protocol, core, config.driver.clone())?;
        tokio::spawn(router::run(shared.clone(), events));

        let (shutdown, shutdown_rx) = watch::channel(false);
        let housekeeping = tokio::spawn(housekeeping(Housekeeping {
            shared: shared.clone(),
            core: handle.clone(),
            endpoint: endpoint.clone(),
            node,
            cache: cache.clone(),
            save_interval: config.cache_save_interval,
            unresolved,
            dial_timeout: config.seed_dial_timeout,
            retry_interval: config.seed_retry_interval,
            shutdown: shutdown_rx.clone(),
        }));
        let discovery = discovery.map(|d| {
            let state = shared.watch_state(Cloud::LinkLocal);
            tokio::spawn(d.run(handle.clone(), state, shutdown_rx))
        });

        debug!(%node, %local, "pnrp started");
        let pnrp = Pnrp {
            inner: Arc::new(Inner {
                shared,
                core: Mutex::new(Some(handle)),
                shutdown,
                housekeeping: Mutex::new(Some(housekeeping)),
                discovery: Mutex::new(discovery),
                endpoint: endpoint.clone(),
                signer: CpaSigner::from_identity(identity),
                node,
                local,
                cache,
                confirm_timeout: config.confirm_timeout,
                link_local,
            }),
        };
        // The core reports each enabled cloud's first state as it handles Start, before
        // anything else: wait for it so that callers never see the placeholder `Virtual`.
        for cloud in Cloud::ALL {
            if pnrp.cloud_state(cloud) != CloudState::Disabled {
                pnrp.wait_state(cloud, START_TIMEOUT, |s| s != CloudState::Virtual).await?;
            }
        }
        Ok(pnrp)
    }

    /// This node's id (its endpoint's).
    pub fn node_id(&self) -> NodeId {
        self.inner.node
    }

    /// The endpoint's local address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// The endpoint PNRP runs on.
    pub fn endpoint(&self) -> &Endpoint {
        &self.inner.endpoint
    }

    /// Where the routing cache is written, if anywhere.
    pub fn cache_path(&self) -> Option<&std::path::Path> {
        self.inner.cache.as_deref()
    }

    /// `true` if the LinkLocal cloud (and LAN discovery) runs.
    pub fn link_local_enabled(&self) -> bool {
        self.inner.link_local
    }

    /// What [`Endpoints::Auto`] registers.
    pub fn auto_endpoints(&self) -> Vec<SocketAddr> {
        auto_endpoints(self.inner.local)
    }

    pub(crate) fn core(&self) -> Result<Handle<Command>, PnrpError> {
        self.inner
            .core
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or(PnrpError::Stopped)
    }

    pub(crate) async fn command(&self, command: Command) -> Result<(), PnrpError> {
        self.core()?.command(command).await.map_err(|_| PnrpError::Stopped)
    }

    pub(crate) fn resolve_endpoints(
        &self,
        endpoints: Endpoints,
    ) -> Result<Vec<SocketAddr>, PnrpError> {
        let list = match endpoints {
            Endpoints::Explicit(list) => return Ok(list),
            Endpoints::Auto => self.auto_endpoints(),
        };
        let list: Vec<SocketAddr> = list
            .into_iter()
            .filter(|a| a.port() != 0 && !a.ip().is_unspecified())
            .take(MAX_ENDPOINTS)
            .collect();
        if list.is_empty() {
            return Err(PnrpError::NoUsableEndpoint { local: self.inner.local });
        }
        Ok(list)
    }

    /// The current state of a cloud (as last reported by the core).
    pub fn cloud_state(&self, cloud: Cloud) -> CloudState {
        self.inner.shared.state(cloud)
    }

    /// Waits until `cloud` is Active (bootstrapped, with at least one other node), at most
    /// `timeout`; [`PnrpError::CloudNotReady`] with the state it is in otherwise.
    pub async fn wait_active(&self, cloud: Cloud, timeout: Duration) -> Result<(), PnrpError> {
        self.wait_state(cloud, timeout, |s| s == CloudState::Active).await.map(|_| ())
    }

    /// Waits until the state of `cloud` satisfies `want`, at most `timeout`; returns that
    /// state, or [`PnrpError::CloudNotReady`] with the state it is in after the timeout.
    pub async fn wait_state(
        &self,
        cloud: Cloud,
        timeout: Duration,
        mut want: impl FnMut(CloudState) -> bool,
    ) -> Result<CloudState, PnrpError> {
        let mut rx = self.inner.shared.watch_state(cloud);
        let waited =
            tokio::time::timeout(timeout, async { rx.wait_for(|s| want(*s)).await.map(|s| *s) })
                .await;
        match waited {
            Ok(Ok(state)) => Ok(state),
            Ok(Err(_)) => Err(PnrpError::Stopped),
            Err(_) => Err(PnrpError::CloudNotReady { cloud, state: self.cloud_state(cloud) }),
        }
    }

    /// A cloud's state, size estimate, routing table and store counts.
    pub async fn cloud_info(&self, cloud: Cloud) -> Result<CloudInfo, PnrpError> {
        let core = self.core()?;
        self.inner.shared.query(&core, cloud).await
    }

    /// Registers `name` in the Global cloud with this node's identity key, and returns
    /// once its replicas confirmed it (or the cloud is alone). `name` must belong to the
    /// identity (its authority is the identity's) unless it is unsecured (`0.…`).
    pub async fn register(
        &self,
        name: PeerName,
        endpoints: Endpoints,
        comment: &str,
        payload: Option<Vec<u8>>,
    ) -> Result<Registration, PnrpError> {
        let endpoints = self.resolve_endpoints(endpoints)?;
        let mut request = RegisterRequest::new(name, self.inner.signer.clone(), endpoints);
        request.comment = comment.to_owned();
        request.payload = payload;
        self.register_request(request).await
    }

    /// Registers with every option of the core's [`RegisterRequest`] (cloud, signer and
    /// delegation, instance tag, address hint).
    pub async fn register_request(
        &self,
        request: RegisterRequest,
    ) -> Result<Registration, PnrpError> {
        let id = RegistrationId(self.inner.shared.next_id());
        let state = self.inner.shared.add_registration(id);
        let mut registration = Registration {
            pnrp: self.clone(),
            id,
            name: request.name.clone(),
            cloud: request.cloud,
            endpoints: request.endpoints.clone(),
            state,
            finished: true,
        };
        if let Err(e) = self.command(Command::Register { id, request }).await {
            self.inner.shared.remove_registration(id);
            return Err(e);
        }
        let timeout = self.inner.confirm_timeout;
        let waited = tokio::time::timeout(timeout, async {
            registration
                .state
                .wait_for(|s| s.registered.is_some() || s.failed.is_some())
                .await
                .map(|s| s.failed.clone())
        })
        .await;
        match waited {
            Ok(Ok(failed)) => {
                if let Some((_, e)) = failed {
                    self.inner.shared.remove_registration(id);
                    return Err(PnrpError::Registration(e));
                }
            }
            Ok(Err(_)) => return Err(PnrpError::Stopped),
            Err(_) => {
                // Not confirmed: withdraw it (dropping an unfinished registration
                // unregisters it).
                registration.finished = false;
                return Err(PnrpError::RegistrationTimedOut {
                    name: registration.name.clone(),
                    after: timeout,
                });
            }
        }
        registration.finished = false;
        Ok(registration)
    }

    /// Resolves `name`: the instances found, or an error that says why there are none
    /// ([`PnrpError::NotFound`], [`PnrpError::TimedOut`], [`PnrpError::CloudNotReady`],
    /// [`PnrpError::Busy`]).
    pub async fn resolve(
        &self,
        name: &PeerName,
        options: ResolveOptions,
    ) -> Result<Vec<Instance>, PnrpError> {
        let stream = self.resolve_stream(name, options).await?;
        let timeout_err = stream.timeout;
        let resolved = stream.finish().await?;
        match resolved.outcome {
            crate::proto::ResolveOutcome::Found => Ok(resolved.instances),
            crate::proto::ResolveOutcome::NotFound => {
                Err(PnrpError::NotFound { name: resolved.name })
            }
            crate::proto::ResolveOutcome::TimedOut => {
                Err(PnrpError::TimedOut { name: resolved.name, after: timeout_err })
            }
            crate::proto::ResolveOutcome::CloudNotReady => Err(PnrpError::CloudNotReady {
                cloud: resolved.cloud,
                state: self.cloud_state(resolved.cloud),
            }),
            crate::proto::ResolveOutcome::Busy => Err(PnrpError::Busy { name: resolved.name }),
        }
    }

    /// Resolves `name` and returns how it ended whatever the outcome, with the resolve's
    /// cost ([`Resolved::stats`]).
    pub async fn resolve_detailed(
        &self,
        name: &PeerName,
        options: ResolveOptions,
    ) -> Result<Resolved, PnrpError> {
        self.resolve_stream(name, options).await?.finish().await
    }

    /// Starts resolving `name`; the instances arrive on the returned stream as the lookup
    /// finds them.
    pub async fn resolve_stream(
        &self,
        name: &PeerName,
        options: ResolveOptions,
    ) -> Result<ResolveStream, PnrpError> {
        let id = ResolveId(self.inner.shared.next_id());
        let rx = self.inner.shared.add_resolve(id);
        let request = ResolveRequest {
            name: name.clone(),
            cloud: options.cloud,
            max_results: options.max_results,
            timeout: options.timeout,
            hint: options.hint,
        };
        if let Err(e) = self.command(Command::Resolve { id, request }).await {
            self.inner.shared.remove_resolve(id);
            return Err(e);
        }
        Ok(ResolveStream {
            shared: self.inner.shared.clone(),
            id,
            name: name.clone(),
            cloud: options.cloud,
            timeout: options.timeout,
            rx,
            deadline: Box::pin(tokio::time::sleep(options.timeout + resolve::RESOLVE_GRACE)),
            done: None,
            stopped: false,
        })
    }

    /// Hands the core a peer of `cloud` learned elsewhere (another discovery mechanism, a
    /// peer the application knows).
    pub async fn add_peer(&self, cloud: Cloud, peer: PeerAddr) -> Result<(), PnrpError> {
        self.command(Command::AddPeer { cloud, peer }).await
    }

    /// Writes the routing cache now; returns the entries written (0 and nothing written
    /// when the table is empty or the cache is off).
    pub async fn save_cache(&self) -> Result<usize, PnrpError> {
        let Some(path) = &self.inner.cache else {
            return Ok(0);
        };
        save_cache(&self.inner.shared, &self.core()?, path, self.inner.node).await
    }

    /// Stops the node: no new commands, LAN discovery ends, the routing cache is written
    /// one last time, and the actor stops once the tasks let go of it. Registrations are
    /// not revoked (unregister them first to revoke); they expire at their replicas.
    pub async fn shutdown(&self) -> Result<(), PnrpError> {
        self.inner.core.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        self.inner.shutdown.send_replace(true);
        let discovery =
            self.inner.discovery.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(d) = discovery {
            let _ = d.await;
        }
        let housekeeping = self
            .inner
            .housekeeping
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        match housekeeping {
            Some(h) => h.await.unwrap_or(Ok(())),
            None => Ok(()),
        }
    }
}

fn random_seed() -> u64 {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 8];
    // SystemRandom fails only if the OS has no entropy source at all; fall back to the
    // clock, which is enough for routing-table jitter and transaction ids.
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        #[allow(clippy::disallowed_methods)]
        let t = UnixTime::now().as_millis();
        return t ^ 0x9e37_79b9_7f4a_7c15;
    }
    u64::from_be_bytes(b)
}

async fn save_cache(
    shared: &router::Shared,
    core: &Handle<Command>,
    path: &std::path::Path,
    me: NodeId,
) -> Result<usize, PnrpError> {
    let info = shared.query(core, Cloud::Global).await?;
    let peers = cache::select(info.table);
    if peers.is_empty() {
        // Keep what an earlier run saved rather than overwrite it with nothing.
        return Ok(0);
    }
    #[allow(clippy::disallowed_methods)] // driver code: the file records when it was written
    let bytes = cache::encode(me, &peers, UnixTime::now());
    let path = path.to_path_buf();
    let n = peers.len();
    tokio::task::spawn_blocking(move || cache::write_atomic(&path, &bytes))
        .await
        .map_err(|_| PnrpError::Stopped)??;
    debug!(entries = n, "routing cache written");
    Ok(n)
}

struct Housekeeping {
    shared: Arc<router::Shared>,
    core: Handle<Command>,
    endpoint: Endpoint,
    node: NodeId,
    cache: Option<PathBuf>,
    save_interval: Duration,
    unresolved: Vec<SocketAddr>,
    dial_timeout: Duration,
    retry_interval: Duration,
    shutdown: watch::Receiver<bool>,
}

/// Periodic cache writes and seed retries; the last cache write at shutdown.
async fn housekeeping(mut h: Housekeeping) -> Result<(), PnrpError> {
    let mut save = tokio::time::interval(h.save_interval.max(Duration::from_secs(1)));
    save.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    save.tick().await; // the first tick is immediate
    let mut retry = tokio::time::interval(h.retry_interval.max(Duration::from_secs(1)));
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    retry.tick().await;
    loop {
        tokio::select! {
            _ = h.shutdown.changed() => break,
            _ = save.tick(), if h.cache.is_some() => {
                if let Some(path) = &h.cache
                    && let Err(e) = save_cache(&h.shared, &h.core, path, h.node).await
                {
                    warn!(error = %e, "routing cache not written");
                }
            }
            _ = retry.tick(), if !h.unresolved.is_empty() => {
                let dial = seeds::learn_all(&h.endpoint, &h.unresolved, h.dial_timeout);
                let (learned, failed) = tokio::select! {
                    r = dial => r,
                    _ = h.shutdown.changed() => break,
                };
                h.unresolved = failed;
                for peer in learned {
                    if peer.node != h.node
                        && h.core.command(Command::AddPeer { cloud: Cloud::Global, peer }).await.is_err()
                    {
                        return Ok(());
                    }
                }
            }
        }
    }
    match &h.cache {
        Some(path) => save_cache(&h.shared, &h.core, path, h.node).await.map(|_| ()),
        None => Ok(()),
    }
}
