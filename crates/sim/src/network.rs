//! The simulated network: routing by address, the identity check, partitions, blocked
//! links and the per-link model applied to every message.

use peergroup_base::codec::HEADER_LEN;
use peergroup_base::{PeerAddr, Protocol};

use crate::link::{LinkConfig, chance, micros};
use crate::node::{NodeIdx, splitmix};
use crate::sim::{Pending, Sim};
use crate::trace::{Record, hash_bytes};

/// The key of the unordered pair `{a, b}`.
fn link_key(a: u32, b: u32) -> (u32, u32) {
    if a <= b { (a, b) } else { (b, a) }
}

/// A well-mixed hash of the simulator seed and the unordered pair `{a, b}`: the delay of a
/// [`Latency::PerLink`](crate::Latency::PerLink) link.
fn link_hash(seed: u64, a: u32, b: u32) -> u64 {
    let (lo, hi) = link_key(a, b);
    splitmix(splitmix(seed ^ 0x6c69_6e6b) ^ (u64::from(lo) << 32 | u64::from(hi)))
}

impl<P: Protocol> Sim<P> {
    /// Overrides the link model between `a` and `b` (both directions).
    pub fn set_link(&mut self, a: NodeIdx, b: NodeIdx, config: LinkConfig) {
        let key = link_key(self.check_node(a), self.check_node(b));
        self.links.insert(key, config);
    }

    /// Removes the override of the link between `a` and `b`.
    pub fn clear_link(&mut self, a: NodeIdx, b: NodeIdx) {
        self.links.remove(&link_key(a.0, b.0));
    }

    /// Replaces the default link model (links without an override).
    pub fn set_default_link(&mut self, config: LinkConfig) {
        self.config.default_link = config;
    }

    /// The link model between `a` and `b`.
    pub fn link(&self, a: NodeIdx, b: NodeIdx) -> &LinkConfig {
        self.link_config(a.0, b.0)
    }

    fn link_config(&self, a: u32, b: u32) -> &LinkConfig {
        if self.links.is_empty() {
            return &self.config.default_link;
        }
        self.links.get(&link_key(a, b)).unwrap_or(&self.config.default_link)
    }

    /// Splits the network: nodes in different groups cannot exchange messages; nodes not
    /// listed form one more group. Replaces any earlier partition. Messages already in
    /// flight are not affected (the network decides at send time).
    pub fn partition(&mut self, groups: &[&[NodeIdx]]) {
        let mut of = vec![0u32; self.nodes.len()];
        for (g, members) in groups.iter().enumerate() {
            for &n in *members {
                let i = self.check_node(n);
                of[i as usize] = g as u32 + 1;
            }
        }
        self.groups = Some(of);
    }

    /// Removes the partition (blocked links stay blocked).
    pub fn heal(&mut self) {
        self.groups = None;
    }

    /// Blocks the link between `a` and `b` in both directions.
    pub fn block_link(&mut self, a: NodeIdx, b: NodeIdx) {
        let key = link_key(self.check_node(a), self.check_node(b));
        self.blocked.insert(key);
    }

    /// Unblocks the link between `a` and `b`.
    pub fn unblock_link(&mut self, a: NodeIdx, b: NodeIdx) {
        self.blocked.remove(&link_key(a.0, b.0));
    }

    /// `true` if the partition or a blocked link separates `a` and `b`.
    pub fn is_separated(&self, a: NodeIdx, b: NodeIdx) -> bool {
        self.separated(a.0, b.0)
    }

    fn separated(&self, a: u32, b: u32) -> bool {
        if let Some(groups) = &self.groups {
            let g = |i: u32| groups.get(i as usize).copied().unwrap_or(0);
            if g(a) != g(b) {
                return true;
            }
        }
        !self.blocked.is_empty() && self.blocked.contains(&link_key(a, b))
    }

    pub(crate) fn peer_down_later(&mut self, node: u32, inc: u32, peer: PeerAddr) {
        let at = self.now.saturating_add(micros(self.config.unreachable_timeout));
        self.schedule(at, Pending::PeerDown { node, inc, peer });
    }

