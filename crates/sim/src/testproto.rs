//! A small flood/ping protocol for testing and benchmarking the simulator.
//!
//! Each [`FloodNode`] knows a fixed neighbour list. It understands two commands:
//!
//! * [`Command::Publish`]`(id)` floods a rumor. A node that sees a rumor id for the first
//!   time (the publisher included) emits [`Event::Delivered`]`(id)` and forwards the
//!   rumor to every neighbour except the one it came from. With no loss and a connected
//!   graph every node delivers every rumor exactly once, and one flood costs
//!   `Σ degree − (n − 1)` messages.
//! * [`Command::Ping`]`(peer)` sends a ping; the pong comes back as [`Event::Pong`] with
//!   the round-trip time.
//!
//! With [`FloodConfig::keepalive`] set, a periodic timer sends a keepalive to one
//! neighbour per tick (round robin), to exercise timers. `PeerDown` inputs are reported
//! as [`Event::PeerDown`].
//!
//! ```
//! use peergroup_sim::{Sim, SimConfig};
//! use peergroup_sim::testproto::{self, Command, Event, FloodConfig};
//!
//! let mut sim = Sim::new(SimConfig::with_seed(7));
//! let graph = testproto::random_graph(50, 4, 7);
//! let nodes = testproto::add_flood_nodes(&mut sim, &graph, FloodConfig::default());
//! sim.command(nodes[0], Command::Publish(1));
//! sim.run_until_idle(1_000_000)?;
//! let delivered = sim.events().iter().filter(|e| e.event == Event::Delivered(1)).count();
//! assert_eq!(delivered, 50);
//! # Ok::<(), peergroup_sim::SimError>(())
//! ```

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use peergroup_base::sansio::{InputOf, OutboxOf};
use peergroup_base::{Input, Instant, Now, PeerAddr, Protocol};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::trace::FxBuild;
use crate::{NodeIdx, Sim};

/// Messages between flood nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// A flooded rumor and the number of hops it has travelled.
    Rumor {
        /// The rumor's id.
        id: u64,
        /// Hops from the publisher.
        hops: u32,
    },
    /// A ping.
    Ping {
        /// Echoed in the pong.
        nonce: u64,
    },
    /// The answer to a ping.
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },
    /// A periodic keepalive.
    Keepalive,
}

/// Commands to a flood node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Flood a new rumor with this id.
    Publish(u64),
    /// Ping a peer.
    Ping(PeerAddr),
}

/// Events of a flood node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `Input::Start` arrived (once per incarnation).
    Started,
    /// A rumor was seen for the first time.
    Delivered(u64),
    /// A pong arrived.
    Pong {
        /// Who answered.
        peer: PeerAddr,
        /// The nonce of the ping.
        nonce: u64,
        /// Time from ping to pong.
        rtt: Duration,
    },
    /// The simulator reported a peer unreachable or disconnected.
    PeerDown(PeerAddr),
}

/// Timers of a flood node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timer {
    /// Send the next keepalive.
    Keepalive,
}

/// Settings of a flood node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FloodConfig {
    /// Interval of the keepalive timer. Default: `None` (no timer, so a quiet network
    /// goes idle).
    pub keepalive: Option<Duration>,
}

/// A node of the flood protocol.
#[derive(Debug, Clone)]
pub struct FloodNode {
    neighbours: Vec<PeerAddr>,
    config: FloodConfig,
    seen: HashSet<u64, FxBuild>,
    pings: HashMap<u64, Instant, FxBuild>,
    next_nonce: u64,
    starts: u32,
    ticks: u64,
    keepalives_received: u64,
}

impl FloodNode {
    /// A node with the given neighbours. `seed` picks the first ping nonce.
    pub fn new(neighbours: Vec<PeerAddr>, config: FloodConfig, seed: u64) -> Self {
        FloodNode {
            neighbours,
            config,
            seen: HashSet::default(),
            pings: HashMap::default(),
            next_nonce: seed,
            starts: 0,
            ticks: 0,
            keepalives_received: 0,
        }
    }

    /// The neighbour list.
    pub fn neighbours(&self) -> &[PeerAddr] {
        &self.neighbours
    }

    /// `true` if this state has seen rumor `id`.
    pub fn has_seen(&self, id: u64) -> bool {
        self.seen.contains(&id)
    }

    /// Number of distinct rumors this state has seen.
    pub fn seen_count(&self) -> usize {
        self.seen.len()
    }

    /// How many times this state received `Input::Start` (1 once started).
    pub fn starts(&self) -> u32 {
        self.starts
    }

    /// Keepalive timer firings in this state.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// Keepalives this state received.
    pub fn keepalives_received(&self) -> u64 {
        self.keepalives_received
    }

    fn flood(&mut self, id: u64, hops: u32, except: Option<&PeerAddr>, out: &mut OutboxOf<Self>) {
        if !self.seen.insert(id) {
            return;
        }
        out.emit(Event::Delivered(id));
        for n in &self.neighbours {
            if Some(n) != except {
                out.send(*n, Message::Rumor { id, hops: hops + 1 });
            }
        }
    }
}

