//! Configuration of a graph node, nested by sub-protocol as the node's state is: one part
//! per file of `proto` (topology, beacons, flooding, synchronisation, records, presence).

use std::time::Duration;

use crate::hlc::HlcConfig;

/// Settings of a [`GraphNode`](crate::proto::GraphNode), one part per sub-protocol. Every
/// field's documentation gives its default and the reason for it; `proto-specs/graph.md`
/// §9.10 lists them together (by field name).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// Topology: see [`TopologyConfig`].
    pub topology: TopologyConfig,
    /// The partition signature, the flooding tree and partition probes: see [`BeaconConfig`].
    pub beacons: BeaconConfig,
    /// Flooding with lazy push: see [`FloodConfig`].
    pub flood: FloodConfig,
    /// Synchronisation on connect and anti-entropy: see [`SyncConfig`].
    pub sync: SyncConfig,
    /// Records: deferral and the hybrid logical clock: see [`RecordsConfig`].
    pub records: RecordsConfig,
    /// Presence records and the node list: see [`PresenceConfig`].
    pub presence: PresenceConfig,
    /// Largest application data message. Default **64 KiB**.
    pub max_data_bytes: usize,
}

/// Topology (`graph.md` §9, `topology.rs`): neighbour bounds, HyParView views and walks, repair,
/// keepalives, connects and direct connections.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TopologyConfig {
    /// Fewer neighbours than this and a node asks with high priority (accepted even by
    /// full nodes). Default **2** ([MS-PPGRH] 3.1.1 minimum), so that one failure never
    /// isolates a node.
    pub min_neighbours: usize,
    /// A node below this many neighbours connects to more, from its passive view. Default
    /// **4**: a random graph of degree 4 stays connected after losing most of its nodes
    /// (HyParView, Leitão et al. DSN 2007, uses log₁₀ n + 1 ≈ 4–5).
    pub ideal_neighbours: usize,
    /// A node accepts low-priority connections up to this many neighbours, and drops a
    /// random one to take a high-priority connection beyond it. Default **8**: twice the
    /// ideal, so repairing nodes find room without displacing anyone.
    pub max_neighbours: usize,
    /// Size of the passive view, the known nodes a node repairs from. Default **30**
    /// (HyParView's `k·(log₁₀ n + 1)` with k = 6 for 10,000 nodes).
    pub passive_view: usize,
    /// Length of a join walk (HyParView ARWL). Default **6**, as in the HyParView paper.
    pub active_walk_length: u8,
    /// Where on a join or shuffle walk the joiner enters passive views, and the length of
    /// a shuffle walk (HyParView PRWL). Default **3**, as in the HyParView paper.
    pub passive_walk_length: u8,
    /// Interval of shuffles, which keep passive views a fresh random sample of the
    /// graph. Default **30 s**: passive views matter only after failures, and a shuffle
    /// costs two small messages per node.
    pub shuffle_interval: Duration,
    /// Active-view nodes a shuffle carries (HyParView `ka`). Default **3**.
    pub shuffle_active: usize,
    /// Passive-view nodes a shuffle carries (HyParView `kp`). Default **4**.
    pub shuffle_passive: usize,
    /// The repair round: the period of topology maintenance (reconnecting below the ideal
    /// neighbour count, synchronisation timeouts, trimming). Default **5 s**. Repair also
    /// runs at once whenever a neighbour is lost or a connect fails; the round catches
    /// what those events missed.
    pub maintenance_interval: Duration,
    /// A neighbour or direct peer we have heard nothing from for this long gets a `Ping`
    /// (checked every half interval), so that a dead peer is noticed: the transport
    /// reports `PeerDown` when the send fails. Default **2 s**: a node whose neighbours
    /// all failed at once sends nothing and hears nothing, and this bounds how long it
    /// takes to notice — about 3 s plus the transport's timeout, within one repair round.
    /// The cost on an idle graph is at most one small message per link every 2 s (a busy
    /// link carries announcements and pushes instead).
    pub keepalive_interval: Duration,
    /// A `Connect` unanswered for this long has failed. Default **5 s**: five times a
    /// slow intercontinental round trip.
    pub connect_timeout: Duration,
    /// Outgoing `Connect`s in flight at once. Default **4**: enough to replace every
    /// missing neighbour in parallel after a mass failure.
    pub max_pending_connects: usize,
    /// Whether the node accepts direct connections. Default **true**: the application
    /// sees them as events and may close them.
    pub accept_direct: bool,
    /// Direct connections at most. Default **16**.
    pub max_direct: usize,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        TopologyConfig {
            min_neighbours: 2,
            ideal_neighbours: 4,
            max_neighbours: 8,
            passive_view: 30,
            active_walk_length: 6,
            passive_walk_length: 3,
            shuffle_interval: Duration::from_secs(30),
            shuffle_active: 3,
            shuffle_passive: 4,
            maintenance_interval: Duration::from_secs(5),
            keepalive_interval: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(5),
            max_pending_connects: 4,
            accept_direct: true,
            max_direct: 16,
        }
    }
}

