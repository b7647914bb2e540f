//! [`GraphNode`]: one node's state, and the dispatch of inputs to the sub-protocols.

use std::collections::BTreeMap;
use std::time::Duration;

use peergroup_base::{Input, Instant, NodeId, Now, Outbox, PeerAddr, PeerName, Protocol, UnixTime};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::hlc::HlcClock;
use crate::id::GraphId;
use crate::proto::api::{
    Command, ConnectionChange, Counters, Event, NeighbourInfo, NodeInfo, Status, Timer, TimerKind,
};
use crate::proto::config::Config;
use crate::proto::error::ProtoError;
use crate::proto::flood::{FloodLink, FloodState};
use crate::proto::message::{LinkKind, Message, MessageLimits, SyncMessage};
use crate::proto::presence::PresenceState;
use crate::proto::records::RecordsState;
use crate::proto::security::{ProviderContext, SecurityProvider, StoreView, Validation};
use crate::proto::signature::{BeaconIo, Beacons, TreeLink};
use crate::proto::sync::SyncLink;
use crate::proto::topology::TopologyState;
use crate::record::Record;
use crate::store::RecordStore;

/// The outbox of a graph node.
pub(crate) type Out = Outbox<Message, Event, Timer>;

/// One connection: a neighbour (records flow) or a direct connection (data only). The
/// parts each sub-protocol keeps per neighbour are its own types: the tree
/// ([`TreeLink`], `signature.rs`), flooding ([`FloodLink`], `flood.rs`) and
/// synchronisation ([`SyncLink`], `sync.rs`).
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) peer: PeerAddr,
    pub(crate) instance: u64,
    pub(crate) name: PeerName,
    /// When the peer last sent us anything.
    pub(crate) last_heard: Instant,
    pub(crate) since: Instant,
    /// Neighbours only: the link's place in the flooding tree.
    pub(crate) tree: TreeLink,
    /// Neighbours only: what flooding queues for the peer.
    pub(crate) flood: FloodLink,
    /// Neighbours only: synchronisation with the peer.
    pub(crate) sync: SyncLink,
}

impl Link {
    /// A link made now; `eager` for a neighbour (links start in the tree), and
    /// `initiator` if this node opened the synchronisation.
    pub(crate) fn new(
        peer: PeerAddr,
        instance: u64,
        name: PeerName,
        now: Instant,
        eager: bool,
        initiator: bool,
    ) -> Self {
        Link {
            peer,
            instance,
            name,
            last_heard: now,
            since: now,
            tree: TreeLink::new(eager),
            flood: FloodLink::default(),
            sync: SyncLink::new(initiator, now),
        }
    }
}

/// What a [`GraphNode`] is built from.
#[derive(Debug)]
pub struct NodeParams<S, P> {
    /// The graph.
    pub graph: GraphId,
    /// This node's id and the address it listens on.
    pub me: PeerAddr,
    /// This node's peer name (creator of its records).
    pub peer_name: PeerName,
    /// Settings.
    pub config: Config,
    /// The record store (it may already hold records: a reopened graph).
    pub store: S,
    /// The security provider.
    pub provider: P,
    /// Seed of the node's RNG (instance number, record ids, walks, jitter).
    pub seed: u64,
}

/// The sans-IO graph node: topology (HyParView with a partition signature), flooding
/// (PlumTree lazy push) and synchronisation on connect (set reconciliation) over one
/// [`RecordStore`], with record security and admission from a [`SecurityProvider`]. See
/// the [module docs](crate::proto).
pub struct GraphNode<S, P> {
    pub(crate) graph: GraphId,
    pub(crate) me: PeerAddr,
    pub(crate) name: PeerName,
    pub(crate) instance: u64,
    pub(crate) config: Config,
    pub(crate) store: S,
    pub(crate) provider: P,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) hlc: HlcClock,
    pub(crate) started: bool,
    pub(crate) closed: bool,
    pub(crate) neighbours: BTreeMap<NodeId, Link>,
    pub(crate) directs: BTreeMap<NodeId, Link>,
    /// Connections being made, the passive view, failed nodes, shuffles (`topology.rs`).
    pub(crate) topology: TopologyState,
    /// The partition signature, the tree parent and the probes (`signature.rs`).
    pub(crate) beacons: Beacons,
    /// Missing, refused and custody records of flooding (`flood.rs`).
    pub(crate) flooding: FloodState,
    /// Deferred records and the expiry timer (`records.rs`).
    pub(crate) records: RecordsState,
    /// This node's presence record and the node list (`presence.rs`).
    pub(crate) presence: PresenceState,
    pub(crate) status: Status,
    pub(crate) counters: Counters,
}

