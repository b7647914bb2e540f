//! The discrete-event engine: a virtual clock, an event queue, the nodes and the network.

use std::collections::{BinaryHeap, HashMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use peergroup_base::sansio::{InputOf, OutboxOf, OutputOf};
use peergroup_base::{Input, Instant, NodeId, Now, Output, PeerAddr, Protocol, UnixTime};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::invariant::{Invariant, InvariantCheck, SimError, SimView};
use crate::link::{Churn, ChurnNodes, LinkConfig};
use crate::node::{NodeCtx, NodeIdx, derived_node_id, node_seed, node_socket_addr};
use crate::stats::{NodeStats, Stats};
use crate::trace::{FxBuild, Record, TraceHash};

/// An event a core emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emitted<E> {
    /// When it was emitted.
    pub at: Instant,
    /// The node that emitted it.
    pub node: NodeIdx,
    /// The event.
    pub event: E,
}

/// Settings of a simulator.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Seed of the network RNG and of every derived node id and node seed. Default: 0.
    pub seed: u64,
    /// Wall-clock time at virtual instant zero (`Now::unix` = this + elapsed). Default:
    /// 2026-01-01T00:00:00Z, a fixed date so that runs replay and certificates minted
    /// for the simulation stay valid.
    pub start_unix: UnixTime,
    /// Link model of every pair of nodes without an override. Default:
    /// [`LinkConfig::default`] (10–50 ms uniform, no loss).
    pub default_link: LinkConfig,
    /// How long a sender waits before it learns, as `PeerDown`, that a destination is
    /// unreachable (nobody at the address, wrong node id, node down, partition). Default:
    /// 1 s, a typical QUIC dial timeout on a LAN.
    pub unreachable_timeout: Duration,
    /// Whether emitted events are kept for [`Sim::events`] / [`Sim::drain_events`].
    /// Default: `true`. Turn off for long runs that watch events with
    /// [`Sim::on_event`] or only need counters.
    pub record_events: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 0,
            start_unix: UnixTime::from_secs(1_767_225_600),
            default_link: LinkConfig::default(),
            unreachable_timeout: Duration::from_secs(1),
            record_events: true,
        }
    }
}

impl SimConfig {
    /// The default configuration with another seed.
    pub fn with_seed(seed: u64) -> Self {
        SimConfig { seed, ..SimConfig::default() }
    }
}

/// A scheduled event. Lives in the slab; the heap holds only its time, sequence and slot.
pub(crate) enum Pending<P: Protocol> {
    Start { node: u32, inc: u32 },
    Deliver { from: u32, to: u32, to_inc: u32, wire_len: u32, body_hash: u64, msg: P::Message },
    PeerDown { node: u32, inc: u32, peer: PeerAddr },
    Timer { node: u32, inc: u32, timer: P::Timer },
    Command { node: u32, cmd: P::Command },
    Crash { node: u32 },
    Restart { node: u32 },
    ChurnCrash { node: u32, epoch: u32 },
    ChurnRestart { node: u32, epoch: u32 },
}

/// A heap entry, ordered so that `BinaryHeap` (a max-heap) pops the earliest
/// `(at, seq)` first. `seq` is unique, so the order is total and ties in time keep the
/// order in which events were scheduled.
#[derive(Clone, Copy)]
struct Entry {
    at: u64,
    seq: u64,
    slot: u32,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

type Factory<P> = Box<dyn FnMut(&NodeCtx) -> P>;
type Observer<E> = Box<dyn FnMut(&Emitted<E>)>;

pub(crate) struct Node<P> {
    pub(crate) addr: PeerAddr,
    /// `None` while the node is down.
    pub(crate) state: Option<P>,
    pub(crate) incarnation: u32,
    factory: Factory<P>,
}

struct ChurnState {
    churn: Churn,
    epoch: u32,
}

/// A deterministic simulator running one [`Protocol`] core per node on a virtual network.
///
/// See the [crate documentation](crate) for the model and the determinism guarantee.
pub struct Sim<P: Protocol> {
    pub(crate) config: SimConfig,
    pub(crate) now: u64,
    seq: u64,
    heap: BinaryHeap<Entry>,
    slab: Vec<Option<Pending<P>>>,
    free: Vec<u32>,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) nodes: Vec<Node<P>>,
    pub(crate) node_stats: Vec<NodeStats>,
    pub(crate) by_addr: HashMap<SocketAddr, u32, FxBuild>,
    pub(crate) links: HashMap<(u32, u32), LinkConfig, FxBuild>,
    pub(crate) blocked: HashSet<(u32, u32), FxBuild>,
    /// Partition group of each node (0: not listed); `None` when there is no partition.
    pub(crate) groups: Option<Vec<u32>>,
    churn: Option<ChurnState>,
    churn_epoch: u32,
    invariants: Vec<Invariant<P>>,
    violation: Option<SimError>,
    pub(crate) stats: Stats,
    pub(crate) in_flight: u64,
    pub(crate) trace: TraceHash,
    outbox: OutboxOf<P>,
    pub(crate) buf: Vec<u8>,
    events: Vec<Emitted<P::Event>>,
    observer: Option<Observer<P::Event>>,
}

