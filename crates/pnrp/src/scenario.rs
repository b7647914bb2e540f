//! Simulated PNRP clouds at scale (`proto-specs/pnrp.md` §11): [`run`] builds N nodes on
//! [`peergroup_sim::Sim`], lets them bootstrap honestly through a few seed nodes, registers
//! names, optionally adds churn and adversaries, runs R resolves and returns a [`Report`].
//!
//! # The run, phase by phase
//!
//! 1. **Keys.** Node `i` gets the Ed25519 key of seed `SHA-256("peergroup/pnrp/scenario/v1"
//!    ‖ u64 seed ‖ u64 i)`; its node id is the key's SPKI hash, its name
//!    `<authority>.node-<i>`. Adversaries are a random `adversarial_fraction` of the
//!    non-seed nodes, placed anywhere.
//! 2. **Bootstrap.** The first `seeds` nodes start together; every other node is added at
//!    `join_rate` nodes per second with those seeds as its only knowledge, and joins by the
//!    protocol's own bootstrap (§5.4). No table is pre-filled. Then `settle_secs` pass.
//! 3. **Registration.** Every honest node registers its name (spread over a few seconds);
//!    the phase ends when every registration reported `Registered`. With adversaries, every
//!    registration is then updated once (new endpoints, higher sequence) so that
//!    adversaries holding the first version have something stale to serve.
//!    `setup_seconds` is the wall time of phases 1–3.
//! 4. **Churn** (optional). Every non-seed node alternates between exponential sessions
//!    and downtimes (medians `churn_median_session_secs`, `churn_median_downtime_secs`;
//!    the downtime defaults to the session median, so half the nodes are down at any
//!    time). A restart is a cold start: empty table, empty store, bootstrap from the seeds;
//!    a registrant registers its name again. Seeds do not churn. The cloud runs for a
//!    warm-up of twice the median session (at least 120 s) before measuring.
//! 5. **Maintenance window.** `maintenance_window_secs` of virtual time with no resolve:
//!    every byte sent then is upkeep (bootstrap of restarting nodes, refresh, liveness,
//!    registration rounds, hand-over). `maintenance_bytes_per_node_per_sec` = wire bytes
//!    sent in the window / (live nodes × seconds), live nodes sampled every 100 ms.
//! 6. **Resolves.** `resolves` resolves at `resolve_rate` per second. Each picks a random
//!    live honest node as resolver and a random name whose registrant is live and has
//!    completed its registration in its current incarnation (the names an application
//!    would expect to resolve), with `max_results` = 16 and `resolve_timeout_secs`.
//!
//! # What is measured
//!
//! * A resolve **succeeds** if it ends `Found` with the registrant's instance among the
//!   results. Resolves whose resolver crashed before the end are *abandoned* and left out
//!   of `success_rate` (reported separately).
//! * **hops**: the depth of the answer that completed the resolve (§7.1), over successful
//!   resolves; 0 when the resolver held the name itself.
//! * **messages per resolve**: the requests the resolver sent for it, answered or not
//!   (responses are not added: each request gets at most one). This is what libp2p-kad
//!   counts per lookup. `responses_per_resolve_median` and `bytes_per_resolve_median`
//!   (requests and responses) are reported beside it.
//! * **forged_accepted**: delivered instances that the registrant of the name did not
//!   produce — the signer is not the registrant's key, or the endpoints are not ones it
//!   registered, or the CPA is expired at delivery, or (when adversaries run) the exact
//!   signed bytes fail an independent Ed25519 check against the registrant's key.
//!   **stale_accepted**: delivered instances older than the registrant's newest version
//!   that had completed registration before the resolve started.
//! * `peak_rss_bytes`: the process's peak resident set, including everything the process
//!   did before (`ru_maxrss` on Linux and macOS, the peak working set on Windows).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant as WallClock};

use peergroup_base::{Classifier, Instant, NodeId, PeerAddr, PeerName};
use peergroup_sim::{Churn, ChurnNodes, Dist, NodeIdx, Sim, SimConfig, node_socket_addr};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::proto::{
    Adversary, Cloud, CloudState, Command, Config, CpaBody, CpaDigest, CpaSigner, Event, Pnrp,
    RegisterRequest, RegistrationId, ResolveId, ResolveOutcome, ResolveRequest, SharedVerdicts,
};

