//! [`GroupNode`]: the sans-IO core of one group member (`group.md` §8–§9).
//!
//! It wraps the graph core (`GraphNode<S, GroupSecurity>`) and adds what the group needs
//! around it:
//!
//! * **Admission.** No graph message goes to, or is taken from, a peer before that peer's
//!   [`Hello`] verified. The first graph message for a peer queues (bounded) and sends our
//!   hello; the peer answers with its own; each side then releases its queue. A failed
//!   check is answered with a [`Refusal`] code, reported as
//!   [`Event::AuthenticationFailed`], and the peer is dropped.
//! * **Revocation on live connections.** When a revocation arrives that covers an admitted
//!   peer, the peer is refused and disconnected.
//! * **Its own membership.** On start, and at half its lifetime, the node publishes its
//!   membership record (the chain) so every replica can validate its records.
//! * **Member events** ([`Event::MemberChanged`]) from the security provider.
//!
//! The channel binding (the TLS exporter value of each connection) comes from a
//! [`ChannelBinding`]: the QUIC driver exports it from rustls; the simulator derives it from
//! the two node ids.

use std::collections::HashMap;
use std::time::Duration;

use peergroup_base::{Input, Instant, NodeId, Now, Outbox, Output, PeerAddr, Protocol, UnixTime};
use peergroup_graph::proto::{
    Command as GraphCommand, Event as GraphEvent, GraphNode, Message as GraphMessage, NewRecord,
    RecordLookup, RecordUpdate, Timer as GraphTimer,
};
use peergroup_graph::record::Record;
use peergroup_graph::store::RecordStore;
use peergroup_graph::{RecordFilter, RecordId};
use serde::{Deserialize, Serialize};

use crate::admission::{Hello, Refusal};
use crate::cert::{CertId, Role};
use crate::chain::{Chain, VerifiedChain};
use crate::error::GroupError;
use crate::group::LocalMember;
use crate::records::{
    MEMBERSHIP_TYPE, PROPERTIES_TYPE, REVOCATION_TYPE, Revocation, RevocationReason, SecurityData,
    encode_membership, membership_id, revocation_id,
};
use crate::security::{GroupSecurity, MemberChange};
use crate::wire::sha256;

/// A message on a group connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Message {
    /// A membership proof ([`Hello`] encoding).
    Hello(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The sender refused our proof (a [`Refusal`] code).
    Refused(u8),
    /// A graph message (only between admitted peers).
    Graph(GraphMessage),
    /// "Send me your proof": sent instead of a hello when no connection to the peer
    /// exists yet, so there is no exporter value to bind a hello to. Sending it makes the
    /// transport connect; the peer answers with its hello, and ours follows (`group.md`
    /// §8.5).
    Knock,
}

/// What the application asks.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Command {
    /// A graph command (connect, records, direct data, close).
    Graph(GraphCommand),
    /// Revoke a certificate (administrator, or the certificate's issuer).
    Revoke {
        /// The certificate.
        target: CertId,
        /// Its not-after.
        target_not_after: UnixTime,
        /// Why.
        reason: RevocationReason,
        /// Sign with the group key (the creator) instead of the local member's key.
        as_group: bool,
    },
    /// Publish the local member's membership record again.
    PublishMembership,
    /// Take new credentials (renewal, role change): `chain` must end in a certificate for
    /// the local identity; the membership record is republished with it.
    SetCredentials(Chain),
    /// Re-issue certificates to the members whose chains pass through `revoked` (an
    /// inviter that was revoked), under the local member's certificate, with the same
    /// role where the local role may issue it (member otherwise), valid `validity`; their
    /// membership records are updated (an administrator may update any record), so they
    /// are members again without a new invitation.
    Reissue {
        /// The revoked certificate.
        revoked: CertId,
        /// Validity of the new certificates (cut to the local certificate's).
        validity: Duration,
    },
    /// Simulation only: a hostile member pushes a record it crafted to every admitted
    /// peer, bypassing every local check.
    #[cfg(feature = "sim")]
    AdversaryPush(Record),
}

