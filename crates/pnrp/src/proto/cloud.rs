//! One cloud's routing state ([`CloudCore`]): its table, CPA store, requests in flight,
//! lookups, return-routability pipeline and bucket refresh, and the logic that touches
//! only them.
//!
//! In the style of quinn-proto's `StreamsState`: a cloud never sees the [`Pnrp`] node.
//! What it needs from the node — our address, the configuration, the RNG, the counters,
//! the signature cache, the time and the outbox — it receives as a [`Ctx`] built from the
//! node's fields. What only the node can do (hand a finished lookup to its resolve or
//! registration, react to a change of the cloud's state) the cloud hands back as a return
//! value: a finished [`LookupEntry`] of a purpose the node owns, a [`Failure`], an
//! [`Answer`]. The node's dispatch (`node.rs`) acts on those at once, so the order of
//! every send, timer and random draw is the order of the protocol steps.
//!
//! [`Pnrp`]: crate::proto::Pnrp

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use peergroup_base::{Instant, NodeId, Now, P2pId, PeerAddr, ServiceLocation};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::proto::api::{CloudState, Event, RegistrationId, ResolveId, Timer};
use crate::proto::config::Config;
use crate::proto::counters::Counters;
use crate::proto::cpa::{Cpa, InstanceId, SignedCpa, VerifyCache};
use crate::proto::key::Key;
use crate::proto::lookup::{Lookup, LookupParams};
use crate::proto::message::{
    Body, Cloud, MAX_CONTACTS, MAX_FOUND_CPA_BYTES, Message, Reason, StoreStatus,
};
use crate::proto::store::CpaStore;
use crate::proto::table::{Failed, Offer, RoutingTable, Seen};

/// The outbox every part of the core writes to.
pub(crate) type Out = peergroup_base::Outbox<Message, Event, Timer>;

/// Requests in flight by transaction id (FxHash: no per-process key, so runs replay).
pub(crate) type TxidMap<V> = rustc_hash::FxHashMap<u64, V>;

/// Most peers remembered for bootstrapping (seeds, discovered peers).
const MAX_BOOTSTRAP_PEERS: usize = 64;

/// Most requests one lookup sends, whatever its answers say: a lookup fed an endless
/// supply of ever closer fake contacts still ends (a converging lookup in a cloud of a
/// million nodes needs a few dozen).
pub(crate) const MAX_LOOKUP_REQUESTS: u32 = 256;

/// The parameters of a node lookup (join, refresh, the first step of a registration).
pub(crate) fn node_lookup_params(config: &Config, max_requests: u32) -> LookupParams {
    LookupParams {
        alpha: config.alpha,
        width: config.k,
        paths: 1,
        quorum: 1,
        stall: config.stall_timeout,
        pacing: None,
        max_requests: max_requests.min(MAX_LOOKUP_REQUESTS),
        keep: 0,
    }
}

/// What a cloud borrows from its node for one step: disjoint fields of [`Pnrp`], the
/// time, and the outbox.
///
/// [`Pnrp`]: crate::proto::Pnrp
pub(crate) struct Ctx<'a> {
    pub me: PeerAddr,
    /// Our position: the key of our node id.
    pub key: Key,
    pub config: &'a Config,
    pub rng: &'a mut ChaCha8Rng,
    pub counters: &'a mut Counters,
    pub verify_cache: &'a mut VerifyCache,
    pub now: Now,
    pub out: &'a mut Out,
}

impl Ctx<'_> {
    /// `d` ± 10 %, so that timers of nodes started together spread out.
    pub(crate) fn jitter(&mut self, d: Duration) -> Duration {
        let f: f64 = self.rng.random_range(0.9..1.1);
        d.mul_f64(f)
    }

    fn node_lookup_params(&self, max_requests: u32) -> LookupParams {
        node_lookup_params(self.config, max_requests)
    }

    fn bootstrap_count(&self) -> u8 {
        self.config.bootstrap_contacts.clamp(1, MAX_CONTACTS as u8)
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

impl Purpose {
    /// `true` for the purposes the node, not the cloud, acts on when the lookup ends.
    fn owned_by_node(self) -> bool {
        matches!(self, Purpose::Bootstrap | Purpose::Resolve(_) | Purpose::Register { .. })
    }
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
    /// Requests sent, and the wire bytes of those sent for a resolve: the resolve adds
    /// them to its statistics when it ends.
    pub sent: u32,
    pub bytes_sent: u64,
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

/// A lookup to start: where it goes, how, what it asks and why.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NewLookup {
    pub target: Key,
    pub params: LookupParams,
    pub request: LookupRequest,
    pub purpose: Purpose,
    /// See [`LookupEntry::near`].
    pub near: Option<(f64, f64, u8)>,
}

/// A lookup the cloud started.
#[derive(Debug)]
pub(crate) struct Started {
    pub id: u64,
    /// The lookup, if it ended at once and the node owns its purpose.
    pub finished: Option<LookupEntry>,
}

/// A failed request, as far as the node must act on it.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Nothing for the node.
    Done,
    /// The failure ended a lookup whose purpose the node owns.
    LookupFinished(Box<LookupEntry>),
    /// A store of ours failed.
    Store(StoreOwner),
}