/// Parameters of a simulated run.
#[derive(Debug, Clone)]
pub struct Params {
    /// Nodes in the cloud (seeds and adversaries included).
    pub nodes: usize,
    /// Resolves to run.
    pub resolves: usize,
    /// Median session length for churn; `None`: no churn.
    pub churn_median_session_secs: Option<f64>,
    /// Median downtime for churn; `None`: the session median.
    pub churn_median_downtime_secs: Option<f64>,
    /// Fraction of non-seed nodes that are adversaries (0 … 1).
    pub adversarial_fraction: f64,
    /// Disjoint lookup paths d (1: none). With d > 1 each path needs answers from 2
    /// replicas (the protocol's recommended secure setting, [`Config::path_quorum`]).
    pub disjoint_paths: usize,
    /// Seed of everything (keys, network, choices).
    pub seed: u64,
    /// Seed nodes every other node bootstraps from. Default: 4.
    pub seeds: usize,
    /// Nodes joining per virtual second. Default: 200.
    pub join_rate: f64,
    /// Virtual seconds between the last join and the registrations. Default: 30.
    pub settle_secs: f64,
    /// Resolves started per virtual second. Default: 2,000.
    pub resolve_rate: f64,
    /// Timeout of each resolve. Default: 10 s.
    pub resolve_timeout_secs: f64,
    /// Length of the maintenance window; `None`: twice the median session with churn
    /// (at least 120 s), 60 s without.
    pub maintenance_window_secs: Option<f64>,
    /// The protocol configuration of every node (its `seeds` are filled in by the run).
    pub config: Config,
}

impl Params {
    /// `nodes` nodes, `resolves` resolves, no churn, no adversary, seed 1, defaults above.
    pub fn new(nodes: usize, resolves: usize) -> Self {
        Params {
            nodes,
            resolves,
            churn_median_session_secs: None,
            churn_median_downtime_secs: None,
            adversarial_fraction: 0.0,
            disjoint_paths: 1,
            seed: 1,
            seeds: 4,
            join_rate: 200.0,
            settle_secs: 30.0,
            resolve_rate: 2000.0,
            resolve_timeout_secs: 10.0,
            maintenance_window_secs: None,
            config: Config::default(),
        }
    }
}

/// The result of a run (serialised as one JSON object by the CLI and the bench).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Nodes in the cloud.
    pub nodes: usize,
    /// Seed nodes.
    pub seeds: usize,
    /// Adversarial nodes.
    pub adversaries: usize,
    /// Names registered (one per honest node).
    pub names: usize,
    /// Resolves started.
    pub resolves: usize,
    /// Resolves whose resolver crashed before they ended (excluded from the rate).
    pub abandoned: usize,
    /// Resolves that found the registrant's instance.
    pub succeeded: usize,
    /// `succeeded / (resolves - abandoned)`.
    pub success_rate: f64,
    /// Resolves that ended `NotFound`.
    pub not_found: usize,
    /// Resolves that ended `TimedOut`.
    pub timed_out: usize,
    /// Resolves that ended otherwise without success (busy, cloud not ready, wrong result).
    pub other_failures: usize,
    /// Median hops of successful resolves.
    pub hops_median: f64,
    /// 99th percentile of hops of successful resolves.
    pub hops_p99: f64,
    /// Mean hops of successful resolves.
    pub hops_mean: f64,
    /// Median requests sent per resolve (all ended resolves).
    pub messages_per_resolve_median: f64,
    /// 99th percentile of requests per resolve.
    pub messages_per_resolve_p99: f64,
    /// Mean requests per resolve.
    pub messages_per_resolve_mean: f64,
    /// Median responses received per resolve.
    pub responses_per_resolve_median: f64,
    /// Median wire bytes (requests + responses) per resolve.
    pub bytes_per_resolve_median: f64,
    /// Median resolve latency, milliseconds of virtual time.
    pub latency_ms_median: f64,
    /// 99th percentile resolve latency.
    pub latency_ms_p99: f64,
    /// Upkeep traffic per live node, bytes sent per second (see the module docs).
    pub maintenance_bytes_per_node_per_sec: f64,
    /// Length of the maintenance window, virtual seconds.
    pub maintenance_window_secs: f64,
    /// Delivered instances the registrant did not produce (must be 0).
    pub forged_accepted: usize,
    /// Delivered instances older than the registrant's newest completed version.
    pub stale_accepted: usize,
    /// CPAs refused as forgeries by live honest nodes at the end (a lower bound: crashed
    /// nodes' counters are lost).
    pub forged_rejected: u64,
    /// Median routing-table size of live honest nodes at the end.
    pub table_size_median: f64,
    /// Median size estimate of live honest nodes at the end.
    pub size_estimate_median: f64,
    /// Ed25519 verifications run by live nodes at the end (a lower bound with churn).
    pub signature_checks: u64,
    /// Counters summed over the nodes live at the end (a lower bound with churn).
    pub counters: crate::proto::Counters,
    /// Wall seconds to bring the cloud up (keys, bootstrap, registration).
    pub setup_seconds: f64,
    /// Of which: keys and bootstrap (every node joined, then `settle_secs`).
    pub bootstrap_seconds: f64,
    /// Wall seconds of the resolve phase.
    pub resolve_seconds: f64,
    /// Messages sent during bootstrap, per node.
    pub bootstrap_messages_per_node: f64,
    /// Wire bytes sent during bootstrap, per node.
    pub bootstrap_bytes_per_node: f64,
    /// Messages sent during registration, per name.
    pub registration_messages_per_name: f64,
    /// Wire bytes sent during registration, per name.
    pub registration_bytes_per_name: f64,
    /// Virtual seconds simulated in total.
    pub sim_seconds: f64,
    /// Wall seconds of the whole run.
    pub wall_seconds: f64,
    /// Peak resident set of the process, bytes (see [`peak_rss_bytes`]).
    pub peak_rss_bytes: Option<u64>,
    /// Messages the simulator carried.
    pub sim_messages: u64,
    /// Events the simulator processed.
    pub sim_events: u64,
    /// Median churn session, if any.
    pub churn_median_session_secs: Option<f64>,
    /// Median churn downtime, if any.
    pub churn_median_downtime_secs: Option<f64>,
    /// Adversarial fraction asked for.
    pub adversarial_fraction: f64,
    /// Disjoint paths.
    pub disjoint_paths: usize,
    /// The seed.
    pub seed: u64,
}

