//! Topology (`graph.md` §9): connections, HyParView views and repair.
//!
//! * **Connections** are opened by `Connect` and answered by `Welcome` or `Refuse`. A node
//!   refuses itself, a second connection to a neighbour of the same instance, a peer the
//!   security provider does not admit, another graph or version, and — for low priority —
//!   anyone once it has `max_neighbours`. Two nodes that ask each other at once keep the
//!   connection asked by the lower node id.
//! * **Views** (HyParView): the neighbours are the active view; the passive view is a
//!   random sample of other nodes, refreshed by join walks and shuffles. A node below
//!   `ideal_neighbours` connects to passive nodes (high priority below `min_neighbours`),
//!   then to nodes of the node list (presence records).
//! * **Partitions** are detected and healed by the signature (`signature.rs`).

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use peergroup_base::{Instant, NodeId, Now, PeerAddr, PeerName};
use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};

use crate::proto::api::{ConnectionChange, Event, TimerKind, refused};
use crate::proto::error::ProtoError;
use crate::proto::message::{
    Connect, Disconnect, DisconnectReason, LinkKind, MAX_REFERRALS, Message, PROTOCOL_VERSION,
    Priority, Refuse, RefuseReason, Shuffle, Welcome,
};
use crate::proto::node::{GraphNode, Link, Out};
use crate::proto::security::{Admission, PeerInfo, ProviderContext, SecurityProvider, StoreView};
use crate::store::RecordStore;

/// An outgoing `Connect` waiting for its answer.
#[derive(Debug, Clone)]
pub(crate) struct PendingConnect {
    pub(crate) peer: PeerAddr,
    pub(crate) kind: LinkKind,
    pub(crate) attempt: u64,
    /// Asked by the application (failures are reported as events).
    pub(crate) app: bool,
}

/// Nodes that failed a connection attempt, remembered so repair does not retry them.
pub(crate) const FAILED_MEMORY: usize = 256;
/// How long a failed node is skipped by repair.
pub(crate) const FAILED_FOR: Duration = Duration::from_secs(120);

/// The node's topology state besides its links: connections being made, the passive
/// view (HyParView), nodes that failed recently, the open shuffle.
#[derive(Debug, Default)]
pub(crate) struct TopologyState {
    pub(crate) pending: BTreeMap<(NodeId, LinkKind), PendingConnect>,
    pub(crate) passive: Vec<PeerAddr>,
    pub(crate) failed: VecDeque<(NodeId, Instant)>,
    /// The open shuffle: its nonce and the nodes it carried.
    pub(crate) shuffle: Option<(u64, Vec<PeerAddr>)>,
    /// Connect attempts made (numbers the attempts' timers).
    pub(crate) attempts: u64,
    /// `ConnectionRequired` was emitted and no neighbour has come since.
    pub(crate) connection_required: bool,
}

impl TopologyState {
    /// Remembers that a connection to `node` failed (bounded).
    pub(crate) fn note_failed(&mut self, now: Now, node: NodeId) {
        self.failed.retain(|(n, _)| *n != node);
        self.failed.push_back((node, now.instant));
        while self.failed.len() > FAILED_MEMORY {
            self.failed.pop_front();
        }
    }

    /// Whether a connection to `node` failed less than [`FAILED_FOR`] ago.
    pub(crate) fn recently_failed(&self, now: Now, node: &NodeId) -> bool {
        self.failed.iter().any(|(n, at)| n == node && now.instant - *at < FAILED_FOR)
    }
}

impl<S: RecordStore, P: SecurityProvider> GraphNode<S, P> {
    // ----- connecting -------------------------------------------------------------------

    pub(crate) fn connect_command(
        &mut self,
        now: Now,
        peer: PeerAddr,
        kind: LinkKind,
        out: &mut Out,
    ) {
        let name = match kind {
            LinkKind::Neighbour => "Connect",
            LinkKind::Direct => "OpenDirect",
        };
        let error = if peer.node == self.me.node {
            Some(ProtoError::ConnectSelf)
        } else if self.links(kind).contains_key(&peer.node) {
            Some(ProtoError::AlreadyConnected(peer.node))
        } else {
            None
        };
        if let Some(e) = error {
            self.command_failed(name, e, out);
            return;
        }
        if let Some(p) = self.topology.pending.get_mut(&(peer.node, kind)) {
            // Already asking (repair got there first): report the outcome to the
            // application, which asked too.
            p.app = true;
            return;
        }
        let priority = match kind {
            LinkKind::Neighbour if self.neighbours.is_empty() => Priority::Join,
            _ => Priority::High,
        };
        self.connect_to(now, peer, kind, priority, true, out);
    }

