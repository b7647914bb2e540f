//! Simulated graphs at scale (`proto-specs/graph.md` §11): [`run`] builds `members` graph
//! nodes on [`peergroup_sim::Sim`], lets them join through each other, publishes
//! `records` records from random members, optionally crashes a fraction of the members
//! at once half-way through, and returns a [`Report`]. `p2p sim graph` prints it as JSON;
//! `benches/benches/graph_sim.rs` runs the target cases.
//!
//! # The run, phase by phase
//!
//! 1. **Members.** Node `i` is `0.member-<i>` with a [`MemStore`], a [`TestProvider`] that
//!    accepts everything, and [`Config::default`]. Every link gets one delay drawn
//!    uniformly from `latency_ms` (default 10..100 ms; [`Latency::PerLink`]), no loss.
//! 2. **Join.** All members open the graph at time 0 (each publishes its presence record);
//!    member `i ≥ 1` then connects to a uniformly random member `j < i` at `join_rate`
//!    members per second — the protocol's own join (HyParView walks, synchronisation on
//!    connect) builds the overlay; nothing is pre-wired. Then `settle_secs` pass.
//! 3. **Publishing.** `records` records (payload `payload_bytes`, lifetime 1 h) at
//!    `publish_rate` per second, each from a member drawn uniformly among those alive.
//! 4. **Crash** (if `crash_fraction > 0`): when half the records are published, a random
//!    `crash_fraction` of the members crash at once (no goodbye; their neighbours notice
//!    through failed sends and keepalives).
//! 5. **Measure** at the end: the last record's publication plus `drain_rounds` repair
//!    rounds ([`maintenance_interval`](crate::proto::TopologyConfig::maintenance_interval),
//!    5 s each; default 2 rounds).
//!
//! # What is measured (over surviving members, during the publishing window)
//!
//! * `delivered_fraction`: of all (record, surviving member other than its publisher)
//!   pairs, the fraction where the member holds the record at the end.
//!   `delivered_fraction_within_rounds` counts a pair only if the record arrived within
//!   `drain_rounds` repair rounds of its publication — or of the crash, for records
//!   published before it. `delivered_fraction_reachable` leaves out records that died
//!   with their publisher (published just before the crash, received by no survivor).
//! * `copies_per_delivery`: full copies of records received by survivors (flooded,
//!   grafted, sent back, or transferred by synchronisation; presence records excluded)
//!   divided by deliveries (pairs delivered). 1.0 is the minimum.
//! * `control_messages_per_delivery`: every other message survivors received in the
//!   window (announcements, grafts, prunes, topology, beacons, keepalives, presence
//!   floods, reconciliation) per delivery.
//! * `overhead_bytes_per_delivery`: wire bytes (frame header included) survivors
//!   received in the window, minus, for each delivery, the size of one `Push` of that
//!   record, per delivery: everything but the first copy.
//! * `last_delivery_ms_median`, `last_delivery_hop_median`: per record, the time from
//!   publication to its last delivery to a survivor, and the hops that copy travelled;
//!   medians over records.
//! * `partitioned`: whether the survivors' neighbour graph (an edge when either end
//!   counts the other as a neighbour) has more than one component at the end.
//! * `wall_seconds`: wall-clock time of the whole run, set-up included.

// A tool: it measures its own wall-clock time.
#![allow(clippy::disallowed_methods)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant as WallClock};

use peergroup_base::codec::HEADER_LEN;
use peergroup_base::{Instant, PeerAddr, PeerName};
use peergroup_sim::{Latency, LinkConfig, NodeIdx, NodeStats, Sim, SimConfig};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use crate::id::{GraphId, RecordId, RecordType};
use crate::proto::{
    Command, Config, Counters, Event, GraphNode, Message, NewRecord, NodeParams, RecordChange,
    RecordSource, TestProvider, WireRecord,
};
use crate::record::RecordLimits;
use crate::store::{MemStore, RecordStore};

/// The record type of the scenario's records.
pub const SCENARIO_TYPE: RecordType = RecordType::from_u128(0x5ce0_a210);