/// Why a run could not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The parameters make no sense.
    #[error("invalid scenario parameters: {0}")]
    InvalidParams(String),
    /// The simulator stopped (an invariant failed).
    #[error(transparent)]
    Sim(#[from] peergroup_sim::SimError),
    /// Registrations did not complete within the setup deadline.
    #[error("only {done} of {total} registrations completed within {secs} virtual seconds")]
    RegistrationStalled {
        /// Completed.
        done: usize,
        /// Asked.
        total: usize,
        /// The deadline.
        secs: u64,
    },
}

/// Peak resident set size of this process in bytes ([`peergroup_os::peak_rss_bytes`]:
/// `getrusage` on Unix, `GetProcessMemoryInfo` on Windows); `None` if the OS does not say.
pub fn peak_rss_bytes() -> Option<u64> {
    peergroup_os::peak_rss_bytes()
}

/// The key seed of node `i` in a run seeded `seed`.
pub fn node_key_seed(seed: u64, i: usize) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"peergroup/pnrp/scenario/v1");
    ctx.update(&seed.to_be_bytes());
    ctx.update(&(i as u64).to_be_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// A node of a simulated cloud: its key, name and address.
#[derive(Debug, Clone)]
pub struct SimNode {
    /// Its signing key.
    pub signer: CpaSigner,
    /// Its node id and simulator address.
    pub addr: PeerAddr,
    /// The name it registers.
    pub name: PeerName,
}

/// The keys, names and addresses of nodes `0..n` of a run seeded `seed`.
pub fn sim_nodes(seed: u64, n: usize) -> Vec<SimNode> {
    (0..n)
        .map(|i| {
            let signer = CpaSigner::from_seed(&node_key_seed(seed, i));
            let node: NodeId = signer.node_id();
            let addr = PeerAddr { node, addr: node_socket_addr(NodeIdx(i as u32)) };
            // Invariant: "node-<digits>" is a valid classifier (ASCII, no control chars).
            #[allow(clippy::expect_used)]
            let classifier = Classifier::new(&format!("node-{i}")).expect("valid classifier");
            SimNode { name: PeerName::new(signer.authority(), classifier), signer, addr }
        })
        .collect()
}

/// The endpoint node `i` registers in version `v` of its registration.
fn endpoint_of(i: usize, version: u16) -> SocketAddr {
    let a = node_socket_addr(NodeIdx(i as u32));
    SocketAddr::new(a.ip(), 40_000 + version)
}

#[derive(Debug)]
struct Done {
    /// Virtual time of the end.
    at: Instant,
    outcome: ResolveOutcome,
    instances: Vec<crate::proto::Instance>,
    stats: crate::proto::ResolveStats,
}

#[derive(Default, Debug)]
struct Collected {
    registered: Vec<(usize, u64, CpaDigest)>,
    resolved: Vec<(ResolveId, Done)>,
    syncing: Vec<usize>,
}

#[derive(Debug, Clone, Copy)]
struct NameState {
    /// Incarnation of the registrant when its registration completed.
    incarnation: Option<u32>,
    /// Newest sequence that completed, and when.
    sequence: u64,
}

struct Pending {
    resolver: usize,
    resolver_incarnation: u32,
    target: usize,
    /// Newest completed sequence of the target at issue time.
    sequence: u64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 }
}

