//! A simulated graph for the `proto_*` tests: graph nodes with in-memory stores and test
//! providers on the deterministic simulator, plus *raw* nodes that send whatever a test
//! scripts (to play a misbehaving or outdated peer) and record what they receive. Links
//! have one fixed delay each, drawn from 10–100 ms, so each link delivers in order, as the
//! QUIC driver's one stream per peer does.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

use std::collections::BTreeMap;
use std::time::Duration;

use peergroup_base::sansio::OutboxOf;
use peergroup_base::{Input, Now, PeerAddr, PeerName, Protocol, UnixTime};
use peergroup_graph::hlc::Hlc;
use peergroup_graph::proto::{
    Command, Config, Event, GraphNode, Message, NewRecord, NodeParams, PRESENCE_TYPE, RecordChange,
    TestProvider, Timer,
};
use peergroup_graph::record::{Record, RecordBuilder, RecordLimits};
use peergroup_graph::{GraphId, MemStore, RecordId, RecordStore, RecordType, SyncRange};
use peergroup_sim::{Emitted, Latency, LinkConfig, NodeIdx, Sim, SimConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub type Node = GraphNode<MemStore, TestProvider>;

/// The record type of test records.
pub const DATA: RecordType = RecordType::from_u128(0xda7a);

pub fn graph_id() -> GraphId {
    GraphId::new("0.test-graph").unwrap()
}

pub fn links() -> LinkConfig {
    LinkConfig::default().with_latency(Latency::PerLink {
        min: Duration::from_millis(10),
        max: Duration::from_millis(100),
    })
}

/// A scripted peer: sends what it is told, keeps what it receives.
#[derive(Debug, Default)]
pub struct RawNode {
    pub received: Vec<(PeerAddr, Message)>,
}

/// A node of the test network.
pub enum TestNode {
    Graph(Box<Node>),
    Raw(RawNode),
}

/// Commands of the test network.
#[derive(Debug, Clone)]
pub enum TestCommand {
    Graph(Command),
    /// A raw node sends a message.
    Send(PeerAddr, Message),
}

impl Protocol for TestNode {
    type Message = Message;
    type Command = TestCommand;
    type Event = Event;
    type Timer = Timer;

    fn handle(
        &mut self,
        now: Now,
        input: Input<Message, TestCommand, Timer>,
        out: &mut OutboxOf<Self>,
    ) {
        match self {
            TestNode::Graph(g) => {
                let input = match input {
                    Input::Start => Input::Start,
                    Input::Recv { from, msg } => Input::Recv { from, msg },
                    Input::Command(TestCommand::Graph(c)) => Input::Command(c),
                    Input::Command(TestCommand::Send(..)) => return,
                    Input::Timer(t) => Input::Timer(t),
                    Input::PeerDown(p) => Input::PeerDown(p),
                };
                g.handle(now, input, out);
            }
            TestNode::Raw(r) => match input {
                Input::Recv { from, msg } => r.received.push((from, msg)),
                Input::Command(TestCommand::Send(to, msg)) => out.send(to, msg),
                _ => {}
            },
        }
    }
}

pub struct Net {
    pub sim: Sim<TestNode>,
    pub nodes: Vec<NodeIdx>,
    rng: ChaCha8Rng,
    pub limits: RecordLimits,
}

pub fn name_of(i: usize) -> PeerName {
    PeerName::parse(&format!("0.node-{i}")).unwrap()
}

impl Net {
    pub fn new(seed: u64) -> Self {
        Self::with_links(seed, links())
    }

    pub fn with_links(seed: u64, link: LinkConfig) -> Self {
        let config = SimConfig { seed, default_link: link, ..SimConfig::default() };
        Net {
            sim: Sim::new(config),
            nodes: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x7e57),
            limits: RecordLimits::default(),
        }
    }

    /// Adds a graph node (not connected to anyone) with an empty store.
    pub fn add(&mut self, config: Config, provider: TestProvider) -> NodeIdx {
        let limits = self.limits;
        self.add_with_store(config, provider, move || MemStore::new(limits))
    }

    /// Adds a graph node whose store (at creation and at every restart) comes from `store`.
    pub fn add_with_store(
        &mut self,
        config: Config,
        provider: TestProvider,
        mut store: impl FnMut() -> MemStore + 'static,
    ) -> NodeIdx {
        let i = self.sim.node_count();
        let idx = self.sim.add_node(move |ctx| {
            TestNode::Graph(Box::new(GraphNode::new(NodeParams {
                graph: graph_id(),
                me: ctx.addr,
                peer_name: name_of(i),
                config: config.clone(),
                store: store(),
                provider: provider.clone(),
                seed: ctx.seed,
            })))
        });
        self.nodes.push(idx);
        idx
    }

    /// Adds a raw node.
    pub fn add_raw(&mut self) -> NodeIdx {
        self.sim.add_node(|_| TestNode::Raw(RawNode::default()))
    }

    pub fn add_many(&mut self, n: usize, config: &Config) -> Vec<NodeIdx> {
        (0..n).map(|_| self.add(config.clone(), TestProvider::new())).collect()
    }

    /// `n` nodes that joined one by one through random earlier nodes, then settled.
    pub fn graph(&mut self, n: usize, config: &Config) -> Vec<NodeIdx> {
        let nodes = self.add_many(n, config);
        self.join_all(&nodes, Duration::from_millis(20));
        self.run(Duration::from_secs(15));
        nodes
    }

    pub fn addr(&self, n: NodeIdx) -> PeerAddr {
        self.sim.peer_addr(n).unwrap()
    }

    pub fn command(&mut self, n: NodeIdx, c: Command) {
        self.sim.command(n, TestCommand::Graph(c));
    }

    pub fn raw_send(&mut self, raw: NodeIdx, to: NodeIdx, msg: Message) {
        let to = self.addr(to);
        self.sim.command(raw, TestCommand::Send(to, msg));
    }

    pub fn raw_received(&self, raw: NodeIdx) -> &[(PeerAddr, Message)] {
        match self.sim.node_state(raw) {
            Some(TestNode::Raw(r)) => &r.received,
            _ => &[],
        }
    }

    pub fn clear_raw(&mut self, raw: NodeIdx) {
        if let Some(TestNode::Raw(r)) = self.sim.node_state_mut(raw) {
            r.received.clear();
        }
    }

    pub fn connect(&mut self, from: NodeIdx, to: NodeIdx) {
        let addr = self.addr(to);
        self.command(from, Command::Connect(addr));
    }

    /// Every node but the first joins through a random earlier node, `spacing` apart.
    pub fn join_all(&mut self, nodes: &[NodeIdx], spacing: Duration) {
        self.run(Duration::from_millis(1));
        for (k, &n) in nodes.iter().enumerate().skip(1) {
            let contact = nodes[self.rng.random_range(0..k)];
            self.connect(n, contact);
            self.run(spacing);
        }
    }

    pub fn run(&mut self, d: Duration) {
        self.sim.run_for(d).unwrap();
    }

    pub fn secs(&mut self, s: u64) {
        self.run(Duration::from_secs(s));
    }

    pub fn try_node(&self, n: NodeIdx) -> Option<&Node> {
        match self.sim.node_state(n) {
            Some(TestNode::Graph(g)) => Some(g),
            _ => None,
        }
    }

    pub fn node(&self, n: NodeIdx) -> &Node {
        self.try_node(n).expect("a graph node that is up")
    }

    pub fn node_mut(&mut self, n: NodeIdx) -> &mut Node {
        match self.sim.node_state_mut(n) {
            Some(TestNode::Graph(g)) => g,
            _ => panic!("a graph node that is up"),
        }
    }

    pub fn now(&self) -> Now {
        self.sim.now_full()
    }

    pub fn random_id(&mut self) -> RecordId {
        let mut b = [0u8; 16];
        self.rng.fill(&mut b);
        RecordId::random(b)
    }

    /// Publishes a data record of `len` payload bytes from `n`; returns its id.
    pub fn publish(&mut self, n: NodeIdx, len: usize) -> RecordId {
        self.publish_type(n, DATA, len)
    }

    pub fn publish_type(&mut self, n: NodeIdx, t: RecordType, len: usize) -> RecordId {
        let id = self.random_id();
        let r = NewRecord::new(id, t, Duration::from_secs(3600), vec![0x5a; len]);
        self.command(n, Command::AddRecord(r));
        id
    }

    /// The record `n` holds with this id (live or tombstone), if `n` is up.
    pub fn get(&self, n: NodeIdx, id: &RecordId) -> Option<Record> {
        self.try_node(n)?.store().get(id, self.now().unix).ok().flatten()
    }

    pub fn has(&self, n: NodeIdx, id: &RecordId) -> bool {
        self.get(n, id).is_some()
    }

    /// How many of `nodes` hold the record.
    pub fn holders(&self, nodes: &[NodeIdx], id: &RecordId) -> usize {
        nodes.iter().filter(|&&n| self.has(n, id)).count()
    }

    /// Graph nodes that are up.
    pub fn up(&self) -> Vec<NodeIdx> {
        self.nodes.iter().copied().filter(|&n| self.try_node(n).is_some()).collect()
    }

    /// Non-presence records a node holds (live or deleted): id → digest.
    pub fn contents(&self, n: NodeIdx) -> BTreeMap<RecordId, [u8; 32]> {
        let now = self.now().unix;
        self.node(n)
            .store()
            .sync_records(&SyncRange::ALL, usize::MAX, now)
            .unwrap()
            .into_iter()
            .filter(|r| r.record_type() != PRESENCE_TYPE)
            .map(|r| (r.id(), r.digest().0))
            .collect()
    }

    /// Events of `n` so far.
    pub fn events_of(&self, n: NodeIdx) -> Vec<&Emitted<Event>> {
        self.sim.events().iter().filter(|e| e.node == n).collect()
    }

    /// `RecordChanged { change, id }` events, by node.
    pub fn changes(&self, change: RecordChange, id: &RecordId) -> Vec<&Emitted<Event>> {
        self.sim
            .events()
            .iter()
            .filter(|e| {
                matches!(&e.event, Event::RecordChanged { change: c, id: i, .. } if i == id && *c == change)
            })
            .collect()
    }

    /// Whether the neighbour graph of the live graph nodes is connected.
    pub fn connected(&self) -> bool {
        let up = self.up();
        if up.is_empty() {
            return true;
        }
        let index = |a: &PeerAddr| up.iter().position(|&n| self.addr(n) == *a);
        let mut seen = vec![false; up.len()];
        let mut stack = vec![0];
        seen[0] = true;
        while let Some(i) = stack.pop() {
            for p in self.node(up[i]).neighbour_addrs() {
                if let Some(j) = index(&p)
                    && !seen[j]
                {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
        seen.iter().all(|&s| s)
    }

    /// Non-presence copies received by `nodes` so far.
    pub fn copies(&self, nodes: &[NodeIdx]) -> u64 {
        nodes.iter().filter_map(|&n| self.try_node(n)).map(|s| s.counters().copies_received).sum()
    }
}

/// A record written by `creator` (node index) at wall time `ms` after the simulator's
/// start, for pre-filled stores.
pub fn record(id: RecordId, t: RecordType, creator: usize, at: UnixTime, payload: &[u8]) -> Record {
    RecordBuilder::new(
        t,
        id,
        name_of(creator),
        Hlc::new(at, 0, 1),
        at.saturating_add(Duration::from_secs(86_400)),
    )
    .payload(payload.to_vec())
    .build(&RecordLimits::default())
    .unwrap()
}

/// The simulator's wall-clock origin.
pub fn sim_start() -> UnixTime {
    SimConfig::default().start_unix
}
