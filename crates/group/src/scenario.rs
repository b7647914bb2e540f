//! A simulated group at scale with hostile nodes (`group.md` §10): [`run`] builds a group
//! of `members` members by invitation chains of depth up to 4 on [`peergroup_sim::Sim`],
//! has them publish `records` records, revokes `revoke` certificates half-way (inviting
//! members among them, so revocation cascades), lets revoked members write on with
//! back-dated clocks, lets members forge, and lets non-members knock. `p2p sim group`
//! prints the [`Report`] as JSON.
//!
//! # The run
//!
//! 1. **Group.** Node 0 creates the group (administrator, depth 1). `members / 100`
//!    administrators are issued by the creator (depth 2), `members / 10` inviting members
//!    by those (depth 3), the rest members by the inviting members (depth 4). Every
//!    invitation is created before the run: each node starts with its chain in hand.
//! 2. **Join.** Node `i` connects to a random earlier node at `join_rate` per second
//!    (admission, then the graph's own join and synchronisation). `late_joiners` members
//!    stay away until the last record is published, then join: `join_ms` is the time from
//!    their connect to holding every record they should hold.
//! 3. **Publishing.** `records` records at `publish_rate` per second from random members.
//! 4. **Revocation** when half the records are out: `revoke` targets (a quarter of them
//!    inviting members), each revoked by the creator or by its issuer. `revocation_ms` is
//!    the time from the revoke command to the last live member storing the revocation.
//!    Revoked members keep publishing through the normal plan (racing the revocation) and
//!    each pushes one record back-dated 60 s before its revocation.
//! 5. **Hostile nodes.** `nonmembers` nodes try to connect with a chain of another group,
//!    a chain whose GMC they signed themselves, or an expired GMC; `forgers` members push a
//!    record in another member's name and a modification of another member's record.
//! 6. **Measure** after `drain_secs`.
//!
//! # What is measured (over live members: not revoked, not hostile)
//!
//! * `delivered_fraction`: of (record that should be kept, live member other than its
//!   writer) pairs, the fraction held at the end. Should be kept: every record by a member
//!   outside the revoked subtrees, and every record a revocation lists as standing.
//! * `accepted_from_revoked_after_rule`: (record, live member) pairs where the member holds
//!   a record by a revoked subtree that no revocation lists. Must be 0.
//! * `replicas_disagree`: live members whose records (presence excluded) differ from the
//!   creator's, by id and digest. Must be 0.
//! * `forged_accepted`, `nonmember_admitted`: must be 0.
//! * `copies_per_delivery`: full record copies received per delivery by the live members
//!   present during publishing (the graph scenario's population and figure);
//!   `join_copies_per_record`: copies a late joiner received per record it holds.
//! * `signature_verifications`, `chain_cache_hits`: summed over nodes (verifications are
//!   counted per node; the simulator memoises verdicts across nodes to save wall time, see
//!   [`Verifier`]).
//! * `deferred_max`: the largest deferred list of any node, sampled every second.
//! * `peak_rss_bytes`: the process's peak resident set size (`peergroup-os`, every OS).

// A tool: it measures its own wall-clock time.
#![allow(clippy::disallowed_methods)]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;
use std::time::{Duration, Instant as WallClock};

use peergroup_base::{Instant, NodeId, PeerAddr, UnixTime};
use peergroup_graph::proto::{
    Command as GraphCommand, Config, Event as GraphEvent, GraphNode, NewRecord, NodeParams,
    PRESENCE_TYPE, RecordChange,
};
use peergroup_graph::record::{Record, RecordBuilder, RecordLimits};
use peergroup_graph::store::{MemStore, RecordStore};
use peergroup_graph::{GraphId, Hlc, HlcClock, RecordFilter, RecordId, RecordType, SyncRange};
use peergroup_identity::{Identity, IdentityInfo};
use peergroup_sim::{Latency, LinkConfig, NodeIdx, Sim, SimConfig};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::admission::Refusal;
use crate::cert::{CertDraft, CertKind, Role};
use crate::chain::{CertCache, Chain, SignatureMemo, VerifiedChain, Verifier};
use crate::group::{CreateOptions, GroupKey, LocalMember, create_group};
use crate::node::{Command, Event, GroupNode, SimBinding};
use crate::records::{REVOCATION_TYPE, Revocation, RevocationReason, SecurityData, revocation_id};
use crate::security::GroupSecurity;
use crate::wire::sha256;

/// The record type of the scenario's records.
pub const SCENARIO_TYPE: RecordType =
    RecordType::from_u128(0x5ce0_a210_0000_0000_0000_0000_0000_0001);