/// Everything a run keeps between phases.
struct World {
    sim: Sim<Pnrp>,
    nodes: Vec<SimNode>,
    adversary: Vec<bool>,
    collected: Rc<RefCell<Collected>>,
    names: Vec<NameState>,
    /// Endpoint version each registrant currently registers.
    version: Vec<u16>,
    rng: ChaCha8Rng,
}

impl World {
    fn is_registrant(&self, i: usize) -> bool {
        !self.adversary[i]
    }

    fn register(&mut self, i: usize, at: Instant) {
        let n = &self.nodes[i];
        let mut req = RegisterRequest::new(
            n.name.clone(),
            n.signer.clone(),
            vec![endpoint_of(i, self.version[i])],
        );
        req.comment = format!("node {i}");
        // one registration id per node (re-registration after a restart reuses it: the
        // new state knows nothing of the old one)
        let id = RegistrationId(i as u64);
        self.sim.schedule_command(at, NodeIdx(i as u32), Command::Register { id, request: req });
    }

    /// Processes collected events: completed registrations and re-registration of
    /// restarted registrants.
    fn absorb_registrations(&mut self) {
        let (registered, syncing) = {
            let mut c = self.collected.borrow_mut();
            (std::mem::take(&mut c.registered), std::mem::take(&mut c.syncing))
        };
        for (i, seq, _digest) in registered {
            let inc = self.sim.incarnation(NodeIdx(i as u32));
            let st = &mut self.names[i];
            st.incarnation = inc;
            st.sequence = st.sequence.max(seq);
        }
        for i in syncing {
            let inc = self.sim.incarnation(NodeIdx(i as u32)).unwrap_or(0);
            if inc > 0 && self.is_registrant(i) && self.sim.is_up(NodeIdx(i as u32)) {
                // a restarted registrant registers its name again
                self.names[i].incarnation = None;
                let now = self.sim.now();
                self.register(i, now);
            }
        }
    }

    fn live_nodes(&self) -> usize {
        (0..self.nodes.len()).filter(|&i| self.sim.is_up(NodeIdx(i as u32))).count()
    }

    fn registered_now(&self, i: usize) -> bool {
        let idx = NodeIdx(i as u32);
        self.sim.is_up(idx)
            && self.names[i].incarnation.is_some()
            && self.names[i].incarnation == self.sim.incarnation(idx)
    }
}