    pub(crate) fn send(&mut self, from: u32, from_inc: u32, to: PeerAddr, msg: P::Message) {
        let now = self.now;
        self.stats.messages_sent += 1;
        // Serialise into the reused buffer: the byte count and the trace both cover the
        // bytes the message would have on the wire.
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let encoded = postcard::to_extend(&msg, buf);
        let (wire_len, body_hash) = match encoded {
            Ok(buf) => {
                let r = ((HEADER_LEN + buf.len()) as u32, hash_bytes(&buf));
                self.buf = buf;
                r
            }
            Err(_) => {
                self.stats.dropped_unencodable += 1;
                self.trace.record(Record::DroppedUnencodable, now, &[u64::from(from)]);
                return;
            }
        };
        self.stats.bytes_sent += u64::from(wire_len);
        let ns = &mut self.node_stats[from as usize];
        ns.sent += 1;
        ns.sent_bytes += u64::from(wire_len);

        let dest = self.by_addr.get(&to.addr).copied();
        let words = |to: u32| [u64::from(from), u64::from(to), u64::from(wire_len), body_hash];
        let Some(dest) = dest.filter(|&d| self.nodes[d as usize].addr.node == to.node) else {
            self.stats.dropped_unreachable += 1;
            self.trace.record(Record::DroppedUnreachable, now, &words(u32::MAX));
            self.peer_down_later(from, from_inc, to);
            return;
        };
        if self.separated(from, dest) {
            self.stats.dropped_partition += 1;
            self.trace.record(Record::DroppedPartition, now, &words(dest));
            self.peer_down_later(from, from_inc, to);
            return;
        }
        let dest_node = &self.nodes[dest as usize];
        if dest_node.state.is_none() {
            self.stats.dropped_dead += 1;
            self.trace.record(Record::DroppedDead, now, &words(dest));
            self.peer_down_later(from, from_inc, to);
            return;
        }
        let to_inc = dest_node.incarnation;
        let link = *self.link_config(from, dest);
        if chance(&mut self.rng, link.loss) {
            self.stats.dropped_loss += 1;
            self.trace.record(Record::DroppedLoss, now, &words(dest));
            return;
        }
        let duplicate = chance(&mut self.rng, link.duplicate);
        let copy = duplicate.then(|| msg.clone());
        self.transmit(&link, from, dest, to_inc, wire_len, body_hash, msg);
        if let Some(copy) = copy {
            self.stats.duplicated += 1;
            self.transmit(&link, from, dest, to_inc, wire_len, body_hash, copy);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn transmit(
        &mut self,
        link: &LinkConfig,
        from: u32,
        to: u32,
        to_inc: u32,
        wire_len: u32,
        body_hash: u64,
        msg: P::Message,
    ) {
        let pair = link_hash(self.config.seed, from, to);
        let (delay, reordered) = link.sample_delay(&mut self.rng, pair);
        if reordered {
            self.stats.reordered += 1;
        }
        self.in_flight += 1;
        let at = self.now.saturating_add(delay);
        self.schedule(at, Pending::Deliver { from, to, to_inc, wire_len, body_hash, msg });
    }

    pub(crate) fn disconnect(&mut self, from: u32, peer: PeerAddr) {
        self.stats.disconnects += 1;
        let Some(&dest) = self.by_addr.get(&peer.addr) else {
            return;
        };
        let d = &self.nodes[dest as usize];
        if d.addr.node != peer.node || d.state.is_none() || self.separated(from, dest) {
            return; // the close never arrives; the peer notices on its own
        }
        let inc = d.incarnation;
        let link = *self.link_config(from, dest);
        let pair = link_hash(self.config.seed, from, dest);
        let (delay, _) = link.sample_delay(&mut self.rng, pair);
        let at = self.now.saturating_add(delay);
        let from_addr = self.nodes[from as usize].addr;
        self.schedule(at, Pending::PeerDown { node: dest, inc, peer: from_addr });
    }
}