/// An answer to a lookup's request, for the node to act on.
#[derive(Debug)]
pub(crate) struct Answer {
    pub lookup: u64,
    pub purpose: Purpose,
    pub path: usize,
    pub from: PeerAddr,
    /// Depth of the answering node (§7.1).
    pub depth: u8,
    pub cpas: Vec<SignedCpa>,
    /// Wire bytes of the answer (counted for resolves only).
    pub received_bytes: u64,
}

/// A response, matched to the request it answers.
#[derive(Debug)]
pub(crate) enum Matched {
    /// No request of ours matches (counted).
    Unsolicited,
    /// The right peer answered with the wrong kind of message: the request failed.
    WrongKind(Pending),
    /// The request it answers, and the node that referred us to the sender.
    Answer(Pending, Option<NodeId>),
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
    rr_queue: VecDeque<(PeerAddr, Option<NodeId>)>,
    rr_in_flight: usize,
    /// Last lookup into each bucket.
    bucket_activity: Vec<Instant>,
    /// Sparse-refresh backoff exponent of each bucket.
    bucket_backoff: Vec<u8>,
    pub boot_attempt: u32,
    pub bootstrap_peers: Vec<PeerAddr>,
    /// Resolves waiting for the cloud to join.
    pub queued: VecDeque<ResolveId>,
    last_self_lookup: Instant,
    /// (deadline, txid) of requests in the order sent; all share one timeout, so the
    /// deadlines are sorted. Answered requests are skipped when their deadline passes.
    deadlines: VecDeque<(Instant, u64)>,
    /// When the pending expiry timer fires, if one is pending.
    expiry_at: Option<Instant>,
}