/// Runs a scenario (see the module documentation).
// The scenario measures its own wall-clock cost (setup_seconds, wall_seconds): it is a
// tool around the simulator, not a protocol core, and no core sees these readings.
#[allow(clippy::disallowed_methods)]
pub fn run(params: &Params) -> Result<Report, ScenarioError> {
    let wall = WallClock::now();
    let n = params.nodes;
    let seeds = params.seeds.max(1);
    if n < 2 || seeds >= n {
        return Err(ScenarioError::InvalidParams(format!(
            "need at least 2 nodes and fewer seeds than nodes (nodes {n}, seeds {seeds})"
        )));
    }
    if !(0.0..1.0).contains(&params.adversarial_fraction) {
        return Err(ScenarioError::InvalidParams("adversarial_fraction must be in [0, 1)".into()));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed ^ 0x5ce7_a210);
    let nodes = sim_nodes(params.seed, n);

    // adversaries: a random subset of the non-seed nodes
    let mut adversary = vec![false; n];
    let n_adv = ((n - seeds) as f64 * params.adversarial_fraction).round() as usize;
    let mut candidates: Vec<usize> = (seeds..n).collect();
    candidates.shuffle(&mut rng);
    for &i in candidates.iter().take(n_adv) {
        adversary[i] = true;
    }
    let coalition: Arc<Vec<PeerAddr>> =
        Arc::new((0..n).filter(|&i| adversary[i]).map(|i| nodes[i].addr).collect());
    let oracle: Arc<BTreeMap<peergroup_base::P2pId, PeerName>> = Arc::new(
        (0..n)
            .filter(|&i| !adversary[i])
            .map(|i| (nodes[i].name.p2p_id(), nodes[i].name.clone()))
            .collect(),
    );

    let mut config = params.config.clone();
    config.disjoint_paths = params.disjoint_paths.max(1);
    if config.disjoint_paths > 1 {
        config.path_quorum = config.path_quorum.max(2);
    }
    let seed_addrs: Vec<PeerAddr> = nodes[..seeds].iter().map(|s| s.addr).collect();
    config.seeds = seed_addrs;
    let config = Arc::new(config);

    let sim_config = SimConfig { seed: params.seed, record_events: false, ..SimConfig::default() };
    let start_unix = sim_config.start_unix;
    let mut sim: Sim<Pnrp> = Sim::new(sim_config);
    let collected = Rc::new(RefCell::new(Collected::default()));
    {
        let c = Rc::clone(&collected);
        sim.on_event(move |e| {
            let node = e.node.index();
            match &e.event {
                Event::Registered { sequence, digest, .. } => {
                    c.borrow_mut().registered.push((node, *sequence, *digest))
                }
                Event::ResolveDone { id, outcome, instances, stats } => {
                    c.borrow_mut().resolved.push((
                        *id,
                        Done {
                            at: e.at,
                            outcome: *outcome,
                            instances: instances.clone(),
                            stats: *stats,
                        },
                    ))
                }
                Event::CloudState { cloud: Cloud::Global, state: CloudState::Synchronising } => {
                    c.borrow_mut().syncing.push(node)
                }
                _ => {}
            }
        });
    }
    let mut w = World {
        sim,
        nodes,
        adversary,
        collected,
        names: vec![NameState { incarnation: None, sequence: 0 }; n],
        version: vec![0; n],
        rng,
    };

    // ---- phase 2: bootstrap -------------------------------------------------------------
    // every node runs each distinct CPA's Ed25519 check once between them (no figure changes)
    let verdicts = SharedVerdicts::new();
    let add = |w: &mut World, i: usize| {
        let addr = w.nodes[i].addr;
        let cfg = Arc::clone(&config);
        let verdicts = verdicts.clone();
        let adv = w.adversary[i]
            .then(|| (w.nodes[i].signer.clone(), Arc::clone(&coalition), Arc::clone(&oracle)));
        w.sim.add_node_with_id(addr.node, move |ctx| {
            let c = (*cfg).clone();
            let mut node = match &adv {
                Some((signer, coalition, oracle)) => Pnrp::with_adversary(
                    addr,
                    c,
                    ctx.seed,
                    Adversary::new(addr, signer.clone(), Arc::clone(coalition), Arc::clone(oracle)),
                ),
                None => Pnrp::new(addr, c, ctx.seed),
            };
            node.share_verdicts(verdicts.clone());
            node
        });
    };
    for i in 0..seeds {
        add(&mut w, i);
    }
    let join_step = Duration::from_secs_f64(1.0 / params.join_rate.max(1e-3));
    for i in seeds..n {
        let at = w.sim.now() + join_step;
        w.sim.run_until(at)?;
        add(&mut w, i);
    }
    w.sim.run_for(Duration::from_secs_f64(params.settle_secs))?;
    let bootstrap_seconds = wall.elapsed().as_secs_f64();
    let bootstrap_messages = w.sim.stats().messages_sent;
    let bootstrap_bytes = w.sim.stats().bytes_sent;

    // ---- phase 3: registration ----------------------------------------------------------
    let registrants: Vec<usize> = (0..n).filter(|&i| w.is_registrant(i)).collect();
    let spread = Duration::from_secs_f64((registrants.len() as f64 / 2000.0).max(1.0));
    let t0 = w.sim.now();
    for (k, &i) in registrants.iter().enumerate() {
        let at = t0 + spread.mul_f64(k as f64 / registrants.len() as f64);
        w.register(i, at);
    }
    let deadline = t0 + spread + Duration::from_secs(120);
    let slice = Duration::from_millis(100);
    loop {
        w.sim.run_for(slice)?;
        w.absorb_registrations();
        let done = registrants.iter().filter(|&&i| w.names[i].incarnation.is_some()).count();
        if done == registrants.len() {
            break;
        }
        if w.sim.now() >= deadline {
            return Err(ScenarioError::RegistrationStalled {
                done,
                total: registrants.len(),
                secs: (deadline - t0).as_secs(),
            });
        }
    }
    if n_adv > 0 {
        // a second version of every registration, so that stale copies exist
        let t1 = w.sim.now();
        for (k, &i) in registrants.iter().enumerate() {
            w.version[i] = 1;
            let at = t1 + spread.mul_f64(k as f64 / registrants.len() as f64);
            w.sim.schedule_command(
                at,
                NodeIdx(i as u32),
                Command::Update {
                    id: RegistrationId(i as u64),
                    endpoints: vec![endpoint_of(i, 1)],
                    comment: format!("node {i} v2"),
                    payload: None,
                },
            );
        }
        let first: Vec<u64> = registrants.iter().map(|&i| w.names[i].sequence).collect();
        let deadline = t1 + spread + Duration::from_secs(120);
        loop {
            w.sim.run_for(slice)?;
            w.absorb_registrations();
            let done =
                registrants.iter().zip(&first).filter(|&(&i, &s)| w.names[i].sequence > s).count();
            if done == registrants.len() {
                break;
            }
            if w.sim.now() >= deadline {
                return Err(ScenarioError::RegistrationStalled {
                    done,
                    total: registrants.len(),
                    secs: (deadline - t1).as_secs(),
                });
            }
        }
    }
    let setup_seconds = wall.elapsed().as_secs_f64();
    let registration_messages = w.sim.stats().messages_sent - bootstrap_messages;
    let registration_bytes = w.sim.stats().bytes_sent - bootstrap_bytes;

    // ---- phase 4: churn ------------------------------------------------------------------
    let downtime = params.churn_median_downtime_secs.or(params.churn_median_session_secs);
    if let Some(session) = params.churn_median_session_secs {
        let churners: Vec<NodeIdx> = (seeds..n).map(|i| NodeIdx(i as u32)).collect();
        w.sim.enable_churn(Churn {
            session: Dist::Exponential { median: Duration::from_secs_f64(session) },
            downtime: Dist::Exponential {
                median: Duration::from_secs_f64(downtime.unwrap_or(session)),
            },
            nodes: ChurnNodes::Only(churners),
        });
        let warmup = Duration::from_secs_f64((2.0 * session).max(120.0));
        let end = w.sim.now() + warmup;
        while w.sim.now() < end {
            w.sim.run_for(slice)?;
            w.absorb_registrations();
        }
    }

    // ---- phase 5: maintenance window ----------------------------------------------------
    let window = params.maintenance_window_secs.unwrap_or(match params.churn_median_session_secs {
        Some(s) => (2.0 * s).max(120.0),
        None => 60.0,
    });
    let bytes_before = w.sim.stats().bytes_sent;
    let mut live_samples = 0.0f64;
    let mut samples = 0u64;
    let end = w.sim.now() + Duration::from_secs_f64(window);
    while w.sim.now() < end {
        w.sim.run_for(slice)?;
        w.absorb_registrations();
        live_samples += w.live_nodes() as f64;
        samples += 1;
    }
    let maintenance_bytes = (w.sim.stats().bytes_sent - bytes_before) as f64;
    let avg_live = if samples > 0 { live_samples / samples as f64 } else { n as f64 };
    let maintenance_bytes_per_node_per_sec =
        maintenance_bytes / (avg_live.max(1.0) * window.max(1e-9));

    // ---- phase 6: resolves --------------------------------------------------------------
    let resolve_wall = WallClock::now();
    let mut pending: BTreeMap<ResolveId, Pending> = BTreeMap::new();
    let mut outcomes: Vec<(Pending, Done)> = Vec::new();
    let per_slice = (params.resolve_rate * slice.as_secs_f64()).max(1.0);
    let timeout = Duration::from_secs_f64(params.resolve_timeout_secs);
    let mut issued = 0usize;
    let mut budget = 0.0f64;
    let honest: Vec<usize> = (0..n).filter(|&i| !w.adversary[i]).collect();
    let mut last_issue = w.sim.now();
    while issued < params.resolves || !pending.is_empty() {
        if issued < params.resolves {
            budget += per_slice;
            let now = w.sim.now();
            let batch = (budget.floor() as usize).min(params.resolves - issued);
            budget -= batch as f64;
            for b in 0..batch {
                let Some((resolver, target)) = pick_pair(&mut w, &honest) else {
                    break;
                };
                let at = now + slice.mul_f64(b as f64 / batch.max(1) as f64);
                let id = ResolveId(issued as u64);
                let request = ResolveRequest {
                    name: w.nodes[target].name.clone(),
                    cloud: Cloud::Global,
                    max_results: 16,
                    timeout,
                    hint: None,
                };
                w.sim.schedule_command(
                    at,
                    NodeIdx(resolver as u32),
                    Command::Resolve { id, request },
                );
                pending.insert(
                    id,
                    Pending {
                        resolver,
                        resolver_incarnation: w
                            .sim
                            .incarnation(NodeIdx(resolver as u32))
                            .unwrap_or(0),
                        target,
                        sequence: w.names[target].sequence,
                    },
                );
                issued += 1;
                last_issue = at;
            }
        }
        w.sim.run_for(slice)?;
        w.absorb_registrations();
        let done = std::mem::take(&mut w.collected.borrow_mut().resolved);
        for (id, d) in done {
            if let Some(p) = pending.remove(&id) {
                outcomes.push((p, d));
            }
        }
        // resolves whose resolver crashed never end: give up on them after the timeout
        if issued >= params.resolves && w.sim.now() > last_issue + timeout + Duration::from_secs(5)
        {
            break;
        }
    }
    let resolve_seconds = resolve_wall.elapsed().as_secs_f64();
    let abandoned_ids: Vec<ResolveId> = pending.keys().copied().collect();
    let mut abandoned = 0usize;
    let mut lost = 0usize;
    for id in abandoned_ids {
        if let Some(p) = pending.remove(&id) {
            let idx = NodeIdx(p.resolver as u32);
            if !w.sim.is_up(idx) || w.sim.incarnation(idx) != Some(p.resolver_incarnation) {
                abandoned += 1;
            } else {
                lost += 1;
            }
        }
    }

    // ---- the report ---------------------------------------------------------------------
    let check_signatures = n_adv > 0;
    let mut succeeded = 0usize;
    let (mut not_found, mut timed_out, mut other) = (0usize, 0usize, lost);
    let (mut forged, mut stale) = (0usize, 0usize);
    let mut hops = Vec::new();
    let mut msgs = Vec::new();
    let mut resps = Vec::new();
    let mut bytes = Vec::new();
    let mut lat = Vec::new();
    for (p, d) in &outcomes {
        let delivered = start_unix.saturating_add(Duration::from_micros(d.at.as_micros()));
        msgs.push(f64::from(d.stats.requests));
        resps.push(f64::from(d.stats.responses));
        bytes.push((d.stats.bytes_sent + d.stats.bytes_received) as f64);
        lat.push(d.stats.elapsed_micros as f64 / 1000.0);
        let target = &w.nodes[p.target];
        let key = target.signer.public_key();
        let mut genuine_found = false;
        for inst in &d.instances {
            let endpoints_ok = inst.endpoints.len() == 1
                && (0..=w.version[p.target]).any(|v| inst.endpoints[0] == endpoint_of(p.target, v));
            let mut ok = inst.signer == key
                && inst.name == target.name
                && endpoints_ok
                && inst.not_after > delivered;
            if ok && check_signatures {
                ok = independent_check(&inst.cpa, &key, &target.name);
            }
            if !ok {
                forged += 1;
                continue;
            }
            if inst.sequence < p.sequence {
                stale += 1;
            }
            genuine_found = true;
        }
        match d.outcome {
            ResolveOutcome::Found if genuine_found => {
                succeeded += 1;
                hops.push(f64::from(d.stats.hops));
            }
            ResolveOutcome::NotFound => not_found += 1,
            ResolveOutcome::TimedOut => timed_out += 1,
            _ => other += 1,
        }
    }
    let completed = issued - abandoned;
    for v in [&mut hops, &mut msgs, &mut resps, &mut bytes, &mut lat] {
        v.sort_by(f64::total_cmp);
    }

    let mut tables = Vec::new();
    let mut estimates = Vec::new();
    let mut forged_rejected = 0u64;
    let mut signature_checks = 0u64;
    let mut counters = crate::proto::Counters::default();
    for i in 0..n {
        if let Some(s) = w.sim.node_state(NodeIdx(i as u32)) {
            let c = s.counters();
            counters.add(&c);
            signature_checks += c.signature_checks;
            if w.adversary[i] {
                continue;
            }
            forged_rejected += c.forged_cpas;
            tables.push(s.table(Cloud::Global).len() as f64);
            if let Some(e) = s.table(Cloud::Global).size_estimate() {
                estimates.push(e);
            }
        }
    }
    tables.sort_by(f64::total_cmp);
    estimates.sort_by(f64::total_cmp);
    let stats = *w.sim.stats();
    Ok(Report {
        nodes: n,
        seeds,
        adversaries: n_adv,
        names: registrants.len(),
        resolves: issued,
        abandoned,
        succeeded,
        success_rate: if completed > 0 { succeeded as f64 / completed as f64 } else { 0.0 },
        not_found,
        timed_out,
        other_failures: other,
        hops_median: percentile(&hops, 0.5),
        hops_p99: percentile(&hops, 0.99),
        hops_mean: mean(&hops),
        messages_per_resolve_median: percentile(&msgs, 0.5),
        messages_per_resolve_p99: percentile(&msgs, 0.99),
        messages_per_resolve_mean: mean(&msgs),
        responses_per_resolve_median: percentile(&resps, 0.5),
        bytes_per_resolve_median: percentile(&bytes, 0.5),
        latency_ms_median: percentile(&lat, 0.5),
        latency_ms_p99: percentile(&lat, 0.99),
        maintenance_bytes_per_node_per_sec,
        maintenance_window_secs: window,
        forged_accepted: forged,
        stale_accepted: stale,
        forged_rejected,
        table_size_median: percentile(&tables, 0.5),
        size_estimate_median: percentile(&estimates, 0.5),
        signature_checks,
        counters,
        setup_seconds,
        bootstrap_seconds,
        resolve_seconds,
        bootstrap_messages_per_node: bootstrap_messages as f64 / n as f64,
        bootstrap_bytes_per_node: bootstrap_bytes as f64 / n as f64,
        registration_messages_per_name: registration_messages as f64
            / registrants.len().max(1) as f64,
        registration_bytes_per_name: registration_bytes as f64 / registrants.len().max(1) as f64,
        sim_seconds: w.sim.now().as_micros() as f64 / 1e6,
        wall_seconds: wall.elapsed().as_secs_f64(),
        peak_rss_bytes: peak_rss_bytes(),
        sim_messages: stats.messages_sent,
        sim_events: stats.steps,
        churn_median_session_secs: params.churn_median_session_secs,
        churn_median_downtime_secs: downtime.filter(|_| params.churn_median_session_secs.is_some()),
        adversarial_fraction: params.adversarial_fraction,
        disjoint_paths: params.disjoint_paths.max(1),
        seed: params.seed,
    })
}

/// Checks a delivered CPA without the core's code path: the exact bytes decode to a body
/// for `name` signed by `key`, and the Ed25519 signature over the domain-separated bytes
/// verifies.
fn independent_check(cpa: &crate::proto::SignedCpa, key: &[u8; 32], name: &PeerName) -> bool {
    let Ok(body) = postcard::from_bytes::<CpaBody>(&cpa.body) else {
        return false;
    };
    if body.signer != *key || body.name != *name {
        return false;
    }
    let mut msg = b"peergroup/pnrp/cpa/v1".to_vec();
    msg.push(0);
    msg.extend_from_slice(&cpa.body);
    peergroup_identity::verify_signature(key, &msg, &cpa.signature)
}

/// A random live honest resolver and a random currently registered name of another node.
fn pick_pair(w: &mut World, honest: &[usize]) -> Option<(usize, usize)> {
    for _ in 0..1000 {
        let r = honest[w.rng.random_range(0..honest.len())];
        let t = honest[w.rng.random_range(0..honest.len())];
        if r != t && w.sim.is_up(NodeIdx(r as u32)) && w.registered_now(t) {
            return Some((r, t));
        }
    }
    None
}