impl<S: RecordStore, P: SecurityProvider> GraphNode<S, P> {
    /// A node; nothing happens until the driver delivers `Input::Start`.
    pub fn new(params: NodeParams<S, P>) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        let instance = rng.random::<u64>();
        let hlc = HlcClock::for_node(&params.me.node, params.config.records.hlc);
        GraphNode {
            graph: params.graph,
            me: params.me,
            name: params.peer_name,
            instance,
            beacons: Beacons::new(params.me.node),
            config: params.config,
            store: params.store,
            provider: params.provider,
            rng,
            hlc,
            started: false,
            closed: false,
            neighbours: BTreeMap::new(),
            directs: BTreeMap::new(),
            topology: TopologyState::default(),
            flooding: FloodState::default(),
            records: RecordsState::default(),
            presence: PresenceState::default(),
            status: Status::default(),
            counters: Counters::default(),
        }
    }

    // ----- accessors --------------------------------------------------------------------

    /// The graph.
    pub fn graph(&self) -> &GraphId {
        &self.graph
    }

    /// This node's id and address.
    pub fn addr(&self) -> PeerAddr {
        self.me
    }

    /// This node's instance number (new at every open).
    pub fn instance(&self) -> u64 {
        self.instance
    }

    /// The record store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The record store, for a driver's durability control
    /// ([`RecordStore::set_write_mode`], [`RecordStore::flush`]) and for importing records
    /// into a node that has not started. Records written here behind a running node's back
    /// are neither flooded nor announced in events.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// The security provider.
    pub fn provider(&self) -> &P {
        &self.provider
    }

    /// Asks the provider about a record outside the message flow (imports), with the
    /// store as its view.
    pub fn validate_with_provider(&mut self, record: &Record, now: UnixTime) -> Validation {
        let view = StoreView { store: &self.store, now };
        let cx = ProviderContext { graph: &self.graph, now, records: &view };
        self.provider.validate(&cx, record)
    }

    /// The store and the provider at once (a layer above reads the one while it asks
    /// the other).
    pub fn store_and_provider_mut(&mut self) -> (&S, &mut P) {
        (&self.store, &mut self.provider)
    }

    /// The security provider, to change its rules (tests) — then `RetryDeferred`.
    pub fn provider_mut(&mut self) -> &mut P {
        &mut self.provider
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The status flags.
    pub fn status(&self) -> Status {
        self.status
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The neighbours, in node id order.
    pub fn neighbours(&self) -> Vec<NeighbourInfo> {
        self.neighbours
            .values()
            .map(|l| NeighbourInfo {
                peer: l.peer,
                name: l.name.clone(),
                eager: l.tree.eager,
                synchronized: l.sync.synchronized,
                since: l.since,
            })
            .collect()
    }

    /// The neighbours' addresses, in node id order.
    pub fn neighbour_addrs(&self) -> Vec<PeerAddr> {
        self.neighbours.values().map(|l| l.peer).collect()
    }

    /// The peers of direct connections, in node id order.
    pub fn direct_peers(&self) -> Vec<PeerAddr> {
        self.directs.values().map(|l| l.peer).collect()
    }

    /// The passive view.
    pub fn passive_view(&self) -> &[PeerAddr] {
        &self.topology.passive
    }

    /// The node list (from presence records), this node excluded, in node id order.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.presence.known.values().cloned().collect()
    }

    /// The partition signature: the lowest node id this node knows in its component.
    pub fn signature(&self) -> NodeId {
        self.beacons.signature.node
    }

    /// The tree parent: the neighbour towards the signature node (`None` at the
    /// signature node, or before the first beacon).
    pub fn parent(&self) -> Option<NodeId> {
        self.beacons.parent
    }

    /// Records the provider deferred, waiting for `RetryDeferred`.
    pub fn deferred_len(&self) -> usize {
        self.records.deferred.len()
    }

    /// Announced records not received yet.
    pub fn missing_len(&self) -> usize {
        self.flooding.missing.len()
    }

    /// `true` while synchronisation with some neighbour is in progress.
    pub fn is_syncing(&self) -> bool {
        self.neighbours.values().any(|l| l.sync.running.is_some())
    }

    // ----- sending ----------------------------------------------------------------------

    pub(crate) fn send(&mut self, to: PeerAddr, msg: Message, out: &mut Out) {
        self.counters.messages_sent += 1;
        out.send(to, msg);
    }

    pub(crate) fn set_timer(&mut self, at: Instant, kind: TimerKind, out: &mut Out) {
        out.set_timer(at, Timer(kind));
    }

    /// `base` scaled by a random factor in `[1 − spread, 1 + spread]`.
    pub(crate) fn jitter(&mut self, base: Duration, spread: f64) -> Duration {
        let f = 1.0 + spread * (self.rng.random::<f64>() * 2.0 - 1.0);
        // Saturates rather than panicking on absurd configured durations.
        Duration::try_from_secs_f64(base.as_secs_f64() * f.max(0.0)).unwrap_or(Duration::MAX)
    }

    pub(crate) fn reject(&mut self, peer: PeerAddr, error: ProtoError, out: &mut Out) {
        out.emit(Event::Rejected { peer, error });
    }

    pub(crate) fn command_failed(
        &mut self,
        command: &'static str,
        error: ProtoError,
        out: &mut Out,
    ) {
        out.emit(Event::CommandFailed { command, error });
    }

    pub(crate) fn message_limits(&self) -> MessageLimits {
        MessageLimits {
            max_reconcile_payload: self.config.sync.reconcile.max_message_bytes,
            max_data_bytes: self.config.max_data_bytes,
        }
    }

    // ----- status -----------------------------------------------------------------------

    fn update_status(&mut self, out: &mut Out) {
        let status = Status {
            listening: self.started && !self.closed,
            has_connections: !self.neighbours.is_empty(),
            synchronized: self.neighbours.values().any(|l| l.sync.synchronized),
        };
        if status != self.status {
            self.status = status;
            out.emit(Event::Status(status));
        }
    }

    // ----- inputs -----------------------------------------------------------------------

    fn on_start(&mut self, now: Now, out: &mut Out) {
        if self.started {
            return;
        }
        self.started = true;
        // A reopened store: later timestamps stay above every stored one (graph.md §3.5).
        if let Ok(Some(last)) = self.store.last_sync_key() {
            self.hlc.resume(last.modified);
        }
        let maintenance = self.config.topology.maintenance_interval;
        let first = self.jitter(maintenance, 0.5);
        self.set_timer(now.instant + first, TimerKind::Maintenance, out);
        let keepalive = self.config.topology.keepalive_interval / 2;
        let first = self.jitter(keepalive, 0.5);
        self.set_timer(now.instant + first, TimerKind::Keepalive, out);
        let shuffle = self.config.topology.shuffle_interval;
        let first = self.jitter(shuffle, 0.5);
        self.set_timer(now.instant + first, TimerKind::Shuffle, out);
        let probe = self.config.beacons.probe_interval;
        let first = self.jitter(probe, 0.5);
        self.set_timer(now.instant + first, TimerKind::Probe, out);
        let (beacons, mut io) = self.beacons_io(out);
        beacons.start(&mut io, now);
        self.records.arm_expiry(&self.store, now, out);
        self.presence.load(&self.store, self.me.node, now.unix);
        if self.config.presence.publish_presence {
            self.publish_presence(now, out);
        }
    }

    fn on_message(&mut self, now: Now, from: PeerAddr, msg: Message, out: &mut Out) {
        self.counters.messages_received += 1;
        if msg.carries_records() {
            self.counters.record_messages_received += 1;
        }
        if self.closed {
            return;
        }
        if let Some(l) = self.neighbours.get_mut(&from.node) {
            l.last_heard = now.instant;
        } else if let Some(l) = self.directs.get_mut(&from.node) {
            l.last_heard = now.instant;
        }
        if let Err(e) = msg.check(&self.message_limits()) {
            self.counters.messages_rejected += 1;
            self.reject(from, e, out);
            return;
        }
        match msg {
            Message::Connect(c) => self.on_connect(now, from, c, out),
            Message::Welcome(w) => self.on_welcome(now, from, w, out),
            Message::Refuse(r) => self.on_refuse(now, from, r, out),
            Message::Disconnect(d) => self.on_disconnect(now, from, d, out),
            Message::ShuffleReply { nonce, nodes } => self.on_shuffle_reply(nonce, nodes),
            Message::Probe { nonce, signature } => self.on_probe(now, from, nonce, signature, out),
            Message::ProbeReply { nonce, signature } => {
                self.on_probe_reply(now, from, nonce, signature, out)
            }
            Message::Ping => {
                if !self.neighbours.contains_key(&from.node)
                    && !self.directs.contains_key(&from.node)
                {
                    self.not_connected(from, out);
                }
            }
            Message::Data { data_type, data } => {
                if self.neighbours.contains_key(&from.node) || self.directs.contains_key(&from.node)
                {
                    out.emit(Event::IncomingData { peer: from, data_type, data });
                } else {
                    self.not_connected(from, out);
                }
            }
            other => {
                if !self.neighbours.contains_key(&from.node) {
                    self.not_connected(from, out);
                    return;
                }
                match other {
                    Message::ForwardJoin { joiner, ttl } => {
                        self.on_forward_join(now, from, joiner, ttl, out)
                    }
                    Message::Shuffle(s) => self.on_shuffle(from, s, out),
                    Message::Push { hops, record } => self.on_push(now, from, hops, &record, out),
                    Message::Custody { record } => self.on_custody(now, from, &record, out),
                    Message::Announce(items) => self.on_announce(now, from, &items, out),
                    Message::Graft(items) => self.on_graft(now, from, &items, out),
                    Message::Prune => self.on_prune(from, out),
                    Message::Sync(s) => self.on_sync(now, from, s, out),
                    Message::Beacon(b) => {
                        let (beacons, mut io) = self.beacons_io(out);
                        beacons.on_beacon(&mut io, now, from, b);
                    }
                    _ => {}
                }
            }
        }
    }

    /// A message that needs a connection came from a peer without one: tell it, so a
    /// peer that still counts us as a neighbour (we restarted, or dropped it) drops us.
    fn not_connected(&mut self, from: PeerAddr, out: &mut Out) {
        self.counters.messages_rejected += 1;
        let d = crate::proto::message::Disconnect {
            kind: LinkKind::Neighbour,
            reason: crate::proto::message::DisconnectReason::NotConnected,
            referrals: Vec::new(),
        };
        self.send(from, Message::Disconnect(d), out);
    }

    fn on_command(&mut self, now: Now, command: Command, out: &mut Out) {
        if self.closed {
            self.command_failed(command_name(&command), ProtoError::Closed, out);
            return;
        }
        match command {
            Command::Connect(peer) => self.connect_command(now, peer, LinkKind::Neighbour, out),
            Command::OpenDirect(peer) => self.connect_command(now, peer, LinkKind::Direct, out),
            Command::CloseDirect(peer) => self.close_direct(peer, out),
            Command::SendData { peer, data_type, data } => {
                if data.len() > self.config.max_data_bytes {
                    let e = ProtoError::TooLarge {
                        field: "data",
                        len: data.len(),
                        max: self.config.max_data_bytes,
                    };
                    self.command_failed("SendData", e, out);
                } else if self.neighbours.contains_key(&peer.node)
                    || self.directs.contains_key(&peer.node)
                {
                    self.send(peer, Message::Data { data_type, data }, out);
                } else {
                    self.command_failed("SendData", ProtoError::ConnectionNotFound(peer.node), out);
                }
            }
            Command::AddRecord(r) => {
                if let Err(e) = self.add_local(now, r, out) {
                    self.command_failed("AddRecord", e, out);
                }
            }
            Command::AddRecords(rs) => {
                if let Err(e) = self.add_local_batch(now, rs, out) {
                    self.command_failed("AddRecords", e, out);
                }
            }
            Command::UpdateRecord(u) => {
                if let Err(e) = self.update_local(now, u, out) {
                    self.command_failed("UpdateRecord", e, out);
                }
            }
            Command::DeleteRecord(id) => {
                if let Err(e) = self.delete_local(now, id, out) {
                    self.command_failed("DeleteRecord", e, out);
                }
            }
            Command::RetryDeferred => self.retry_deferred(now, out),
            Command::Close => self.close(now, out),
        }
    }

    fn on_timer(&mut self, now: Now, timer: Timer, out: &mut Out) {
        if self.closed {
            return;
        }
        match timer.0 {
            TimerKind::Maintenance => self.on_maintenance(now, out),
            TimerKind::Keepalive => self.on_keepalive(now, out),
            TimerKind::Shuffle => self.on_shuffle_timer(now, out),
            TimerKind::Beacon { generation } => {
                if generation == self.beacons.signature.timer {
                    let (beacons, mut io) = self.beacons_io(out);
                    beacons.on_timer(&mut io, now);
                }
            }
            TimerKind::Probe => self.on_probe_timer(now, out),
            TimerKind::AnnounceFlush => self.flush_announcements(out),
            TimerKind::Graft { id, tag } => self.on_graft_timer(now, id, tag, out),
            TimerKind::ConnectTimeout { node, attempt } => {
                self.on_connect_timeout(now, node, attempt, out)
            }
            TimerKind::Expiry { generation } => {
                if generation == self.records.expiry_generation {
                    self.purge_expired(now, out);
                }
            }
            TimerKind::PresenceRefresh { generation } => {
                self.refresh_presence(now, generation, out)
            }
        }
    }

    /// The beacons and, borrowed apart from them, what they act on.
    pub(crate) fn beacons_io<'a>(
        &'a mut self,
        out: &'a mut Out,
    ) -> (&'a mut Beacons, BeaconIo<'a>) {
        let io = BeaconIo {
            me: self.me.node,
            config: &self.config.beacons,
            links: &mut self.neighbours,
            counters: &mut self.counters,
            out,
        };
        (&mut self.beacons, io)
    }

    /// Topology made a neighbour: synchronisation starts (`initiator` if this node asked
    /// for the connection) and the beacons tell it the current signature.
    pub(crate) fn neighbour_up(
        &mut self,
        now: Now,
        peer: PeerAddr,
        initiator: bool,
        out: &mut Out,
    ) {
        self.start_sync(now, peer, initiator, None, out);
        let (beacons, mut io) = self.beacons_io(out);
        beacons.send_to(&mut io, now, peer);
    }

    /// Topology lost a neighbour (`gone` if it failed or left the graph, rather than
    /// dropping only this connection): the beacons find a new tree parent if needed. Its
    /// synchronisation and announcement queue went with its link.
    pub(crate) fn neighbour_down(&mut self, now: Now, node: NodeId, gone: bool, out: &mut Out) {
        let (beacons, mut io) = self.beacons_io(out);
        beacons.neighbour_down(&mut io, now, node, gone);
    }

    /// Leaves the graph: deletes the presence record, flushes the announcements, says
    /// goodbye, stops.
    fn close(&mut self, now: Now, out: &mut Out) {
        self.withdraw_presence(now, out);
        self.flush_announcements(out);
        self.disconnect_all(out);
        self.flooding.missing.clear();
        self.closed = true;
    }

    /// The maintenance round: synchronisations that stalled, topology repair, then the
    /// synchronisations waiting (§8.3) and due (§8.6).
    fn on_maintenance(&mut self, now: Now, out: &mut Out) {
        let next = self.jitter(self.config.topology.maintenance_interval, 0.1);
        self.set_timer(now.instant + next, TimerKind::Maintenance, out);
        self.drop_stalled_syncs(now, out);
        self.topology_round(now, out);
        self.release_held(now, out);
        self.resync_due(now, out);
    }

    fn on_peer_down(&mut self, now: Now, peer: PeerAddr, out: &mut Out) {
        if self.closed {
            return;
        }
        self.topology.passive.retain(|p| p.node != peer.node);
        let mut failed = false;
        for kind in [LinkKind::Neighbour, LinkKind::Direct] {
            if let Some(p) = self.topology.pending.remove(&(peer.node, kind)) {
                failed = true;
                self.connect_failed(now, p, ProtoError::ConnectionFailed, out);
            }
        }
        if failed {
            self.topology.note_failed(now, peer.node);
        }
        if self.neighbours.get(&peer.node).is_some_and(|l| l.peer == peer) {
            self.topology.note_failed(now, peer.node);
            self.lose_neighbour(now, peer.node, true, out);
        }
        if self.directs.get(&peer.node).is_some_and(|l| l.peer == peer)
            && let Some(l) = self.directs.remove(&peer.node)
        {
            out.emit(Event::Direct { peer: l.peer, change: ConnectionChange::Disconnected });
        }
    }

    /// Sync messages: only from neighbours (checked by the caller).
    fn on_sync(&mut self, now: Now, from: PeerAddr, s: SyncMessage, out: &mut Out) {
        match s {
            SyncMessage::Reconcile { phase, payload } => {
                self.on_sync_reconcile(now, from, phase, &payload, out)
            }
            SyncMessage::Records { phase, records } => {
                self.on_sync_records(now, from, phase, &records, out)
            }
            SyncMessage::Ack { phase } => self.on_sync_ack(now, from, phase, out),
            SyncMessage::Done { phase } => self.on_sync_done(now, from, phase, out),
            SyncMessage::Resync { settled_before } => {
                self.on_sync_resync(now, from, settled_before, out)
            }
        }
    }
}

