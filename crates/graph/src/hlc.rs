//! Hybrid logical clocks (Kulkarni, Demirbas et al., "Logical Physical Clocks", OPODIS 2014).
//!
//! Records carry their creation and last-modification time as an [`Hlc`] timestamp
//! instead of [MS-PPGRH]'s averaged "peer time" (which could move backwards). A timestamp
//! is `(wall ms, logical counter, node tag)`, ordered lexicographically:
//!
//! * `wall` stays within [`HlcConfig::max_forward_drift`] of the wall clocks of the nodes
//!   involved, so it can be read (and searched) as a date;
//! * `logical` orders events that share a `wall` value, so a node's timestamps strictly
//!   increase and a receive is always stamped after the send it observed;
//! * `node` (the first 8 bytes of the node id, [`HlcClock::node_tag`]) breaks the last ties,
//!   so two nodes never produce equal timestamps.
//!
//! [`HlcClock`] implements the two update rules. A protocol core owns one clock per graph,
//! calls [`HlcClock::now`] for a local event (creating or updating a record) and
//! [`HlcClock::observe`] for every timestamp it receives, passing the wall-clock time it
//! was handed; it never reads a clock itself. After a restart it resumes from the newest
//! timestamp in its store ([`HlcClock::resume`]), so its timestamps keep increasing.

use std::fmt;
use std::time::Duration;

use peergroup_base::{NodeId, UnixTime};
use serde::{Deserialize, Serialize};

use crate::error::GraphError;

/// A hybrid logical clock timestamp. Ordered by `(wall, logical, node)`.
///
/// Encoded on the wire as a postcard struct `{ wall: u64, logical: u32, node: u64 }`
/// (varints), and in store keys as 20 big-endian bytes ([`Hlc::to_bytes`]) whose byte
/// order equals the timestamp order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Hlc {
    // Field order is the comparison order (derive(Ord)) and the wire order.
    wall: u64,
    logical: u32,
    node: u64,
}

impl Hlc {
    /// The smallest timestamp.
    pub const ZERO: Hlc = Hlc { wall: 0, logical: 0, node: 0 };
    /// The largest timestamp.
    pub const MAX: Hlc = Hlc { wall: u64::MAX, logical: u32::MAX, node: u64::MAX };

    /// A timestamp from its parts.
    pub const fn new(wall: UnixTime, logical: u32, node: u64) -> Self {
        Hlc { wall: wall.as_millis(), logical, node }
    }

    /// The wall-clock part (milliseconds since the Unix epoch).
    pub const fn wall(&self) -> UnixTime {
        UnixTime::from_millis(self.wall)
    }

    /// The logical counter.
    pub const fn logical(&self) -> u32 {
        self.logical
    }

    /// The node tag.
    pub const fn node(&self) -> u64 {
        self.node
    }

    /// 20 bytes, big-endian `wall ‖ logical ‖ node`; byte order equals timestamp order.
    pub fn to_bytes(&self) -> [u8; 20] {
        let mut out = [0u8; 20];
        out[..8].copy_from_slice(&self.wall.to_be_bytes());
        out[8..12].copy_from_slice(&self.logical.to_be_bytes());
        out[12..].copy_from_slice(&self.node.to_be_bytes());
        out
    }

    /// The inverse of [`Hlc::to_bytes`].
    pub fn from_bytes(b: &[u8; 20]) -> Self {
        let mut wall = [0u8; 8];
        let mut logical = [0u8; 4];
        let mut node = [0u8; 8];
        wall.copy_from_slice(&b[..8]);
        logical.copy_from_slice(&b[8..12]);
        node.copy_from_slice(&b[12..]);
        Hlc {
            wall: u64::from_be_bytes(wall),
            logical: u32::from_be_bytes(logical),
            node: u64::from_be_bytes(node),
        }
    }
}

impl fmt::Display for Hlc {
    /// `2026-11-25T18:51:39.250Z+3@00000000000000ab` (wall, logical, node tag in hex).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}+{}@{:016x}", self.wall(), self.logical, self.node)
    }
}

impl fmt::Debug for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hlc({self})")
    }
}

/// Configuration of an [`HlcClock`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HlcConfig {
    /// How far ahead of the local wall clock a received timestamp may be before
    /// [`HlcClock::observe`] refuses it. Default **60 s**.
    ///
    /// Why: an observed timestamp pulls the local clock forward, and a record is only valid
    /// if it expires after its modification time (`proto-specs/graph.md` §3.1). The
    /// shortest standard lifetime is the 300 s of presence records ([MS-PPGRH] 3.1.7.4), so
    /// the drift must stay well below it; 60 s is still far more than NTP-synchronised
    /// clocks differ by. ([MS-PPGRH] 3.1.5.2.2 ignored peer-time offsets above 20 min,
    /// which would let one bad clock invalidate every short-lived record.)
    pub max_forward_drift: Duration,
}

