//! The iterative lookup (`proto-specs/pnrp.md` §7): Kademlia's node lookup with
//! S-Kademlia's disjoint paths and replica-aware pacing.
//!
//! A lookup walks towards a target position. Each of its `d` **paths** keeps its own
//! candidate list, sorted by XOR distance to the target, and asks the closest candidates
//! it has not asked yet, at most `α` at a time. Every answer brings contacts closer to the
//! target; they join the path's list. A node is used by one path only (the first that
//! heard of it), so `d` paths are disjoint and one adversary cannot sit on all of them.
//!
//! A path ends when it has **converged** (its `width` closest live candidates have all
//! answered and nothing is in flight) or, for name lookups, when `quorum` answers carrying
//! valid CPAs have arrived on it. The lookup ends when every path has ended.
//!
//! **Depth** (hops): a contact from our own table has depth 1; a contact learned from the
//! answer of a depth-`h` node has depth `h + 1`. A resolve's hop count is the depth of the
//! node whose answer completed it.
//!
//! **Stalls**: a request unanswered after `stall` no longer counts against `α` (the path
//! moves on), but its answer is still used if it comes before the request times out.
//!
//! **Replica-aware pacing** (name lookups only): from the cloud's size estimate `n` a
//! candidate at fraction `x` of the id space from the key has about `x·n` nodes closer to
//! the key. If that is below `r/2`, the candidate is almost surely one of the `r` replicas
//! that hold the name; while such a request is in flight and not stalled, the path sends
//! nothing else. In a stable cloud this turns the last round of `α` requests into one.

use std::time::Duration;

use peergroup_base::{Instant, NodeId, PeerAddr};

use crate::proto::key::{Distance, Key};

/// Node ids a lookup has used (FxHash: no per-process key, so runs replay).
pub(crate) type IdSet = rustc_hash::FxHashSet<NodeId>;

/// Most disjoint paths a lookup runs (S-Kademlia evaluates up to 8; more only multiplies
/// the cost).
pub(crate) const MAX_PATHS: usize = 16;

/// State of one candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CandState {
    /// Not asked yet.
    Fresh,
    /// Asked at `sent`.
    InFlight { sent: Instant, likely_replica: bool },
    /// Answered.
    Responded,
    /// Timed out, unreachable, or misbehaved.
    Failed,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Cand {
    pub peer: PeerAddr,
    pub dist: Distance,
    pub depth: u8,
    pub state: CandState,
    /// The node whose answer named it (`None` for starting contacts).
    pub referrer: Option<NodeId>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Path {
    /// Sorted by distance.
    pub cands: Vec<Cand>,
    /// Requests in flight (stalled or not).
    pub in_flight: usize,
    /// Answers carrying valid CPAs.
    pub hits: usize,
    pub finished: bool,
}

/// Pacing parameters (see the module docs).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pacing {
    /// Estimated cloud size.
    pub size: f64,
    /// Candidates with fewer than this many nodes estimated closer are likely replicas.
    pub rank_threshold: f64,
}

/// The settings of one lookup.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LookupParams {
    pub alpha: usize,
    pub width: usize,
    pub paths: usize,
    pub quorum: usize,
    pub stall: Duration,
    pub pacing: Option<Pacing>,
    /// Stop after this many requests (bucket refreshes).
    pub max_requests: u32,
    /// Candidates kept per path (the closest); at least `2 × width`.
    pub keep: usize,
}

/// One lookup's routing state. The core owns the messages; this owns the candidates.
#[derive(Debug, Clone)]
pub(crate) struct Lookup {
    pub target: Key,
    pub params: LookupParams,
    pub paths: Vec<Path>,
    /// Every node placed on some path (disjointness, and no node asked twice).
    used: IdSet,
    me: NodeId,
    pub requests: u32,
    pub responses: u32,
    /// Deepest answer so far.
    pub max_depth: u8,
}

impl Lookup {
    pub(crate) fn new(me: NodeId, target: Key, params: LookupParams) -> Self {
        let paths = params.paths.clamp(1, MAX_PATHS);
        Lookup {
            target,
            params: LookupParams {
                paths,
                alpha: params.alpha.max(1),
                width: params.width.max(1),
                ..params
            },
            paths: vec![Path::default(); paths],
            used: IdSet::default(),
            me,
            requests: 0,
            responses: 0,
            max_depth: 0,
        }
    }

    fn cap(&self) -> usize {
        (self.params.width * 2).max(self.params.keep).max(16)
    }

