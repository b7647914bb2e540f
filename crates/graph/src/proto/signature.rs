//! The partition signature and the flooding tree (`graph.md` §7.2, §9.5).
//!
//! The node with the lowest id in a component emits a beacon round every
//! `beacon_interval`; the beacon floods over neighbour links and names the component
//! (its *signature*, [MS-PPGRH] 1.3.2.1). Each node's tree parent is the neighbour that
//! delivered the current round first, so every round rebuilds the first-arrival tree that
//! flooding pushes along. A failed signature node is withdrawn at once by the neighbours
//! that notice. A few nodes per component probe a random known node now and then; two
//! nodes that find different signatures connect, which heals a partition.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use peergroup_base::{Instant, NodeId, Now, PeerAddr};
use rand::Rng;
use rand::seq::IndexedRandom;

use crate::proto::api::{Counters, Timer, TimerKind};
use crate::proto::config::BeaconConfig;
use crate::proto::message::{Beacon, LinkKind, Message, Priority};
use crate::proto::node::{GraphNode, Link, Out};
use crate::proto::security::SecurityProvider;
use crate::store::RecordStore;

/// The partition signature this node holds (`graph.md` §9.5).
#[derive(Debug, Clone)]
pub(crate) struct SignatureState {
    pub(crate) node: NodeId,
    pub(crate) round: u64,
    /// Hops from the signature node along the tree (0 at the signature node).
    pub(crate) depth: u16,
    /// A withdrawn signature: its rounds up to this one are ignored.
    pub(crate) dead: Option<(NodeId, u64)>,
    /// When `round` was emitted by `node`, as far as this node knows.
    pub(crate) emitted: Instant,
    pub(crate) own_round: u64,
    /// Generation of the beacon timer: a reset starts a new one, and the old one is
    /// ignored when it fires.
    pub(crate) timer: u64,
}

impl SignatureState {
    pub(crate) fn new(me: NodeId) -> Self {
        SignatureState {
            node: me,
            round: 0,
            depth: 0,
            dead: None,
            emitted: Instant::ZERO,
            own_round: 0,
            timer: 0,
        }
    }
}

/// The node's beacon state: the signature it holds, its tree parent, its open probes.
#[derive(Debug)]
pub(crate) struct Beacons {
    pub(crate) signature: SignatureState,
    /// The tree parent: the neighbour that delivered the current beacon round first.
    pub(crate) parent: Option<NodeId>,
    /// Open partition probes: nonce and target.
    pub(crate) probes: VecDeque<(u64, NodeId)>,
}

impl Beacons {
    pub(crate) fn new(me: NodeId) -> Self {
        Beacons { signature: SignatureState::new(me), parent: None, probes: VecDeque::new() }
    }

    /// Whether the signature held is alive: our own, or heard within `lifetime`.
    pub(crate) fn fresh(&self, me: NodeId, now: Now, lifetime: Duration) -> bool {
        self.signature.node == me || now.instant - self.signature.emitted <= lifetime
    }

    /// Sets the beacon timer (of the current generation) for `at`.
    fn arm_timer(&self, at: Instant, out: &mut Out) {
        let generation = self.signature.timer;
        out.set_timer(at, Timer(TimerKind::Beacon { generation }));
    }

    /// Starts over from our own id (the signature node went silent, or was our
    /// neighbour and failed); we beacon after the back-off unless a lower node speaks
    /// first.
    fn reset(&mut self, me: NodeId, now: Now, out: &mut Out) {
        self.signature.node = me;
        self.signature.round = self.signature.own_round;
        self.signature.emitted = now.instant;
        self.signature.depth = 0;
        self.parent = None;
        self.signature.timer += 1;
        self.arm_timer(now.instant + signature_backoff(&me), out);
    }

    /// The beacon of the current round as this node passes it on.
    fn current(&self, now: Now) -> Beacon {
        let age = (now.instant - self.signature.emitted).as_millis();
        Beacon {
            node: self.signature.node,
            round: self.signature.round,
            age_ms: u32::try_from(age).unwrap_or(u32::MAX),
            hops: self.signature.depth,
            withdrawn: false,
        }
    }
}