    fn links(&self, kind: LinkKind) -> &std::collections::BTreeMap<NodeId, Link> {
        match kind {
            LinkKind::Neighbour => &self.neighbours,
            LinkKind::Direct => &self.directs,
        }
    }

    pub(crate) fn connect_to(
        &mut self,
        now: Now,
        peer: PeerAddr,
        kind: LinkKind,
        priority: Priority,
        app: bool,
        out: &mut Out,
    ) {
        if peer.node == self.me.node
            || self.links(kind).contains_key(&peer.node)
            || self.topology.pending.contains_key(&(peer.node, kind))
        {
            return;
        }
        // Join walks, probes and repair never have more than `max_pending_connects`
        // outstanding, whatever peers send (the application's own connects may add more).
        if !app && self.topology.pending.len() >= self.config.topology.max_pending_connects.max(1) {
            return;
        }
        self.topology.attempts += 1;
        let attempt = self.topology.attempts;
        self.topology
            .pending
            .insert((peer.node, kind), PendingConnect { peer, kind, attempt, app });
        let c = Connect {
            version: PROTOCOL_VERSION,
            graph: self.graph.clone(),
            kind,
            priority,
            instance: self.instance,
            peer: self.name.clone(),
        };
        self.send(peer, Message::Connect(c), out);
        let at = now.instant + self.config.topology.connect_timeout;
        self.set_timer(at, TimerKind::ConnectTimeout { node: peer.node, attempt }, out);
    }

    pub(crate) fn on_connect_timeout(
        &mut self,
        now: Now,
        node: NodeId,
        attempt: u64,
        out: &mut Out,
    ) {
        for kind in [LinkKind::Neighbour, LinkKind::Direct] {
            if self.topology.pending.get(&(node, kind)).is_some_and(|p| p.attempt == attempt)
                && let Some(p) = self.topology.pending.remove(&(node, kind))
            {
                self.topology.note_failed(now, node);
                self.topology.passive.retain(|q| q.node != node);
                self.connect_failed(now, p, ProtoError::ConnectionFailed, out);
            }
        }
    }

    /// An outgoing connection failed: report it (application attempts) and repair.
    pub(crate) fn connect_failed(
        &mut self,
        now: Now,
        p: PendingConnect,
        error: ProtoError,
        out: &mut Out,
    ) {
        let change = ConnectionChange::Failed(error);
        match p.kind {
            LinkKind::Neighbour => {
                if p.app {
                    out.emit(Event::Neighbour { peer: p.peer, change });
                }
                self.repair(now, out);
            }
            LinkKind::Direct => out.emit(Event::Direct { peer: p.peer, change }),
        }
    }

    fn refuse(&mut self, to: PeerAddr, kind: LinkKind, reason: RefuseReason, out: &mut Out) {
        let referrals = match reason {
            RefuseReason::Busy => self.referrals(Some(to.node)),
            _ => Vec::new(),
        };
        self.send(to, Message::Refuse(Refuse { kind, reason, referrals }), out);
    }

    /// Up to [`MAX_REFERRALS`] other nodes: neighbours and passive nodes.
    pub(crate) fn referrals(&mut self, except: Option<NodeId>) -> Vec<PeerAddr> {
        let mut all: Vec<PeerAddr> = self
            .neighbours
            .values()
            .map(|l| l.peer)
            .chain(self.topology.passive.iter().copied())
            .filter(|p| Some(p.node) != except)
            .collect();
        let n = all.len().min(MAX_REFERRALS);
        let (picked, _) = all.partial_shuffle(&mut self.rng, n);
        picked.to_vec()
    }