type Node = GraphNode<MemStore, TestProvider>;

/// Parameters of a run.
#[derive(Debug, Clone)]
pub struct Params {
    /// Members of the graph.
    pub members: usize,
    /// Records published.
    pub records: usize,
    /// Fraction of members crashed at once half-way through publishing (0 … 1).
    pub crash_fraction: f64,
    /// Link delays are drawn per link, uniformly from this range (ms). Default 10..100.
    pub latency_ms: (u64, u64),
    /// Seed of everything. Default 1.
    pub seed: u64,
    /// Payload bytes per record. Default 100.
    pub payload_bytes: usize,
    /// Records published per virtual second. Default 100.
    pub publish_rate: f64,
    /// Members joining per virtual second. Default 200.
    pub join_rate: f64,
    /// Virtual seconds between the last join and the first record. Default 30.
    pub settle_secs: f64,
    /// Repair rounds between the last record and the measurement. Default 2.
    pub drain_rounds: u32,
    /// The protocol configuration of every member.
    pub config: Config,
}

impl Params {
    /// `members` members, `records` records, no crash, the defaults above.
    pub fn new(members: usize, records: usize) -> Self {
        Params {
            members,
            records,
            crash_fraction: 0.0,
            latency_ms: (10, 100),
            seed: 1,
            payload_bytes: 100,
            publish_rate: 100.0,
            join_rate: 200.0,
            settle_secs: 30.0,
            drain_rounds: 2,
            config: Config::default(),
        }
    }
}

/// The result of a run (serialised as one JSON object by the CLI and the bench).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Members of the graph.
    pub members: usize,
    /// Records published.
    pub records: usize,
    /// Fraction of members crashed.
    pub crash_fraction: f64,
    /// Members crashed.
    pub crashed: usize,
    /// Members alive at the end.
    pub survivors: usize,
    /// Link delay range, ms.
    pub latency_ms: (u64, u64),
    /// Records published per virtual second.
    pub publish_rate: f64,
    /// Payload bytes per record.
    pub payload_bytes: usize,
    /// Mean encoded record size, bytes.
    pub record_bytes: f64,
    /// Seed.
    pub seed: u64,
    /// Delivered (record, survivor) pairs over expected pairs (publisher excluded).
    pub delivered_fraction: f64,
    /// The stricter reading of "within two repair rounds": a delivery counts only if it
    /// happened within `drain_rounds` repair rounds of the record's publication, or of
    /// the crash for records published before it. Over the same pairs as
    /// `delivered_fraction`.
    pub delivered_fraction_within_rounds: f64,
    /// `delivered_fraction` over the records that reached at least one survivor: a
    /// record whose publisher crashed before any survivor received it cannot be
    /// delivered by any protocol.
    pub delivered_fraction_reachable: f64,
    /// Records every survivor holds.
    pub records_fully_delivered: usize,
    /// Records no survivor holds (published by a crashed member just before the crash).
    pub records_lost_with_crashed: usize,
    /// Full record copies received by survivors per delivery.
    pub copies_per_delivery: f64,
    /// Other messages received by survivors per delivery.
    pub control_messages_per_delivery: f64,
    /// Wire bytes received by survivors, minus one `Push` per delivery, per delivery.
    pub overhead_bytes_per_delivery: f64,
    /// Median over records of the hops of the last delivery.
    pub last_delivery_hop_median: f64,
    /// Median over records of the time to the last delivery, ms.
    pub last_delivery_ms_median: f64,
    /// 90th percentile of the same.
    pub last_delivery_ms_p90: f64,
    /// Median over all deliveries of the delivery time, ms.
    pub delivery_ms_median: f64,
    /// Deliveries that came by synchronisation rather than flooding.
    pub deliveries_by_sync: u64,
    /// Whether the survivors' neighbour graph is split.
    pub partitioned: bool,
    /// Its connected components.
    pub components: usize,
    /// Distinct partition signatures among survivors at the end.
    pub signatures: usize,
    /// Mean neighbours per survivor at the end.
    pub neighbours_mean: f64,
    /// Mean eager (tree) links per survivor at the end.
    pub eager_links_mean: f64,
    /// Repair rounds between the last record and the measurement.
    pub drain_rounds: u32,
    /// Virtual seconds from the crash to the measurement (0 without a crash).
    pub secs_after_crash: f64,
    /// Counters summed over survivors, for the publishing window.
    pub counters: Counters,
    /// Virtual seconds simulated.
    pub virtual_seconds: f64,
    /// Simulator events processed.
    pub sim_steps: u64,
    /// Wall seconds to add the members and let them join and settle.
    pub setup_seconds: f64,
    /// Wall seconds of the whole run.
    pub wall_seconds: f64,
}