    /// Adds starting contacts (depth 1), dealt round-robin over the paths in order of
    /// distance, as S-Kademlia splits its initial k closest.
    pub(crate) fn seed(&mut self, peers: &[PeerAddr]) {
        let mut sorted: Vec<(Distance, PeerAddr)> = peers
            .iter()
            .filter(|p| p.node != self.me)
            .map(|p| (self.target.distance(&Key(p.node.0)), *p))
            .collect();
        sorted.sort_unstable_by_key(|a| a.0);
        sorted.dedup_by(|a, b| a.1.node == b.1.node);
        let n = self.paths.len();
        let mut next = 0usize;
        for (_, p) in sorted {
            if !self.used.insert(p.node) {
                continue;
            }
            let path = next % n;
            next += 1;
            self.insert(path, p, 1, None);
        }
    }

    fn insert(&mut self, path: usize, peer: PeerAddr, depth: u8, referrer: Option<NodeId>) {
        let dist = self.target.distance(&Key(peer.node.0));
        let cap = self.cap();
        let cands = &mut self.paths[path].cands;
        let pos = cands.partition_point(|c| c.dist < dist);
        if pos >= cap {
            return;
        }
        cands.insert(pos, Cand { peer, dist, depth, state: CandState::Fresh, referrer });
        if cands.len() > cap {
            // drop the farthest candidate that is not in flight
            if let Some(drop) =
                cands.iter().rposition(|c| !matches!(c.state, CandState::InFlight { .. }))
            {
                cands.remove(drop);
            }
        }
    }

    /// Adds contacts from the answer of `from`, a depth-`depth` node on `path`.
    pub(crate) fn learn(&mut self, path: usize, contacts: &[PeerAddr], depth: u8, from: NodeId) {
        let d = depth.saturating_add(1);
        for c in contacts {
            // a contact no peer could dial (§3.1) is skipped, not failed
            if c.node == self.me
                || !crate::proto::cpa::usable_endpoint(&c.addr)
                || !self.used.insert(c.node)
            {
                continue;
            }
            self.insert(path, *c, d, Some(from));
        }
    }

    /// The referrer of a candidate of `path`.
    pub(crate) fn referrer_of(&self, path: usize, node: &NodeId) -> Option<NodeId> {
        self.find(path, node).and_then(|i| self.paths[path].cands[i].referrer)
    }

    fn is_likely_replica(&self, dist: &Distance) -> bool {
        match self.params.pacing {
            Some(p) => dist.as_fraction() * p.size < p.rank_threshold,
            None => false,
        }
    }

    /// The next request to send, if any: `(path, peer)`. Marks it in flight at `now`.
    /// Returns `None` when every path is waiting, holding, or finished.
    pub(crate) fn poll(&mut self, now: Instant) -> Option<(usize, PeerAddr)> {
        if self.requests >= self.params.max_requests {
            return None;
        }
        for p in 0..self.paths.len() {
            if let Some(peer) = self.poll_path(p, now) {
                self.requests += 1;
                return Some((p, peer));
            }
        }
        None
    }

    fn poll_path(&mut self, p: usize, now: Instant) -> Option<PeerAddr> {
        let stall = self.params.stall;
        let width = self.params.width;
        let alpha = self.params.alpha;
        let path = &self.paths[p];
        if path.finished {
            return None;
        }
        let mut active = 0usize;
        let mut holding = false;
        for c in &path.cands {
            if let CandState::InFlight { sent, likely_replica } = c.state
                && now.saturating_since(sent) < stall
            {
                active += 1;
                holding |= likely_replica;
            }
        }
        if active >= alpha || holding {
            return None;
        }
        let mut seen = 0usize;
        let mut pick = None;
        for (i, c) in path.cands.iter().enumerate() {
            if c.state == CandState::Failed {
                continue;
            }
            seen += 1;
            if seen > width {
                break;
            }
            if c.state == CandState::Fresh {
                pick = Some(i);
                break;
            }
        }
        let i = pick?;
        let likely = self.is_likely_replica(&self.paths[p].cands[i].dist);
        let path = &mut self.paths[p];
        path.cands[i].state = CandState::InFlight { sent: now, likely_replica: likely };
        path.in_flight += 1;
        Some(path.cands[i].peer)
    }

    fn find(&self, path: usize, node: &NodeId) -> Option<usize> {
        self.paths.get(path)?.cands.iter().position(|c| c.peer.node == *node)
    }

    /// An answer from `node` on `path` arrived; returns its depth.
    pub(crate) fn responded(&mut self, path: usize, node: &NodeId) -> u8 {
        self.responses += 1;
        let Some(p) = self.paths.get_mut(path) else {
            return 1;
        };
        p.in_flight = p.in_flight.saturating_sub(1);
        let depth = match p.cands.iter_mut().find(|c| c.peer.node == *node) {
            Some(c) => {
                c.state = CandState::Responded;
                c.depth
            }
            None => 1,
        };
        self.max_depth = self.max_depth.max(depth);
        depth
    }