/// What the node reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// A graph event.
    Graph(GraphEvent),
    /// The member list changed.
    MemberChanged(MemberChange),
    /// A peer proved its membership.
    PeerAdmitted {
        /// The peer.
        peer: PeerAddr,
        /// Its role.
        role: Role,
    },
    /// A peer's proof failed here (`local: true`), or the peer refused ours.
    AuthenticationFailed {
        /// The peer.
        peer: PeerAddr,
        /// The reason.
        reason: Refusal,
        /// `true`: we refused the peer; `false`: the peer refused us.
        local: bool,
        /// The check that failed (empty when the peer refused us).
        detail: String,
    },
    /// A command failed.
    CommandFailed {
        /// The error.
        error: GroupError,
    },
    /// A joiner proved the group password to this node and received credentials
    /// (`group.md` §13; raised by the network driver).
    PasswordJoined {
        /// The joiner's connection.
        peer: PeerAddr,
        /// The new member.
        member: peergroup_base::PeerName,
        /// Its role.
        role: Role,
    },
    /// The group's properties changed (friendly name or comment, set by the creator), or
    /// arrived for the first time (`PEER_GROUP_EVENT_PROPERTY_CHANGED`). The graph's
    /// `RecordChanged` of the properties record is raised too.
    PropertyChanged {
        /// The properties now.
        properties: crate::records::GroupProperties,
    },
    /// A neighbour or direct connection to a peer could not be made
    /// (`PEER_GROUP_EVENT_CONNECTION_FAILED`); raised beside the graph's `Neighbour` or
    /// `Direct` event with [`ConnectionChange::Failed`](peergroup_graph::proto::ConnectionChange),
    /// and by the network driver when no address of a member answers.
    ConnectionFailed {
        /// The address tried.
        addr: std::net::SocketAddr,
        /// The peer's node id, when known.
        node: Option<NodeId>,
        /// Why.
        reason: String,
    },
    /// A password join failed at this node, the verifier: wrong password, locked,
    /// throttled, abandoned or malformed (`AuthenticationFailed` of Windows' password
    /// path).
    PasswordJoinFailed {
        /// The joiner's connection.
        peer: PeerAddr,
        /// Why.
        reason: String,
    },
}

/// Timers.
#[derive(Debug, Clone)]
pub enum Timer {
    /// A graph timer.
    Graph(GraphTimer),
    /// Time to renew the membership record.
    Renew,
}

/// Where the TLS exporter value of a connection comes from.
pub trait ChannelBinding: Send {
    /// The 32-byte exporter value of the connection between `me` and `peer` that a hello
    /// to `peer` is bound to; `None` while there is no connection (the node knocks
    /// instead).
    fn exporter(&self, me: &PeerAddr, peer: &PeerAddr) -> Option<[u8; 32]>;

    /// Every exporter value a hello from `peer` may be bound to: those of all live
    /// connections between the two (two can exist when both ends dialled at once).
    fn accepted(&self, me: &PeerAddr, peer: &PeerAddr) -> Vec<[u8; 32]> {
        self.exporter(me, peer).into_iter().collect()
    }
}

/// The simulator's binding: SHA-256 of a label and the two node ids in order. (Real
/// connections use the TLS exporter; a simulated link has no session secret.)
#[derive(Debug, Clone, Copy, Default)]
pub struct SimBinding;

impl ChannelBinding for SimBinding {
    fn exporter(&self, me: &PeerAddr, peer: &PeerAddr) -> Option<[u8; 32]> {
        let (a, b) = if me.node <= peer.node { (me.node, peer.node) } else { (peer.node, me.node) };
        Some(sha256(&[b"peergroup sim exporter", a.as_bytes(), b.as_bytes()]))
    }
}

/// One member, as [`GroupNode::members`] lists it.
#[derive(Debug, Clone)]
pub struct MemberInfo {
    /// Its peer name.
    pub peer: peergroup_base::PeerName,
    /// Its role.
    pub role: Role,
    /// Valid from.
    pub not_before: UnixTime,
    /// Valid until.
    pub not_after: UnixTime,
    /// The revoked certificate of its chain, if any.
    pub revoked: Option<CertId>,
    /// Whether its presence record is held.
    pub present: bool,
    /// Its chain.
    pub chain: VerifiedChain,
}

/// Admission counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "sim", derive(serde::Serialize))]
pub struct AdmissionCounters {
    /// Hellos sent.
    pub hellos_sent: u64,
    /// Peers admitted.
    pub admitted: u64,
    /// Peers refused here.
    pub refused: u64,
    /// Times a peer refused us.
    pub refused_by_peer: u64,
    /// Admitted peers dropped after a revocation.
    pub dropped_revoked: u64,
    /// Graph messages dropped because a queue was full.
    pub queue_drops: u64,
}