impl CloudCore {
    pub(crate) fn new(cloud: Cloud, enabled: bool, me: NodeId, config: &Config) -> Self {
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

    fn has_lookup(&self, mut f: impl FnMut(Purpose) -> bool) -> bool {
        self.lookups.values().any(|l| f(l.purpose))
    }

    /// Sets the state and emits the change; `false` if it did not change.
    pub(crate) fn set_state(&mut self, state: CloudState, out: &mut Out) -> bool {
        if self.state == state {
            return false;
        }
        self.state = state;
        out.emit(Event::CloudState { cloud: self.cloud, state });
        true
    }

    pub(crate) fn remember_bootstrap_peer(&mut self, me: NodeId, peer: PeerAddr) {
        if peer.node == me || self.bootstrap_peers.iter().any(|p| p.node == peer.node) {
            return;
        }
        if self.bootstrap_peers.len() >= MAX_BOOTSTRAP_PEERS {
            self.bootstrap_peers.remove(0);
        }
        self.bootstrap_peers.push(peer);
    }

    /// Joins the cloud: a lookup of our own id through the bootstrap peers and whatever the
    /// table holds. Its answers fill the near buckets and tell our neighbours about us.
    /// Returns the lookup if it ended at once.
    pub(crate) fn bootstrap(&mut self, cx: &mut Ctx<'_>) -> Option<LookupEntry> {
        if self.has_lookup(|p| p == Purpose::Bootstrap) {
            return None;
        }
        self.boot_attempt += 1;
        if self.state != CloudState::Active {
            // Synchronising asks nothing of the node
            self.set_state(CloudState::Synchronising, cx.out);
        }
        let mut seeds = self.bootstrap_peers.clone();
        seeds.extend(self.table.closest(&cx.key, cx.config.k, None));
        let target = cx.key;
        let lookup = NewLookup {
            target,
            params: cx.node_lookup_params(u32::MAX),
            request: LookupRequest::FindNode { target, count: cx.bootstrap_count() },
            purpose: Purpose::Bootstrap,
            near: None,
        };
        self.last_self_lookup = cx.now.instant;
        self.start_lookup(cx, lookup, &seeds).and_then(|s| s.finished)
    }

    /// The bootstrap lookup ended: `true` if it joined (a contact answered and the table
    /// holds someone).
    pub(crate) fn bootstrap_finished(&mut self, entry: &LookupEntry) -> bool {
        if entry.lookup.responses > 0 && !self.table.is_empty() {
            self.boot_attempt = 0;
            return true;
        }
        false
    }

    /// Sets the timer of the next bootstrap attempt after a failed one (exponential
    /// backoff).
    pub(crate) fn retry_bootstrap(&mut self, cx: &mut Ctx<'_>) {
        let attempt = self.boot_attempt;
        let backoff = cx
            .config
            .bootstrap_retry
            .saturating_mul(1 << attempt.min(8).saturating_sub(1))
            .min(cx.config.refresh_interval);
        cx.out.set_timer(cx.now.instant + backoff, Timer::Bootstrap { cloud: self.cloud, attempt });
    }

    /// `true` while the cloud bootstraps and a contact in its table has answered the
    /// bootstrap lookup: resolves need not wait any longer (pnrp.md §8 step 1).
    pub(crate) fn bootstrap_answered(&self) -> bool {
        self.state == CloudState::Synchronising
            && !self.table.is_empty()
            && self
                .lookups
                .values()
                .any(|l| l.purpose == Purpose::Bootstrap && l.lookup.responses > 0)
    }

    // ----- lookups -----------------------------------------------------------------------

    /// Starts a lookup seeded with `seeds` and sends its first requests. `None` if too
    /// many lookups run.
    pub(crate) fn start_lookup(
        &mut self,
        cx: &mut Ctx<'_>,
        new: NewLookup,
        seeds: &[PeerAddr],
    ) -> Option<Started> {
        if self.lookups.len() >= cx.config.max_lookups {
            return None;
        }
        let id = self.next_lookup;
        self.next_lookup += 1;
        cx.counters.lookups += 1;
        let mut lookup = Lookup::new(cx.me.node, new.target, new.params);
        lookup.seed(seeds);
        self.lookups.insert(
            id,
            LookupEntry {
                lookup,
                purpose: new.purpose,
                request: new.request,
                near: new.near,
                timer_at: None,
                holdings: Vec::new(),
                sent: 0,
                bytes_sent: 0,
            },
        );
        let finished = self.drive_lookup(cx, id);
        Some(Started { id, finished })
    }

    /// Sends what a lookup may send now; ends it if it is finished. Returns the lookup if
    /// it ended and the node owns its purpose.
    pub(crate) fn drive_lookup(&mut self, cx: &mut Ctx<'_>, id: u64) -> Option<LookupEntry> {
        let cloud = self.cloud;
        let now = cx.now;
        let mut sent_any = false;
        loop {
            let entry = self.lookups.get_mut(&id)?;
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
            let txid = cx.rng.random::<u64>();
            let reason = match purpose {
                Purpose::Resolve(_) => Reason::Resolve,
                Purpose::Register { .. } => Reason::Registration,
                _ => Reason::Maintenance,
            };
            let (body, resolve_bytes) = match request {
                LookupRequest::FindNode { target, count } => {
                    (Body::FindNode { txid, target, count, reason }, false)
                }
                LookupRequest::FindName { p2p, count, max_results, hint, probe } => (
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
                ),
            };
            let msg = Message { cloud, body };
            let wire_len = if resolve_bytes { msg.wire_len() as u64 } else { 0 };
            let kind = PendingKind::Lookup { lookup: id, path: path as u8 };
            let sent = self.send_request(cx, peer, msg, kind);
            if let Some(entry) = self.lookups.get_mut(&id) {
                if sent {
                    sent_any = true;
                    entry.sent += 1;
                    entry.bytes_sent += wire_len;
                } else {
                    entry.lookup.failed(path, &peer.node);
                }
            }
        }
        let e = self.lookups.get_mut(&id)?;
        if sent_any {
            // One stall timer per lookup at a time: an earlier pending one re-examines the
            // lookup and sets the next.
            let at = now.instant + cx.config.stall_timeout;
            if e.timer_at.is_none_or(|t| t <= now.instant) {
                e.timer_at = Some(at);
                cx.out.set_timer(at, Timer::Lookup { cloud, lookup: id });
            }
        }
        if e.lookup.check_finished() { self.finish_lookup(cx, id) } else { None }
    }

    /// Removes a finished lookup; acts on it if its purpose is the cloud's own, else
    /// returns it.
    fn finish_lookup(&mut self, cx: &mut Ctx<'_>, id: u64) -> Option<LookupEntry> {
        let entry = self.lookups.remove(&id)?;
        let bucket = self.table.bucket_of(&entry.lookup.target);
        self.touch_bucket(bucket, cx.now.instant);
        if let Purpose::Refresh { bucket, before } = entry.purpose {
            self.touch_bucket(bucket, cx.now.instant);
            if self.table.bucket_len(bucket) > before {
                self.bucket_backoff[bucket] = 0;
            } else {
                self.bucket_backoff[bucket] = self.bucket_backoff[bucket].saturating_add(1).min(16);
            }
        }
        entry.purpose.owned_by_node().then_some(entry)
    }

    /// The stall timer of a lookup fired. Returns the lookup if it ended and the node owns
    /// its purpose.
    pub(crate) fn lookup_timer(&mut self, cx: &mut Ctx<'_>, lookup: u64) -> Option<LookupEntry> {
        let e = self.lookups.get_mut(&lookup)?;
        if e.timer_at.is_some_and(|t| t <= cx.now.instant) {
            e.timer_at = None;
        }
        let finished = self.drive_lookup(cx, lookup);
        // requests still in flight may stall later: keep a timer while any is
        if let Some(e) = self.lookups.get_mut(&lookup)
            && e.timer_at.is_none()
            && e.lookup.paths.iter().any(|p| p.in_flight > 0)
        {
            let at = cx.now.instant + cx.config.stall_timeout;
            e.timer_at = Some(at);
            cx.out.set_timer(at, Timer::Lookup { cloud: self.cloud, lookup });
        }
        finished
    }

    // ----- requests ----------------------------------------------------------------------

    /// Sends a request and remembers it. `false` (and nothing sent) if too many are in
    /// flight.
    pub(crate) fn send_request(
        &mut self,
        cx: &mut Ctx<'_>,
        to: PeerAddr,
        msg: Message,
        kind: PendingKind,
    ) -> bool {
        let max_requests = cx.config.max_requests;
        if self.requests.len() >= max_requests {
            cx.counters.requests_refused += 1;
            return false;
        }
        let txid = msg.txid();
        self.requests.insert(txid, Pending { to, kind });
        cx.out.send(to, msg);
        let deadline = cx.now.instant + cx.config.request_timeout;
        if self.deadlines.len() >= 4 * max_requests {
            // Answered requests linger here until their deadline; under a burst of quick
            // answers, drop them early so the queue stays bounded.
            let requests = &self.requests;
            self.deadlines.retain(|(_, t)| requests.contains_key(t));
        }
        self.deadlines.push_back((deadline, txid));
        if self.expiry_at.is_none() {
            self.expiry_at = Some(deadline);
            cx.out.set_timer(deadline, Timer::Requests { cloud: self.cloud });
        }
        true
    }

    /// Sends `cpa` to `to` in a `Store`.
    pub(crate) fn send_store(
        &mut self,
        cx: &mut Ctx<'_>,
        to: PeerAddr,
        cpa: SignedCpa,
        owner: StoreOwner,
    ) -> bool {
        let txid = cx.rng.random::<u64>();
        let msg = Message { cloud: self.cloud, body: Body::Store { txid, cpa } };
        self.send_request(cx, to, msg, PendingKind::Store { owner })
    }

    /// Sends a ping; `rr` is `Some(referrer)` for a return-routability check.
    fn send_ping(&mut self, cx: &mut Ctx<'_>, to: PeerAddr, rr: Option<Option<NodeId>>) -> bool {
        let nonce = cx.rng.random::<u64>();
        let msg = Message { cloud: self.cloud, body: Body::Ping { nonce } };
        let kind = PendingKind::Ping { rr: rr.is_some(), referrer: rr.flatten() };
        self.send_request(cx, to, msg, kind)
    }

    /// The txids of every request in flight whose deadline has passed, in the order sent;
    /// sets the next expiry timer. The caller fails each in turn
    /// ([`CloudCore::request_failed`]); one failure may answer or fail others.
    pub(crate) fn expired_requests(&mut self, cx: &mut Ctx<'_>) -> Vec<u64> {
        let now = cx.now.instant;
        if self.expiry_at.is_some_and(|t| t > now) {
            return Vec::new(); // a stale timer; the pending one is later
        }
        self.expiry_at = None;
        let mut expired = Vec::new();
        while let Some(&(deadline, txid)) = self.deadlines.front() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_front();
            if self.requests.contains_key(&txid) {
                expired.push(txid);
            }
        }
        if let Some(&(deadline, _)) = self.deadlines.front() {
            let at = deadline.max(now + cx.config.timeout_granularity);
            self.expiry_at = Some(at);
            cx.out.set_timer(at, Timer::Requests { cloud: self.cloud });
        }
        expired
    }