    pub(crate) fn on_connect(&mut self, now: Now, from: PeerAddr, c: Connect, out: &mut Out) {
        if c.version != PROTOCOL_VERSION {
            let e = ProtoError::UnsupportedVersion { got: c.version, expected: PROTOCOL_VERSION };
            self.reject(from, e, out);
            self.refuse(from, c.kind, RefuseReason::UnsupportedVersion, out);
            return;
        }
        if c.graph != self.graph {
            let e = ProtoError::WrongGraph { expected: self.graph.clone(), got: c.graph };
            self.reject(from, e, out);
            self.refuse(from, c.kind, RefuseReason::WrongGraph, out);
            return;
        }
        if from.node == self.me.node {
            self.refuse(from, c.kind, RefuseReason::ConnectSelf, out);
            return;
        }
        // A second connection: the same instance is a duplicate; a new instance means
        // the peer restarted and the old connection is dead.
        if let Some(l) = self.links(c.kind).get(&from.node) {
            if l.instance == c.instance {
                self.refuse(from, c.kind, RefuseReason::AlreadyConnected, out);
                return;
            }
            match c.kind {
                LinkKind::Neighbour => self.remove_neighbour(now, from.node, out),
                LinkKind::Direct => {
                    if let Some(l) = self.directs.remove(&from.node) {
                        let change = ConnectionChange::Disconnected;
                        out.emit(Event::Direct { peer: l.peer, change });
                    }
                }
            }
        }
        // Both asked at once: the lower node id's connection wins.
        if self.topology.pending.contains_key(&(from.node, c.kind)) {
            if self.me.node < from.node {
                self.refuse(from, c.kind, RefuseReason::DuplicateConnection, out);
                return;
            }
            self.topology.pending.remove(&(from.node, c.kind));
        }
        let info = PeerInfo { addr: &from, peer: &c.peer, kind: c.kind };
        let view = StoreView { store: &self.store, now: now.unix };
        let cx = ProviderContext { graph: &self.graph, now: now.unix, records: &view };
        if let Admission::Deny(reason) = self.provider.admit(&cx, &info) {
            self.reject(from, ProtoError::NotAuthorized { peer: from.node, reason }, out);
            self.refuse(from, c.kind, RefuseReason::NotAuthorized, out);
            return;
        }
        match c.kind {
            LinkKind::Direct => {
                if !self.config.topology.accept_direct {
                    self.refuse(from, c.kind, RefuseReason::DirectDisallowed, out);
                } else if self.directs.len() >= self.config.topology.max_direct {
                    self.refuse(from, c.kind, RefuseReason::Busy, out);
                } else {
                    self.welcome(from, LinkKind::Direct, out);
                    self.add_direct(now, from, c.instance, c.peer, out);
                }
            }
            LinkKind::Neighbour => {
                let (_, _, max) = self.config.topology.bounds();
                if self.neighbours.len() >= max {
                    if c.priority == Priority::Low {
                        self.refuse(from, c.kind, RefuseReason::Busy, out);
                        return;
                    }
                    self.evict_random(now, Some(from.node), out);
                }
                self.welcome(from, LinkKind::Neighbour, out);
                self.add_neighbour(now, from, c.instance, c.peer, false, out);
                if c.priority == Priority::Join {
                    let ttl = self.config.topology.active_walk_length;
                    let others: Vec<PeerAddr> = self
                        .neighbours
                        .values()
                        .map(|l| l.peer)
                        .filter(|p| p.node != from.node)
                        .collect();
                    for p in others {
                        self.send(p, Message::ForwardJoin { joiner: from, ttl }, out);
                    }
                }
            }
        }
    }

    fn welcome(&mut self, to: PeerAddr, kind: LinkKind, out: &mut Out) {
        let w = Welcome {
            version: PROTOCOL_VERSION,
            graph: self.graph.clone(),
            kind,
            instance: self.instance,
            peer: self.name.clone(),
        };
        self.send(to, Message::Welcome(w), out);
    }