/// What the beacons act on besides their own state, borrowed from the node for one input
/// ([`GraphNode::beacons_io`]): the neighbour links (the tree is theirs), the counters and
/// the outbox.
pub(crate) struct BeaconIo<'a> {
    pub(crate) me: NodeId,
    pub(crate) config: &'a BeaconConfig,
    pub(crate) links: &'a mut BTreeMap<NodeId, Link>,
    pub(crate) counters: &'a mut Counters,
    pub(crate) out: &'a mut Out,
}

impl BeaconIo<'_> {
    fn send(&mut self, to: PeerAddr, msg: Message) {
        self.counters.messages_sent += 1;
        self.out.send(to, msg);
    }
}

impl Beacons {
    /// Starts at our own id: we beacon after the back-off unless a lower node speaks first.
    pub(crate) fn start(&mut self, io: &mut BeaconIo<'_>, now: Now) {
        self.signature = SignatureState::new(io.me);
        self.signature.emitted = now.instant;
        let at = now.instant + signature_backoff(&io.me);
        self.arm_timer(at, io.out);
    }

    /// The beacon timer: the signature node emits a round; a stale signature is dropped.
    pub(crate) fn on_timer(&mut self, io: &mut BeaconIo<'_>, now: Now) {
        if !self.fresh(io.me, now, io.config.beacon_lifetime) {
            self.reset(io.me, now, io.out);
            return;
        }
        if self.signature.node == io.me {
            // Rounds follow the wall clock, so they keep increasing across restarts.
            self.signature.own_round = (self.signature.own_round + 1).max(now.unix.as_millis());
            self.signature.round = self.signature.own_round;
            self.signature.emitted = now.instant;
            self.signature.depth = 0;
            self.parent = None;
            let b = Beacon {
                node: io.me,
                round: self.signature.round,
                age_ms: 0,
                hops: 0,
                withdrawn: false,
            };
            let peers: Vec<PeerAddr> = io.links.values().map(|l| l.peer).collect();
            for p in peers {
                io.send(p, Message::Beacon(b));
            }
        }
        let at = now.instant + io.config.beacon_interval;
        self.arm_timer(at, io.out);
    }

    /// Gives a neighbour the current round, if we hold a live one.
    pub(crate) fn send_to(&self, io: &mut BeaconIo<'_>, now: Now, peer: PeerAddr) {
        if self.fresh(io.me, now, io.config.beacon_lifetime)
            && (self.signature.round > 0 || self.signature.node != io.me)
        {
            let b = self.current(now);
            io.send(peer, Message::Beacon(b));
        }
    }

    /// The signature node failed: forget its rounds up to the current one, tell the
    /// neighbours (a withdrawal floods once through the component) and start over.
    fn withdraw(&mut self, io: &mut BeaconIo<'_>, now: Now, except: Option<NodeId>) {
        let (node, round) = (self.signature.node, self.signature.round);
        self.signature.dead = Some((node, round));
        let w = Beacon { node, round, age_ms: 0, hops: 0, withdrawn: true };
        let peers: Vec<PeerAddr> =
            io.links.values().map(|l| l.peer).filter(|p| Some(p.node) != except).collect();
        for p in peers {
            io.send(p, Message::Beacon(w));
        }
        self.reset(io.me, now, io.out);
    }