type Node = GroupNode<MemStore>;

/// Parameters of a run.
#[derive(Debug, Clone)]
pub struct Params {
    /// Members of the group (hostile nodes not counted).
    pub members: usize,
    /// Records published by members.
    pub records: usize,
    /// Certificates revoked half-way.
    pub revoke: usize,
    /// Seed of everything. Default 1.
    pub seed: u64,
    /// Link delays, drawn per link uniformly from this range (ms). Default 10..100.
    pub latency_ms: (u64, u64),
    /// Records per virtual second. Default 100.
    pub publish_rate: f64,
    /// Members joining per virtual second. Default 200.
    pub join_rate: f64,
    /// Virtual seconds between the last join and the first record. Default 30.
    pub settle_secs: f64,
    /// Virtual seconds between the last record and the measurement. Default 40.
    pub drain_secs: f64,
    /// Members that join only after the last record. Default min(20, members / 10).
    pub late_joiners: usize,
    /// Non-members that try to connect. Default 6.
    pub nonmembers: usize,
    /// Members that forge. Default 3.
    pub forgers: usize,
    /// Payload bytes per record. Default 100.
    pub payload_bytes: usize,
    /// The graph configuration of every member.
    pub config: Config,
}

impl Params {
    /// `members` members, `records` records, `revoke` revocations, the defaults above.
    pub fn new(members: usize, records: usize, revoke: usize) -> Self {
        Params {
            members,
            records,
            revoke,
            seed: 1,
            latency_ms: (10, 100),
            publish_rate: 100.0,
            join_rate: 200.0,
            settle_secs: 30.0,
            drain_secs: 40.0,
            late_joiners: (members / 10).min(20),
            nonmembers: 6,
            forgers: 3,
            payload_bytes: 100,
            config: Config::default(),
        }
    }
}

/// The result of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Members.
    pub members: usize,
    /// Records published by members (revoked members' writes included).
    pub records_written: usize,
    /// Seed.
    pub seed: u64,
    /// Certificates revoked.
    pub revoked_certs: usize,
    /// Members whose chain a revocation covers (the cascade included).
    pub revoked_members: usize,
    /// Records by revoked subtrees that their revocations list as standing.
    pub records_standing_from_revoked: usize,
    /// Delivered pairs over expected pairs (see the module docs).
    pub delivered_fraction: f64,
    /// Late joiners: connect → holding every record, median, ms.
    pub join_ms_median: f64,
    /// The same, 99th percentile.
    pub join_ms_p99: f64,
    /// Revocation published → stored by every live member, median, ms.
    pub revocation_ms_median: f64,
    /// The same, 99th percentile.
    pub revocation_ms_p99: f64,
    /// Records the racing rule refuses, held by some live member (pairs). Must be 0.
    pub accepted_from_revoked_after_rule: u64,
    /// Live members whose records differ from the creator's. Must be 0.
    pub replicas_disagree: usize,
    /// Forged records pushed.
    pub forged_attempts: usize,
    /// Forged records held by any live member (pairs). Must be 0.
    pub forged_accepted: u64,
    /// Connection attempts by non-members.
    pub nonmember_attempts: usize,
    /// Non-members admitted by any live member. Must be 0.
    pub nonmember_admitted: u64,
    /// Admission refusals at live members, by reason.
    pub refusals: BTreeMap<String, u64>,
    /// Records purged after revocations, summed over nodes.
    pub records_purged: u64,
    /// Full record copies received per delivery by the live members present while records
    /// were published (late joiners apart: the population of the graph's own figure).
    pub copies_per_delivery: f64,
    /// Full record copies a late joiner received per record it holds (its catch-up).
    pub join_copies_per_record: f64,
    /// Signature verifications, summed over nodes.
    pub signature_verifications: u64,
    /// Certificate checks answered by the cache, summed over nodes.
    pub chain_cache_hits: u64,
    /// Largest deferred list of any node (sampled every second).
    pub deferred_max: usize,
    /// Virtual seconds simulated.
    pub virtual_seconds: f64,
    /// Wall seconds of the whole run.
    pub wall_seconds: f64,
    /// Peak resident set size of the process, bytes.
    pub peak_rss_bytes: Option<u64>,
}

/// Peak resident set size of this process in bytes, on every OS (`peergroup-os`).
pub fn peak_rss_bytes() -> Option<u64> {
    peergroup_os::peak_rss_bytes()
}

fn seed_of(seed: u64, label: &str, i: usize) -> [u8; 32] {
    sha256(&[
        b"peergroup/group/scenario/v1",
        &seed.to_be_bytes(),
        label.as_bytes(),
        &(i as u64).to_be_bytes(),
    ])
}