    pub(crate) fn on_welcome(&mut self, now: Now, from: PeerAddr, w: Welcome, out: &mut Out) {
        let Some(p) = self.topology.pending.remove(&(from.node, w.kind)) else {
            // Our attempt timed out (or was never made): the peer thinks it is connected.
            self.counters.unsolicited += 1;
            let d = Disconnect {
                kind: w.kind,
                reason: DisconnectReason::NotConnected,
                referrals: Vec::new(),
            };
            self.send(from, Message::Disconnect(d), out);
            return;
        };
        let error = if w.version != PROTOCOL_VERSION {
            Some(ProtoError::UnsupportedVersion { got: w.version, expected: PROTOCOL_VERSION })
        } else if w.graph != self.graph {
            Some(ProtoError::WrongGraph { expected: self.graph.clone(), got: w.graph.clone() })
        } else {
            let info = PeerInfo { addr: &from, peer: &w.peer, kind: w.kind };
            let view = StoreView { store: &self.store, now: now.unix };
            let cx = ProviderContext { graph: &self.graph, now: now.unix, records: &view };
            match self.provider.admit(&cx, &info) {
                Admission::Allow => None,
                Admission::Deny(reason) => {
                    Some(ProtoError::NotAuthorized { peer: from.node, reason })
                }
            }
        };
        if let Some(e) = error {
            self.reject(from, e.clone(), out);
            let d = Disconnect {
                kind: w.kind,
                reason: DisconnectReason::ProtocolError,
                referrals: Vec::new(),
            };
            self.send(from, Message::Disconnect(d), out);
            self.connect_failed(now, p, e, out);
            return;
        }
        match w.kind {
            LinkKind::Direct => self.add_direct(now, from, w.instance, w.peer, out),
            LinkKind::Neighbour => {
                let (_, _, max) = self.config.topology.bounds();
                if self.neighbours.len() >= max {
                    self.evict_random(now, Some(from.node), out);
                }
                self.add_neighbour(now, from, w.instance, w.peer, true, out);
            }
        }
    }

    pub(crate) fn on_refuse(&mut self, now: Now, from: PeerAddr, r: Refuse, out: &mut Out) {
        for p in &r.referrals {
            self.add_passive(*p, &[]);
        }
        let Some(p) = self.topology.pending.remove(&(from.node, r.kind)) else {
            self.counters.unsolicited += 1;
            return;
        };
        if matches!(
            r.reason,
            RefuseReason::WrongGraph
                | RefuseReason::NotAuthorized
                | RefuseReason::UnsupportedVersion
        ) {
            self.topology.passive.retain(|q| q.node != from.node);
            self.topology.note_failed(now, from.node);
        }
        self.connect_failed(now, p, refused(r.reason), out);
    }

    pub(crate) fn on_disconnect(&mut self, now: Now, from: PeerAddr, d: Disconnect, out: &mut Out) {
        for p in &d.referrals {
            self.add_passive(*p, &[]);
        }
        match d.kind {
            LinkKind::Direct => {
                if let Some(l) = self.directs.remove(&from.node) {
                    let change = ConnectionChange::Disconnected;
                    out.emit(Event::Direct { peer: l.peer, change });
                }
            }
            LinkKind::Neighbour => {
                if self.neighbours.contains_key(&from.node) {
                    let gone = d.reason == DisconnectReason::Leaving;
                    self.lose_neighbour(now, from.node, gone, out);
                    if d.reason == DisconnectReason::LeastUseful {
                        self.add_passive(from, &[]);
                    }
                } else if let Some(p) =
                    self.topology.pending.remove(&(from.node, LinkKind::Neighbour))
                {
                    // It accepted and then gave up on us before we heard.
                    self.connect_failed(now, p, ProtoError::ConnectionFailed, out);
                }
            }
        }
    }

    pub(crate) fn add_neighbour(
        &mut self,
        now: Now,
        peer: PeerAddr,
        instance: u64,
        name: PeerName,
        initiator: bool,
        out: &mut Out,
    ) {
        self.topology.passive.retain(|p| p.node != peer.node);
        let link = Link::new(peer, instance, name, now.instant, true, initiator);
        self.neighbours.insert(peer.node, link);
        self.counters.neighbours_connected += 1;
        self.topology.connection_required = false;
        out.emit(Event::Neighbour { peer, change: ConnectionChange::Connected });
        self.neighbour_up(now, peer, initiator, out);
    }

    fn add_direct(
        &mut self,
        now: Now,
        peer: PeerAddr,
        instance: u64,
        name: PeerName,
        out: &mut Out,
    ) {
        let link = Link::new(peer, instance, name, now.instant, false, false);
        self.directs.insert(peer.node, link);
        out.emit(Event::Direct { peer, change: ConnectionChange::Connected });
    }

    pub(crate) fn close_direct(&mut self, peer: PeerAddr, out: &mut Out) {
        let Some(l) = self.directs.remove(&peer.node) else {
            self.command_failed("CloseDirect", ProtoError::ConnectionNotFound(peer.node), out);
            return;
        };
        let d = Disconnect {
            kind: LinkKind::Direct,
            reason: DisconnectReason::AppDisconnect,
            referrals: Vec::new(),
        };
        self.send(l.peer, Message::Disconnect(d), out);
        out.emit(Event::Direct { peer: l.peer, change: ConnectionChange::Disconnected });
    }