#[derive(Debug, Default)]
struct PeerState {
    addr: Option<PeerAddr>,
    admitted: bool,
    hello_sent: bool,
    knocked: bool,
    refused: bool,
    out: Vec<GraphMessage>,
    inbound: Vec<GraphMessage>,
}

/// Messages held per peer while admission runs.
const MAX_QUEUED: usize = 256;
/// How long a refused peer gets no graph traffic from this node.
const REFUSAL_HOLD: Duration = Duration::from_secs(60);
/// Refused peers remembered at most.
const MAX_REFUSED_REMEMBERED: usize = 10_000;

type GraphOut = Outbox<GraphMessage, GraphEvent, GraphTimer>;
type Out = Outbox<Message, Event, Timer>;

/// A read-only view of a store at one instant.
struct View<'a, S> {
    store: &'a S,
    now: UnixTime,
}

impl<S: RecordStore> RecordLookup for View<'_, S> {
    fn get(&self, id: &RecordId) -> Option<Record> {
        self.store.get(id, self.now).ok().flatten()
    }
    fn enumerate(&self, filter: &RecordFilter) -> Vec<Record> {
        self.store.enumerate(filter, self.now).unwrap_or_default()
    }
    fn all_with_tombstones(&self) -> Vec<Record> {
        self.store
            .sync_records(&peergroup_graph::SyncRange::ALL, usize::MAX, self.now)
            .unwrap_or_default()
    }
}

/// One group member's core. See the [module docs](self).
pub struct GroupNode<S: RecordStore> {
    graph: GraphNode<S, GroupSecurity>,
    binding: Box<dyn ChannelBinding>,
    peers: HashMap<NodeId, PeerState>,
    /// Peers refused recently: no graph traffic is started with them until then (their
    /// own hellos are still checked, so re-issued credentials are taken at once).
    refused_until: HashMap<NodeId, Instant>,
    /// Graph connections to refused peers, answered with `PeerDown` after the current input.
    doomed: Vec<PeerAddr>,
    scratch: GraphOut,
    revision: u64,
    member_data_lifetime: Duration,
    counters: AdmissionCounters,
}

impl<S: RecordStore> std::fmt::Debug for GroupNode<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupNode").field("graph", &self.graph).finish_non_exhaustive()
    }
}

impl<S: RecordStore> GroupNode<S> {
    /// A member's core over a graph core whose provider is the group's security.
    pub fn new(
        graph: GraphNode<S, GroupSecurity>,
        binding: Box<dyn ChannelBinding>,
        member_data_lifetime: Duration,
    ) -> Self {
        GroupNode {
            graph,
            binding,
            peers: HashMap::new(),
            refused_until: HashMap::new(),
            doomed: Vec::new(),
            scratch: Outbox::new(),
            revision: 0,
            member_data_lifetime,
            counters: AdmissionCounters::default(),
        }
    }

    /// The graph core.
    pub fn graph(&self) -> &GraphNode<S, GroupSecurity> {
        &self.graph
    }
    /// The graph core, mutably (tests).
    pub fn graph_mut(&mut self) -> &mut GraphNode<S, GroupSecurity> {
        &mut self.graph
    }
    /// The security provider.
    pub fn security(&self) -> &GroupSecurity {
        self.graph.provider()
    }
    /// Admission counters.
    pub fn admission_counters(&self) -> AdmissionCounters {
        self.counters
    }
    /// Peers admitted now.
    pub fn admitted_peers(&self) -> Vec<NodeId> {
        self.peers.iter().filter(|(_, p)| p.admitted).map(|(n, _)| *n).collect()
    }

    /// The verified chain of a member, by peer name, from this node's records.
    pub fn member_chain(
        &mut self,
        peer: &peergroup_base::PeerName,
        now: UnixTime,
    ) -> Option<VerifiedChain> {
        let graph = self.graph_id();
        let (store, provider) = self.graph.store_and_provider_mut();
        let view = View { store, now };
        let cx = peergroup_graph::proto::ProviderContext { graph: &graph, now, records: &view };
        provider.member_chain(&cx, peer)
    }

    fn graph_id(&self) -> peergroup_graph::GraphId {
        self.graph.graph().clone()
    }

    fn local(&self) -> Option<&LocalMember> {
        self.graph.provider().local()
    }