/// Per-record delivery bookkeeping.
#[derive(Debug, Clone, Default)]
struct Delivery {
    published_at: Option<Instant>,
    publisher: u32,
    delivered: u32,
    /// Deliveries within the deadline (see `Report::delivered_fraction_within_rounds`).
    timely: u32,
    last_at: Option<Instant>,
    last_hops: Option<u16>,
}

#[derive(Default)]
struct Tracker {
    index: HashMap<RecordId, usize>,
    records: Vec<Delivery>,
    crashed: Vec<bool>,
    crash_at: Option<Instant>,
    window: Duration,
    delivery_ms: Vec<f64>,
    by_sync: u64,
}

impl Tracker {
    fn on_event(&mut self, at: Instant, node: NodeIdx, event: &Event) {
        let Event::RecordChanged { change: RecordChange::Added, id, record_type, source, .. } =
            event
        else {
            return;
        };
        if *record_type != SCENARIO_TYPE {
            return;
        }
        let Some(&k) = self.index.get(id) else {
            return;
        };
        let d = &mut self.records[k];
        if matches!(source, RecordSource::Local) {
            d.published_at = Some(at);
            return;
        }
        if self.crashed.get(node.index()).copied().unwrap_or(false) {
            return;
        }
        d.delivered += 1;
        if let Some(p) = d.published_at {
            let start = self.crash_at.map_or(p, |c| c.max(p));
            if at <= start + self.window {
                d.timely += 1;
            }
        }
        let hops = match source {
            RecordSource::Flood { hops, .. } => Some(*hops),
            RecordSource::Sync { .. } => {
                self.by_sync += 1;
                None
            }
            _ => None,
        };
        if d.last_at.is_none_or(|t| at >= t) {
            d.last_at = Some(at);
            d.last_hops = hops;
        }
        if let Some(p) = d.published_at {
            self.delivery_ms.push((at - p).as_secs_f64() * 1e3);
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    percentile(&mut v, 0.5)
}

fn percentile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let i = ((v.len() - 1) as f64 * q).round() as usize;
    v[i.min(v.len() - 1)]
}

fn add_counters(a: &mut Counters, b: &Counters, sign: i64) {
    macro_rules! each {
        ($($f:ident),*) => {$(
            a.$f = (a.$f as i64 + sign * b.$f as i64) as u64;
        )*};
    }
    each!(
        messages_received,
        messages_sent,
        record_messages_received,
        copies_received,
        presence_copies_received,
        security_copies_received,
        copy_bytes_received,
        duplicates,
        older_received,
        pushes_sent,
        announce_messages_sent,
        announcements_sent,
        grafts_sent,
        prunes_sent,
        syncs_completed,
        reconcile_bytes_sent,
        sync_records_sent,
        sync_records_stored,
        records_rejected,
        records_deferred,
        messages_rejected,
        unsolicited,
        neighbours_connected,
        neighbours_lost,
        heals
    );
}

/// Wire size of a `Push` of a record of `len` encoded bytes with one-byte hops.
fn push_wire_len(len: usize) -> u64 {
    let mut varint = 1;
    let mut v = len;
    while v >= 0x80 {
        v >>= 7;
        varint += 1;
    }
    // header ‖ variant index ‖ hops (varint, < 128) ‖ varint(len) ‖ record
    (HEADER_LEN + 1 + 1 + varint + len) as u64
}

/// Runs a scenario. See the [module docs](self).
pub fn run(params: &Params) -> Report {
    let wall = WallClock::now();
    let n = params.members.max(1);
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
    let mut sim: Sim<Node> = Sim::new(sim_config);
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed ^ 0x6772_6170_6873);
    // Invariant: a fixed, valid graph id.
    let graph = GraphId::new("0.scenario").unwrap_or_else(|_| unreachable!("valid graph id"));
    let limits = RecordLimits::default();
    let tracker = Rc::new(RefCell::new(Tracker::default()));
    {
        let t = Rc::clone(&tracker);
        sim.on_event(move |e| t.borrow_mut().on_event(e.at, e.node, &e.event));
    }