impl Protocol for FloodNode {
    type Message = Message;
    type Command = Command;
    type Event = Event;
    type Timer = Timer;

    fn handle(&mut self, now: Now, input: InputOf<Self>, out: &mut OutboxOf<Self>) {
        match input {
            Input::Start => {
                self.starts += 1;
                out.emit(Event::Started);
                if let Some(every) = self.config.keepalive {
                    out.set_timer(now.instant + every, Timer::Keepalive);
                }
            }
            Input::Command(Command::Publish(id)) => self.flood(id, 0, None, out),
            Input::Command(Command::Ping(peer)) => {
                let nonce = self.next_nonce;
                self.next_nonce = self.next_nonce.wrapping_add(1);
                self.pings.insert(nonce, now.instant);
                out.send(peer, Message::Ping { nonce });
            }
            Input::Recv { from, msg } => match msg {
                Message::Rumor { id, hops } => self.flood(id, hops, Some(&from), out),
                Message::Ping { nonce } => out.send(from, Message::Pong { nonce }),
                Message::Pong { nonce } => {
                    if let Some(sent) = self.pings.remove(&nonce) {
                        out.emit(Event::Pong { peer: from, nonce, rtt: now.instant - sent });
                    }
                }
                Message::Keepalive => self.keepalives_received += 1,
            },
            Input::Timer(Timer::Keepalive) => {
                self.ticks += 1;
                if !self.neighbours.is_empty() {
                    let i = (self.ticks % self.neighbours.len() as u64) as usize;
                    out.send(self.neighbours[i], Message::Keepalive);
                }
                if let Some(every) = self.config.keepalive {
                    out.set_timer(now.instant + every, Timer::Keepalive);
                }
            }
            Input::PeerDown(peer) => out.emit(Event::PeerDown(peer)),
        }
    }
}

/// A connected random graph on `n` nodes with average degree about `degree`: a ring
/// (degree 2) plus `(degree − 2) / 2` random chords per node, no self-loops or duplicate
/// edges. Returns each node's neighbour indices.
pub fn random_graph(n: usize, degree: usize, seed: u64) -> Vec<Vec<u32>> {
    let mut adj: Vec<Vec<u32>> = vec![Vec::with_capacity(degree + 2); n];
    let add = |adj: &mut Vec<Vec<u32>>, a: usize, b: usize| {
        if a == b || adj[a].contains(&(b as u32)) {
            return false;
        }
        adj[a].push(b as u32);
        adj[b].push(a as u32);
        true
    };
    if n < 2 {
        return adj;
    }
    for i in 0..n {
        add(&mut adj, i, (i + 1) % n);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let chords = degree.saturating_sub(2) / 2;
    for i in 0..n {
        for _ in 0..chords {
            // A few tries per chord; in a sparse graph the first almost always succeeds.
            for _ in 0..8 {
                if add(&mut adj, i, rng.random_range(0..n)) {
                    break;
                }
            }
        }
    }
    adj
}

/// Adds one [`FloodNode`] per entry of `graph` (with derived node ids) and returns their
/// indices. The simulator must not hold nodes yet, so that graph index `i` is node `i`.
///
/// # Panics
///
/// If the simulator already holds nodes.
pub fn add_flood_nodes(
    sim: &mut Sim<FloodNode>,
    graph: &[Vec<u32>],
    config: FloodConfig,
) -> Vec<NodeIdx> {
    assert_eq!(sim.node_count(), 0, "add_flood_nodes needs an empty simulator");
    let addrs: Vec<PeerAddr> =
        (0..graph.len() as u32).map(|i| sim.derived_peer_addr(NodeIdx(i))).collect();
    graph
        .iter()
        .map(|neighbours| {
            let neighbours: Vec<PeerAddr> = neighbours.iter().map(|&j| addrs[j as usize]).collect();
            sim.add_node(move |ctx| FloodNode::new(neighbours.clone(), config, ctx.seed))
        })
        .collect()
}

/// Messages one flood costs on `graph` with no loss: every node forwards to all its
/// neighbours but the sender, the publisher to all of them.
pub fn flood_cost(graph: &[Vec<u32>]) -> u64 {
    let edges: usize = graph.iter().map(Vec::len).sum();
    (edges + 1).saturating_sub(graph.len()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_graph_is_symmetric_simple_and_near_regular() {
        let g = random_graph(1000, 8, 1);
        let mut total = 0;
        for (i, ns) in g.iter().enumerate() {
            total += ns.len();
            assert!(!ns.contains(&(i as u32)), "no self loop at {i}");
            let mut sorted = ns.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), ns.len(), "no duplicate edge at {i}");
            for &j in ns {
                assert!(g[j as usize].contains(&(i as u32)), "edge {i}-{j} is symmetric");
            }
        }
        let avg = total as f64 / 1000.0;
        assert!((7.8..=8.0).contains(&avg), "average degree {avg}");
    }
}
