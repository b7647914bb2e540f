//! The [`Pnrp`] core: one node's state for every cloud, and the dispatch of inputs.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use peergroup_base::sansio::OutboxOf;
use peergroup_base::{Input, Instant, NodeId, Now, P2pId, PeerAddr, Protocol, ServiceLocation};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

#[cfg(feature = "sim")]
use crate::proto::adversary::Adversary;
use crate::proto::api::{
    CloudInfo, CloudState, Command, Event, RegistrationId, ResolveId, ResolveOutcome, TableEntry,
    Timer,
};
use crate::proto::config::Config;
use crate::proto::cpa::{CpaError, InstanceId, VerifyCache};
use crate::proto::key::Key;
use crate::proto::lookup::{Lookup, LookupParams};
use crate::proto::message::{
    Body, Cloud, MAX_CONTACTS, MAX_FOUND_CPA_BYTES, Message, Reason, StoreStatus,
};
use crate::proto::register::Registration;
use crate::proto::resolve::Resolve;
use crate::proto::store::CpaStore;
use crate::proto::table::{Failed, Offer, RoutingTable, Seen};

pub(crate) type Out = OutboxOf<Pnrp>;

/// Requests in flight by transaction id (FxHash: no per-process key, so runs replay).
pub(crate) type TxidMap<V> = rustc_hash::FxHashMap<u64, V>;

/// Counters of what a node saw and refused; for tests, tools and the simulator.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Counters {
    /// Messages refused by [`Message::check`].
    pub messages_rejected: u64,
    /// Messages for a cloud this node does not run.
    pub wrong_cloud: u64,
    /// Responses matching no request in flight (or of the wrong kind).
    pub unsolicited_responses: u64,
    /// Responses to requests of a lookup that had already ended.
    pub late_responses: u64,
    /// CPAs refused, for any reason.
    pub cpas_rejected: u64,
    /// CPAs refused as forgeries ([`CpaError::is_forgery`]).
    pub forged_cpas: u64,
    /// CPAs refused as expired.
    pub expired_cpas: u64,
    /// CPAs for another name than the one asked for.
    pub mismatched_cpas: u64,
    /// Ed25519 verifications actually run.
    pub signature_checks: u64,
    /// Verifications saved by the cache or by holding the exact CPA already.
    pub signature_checks_saved: u64,
    /// `Store`s accepted (new instance or newer version).
    pub stores_accepted: u64,
    /// `Store`s refused (invalid or full).
    pub stores_refused: u64,
    /// CPAs handed over to a new closer node.
    pub handovers: u64,
    /// Return-routability pings sent.
    pub rr_checks: u64,
    /// Contacts dropped for serving forged CPAs.
    pub contacts_punished: u64,
    /// Requests refused because too many were in flight.
    pub requests_refused: u64,
    /// Pings of a full bucket's least recently seen entry.
    pub eviction_probes: u64,
    /// Pings of quiet entries by the maintenance tick.
    pub liveness_pings: u64,
    /// Lookups started (all purposes).
    pub lookups: u64,
}

impl Counters {
    /// Adds `other` to `self`, field by field.
    pub fn add(&mut self, other: &Counters) {
        let Counters {
            messages_rejected,
            wrong_cloud,
            unsolicited_responses,
            late_responses,
            cpas_rejected,
            forged_cpas,
            expired_cpas,
            mismatched_cpas,
            signature_checks,
            signature_checks_saved,
            stores_accepted,
            stores_refused,
            handovers,
            rr_checks,
            contacts_punished,
            requests_refused,
            eviction_probes,
            liveness_pings,
            lookups,
        } = *other;
        self.messages_rejected += messages_rejected;
        self.wrong_cloud += wrong_cloud;
        self.unsolicited_responses += unsolicited_responses;
        self.late_responses += late_responses;
        self.cpas_rejected += cpas_rejected;
        self.forged_cpas += forged_cpas;
        self.expired_cpas += expired_cpas;
        self.mismatched_cpas += mismatched_cpas;
        self.signature_checks += signature_checks;
        self.signature_checks_saved += signature_checks_saved;
        self.stores_accepted += stores_accepted;
        self.stores_refused += stores_refused;
        self.handovers += handovers;
        self.rr_checks += rr_checks;
        self.contacts_punished += contacts_punished;
        self.requests_refused += requests_refused;
        self.eviction_probes += eviction_probes;
        self.liveness_pings += liveness_pings;
        self.lookups += lookups;
    }
}