impl Default for HlcConfig {
    fn default() -> Self {
        HlcConfig { max_forward_drift: Duration::from_secs(60) }
    }
}

impl HlcConfig {
    /// This configuration with a different maximum forward drift.
    pub fn with_max_forward_drift(mut self, drift: Duration) -> Self {
        self.max_forward_drift = drift;
        self
    }
}

/// A node's hybrid logical clock.
///
/// ```
/// use peergroup_base::UnixTime;
/// use peergroup_graph::hlc::{HlcClock, HlcConfig};
///
/// let mut a = HlcClock::new(1, HlcConfig::default());
/// let mut b = HlcClock::new(2, HlcConfig::default());
/// let t = UnixTime::from_millis(1_000);
/// let sent = a.now(t);
/// // b's wall clock is behind, yet its receive is stamped after the send
/// let received = b.observe(sent, UnixTime::from_millis(900))?;
/// assert!(received > sent);
/// # Ok::<(), peergroup_graph::GraphError>(())
/// ```
#[derive(Debug, Clone)]
pub struct HlcClock {
    node: u64,
    wall: u64,
    logical: u32,
    config: HlcConfig,
}

impl HlcClock {
    /// A clock for the node with tag `node`, starting at zero.
    pub fn new(node: u64, config: HlcConfig) -> Self {
        HlcClock { node, wall: 0, logical: 0, config }
    }

    /// A clock for `node` (tag from [`HlcClock::node_tag`]).
    pub fn for_node(node: &NodeId, config: HlcConfig) -> Self {
        Self::new(Self::node_tag(node), config)
    }