    /// A beacon (or a withdrawal) from a neighbour.
    pub(crate) fn on_beacon(&mut self, io: &mut BeaconIo<'_>, now: Now, from: PeerAddr, b: Beacon) {
        if b.withdrawn {
            if b.node == self.signature.node && b.node != io.me && self.signature.round <= b.round {
                self.withdraw(io, now, Some(from.node));
            }
            return;
        }
        if let Some((node, round)) = self.signature.dead
            && node == b.node
            && b.round <= round
        {
            // The neighbour still follows a signature we know failed: tell it. Parts of
            // the graph that the withdrawal's flood missed (it was split when the node
            // failed) learn it here, where they meet the rest again.
            let w = Beacon { node, round, age_ms: 0, hops: 0, withdrawn: true };
            io.send(from, Message::Beacon(w));
            return;
        }
        let age = Duration::from_millis(u64::from(b.age_ms));
        if age > io.config.beacon_lifetime {
            return;
        }
        let fresh = self.fresh(io.me, now, io.config.beacon_lifetime);
        let better = !fresh
            || b.node < self.signature.node
            || (b.node == self.signature.node && b.round > self.signature.round);
        if let Some(l) = io.links.get_mut(&from.node) {
            l.tree.beacon = Some((b.node, b.round, b.hops, now.instant));
        }
        if better {
            self.adopt_parent(io, from);
            self.signature.node = b.node;
            self.signature.round = b.round;
            self.signature.depth = b.hops.saturating_add(1);
            self.signature.emitted = Instant::from_micros(
                now.instant
                    .as_micros()
                    .saturating_sub(u64::try_from(age.as_micros()).unwrap_or(u64::MAX)),
            );
            let fwd = Beacon { hops: self.signature.depth, ..b };
            let peers: Vec<PeerAddr> =
                io.links.values().map(|l| l.peer).filter(|p| p.node != from.node).collect();
            for p in peers {
                io.send(p, Message::Beacon(fwd));
            }
        } else if b.node > self.signature.node {
            // The neighbour is behind: give it ours ("a newer copy goes back").
            self.send_to(io, now, from);
        } else if b.node == self.signature.node
            && b.round == self.signature.round
            && self.parent != Some(from.node)
        {
            // A later copy of the current round: the neighbour got the round from someone
            // else (nobody sends a round back to where it came from) and is not our
            // parent, so the link is not a tree link — nor needed for repair any more,
            // the round having reached us. Make it lazy.
            if let Some(l) = io.links.get_mut(&from.node)
                && l.tree.eager
            {
                l.tree.eager = false;
                l.tree.child = false;
                l.tree.repair = false;
                io.counters.prunes_sent += 1;
                io.send(from, Message::Prune);
            }
        }
    }

    /// The first copy of a beacon round came from `from`: it is the tree parent (the
    /// tree is the first-arrival tree of the signature node's beacons, `graph.md` §7.2).
    /// Tell it with an empty `Graft`, and prune the previous parent.
    fn adopt_parent(&mut self, io: &mut BeaconIo<'_>, from: PeerAddr) {
        if self.parent == Some(from.node) {
            return;
        }
        let old = self.parent.replace(from.node);
        if let Some(l) = io.links.get_mut(&from.node) {
            l.tree.eager = true;
            l.tree.child = false;
        }
        io.send(from, Message::Graft(Vec::new()));
        if let Some(old) = old
            && let Some(l) = io.links.get_mut(&old)
            && !l.tree.child
        {
            l.tree.eager = false;
            l.tree.repair = false;
            let peer = l.peer;
            io.counters.prunes_sent += 1;
            io.send(peer, Message::Prune);
        }
    }

    /// The tree parent is gone. If it was the signature node itself and it failed or left,
    /// withdraw its signature. Otherwise take as parent the neighbour that reported the current round at a
    /// depth below ours, earliest first: a node of smaller depth is never one of our
    /// descendants, and depths only shrink by such a change, so parents never form a
    /// cycle.
    fn parent_lost(&mut self, io: &mut BeaconIo<'_>, now: Now, lost: NodeId, gone: bool) {
        self.parent = None;
        if lost == self.signature.node {
            if gone {
                self.withdraw(io, now, None);
            }
            return;
        }
        let (node, round, depth) =
            (self.signature.node, self.signature.round, self.signature.depth);
        let backup = io
            .links
            .values()
            .filter_map(|l| match l.tree.beacon {
                Some((n, r, h, at)) if n == node && r == round && h < depth => {
                    Some((at, h, l.peer))
                }
                _ => None,
            })
            .min_by_key(|&(at, h, _)| (at, h));
        if let Some((_, h, peer)) = backup {
            self.signature.depth = h.saturating_add(1);
            self.adopt_parent(io, peer);
        }
    }

    /// A neighbour is gone: if it was the tree parent or the signature node, find a new
    /// parent (or withdraw the signature, if `gone`).
    pub(crate) fn neighbour_down(
        &mut self,
        io: &mut BeaconIo<'_>,
        now: Now,
        node: NodeId,
        gone: bool,
    ) {
        if self.parent == Some(node) || self.signature.node == node {
            self.parent_lost(io, now, node, gone);
        }
    }
}