    /// Forgets a neighbour that was dropped (by either side) and repairs.
    pub(crate) fn remove_neighbour(&mut self, now: Now, node: NodeId, out: &mut Out) {
        self.lose_neighbour(now, node, false, out);
    }

    /// Forgets a neighbour and repairs; `gone` if it failed or left the graph (rather
    /// than dropping only this connection).
    pub(crate) fn lose_neighbour(&mut self, now: Now, node: NodeId, gone: bool, out: &mut Out) {
        let Some(l) = self.neighbours.remove(&node) else {
            return;
        };
        self.counters.neighbours_lost += 1;
        out.emit(Event::Neighbour { peer: l.peer, change: ConnectionChange::Disconnected });
        self.neighbour_down(now, node, gone, out);
        self.repair(now, out);
    }

    /// Sends `Disconnect` to a neighbour and forgets it.
    pub(crate) fn drop_neighbour(
        &mut self,
        now: Now,
        node: NodeId,
        reason: DisconnectReason,
        out: &mut Out,
    ) {
        let Some(peer) = self.neighbours.get(&node).map(|l| l.peer) else {
            return;
        };
        let referrals = if reason == DisconnectReason::LeastUseful {
            self.referrals(Some(node))
        } else {
            Vec::new()
        };
        let d = Disconnect { kind: LinkKind::Neighbour, reason, referrals };
        self.send(peer, Message::Disconnect(d), out);
        self.remove_neighbour(now, node, out);
    }

    /// Drops a random neighbour (other than `keep`) to make room; it joins the passive view.
    fn evict_random(&mut self, now: Now, keep: Option<NodeId>, out: &mut Out) {
        let candidates: Vec<NodeId> =
            self.neighbours.keys().copied().filter(|n| Some(*n) != keep).collect();
        let Some(&victim) = candidates.choose(&mut self.rng) else {
            return;
        };
        let peer = self.neighbours.get(&victim).map(|l| l.peer);
        self.drop_neighbour(now, victim, DisconnectReason::LeastUseful, out);
        if let Some(p) = peer {
            self.add_passive(p, &[]);
        }
    }

    // ----- repair -----------------------------------------------------------------------

    /// Connects to more nodes while below the ideal neighbour count (HyParView's reaction
    /// to a lost neighbour, [MS-PPGRH] 3.1.7.16's connection maintenance).
    pub(crate) fn repair(&mut self, now: Now, out: &mut Out) {
        if self.closed || !self.started {
            return;
        }
        let (_, ideal, _) = self.config.topology.bounds();
        loop {
            let pending =
                self.topology.pending.keys().filter(|(_, k)| *k == LinkKind::Neighbour).count();
            if self.neighbours.len() + pending >= ideal
                || pending >= self.config.topology.max_pending_connects
            {
                break;
            }
            let Some(candidate) = self.pick_candidate(now) else {
                break;
            };
            let priority = self.priority_for_repair();
            self.connect_to(now, candidate, LinkKind::Neighbour, priority, false, out);
        }
        let pending = self.topology.pending.keys().any(|(_, k)| *k == LinkKind::Neighbour);
        if self.neighbours.is_empty() && !pending && !self.topology.connection_required {
            self.topology.connection_required = true;
            out.emit(Event::ConnectionRequired);
        }
    }

    /// The priority of a repair connect: high below `min_neighbours`, low otherwise.
    fn priority_for_repair(&self) -> Priority {
        let (min, _, _) = self.config.topology.bounds();
        if self.neighbours.len() < min { Priority::High } else { Priority::Low }
    }

    fn usable(&self, now: Now, p: &PeerAddr) -> bool {
        p.node != self.me.node
            && !self.neighbours.contains_key(&p.node)
            && !self.topology.pending.contains_key(&(p.node, LinkKind::Neighbour))
            && !self.topology.recently_failed(now, &p.node)
    }