    /// The txids of the requests in flight to `node`, in order.
    pub(crate) fn requests_to(&self, node: &NodeId) -> Vec<u64> {
        let mut txids: Vec<u64> =
            self.requests.iter().filter(|(_, p)| p.to.node == *node).map(|(t, _)| *t).collect();
        txids.sort_unstable();
        txids
    }

    /// A request failed (timed out, its peer is down, or it answered nonsense): the table
    /// notes the failure, a lookup moves on, an RR slot frees.
    pub(crate) fn request_failed(&mut self, cx: &mut Ctx<'_>, p: Pending) -> Failure {
        if let Failed::CheckReachability(r, referrer) =
            self.table.failed(&p.to.node, cx.now.instant)
        {
            self.rr_enqueue(cx.config.rr_queue, r, referrer);
        }
        match p.kind {
            PendingKind::Lookup { lookup, path } => {
                if let Some(e) = self.lookups.get_mut(&lookup) {
                    e.lookup.failed(usize::from(path), &p.to.node);
                    if let Some(entry) = self.drive_lookup(cx, lookup) {
                        return Failure::LookupFinished(Box::new(entry));
                    }
                }
                Failure::Done
            }
            PendingKind::Ping { rr, .. } => {
                if rr {
                    self.rr_in_flight = self.rr_in_flight.saturating_sub(1);
                }
                Failure::Done
            }
            PendingKind::Store { owner } => Failure::Store(owner),
        }
    }