    /// The group events a graph event implies: `PropertyChanged`, `ConnectionFailed`.
    fn derived_event(&self, now: Now, e: &GraphEvent, out: &mut Out) {
        use peergroup_graph::proto::{ConnectionChange, RecordChange};
        match e {
            GraphEvent::RecordChanged {
                change: RecordChange::Added | RecordChange::Updated,
                id,
                record_type,
                ..
            } if *record_type == PROPERTIES_TYPE => {
                if let Ok(Some(r)) = self.graph.store().get(id, now.unix)
                    && let Ok(properties) = crate::records::GroupProperties::decode(r.payload())
                {
                    out.emit(Event::PropertyChanged { properties });
                }
            }
            GraphEvent::Neighbour { peer, change: ConnectionChange::Failed(error) }
            | GraphEvent::Direct { peer, change: ConnectionChange::Failed(error) } => {
                out.emit(Event::ConnectionFailed {
                    addr: peer.addr,
                    node: Some(peer.node),
                    reason: error.to_string(),
                });
            }
            _ => {}
        }
    }

    /// Runs the graph core on one input and translates its outputs.
    fn run_graph(
        &mut self,
        now: Now,
        input: Input<GraphMessage, GraphCommand, GraphTimer>,
        out: &mut Out,
    ) {
        // Iterative, not recursive: a graph message to a held-off peer becomes that peer's
        // `PeerDown`, whose handling may address another held-off peer, and so on. Each
        // peer is reported down at most once per input, so this ends.
        let mut pending = std::collections::VecDeque::from([input]);
        let mut downed: Vec<NodeId> = Vec::new();
        while let Some(input) = pending.pop_front() {
            let mut scratch = std::mem::take(&mut self.scratch);
            self.graph.handle(now, input, &mut scratch);
            for o in scratch.drain() {
                match o {
                    Output::Send { to, msg } => self.send_graph(now, to, msg, out),
                    Output::Emit(e) => {
                        self.derived_event(now, &e, out);
                        out.emit(Event::Graph(e));
                    }
                    Output::SetTimer { at, timer } => out.set_timer(at, Timer::Graph(timer)),
                    Output::Disconnect(p) => {
                        self.forget(&p.node);
                        out.disconnect(p);
                    }
                }
            }
            self.scratch = scratch;
            self.after_security_change(now, out);
            for p in std::mem::take(&mut self.doomed) {
                if !downed.contains(&p.node) {
                    downed.push(p.node);
                    pending.push_back(Input::PeerDown(p));
                }
            }
        }
    }

    fn send_graph(&mut self, now: Now, to: PeerAddr, msg: GraphMessage, out: &mut Out) {
        if self.refused_until.get(&to.node).is_some_and(|t| *t > now.instant) {
            if !self.doomed.contains(&to) {
                self.doomed.push(to);
            }
            return;
        }
        let peer = self.peers.entry(to.node).or_default();
        peer.addr = Some(to);
        if peer.admitted {
            out.send(to, Message::Graph(msg));
            return;
        }
        if peer.out.len() >= MAX_QUEUED {
            peer.out.remove(0);
            self.counters.queue_drops += 1;
        }
        peer.out.push(msg);
        self.send_hello(now, to, out);
    }

    fn send_hello(&mut self, _now: Now, to: PeerAddr, out: &mut Out) {
        let me = self.graph.addr();
        if self.local().is_none() || self.peers.get(&to.node).is_some_and(|p| p.hello_sent) {
            return;
        }
        let Some(exporter) = self.binding.exporter(&me, &to) else {
            let peer = self.peers.entry(to.node).or_default();
            if !peer.knocked {
                peer.knocked = true;
                out.send(to, Message::Knock);
            }
            return;
        };
        let Some(local) = self.local() else {
            return;
        };
        let hello = Hello::of(local, &exporter).encode();
        let peer = self.peers.entry(to.node).or_default();
        peer.hello_sent = true;
        self.counters.hellos_sent += 1;
        out.send(to, Message::Hello(hello));
    }

