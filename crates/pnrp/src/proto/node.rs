//! The [`Pnrp`] core: one node's state for every cloud, and the dispatch of inputs.
//!
//! The node owns what spans its clouds — its registrations (`register.rs`), resolves
//! (`resolve.rs`), RNG, counters and signature cache — and one [`CloudCore`] per cloud
//! (`cloud.rs`), which holds the table, store, requests and lookups of that cloud. This file
//! routes each input to the cloud it concerns, lends the cloud what it needs as a [`Ctx`],
//! and acts on what the cloud hands back: a lookup that ended for a resolve, a registration
//! or a join, a failed store, a change of the cloud's state.

use std::collections::BTreeMap;

use peergroup_base::{Input, Now, PeerAddr, Protocol};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[cfg(feature = "sim")]
use crate::proto::adversary::Adversary;
use crate::proto::api::{
    CloudInfo, CloudState, Command, Event, RegistrationId, ResolveId, ResolveOutcome, TableEntry,
    Timer,
};
use crate::proto::cloud::{
    Answer, CloudCore, Failure, LookupEntry, Matched, NewLookup, Out, Pending, PendingKind, Purpose,
};
use crate::proto::config::Config;
use crate::proto::counters::Counters;
use crate::proto::cpa::VerifyCache;
use crate::proto::key::Key;
use crate::proto::message::{Body, Cloud, Message};
use crate::proto::register::Registration;
use crate::proto::resolve::Resolve;
use crate::proto::store::CpaStore;
use crate::proto::table::RoutingTable;