fn percentile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i.min(v.len() - 1)]
}

#[derive(Default)]
struct Tracker {
    /// Nodes whose events count (live, honest).
    honest: Vec<bool>,
    hostile_nodes: HashSet<NodeId>,
    late: HashMap<usize, usize>,
    late_adds: Vec<HashMap<RecordId, Instant>>,
    revocation_adds: HashMap<RecordId, Vec<(usize, Instant)>>,
    nonmember_admitted: u64,
    refusals: BTreeMap<String, u64>,
}

impl Tracker {
    fn on_event(&mut self, at: Instant, node: NodeIdx, event: &Event) {
        let i = node.index();
        match event {
            Event::Graph(GraphEvent::RecordChanged {
                change: RecordChange::Added,
                id,
                record_type,
                ..
            }) => {
                if *record_type == REVOCATION_TYPE {
                    self.revocation_adds.entry(*id).or_default().push((i, at));
                } else if let Some(&k) = self.late.get(&i) {
                    self.late_adds[k].entry(*id).or_insert(at);
                }
            }
            Event::PeerAdmitted { peer, .. }
                if self.honest.get(i).copied().unwrap_or(false)
                    && self.hostile_nodes.contains(&peer.node) =>
            {
                self.nonmember_admitted += 1;
            }
            Event::AuthenticationFailed { reason, local: true, .. }
                if self.honest.get(i).copied().unwrap_or(false) =>
            {
                *self.refusals.entry(reason.to_string()).or_default() += 1;
            }
            _ => {}
        }
    }
}

/// A member in the making.
struct Member {
    identity: Identity,
    chain: Chain,
    issuer: Option<usize>,
}