/// The partition signature, the flooding tree and partition probes (`graph.md` §7.2, §9.5,
/// `signature.rs`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct BeaconConfig {
    /// Interval of signature beacons (§9.5). Each round also rebuilds the flooding tree
    /// (§7.2), so this bounds how long a tree broken by failures waits to be rebuilt.
    /// Default **10 s**: one small message per link and direction per round (a graph of
    /// degree 7 spends about 1.4 messages per node per second); [MS-PPGRH] refreshes its
    /// signature record only every 300 s, but does not build a tree from it.
    pub beacon_interval: Duration,
    /// A signature not refreshed for this long is dropped (its node failed or left).
    /// Default **25 s**: two missed rounds and a margin for delay.
    pub beacon_lifetime: Duration,
    /// Interval of partition probes (§9.5). Default **30 s**.
    pub probe_interval: Duration,
    /// How many nodes of a component probe per interval, on average. Default **8**
    /// (between [MS-PPGRH]'s minimum of 5 contacts and its maximum of 10).
    pub contacts: usize,
}

impl Default for BeaconConfig {
    fn default() -> Self {
        BeaconConfig {
            beacon_interval: Duration::from_secs(10),
            beacon_lifetime: Duration::from_secs(25),
            probe_interval: Duration::from_secs(30),
            contacts: 8,
        }
    }
}

/// Flooding with lazy push (`graph.md` §7, `flood.rs`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FloodConfig {
    /// Lazy-push announcements wait this long to be batched. Default **200 ms**: at a
    /// few records per second each batch carries several, and the wait is well below
    /// the graft timeout, so it never delays a repair much.
    pub announce_interval: Duration,
    /// A record announced but not received for this long is pulled (`Graft`). Default
    /// **1 s**: an eager copy travelling a longer tree path than the announcement (at
    /// most about twice the tree depth times the link delay) still arrives first, so
    /// healthy trees see almost no redundant copies (PlumTree's timer, Leitão et al. SRDS
    /// 2007 §3.7).
    pub graft_timeout: Duration,
    /// After a `Graft` went unanswered, the next announcer is asked this much later.
    /// Default **500 ms**.
    pub graft_retry: Duration,
    /// Announced records waiting to arrive, at most. Default **65,536**; beyond it
    /// announcements are ignored (synchronisation on the next connection repairs any
    /// loss).
    pub max_missing: usize,
}

impl Default for FloodConfig {
    fn default() -> Self {
        FloodConfig {
            announce_interval: Duration::from_millis(200),
            graft_timeout: Duration::from_secs(1),
            graft_retry: Duration::from_millis(500),
            max_missing: 65_536,
        }
    }
}

