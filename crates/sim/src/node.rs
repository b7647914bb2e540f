//! Node identities: indices, synthetic loopback addresses, derived ids and seeds.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use peergroup_base::{NodeId, PeerAddr};

use crate::trace::avalanche;

/// The index of a node in a simulator, in the order nodes were added (from 0).
///
/// An index names the node across crashes and restarts; its [`PeerAddr`] never changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeIdx(pub u32);

impl NodeIdx {
    /// The index as a `usize`, for indexing slices.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeIdx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

/// The UDP port every simulated node listens on (PNRP's registered port).
pub const SIM_PORT: u16 = 3587;

/// Nodes that fit on distinct loopback addresses with port [`SIM_PORT`]; beyond this the
/// port counts up.
const ADDRS_PER_PORT: u32 = 254 << 16;

/// The synthetic socket address of node `index`: `127.a.b.c:port` with
/// `a = (i >> 8) & 0xff`, `b = i & 0xff`, `c = 1 + (i >> 16)`.
///
/// Always in `127.0.0.0/8`. Consecutive indices land in different /24s, so no /24 holds
/// more than one node below 65,536 nodes (and at most 254 below 16.6 million), which
/// keeps per-subnet rules of the protocols (address diversity in caches) from biting.
/// Beyond 254 × 65,536 nodes the port increases from [`SIM_PORT`].
pub fn node_socket_addr(index: NodeIdx) -> SocketAddr {
    let i = index.0 % ADDRS_PER_PORT;
    // index.0 / ADDRS_PER_PORT ≤ u32::MAX / 16,646,144 = 258, so the port stays below 3846
    let port = SIM_PORT + (index.0 / ADDRS_PER_PORT) as u16;
    let ip = Ipv4Addr::new(127, (i >> 8) as u8, i as u8, 1 + (i >> 16) as u8);
    SocketAddr::V4(SocketAddrV4::new(ip, port))
}

/// SplitMix64 step: a well-mixed word from a counter.
pub(crate) fn splitmix(x: u64) -> u64 {
    avalanche(x.wrapping_add(0x9e37_79b9_7f4a_7c15))
}

/// The [`NodeId`] that [`Sim::add_node`](crate::Sim::add_node) gives node `index` in a simulator seeded with
/// `seed`: 32 pseudo-random bytes, uniform enough for XOR-metric routing, different for
/// every seed.
pub fn derived_node_id(seed: u64, index: NodeIdx) -> NodeId {
    let mut out = [0u8; 32];
    let base = splitmix(seed ^ 0x6e6f_6465_6964_0000) ^ u64::from(index.0);
    for (k, chunk) in out.chunks_exact_mut(8).enumerate() {
        let w = splitmix(splitmix(base).wrapping_add(k as u64));
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    NodeId(out)
}

/// The seed a node's core gets (see [`NodeCtx::seed`]).
pub(crate) fn node_seed(seed: u64, index: u32, incarnation: u32) -> u64 {
    splitmix(splitmix(seed ^ 0x7365_6564) ^ (u64::from(index) << 32 | u64::from(incarnation)))
}

/// What a node factory knows about the node it builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeCtx {
    /// The node's index.
    pub index: NodeIdx,
    /// The node's id and address.
    pub addr: PeerAddr,
    /// A seed for the core's own RNG, derived from the simulator seed, the index and the
    /// incarnation: deterministic, and different after every restart.
    pub seed: u64,
    /// How many times the node has been restarted (0 for the first state).
    pub incarnation: u32,
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;

    #[test]
    fn addresses_are_loopback_unique_and_spread() {
        let mut seen = HashSet::new();
        let mut per_24: HashMap<[u8; 3], u32> = HashMap::new();
        for i in 0..200_000u32 {
            let a = node_socket_addr(NodeIdx(i));
            let SocketAddr::V4(v4) = a else { panic!("v4 only") };
            assert!(v4.ip().is_loopback(), "{a}");
            assert_eq!(v4.port(), SIM_PORT);
            assert_ne!(v4.ip().octets()[3], 0);
            assert!(seen.insert(a), "duplicate {a}");
            let o = v4.ip().octets();
            *per_24.entry([o[0], o[1], o[2]]).or_default() += 1;
        }
        assert!(per_24.values().all(|&n| n <= 4), "no /24 holds more than a few nodes");
        let far = node_socket_addr(NodeIdx(u32::MAX));
        assert!(far.ip().is_loopback());
        assert_ne!(far, node_socket_addr(NodeIdx(u32::MAX % ADDRS_PER_PORT)));
    }

    #[test]
    fn derived_ids_depend_on_seed_and_index() {
        let a = derived_node_id(1, NodeIdx(0));
        assert_eq!(a, derived_node_id(1, NodeIdx(0)));
        assert_ne!(a, derived_node_id(2, NodeIdx(0)));
        assert_ne!(a, derived_node_id(1, NodeIdx(1)));
        assert_ne!(node_seed(1, 0, 0), node_seed(1, 0, 1));
        assert_ne!(node_seed(1, 0, 0), node_seed(1, 1, 0));
    }
}