    /// Matches a response to the request it answers and takes that request.
    pub(crate) fn match_response(
        &mut self,
        cx: &mut Ctx<'_>,
        from: PeerAddr,
        body: &Body,
    ) -> Matched {
        let txid = match body {
            Body::Pong { nonce } => *nonce,
            Body::Nodes { txid, .. } | Body::Found { txid, .. } | Body::StoreAck { txid, .. } => {
                *txid
            }
            _ => return Matched::Unsolicited,
        };
        if self.requests.get(&txid).is_none_or(|p| p.to.node != from.node) {
            cx.counters.unsolicited_responses += 1;
            return Matched::Unsolicited;
        }
        let Some(pending) = self.requests.remove(&txid) else {
            return Matched::Unsolicited;
        };
        let kind_ok = matches!(
            (&pending.kind, body),
            (PendingKind::Ping { .. }, Body::Pong { .. })
                | (PendingKind::Store { .. }, Body::StoreAck { .. })
                | (PendingKind::Lookup { .. }, Body::Nodes { .. } | Body::Found { .. })
        );
        if !kind_ok {
            // a broken or hostile peer
            cx.counters.unsolicited_responses += 1;
            return Matched::WrongKind(pending);
        }
        let referrer = match pending.kind {
            PendingKind::Lookup { lookup, path } => self
                .lookups
                .get(&lookup)
                .and_then(|e| e.lookup.referrer_of(usize::from(path), &from.node)),
            PendingKind::Ping { referrer, .. } => referrer,
            PendingKind::Store { .. } => None,
        };
        Matched::Answer(pending, referrer)
    }

    /// A return-routability ping was answered: its slot frees.
    pub(crate) fn rr_answered(&mut self, cx: &mut Ctx<'_>) {
        self.rr_in_flight = self.rr_in_flight.saturating_sub(1);
        self.pump_rr(cx);
    }