/// A neighbour link's place in the flooding tree.
#[derive(Debug, Default)]
pub(crate) struct TreeLink {
    /// Pushed to eagerly (a spanning-tree link) or announced to.
    pub(crate) eager: bool,
    /// The peer took this node as its tree parent (an empty `Graft`).
    pub(crate) child: bool,
    /// Made eager by a repair `Graft`; kept until the next beacon round reaches this node
    /// (duplicates do not prune it).
    pub(crate) repair: bool,
    /// The last beacon it sent us — signature node, round, its depth, arrival time — for
    /// choosing a new parent when ours fails.
    pub(crate) beacon: Option<(NodeId, u64, u16, Instant)>,
}

impl TreeLink {
    pub(crate) fn new(eager: bool) -> Self {
        TreeLink { eager, ..TreeLink::default() }
    }
}

/// The back-off before a node starts beaconing its own id ([MS-PPGRH] 3.1.7.11):
/// `0.1 + 29.9 · (1 − e^(−N/65536))` seconds, `N` the top 16 bits of the node id, so that
/// low ids — the likely signature — speak first and the others hear them before their
/// own turn.
pub(crate) fn signature_backoff(node: &NodeId) -> Duration {
    let n = f64::from(u16::from_be_bytes([node.0[0], node.0[1]]));
    Duration::from_secs_f64(0.1 + 29.9 * (1.0 - (-n / 65536.0).exp()))
}

impl<S: RecordStore, P: SecurityProvider> GraphNode<S, P> {
    // ----- signature and tree -----------------------------------------------------------

    // ----- partition probes -------------------------------------------------------------

    pub(crate) fn on_probe_timer(&mut self, now: Now, out: &mut Out) {
        let next = self.jitter(self.config.beacons.probe_interval, 0.5);
        self.set_timer(now.instant + next, TimerKind::Probe, out);
        if self.neighbours.is_empty()
            || !self.beacons.fresh(self.me.node, now, self.config.beacons.beacon_lifetime)
        {
            return;
        }
        let population = self.presence.known.len().max(self.topology.passive.len()).max(1) as f64;
        let p = (self.config.beacons.contacts as f64 / population).min(1.0);
        if self.rng.random::<f64>() >= p {
            return;
        }
        // Nodes that failed recently are probed too: across a partition that has just
        // healed, they are exactly the ones to find.
        let candidates: Vec<PeerAddr> = self
            .presence
            .known
            .values()
            .map(|n| PeerAddr { node: n.node, addr: n.addr })
            .chain(self.topology.passive.iter().copied())
            .filter(|q| {
                q.node != self.me.node
                    && !self.neighbours.contains_key(&q.node)
                    && !self.topology.pending.contains_key(&(q.node, LinkKind::Neighbour))
            })
            .collect();
        let Some(&target) = candidates.choose(&mut self.rng) else {
            return;
        };
        let nonce = self.rng.random::<u64>();
        self.beacons.probes.push_back((nonce, target.node));
        while self.beacons.probes.len() > 4 {
            self.beacons.probes.pop_front();
        }
        let signature = self.beacons.signature.node;
        self.send(target, Message::Probe { nonce, signature }, out);
    }

    pub(crate) fn on_probe(
        &mut self,
        now: Now,
        from: PeerAddr,
        nonce: u64,
        signature: NodeId,
        out: &mut Out,
    ) {
        let ours = self.beacons.signature.node;
        self.send(from, Message::ProbeReply { nonce, signature: ours }, out);
        if signature < ours
            && self.beacons.fresh(self.me.node, now, self.config.beacons.beacon_lifetime)
        {
            self.heal(now, from, out);
        }
    }

    pub(crate) fn on_probe_reply(
        &mut self,
        now: Now,
        from: PeerAddr,
        nonce: u64,
        signature: NodeId,
        out: &mut Out,
    ) {
        let Some(i) =
            self.beacons.probes.iter().position(|&(n, node)| n == nonce && node == from.node)
        else {
            self.counters.unsolicited += 1;
            return;
        };
        self.beacons.probes.remove(i);
        if signature < self.beacons.signature.node {
            self.heal(now, from, out);
        }
    }

    /// Another component found: connect to its node (high priority) so that the two
    /// merge; synchronisation brings both databases together.
    fn heal(&mut self, now: Now, peer: PeerAddr, out: &mut Out) {
        if self.neighbours.contains_key(&peer.node)
            || self.topology.pending.contains_key(&(peer.node, LinkKind::Neighbour))
        {
            return;
        }
        self.counters.heals += 1;
        self.connect_to(now, peer, LinkKind::Neighbour, Priority::High, false, out);
    }
}