    // 1. members
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let config = params.config.clone();
        let graph = graph.clone();
        let name = PeerName::parse(&format!("0.member-{i}"))
            .unwrap_or_else(|_| unreachable!("valid classifier"));
        nodes.push(sim.add_node(move |ctx| {
            GraphNode::new(NodeParams {
                graph: graph.clone(),
                me: ctx.addr,
                peer_name: name.clone(),
                config: config.clone(),
                store: MemStore::new(limits),
                provider: TestProvider::new(),
                seed: ctx.seed,
            })
        }));
    }
    let addrs: Vec<PeerAddr> = nodes.iter().filter_map(|&i| sim.peer_addr(i)).collect();

    // 2. join
    let join_gap = Duration::from_secs_f64(1.0 / params.join_rate.max(1e-3));
    for (i, &node) in nodes.iter().enumerate().skip(1) {
        let contact = rng.random_range(0..i);
        let at = Instant::ZERO + join_gap.mul_f64(i as f64);
        sim.schedule_command(at, node, Command::Connect(addrs[contact]));
    }
    let t0 = Instant::ZERO
        + join_gap.mul_f64(n as f64)
        + Duration::from_secs_f64(params.settle_secs.max(0.0));
    let _ = sim.run_until(t0);
    let setup_seconds = wall.elapsed().as_secs_f64();

    // 3. and 4. publishing plan and crash set
    let crash_count = ((n as f64) * params.crash_fraction.clamp(0.0, 1.0)).round() as usize;
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let mut crashed = vec![false; n];
    for &i in order.iter().take(crash_count.min(n.saturating_sub(1))) {
        crashed[i] = true;
    }
    let survivors: Vec<usize> = (0..n).filter(|&i| !crashed[i]).collect();
    let gap = Duration::from_secs_f64(1.0 / params.publish_rate.max(1e-3));
    let crash_at_record = if crash_count > 0 { params.records / 2 } else { usize::MAX };
    let crash_at = t0 + gap.mul_f64(crash_at_record.min(params.records) as f64);
    {
        let mut t = tracker.borrow_mut();
        t.crashed = crashed.clone();
        t.records = vec![Delivery::default(); params.records];
        t.crash_at = (crash_count > 0).then_some(crash_at);
        t.window = params
            .config
            .topology
            .maintenance_interval
            .checked_mul(params.drain_rounds)
            .unwrap_or(Duration::MAX);
    }
    let mut plan = Vec::with_capacity(params.records);
    for k in 0..params.records {
        let publisher = if k >= crash_at_record {
            survivors[rng.random_range(0..survivors.len())]
        } else {
            rng.random_range(0..n)
        };
        let mut b = [0u8; 16];
        rng.fill(&mut b);
        let id = RecordId::random(b);
        tracker.borrow_mut().index.insert(id, k);
        tracker.borrow_mut().records[k].publisher = publisher as u32;
        plan.push((t0 + gap.mul_f64(k as f64), publisher, id));
    }
    let before: Vec<(Counters, NodeStats)> = nodes
        .iter()
        .map(|&i| (sim.node_state(i).map(|s| *s.counters()).unwrap_or_default(), sim.node_stats(i)))
        .collect();
    for (at, publisher, id) in &plan {
        let payload = vec![0x42; params.payload_bytes];
        let r = NewRecord::new(*id, SCENARIO_TYPE, Duration::from_secs(3600), payload);
        sim.schedule_command(*at, nodes[*publisher], Command::AddRecord(r));
    }
    if crash_count > 0 {
        for (i, &c) in crashed.iter().enumerate() {
            if c {
                sim.schedule_crash(crash_at, nodes[i]);
            }
        }
    }
    let last_publish = plan.last().map_or(t0, |p| p.0);
    let window = params
        .config
        .topology
        .maintenance_interval
        .checked_mul(params.drain_rounds)
        .unwrap_or(Duration::MAX);
    let end = last_publish + window;
    let _ = sim.run_until(end);

    // 5. measure
    let t = tracker.borrow();
    let s = survivors.len();
    let mut expected = 0u64;
    let mut delivered = 0u64;
    let mut expected_reachable = 0u64;
    let mut timely = 0u64;
    let mut lost = 0usize;
    let mut full = 0usize;
    let mut last_ms = Vec::new();
    let mut last_hops = Vec::new();
    for d in &t.records {
        let exp = (s - usize::from(!crashed[d.publisher as usize])) as u64;
        expected += exp;
        delivered += u64::from(d.delivered);
        timely += u64::from(d.timely);
        let publisher_survived = !crashed[d.publisher as usize];
        if d.delivered > 0 || publisher_survived {
            expected_reachable += exp;
        } else {
            lost += 1;
        }
        if u64::from(d.delivered) >= exp {
            full += 1;
        }
        if let (Some(p), Some(l)) = (d.published_at, d.last_at) {
            last_ms.push((l - p).as_secs_f64() * 1e3);
        }
        if let Some(h) = d.last_hops {
            last_hops.push(f64::from(h));
        }
    }
    let mut window = Counters::default();
    let mut received_bytes = 0u64;
    let mut neighbours = 0usize;
    let mut eager = 0usize;
    let mut signatures = std::collections::BTreeSet::new();
    for &i in &survivors {
        let Some(state) = sim.node_state(nodes[i]) else {
            continue;
        };
        add_counters(&mut window, state.counters(), 1);
        add_counters(&mut window, &before[i].0, -1);
        received_bytes += sim.node_stats(nodes[i]).received_bytes - before[i].1.received_bytes;
        let nb = state.neighbours();
        neighbours += nb.len();
        eager += nb.iter().filter(|l| l.eager).count();
        signatures.insert(state.signature());
    }
    // Record sizes, from any survivor's store.
    let mut record_bytes = Vec::new();
    let mut first_copy_bytes = 0u64;
    if let Some(holder) = survivors.iter().find_map(|&i| sim.node_state(nodes[i])) {
        let now = sim.now_full().unix;
        for (k, (_, _, id)) in plan.iter().enumerate() {
            if let Ok(Some(r)) = holder.store().get(id, now) {
                record_bytes.push(r.encoded_len() as f64);
                first_copy_bytes +=
                    u64::from(t.records[k].delivered) * push_wire_len(r.encoded_len());
            }
        }
    }
    let components = components(&sim, &nodes, &survivors, &addrs);
    let per = |x: f64| if delivered > 0 { x / delivered as f64 } else { 0.0 };
    let control = window.messages_received.saturating_sub(window.record_messages_received);
    let mean_record = if record_bytes.is_empty() {
        0.0
    } else {
        record_bytes.iter().sum::<f64>() / record_bytes.len() as f64
    };
    let mut last_ms_sorted = last_ms.clone();
    Report {
        members: n,
        records: params.records,
        crash_fraction: params.crash_fraction,
        crashed: crash_count,
        survivors: s,
        latency_ms: (lo, hi),
        publish_rate: params.publish_rate,
        payload_bytes: params.payload_bytes,
        record_bytes: mean_record,
        seed: params.seed,
        delivered_fraction: if expected > 0 { delivered as f64 / expected as f64 } else { 1.0 },
        delivered_fraction_within_rounds: if expected > 0 {
            timely as f64 / expected as f64
        } else {
            1.0
        },
        delivered_fraction_reachable: if expected_reachable > 0 {
            delivered as f64 / expected_reachable as f64
        } else {
            1.0
        },
        records_fully_delivered: full,
        records_lost_with_crashed: lost,
        copies_per_delivery: per(window.copies_received as f64),
        control_messages_per_delivery: per(control as f64),
        overhead_bytes_per_delivery: per(received_bytes.saturating_sub(first_copy_bytes) as f64),
        last_delivery_hop_median: median(last_hops),
        last_delivery_ms_median: median(last_ms),
        last_delivery_ms_p90: percentile(&mut last_ms_sorted, 0.9),
        delivery_ms_median: median(t.delivery_ms.clone()),
        deliveries_by_sync: t.by_sync,
        partitioned: components > 1,
        components,
        signatures: signatures.len(),
        neighbours_mean: neighbours as f64 / s.max(1) as f64,
        eager_links_mean: eager as f64 / s.max(1) as f64,
        drain_rounds: params.drain_rounds,
        secs_after_crash: if crash_count > 0 { (end - crash_at).as_secs_f64() } else { 0.0 },
        counters: window,
        virtual_seconds: (end - Instant::ZERO).as_secs_f64(),
        sim_steps: sim.stats().steps,
        setup_seconds,
        wall_seconds: wall.elapsed().as_secs_f64(),
    }
}