    /// An answer (`Nodes`/`Found`) to request `path` of lookup `lookup`: the lookup learns
    /// its contacts, the contacts go to the RR pipeline. `None` for a lookup that has ended
    /// (counted).
    pub(crate) fn lookup_answered(
        &mut self,
        cx: &mut Ctx<'_>,
        lookup: u64,
        path: usize,
        from: PeerAddr,
        body: Body,
    ) -> Option<Answer> {
        let resolve =
            matches!(self.lookups.get(&lookup).map(|l| l.purpose), Some(Purpose::Resolve(_)));
        let received_bytes = if resolve {
            // a struct encodes as its fields in order: (cloud, body) is the message
            (peergroup_base::codec::HEADER_LEN
                + peergroup_base::codec::body_len(&(self.cloud, &body)).unwrap_or(0))
                as u64
        } else {
            0
        };
        let Some(entry) = self.lookups.get_mut(&lookup) else {
            cx.counters.late_responses += 1;
            return None;
        };
        let (nodes, cpas, holds) = match body {
            Body::Nodes { nodes, .. } => (nodes, Vec::new(), None),
            Body::Found { nodes, cpas, holds, .. } => (nodes, cpas, holds),
            _ => return None,
        };
        let depth = entry.lookup.responded(path, &from.node);
        entry.lookup.learn(path, &nodes, depth, from.node);
        let purpose = entry.purpose;
        if let Purpose::Register { .. } = purpose {
            entry.holdings.push((from.node, holds));
        }
        for n in &nodes {
            if self.table.offer(*n, Some(from.node)) == Offer::CheckReachability {
                self.rr_enqueue(cx.config.rr_queue, *n, Some(from.node));
            }
        }
        Some(Answer { lookup, purpose, path, from, depth, cpas, received_bytes })
    }

    // ----- contacts ----------------------------------------------------------------------

    /// We heard from `from` directly (unprompted if `referrer` is `None`, else in answer to
    /// a request we sent because `referrer` named it): admit or refresh it. `true` if it
    /// entered the table.
    pub(crate) fn heard_from(
        &mut self,
        cx: &mut Ctx<'_>,
        from: PeerAddr,
        referrer: Option<NodeId>,
    ) -> bool {
        let probe_after = cx.config.eviction_probe_after;
        match self.table.seen(from, referrer, cx.now.instant, probe_after) {
            Seen::Admitted => true,
            Seen::Full { probe: Some(lrs) } => {
                if self.send_ping(cx, lrs, None) {
                    cx.counters.eviction_probes += 1;
                }
                false
            }
            _ => false,
        }
    }

    /// Kademlia §2.5: when a new node joins closer to a key we hold than we are, and we are
    /// the closest node we know to that key, we give it the key's CPAs.
    pub(crate) fn hand_over(&mut self, cx: &mut Ctx<'_>, w: PeerAddr) {
        if self.store.is_empty() {
            return;
        }
        let wk = Key::of_node(&w.node);
        let mut keys: Vec<Key> = Vec::new();
        for (key, _) in self.store.key_list() {
            let mine = cx.key.distance(key);
            if wk.distance(key) >= mine {
                continue;
            }
            let closer_known = self
                .table
                .closest(key, 1, Some(&w.node))
                .first()
                .is_some_and(|p| Key::of_node(&p.node).distance(key) < mine);
            if !closer_known {
                keys.push(*key);
            }
        }
        for key in keys {
            for cpa in self.store.all_for(&key, cx.now.unix) {
                if self.send_store(cx, w, cpa, StoreOwner::Handover) {
                    cx.counters.handovers += 1;
                }
            }
        }
    }

    /// A peer to join through or to add (the seeds of a restart, LAN discovery).
    pub(crate) fn add_peer(&mut self, cx: &mut Ctx<'_>, peer: PeerAddr) {
        if self.table.offer(peer, None) == Offer::CheckReachability {
            self.rr_enqueue(cx.config.rr_queue, peer, None);
            self.pump_rr(cx);
        }
    }

    fn rr_enqueue(&mut self, cap: usize, peer: PeerAddr, referrer: Option<NodeId>) {
        if self.rr_queue.iter().any(|(p, _)| p.node == peer.node) {
            return;
        }
        if self.rr_queue.len() >= cap {
            self.rr_queue.pop_front();
        }
        self.rr_queue.push_back((peer, referrer));
    }