    /// The request to `node` on `path` failed (or its answer was bad).
    pub(crate) fn failed(&mut self, path: usize, node: &NodeId) {
        if let Some(i) = self.find(path, node) {
            let p = &mut self.paths[path];
            if matches!(p.cands[i].state, CandState::InFlight { .. }) {
                p.in_flight = p.in_flight.saturating_sub(1);
            }
            p.cands[i].state = CandState::Failed;
        } else if let Some(p) = self.paths.get_mut(path) {
            p.in_flight = p.in_flight.saturating_sub(1);
        }
    }

    /// Records an answer with valid CPAs on `path`; ends the path at its quorum.
    pub(crate) fn hit(&mut self, path: usize) {
        if let Some(p) = self.paths.get_mut(path) {
            p.hits += 1;
            if p.hits >= self.params.quorum.max(1) {
                p.finished = true;
            }
        }
    }

    /// Marks converged paths finished; `true` when every path is finished.
    pub(crate) fn check_finished(&mut self) -> bool {
        let width = self.params.width;
        let out_of_budget = self.requests >= self.params.max_requests;
        for p in &mut self.paths {
            if p.finished {
                continue;
            }
            if p.in_flight > 0 {
                continue;
            }
            let mut seen = 0usize;
            let mut fresh = false;
            for c in &p.cands {
                if c.state == CandState::Failed {
                    continue;
                }
                seen += 1;
                if seen > width {
                    break;
                }
                if c.state == CandState::Fresh {
                    fresh = true;
                    break;
                }
            }
            if !fresh || out_of_budget {
                p.finished = true;
            }
        }
        self.paths.iter().all(|p| p.finished)
    }

    /// Nodes that answered, closest first, over all paths.
    /// Candidates that did not fail (answered, in flight or never asked), closest first,
    /// over all paths, with `true` for those that answered.
    pub(crate) fn live_closest(&self) -> Vec<(PeerAddr, bool)> {
        let mut out: Vec<(Distance, PeerAddr, bool)> = self
            .paths
            .iter()
            .flat_map(|p| p.cands.iter())
            .filter(|c| c.state != CandState::Failed)
            .map(|c| (c.dist, c.peer, c.state == CandState::Responded))
            .collect();
        out.sort_unstable_by_key(|a| a.0);
        out.into_iter().map(|(_, p, r)| (p, r)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn peer(b: u8) -> PeerAddr {
        let mut n = [0u8; 32];
        n[0] = b;
        PeerAddr { node: NodeId(n), addr: SocketAddr::from(([10, 0, b, 1], 3587)) }
    }

    fn params(paths: usize) -> LookupParams {
        LookupParams {
            alpha: 3,
            width: 4,
            paths,
            quorum: 1,
            stall: Duration::from_millis(250),
            pacing: None,
            max_requests: u32::MAX,
            keep: 0,
        }
    }

    #[test]
    fn alpha_requests_then_converges() {
        let me = NodeId([0xff; 32]);
        let mut l = Lookup::new(me, Key([0; 32]), params(1));
        l.seed(&[peer(8), peer(4), peer(2), peer(1)]);
        let now = Instant::ZERO;
        let sent: Vec<_> = std::iter::from_fn(|| l.poll(now)).collect();
        assert_eq!(sent.len(), 3, "alpha in flight");
        assert_eq!(sent[0].1, peer(1), "closest first");
        for (p, peer) in &sent {
            l.responded(*p, &peer.node);
        }
        assert!(!l.check_finished(), "the fourth candidate is still fresh");
        let (p, last) = l.poll(now).unwrap();
        l.responded(p, &last.node);
        assert!(l.check_finished());
    }

    #[test]
    fn paths_are_disjoint() {
        let me = NodeId([0xff; 32]);
        let mut l = Lookup::new(me, Key([0; 32]), params(2));
        l.seed(&[peer(1), peer(2), peer(3), peer(4)]);
        l.learn(0, &[peer(5), peer(2)], 1, peer(1).node);
        l.learn(1, &[peer(5), peer(6)], 1, peer(2).node);
        let on = |p: usize| l.paths[p].cands.iter().map(|c| c.peer.node).collect::<Vec<_>>();
        for n in on(0) {
            assert!(!on(1).contains(&n));
        }
        assert!(on(0).contains(&peer(5).node));
    }

    #[test]
    fn pacing_holds_behind_a_likely_replica() {
        let me = NodeId([0xff; 32]);
        let mut p = params(1);
        p.pacing = Some(Pacing { size: 1000.0, rank_threshold: 10.0 });
        let mut l = Lookup::new(me, Key([0; 32]), p);
        l.seed(&[peer(0), peer(0x40), peer(0x80)]); // peer(0) is at distance ~0
        let now = Instant::ZERO;
        assert!(l.poll(now).is_some());
        assert!(l.poll(now).is_none(), "holding behind the likely replica");
        let later = now + Duration::from_millis(300);
        assert!(l.poll(later).is_some(), "stalled: the path moves on");
    }
}