    fn on_hello(&mut self, now: Now, from: PeerAddr, bytes: &[u8], out: &mut Out) {
        let me = self.graph.addr();
        // A hello from a peer admitted before: the peer started a new session (it
        // restarted, or lost the connection); it needs our hello again (§8.5).
        if let Some(p) = self.peers.get_mut(&from.node)
            && p.admitted
        {
            p.admitted = false;
            p.hello_sent = false;
            p.knocked = false;
        }
        let exporters = self.binding.accepted(&me, &from);
        let mut result = Hello::decode(bytes)
            .map_err(GroupError::from)
            .and_then(|h| h.verify_any(self.graph.provider_mut(), from.node, &exporters, now.unix));
        // A proof that failed only on dates or revocation: the member list may hold newer
        // credentials for this peer (re-issued by an administrator).
        if let Err(e) = &result
            && (e.is_revoked()
                || matches!(e, GroupError::Chain(crate::error::ChainError::Expired { .. })))
        {
            let graph = self.graph_id();
            let (store, provider) = self.graph.store_and_provider_mut();
            let view = View { store, now: now.unix };
            let cx = peergroup_graph::proto::ProviderContext {
                graph: &graph,
                now: now.unix,
                records: &view,
            };
            if let Ok(chain) = provider.admit_stored(&cx, from.node) {
                result = Ok(chain);
            }
        }
        match result {
            Ok(chain) => {
                self.send_hello(now, from, out);
                let peer = self.peers.entry(from.node).or_default();
                peer.addr = Some(from);
                if peer.admitted {
                    return;
                }
                peer.admitted = true;
                self.counters.admitted += 1;
                self.refused_until.remove(&from.node);
                out.emit(Event::PeerAdmitted { peer: from, role: chain.role() });
                let queued = std::mem::take(&mut peer.out);
                let inbound = std::mem::take(&mut peer.inbound);
                for m in queued {
                    out.send(from, Message::Graph(m));
                }
                for m in inbound {
                    self.run_graph(now, Input::Recv { from, msg: m }, out);
                }
            }
            Err(e) => self.refuse(now, from, Refusal::of(&e), e.to_string(), out),
        }
    }

    fn refuse(&mut self, now: Now, peer: PeerAddr, reason: Refusal, detail: String, out: &mut Out) {
        self.counters.refused += 1;
        let was_admitted = self.peers.get(&peer.node).is_some_and(|p| p.admitted);
        out.send(peer, Message::Refused(reason.code()));
        out.emit(Event::AuthenticationFailed { peer, reason, local: true, detail });
        self.forget(&peer.node);
        self.peers.entry(peer.node).or_default().refused = true;
        if self.refused_until.len() >= MAX_REFUSED_REMEMBERED {
            self.refused_until.retain(|_, t| *t > now.instant);
            if self.refused_until.len() >= MAX_REFUSED_REMEMBERED {
                self.refused_until.clear();
            }
        }
        self.refused_until.insert(peer.node, now.instant + REFUSAL_HOLD);
        if was_admitted {
            self.counters.dropped_revoked += 1;
        }
        self.run_graph(now, Input::PeerDown(peer), out);
        out.disconnect(peer);
    }

    fn forget(&mut self, node: &NodeId) {
        self.peers.remove(node);
        self.graph.provider_mut().forget_peer(node);
    }

    /// Emits member changes; drops admitted peers a new revocation covers.
    fn after_security_change(&mut self, now: Now, out: &mut Out) {
        let me = self.local().map(|l| l.identity.peer_name().clone());
        for c in self.graph.provider_mut().take_changes() {
            if matches!(&c, MemberChange::Updated { peer, .. } if Some(peer) == me.as_ref()) {
                self.adopt_reissued(now.unix);
            }
            out.emit(Event::MemberChanged(c));
        }
        let revision = self.graph.provider().revision();
        if revision == self.revision {
            return;
        }
        self.revision = revision;
        let admitted: Vec<(NodeId, PeerAddr)> = self
            .peers
            .iter()
            .filter(|(_, p)| p.admitted)
            .filter_map(|(n, p)| p.addr.map(|a| (*n, a)))
            .collect();
        for (node, addr) in admitted {
            if let Err(e) = self.graph.provider().recheck_peer(&node, now.unix) {
                self.refuse(now, addr, Refusal::of(&e), e.to_string(), out);
            }
        }
    }

    /// Publishes (or renews) the local membership record.
    fn publish_membership(&mut self, now: Now, out: &mut Out) {
        let Some(local) = self.local().cloned() else {
            return;
        };
        let id = membership_id(local.identity.peer_name().authority());
        let leaf_after = local.chain.leaf().not_after();
        let lifetime = self.member_data_lifetime.min(leaf_after.saturating_since(now.unix));
        if lifetime.is_zero() {
            return;
        }
        let payload = encode_membership(local.chain.chain());
        let existing = self.graph.store().get(&id, now.unix).ok().flatten();
        let command = match existing {
            Some(r) if !r.is_deleted() => {
                if r.payload() == payload.as_slice()
                    && r.expires().saturating_since(now.unix) > lifetime / 2
                {
                    self.arm_renewal(now, r.expires(), out);
                    return;
                }
                GraphCommand::UpdateRecord(RecordUpdate {
                    id,
                    payload: Some(payload),
                    set_attributes: Vec::new(),
                    remove_attributes: Vec::new(),
                    lifetime: Some(lifetime),
                })
            }
            _ => GraphCommand::AddRecord(NewRecord::new(id, MEMBERSHIP_TYPE, lifetime, payload)),
        };
        self.run_graph(now, Input::Command(command), out);
        self.arm_renewal(now, now.unix.saturating_add(lifetime), out);
    }