impl<P: Protocol> fmt::Debug for Sim<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("now", &self.now())
            .field("nodes", &self.nodes.len())
            .field("pending", &self.heap.len())
            .field("stats", &self.stats)
            .field("trace_hash", &self.trace_hash())
            .finish_non_exhaustive()
    }
}

impl<P: Protocol> Sim<P> {
    /// An empty simulator at virtual time zero.
    pub fn new(config: SimConfig) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(config.seed);
        Sim {
            config,
            now: 0,
            seq: 0,
            heap: BinaryHeap::new(),
            slab: Vec::new(),
            free: Vec::new(),
            rng,
            nodes: Vec::new(),
            node_stats: Vec::new(),
            by_addr: HashMap::default(),
            links: HashMap::default(),
            blocked: HashSet::default(),
            groups: None,
            churn: None,
            churn_epoch: 0,
            invariants: Vec::new(),
            violation: None,
            stats: Stats::default(),
            in_flight: 0,
            trace: TraceHash::default(),
            outbox: OutboxOf::<P>::new(),
            buf: Vec::with_capacity(256),
            events: Vec::new(),
            observer: None,
        }
    }

    /// The configuration the simulator was built with.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    // ----- nodes -------------------------------------------------------------------------

    /// Adds a node with a [`derived_node_id`] and returns its index.
    ///
    /// See [`add_node_with_id`](Self::add_node_with_id).
    pub fn add_node(&mut self, factory: impl FnMut(&NodeCtx) -> P + 'static) -> NodeIdx {
        let index = NodeIdx(self.next_index());
        self.add_node_with_id(derived_node_id(self.config.seed, index), factory)
    }

    /// Adds a node with the given id at the next index and returns the index.
    ///
    /// The factory builds the node's state now and again at every restart. The node is up
    /// at once; `Input::Start` is delivered on a later step at the current time (after
    /// everything already scheduled for this instant), so that nodes added together all
    /// exist before any of them starts and sends.
    ///
    /// # Panics
    ///
    /// If the simulator already holds `u32::MAX` nodes.
    pub fn add_node_with_id(
        &mut self,
        id: NodeId,
        mut factory: impl FnMut(&NodeCtx) -> P + 'static,
    ) -> NodeIdx {
        let i = self.next_index();
        let addr = PeerAddr { node: id, addr: node_socket_addr(NodeIdx(i)) };
        let ctx = NodeCtx {
            index: NodeIdx(i),
            addr,
            seed: node_seed(self.config.seed, i, 0),
            incarnation: 0,
        };
        let state = factory(&ctx);
        self.nodes.push(Node {
            addr,
            state: Some(state),
            incarnation: 0,
            factory: Box::new(factory),
        });
        self.node_stats.push(NodeStats::default());
        self.by_addr.insert(addr.addr, i);
        self.schedule(self.now, Pending::Start { node: i, inc: 0 });
        if let Some(c) = &self.churn
            && c.churn.nodes == ChurnNodes::All
        {
            let (session, epoch) = (c.churn.session, c.epoch);
            let at = self.now.saturating_add(session.sample_micros(&mut self.rng).max(1));
            self.schedule(at, Pending::ChurnCrash { node: i, epoch });
        }
        NodeIdx(i)
    }

    fn next_index(&self) -> u32 {
        // Invariant: more than four billion nodes do not fit in memory anyway.
        #[allow(clippy::expect_used)]
        u32::try_from(self.nodes.len()).expect("at most u32::MAX nodes")
    }

    /// The [`PeerAddr`] [`add_node`](Self::add_node) gives (or gave) node `index`; known
    /// before the node exists, so a factory can be handed its neighbours' addresses.
    pub fn derived_peer_addr(&self, index: NodeIdx) -> PeerAddr {
        PeerAddr { node: derived_node_id(self.config.seed, index), addr: node_socket_addr(index) }
    }

    /// Number of nodes ever added (up or down).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Indices of all nodes.
    pub fn node_indices(&self) -> impl Iterator<Item = NodeIdx> + use<P> {
        (0..self.nodes.len() as u32).map(NodeIdx)
    }

    /// The id and address of a node, or `None` if there is no such node.
    pub fn peer_addr(&self, node: NodeIdx) -> Option<PeerAddr> {
        self.nodes.get(node.index()).map(|n| n.addr)
    }

    /// The node listening at `addr`, if any.
    pub fn node_at(&self, addr: SocketAddr) -> Option<NodeIdx> {
        self.by_addr.get(&addr).map(|&i| NodeIdx(i))
    }

    /// The node's state, or `None` if the node is down or does not exist.
    pub fn node_state(&self, node: NodeIdx) -> Option<&P> {
        self.nodes.get(node.index()).and_then(|n| n.state.as_ref())
    }

    /// Mutable access to a node's state (for test set-up; the state machine contract is
    /// that only inputs change it).
    pub fn node_state_mut(&mut self, node: NodeIdx) -> Option<&mut P> {
        self.nodes.get_mut(node.index()).and_then(|n| n.state.as_mut())
    }

    /// `true` if the node exists and is up.
    pub fn is_up(&self, node: NodeIdx) -> bool {
        self.node_state(node).is_some()
    }

    /// How many times the node has been restarted, or `None` if there is no such node.
    pub fn incarnation(&self, node: NodeIdx) -> Option<u32> {
        self.nodes.get(node.index()).map(|n| n.incarnation)
    }

    /// The node's message counters (zero for an unknown node).
    pub fn node_stats(&self, node: NodeIdx) -> NodeStats {
        self.node_stats.get(node.index()).copied().unwrap_or_default()
    }

    /// Message counters of every node, by index.
    pub fn all_node_stats(&self) -> &[NodeStats] {
        &self.node_stats
    }

    pub(crate) fn check_node(&self, node: NodeIdx) -> u32 {
        assert!(node.index() < self.nodes.len(), "{node} is not a node of this simulator");
        node.0
    }

    // ----- time --------------------------------------------------------------------------

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        Instant::from_micros(self.now)
    }

    /// The current time as cores see it: virtual instant and wall clock.
    pub fn now_full(&self) -> Now {
        Now {
            instant: self.now(),
            unix: self.config.start_unix.saturating_add(Duration::from_micros(self.now)),
        }
    }

    fn at_or_now(&self, at: Instant) -> u64 {
        at.as_micros().max(self.now)
    }

    // ----- application inputs ------------------------------------------------------------

    /// Delivers a command to a node at the current time (on the next step, after anything
    /// already scheduled for this instant). Dropped, and counted in
    /// [`Stats::commands_dropped`], if the node is down then.
    ///
    /// # Panics
    ///
    /// If `node` is not a node of this simulator (also for the other methods taking a
    /// [`NodeIdx`] to act on).
    pub fn command(&mut self, node: NodeIdx, cmd: P::Command) {
        self.schedule_command(self.now(), node, cmd);
    }

    /// Delivers a command to a node at `at` (or now, if `at` has passed).
    pub fn schedule_command(&mut self, at: Instant, node: NodeIdx, cmd: P::Command) {
        let node = self.check_node(node);
        self.schedule(self.at_or_now(at), Pending::Command { node, cmd });
    }

    /// Crashes a node now: its state is dropped, its timers will be discarded, and
    /// messages on their way to it are dropped when they arrive. Returns `false` if the
    /// node was already down.
    pub fn crash(&mut self, node: NodeIdx) -> bool {
        let i = self.check_node(node);
        if self.nodes[i as usize].state.take().is_none() {
            return false;
        }
        self.stats.crashes += 1;
        self.trace.record(Record::Crash, self.now, &[u64::from(i)]);
        true
    }

    /// Restarts a node now: builds a fresh state with its factory (incarnation + 1) and
    /// hands it `Input::Start` at once, so that `Start` comes before any command or
    /// message already queued for the node. A node that is up is crashed first (a
    /// reboot).
    pub fn restart(&mut self, node: NodeIdx) {
        let i = self.check_node(node);
        self.crash(node);
        let seed = self.config.seed;
        let n = &mut self.nodes[i as usize];
        n.incarnation += 1;
        let ctx = NodeCtx {
            index: node,
            addr: n.addr,
            seed: node_seed(seed, i, n.incarnation),
            incarnation: n.incarnation,
        };
        n.state = Some((n.factory)(&ctx));
        let inc = n.incarnation;
        self.stats.restarts += 1;
        self.trace.record(Record::Restart, self.now, &[u64::from(i), u64::from(inc)]);
        self.handle(i, Input::Start);
    }

    /// Crashes a node at `at` (or now, if `at` has passed).
    pub fn schedule_crash(&mut self, at: Instant, node: NodeIdx) {
        let node = self.check_node(node);
        self.schedule(self.at_or_now(at), Pending::Crash { node });
    }

    /// Restarts a node at `at` (or now, if `at` has passed).
    pub fn schedule_restart(&mut self, at: Instant, node: NodeIdx) {
        let node = self.check_node(node);
        self.schedule(self.at_or_now(at), Pending::Restart { node });
    }

    /// Starts churn, replacing any churn already running.
    pub fn enable_churn(&mut self, churn: Churn) {
        self.churn_epoch = self.churn_epoch.wrapping_add(1);
        let epoch = self.churn_epoch;
        let nodes: Vec<u32> = match &churn.nodes {
            ChurnNodes::All => (0..self.nodes.len() as u32).collect(),
            ChurnNodes::Only(list) => list.iter().map(|&n| self.check_node(n)).collect(),
        };
        for node in nodes {
            let (dist, pending) = if self.nodes[node as usize].state.is_some() {
                (churn.session, Pending::ChurnCrash { node, epoch })
            } else {
                (churn.downtime, Pending::ChurnRestart { node, epoch })
            };
            let at = self.now.saturating_add(dist.sample_micros(&mut self.rng).max(1));
            self.schedule(at, pending);
        }
        self.churn = Some(ChurnState { churn, epoch });
    }

    /// Stops churn. Nodes stay as they are (down nodes stay down).
    pub fn disable_churn(&mut self) {
        self.churn_epoch = self.churn_epoch.wrapping_add(1);
        self.churn = None;
    }

    // ----- observation -------------------------------------------------------------------

    /// The counters so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Message copies scheduled for delivery that have not arrived yet.
    pub fn messages_in_flight(&self) -> u64 {
        self.in_flight
    }

    /// Events waiting in the queue (messages, timers, commands, …).
    pub fn pending_events(&self) -> usize {
        self.heap.len()
    }

    /// The time of the next event, if any.
    pub fn next_event_at(&self) -> Option<Instant> {
        self.heap.peek().map(|e| Instant::from_micros(e.at))
    }

    /// A 64-bit fingerprint of everything that happened so far: each delivered or dropped
    /// message (time, endpoints, wire length, hash of the postcard bytes), fired timer,
    /// emitted event, delivered `PeerDown`, command, start, crash and restart, in order.
    /// Same seed and same inputs give the same hash.
    pub fn trace_hash(&self) -> u64 {
        self.trace.value()
    }

    /// Events recorded so far (see [`SimConfig::record_events`]).
    pub fn events(&self) -> &[Emitted<P::Event>] {
        &self.events
    }

    /// Takes the recorded events, leaving none.
    pub fn drain_events(&mut self) -> Vec<Emitted<P::Event>> {
        std::mem::take(&mut self.events)
    }

    /// Calls `observer` for every event emitted from now on (before it is recorded).
    /// Replaces an earlier observer.
    pub fn on_event(&mut self, observer: impl FnMut(&Emitted<P::Event>) + 'static) {
        self.observer = Some(Box::new(observer));
    }

    /// Removes the event observer.
    pub fn clear_observer(&mut self) {
        self.observer = None;
    }

    /// Registers an invariant, checked after every `every_n_steps` steps (0 counts as 1).
    /// The first check that fails stops the simulation: [`step`](Self::step) returns
    /// `false` and the `run_*` methods return [`SimError::InvariantViolated`].
    pub fn add_invariant(
        &mut self,
        name: impl Into<String>,
        every_n_steps: u64,
        check: InvariantCheck<P>,
    ) {
        self.invariants.push(Invariant { name: name.into(), every: every_n_steps.max(1), check });
    }

    /// Runs every invariant now, whatever its period. A failure stops the simulation as
    /// a failure during a step would.
    pub fn check_invariants(&mut self) -> Result<(), SimError> {
        self.run_invariants(true);
        self.violation()
    }

    /// The violation that stopped the simulation, if any.
    pub fn violation(&self) -> Result<(), SimError> {
        match &self.violation {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    // ----- running -----------------------------------------------------------------------

    /// Processes the next event, advancing the clock to its time. Returns `false` if there
    /// was nothing to do or an invariant has failed (see [`violation`](Self::violation)).
    pub fn step(&mut self) -> bool {
        if self.violation.is_some() {
            return false;
        }
        let Some(entry) = self.heap.pop() else {
            return false;
        };
        let pending = self.slab[entry.slot as usize].take();
        self.free.push(entry.slot);
        debug_assert!(entry.at >= self.now, "events are never scheduled in the past");
        self.now = entry.at;
        self.stats.steps += 1;
        // Invariant: every heap entry owns a filled slot (slots are emptied only here).
        if let Some(pending) = pending {
            self.dispatch(pending);
        }
        if !self.invariants.is_empty() {
            self.run_invariants(false);
        }
        self.violation.is_none()
    }

    /// Processes every event up to and including `until`, then sets the clock to `until`
    /// (if it is later than now).
    pub fn run_until(&mut self, until: Instant) -> Result<(), SimError> {
        self.violation()?;
        let limit = until.as_micros();
        while self.heap.peek().is_some_and(|e| e.at <= limit) {
            if !self.step() {
                return self.violation();
            }
        }
        self.now = self.now.max(limit);
        Ok(())
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) -> Result<(), SimError> {
        self.run_until(self.now() + d)
    }

    /// Runs until no event remains or `max_steps` steps have been taken. Returns `true` if
    /// the queue ran empty.
    pub fn run_until_idle(&mut self, max_steps: u64) -> Result<bool, SimError> {
        self.violation()?;
        for _ in 0..max_steps {
            if !self.step() {
                self.violation()?;
                return Ok(true);
            }
        }
        Ok(self.heap.is_empty())
    }

    // ----- internals ---------------------------------------------------------------------

    pub(crate) fn schedule(&mut self, at: u64, pending: Pending<P>) {
        let slot = match self.free.pop() {
            Some(s) => {
                self.slab[s as usize] = Some(pending);
                s
            }
            None => {
                self.slab.push(Some(pending));
                // Invariant: the slab holds at most one slot per pending event, and four
                // billion pending events do not fit in memory.
                #[allow(clippy::expect_used)]
                u32::try_from(self.slab.len() - 1).expect("fewer than 2^32 pending events")
            }
        };
        self.heap.push(Entry { at, seq: self.seq, slot });
        self.seq += 1;
    }

    fn alive(&self, node: u32, inc: u32) -> bool {
        let n = &self.nodes[node as usize];
        n.state.is_some() && n.incarnation == inc
    }

    fn dispatch(&mut self, pending: Pending<P>) {
        let now = self.now;
        match pending {
            Pending::Start { node, inc } => {
                if self.alive(node, inc) {
                    self.trace.record(Record::Start, now, &[u64::from(node)]);
                    self.handle(node, Input::Start);
                }
            }
            Pending::Deliver { from, to, to_inc, wire_len, body_hash, msg } => {
                self.in_flight -= 1;
                let words = [u64::from(from), u64::from(to), u64::from(wire_len), body_hash];
                if self.alive(to, to_inc) {
                    self.stats.messages_delivered += 1;
                    self.stats.bytes_delivered += u64::from(wire_len);
                    let ns = &mut self.node_stats[to as usize];
                    ns.received += 1;
                    ns.received_bytes += u64::from(wire_len);
                    self.trace.record(Record::Delivered, now, &words);
                    let from = self.nodes[from as usize].addr;
                    self.handle(to, Input::Recv { from, msg });
                } else {
                    self.stats.dropped_dead += 1;
                    self.trace.record(Record::DroppedDead, now, &words);
                    // The sender's connection times out. It may have restarted meanwhile;
                    // the PeerDown then goes nowhere (it belongs to the old incarnation).
                    let sender_inc = self.nodes[from as usize].incarnation;
                    let peer = self.nodes[to as usize].addr;
                    self.peer_down_later(from, sender_inc, peer);
                }
            }
            Pending::PeerDown { node, inc, peer } => {
                if self.alive(node, inc) {
                    self.stats.peer_downs += 1;
                    self.trace.record(Record::PeerDown, now, &[u64::from(node)]);
                    self.handle(node, Input::PeerDown(peer));
                }
            }
            Pending::Timer { node, inc, timer } => {
                if self.alive(node, inc) {
                    self.stats.timers_fired += 1;
                    self.trace.record(Record::TimerFired, now, &[u64::from(node)]);
                    self.handle(node, Input::Timer(timer));
                } else {
                    self.stats.timers_discarded += 1;
                }
            }
            Pending::Command { node, cmd } => {
                if self.nodes[node as usize].state.is_some() {
                    self.stats.commands += 1;
                    self.trace.record(Record::Command, now, &[u64::from(node)]);
                    self.handle(node, Input::Command(cmd));
                } else {
                    self.stats.commands_dropped += 1;
                }
            }
            Pending::Crash { node } => {
                self.crash(NodeIdx(node));
            }
            Pending::Restart { node } => self.restart(NodeIdx(node)),
            Pending::ChurnCrash { node, epoch } => {
                let Some(c) = self.churn.as_ref().filter(|c| c.epoch == epoch) else {
                    return;
                };
                let downtime = c.churn.downtime;
                self.crash(NodeIdx(node));
                let at = now.saturating_add(downtime.sample_micros(&mut self.rng).max(1));
                self.schedule(at, Pending::ChurnRestart { node, epoch });
            }
            Pending::ChurnRestart { node, epoch } => {
                let Some(c) = self.churn.as_ref().filter(|c| c.epoch == epoch) else {
                    return;
                };
                let session = c.churn.session;
                if self.nodes[node as usize].state.is_none() {
                    self.restart(NodeIdx(node));
                }
                let at = now.saturating_add(session.sample_micros(&mut self.rng).max(1));
                self.schedule(at, Pending::ChurnCrash { node, epoch });
            }
        }
    }

    /// Hands one input to a live node and carries out what it asks for.
    fn handle(&mut self, node: u32, input: InputOf<P>) {
        let now = self.now_full();
        let mut out = std::mem::take(&mut self.outbox);
        let n = &mut self.nodes[node as usize];
        let inc = n.incarnation;
        if let Some(state) = n.state.as_mut() {
            state.handle(now, input, &mut out);
        }
        for output in out.drain() {
            self.apply(node, inc, output);
        }
        self.outbox = out;
    }

    fn apply(&mut self, node: u32, inc: u32, output: OutputOf<P>) {
        match output {
            Output::Send { to, msg } => self.send(node, inc, to, msg),
            Output::Emit(event) => self.emit(node, event),
            Output::SetTimer { at, timer } => {
                self.stats.timers_set += 1;
                self.schedule(self.at_or_now(at), Pending::Timer { node, inc, timer });
            }
            Output::Disconnect(peer) => self.disconnect(node, peer),
        }
    }

    fn emit(&mut self, node: u32, event: P::Event) {
        self.stats.events_emitted += 1;
        self.trace.record(Record::Emitted, self.now, &[u64::from(node)]);
        if self.observer.is_none() && !self.config.record_events {
            return;
        }
        let emitted = Emitted { at: self.now(), node: NodeIdx(node), event };
        if let Some(observer) = self.observer.as_mut() {
            observer(&emitted);
        }
        if self.config.record_events {
            self.events.push(emitted);
        }
    }

    fn run_invariants(&mut self, all: bool) {
        if self.violation.is_some() {
            return;
        }
        let steps = self.stats.steps;
        let mut invariants = std::mem::take(&mut self.invariants);
        for inv in &mut invariants {
            if !all && !steps.is_multiple_of(inv.every) {
                continue;
            }
            if let Err(message) = (inv.check)(&SimView::new(self)) {
                self.violation = Some(SimError::InvariantViolated {
                    name: inv.name.clone(),
                    at: self.now(),
                    step: steps,
                    message,
                });
                break;
            }
        }
        self.invariants = invariants;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_pops_by_time_then_insertion() {
        let mut h = BinaryHeap::new();
        for (seq, at) in [5u64, 1, 5, 3, 1].into_iter().enumerate() {
            h.push(Entry { at, seq: seq as u64, slot: 0 });
        }
        let order: Vec<(u64, u64)> =
            std::iter::from_fn(|| h.pop().map(|e| (e.at, e.seq))).collect();
        assert_eq!(order, vec![(1, 1), (1, 4), (3, 3), (5, 0), (5, 2)]);
    }
}