    /// A random passive node, else a random node of the node list. A node below
    /// `min_neighbours` with neither falls back on the node list's nodes that failed,
    /// the longest ago first, once a repair round has passed since their failure: after
    /// a partition every node it knows has just failed, and it must try them again.
    fn pick_candidate(&mut self, now: Now) -> Option<PeerAddr> {
        let passive: Vec<PeerAddr> =
            self.topology.passive.iter().copied().filter(|p| self.usable(now, p)).collect();
        if let Some(p) = passive.choose(&mut self.rng) {
            return Some(*p);
        }
        let known: Vec<PeerAddr> = self
            .presence
            .known
            .values()
            .map(|n| PeerAddr { node: n.node, addr: n.addr })
            .filter(|p| self.usable(now, p))
            .collect();
        if let Some(p) = known.choose(&mut self.rng) {
            return Some(*p);
        }
        let (min, _, _) = self.config.topology.bounds();
        if self.neighbours.len() >= min {
            return None;
        }
        let round = self.config.topology.maintenance_interval;
        let retry = self.topology.failed.iter().find(|(node, at)| {
            now.instant - *at >= round
                && !self.neighbours.contains_key(node)
                && !self.topology.pending.contains_key(&(*node, LinkKind::Neighbour))
                && self.presence.known.contains_key(node)
        });
        retry
            .and_then(|(node, _)| self.presence.known.get(node))
            .map(|n| PeerAddr { node: n.node, addr: n.addr })
    }

    // ----- views ------------------------------------------------------------------------

    /// Adds a node to the passive view; when full, evicts one of `prefer_evict` if present
    /// there, else a random one (HyParView §4.4).
    pub(crate) fn add_passive(&mut self, p: PeerAddr, prefer_evict: &[PeerAddr]) {
        if p.node == self.me.node
            || self.neighbours.contains_key(&p.node)
            || self.topology.passive.iter().any(|q| q.node == p.node)
            || self.config.topology.passive_view == 0
        {
            return;
        }
        if self.topology.passive.len() >= self.config.topology.passive_view {
            let i = self
                .topology
                .passive
                .iter()
                .position(|q| prefer_evict.iter().any(|e| e.node == q.node))
                .unwrap_or_else(|| self.rng.random_range(0..self.topology.passive.len()));
            self.topology.passive.swap_remove(i);
        }
        self.topology.passive.push(p);
    }

    fn random_neighbour_except(&mut self, except: &[NodeId]) -> Option<PeerAddr> {
        let c: Vec<PeerAddr> = self
            .neighbours
            .values()
            .map(|l| l.peer)
            .filter(|p| !except.contains(&p.node))
            .collect();
        c.choose(&mut self.rng).copied()
    }

    pub(crate) fn on_forward_join(
        &mut self,
        now: Now,
        from: PeerAddr,
        joiner: PeerAddr,
        ttl: u8,
        out: &mut Out,
    ) {
        if joiner.node == self.me.node
            || self.neighbours.contains_key(&joiner.node)
            || self.topology.pending.contains_key(&(joiner.node, LinkKind::Neighbour))
        {
            return;
        }
        if ttl == 0 || self.neighbours.len() <= 1 {
            self.connect_to(now, joiner, LinkKind::Neighbour, Priority::High, false, out);
            return;
        }
        if ttl == self.config.topology.passive_walk_length {
            self.add_passive(joiner, &[]);
        }
        match self.random_neighbour_except(&[from.node, joiner.node]) {
            Some(next) => {
                let msg = Message::ForwardJoin { joiner, ttl: ttl - 1 };
                self.send(next, msg, out);
            }
            None => self.connect_to(now, joiner, LinkKind::Neighbour, Priority::High, false, out),
        }
    }

    pub(crate) fn on_shuffle_timer(&mut self, now: Now, out: &mut Out) {
        let next = self.jitter(self.config.topology.shuffle_interval, 0.2);
        self.set_timer(now.instant + next, TimerKind::Shuffle, out);
        let Some(target) = self.random_neighbour_except(&[]) else {
            return;
        };
        let mut nodes = vec![self.me];
        let mut active: Vec<PeerAddr> =
            self.neighbours.values().map(|l| l.peer).filter(|p| p.node != target.node).collect();
        let ka = self.config.topology.shuffle_active.min(active.len());
        nodes.extend_from_slice(active.partial_shuffle(&mut self.rng, ka).0);
        let mut passive = self.topology.passive.clone();
        let kp = self.config.topology.shuffle_passive.min(passive.len());
        nodes.extend_from_slice(passive.partial_shuffle(&mut self.rng, kp).0);
        nodes.truncate(crate::proto::message::MAX_SHUFFLE_NODES);
        let nonce = self.rng.random::<u64>();
        self.topology.shuffle = Some((nonce, nodes.clone()));
        let ttl = self.config.topology.passive_walk_length;
        let s = Shuffle { nonce, origin: self.me, ttl, nodes };
        self.send(target, Message::Shuffle(s), out);
    }