/// Lends a cloud the node's shared parts: `cx!(self, now, out)` borrows only the fields
/// named, so `self.clouds[ci]` (and `self.registrations`) stay usable beside it.
macro_rules! cx {
    ($node:ident, $now:expr, $out:expr) => {
        $crate::proto::cloud::Ctx {
            me: $node.me,
            key: $node.key,
            config: &$node.config,
            rng: &mut $node.rng,
            counters: &mut $node.counters,
            verify_cache: &mut $node.verify_cache,
            now: $now,
            out: &mut *$out,
        }
    };
}
pub(crate) use cx;

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

    /// Shares this node's Ed25519 verdicts with every node given the same `shared`
    /// (simulation only, feature `sim`): no result and no counter changes, the arithmetic
    /// runs once per distinct CPA.
    #[cfg(feature = "sim")]
    pub fn share_verdicts(&mut self, shared: crate::proto::cpa::SharedVerdicts) {
        self.verify_cache.share(shared);
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

    /// `true` for a simulated adversary, which hands nothing over (feature `sim`).
    fn lies(&self) -> bool {
        #[cfg(feature = "sim")]
        return self.adversary.is_some();
        #[cfg(not(feature = "sim"))]
        false
    }

    // ----- what a cloud hands back ---------------------------------------------------------

    /// Sets a cloud's state; a cloud that becomes usable runs the resolves and
    /// registrations waiting for it, one that dies fails its queued resolves.
    pub(crate) fn set_state(&mut self, ci: usize, state: CloudState, now: Now, out: &mut Out) {
        if !self.clouds[ci].set_state(state, out) {
            return;
        }
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

    /// Starts a lookup in cloud `ci`; acts on it if it ends at once. Its id, or `None` if
    /// too many lookups run.
    pub(crate) fn start_lookup(
        &mut self,
        ci: usize,
        lookup: NewLookup,
        seeds: &[PeerAddr],
        now: Now,
        out: &mut Out,
    ) -> Option<u64> {
        let started = self.clouds[ci].start_lookup(&mut cx!(self, now, out), lookup, seeds)?;
        self.lookup_finished(ci, started.finished, now, out);
        Some(started.id)
    }

    /// Hands a lookup that ended to its owner: the join, a resolve, a registration.
    fn lookup_finished(&mut self, ci: usize, entry: Option<LookupEntry>, now: Now, out: &mut Out) {
        let Some(entry) = entry else {
            return;
        };
        match entry.purpose {
            Purpose::Bootstrap => {
                if self.clouds[ci].bootstrap_finished(&entry) {
                    self.set_state(ci, CloudState::Active, now, out);
                    self.clouds[ci].refresh_buckets(&mut cx!(self, now, out), true);
                } else {
                    self.set_state(ci, CloudState::Dead, now, out);
                    self.clouds[ci].retry_bootstrap(&mut cx!(self, now, out));
                }
            }
            Purpose::Resolve(rid) => self.resolve_lookup_finished(rid, &entry, now, out),
            Purpose::Register { id, generation } => {
                self.registration_lookup_finished(ci, id, generation, &entry, now, out)
            }
            // the cloud's own: it acted on them already
            Purpose::SelfRefresh | Purpose::Refresh { .. } => {}
        }
    }

    /// Joins cloud `ci` (again).
    pub(crate) fn bootstrap(&mut self, ci: usize, now: Now, out: &mut Out) {
        let finished = self.clouds[ci].bootstrap(&mut cx!(self, now, out));
        self.lookup_finished(ci, finished, now, out);
    }

    fn drive_lookup(&mut self, ci: usize, lookup: u64, now: Now, out: &mut Out) {
        let finished = self.clouds[ci].drive_lookup(&mut cx!(self, now, out), lookup);
        self.lookup_finished(ci, finished, now, out);
    }

    fn request_failed(&mut self, ci: usize, p: Pending, now: Now, out: &mut Out) {
        match self.clouds[ci].request_failed(&mut cx!(self, now, out), p) {
            Failure::Done => {}
            Failure::LookupFinished(entry) => self.lookup_finished(ci, Some(*entry), now, out),
            Failure::Store(owner) => self.store_answered(owner, None, now, out),
        }
        self.clouds[ci].pump_rr(&mut cx!(self, now, out));
        if self.clouds[ci].table.is_empty() && self.clouds[ci].state == CloudState::Active {
            self.bootstrap(ci, now, out);
        }
    }

    /// Fails the request `txid` if it is still in flight.
    fn fail_txid(&mut self, ci: usize, txid: u64, now: Now, out: &mut Out) {
        if let Some(p) = self.clouds[ci].requests.remove(&txid) {
            self.request_failed(ci, p, now, out);
        }
    }

    /// We heard from `from`: the cloud admits or refreshes it; a newcomer gets the CPAs it
    /// is now closest to, and a cloud that was alone or dead comes to life.
    fn heard_from(
        &mut self,
        ci: usize,
        from: PeerAddr,
        referrer: Option<peergroup_base::NodeId>,
        now: Now,
        out: &mut Out,
    ) {
        if !self.clouds[ci].heard_from(&mut cx!(self, now, out), from, referrer) {
            return;
        }
        if !self.lies() {
            self.clouds[ci].hand_over(&mut cx!(self, now, out), from);
        }
        match self.clouds[ci].state {
            CloudState::Alone => {
                self.set_state(ci, CloudState::Active, now, out);
                self.clouds[ci].self_refresh(&mut cx!(self, now, out));
            }
            CloudState::Dead => self.bootstrap(ci, now, out),
            _ => {}
        }
    }

    // ----- inputs ------------------------------------------------------------------------

    fn start(&mut self, now: Now, out: &mut Out) {
        for ci in 0..2 {
            if !self.clouds[ci].enabled {
                continue;
            }
            let cloud = self.clouds[ci].cloud;
            if cloud == Cloud::Global {
                for s in self.config.seeds.iter().filter(|s| s.node != self.me.node) {
                    self.clouds[ci].remember_bootstrap_peer(self.me.node, *s);
                }
            }
            let mut cx = cx!(self, now, out);
            let jitter = cx.jitter(cx.config.maintenance_interval);
            out.set_timer(now.instant + jitter, Timer::Maintenance { cloud });
            if self.clouds[ci].bootstrap_peers.is_empty() {
                self.set_state(ci, CloudState::Alone, now, out);
            } else {
                self.bootstrap(ci, now, out);
            }
        }
    }

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
                if let Some(adv) = &mut self.adversary {
                    if let Some(body) = adv.answer(from, msg.body, now) {
                        out.send(from, Message { cloud, body });
                    }
                    return;
                }
                let own = self
                    .registrations
                    .values()
                    .filter(|r| r.cloud == cloud)
                    .map(|r| (r.p2p, &r.current));
                let answer = self.clouds[ci].answer(&mut cx!(self, now, out), from, msg.body, own);
                if let Some(body) = answer {
                    out.send(from, Message { cloud, body });
                }
            }
            body => self.response(ci, from, body, now, out),
        }
    }

    /// A response arrived: match it to its request and act on it.
    fn response(&mut self, ci: usize, from: PeerAddr, body: Body, now: Now, out: &mut Out) {
        let (pending, referrer) =
            match self.clouds[ci].match_response(&mut cx!(self, now, out), from, &body) {
                Matched::Unsolicited => return,
                Matched::WrongKind(pending) => {
                    self.request_failed(ci, pending, now, out);
                    return;
                }
                Matched::Answer(pending, referrer) => (pending, referrer),
            };
        self.heard_from(ci, from, referrer, now, out);
        match pending.kind {
            PendingKind::Ping { rr, .. } => {
                if rr {
                    self.clouds[ci].rr_answered(&mut cx!(self, now, out));
                }
            }
            PendingKind::Store { owner } => {
                if let Body::StoreAck { status, .. } = body {
                    self.store_answered(owner, Some(status), now, out);
                }
            }
            PendingKind::Lookup { lookup, path } => {
                let answer = self.clouds[ci].lookup_answered(
                    &mut cx!(self, now, out),
                    lookup,
                    usize::from(path),
                    from,
                    body,
                );
                if let Some(answer) = answer {
                    self.lookup_answer(ci, answer, now, out);
                }
            }
        }
    }

    /// A lookup learned from an answer: a join lets waiting resolves go, a resolve checks
    /// the CPAs; then the lookup moves on.
    fn lookup_answer(&mut self, ci: usize, answer: Answer, now: Now, out: &mut Out) {
        let lookup = answer.lookup;
        if answer.purpose == Purpose::Bootstrap && self.clouds[ci].bootstrap_answered() {
            // A contact answered: waiting resolves start from what the table holds now,
            // not after the rest of the bootstrap (pnrp.md §8 step 1), which can wait on
            // contacts that have gone.
            self.run_queued_resolves(ci, now, out);
        }
        if let Purpose::Resolve(rid) = answer.purpose
            && self.resolve_answer(ci, rid, answer, now, out)
        {
            return;
        }
        self.clouds[ci].pump_rr(&mut cx!(self, now, out));
        self.drive_lookup(ci, lookup, now, out);
    }

    fn peer_down(&mut self, now: Now, peer: PeerAddr, out: &mut Out) {
        for ci in 0..2 {
            for txid in self.clouds[ci].requests_to(&peer.node) {
                self.fail_txid(ci, txid, now, out);
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
                self.clouds[ci].remember_bootstrap_peer(self.me.node, peer);
                match self.clouds[ci].state {
                    CloudState::Alone | CloudState::Dead => self.bootstrap(ci, now, out),
                    CloudState::Active | CloudState::Synchronising => {
                        self.clouds[ci].add_peer(&mut cx!(self, now, out), peer)
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
            Timer::Requests { cloud } => {
                let ci = cloud.index();
                for txid in self.clouds[ci].expired_requests(&mut cx!(self, now, out)) {
                    self.fail_txid(ci, txid, now, out);
                }
            }
            Timer::Lookup { cloud, lookup } => {
                let ci = cloud.index();
                let finished = self.clouds[ci].lookup_timer(&mut cx!(self, now, out), lookup);
                self.lookup_finished(ci, finished, now, out);
            }
            Timer::Maintenance { cloud } => {
                let ci = cloud.index();
                if self.clouds[ci].maintenance(&mut cx!(self, now, out)) {
                    self.bootstrap(ci, now, out);
                }
            }
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
