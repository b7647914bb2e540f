//! A deterministic discrete-event simulator for peergroup's sans-IO protocol cores
//! (DESIGN.md §2).
//!
//! [`Sim<P>`](Sim) runs one [`Protocol`](peergroup_base::Protocol) state per node on a
//! virtual clock and a simulated network. Any core that implements the trait (PNRP,
//! graphing, grouping, or the small [`testproto`]) plugs in unchanged.
//!
//! # The engine
//!
//! Everything that will happen is an event in one priority queue, ordered by
//! `(time, sequence number)`: message deliveries, timers, commands, `Start` and
//! `PeerDown` inputs, scheduled crashes and restarts, churn transitions. The queue holds
//! only `(time, sequence, slot)`; payloads live in a slab reused through a free list, so a
//! run of millions of events allocates little. [`Sim::step`] pops the earliest event,
//! jumps the clock to its time and hands the input to the node's core; the core's outputs
//! are carried out at once:
//!
//! * `Send { to, msg }` goes through the network model below.
//! * `Emit(event)` is recorded as [`Emitted`] (see [`Sim::events`], [`Sim::drain_events`],
//!   [`Sim::on_event`]).
//! * `SetTimer { at, timer }` schedules `Input::Timer(timer)` at `at` (or now, if `at`
//!   has passed). Timers of an earlier incarnation of the node are discarded.
//! * `Disconnect(peer)` delivers `PeerDown(us)` to the peer after one link latency, if the
//!   peer is up and reachable.
//!
//! The run-loop contract of [`peergroup_base::sansio`] holds: `Start` is the first input
//! of every state (after [`Sim::add_node`] and after every restart); timers are never
//! cancelled; `from` in `Recv` is the sender's true [`PeerAddr`](peergroup_base::PeerAddr);
//! cores see [`Now`](peergroup_base::Now) with the virtual instant and
//! `SimConfig::start_unix + elapsed` as wall-clock time.
//!
//! # Nodes
//!
//! A node has an index ([`NodeIdx`]), a [`NodeId`](peergroup_base::NodeId) chosen by the
//! caller ([`Sim::add_node_with_id`]) or derived from the seed ([`Sim::add_node`]), and a
//! synthetic loopback address ([`node_socket_addr`]). Its factory builds its state at
//! creation and at every restart, and receives a [`NodeCtx`] with a per-node,
//! per-incarnation seed for the core's own RNG. [`Sim::crash`] drops the state at once:
//! timers set before are discarded, and messages on their way are dropped when they
//! arrive. [`Sim::restart`] builds a fresh state (incarnation + 1) and delivers `Start`.
//! [`Sim::enable_churn`] makes nodes alternate between up and down periods drawn from a
//! [`Dist`].
//!
//! # The network model
//!
//! A message to `PeerAddr { node, addr }` is routed by `addr`. It is dropped, and counted
//! in [`Stats`], if
//!
//! * no node listens at `addr`, or the node there has another `NodeId` (the TLS handshake
//!   would fail its identity check) — *unreachable*;
//! * a partition ([`Sim::partition`]) or a blocked link ([`Sim::block_link`]) separates
//!   the two nodes — *partition*;
//! * the destination is down — *dead*.
//!
//! In each of these cases the sender receives `PeerDown(to)` after
//! [`SimConfig::unreachable_timeout`] (like a dial timing out). Otherwise the link's
//! [`LinkConfig`] applies: the message may be lost silently, it is delayed by a sample of
//! the link's [`Latency`], possibly held back further (reordering), and possibly
//! delivered twice. A copy that arrives at a destination that crashed (or restarted) in
//! the meantime is dropped as *dead*, and the sender gets `PeerDown` after the
//! unreachable timeout. Partitions and blocks are checked at send time; messages already
//! in flight still arrive. Messages from a sender that crashed after sending still arrive.
//!
//! Bytes are counted as on the wire: the frame header plus the postcard body
//! ([`peergroup_base::codec::HEADER_LEN`] + body length).
//!
//! # Determinism
//!
//! A run is a pure function of the [`SimConfig`] (above all its seed), the cores, and the
//! sequence of calls made on the simulator. The network draws every random decision
//! (loss, latency, duplication, reordering, churn periods) from one
//! `ChaCha8Rng` seeded with `SimConfig::seed`, in event order; ties in time are broken by
//! the order in which events were scheduled; no hash map is iterated; no wall clock is
//! read. Cores get their own seeds through [`NodeCtx::seed`]. So the same seed and inputs
//! give the same events, the same [`Stats`] and the same [`Sim::trace_hash`], on every
//! run and platform, and a failure replays from `(seed, commit)`.
//!
//! # Invariants
//!
//! [`Sim::add_invariant`] registers a check over the whole network (a [`SimView`]) that
//! runs every *n* steps. The first failure stops the run with
//! [`SimError::InvariantViolated`], naming the invariant, the time and the message.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use peergroup_sim::{LinkConfig, Sim, SimConfig};
//! use peergroup_sim::testproto::{self, Command, Event, FloodConfig};
//!
//! let config = SimConfig {
//!     seed: 42,
//!     default_link: LinkConfig::fixed(Duration::from_millis(20)).with_loss(0.1),
//!     ..SimConfig::default()
//! };
//! let mut sim = Sim::new(config);
//! let graph = testproto::random_graph(200, 6, 42);
//! let nodes = testproto::add_flood_nodes(&mut sim, &graph, FloodConfig::default());
//! sim.add_invariant("no rumor 99", 10, Box::new(|view| {
//!     match view.live_nodes().find(|(_, n)| n.has_seen(99)) {
//!         Some((i, _)) => Err(format!("{i} saw rumor 99")),
//!         None => Ok(()),
//!     }
//! }));
//! sim.command(nodes[0], Command::Publish(1));
//! sim.run_for(Duration::from_secs(10))?;
//! let reached = sim.events().iter().filter(|e| e.event == Event::Delivered(1)).count();
//! assert!(reached > 150, "a 10% lossy flood still reaches most nodes");
//! assert_eq!(sim.stats().dropped_loss, sim.stats().dropped());
//! # Ok::<(), peergroup_sim::SimError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod invariant;
mod link;
mod network;
mod node;
mod sim;
mod stats;
pub mod testproto;
mod trace;

pub use invariant::{InvariantCheck, SimError, SimView};
pub use link::{Churn, ChurnNodes, Dist, Latency, LinkConfig};
pub use node::{NodeCtx, NodeIdx, SIM_PORT, derived_node_id, node_socket_addr};
pub use sim::{Emitted, Sim, SimConfig};
pub use stats::{NodeStats, Stats};