    /// Sends return-routability pings while the pipeline has room.
    pub(crate) fn pump_rr(&mut self, cx: &mut Ctx<'_>) {
        while self.rr_in_flight < cx.config.rr_in_flight {
            let Some((peer, referrer)) = self.rr_queue.pop_back() else {
                return;
            };
            // re-check: the bucket may have filled meanwhile
            if self.table.offer(peer, referrer) != Offer::CheckReachability {
                continue;
            }
            if self.send_ping(cx, peer, Some(referrer)) {
                self.rr_in_flight += 1;
                cx.counters.rr_checks += 1;
            } else {
                return;
            }
        }
    }

    // ----- answering ---------------------------------------------------------------------

    /// An honest node's answer to a request. `own` are this node's registrations in this
    /// cloud, as (name, current CPA): a node answers for its own names like a replica.
    pub(crate) fn answer<'r>(
        &mut self,
        cx: &mut Ctx<'_>,
        from: PeerAddr,
        body: Body,
        own: impl Iterator<Item = (P2pId, &'r Cpa)>,
    ) -> Option<Body> {
        let now = cx.now;
        match body {
            Body::Ping { nonce } => Some(Body::Pong { nonce }),
            Body::FindNode { txid, target, count, .. } => {
                let nodes = self.table.closest(&target, usize::from(count), Some(&from.node));
                Some(Body::Nodes { txid, nodes })
            }
            Body::FindName { txid, p2p, count, max_results, hint, probe, .. } => {
                let key = Key::of_name(&p2p);
                let nodes = self.table.closest(&key, usize::from(count), Some(&from.node));
                let mut cpas = if max_results > 0 {
                    self.store.get(
                        &key,
                        now.unix,
                        usize::from(max_results),
                        MAX_FOUND_CPA_BYTES,
                        hint,
                    )
                } else {
                    Vec::new()
                };
                let probe = probe.map(|b| *b);
                let mut holds = probe.and_then(|inst| self.store.holds(&key, &inst, now.unix));
                for (_, current) in own.filter(|(p, _)| *p == p2p) {
                    if let Some(inst) = probe
                        && current.instance() == inst
                    {
                        holds = holds.max(Some(current.body().sequence));
                    }
                    if cpas.len() < usize::from(max_results)
                        && !current.body().revoked
                        && !current.is_expired(now.unix)
                        && !cpas.iter().any(|s| s == current.signed())
                    {
                        cpas.push(current.signed().clone());
                    }
                }
                Some(Body::Found { txid, nodes, cpas, holds })
            }
            Body::Store { txid, cpa } => {
                let status = self.accept_store(cx, &cpa);
                Some(Body::StoreAck { txid, status })
            }
            _ => None,
        }
    }

    fn accept_store(&mut self, cx: &mut Ctx<'_>, cpa: &SignedCpa) -> StoreStatus {
        let digest = cpa.digest();
        if self.store.contains_digest(&digest) {
            cx.counters.signature_checks_saved += 1;
            return StoreStatus::AlreadyCurrent;
        }
        let validator = cx.config.validator.as_deref();
        match cpa.verify_cached(cx.now.unix, validator, cx.verify_cache) {
            Ok(verified) => {
                let status = self.store.put(verified, cx.now.unix);
                match status {
                    StoreStatus::Stored => cx.counters.stores_accepted += 1,
                    StoreStatus::Full | StoreStatus::Invalid => cx.counters.stores_refused += 1,
                    StoreStatus::AlreadyCurrent => {}
                }
                status
            }
            Err(e) => {
                cx.counters.note_cpa_error(&e);
                cx.counters.stores_refused += 1;
                StoreStatus::Invalid
            }
        }
    }

    // ----- maintenance -------------------------------------------------------------------