/// The name of a command, for errors.
pub(crate) fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Connect(_) => "Connect",
        Command::OpenDirect(_) => "OpenDirect",
        Command::CloseDirect(_) => "CloseDirect",
        Command::SendData { .. } => "SendData",
        Command::AddRecord(_) => "AddRecord",
        Command::AddRecords(_) => "AddRecords",
        Command::UpdateRecord(_) => "UpdateRecord",
        Command::DeleteRecord(_) => "DeleteRecord",
        Command::RetryDeferred => "RetryDeferred",
        Command::Close => "Close",
    }
}

impl<S: RecordStore, P: SecurityProvider> Protocol for GraphNode<S, P> {
    type Message = Message;
    type Command = Command;
    type Event = Event;
    type Timer = Timer;

    fn handle(&mut self, now: Now, input: Input<Message, Command, Timer>, out: &mut Out) {
        match input {
            Input::Start => self.on_start(now, out),
            Input::Recv { from, msg } => self.on_message(now, from, msg, out),
            Input::Command(c) => self.on_command(now, c, out),
            Input::Timer(t) => self.on_timer(now, t, out),
            Input::PeerDown(p) => self.on_peer_down(now, p, out),
        }
        // A record the provider was waiting for arrived: retry what it deferred. Bounded:
        // each round either stores deferred records or leaves the list as it was.
        let mut rounds = 0;
        while std::mem::take(&mut self.records.retry_requested) && rounds < 8 {
            rounds += 1;
            self.retry_deferred(now, out);
        }
        self.update_status(out);
    }

    fn prepare(&mut self, now: Now, batch: &[(PeerAddr, Message)]) {
        self.prepare_messages(now, batch.iter().map(|(_, m)| m));
    }
}

impl<S, P> std::fmt::Debug for GraphNode<S, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphNode")
            .field("graph", &self.graph)
            .field("me", &self.me)
            .field("neighbours", &self.neighbours.keys().collect::<Vec<_>>())
            .field("passive", &self.topology.passive.len())
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::TestProvider;
    use crate::store::{MemStore, RedbStore};

    /// The tokio driver (`crates/net/src/driver.rs`) needs these bounds.
    #[test]
    fn types_fit_the_tokio_driver() {
        fn message<M: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static>() {}
        fn send<T: Send + 'static>() {}
        message::<Message>();
        send::<Command>();
        send::<Event>();
        send::<Timer>();
        send::<GraphNode<MemStore, TestProvider>>();
        send::<GraphNode<RedbStore, TestProvider>>();
    }
}