/// What a request in flight is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PendingKind {
    Lookup {
        lookup: u64,
        path: u8,
    },
    /// A ping: `rr` for return-routability checks (they hold a slot of the RR pipeline),
    /// with the referrer of the contact checked.
    Ping {
        rr: bool,
        referrer: Option<NodeId>,
    },
    Store {
        owner: StoreOwner,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreOwner {
    Registration { id: RegistrationId, generation: u32 },
    Handover,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Pending {
    pub to: PeerAddr,
    pub kind: PendingKind,
}

/// Why a lookup runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Bootstrap,
    SelfRefresh,
    Refresh { bucket: usize, before: usize },
    Resolve(ResolveId),
    Register { id: RegistrationId, generation: u32 },
}

/// A lookup and the request it sends at each step.
#[derive(Debug, Clone)]
pub(crate) struct LookupEntry {
    pub lookup: Lookup,
    /// Ask candidates estimated among the `rank` closest to the target for `count`
    /// contacts instead of the request's own count: `(cloud size estimate, rank, count)`.
    pub near: Option<(f64, f64, u8)>,
    /// When the pending stall timer of this lookup fires, if one is pending.
    pub timer_at: Option<Instant>,
    pub purpose: Purpose,
    pub request: LookupRequest,
    /// Probe answers: (node, sequence it holds).
    pub holdings: Vec<(NodeId, Option<u64>)>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum LookupRequest {
    FindNode {
        target: Key,
        count: u8,
    },
    FindName {
        p2p: P2pId,
        count: u8,
        max_results: u8,
        hint: Option<ServiceLocation>,
        probe: Option<InstanceId>,
    },
}

/// The state of one cloud: its table, store, requests and lookups.
#[derive(Debug)]
pub(crate) struct CloudCore {
    pub cloud: Cloud,
    pub enabled: bool,
    pub state: CloudState,
    pub table: RoutingTable,
    pub store: CpaStore,
    pub requests: TxidMap<Pending>,
    pub lookups: BTreeMap<u64, LookupEntry>,
    pub next_lookup: u64,
    /// Contacts awaiting a return-routability ping, with their referrers.
    pub rr_queue: VecDeque<(PeerAddr, Option<NodeId>)>,
    pub rr_in_flight: usize,
    /// Last lookup into each bucket.
    pub bucket_activity: Vec<Instant>,
    /// Sparse-refresh backoff exponent of each bucket.
    pub bucket_backoff: Vec<u8>,
    pub boot_attempt: u32,
    pub bootstrap_peers: Vec<PeerAddr>,
    pub queued: VecDeque<ResolveId>,
    pub last_self_lookup: Instant,
    /// (deadline, txid) of requests in the order sent; all share one timeout, so the
    /// deadlines are sorted. Answered requests are skipped when their deadline passes.
    pub deadlines: VecDeque<(Instant, u64)>,
    /// When the pending expiry timer fires, if one is pending.
    pub expiry_at: Option<Instant>,
}

/// Most peers remembered for bootstrapping (seeds, discovered peers).
const MAX_BOOTSTRAP_PEERS: usize = 64;

/// Most requests one lookup sends, whatever its answers say: a lookup fed an endless
/// supply of ever closer fake contacts still ends (a converging lookup in a cloud of a
/// million nodes needs a few dozen).
pub(crate) const MAX_LOOKUP_REQUESTS: u32 = 256;

impl CloudCore {
    fn new(cloud: Cloud, enabled: bool, me: NodeId, config: &Config) -> Self {
        let limits = if cloud == Cloud::Global { config.subnet_limits } else { None };
        CloudCore {
            cloud,
            enabled,
            state: if enabled { CloudState::Virtual } else { CloudState::Disabled },
            table: RoutingTable::new(me, config.k, config.per_referrer, limits),
            store: CpaStore::new(Key::of_node(&me), config.store),
            requests: TxidMap::default(),
            lookups: BTreeMap::new(),
            next_lookup: 1,
            rr_queue: VecDeque::new(),
            rr_in_flight: 0,
            bucket_activity: Vec::new(),
            bucket_backoff: Vec::new(),
            boot_attempt: 0,
            bootstrap_peers: Vec::new(),
            queued: VecDeque::new(),
            last_self_lookup: Instant::ZERO,
            deadlines: VecDeque::new(),
            expiry_at: None,
        }
    }

    /// Gives back memory a burst (a join, a registration storm) left allocated: with
    /// thousands of nodes per simulator, idle capacity adds up.
    fn shrink(&mut self) {
        self.requests.shrink_to(self.requests.len().max(16));
        self.deadlines.shrink_to(self.deadlines.len().max(16));
        self.rr_queue.shrink_to(self.rr_queue.len().max(4));
    }

    fn ensure_bucket(&mut self, bucket: usize) {
        if self.bucket_activity.len() <= bucket {
            self.bucket_activity.resize(bucket + 1, Instant::ZERO);
            self.bucket_backoff.resize(bucket + 1, 0);
        }
    }

    fn touch_bucket(&mut self, bucket: usize, now: Instant) {
        self.ensure_bucket(bucket);
        self.bucket_activity[bucket] = now;
    }
}

/// One PNRP node: the sans-IO core of `proto-specs/pnrp.md`, for every cloud it runs.
///
/// Drive it through [`Protocol::handle`]; see the [module documentation](crate::proto).
#[derive(Debug)]
pub struct Pnrp {
    pub(crate) me: PeerAddr,
    pub(crate) key: Key,
    pub(crate) config: Config,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) clouds: [CloudCore; 2],
    pub(crate) registrations: BTreeMap<RegistrationId, Registration>,
    pub(crate) resolves: BTreeMap<ResolveId, Resolve>,
    pub(crate) verify_cache: VerifyCache,
    /// The lying behaviour of a simulated adversary (feature `sim`; absent otherwise).
    #[cfg(feature = "sim")]
    pub(crate) adversary: Option<Box<Adversary>>,
    pub(crate) counters: Counters,
}

impl Pnrp {
    /// A node at `me` (its id must be the SHA-256 of its key's SPKI; the driver proves it
    /// on every connection) with its own RNG seeded by `seed`.
    pub fn new(me: PeerAddr, config: Config, seed: u64) -> Self {
        let clouds = [
            CloudCore::new(Cloud::Global, config.global, me.node, &config),
            CloudCore::new(Cloud::LinkLocal, config.link_local, me.node, &config),
        ];
        Pnrp {
            me,
            key: Key::of_node(&me.node),
            verify_cache: VerifyCache::new(config.verify_cache),
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            clouds,
            registrations: BTreeMap::new(),
            resolves: BTreeMap::new(),
            #[cfg(feature = "sim")]
            adversary: None,
            counters: Counters::default(),
        }
    }

    /// A node that behaves like `adversary` says when answering others (simulation only,
    /// feature `sim`).
    #[cfg(feature = "sim")]
    pub fn with_adversary(me: PeerAddr, config: Config, seed: u64, adversary: Adversary) -> Self {
        let mut p = Pnrp::new(me, config, seed);
        p.adversary = Some(Box::new(adversary));
        p
    }

    /// Our id and address.
    pub fn me(&self) -> PeerAddr {
        self.me
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// `true` if this node is a simulated adversary (feature `sim`).
    #[cfg(feature = "sim")]
    pub fn is_adversary(&self) -> bool {
        self.adversary.is_some()
    }

    /// Counters.
    pub fn counters(&self) -> Counters {
        let mut c = self.counters;
        c.signature_checks = self.verify_cache.misses;
        c.signature_checks_saved += self.verify_cache.hits;
        c
    }

    /// The state of a cloud.
    pub fn cloud_state(&self, cloud: Cloud) -> CloudState {
        self.clouds[cloud.index()].state
    }

    /// The routing table of a cloud.
    pub fn table(&self, cloud: Cloud) -> &RoutingTable {
        &self.clouds[cloud.index()].table
    }

    /// The CPA store of a cloud.
    pub fn store(&self, cloud: Cloud) -> &CpaStore {
        &self.clouds[cloud.index()].store
    }

    /// Requests in flight in a cloud.
    pub fn requests_in_flight(&self, cloud: Cloud) -> usize {
        self.clouds[cloud.index()].requests.len()
    }

    /// Lookups running in a cloud.
    pub fn lookups_running(&self, cloud: Cloud) -> usize {
        self.clouds[cloud.index()].lookups.len()
    }

    /// Resolves running or queued.
    pub fn resolves_pending(&self) -> usize {
        self.resolves.len()
    }

    /// The routing-table contacts of a cloud, for the driver to persist and hand back as
    /// [`Command::AddPeer`] at the next start.
    pub fn routing_cache(&self, cloud: Cloud) -> Vec<PeerAddr> {
        self.clouds[cloud.index()].table.entries().map(|e| e.peer).collect()
    }

    /// Cloud state, size estimate and table.
    pub fn cloud_info(&self, cloud: Cloud) -> CloudInfo {
        let c = &self.clouds[cloud.index()];
        CloudInfo {
            cloud,
            state: c.state,
            size_estimate: c.table.size_estimate(),
            table: c
                .table
                .entries()
                .map(|e| TableEntry {
                    peer: e.peer,
                    bucket: self.key.common_prefix_len(&Key::of_node(&e.peer.node)).min(255),
                    last_seen: e.last_seen,
                    failures: e.failures,
                })
                .collect(),
            stored_cpas: c.store.len(),
            stored_names: c.store.keys(),
            registrations: self.registrations.values().filter(|r| r.cloud == cloud).count(),
        }
    }

    // ----- state changes ---------------------------------------------------------------

    pub(crate) fn set_state(&mut self, ci: usize, state: CloudState, now: Now, out: &mut Out) {
        let c = &mut self.clouds[ci];
        if c.state == state {
            return;
        }
        c.state = state;
        let cloud = c.cloud;
        out.emit(Event::CloudState { cloud, state });
        match state {
            CloudState::Active | CloudState::Alone => {
                self.run_queued_resolves(ci, now, out);
                self.start_waiting_registrations(ci, now, out);
            }
            CloudState::Dead => {
                let queued: Vec<ResolveId> = self.clouds[ci].queued.drain(..).collect();
                for id in queued {
                    self.finish_resolve(id, ResolveOutcome::CloudNotReady, now, out);
                }
            }
            _ => {}
        }
    }

    fn start(&mut self, now: Now, out: &mut Out) {
        for ci in 0..2 {
            if !self.clouds[ci].enabled {
                continue;
            }
            let cloud = self.clouds[ci].cloud;
            if cloud == Cloud::Global {
                let seeds: Vec<PeerAddr> =
                    self.config.seeds.iter().copied().filter(|s| s.node != self.me.node).collect();
                for s in seeds {
                    self.remember_bootstrap_peer(ci, s);
                }
            }
            let jitter = self.jitter(self.config.maintenance_interval);
            out.set_timer(now.instant + jitter, Timer::Maintenance { cloud });
            if self.clouds[ci].bootstrap_peers.is_empty() {
                self.set_state(ci, CloudState::Alone, now, out);
            } else {
                self.bootstrap(ci, now, out);
            }
        }
    }

    fn remember_bootstrap_peer(&mut self, ci: usize, peer: PeerAddr) {
        let c = &mut self.clouds[ci];
        if peer.node == self.me.node || c.bootstrap_peers.iter().any(|p| p.node == peer.node) {
            return;
        }
        if c.bootstrap_peers.len() >= MAX_BOOTSTRAP_PEERS {
            c.bootstrap_peers.remove(0);
        }
        c.bootstrap_peers.push(peer);
    }

    /// Joins the cloud: a lookup of our own id through the bootstrap peers and whatever the
    /// table holds. Its answers fill the near buckets and tell our neighbours about us.
    pub(crate) fn bootstrap(&mut self, ci: usize, now: Now, out: &mut Out) {
        if self.clouds[ci].lookups.values().any(|l| l.purpose == Purpose::Bootstrap) {
            return;
        }
        self.clouds[ci].boot_attempt += 1;
        if self.clouds[ci].state != CloudState::Active {
            self.set_state(ci, CloudState::Synchronising, now, out);
        }
        let mut seeds = self.clouds[ci].bootstrap_peers.clone();
        seeds.extend(self.clouds[ci].table.closest(&self.key, self.config.k, None));
        let target = self.key;
        let params = self.node_lookup_params(u32::MAX);
        let request = LookupRequest::FindNode { target, count: self.bootstrap_count() };
        self.clouds[ci].last_self_lookup = now.instant;
        self.start_lookup(ci, target, params, request, Purpose::Bootstrap, &seeds, now, out);
    }

    /// `true` while the cloud bootstraps and a contact in its table has answered the
    /// bootstrap lookup: resolves need not wait any longer (pnrp.md §8 step 1).
    pub(crate) fn bootstrap_answered(&self, ci: usize) -> bool {
        let c = &self.clouds[ci];
        c.state == CloudState::Synchronising
            && !c.table.is_empty()
            && c.lookups.values().any(|l| l.purpose == Purpose::Bootstrap && l.lookup.responses > 0)
    }

    pub(crate) fn node_lookup_params(&self, max_requests: u32) -> LookupParams {
        LookupParams {
            alpha: self.config.alpha,
            width: self.config.k,
            paths: 1,
            quorum: 1,
            stall: self.config.stall_timeout,
            pacing: None,
            max_requests: max_requests.min(MAX_LOOKUP_REQUESTS),
            keep: 0,
        }
    }

    fn bootstrap_count(&self) -> u8 {
        self.config.bootstrap_contacts.clamp(1, MAX_CONTACTS as u8)
    }

    pub(crate) fn jitter(&mut self, d: Duration) -> Duration {
        // ±10 %, so that timers of nodes started together spread out
        let f: f64 = self.rng.random_range(0.9..1.1);
        d.mul_f64(f)
    }

    // ----- lookups -----------------------------------------------------------------------

    /// Starts a lookup seeded with `seeds` and sends its first requests. Returns its id, or
    /// `None` if too many lookups run (the purpose's owner is told by `finish_lookup`'s
    /// caller).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_lookup(
        &mut self,
        ci: usize,
        target: Key,
        params: LookupParams,
        request: LookupRequest,
        purpose: Purpose,
        seeds: &[PeerAddr],
        now: Now,
        out: &mut Out,
    ) -> Option<u64> {
        self.start_lookup_near(ci, target, params, request, purpose, seeds, None, now, out)
    }

    /// [`start_lookup`](Self::start_lookup) with a different contact count for candidates
    /// near the target (see [`LookupEntry::near`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_lookup_near(
        &mut self,
        ci: usize,
        target: Key,
        params: LookupParams,
        request: LookupRequest,
        purpose: Purpose,
        seeds: &[PeerAddr],
        near: Option<(f64, f64, u8)>,
        now: Now,
        out: &mut Out,
    ) -> Option<u64> {
        let c = &mut self.clouds[ci];
        if c.lookups.len() >= self.config.max_lookups {
            return None;
        }
        let id = c.next_lookup;
        c.next_lookup += 1;
        self.counters.lookups += 1;
        let mut lookup = Lookup::new(self.me.node, target, params);
        lookup.seed(seeds);
        c.lookups.insert(
            id,
            LookupEntry { lookup, purpose, request, near, timer_at: None, holdings: Vec::new() },
        );
        self.drive_lookup(ci, id, now, out);
        Some(id)
    }

    /// Sends what a lookup may send now; ends it if it is finished.
    pub(crate) fn drive_lookup(&mut self, ci: usize, id: u64, now: Now, out: &mut Out) {
        let cloud = self.clouds[ci].cloud;
        let mut sent_any = false;
        loop {
            let Some(entry) = self.clouds[ci].lookups.get_mut(&id) else {
                return;
            };
            let Some((path, peer)) = entry.lookup.poll(now.instant) else {
                break;
            };
            let mut request = entry.request;
            if let (Some((size, rank, near_count)), LookupRequest::FindName { count, .. }) =
                (entry.near, &mut request)
            {
                let dist = entry.lookup.target.distance(&Key::of_node(&peer.node));
                if dist.as_fraction() * size < rank {
                    *count = near_count;
                }
            }
            let purpose = entry.purpose;
            let txid = self.rng.random::<u64>();
            let (body, reason_resolve) = match request {
                LookupRequest::FindNode { target, count } => {
                    let reason = match purpose {
                        Purpose::Resolve(_) => Reason::Resolve,
                        Purpose::Register { .. } => Reason::Registration,
                        _ => Reason::Maintenance,
                    };
                    (Body::FindNode { txid, target, count, reason }, false)
                }
                LookupRequest::FindName { p2p, count, max_results, hint, probe } => {
                    let reason = match purpose {
                        Purpose::Resolve(_) => Reason::Resolve,
                        Purpose::Register { .. } => Reason::Registration,
                        _ => Reason::Maintenance,
                    };
                    (
                        Body::FindName {
                            txid,
                            p2p,
                            count,
                            max_results,
                            hint,
                            probe: probe.map(Box::new),
                            reason,
                        },
                        matches!(purpose, Purpose::Resolve(_)),
                    )
                }
            };
            let msg = Message { cloud, body };
            let wire_len = if reason_resolve { msg.wire_len() as u32 } else { 0 };
            let kind = PendingKind::Lookup { lookup: id, path: path as u8 };
            if self.send_request(ci, peer, msg, kind, now, out) {
                sent_any = true;
                if let Purpose::Resolve(rid) = purpose
                    && let Some(r) = self.resolves.get_mut(&rid)
                {
                    r.stats.requests += 1;
                    r.stats.bytes_sent += u64::from(wire_len);
                }
            } else if let Some(entry) = self.clouds[ci].lookups.get_mut(&id) {
                entry.lookup.failed(path, &peer.node);
            }
        }
        if sent_any && let Some(e) = self.clouds[ci].lookups.get_mut(&id) {
            // One stall timer per lookup at a time: an earlier pending one re-examines the
            // lookup and sets the next.
            let at = now.instant + self.config.stall_timeout;
            if e.timer_at.is_none_or(|t| t <= now.instant) {
                e.timer_at = Some(at);
                out.set_timer(at, Timer::Lookup { cloud, lookup: id });
            }
        }
        let finished = match self.clouds[ci].lookups.get_mut(&id) {
            Some(e) => e.lookup.check_finished(),
            None => return,
        };
        if finished {
            self.finish_lookup(ci, id, now, out);
        }
    }

    /// Removes a finished lookup and hands its result to its owner.
    fn finish_lookup(&mut self, ci: usize, id: u64, now: Now, out: &mut Out) {
        let Some(entry) = self.clouds[ci].lookups.remove(&id) else {
            return;
        };
        let bucket = self.clouds[ci].table.bucket_of(&entry.lookup.target);
        self.clouds[ci].touch_bucket(bucket, now.instant);
        match entry.purpose {
            Purpose::Bootstrap => {
                if entry.lookup.responses > 0 && !self.clouds[ci].table.is_empty() {
                    self.clouds[ci].boot_attempt = 0;
                    self.set_state(ci, CloudState::Active, now, out);
                    self.refresh_buckets(ci, now, out, true);
                } else {
                    self.set_state(ci, CloudState::Dead, now, out);
                    let attempt = self.clouds[ci].boot_attempt;
                    let backoff = self
                        .config
                        .bootstrap_retry
                        .saturating_mul(1 << attempt.min(8).saturating_sub(1))
                        .min(self.config.refresh_interval);
                    let cloud = self.clouds[ci].cloud;
                    out.set_timer(now.instant + backoff, Timer::Bootstrap { cloud, attempt });
                }
            }
            Purpose::SelfRefresh => {}
            Purpose::Refresh { bucket, before } => {
                let c = &mut self.clouds[ci];
                c.touch_bucket(bucket, now.instant);
                if c.table.bucket_len(bucket) > before {
                    c.bucket_backoff[bucket] = 0;
                } else {
                    c.bucket_backoff[bucket] = c.bucket_backoff[bucket].saturating_add(1).min(16);
                }
            }
            Purpose::Resolve(rid) => {
                self.resolve_lookup_finished(rid, entry.lookup.max_depth, now, out)
            }
            Purpose::Register { id: rid, generation } => {
                self.registration_lookup_finished(ci, rid, generation, &entry, now, out)
            }
        }
    }

    /// Sends a request and remembers it. `false` (and nothing sent) if too many are in
    /// flight.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send_request(
        &mut self,
        ci: usize,
        to: PeerAddr,
        msg: Message,
        kind: PendingKind,
        now: Now,
        out: &mut Out,
    ) -> bool {
        let c = &mut self.clouds[ci];
        if c.requests.len() >= self.config.max_requests {
            self.counters.requests_refused += 1;
            return false;
        }
        let txid = msg.txid();
        c.requests.insert(txid, Pending { to, kind });
        let cloud = c.cloud;
        out.send(to, msg);
        let deadline = now.instant + self.config.request_timeout;
        if c.deadlines.len() >= 4 * self.config.max_requests {
            // Answered requests linger here until their deadline; under a burst of quick
            // answers, drop them early so the queue stays bounded.
            let requests = &c.requests;
            c.deadlines.retain(|(_, t)| requests.contains_key(t));
        }
        c.deadlines.push_back((deadline, txid));
        if c.expiry_at.is_none() {
            c.expiry_at = Some(deadline);
            out.set_timer(deadline, Timer::Requests { cloud });
        }
        true
    }

    /// Fails every request whose deadline has passed, and sets the next expiry timer.
    fn expire_requests(&mut self, ci: usize, now: Now, out: &mut Out) {
        let c = &mut self.clouds[ci];
        if c.expiry_at.is_some_and(|t| t > now.instant) {
            return; // a stale timer; the pending one is later
        }
        c.expiry_at = None;
        let mut expired = Vec::new();
        while let Some(&(deadline, txid)) = c.deadlines.front() {
            if deadline > now.instant {
                break;
            }
            c.deadlines.pop_front();
            if c.requests.contains_key(&txid) {
                expired.push(txid);
            }
        }
        if let Some(&(deadline, _)) = c.deadlines.front() {
            let at = deadline.max(now.instant + self.config.timeout_granularity);
            c.expiry_at = Some(at);
            out.set_timer(at, Timer::Requests { cloud: c.cloud });
        }
        for txid in expired {
            self.request_failed(ci, txid, now, out);
        }
    }

    /// Sends a ping; `rr` is `Some(referrer)` for a return-routability check.
    fn send_ping(
        &mut self,
        ci: usize,
        to: PeerAddr,
        rr: Option<Option<NodeId>>,
        now: Now,
        out: &mut Out,
    ) -> bool {
        let nonce = self.rng.random::<u64>();
        let cloud = self.clouds[ci].cloud;
        let msg = Message { cloud, body: Body::Ping { nonce } };
        let kind = PendingKind::Ping { rr: rr.is_some(), referrer: rr.flatten() };
        self.send_request(ci, to, msg, kind, now, out)
    }

    // ----- inputs ------------------------------------------------------------------------

    fn recv(&mut self, now: Now, from: PeerAddr, msg: Message, out: &mut Out) {
        if from.node == self.me.node {
            return;
        }
        if msg.check().is_err() {
            self.counters.messages_rejected += 1;
            return;
        }
        let ci = msg.cloud.index();
        if !self.clouds[ci].enabled {
            self.counters.wrong_cloud += 1;
            return;
        }
        let cloud = msg.cloud;
        match msg.body {
            Body::Ping { .. }
            | Body::FindNode { .. }
            | Body::FindName { .. }
            | Body::Store { .. } => {
                self.heard_from(ci, from, None, now, out);
                #[cfg(feature = "sim")]
                let answer = match &mut self.adversary {
                    Some(adv) => adv.answer(from, msg.body, now),
                    None => self.answer(ci, from, msg.body, now),
                };
                #[cfg(not(feature = "sim"))]
                let answer = self.answer(ci, from, msg.body, now);
                if let Some(body) = answer {
                    out.send(from, Message { cloud, body });
                }
            }
            body => self.response(ci, from, body, now, out),
        }
    }

    /// An honest node's answer to a request.
    fn answer(&mut self, ci: usize, from: PeerAddr, body: Body, now: Now) -> Option<Body> {
        let c = &mut self.clouds[ci];
        match body {
            Body::Ping { nonce } => Some(Body::Pong { nonce }),
            Body::FindNode { txid, target, count, .. } => {
                let nodes = c.table.closest(&target, usize::from(count), Some(&from.node));
                Some(Body::Nodes { txid, nodes })
            }
            Body::FindName { txid, p2p, count, max_results, hint, probe, .. } => {
                let key = Key::of_name(&p2p);
                let nodes = c.table.closest(&key, usize::from(count), Some(&from.node));
                let mut cpas = if max_results > 0 {
                    c.store.get(&key, now.unix, usize::from(max_results), MAX_FOUND_CPA_BYTES, hint)
                } else {
                    Vec::new()
                };
                let probe = probe.map(|b| *b);
                let mut holds = probe.and_then(|inst| c.store.holds(&key, &inst, now.unix));
                let cloud = c.cloud;
                for r in self.registrations.values().filter(|r| r.cloud == cloud && r.p2p == p2p) {
                    if let Some(inst) = probe
                        && r.current.instance() == inst
                    {
                        holds = holds.max(Some(r.current.body().sequence));
                    }
                    if cpas.len() < usize::from(max_results)
                        && !r.current.body().revoked
                        && !r.current.is_expired(now.unix)
                        && !cpas.iter().any(|s| s == r.current.signed())
                    {
                        cpas.push(r.current.signed().clone());
                    }
                }
                Some(Body::Found { txid, nodes, cpas, holds })
            }
            Body::Store { txid, cpa } => {
                let status = self.accept_store(ci, &cpa, now);
                Some(Body::StoreAck { txid, status })
            }
            _ => None,
        }
    }

    fn accept_store(
        &mut self,
        ci: usize,
        cpa: &crate::proto::cpa::SignedCpa,
        now: Now,
    ) -> StoreStatus {
        let digest = cpa.digest();
        if self.clouds[ci].store.contains_digest(&digest) {
            self.counters.signature_checks_saved += 1;
            return StoreStatus::AlreadyCurrent;
        }
        let validator = self.config.validator.clone();
        match cpa.verify_cached(now.unix, validator.as_deref(), &mut self.verify_cache) {
            Ok(verified) => {
                let status = self.clouds[ci].store.put(verified, now.unix);
                match status {
                    StoreStatus::Stored => self.counters.stores_accepted += 1,
                    StoreStatus::Full | StoreStatus::Invalid => self.counters.stores_refused += 1,
                    StoreStatus::AlreadyCurrent => {}
                }
                status
            }
            Err(e) => {
                self.note_cpa_error(&e);
                self.counters.stores_refused += 1;
                StoreStatus::Invalid
            }
        }
    }

    pub(crate) fn note_cpa_error(&mut self, e: &CpaError) {
        self.counters.cpas_rejected += 1;
        if e.is_forgery() {
            self.counters.forged_cpas += 1;
        } else if e.is_expired() {
            self.counters.expired_cpas += 1;
        } else if matches!(e, CpaError::NameMismatch { .. }) {
            self.counters.mismatched_cpas += 1;
        }
    }

    /// A response arrived: match it to its request.
    fn response(&mut self, ci: usize, from: PeerAddr, body: Body, now: Now, out: &mut Out) {
        let txid = match &body {
            Body::Pong { nonce } => *nonce,
            Body::Nodes { txid, .. } | Body::Found { txid, .. } | Body::StoreAck { txid, .. } => {
                *txid
            }
            _ => return,
        };
        let c = &mut self.clouds[ci];
        let matches = c.requests.get(&txid).is_some_and(|p| p.to.node == from.node);
        if !matches {
            self.counters.unsolicited_responses += 1;
            return;
        }
        let Some(pending) = c.requests.remove(&txid) else {
            return;
        };
        let kind_ok = matches!(
            (&pending.kind, &body),
            (PendingKind::Ping { .. }, Body::Pong { .. })
                | (PendingKind::Store { .. }, Body::StoreAck { .. })
                | (PendingKind::Lookup { .. }, Body::Nodes { .. } | Body::Found { .. })
        );
        if !kind_ok {
            // The right peer answered with the wrong kind of message: a broken or hostile
            // peer. Treat the request as failed.
            self.counters.unsolicited_responses += 1;
            self.request_failed_pending(ci, pending, now, out);
            return;
        }
        let referrer = match pending.kind {
            PendingKind::Lookup { lookup, path } => self.clouds[ci]
                .lookups
                .get(&lookup)
                .and_then(|e| e.lookup.referrer_of(usize::from(path), &from.node)),
            PendingKind::Ping { referrer, .. } => referrer,
            PendingKind::Store { .. } => None,
        };
        self.heard_from(ci, from, referrer, now, out);
        match pending.kind {
            PendingKind::Ping { rr, .. } => {
                if rr {
                    self.clouds[ci].rr_in_flight = self.clouds[ci].rr_in_flight.saturating_sub(1);
                    self.pump_rr(ci, now, out);
                }
            }
            PendingKind::Store { owner } => {
                if let Body::StoreAck { status, .. } = body {
                    self.store_answered(owner, Some(status), now, out);
                }
            }
            PendingKind::Lookup { lookup, path } => {
                let resolve_bytes = matches!(
                    self.clouds[ci].lookups.get(&lookup).map(|l| l.purpose),
                    Some(Purpose::Resolve(_))
                );
                let received = if resolve_bytes {
                    // a struct encodes as its fields in order: (cloud, body) is the message
                    let cloud = self.clouds[ci].cloud;
                    (peergroup_base::codec::HEADER_LEN
                        + peergroup_base::codec::body_len(&(cloud, &body)).unwrap_or(0))
                        as u64
                } else {
                    0
                };
                self.lookup_response(ci, lookup, usize::from(path), from, body, received, now, out);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn lookup_response(
        &mut self,
        ci: usize,
        lid: u64,
        path: usize,
        from: PeerAddr,
        body: Body,
        received_bytes: u64,
        now: Now,
        out: &mut Out,
    ) {
        let Some(entry) = self.clouds[ci].lookups.get_mut(&lid) else {
            self.counters.late_responses += 1;
            return;
        };
        let (nodes, cpas, holds) = match body {
            Body::Nodes { nodes, .. } => (nodes, Vec::new(), None),
            Body::Found { nodes, cpas, holds, .. } => (nodes, cpas, holds),
            _ => return,
        };
        let depth = entry.lookup.responded(path, &from.node);
        entry.lookup.learn(path, &nodes, depth, from.node);
        let purpose = entry.purpose;
        if let Purpose::Register { .. } = purpose {
            entry.holdings.push((from.node, holds));
        }
        for n in &nodes {
            if self.clouds[ci].table.offer(*n, Some(from.node)) == Offer::CheckReachability {
                self.rr_enqueue(ci, *n, Some(from.node));
            }
        }
        if purpose == Purpose::Bootstrap && self.bootstrap_answered(ci) {
            // A contact answered: waiting resolves start from what the table holds now,
            // not after the rest of the bootstrap (pnrp.md §8 step 1), which can wait on
            // contacts that have gone.
            self.run_queued_resolves(ci, now, out);
        }
        if let Purpose::Resolve(rid) = purpose {
            let done = self.resolve_answer(
                ci,
                rid,
                lid,
                path,
                from,
                depth,
                cpas,
                received_bytes,
                now,
                out,
            );
            if done {
                return;
            }
        }
        self.pump_rr(ci, now, out);
        self.drive_lookup(ci, lid, now, out);
    }

    /// We heard from `from` directly (unprompted if `referrer` is `None`, else in answer to
    /// a request we sent because `referrer` named it): admit or refresh it.
    pub(crate) fn heard_from(
        &mut self,
        ci: usize,
        from: PeerAddr,
        referrer: Option<NodeId>,
        now: Now,
        out: &mut Out,
    ) {
        let probe_after = self.config.eviction_probe_after;
        match self.clouds[ci].table.seen(from, referrer, now.instant, probe_after) {
            Seen::Admitted => {
                self.hand_over(ci, from, now, out);
                if self.clouds[ci].state == CloudState::Alone {
                    self.set_state(ci, CloudState::Active, now, out);
                    self.self_refresh(ci, now, out);
                } else if self.clouds[ci].state == CloudState::Dead {
                    self.bootstrap(ci, now, out);
                }
            }
            Seen::Full { probe: Some(lrs) } if self.send_ping(ci, lrs, None, now, out) => {
                self.counters.eviction_probes += 1;
            }
            _ => {}
        }
    }

    /// Kademlia §2.5: when a new node joins closer to a key we hold than we are, and we are
    /// the closest node we know to that key, we give it the key's CPAs.
    fn hand_over(&mut self, ci: usize, w: PeerAddr, now: Now, out: &mut Out) {
        #[cfg(feature = "sim")]
        if self.adversary.is_some() {
            return;
        }
        if self.clouds[ci].store.is_empty() {
            return;
        }
        let wk = Key::of_node(&w.node);
        let mut keys: Vec<Key> = Vec::new();
        {
            let c = &self.clouds[ci];
            for (key, _) in c.store.key_list() {
                let mine = self.key.distance(key);
                if wk.distance(key) >= mine {
                    continue;
                }
                let closer_known = c
                    .table
                    .closest(key, 1, Some(&w.node))
                    .first()
                    .is_some_and(|p| Key::of_node(&p.node).distance(key) < mine);
                if !closer_known {
                    keys.push(*key);
                }
            }
        }
        let cloud = self.clouds[ci].cloud;
        for key in keys {
            for cpa in self.clouds[ci].store.all_for(&key, now.unix) {
                let txid = self.rng.random::<u64>();
                let msg = Message { cloud, body: Body::Store { txid, cpa } };
                let kind = PendingKind::Store { owner: StoreOwner::Handover };
                if self.send_request(ci, w, msg, kind, now, out) {
                    self.counters.handovers += 1;
                }
            }
        }
    }

    pub(crate) fn rr_enqueue(&mut self, ci: usize, peer: PeerAddr, referrer: Option<NodeId>) {
        let cap = self.config.rr_queue;
        let c = &mut self.clouds[ci];
        if c.rr_queue.iter().any(|(p, _)| p.node == peer.node) {
            return;
        }
        if c.rr_queue.len() >= cap {
            c.rr_queue.pop_front();
        }
        c.rr_queue.push_back((peer, referrer));
    }

    /// Sends return-routability pings while the pipeline has room.
    pub(crate) fn pump_rr(&mut self, ci: usize, now: Now, out: &mut Out) {
        while self.clouds[ci].rr_in_flight < self.config.rr_in_flight {
            let Some((peer, referrer)) = self.clouds[ci].rr_queue.pop_back() else {
                return;
            };
            // re-check: the bucket may have filled meanwhile
            if self.clouds[ci].table.offer(peer, referrer) != Offer::CheckReachability {
                continue;
            }
            if self.send_ping(ci, peer, Some(referrer), now, out) {
                self.clouds[ci].rr_in_flight += 1;
                self.counters.rr_checks += 1;
            } else {
                return;
            }
        }
    }

    fn request_failed(&mut self, ci: usize, txid: u64, now: Now, out: &mut Out) {
        if let Some(p) = self.clouds[ci].requests.remove(&txid) {
            self.request_failed_pending(ci, p, now, out);
        }
    }

    fn request_failed_pending(&mut self, ci: usize, p: Pending, now: Now, out: &mut Out) {
        if let Failed::CheckReachability(r, referrer) =
            self.clouds[ci].table.failed(&p.to.node, now.instant)
        {
            self.rr_enqueue(ci, r, referrer);
        }
        match p.kind {
            PendingKind::Lookup { lookup, path } => {
                if let Some(e) = self.clouds[ci].lookups.get_mut(&lookup) {
                    e.lookup.failed(usize::from(path), &p.to.node);
                    self.drive_lookup(ci, lookup, now, out);
                }
            }
            PendingKind::Ping { rr, .. } => {
                if rr {
                    self.clouds[ci].rr_in_flight = self.clouds[ci].rr_in_flight.saturating_sub(1);
                }
            }
            PendingKind::Store { owner } => self.store_answered(owner, None, now, out),
        }
        self.pump_rr(ci, now, out);
        if self.clouds[ci].table.is_empty() && self.clouds[ci].state == CloudState::Active {
            self.bootstrap(ci, now, out);
        }
    }

    fn peer_down(&mut self, now: Now, peer: PeerAddr, out: &mut Out) {
        for ci in 0..2 {
            let mut txids: Vec<u64> = self.clouds[ci]
                .requests
                .iter()
                .filter(|(_, p)| p.to.node == peer.node)
                .map(|(t, _)| *t)
                .collect();
            txids.sort_unstable();
            for t in txids {
                self.request_failed(ci, t, now, out);
            }
        }
    }

    fn command(&mut self, now: Now, cmd: Command, out: &mut Out) {
        match cmd {
            Command::Register { id, request } => self.register(id, request, now, out),
            Command::Update { id, endpoints, comment, payload } => {
                self.update(id, endpoints, comment, payload, now, out)
            }
            Command::Unregister { id } => self.unregister(id, now, out),
            Command::Resolve { id, request } => self.resolve(id, request, now, out),
            Command::AddPeer { cloud, peer } => {
                let ci = cloud.index();
                if !self.clouds[ci].enabled || peer.node == self.me.node {
                    return;
                }
                self.remember_bootstrap_peer(ci, peer);
                match self.clouds[ci].state {
                    CloudState::Alone | CloudState::Dead => self.bootstrap(ci, now, out),
                    CloudState::Active | CloudState::Synchronising
                        if self.clouds[ci].table.offer(peer, None) == Offer::CheckReachability =>
                    {
                        self.rr_enqueue(ci, peer, None);
                        self.pump_rr(ci, now, out);
                    }
                    _ => {}
                }
            }
            Command::QueryCloud { cloud } => {
                out.emit(Event::CloudInfo(Box::new(self.cloud_info(cloud))))
            }
        }
    }

    fn timer(&mut self, now: Now, timer: Timer, out: &mut Out) {
        match timer {
            Timer::Requests { cloud } => self.expire_requests(cloud.index(), now, out),
            Timer::Lookup { cloud, lookup } => {
                let ci = cloud.index();
                let Some(e) = self.clouds[ci].lookups.get_mut(&lookup) else {
                    return;
                };
                if e.timer_at.is_some_and(|t| t <= now.instant) {
                    e.timer_at = None;
                }
                self.drive_lookup(ci, lookup, now, out);
                // requests still in flight may stall later: keep a timer while any is
                if let Some(e) = self.clouds[ci].lookups.get_mut(&lookup)
                    && e.timer_at.is_none()
                    && e.lookup.paths.iter().any(|p| p.in_flight > 0)
                {
                    let at = now.instant + self.config.stall_timeout;
                    e.timer_at = Some(at);
                    out.set_timer(at, Timer::Lookup { cloud, lookup });
                }
            }
            Timer::Maintenance { cloud } => self.maintenance(cloud.index(), now, out),
            Timer::Bootstrap { cloud, attempt } => {
                let ci = cloud.index();
                if self.clouds[ci].state == CloudState::Dead
                    && self.clouds[ci].boot_attempt == attempt
                {
                    self.bootstrap(ci, now, out);
                }
            }
            Timer::Registration { id, generation } => {
                self.registration_timer(id, generation, now, out)
            }
            Timer::ResolveDeadline { id } => self.resolve_deadline(id, now, out),
        }
    }

    // ----- maintenance -------------------------------------------------------------------

    fn maintenance(&mut self, ci: usize, now: Now, out: &mut Out) {
        let cloud = self.clouds[ci].cloud;
        let next = self.jitter(self.config.maintenance_interval);
        out.set_timer(now.instant + next, Timer::Maintenance { cloud });
        self.clouds[ci].store.sweep(now.unix);
        self.clouds[ci].shrink();
        match self.clouds[ci].state {
            CloudState::Active => {}
            CloudState::Synchronising
                if !self.clouds[ci].lookups.values().any(|l| l.purpose == Purpose::Bootstrap) =>
            {
                self.bootstrap(ci, now, out);
                return;
            }
            _ => return,
        }
        if self.clouds[ci].table.is_empty() {
            self.bootstrap(ci, now, out);
            return;
        }
        if now.instant.saturating_since(self.clouds[ci].last_self_lookup)
            >= self.config.refresh_interval
        {
            self.self_refresh(ci, now, out);
        }
        self.refresh_buckets(ci, now, out, false);
        // liveness: ping the entry quiet for longest, if quiet long enough
        let quiet = self.clouds[ci]
            .table
            .entries()
            .min_by_key(|e| e.last_seen)
            .filter(|e| now.instant.saturating_since(e.last_seen) >= self.config.liveness_interval)
            .map(|e| e.peer);
        if let Some(peer) = quiet
            && self.send_ping(ci, peer, None, now, out)
        {
            self.counters.liveness_pings += 1;
        }
    }

    pub(crate) fn self_refresh(&mut self, ci: usize, now: Now, out: &mut Out) {
        if self.clouds[ci]
            .lookups
            .values()
            .any(|l| matches!(l.purpose, Purpose::SelfRefresh | Purpose::Bootstrap))
        {
            return;
        }
        self.clouds[ci].last_self_lookup = now.instant;
        let seeds = self.clouds[ci].table.closest(&self.key, self.config.k, None);
        let target = self.key;
        let params = self.node_lookup_params(u32::MAX);
        let request = LookupRequest::FindNode { target, count: self.bootstrap_count() };
        self.start_lookup(ci, target, params, request, Purpose::SelfRefresh, &seeds, now, out);
    }

    /// Refreshes buckets farther than our closest neighbour (§5.5). A bucket `i` covers
    /// about `n / 2^(i+1)` nodes of a cloud of `n` (the size estimate); it is *sparse* if
    /// it holds fewer than `min(k, ¾ of that)`. A sparse bucket is refreshed after a
    /// backoff (`sparse_refresh_interval`, doubling while refreshes add nothing); a bucket
    /// that is not sparse when no lookup went into it for `refresh_interval`. `all_sparse`:
    /// refresh every sparse bucket now (right after bootstrap). A refresh asks
    /// `refresh_requests` nodes for a random position in the bucket; the contacts it
    /// brings are admitted after their return-routability check.
    fn refresh_buckets(&mut self, ci: usize, now: Now, out: &mut Out, all_sparse: bool) {
        let (top, size) = {
            let c = &self.clouds[ci];
            let top = c
                .table
                .closest(&self.key, 1, None)
                .first()
                .map(|p| c.table.bucket_of(&Key::of_node(&p.node)));
            (top, c.table.size_estimate())
        };
        let Some(top) = top else {
            return;
        };
        let k = self.config.k;
        let wanted = |bucket: usize| -> usize {
            match size {
                Some(n) => {
                    let population = n / 2f64.powi(bucket as i32 + 1);
                    ((population * 0.75) as usize).clamp(1, k)
                }
                None => k,
            }
        };
        let mut started = 0;
        for bucket in 0..top {
            if started >= 4 && !all_sparse {
                break;
            }
            let c = &mut self.clouds[ci];
            c.ensure_bucket(bucket);
            let last = c.bucket_activity[bucket];
            let sparse = c.table.bucket_len(bucket) < wanted(bucket);
            let due = if !sparse {
                last + self.config.refresh_interval
            } else if all_sparse {
                now.instant
            } else {
                let back = self
                    .config
                    .sparse_refresh_interval
                    .saturating_mul(1 << c.bucket_backoff[bucket].min(10))
                    .min(self.config.refresh_interval);
                last + back
            };
            if now.instant < due {
                continue;
            }
            if c.lookups
                .values()
                .any(|l| matches!(l.purpose, Purpose::Refresh { bucket: b, .. } if b == bucket))
            {
                continue;
            }
            let target = self.key.random_in_bucket(bucket as u32, &mut self.rng);
            let before = self.clouds[ci].table.bucket_len(bucket);
            self.clouds[ci].touch_bucket(bucket, now.instant);
            let seeds = self.clouds[ci].table.closest(&target, k, None);
            if seeds.is_empty() {
                continue;
            }
            let params = self.node_lookup_params(self.config.refresh_requests.max(1));
            let count = (2 * self.config.per_referrer).clamp(1, MAX_CONTACTS) as u8;
            let request = LookupRequest::FindNode { target, count };
            let purpose = Purpose::Refresh { bucket, before };
            if self.start_lookup(ci, target, params, request, purpose, &seeds, now, out).is_some() {
                started += 1;
            }
        }
    }
}

impl Protocol for Pnrp {
    type Message = Message;
    type Command = Command;
    type Event = Event;
    type Timer = Timer;

    fn handle(&mut self, now: Now, input: Input<Message, Command, Timer>, out: &mut Out) {
        match input {
            Input::Start => self.start(now, out),
            Input::Recv { from, msg } => self.recv(now, from, msg, out),
            Input::Command(cmd) => self.command(now, cmd, out),
            Input::Timer(t) => self.timer(now, t, out),
            Input::PeerDown(peer) => self.peer_down(now, peer, out),
        }
    }
}