/// Connected components of the survivors' neighbour graph (undirected: an edge when
/// either end lists the other).
fn components(
    sim: &Sim<Node>,
    nodes: &[NodeIdx],
    survivors: &[usize],
    addrs: &[PeerAddr],
) -> usize {
    let index: HashMap<PeerAddr, usize> = addrs.iter().enumerate().map(|(i, a)| (*a, i)).collect();
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for &i in survivors {
        if let Some(s) = sim.node_state(nodes[i]) {
            for p in s.neighbour_addrs() {
                if let Some(&j) = index.get(&p)
                    && sim.is_up(nodes[j])
                {
                    adj[i].push(j);
                    adj[j].push(i);
                }
            }
        }
    }
    let mut seen = vec![false; nodes.len()];
    let mut count = 0;
    for &start in survivors {
        if seen[start] {
            continue;
        }
        count += 1;
        seen[start] = true;
        let mut stack = vec![start];
        while let Some(i) = stack.pop() {
            for &j in &adj[i] {
                if !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
    }
    count
}

/// The wire size of a `Push` carrying `record` with `hops` (for tests of the
/// accounting above).
pub fn push_message_len(record: &crate::record::Record, hops: u16) -> usize {
    HEADER_LEN + Message::Push { hops, record: WireRecord::from(record) }.encode().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_size_formula_matches_the_encoding() {
        use crate::record::RecordBuilder;
        for len in [0usize, 50, 200, 20_000] {
            let r = RecordBuilder::new(
                SCENARIO_TYPE,
                RecordId::from_u128(1),
                PeerName::parse("0.member-1").unwrap(),
                crate::Hlc::new(peergroup_base::UnixTime::from_secs(1000), 0, 1),
                peergroup_base::UnixTime::from_secs(5000),
            )
            .payload(vec![1; len])
            .build(&RecordLimits::default())
            .unwrap();
            assert_eq!(push_wire_len(r.encoded_len()) as usize, push_message_len(&r, 3));
        }
    }

    #[test]
    fn small_run_delivers_everything() {
        let mut p = Params::new(40, 20);
        p.settle_secs = 10.0;
        let r = run(&p);
        assert_eq!(r.delivered_fraction, 1.0, "{r:?}");
        assert!(!r.partitioned);
        assert!(r.copies_per_delivery >= 1.0 && r.copies_per_delivery < 2.0, "{r:?}");
        assert!(r.last_delivery_ms_median > 0.0);
    }
}