    fn arm_renewal(&mut self, now: Now, expires: UnixTime, out: &mut Out) {
        let half = expires.saturating_since(now.unix) / 2;
        out.set_timer(now.instant + half.max(Duration::from_secs(1)), Timer::Renew);
    }

    /// The digests of every stored record written by a chain through `target`: the
    /// records this revoker lets stand (`group.md` §6.4).
    fn standing_records(&mut self, now: UnixTime, target: CertId) -> Vec<[u8; 32]> {
        let graph = self.graph_id();
        let (store, provider) = self.graph.store_and_provider_mut();
        let view = View { store, now };
        let cx = peergroup_graph::proto::ProviderContext { graph: &graph, now, records: &view };
        let mut chains: HashMap<peergroup_base::Authority, bool> = HashMap::new();
        let mut stand = Vec::new();
        // Tombstones included: a deletion by the revoked subtree stands only if listed.
        let all = view.all_with_tombstones();
        for r in all {
            if r.record_type() == PROPERTIES_TYPE {
                continue;
            }
            if !matches!(SecurityData::decode(r.security_data()), Ok(SecurityData::Member { .. })) {
                continue;
            }
            let who = *r.last_modifier().authority();
            let through = *chains.entry(who).or_insert_with(|| {
                provider
                    .member_chain(&cx, r.last_modifier())
                    .is_some_and(|c| c.ids().any(|id| id == target))
            });
            if through {
                stand.push(*r.digest().as_bytes());
            }
        }
        stand
    }

    fn revoke(
        &mut self,
        now: Now,
        target: CertId,
        target_not_after: UnixTime,
        reason: RevocationReason,
        as_group: bool,
        out: &mut Out,
    ) {
        let revoker = if as_group {
            if self.graph.provider().group_signer().is_none() {
                out.emit(Event::CommandFailed {
                    error: GroupError::InvalidArgument(
                        "only the creator holds the group key".into(),
                    ),
                });
                return;
            }
            None
        } else {
            match self.local() {
                Some(l) => Some(l.chain.clone()),
                None => {
                    out.emit(Event::CommandFailed {
                        error: GroupError::InvalidArgument("not a member".into()),
                    });
                    return;
                }
            }
        };
        if let Some(r) = &revoker
            && !matches!(r.role(), Role::Administrator | Role::InvitingMember)
        {
            out.emit(Event::CommandFailed {
                error: GroupError::RoleRequired { needed: Role::InvitingMember, held: r.role() },
            });
            return;
        }
        let mut stand = self.standing_records(now.unix, target);
        stand.truncate(crate::records::MAX_STAND);
        let revoker_id = match &revoker {
            Some(c) => *c.leaf().id().as_bytes(),
            None => *self.graph.provider().group_key(),
        };
        let rev = Revocation {
            target,
            target_not_after,
            reason,
            revoker: revoker.as_ref().map(|c| c.chain().clone()),
            stand,
        };
        let lifetime = target_not_after.saturating_since(now.unix).max(Duration::from_secs(1));
        // A revocation lives as long as its target, whatever the revoker's own validity:
        // it must not lapse while the revoked certificate is still valid.
        let id = revocation_id(&target, &revoker_id);
        let record = NewRecord::new(id, REVOCATION_TYPE, lifetime, rev.encode());
        self.run_graph(now, Input::Command(GraphCommand::AddRecord(record)), out);
    }

    fn set_credentials(&mut self, now: Now, chain: &Chain, out: &mut Out) {
        let Some(identity) = self.local().map(|l| l.identity.clone()) else {
            out.emit(Event::CommandFailed {
                error: GroupError::InvalidArgument("not a member".into()),
            });
            return;
        };
        let mut cache = crate::chain::CertCache::default();
        match LocalMember::new(identity, chain, &mut cache) {
            Ok(local) if local.chain.group_key() == self.graph.provider().group_key() => {
                self.graph.provider_mut().set_local(local);
                self.publish_membership(now, out);
            }
            Ok(_) => out.emit(Event::CommandFailed {
                error: GroupError::InvalidArgument("credentials of another group".into()),
            }),
            Err(error) => out.emit(Event::CommandFailed { error }),
        }
    }