    pub(crate) fn on_shuffle(&mut self, from: PeerAddr, s: Shuffle, out: &mut Out) {
        if s.origin.node == self.me.node {
            return;
        }
        if s.ttl > 1
            && self.neighbours.len() > 1
            && let Some(next) = self.random_neighbour_except(&[from.node, s.origin.node])
        {
            let fwd = Shuffle { ttl: s.ttl - 1, ..s };
            self.send(next, Message::Shuffle(fwd), out);
            return;
        }
        let mut passive: Vec<PeerAddr> =
            self.topology.passive.iter().copied().filter(|p| p.node != s.origin.node).collect();
        let k = s.nodes.len().min(passive.len());
        let reply = passive.partial_shuffle(&mut self.rng, k).0.to_vec();
        self.send(s.origin, Message::ShuffleReply { nonce: s.nonce, nodes: reply.clone() }, out);
        for p in s.nodes {
            self.add_passive(p, &reply);
        }
    }

    pub(crate) fn on_shuffle_reply(&mut self, nonce: u64, nodes: Vec<PeerAddr>) {
        match self.topology.shuffle.take() {
            Some((n, sent)) if n == nonce => {
                for p in nodes {
                    self.add_passive(p, &sent);
                }
            }
            other => {
                self.topology.shuffle = other;
                self.counters.unsolicited += 1;
            }
        }
    }

    // ----- maintenance ------------------------------------------------------------------

    /// Pings every connected peer that has been silent for `keepalive_interval`: if it
    /// is dead, the send fails and the transport reports `PeerDown` (§9.6).
    pub(crate) fn on_keepalive(&mut self, now: Now, out: &mut Out) {
        let keepalive = self.config.topology.keepalive_interval;
        let next = self.jitter(keepalive / 2, 0.1);
        self.set_timer(now.instant + next, TimerKind::Keepalive, out);
        let silent: Vec<PeerAddr> = self
            .neighbours
            .values()
            .chain(self.directs.values())
            .filter(|l| now.instant - l.last_heard >= keepalive)
            .map(|l| l.peer)
            .collect();
        for p in silent {
            self.send(p, Message::Ping, out);
        }
    }

    /// Topology's part of the maintenance round: forgets old failures, trims to
    /// `max_neighbours` and repairs below `ideal_neighbours`.
    pub(crate) fn topology_round(&mut self, now: Now, out: &mut Out) {
        while self.topology.failed.front().is_some_and(|(_, at)| now.instant - *at >= FAILED_FOR) {
            self.topology.failed.pop_front();
        }
        let (_, _, max) = self.config.topology.bounds();
        while self.neighbours.len() > max {
            self.evict_random(now, None, out);
        }
        self.topology.connection_required = false;
        self.repair(now, out);
    }

    /// Topology's part of closing: says goodbye to every neighbour and direct peer and
    /// forgets them, and the connects in flight.
    pub(crate) fn disconnect_all(&mut self, out: &mut Out) {
        let neighbours: Vec<NodeId> = self.neighbours.keys().copied().collect();
        for node in neighbours {
            if let Some(peer) = self.neighbours.get(&node).map(|l| l.peer) {
                let d = Disconnect {
                    kind: LinkKind::Neighbour,
                    reason: DisconnectReason::Leaving,
                    referrals: Vec::new(),
                };
                self.send(peer, Message::Disconnect(d), out);
            }
            if let Some(l) = self.neighbours.remove(&node) {
                out.emit(Event::Neighbour { peer: l.peer, change: ConnectionChange::Disconnected });
            }
        }
        let directs: Vec<PeerAddr> = self.directs.values().map(|l| l.peer).collect();
        for peer in directs {
            let d = Disconnect {
                kind: LinkKind::Direct,
                reason: DisconnectReason::Leaving,
                referrals: Vec::new(),
            };
            self.send(peer, Message::Disconnect(d), out);
            out.emit(Event::Direct { peer, change: ConnectionChange::Disconnected });
        }
        self.directs.clear();
        self.topology.pending.clear();
    }
}