    /// The periodic tick (§5.5): sweeps the store, refreshes, pings the quietest contact.
    /// `true` if the cloud must bootstrap (again) instead.
    pub(crate) fn maintenance(&mut self, cx: &mut Ctx<'_>) -> bool {
        let now = cx.now;
        let next = cx.jitter(cx.config.maintenance_interval);
        cx.out.set_timer(now.instant + next, Timer::Maintenance { cloud: self.cloud });
        self.store.sweep(now.unix);
        self.shrink();
        match self.state {
            CloudState::Active => {}
            CloudState::Synchronising => {
                return !self.has_lookup(|p| p == Purpose::Bootstrap);
            }
            _ => return false,
        }
        if self.table.is_empty() {
            return true;
        }
        if now.instant.saturating_since(self.last_self_lookup) >= cx.config.refresh_interval {
            self.self_refresh(cx);
        }
        self.refresh_buckets(cx, false);
        // liveness: ping the entry quiet for longest, if quiet long enough
        let quiet = self
            .table
            .entries()
            .min_by_key(|e| e.last_seen)
            .filter(|e| now.instant.saturating_since(e.last_seen) >= cx.config.liveness_interval)
            .map(|e| e.peer);
        if let Some(peer) = quiet
            && self.send_ping(cx, peer, None)
        {
            cx.counters.liveness_pings += 1;
        }
        false
    }

    /// A lookup of our own id: tells our neighbours about us and finds new close ones.
    pub(crate) fn self_refresh(&mut self, cx: &mut Ctx<'_>) {
        if self.has_lookup(|p| matches!(p, Purpose::SelfRefresh | Purpose::Bootstrap)) {
            return;
        }
        self.last_self_lookup = cx.now.instant;
        let seeds = self.table.closest(&cx.key, cx.config.k, None);
        let target = cx.key;
        let lookup = NewLookup {
            target,
            params: cx.node_lookup_params(u32::MAX),
            request: LookupRequest::FindNode { target, count: cx.bootstrap_count() },
            purpose: Purpose::SelfRefresh,
            near: None,
        };
        // a self-refresh ends in the cloud: nothing is handed back
        let _started = self.start_lookup(cx, lookup, &seeds);
    }

    /// Refreshes buckets farther than our closest neighbour (§5.5). A bucket `i` covers
    /// about `n / 2^(i+1)` nodes of a cloud of `n` (the size estimate); it is *sparse* if
    /// it holds fewer than `min(k, ¾ of that)`. A sparse bucket is refreshed after a
    /// backoff (`sparse_refresh_interval`, doubling while refreshes add nothing); a bucket
    /// that is not sparse when no lookup went into it for `refresh_interval`. `all_sparse`:
    /// refresh every sparse bucket now (right after bootstrap). A refresh asks
    /// `refresh_requests` nodes for a random position in the bucket; the contacts it
    /// brings are admitted after their return-routability check.
    pub(crate) fn refresh_buckets(&mut self, cx: &mut Ctx<'_>, all_sparse: bool) {
        let Some(top) = self
            .table
            .closest(&cx.key, 1, None)
            .first()
            .map(|p| self.table.bucket_of(&Key::of_node(&p.node)))
        else {
            return;
        };
        let size = self.table.size_estimate();
        let now = cx.now.instant;
        let k = cx.config.k;
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
            self.ensure_bucket(bucket);
            let last = self.bucket_activity[bucket];
            let sparse = self.table.bucket_len(bucket) < wanted(bucket);
            let due = if !sparse {
                last + cx.config.refresh_interval
            } else if all_sparse {
                now
            } else {
                let back = cx
                    .config
                    .sparse_refresh_interval
                    .saturating_mul(1 << self.bucket_backoff[bucket].min(10))
                    .min(cx.config.refresh_interval);
                last + back
            };
            if now < due {
                continue;
            }
            if self.has_lookup(|p| matches!(p, Purpose::Refresh { bucket: b, .. } if b == bucket)) {
                continue;
            }
            let target = cx.key.random_in_bucket(bucket as u32, &mut *cx.rng);
            let before = self.table.bucket_len(bucket);
            self.touch_bucket(bucket, now);
            let seeds = self.table.closest(&target, k, None);
            if seeds.is_empty() {
                continue;
            }
            let count = (2 * cx.config.per_referrer).clamp(1, MAX_CONTACTS) as u8;
            let lookup = NewLookup {
                target,
                params: cx.node_lookup_params(cx.config.refresh_requests.max(1)),
                request: LookupRequest::FindNode { target, count },
                purpose: Purpose::Refresh { bucket, before },
                near: None,
            };
            // a refresh ends in the cloud: nothing is handed back
            if self.start_lookup(cx, lookup, &seeds).is_some() {
                started += 1;
            }
        }
    }
}