    /// Adopts credentials an administrator re-issued into our membership record.
    fn adopt_reissued(&mut self, now: UnixTime) {
        let Some(local) = self.local().cloned() else {
            return;
        };
        let id = membership_id(local.identity.peer_name().authority());
        let Some(rec) = self.graph.store().get(&id, now).ok().flatten() else {
            return;
        };
        if rec.last_modifier() == local.identity.peer_name() {
            return;
        }
        let Ok(chain) = crate::records::decode_membership(rec.payload()) else {
            return;
        };
        if &chain != local.chain.chain() {
            let mut cache = crate::chain::CertCache::default();
            if let Ok(new) = LocalMember::new(local.identity.clone(), &chain, &mut cache) {
                self.graph.provider_mut().set_local(new);
            }
        }
    }

    fn reissue(&mut self, now: Now, revoked: CertId, validity: Duration, out: &mut Out) {
        let Some(local) = self.local().cloned() else {
            out.emit(Event::CommandFailed {
                error: GroupError::InvalidArgument("not a member".into()),
            });
            return;
        };
        if !local.role().is_admin() {
            out.emit(Event::CommandFailed {
                error: GroupError::RoleRequired { needed: Role::Administrator, held: local.role() },
            });
            return;
        }
        let memberships = self
            .graph
            .store()
            .enumerate(&RecordFilter::Type(MEMBERSHIP_TYPE), now.unix)
            .unwrap_or_default();
        let mut serial_seed = 0u64;
        for rec in memberships {
            let Ok(chain) = crate::records::decode_membership(rec.payload()) else {
                continue;
            };
            let Some(leaf) = chain.leaf() else {
                continue;
            };
            // Beneath the revoked certificate, but not the revoked certificate itself.
            if leaf.id() == revoked || !chain.certs().iter().any(|c| c.id() == revoked) {
                continue;
            }
            let role = if local.role().may_issue(leaf.role()) { leaf.role() } else { Role::Member };
            serial_seed += 1;
            let serial = sha256(&[leaf.id().as_bytes(), &serial_seed.to_be_bytes()]);
            let mut s16 = [0u8; 16];
            s16.copy_from_slice(&serial[..16]);
            let new = match local.issue(
                *leaf.subject_key(),
                leaf.subject_name().classifier(),
                role,
                validity,
                now.unix,
                s16,
            ) {
                Ok(c) => c,
                Err(error) => {
                    out.emit(Event::CommandFailed { error });
                    continue;
                }
            };
            let lifetime = self
                .member_data_lifetime
                .min(new.leaf().map_or(now.unix, |c| c.not_after()).saturating_since(now.unix));
            let update = RecordUpdate {
                id: rec.id(),
                payload: Some(encode_membership(&new)),
                set_attributes: Vec::new(),
                remove_attributes: Vec::new(),
                lifetime: Some(lifetime),
            };
            self.run_graph(now, Input::Command(GraphCommand::UpdateRecord(update)), out);
        }
    }

    /// The members this node knows, from the membership records: role, validity, revoked or
    /// not, present or not (a presence record of theirs is held).
    pub fn members(&mut self, now: UnixTime) -> Vec<MemberInfo> {
        let present: std::collections::HashSet<peergroup_base::PeerName> =
            self.graph.nodes().into_iter().map(|n| n.peer).collect();
        let graph = self.graph_id();
        let (store, provider) = self.graph.store_and_provider_mut();
        let view = View { store, now };
        let cx = peergroup_graph::proto::ProviderContext { graph: &graph, now, records: &view };
        let mut out = Vec::new();
        for rec in store.enumerate(&RecordFilter::Type(MEMBERSHIP_TYPE), now).unwrap_or_default() {
            let Some(chain) = provider.member_chain(&cx, rec.creator()) else {
                continue;
            };
            let leaf = chain.leaf();
            out.push(MemberInfo {
                peer: rec.creator().clone(),
                role: chain.role(),
                not_before: leaf.not_before(),
                not_after: leaf.not_after(),
                revoked: provider.revoked_cert(&chain),
                present: present.contains(rec.creator()),
                chain,
            });
        }
        out
    }