    /// The tag of a node: the first 8 bytes of its id, big-endian.
    pub fn node_tag(node: &NodeId) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&node.as_bytes()[..8]);
        u64::from_be_bytes(b)
    }

    /// The configuration.
    pub fn config(&self) -> &HlcConfig {
        &self.config
    }

    /// The last timestamp this clock issued (or [`Hlc::ZERO`] with this node's tag).
    pub fn last(&self) -> Hlc {
        Hlc { wall: self.wall, logical: self.logical, node: self.node }
    }

    /// Moves the clock so that every later timestamp is greater than `seen` (for example
    /// the newest modification time in the store after a restart). No drift check: the
    /// timestamps come from this node's own storage.
    pub fn resume(&mut self, seen: Hlc) {
        if (seen.wall, seen.logical) > (self.wall, self.logical) {
            self.wall = seen.wall;
            self.logical = seen.logical;
        }
    }

    /// The send / local-event rule: `l ← max(l, pt)`; the counter increments if `l` did
    /// not move, else resets to 0.
    pub fn now(&mut self, wall: UnixTime) -> Hlc {
        let pt = wall.as_millis();
        if pt > self.wall {
            self.wall = pt;
            self.logical = 0;
        } else {
            self.tick();
        }
        self.last()
    }

    /// The receive rule: `l ← max(l, l_m, pt)`; the counter becomes one more than the
    /// largest counter among the parts equal to the new `l` (0 if only `pt` is).
    ///
    /// Refuses, and leaves the clock unchanged, if `remote.wall` is more than
    /// [`HlcConfig::max_forward_drift`] ahead of `wall` ([`GraphError::ClockDrift`]).
    pub fn observe(&mut self, remote: Hlc, wall: UnixTime) -> Result<Hlc, GraphError> {
        let pt = wall.as_millis();
        let max_ms = u64::try_from(self.config.max_forward_drift.as_millis()).unwrap_or(u64::MAX);
        let ahead_ms = remote.wall.saturating_sub(pt);
        if ahead_ms > max_ms {
            return Err(GraphError::ClockDrift { remote, ahead_ms, max_ms });
        }
        let l = self.wall.max(remote.wall).max(pt);
        match (l == self.wall, l == remote.wall) {
            (true, true) => {
                self.logical = self.logical.max(remote.logical);
                self.tick();
            }
            (true, false) => self.tick(),
            (false, true) => {
                self.wall = l;
                self.logical = remote.logical;
                self.tick();
            }
            (false, false) => {
                self.wall = l;
                self.logical = 0;
            }
        }
        Ok(self.last())
    }

    /// `logical + 1`; on counter overflow the wall part moves one millisecond forward
    /// instead, which keeps timestamps strictly increasing.
    fn tick(&mut self) {
        match self.logical.checked_add(1) {
            Some(c) => self.logical = c,
            None => {
                self.wall = self.wall.saturating_add(1);
                self.logical = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> UnixTime {
        UnixTime::from_millis(v)
    }

    #[test]
    fn local_events_strictly_increase_even_if_the_wall_clock_stalls_or_jumps_back() {
        let mut c = HlcClock::new(7, HlcConfig::default());
        let a = c.now(ms(100));
        let b = c.now(ms(100));
        let d = c.now(ms(50));
        let e = c.now(ms(200));
        assert!(a < b && b < d && d < e);
        assert_eq!((a.wall(), a.logical()), (ms(100), 0));
        assert_eq!((b.wall(), b.logical()), (ms(100), 1));
        assert_eq!((d.wall(), d.logical()), (ms(100), 2));
        assert_eq!((e.wall(), e.logical()), (ms(200), 0));
        assert_eq!(e.node(), 7);
    }

    #[test]
    fn receive_rules() {
        let cfg = HlcConfig::default();
        // remote ahead (within drift): adopt remote wall, counter = remote + 1
        let mut c = HlcClock::new(1, cfg);
        c.now(ms(100));
        let r = c.observe(Hlc::new(ms(150), 4, 2), ms(120)).unwrap();
        assert_eq!((r.wall(), r.logical(), r.node()), (ms(150), 5, 1));
        // physical time ahead of both: reset counter
        let r = c.observe(Hlc::new(ms(140), 9, 2), ms(300)).unwrap();
        assert_eq!((r.wall(), r.logical()), (ms(300), 0));
        // equal walls: max counter + 1
        let r = c.observe(Hlc::new(ms(300), 6, 2), ms(250)).unwrap();
        assert_eq!((r.wall(), r.logical()), (ms(300), 7));
        // local ahead: counter + 1
        let r = c.observe(Hlc::new(ms(10), 99, 2), ms(250)).unwrap();
        assert_eq!((r.wall(), r.logical()), (ms(300), 8));
    }

    #[test]
    fn refuses_excessive_drift_and_stays_unchanged() {
        let mut c =
            HlcClock::new(1, HlcConfig::default().with_max_forward_drift(Duration::from_secs(1)));
        let before = c.now(ms(1_000));
        let err = c.observe(Hlc::new(ms(2_001), 0, 2), ms(1_000)).unwrap_err();
        assert!(matches!(err, GraphError::ClockDrift { ahead_ms: 1_001, max_ms: 1_000, .. }));
        assert_eq!(c.last(), before);
        assert!(c.observe(Hlc::new(ms(2_000), 0, 2), ms(1_000)).is_ok());
    }

    #[test]
    fn counter_overflow_advances_wall() {
        let mut c = HlcClock::new(1, HlcConfig::default());
        c.resume(Hlc::new(ms(5), u32::MAX, 0));
        let t = c.now(ms(5));
        assert_eq!((t.wall(), t.logical()), (ms(6), 0));
    }

    #[test]
    fn resume_never_moves_back() {
        let mut c = HlcClock::new(1, HlcConfig::default());
        c.now(ms(500));
        c.resume(Hlc::new(ms(100), 3, 9));
        assert_eq!(c.last().wall(), ms(500));
        c.resume(Hlc::new(ms(900), 3, 9));
        assert!(c.now(ms(0)) > Hlc::new(ms(900), 3, u64::MAX));
    }

    #[test]
    fn byte_order_equals_timestamp_order() {
        let ts = [
            Hlc::new(ms(0), 0, 0),
            Hlc::new(ms(0), 0, 1),
            Hlc::new(ms(0), 1, 0),
            Hlc::new(ms(1), 0, 0),
            Hlc::new(ms(256), 0, 0),
            Hlc::MAX,
        ];
        for w in ts.windows(2) {
            assert!(w[0] < w[1]);
            assert!(w[0].to_bytes() < w[1].to_bytes());
            assert_eq!(Hlc::from_bytes(&w[1].to_bytes()), w[1]);
        }
    }

    proptest::proptest! {
        /// Causality: every receive is stamped after the observed send and after the
        /// receiver's previous event, whatever the (drift-bounded) wall clocks say.
        #[test]
        fn happens_before_is_preserved(
            steps in proptest::collection::vec((0u8..3, 0u64..200_000, 0u64..200_000), 1..200)
        ) {
            let cfg = HlcConfig::default();
            let mut clocks = [HlcClock::new(1, cfg), HlcClock::new(2, cfg)];
            let mut last = [Hlc::ZERO, Hlc::ZERO];
            for (kind, wa, wb) in steps {
                let walls = [ms(wa), ms(wb)];
                match kind {
                    0 => { let t = clocks[0].now(walls[0]); proptest::prop_assert!(t > last[0]); last[0] = t; }
                    1 => { let t = clocks[1].now(walls[1]); proptest::prop_assert!(t > last[1]); last[1] = t; }
                    _ => {
                        let sent = clocks[0].now(walls[0]);
                        last[0] = sent;
                        // a send from the future beyond the drift bound is refused
                        match clocks[1].observe(sent, walls[1]) {
                            Ok(r) => { proptest::prop_assert!(r > sent && r > last[1]); last[1] = r; }
                            Err(_) => proptest::prop_assert!(sent.wall().as_millis() > wb + 60_000),
                        }
                    }
                }
            }
        }
    }
}