/// Runs a scenario. See the [module docs](self).
pub fn run(params: &Params) -> Report {
    let wall = WallClock::now();
    let n = params.members.max(2);
    let (lo, hi) = (
        params.latency_ms.0.min(params.latency_ms.1),
        params.latency_ms.0.max(params.latency_ms.1),
    );
    let link = LinkConfig::default().with_latency(Latency::PerLink {
        min: Duration::from_millis(lo),
        max: Duration::from_millis(hi),
    });
    let sim_config = SimConfig {
        seed: params.seed,
        default_link: link,
        record_events: false,
        ..SimConfig::default()
    };
    let t0_unix = sim_config.start_unix;
    let mut sim: Sim<Node> = Sim::new(sim_config);
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed ^ 0x0067_726f_7570);
    let memo = SignatureMemo::new();
    let issued_at = UnixTime::from_millis(t0_unix.as_millis().saturating_sub(30 * 86_400_000));
    let year = Duration::from_secs(365 * 86_400);

    // 1. the group and its members, by invitation
    let ident = |label: &str, i: usize| {
        Identity::from_seed(seed_of(params.seed, label, i), &format!("{label}-{i}"), "")
            .unwrap_or_else(|_| unreachable!("valid classifier"))
    };
    let creator = ident("member", 0);
    let key = GroupKey::from_seed(seed_of(params.seed, "group-key", 0))
        .unwrap_or_else(|_| unreachable!("any seed"));
    let mut options = CreateOptions::new("scenario");
    options.validity = year;
    let group = create_group(&creator, key.clone(), &options, issued_at, [[1; 16], [2; 16]])
        .unwrap_or_else(|e| unreachable!("group creation: {e}"));
    let graph_id: GraphId = group.graph.clone();
    let root = group.root().clone();
    let admins = (n / 100).max(1);
    let inviters = (n / 10).max(1);
    let mut members: Vec<Member> = vec![Member {
        identity: creator.clone(),
        chain: group.creator.chain.chain().clone(),
        issuer: None,
    }];
    let mut cache = CertCache::default();
    for i in 1..n {
        let (issuer, role) = if i <= admins {
            (0, Role::Administrator)
        } else if i <= admins + inviters {
            (rng.random_range(1..=admins), Role::InvitingMember)
        } else {
            (rng.random_range(admins + 1..=(admins + inviters).min(n - 1)).min(i - 1), Role::Member)
        };
        let identity = ident("member", i);
        let local =
            LocalMember::new(members[issuer].identity.clone(), &members[issuer].chain, &mut cache)
                .unwrap_or_else(|e| unreachable!("issuer chain: {e}"));
        let role = if local.role().may_issue(role) { role } else { Role::Member };
        let info = IdentityInfo::of(&identity);
        let chain = local
            .issue(
                info.public_key(),
                info.peer_name().classifier(),
                role,
                year,
                issued_at,
                (i as u128).to_be_bytes(),
            )
            .unwrap_or_else(|e| unreachable!("issue: {e}"));
        members.push(Member { identity, chain, issuer: Some(issuer) });
    }

    // hostile non-members: other group, self-signed GMC, expired GMC
    let other_key = GroupKey::from_seed(seed_of(params.seed, "other-group", 0))
        .unwrap_or_else(|_| unreachable!("any seed"));
    let mut hostile: Vec<Member> = Vec::new();
    for h in 0..params.nonmembers {
        let identity = ident("stranger", h);
        let chain = match h % 3 {
            0 => {
                let other = create_group(
                    &identity,
                    other_key.clone(),
                    &options,
                    issued_at,
                    [[3; 16], [4; 16]],
                )
                .unwrap_or_else(|e| unreachable!("{e}"));
                other.creator.chain.chain().clone()
            }
            1 => {
                // A GMC for itself, linked to the real root but signed with its own key.
                let cert = CertDraft {
                    kind: CertKind::Membership,
                    group_key: *root.group_key(),
                    group_classifier: root.group_name().classifier().clone(),
                    subject_key: identity.public_key(),
                    subject_classifier: identity.peer_name().classifier().clone(),
                    role: Role::Administrator,
                    classifiers: Vec::new(),
                    not_before: issued_at,
                    not_after: issued_at.saturating_add(year),
                    serial: [9; 16],
                    issuer: root.id(),
                }
                .sign(|m| identity.sign(m))
                .unwrap_or_else(|e| unreachable!("{e}"));
                Chain::from_certs(vec![root.clone(), cert])
            }
            _ => {
                let local =
                    LocalMember::new(creator.clone(), group.creator.chain.chain(), &mut cache)
                        .unwrap_or_else(|e| unreachable!("{e}"));
                let info = IdentityInfo::of(&identity);
                local
                    .issue(
                        info.public_key(),
                        info.peer_name().classifier(),
                        Role::Member,
                        Duration::from_secs(86_400),
                        issued_at,
                        [7; 16],
                    )
                    .unwrap_or_else(|e| unreachable!("{e}"))
            }
        };
        hostile.push(Member { identity, chain, issuer: None });
    }

    // the nodes
    let limits = RecordLimits::default();
    let tracker = Rc::new(RefCell::new(Tracker::default()));
    {
        let t = Rc::clone(&tracker);
        sim.on_event(move |e| t.borrow_mut().on_event(e.at, e.node, &e.event));
    }
    let add = |m: &Member,
               seed_records: Vec<Record>,
               group_key: Option<GroupKey>,
               sim: &mut Sim<Node>| {
        let identity = m.identity.clone();
        let chain = m.chain.clone();
        let root = root.clone();
        let graph_id = graph_id.clone();
        let config = params.config.clone();
        let memo = memo.clone();
        sim.add_node_with_id(identity.node_id(), move |ctx| {
            let mut store = MemStore::new(limits);
            for r in &seed_records {
                let _ = store.apply(r, t0_unix);
            }
            let local = LocalMember {
                identity: identity.clone(),
                chain: chain.verify(&mut CertCache::default(), None).unwrap_or_else(|_| {
                    // Hostile chains do not verify: keep them as they are.
                    unverified(&chain)
                }),
            };
            let security = GroupSecurity::new(
                &root,
                Some(local),
                group_key.clone(),
                Verifier::with_memo(memo.clone()),
            );
            let graph = GraphNode::new(NodeParams {
                graph: graph_id.clone(),
                me: ctx.addr,
                peer_name: identity.peer_name().clone(),
                config: config.clone(),
                store,
                provider: security,
                seed: ctx.seed,
            });
            GroupNode::new(
                graph,
                Box::new(SimBinding),
                crate::records::DEFAULT_MEMBER_DATA_LIFETIME,
            )
        })
    };
    let mut nodes = Vec::with_capacity(n);
    nodes.push(add(
        &members[0],
        vec![group.properties_record.clone(), group.membership_record.clone()],
        Some(key.clone()),
        &mut sim,
    ));
    for m in &members[1..] {
        nodes.push(add(m, Vec::new(), None, &mut sim));
    }
    let hostile_nodes: Vec<NodeIdx> =
        hostile.iter().map(|m| add(m, Vec::new(), None, &mut sim)).collect();
    let addrs: Vec<PeerAddr> = nodes.iter().filter_map(|&i| sim.peer_addr(i)).collect();

    // roles in the run
    let mut order: Vec<usize> = (1..n).collect();
    order.shuffle(&mut rng);
    let late: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| i > admins)
        .take(params.late_joiners.min(n / 2))
        .collect();
    let late_set: HashSet<usize> = late.iter().copied().collect();
    // Forgers are not administrators: an administrator may modify anyone's record, so its
    // "modification of a victim's record" would be a legitimate write, not a forgery.
    let forgers: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&i| !late_set.contains(&i) && i > admins)
        .take(params.forgers)
        .collect();
    let forger_set: HashSet<usize> = forgers.iter().copied().collect();
    let inviter_ids: Vec<usize> = (admins + 1..=(admins + inviters).min(n - 1))
        .filter(|i| !late_set.contains(i) && !forger_set.contains(i))
        .collect();
    let mut targets: Vec<usize> = Vec::new();
    let want_inviters = (params.revoke / 4).min(inviter_ids.len());
    targets.extend(inviter_ids.iter().copied().take(want_inviters));
    for &i in &order {
        if targets.len() >= params.revoke {
            break;
        }
        if i > admins + inviters
            && !late_set.contains(&i)
            && !forger_set.contains(&i)
            && !targets.contains(&i)
        {
            targets.push(i);
        }
    }
    let target_ids: Vec<crate::cert::CertId> =
        targets.iter().filter_map(|&i| members[i].chain.leaf().map(|c| c.id())).collect();
    // the revoked subtrees
    let revoked: Vec<bool> = members
        .iter()
        .map(|m| m.chain.certs().iter().any(|c| target_ids.contains(&c.id())))
        .collect();
    {
        let mut t = tracker.borrow_mut();
        t.honest =
            (0..n).map(|i| !revoked[i]).chain(std::iter::repeat_n(false, hostile.len())).collect();
        t.hostile_nodes = hostile.iter().map(|m| m.identity.node_id()).collect();
        t.late = late.iter().enumerate().map(|(k, &i)| (i, k)).collect();
        t.late_adds = vec![HashMap::new(); late.len()];
    }

    // 2. join
    let join_gap = Duration::from_secs_f64(1.0 / params.join_rate.max(1e-3));
    for (i, &node) in nodes.iter().enumerate().skip(1) {
        if late_set.contains(&i) {
            continue;
        }
        let mut contact = rng.random_range(0..i);
        while late_set.contains(&contact) {
            contact = rng.random_range(0..i);
        }
        sim.schedule_command(
            Instant::ZERO + join_gap.mul_f64(i as f64),
            node,
            Command::Graph(GraphCommand::Connect(addrs[contact])),
        );
    }
    let t_pub = Instant::ZERO
        + join_gap.mul_f64(n as f64)
        + Duration::from_secs_f64(params.settle_secs.max(0.0));
    let publishers: Vec<usize> = (0..n).filter(|i| !late_set.contains(i)).collect();
    let gap = Duration::from_secs_f64(1.0 / params.publish_rate.max(1e-3));
    let mut plan: Vec<(Instant, usize, RecordId)> = Vec::with_capacity(params.records);
    for k in 0..params.records {
        let publisher = publishers[rng.random_range(0..publishers.len())];
        let mut b = [0u8; 16];
        rng.fill(&mut b);
        plan.push((t_pub + gap.mul_f64(k as f64), publisher, RecordId::random(b)));
    }
    for (at, p, id) in &plan {
        let r = NewRecord::new(
            *id,
            SCENARIO_TYPE,
            Duration::from_secs(3600),
            vec![0x42; params.payload_bytes],
        );
        sim.schedule_command(*at, nodes[*p], Command::Graph(GraphCommand::AddRecord(r)));
    }
    let t_end_pub = plan.last().map_or(t_pub, |p| p.0);
    let t_revoke = t_pub + gap.mul_f64((params.records / 2) as f64);
    // hostile connects, spread over the publishing window
    let window = t_end_pub.saturating_since(t_pub).max(Duration::from_secs(1));
    for (h, &hn) in hostile_nodes.iter().enumerate() {
        let at = t_pub + window.mul_f64((h as f64 + 0.5) / hostile_nodes.len().max(1) as f64);
        let contact = publishers[rng.random_range(0..publishers.len())];
        sim.schedule_command(at, hn, Command::Graph(GraphCommand::Connect(addrs[contact])));
    }

    // run to the revocation, sampling deferred lists
    let mut deferred_max = 0usize;
    let run_sampling = |sim: &mut Sim<Node>, until: Instant, deferred_max: &mut usize| {
        let mut t = sim.now();
        while t < until {
            t = (t + Duration::from_secs(1)).min(until);
            let _ = sim.run_until(t);
            for &i in &nodes {
                if let Some(s) = sim.node_state(i) {
                    *deferred_max = (*deferred_max).max(s.graph().deferred_len());
                }
            }
        }
    };
    run_sampling(&mut sim, t_revoke, &mut deferred_max);

    // 3. revocations, and the revoked members' back-dated writes
    let mut revocation_cmds: Vec<(RecordId, Instant)> = Vec::new();
    let mut forged: Vec<[u8; 32]> = Vec::new();
    for (k, &tgt) in targets.iter().enumerate() {
        let at = t_revoke + Duration::from_millis(100 * k as u64);
        let issuer = members[tgt].issuer.unwrap_or(0);
        let revoker =
            if k % 2 == 1 && !revoked[issuer] && !late_set.contains(&issuer) { issuer } else { 0 };
        let Some(leaf) = members[tgt].chain.leaf() else { continue };
        let Some(rleaf) = members[revoker].chain.leaf() else { continue };
        let id = revocation_id(&leaf.id(), rleaf.id().as_bytes());
        revocation_cmds.push((id, at));
        sim.schedule_command(
            at,
            nodes[revoker],
            Command::Revoke {
                target: leaf.id(),
                target_not_after: leaf.not_after(),
                reason: RevocationReason::Misbehaviour,
                as_group: false,
            },
        );
    }
    let _ = sim.run_until(t_revoke + Duration::from_secs(2));
    let now_unix = sim.now_full().unix;
    let backdated = UnixTime::from_millis(now_unix.as_millis().saturating_sub(62_000));
    let mut extra_writes = 0usize;
    for &tgt in &targets {
        let m = &members[tgt];
        let Some(leaf) = m.chain.leaf() else { continue };
        let mut b = [0u8; 16];
        rng.fill(&mut b);
        let r = RecordBuilder::new(
            SCENARIO_TYPE,
            RecordId::random(b),
            m.identity.peer_name().clone(),
            Hlc::new(backdated, 0, HlcClock::node_tag(&m.identity.node_id())),
            backdated.saturating_add(Duration::from_secs(3600)),
        )
        .payload(vec![0x66; params.payload_bytes])
        .build(&limits);
        if let Ok(r) = r {
            let signature = m.identity.sign(&r.signing_bytes(&graph_id));
            if let Ok(r) = r.with_security_data(
                &SecurityData::Member { cert: leaf.id(), signature }.encode(),
                &limits,
            ) {
                extra_writes += 1;
                sim.command(nodes[tgt], Command::AdversaryPush(r));
            }
        }
    }
    // forgers: a record in a victim's name, and a modification of a victim's record
    for &f in &forgers {
        let fm = &members[f];
        let Some(fleaf) = fm.chain.leaf() else { continue };
        let victim = publishers[rng.random_range(0..publishers.len())];
        if victim == f {
            continue;
        }
        let vname = members[victim].identity.peer_name().clone();
        let mut b = [0u8; 16];
        rng.fill(&mut b);
        let now_unix = sim.now_full().unix;
        let hlc = Hlc::new(now_unix, 0, 7);
        let fake = RecordBuilder::new(
            SCENARIO_TYPE,
            RecordId::random(b),
            vname.clone(),
            hlc,
            now_unix.saturating_add(Duration::from_secs(3600)),
        )
        .payload(b"forged".to_vec())
        .build(&limits);
        let mut crafted: Vec<Record> = Vec::new();
        if let Ok(r) = fake {
            let signature = fm.identity.sign(&r.signing_bytes(&graph_id));
            if let Ok(r) = r.with_security_data(
                &SecurityData::Member { cert: fleaf.id(), signature }.encode(),
                &limits,
            ) {
                crafted.push(r);
            }
        }
        let victim_record = sim.node_state(nodes[f]).and_then(|s| {
            s.graph()
                .store()
                .enumerate(&RecordFilter::Creator(vname.clone()), now_unix)
                .ok()?
                .into_iter()
                .find(|r| r.record_type() == SCENARIO_TYPE)
        });
        if let Some(v) = victim_record
            && let Ok(u) = v
                .update(fm.identity.peer_name().clone(), Hlc::new(now_unix, 1, 7))
                .payload(b"modified".to_vec())
                .build(&limits)
        {
            let signature = fm.identity.sign(&u.signing_bytes(&graph_id));
            if let Ok(u) = u.with_security_data(
                &SecurityData::Member { cert: fleaf.id(), signature }.encode(),
                &limits,
            ) {
                crafted.push(u);
            }
        }
        for r in crafted {
            forged.push(*r.digest().as_bytes());
            sim.command(nodes[f], Command::AdversaryPush(r));
        }
    }
    run_sampling(&mut sim, t_end_pub, &mut deferred_max);

    // late joiners
    let t_late = sim.now();
    for &i in &late {
        let mut contact = publishers[rng.random_range(0..publishers.len())];
        while revoked[contact] {
            contact = publishers[rng.random_range(0..publishers.len())];
        }
        sim.command(nodes[i], Command::Graph(GraphCommand::Connect(addrs[contact])));
    }
    let t_end = t_end_pub + Duration::from_secs_f64(params.drain_secs.max(0.0));
    run_sampling(&mut sim, t_end, &mut deferred_max);

    // 4. measure
    let now_unix = sim.now_full().unix;
    let live: Vec<usize> = (0..n).filter(|&i| !revoked[i]).collect();
    let creator_store = sim.node_state(nodes[0]).map(|s| s.graph().store());
    // standing lists of the revocations the creator holds
    let mut stand: HashSet<[u8; 32]> = HashSet::new();
    if let Some(st) = creator_store {
        for r in st.enumerate(&RecordFilter::Type(REVOCATION_TYPE), now_unix).unwrap_or_default() {
            if let Ok(rev) = Revocation::decode(r.payload()) {
                stand.extend(rev.stand.iter().copied());
            }
        }
    }
    let revoked_names: HashSet<_> =
        (0..n).filter(|&i| revoked[i]).map(|i| members[i].identity.peer_name().clone()).collect();
    let forged_set: HashSet<[u8; 32]> = forged.iter().copied().collect();
    let records_of = |i: usize| -> BTreeSet<(RecordId, [u8; 32])> {
        sim.node_state(nodes[i])
            .and_then(|s| {
                s.graph().store().sync_entries(&SyncRange::ALL, usize::MAX, now_unix).ok()
            })
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.key.id, *e.digest.as_bytes()))
            .collect()
    };
    let reference: BTreeSet<(RecordId, [u8; 32])> = records_of(0)
        .into_iter()
        .filter(|(id, _)| {
            sim.node_state(nodes[0])
                .and_then(|s| s.graph().store().get(id, now_unix).ok().flatten())
                .is_some_and(|r| r.record_type() != PRESENCE_TYPE)
        })
        .collect();
    let mut replicas_disagree = 0;
    let mut accepted_after_rule = 0u64;
    let mut forged_accepted = 0u64;
    let mut held: HashMap<RecordId, u32> = HashMap::new();
    // Holders among the members present while records were published (not late joiners):
    // the graph scenario's population, for copies per delivery.
    let mut held_present: HashMap<RecordId, u32> = HashMap::new();
    let mut should_keep: HashSet<RecordId> = HashSet::new();
    let mut standing = 0usize;
    for (_, p, id) in &plan {
        if !revoked[*p] {
            should_keep.insert(*id);
        }
    }
    for &i in &live {
        let Some(s) = sim.node_state(nodes[i]) else { continue };
        let records = s.graph().store().enumerate(&RecordFilter::All, now_unix).unwrap_or_default();
        let mut mine: BTreeSet<(RecordId, [u8; 32])> = BTreeSet::new();
        for r in &records {
            let d = *r.digest().as_bytes();
            if r.record_type() != PRESENCE_TYPE {
                mine.insert((r.id(), d));
            }
            if forged_set.contains(&d) {
                forged_accepted += 1;
            }
            if r.record_type() == SCENARIO_TYPE {
                *held.entry(r.id()).or_default() += 1;
                if !late_set.contains(&i) {
                    *held_present.entry(r.id()).or_default() += 1;
                }
                if revoked_names.contains(r.last_modifier()) {
                    if stand.contains(&d) {
                        if i == 0 {
                            standing += 1;
                            should_keep.insert(r.id());
                        }
                    } else {
                        accepted_after_rule += 1;
                    }
                }
            }
        }
        let tombstones: BTreeSet<(RecordId, [u8; 32])> = records_of(i)
            .into_iter()
            .filter(|(id, _)| {
                s.graph().store().get(id, now_unix).ok().flatten().is_some_and(|r| r.is_deleted())
            })
            .collect();
        mine.extend(tombstones);
        if i != 0 && mine != reference {
            replicas_disagree += 1;
        }
    }
    let writer: HashMap<RecordId, usize> = plan.iter().map(|(_, p, id)| (*id, *p)).collect();
    let mut expected = 0u64;
    let mut delivered = 0u64;
    let mut delivered_present = 0u64;
    for id in &should_keep {
        let w = writer.get(id).copied();
        let holders = u64::from(held.get(id).copied().unwrap_or(0));
        let writer_live = w.is_some_and(|w| !revoked[w]);
        let pairs = live.len() as u64 - u64::from(writer_live);
        expected += pairs;
        delivered += holders.saturating_sub(u64::from(writer_live)).min(pairs);
        let present = u64::from(held_present.get(id).copied().unwrap_or(0));
        delivered_present += present.saturating_sub(u64::from(writer_live));
    }
    let t = tracker.borrow();
    // join times: connect → last should-keep record added
    let mut joins: Vec<f64> = Vec::new();
    for (k, &i) in late.iter().enumerate() {
        let adds = &t.late_adds[k];
        let mut last = t_late;
        let mut complete = true;
        for id in &should_keep {
            if writer.get(id) == Some(&i) {
                continue;
            }
            match adds.get(id) {
                Some(&at) => last = last.max(at),
                None => complete = false,
            }
        }
        if complete && !revoked[i] {
            joins.push(last.saturating_since(t_late).as_secs_f64() * 1e3);
        }
    }
    let live_set: HashSet<usize> = live.iter().copied().filter(|i| !late_set.contains(i)).collect();
    let mut revs: Vec<f64> = Vec::new();
    for (id, at) in &revocation_cmds {
        let adds = t.revocation_adds.get(id).cloned().unwrap_or_default();
        let reached: HashMap<usize, Instant> =
            adds.into_iter().filter(|(i, _)| live_set.contains(i)).collect();
        if reached.len() == live_set.len() {
            let last = reached.values().max().copied().unwrap_or(*at);
            revs.push(last.saturating_since(*at).as_secs_f64() * 1e3);
        } else {
            revs.push(f64::INFINITY);
        }
    }
    let mut copies = 0u64;
    let mut join_copies = 0u64;
    let mut join_held = 0u64;
    let mut verifications = 0u64;
    let mut hits = 0u64;
    let mut purged = 0u64;
    for (i, &node) in nodes.iter().enumerate() {
        let Some(s) = sim.node_state(node) else { continue };
        verifications += s.security().cache().verifications();
        hits += s.security().cache().hits;
        purged += s.security().counters().purged;
        if revoked[i] {
            continue;
        }
        if late_set.contains(&i) {
            join_copies += s.graph().counters().copies_received;
            join_held += s
                .graph()
                .store()
                .enumerate(&RecordFilter::Type(SCENARIO_TYPE), now_unix)
                .map_or(0, |v| v.len() as u64);
        } else {
            copies += s.graph().counters().copies_received;
        }
    }
    let mut joins2 = joins.clone();
    let mut revs2 = revs.clone();
    Report {
        members: n,
        records_written: plan.len() + extra_writes,
        seed: params.seed,
        revoked_certs: targets.len(),
        revoked_members: revoked.iter().filter(|r| **r).count(),
        records_standing_from_revoked: standing,
        delivered_fraction: if expected == 0 { 1.0 } else { delivered as f64 / expected as f64 },
        join_ms_median: percentile(&mut joins, 0.5),
        join_ms_p99: percentile(&mut joins2, 0.99),
        revocation_ms_median: percentile(&mut revs, 0.5),
        revocation_ms_p99: percentile(&mut revs2, 0.99),
        accepted_from_revoked_after_rule: accepted_after_rule,
        replicas_disagree,
        forged_attempts: forged.len(),
        forged_accepted,
        nonmember_attempts: hostile.len(),
        nonmember_admitted: t.nonmember_admitted,
        refusals: t.refusals.clone(),
        records_purged: purged,
        copies_per_delivery: if delivered_present == 0 {
            0.0
        } else {
            copies as f64 / delivered_present as f64
        },
        join_copies_per_record: if join_held == 0 {
            0.0
        } else {
            join_copies as f64 / join_held as f64
        },
        signature_verifications: verifications,
        chain_cache_hits: hits,
        deferred_max,
        virtual_seconds: sim.now().saturating_since(Instant::ZERO).as_secs_f64(),
        wall_seconds: wall.elapsed().as_secs_f64(),
        peak_rss_bytes: peak_rss_bytes(),
    }
}

/// A chain kept as given (hostile nodes' chains do not verify).
fn unverified(chain: &Chain) -> VerifiedChain {
    VerifiedChain::unchecked(chain.clone())
}

/// A refusal's name (for the report).
pub fn refusal_name(r: Refusal) -> String {
    r.to_string()
}