    /// The revoked certificate of the membership held by the identity with this
    /// authority, if a revocation covers it (the password verifier's check, `group.md`
    /// §13.3 refusal 8).
    pub fn revoked_identity(
        &mut self,
        now: UnixTime,
        authority: &peergroup_base::Authority,
    ) -> Option<CertId> {
        self.members(now).into_iter().find(|m| m.peer.authority() == authority)?.revoked
    }

    /// The chain of the local member.
    pub fn local_chain(&self) -> Option<&Chain> {
        self.local().map(|l| l.chain.chain())
    }
}

impl<S: RecordStore> Protocol for GroupNode<S> {
    type Message = Message;
    type Command = Command;
    type Event = Event;
    type Timer = Timer;

    /// The graph messages of admitted peers in `batch` go to the graph's
    /// [`prepare_messages`](peergroup_graph::proto::GraphNode::prepare_messages): the record
    /// signatures of a burst of flooded records are verified on every core.
    fn prepare(&mut self, now: Now, batch: &[(PeerAddr, Message)]) {
        let peers = &self.peers;
        let msgs = batch.iter().filter_map(|(from, m)| match m {
            Message::Graph(g) if peers.get(&from.node).is_some_and(|p| p.admitted) => Some(g),
            _ => None,
        });
        self.graph.prepare_messages(now, msgs);
    }

    fn handle(&mut self, now: Now, input: Input<Message, Command, Timer>, out: &mut Out) {
        match input {
            Input::Start => {
                self.run_graph(now, Input::Start, out);
                self.publish_membership(now, out);
            }
            Input::Recv { from, msg } => match msg {
                Message::Hello(b) => self.on_hello(now, from, &b, out),
                Message::Knock => {
                    let peer = self.peers.entry(from.node).or_default();
                    peer.addr = Some(from);
                    if !peer.refused {
                        self.send_hello(now, from, out);
                    }
                }
                Message::Refused(code) => {
                    self.counters.refused_by_peer += 1;
                    // Do not knock again at once: the peer will refuse again until our
                    // credentials change.
                    self.refused_until.insert(from.node, now.instant + REFUSAL_HOLD);
                    out.emit(Event::AuthenticationFailed {
                        peer: from,
                        reason: Refusal::from_code(code),
                        local: false,
                        detail: String::new(),
                    });
                    self.forget(&from.node);
                    self.run_graph(now, Input::PeerDown(from), out);
                }
                Message::Graph(m) => {
                    let peer = self.peers.entry(from.node).or_default();
                    peer.addr = Some(from);
                    if peer.admitted {
                        self.run_graph(now, Input::Recv { from, msg: m }, out);
                    } else if !peer.refused {
                        if peer.inbound.len() >= MAX_QUEUED {
                            peer.inbound.remove(0);
                            self.counters.queue_drops += 1;
                        }
                        peer.inbound.push(m);
                        self.send_hello(now, from, out);
                    }
                }
            },
            Input::Command(c) => match c {
                Command::Graph(g) => {
                    // An explicit connect tries again at once, even a peer that refused us.
                    if let GraphCommand::Connect(p) = &g {
                        self.refused_until.remove(&p.node);
                    }
                    self.run_graph(now, Input::Command(g), out)
                }
                Command::Revoke { target, target_not_after, reason, as_group } => {
                    self.revoke(now, target, target_not_after, reason, as_group, out)
                }
                Command::PublishMembership => self.publish_membership(now, out),
                Command::SetCredentials(chain) => self.set_credentials(now, &chain, out),
                Command::Reissue { revoked, validity } => self.reissue(now, revoked, validity, out),
                #[cfg(feature = "sim")]
                Command::AdversaryPush(record) => {
                    let targets: Vec<PeerAddr> =
                        self.peers.values().filter(|p| p.admitted).filter_map(|p| p.addr).collect();
                    for to in targets {
                        let msg = GraphMessage::Push { hops: 1, record: record.clone().into() };
                        out.send(to, Message::Graph(msg));
                    }
                }
            },
            Input::Timer(Timer::Graph(t)) => self.run_graph(now, Input::Timer(t), out),
            Input::Timer(Timer::Renew) => self.publish_membership(now, out),
            Input::PeerDown(p) => {
                self.forget(&p.node);
                self.run_graph(now, Input::PeerDown(p), out);
            }
        }
    }
}

/// The instant a wall-clock time falls at (for timers).
pub fn instant_of(now: Now, t: UnixTime) -> Instant {
    now.instant + t.saturating_since(now.unix)
}
