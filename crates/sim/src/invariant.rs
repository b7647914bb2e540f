//! Invariant hooks: checks over the whole simulated network, run as the simulation goes.

use peergroup_base::{Instant, PeerAddr, Protocol};

use crate::node::NodeIdx;
use crate::sim::Sim;
use crate::stats::{NodeStats, Stats};

/// An invariant check: reads the network through a [`SimView`] and returns a description
/// of what is wrong, if anything.
pub type InvariantCheck<P> = Box<dyn FnMut(&SimView<'_, P>) -> Result<(), String>>;

pub(crate) struct Invariant<P: Protocol> {
    pub(crate) name: String,
    pub(crate) every: u64,
    pub(crate) check: InvariantCheck<P>,
}

/// Read-only access to a simulator, for invariant checks.
pub struct SimView<'a, P: Protocol> {
    sim: &'a Sim<P>,
}

impl<'a, P: Protocol> SimView<'a, P> {
    pub(crate) fn new(sim: &'a Sim<P>) -> Self {
        SimView { sim }
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.sim.now()
    }

    /// The counters so far.
    pub fn stats(&self) -> &'a Stats {
        self.sim.stats()
    }

    /// Number of nodes ever added.
    pub fn node_count(&self) -> usize {
        self.sim.node_count()
    }

    /// A node's state, or `None` if it is down or does not exist.
    pub fn node_state(&self, node: NodeIdx) -> Option<&'a P> {
        self.sim.node_state(node)
    }

    /// Every live node with its state, in index order.
    pub fn live_nodes(&self) -> impl Iterator<Item = (NodeIdx, &'a P)> + 'a {
        let sim = self.sim;
        sim.node_indices().filter_map(move |i| sim.node_state(i).map(|s| (i, s)))
    }

    /// A node's id and address.
    pub fn peer_addr(&self, node: NodeIdx) -> Option<PeerAddr> {
        self.sim.peer_addr(node)
    }

    /// A node's restart count.
    pub fn incarnation(&self, node: NodeIdx) -> Option<u32> {
        self.sim.incarnation(node)
    }

    /// A node's message counters.
    pub fn node_stats(&self, node: NodeIdx) -> NodeStats {
        self.sim.node_stats(node)
    }
}

/// Why a simulation stopped early.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// An invariant check failed.
    #[error("invariant `{name}` violated at {at:?} (step {step}): {message}")]
    InvariantViolated {
        /// The invariant's name, as registered.
        name: String,
        /// Virtual time of the failed check.
        at: Instant,
        /// Steps taken when the check failed.
        step: u64,
        /// What the check reported.
        message: String,
    },
}

impl SimError {
    /// `true` if an invariant failed.
    pub fn is_invariant_violated(&self) -> bool {
        matches!(self, SimError::InvariantViolated { .. })
    }

    /// The name of the failed invariant, if that is what stopped the run.
    pub fn invariant_name(&self) -> Option<&str> {
        match self {
            SimError::InvariantViolated { name, .. } => Some(name),
        }
    }
}