/// Synchronisation on connect and anti-entropy (`graph.md` §8, `sync.rs`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SyncConfig {
    /// The reconciliation settings (`reconcile.md` §10). Default: that crate's defaults
    /// (messages of at most 60 KiB).
    pub reconcile: peergroup_reconcile::Config,
    /// Bytes of records per sync `Records` batch (at least one record). Default
    /// **256 KiB**: big enough to amortise the per-batch acknowledgement, small enough to
    /// interleave with flooding on the same connection.
    pub sync_batch_bytes: usize,
    /// Sync batches sent ahead of their acknowledgement. Default **2** (double
    /// buffering), which bounds what a receiver holds from one peer.
    pub sync_window: usize,
    /// A synchronisation that has not finished after this long is abandoned and the
    /// connection closed (the reconciliation protocol has no timers of its own,
    /// `reconcile.md` §8.4). Default **60 s**.
    pub sync_timeout: Duration,
    /// Anti-entropy: a node re-synchronises with each neighbour it opened the first
    /// synchronisation with this long after the last one finished (checked at each
    /// maintenance round), which repairs records lost in flooding (`graph.md` §8.6).
    /// `None` turns it off. Default **30 s**.
    pub resync_interval: Option<Duration>,
    /// A re-synchronisation leaves out the records modified in the last this long (by
    /// each side's clock): flooding is still delivering them, and sending them again would
    /// only make duplicates. Default **5 s**.
    pub resync_settle: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            reconcile: peergroup_reconcile::Config::default(),
            sync_batch_bytes: 256 << 10,
            sync_window: 2,
            sync_timeout: Duration::from_secs(60),
            resync_interval: Some(Duration::from_secs(30)),
            resync_settle: Duration::from_secs(5),
        }
    }
}

/// Records: deferral and the hybrid logical clock (`graph.md` §3.5, `records.rs`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RecordsConfig {
    /// Records the provider deferred, kept at most. Default **10,000**.
    pub max_deferred: usize,
    /// Hybrid logical clock settings. Default: [`HlcConfig::default`] (60 s forward drift).
    pub hlc: HlcConfig,
}

impl Default for RecordsConfig {
    fn default() -> Self {
        RecordsConfig { max_deferred: 10_000, hlc: HlcConfig::default() }
    }
}

/// Presence records and the node list (`graph.md` §9.8, `presence.rs`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PresenceConfig {
    /// Whether the node publishes a presence record (§9.8). Default **true**: every
    /// member publishes ([MS-PPGRH] 2.2.3.1, max presence records −1), which gives every
    /// node the node list it heals partitions from.
    pub publish_presence: bool,
    /// Lifetime of presence records; refreshed at half-life. Default **300 s**
    /// ([MS-PPGRH] 3.1.7.4).
    pub presence_lifetime: Duration,
}

impl Default for PresenceConfig {
    fn default() -> Self {
        PresenceConfig { publish_presence: true, presence_lifetime: Duration::from_secs(300) }
    }
}
impl Default for Config {
    fn default() -> Self {
        Config {
            topology: TopologyConfig::default(),
            beacons: BeaconConfig::default(),
            flood: FloodConfig::default(),
            sync: SyncConfig::default(),
            records: RecordsConfig::default(),
            presence: PresenceConfig::default(),
            max_data_bytes: 64 << 10,
        }
    }
}

impl Config {
    /// The configuration with the neighbour bounds `min ≤ ideal ≤ max` (each at least 1).
    pub fn with_neighbours(mut self, min: usize, ideal: usize, max: usize) -> Self {
        self.topology = self.topology.with_neighbours(min, ideal, max);
        self
    }
}

impl TopologyConfig {
    /// These settings with the neighbour bounds `min ≤ ideal ≤ max` (each at least 1).
    pub fn with_neighbours(mut self, min: usize, ideal: usize, max: usize) -> Self {
        self.max_neighbours = max.max(1);
        self.ideal_neighbours = ideal.clamp(1, self.max_neighbours);
        self.min_neighbours = min.clamp(1, self.ideal_neighbours);
        self
    }

    /// The neighbour bounds, made consistent (`1 ≤ min ≤ ideal ≤ max`).
    pub(crate) fn bounds(&self) -> (usize, usize, usize) {
        let max = self.max_neighbours.max(1);
        let ideal = self.ideal_neighbours.clamp(1, max);
        let min = self.min_neighbours.clamp(1, ideal);
        (min, ideal, max)
    }
}
