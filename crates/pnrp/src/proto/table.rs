//! The routing table of one cloud: k-buckets over the XOR metric (`proto-specs/pnrp.md` §5).
//!
//! Bucket `i` holds contacts whose id shares exactly `i` leading bits with ours, at most
//! `k` of them (Kademlia §2.2). Admission rules:
//!
//! * A contact we **heard from directly** (it sent us a request or answered one) has proven
//!   it is reachable at its address: it enters at once if its bucket has room.
//! * A contact we only **heard of** (from another node's response) must pass a
//!   return-routability check first: the caller pings it, and only a matching `Pong`
//!   admits it ([`RoutingTable::offer`] says when to ping).
//! * A full bucket keeps its old contacts (they have proven to stay up, Kademlia §2.2):
//!   a newcomer goes to the bucket's small replacement cache, and if the least recently
//!   seen entry has been quiet for a while the caller pings it; only if that ping fails is
//!   it replaced ([`RoutingTable::failed`]).
//! * IP diversity: at most `per_bucket` contacts of one IPv4 /24 or IPv6 /48 in a bucket
//!   and `per_table` in the whole table, so one network cannot fill a table.
//! * Referral diversity: a contact we were told about carries its *referrer* (the node
//!   whose answer named it; `None` if it contacted us itself or came from configuration).
//!   At most `per_referrer` contacts of a bucket may come from one referrer, so one lying
//!   answer — say to a bucket refresh — cannot fill a bucket with the liar's friends.
//!
//! Contacts that failed a request are not handed out to others, and are replaced from the
//! replacement cache, or dropped after [`MAX_FAILURES`] failures in a row.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use peergroup_base::{Instant, NodeId, PeerAddr};

use crate::proto::key::{Distance, Key};

/// Consecutive failed requests after which a contact with no replacement is dropped.
pub const MAX_FAILURES: u8 = 3;
/// Replacement-cache size per bucket.
pub const REPLACEMENTS_PER_BUCKET: usize = 4;

/// IP and referral diversity limits of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubnetLimits {
    /// Most contacts of one /24 (IPv4) or /48 (IPv6) in one bucket. Default: 2 (the issue's
    /// limit; S-Kademlia §4.1 argues for a small constant).
    pub per_bucket: usize,
    /// Most contacts of one /24 or /48 in the whole table. Default: 10, half a bucket, so
    /// a single network can never own the bucket that covers a target.
    pub per_table: usize,
}

impl Default for SubnetLimits {
    fn default() -> Self {
        SubnetLimits { per_bucket: 2, per_table: 10 }
    }
}

/// An IPv4 /24 or IPv6 /48.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subnet {
    /// The first three bytes of an IPv4 address.
    V4([u8; 3]),
    /// The first six bytes of an IPv6 address.
    V6([u8; 6]),
}

impl Subnet {
    /// The subnet of an address (IPv4-mapped IPv6 counts as IPv4).
    pub fn of(addr: &SocketAddr) -> Subnet {
        match addr.ip() {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                Subnet::V4([o[0], o[1], o[2]])
            }
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => {
                    let o = v4.octets();
                    Subnet::V4([o[0], o[1], o[2]])
                }
                None => {
                    let o = v6.octets();
                    Subnet::V6([o[0], o[1], o[2], o[3], o[4], o[5]])
                }
            },
        }
    }
}

/// The first 64 bits of a position: the top word of every XOR distance to it, and a
/// compact handle for searching (ids are SHA-256 outputs, so prefixes practically never
/// collide; every match is confirmed on the whole id).
fn prefix(node: &NodeId) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&node.0[..8]);
    u64::from_be_bytes(w)
}

/// A contact in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Id and address.
    pub peer: PeerAddr,
    /// When we last heard from it directly.
    pub last_seen: Instant,
    /// Failed requests in a row.
    pub failures: u8,
    /// The subnet of its address.
    pub subnet: Subnet,
    /// The id prefix of the node whose answer named it, if we did not hear from it
    /// unprompted (a prefix is enough to count referrals).
    pub referrer: Option<u64>,
}

#[derive(Debug, Clone, Copy)]
struct Replacement {
    peer: PeerAddr,
    referrer: Option<NodeId>,
    /// Reachability proven (no return-routability check needed).
    verified: bool,
}

/// The fields of a contact that every message touches, packed together (32 bytes) so
/// that scanning a bucket reads one small array.
#[derive(Debug, Clone, Copy)]
struct Hot {
    prefix: u64,
    last_seen: Instant,
    /// Prefix of the referrer; 0 for none.
    referrer: u64,
    subnet: Subnet,
    failures: u8,
}

/// One k-bucket: the hot fields of its contacts in one dense array, their addresses in
/// another.
#[derive(Debug, Default, Clone)]
struct Bucket {
    hot: Vec<Hot>,
    peers: Vec<PeerAddr>,
    /// Most recent last.
    replacements: Vec<Replacement>,
    /// The contact an eviction ping is testing, if one is in flight.
    probing: Option<NodeId>,
}

/// A referrer as stored: its prefix, 0 standing for none (a real prefix of 0 is a 2^-64
/// event and would only make one referral uncounted).
fn referrer_prefix(r: Option<u64>) -> u64 {
    r.unwrap_or(0)
}

impl Bucket {
    fn len(&self) -> usize {
        self.hot.len()
    }

    fn position(&self, node: &NodeId) -> Option<usize> {
        let p = prefix(node);
        let mut i = 0;
        while i < self.hot.len() {
            if self.hot[i].prefix == p && self.peers[i].node == *node {
                return Some(i);
            }
            i += 1;
        }
        None
    }

    fn push(&mut self, e: Entry, k: usize) {
        if self.hot.len() == self.hot.capacity() {
            // grow to at most k: a full bucket holds exactly k, with no slack
            let want = (self.hot.capacity() * 2).max(4).min(k.max(1)).max(self.hot.len() + 1);
            self.hot.reserve_exact(want - self.hot.len());
            self.peers.reserve_exact(want - self.peers.len());
        }
        self.hot.push(Hot {
            prefix: prefix(&e.peer.node),
            last_seen: e.last_seen,
            referrer: referrer_prefix(e.referrer),
            subnet: e.subnet,
            failures: e.failures,
        });
        self.peers.push(e.peer);
    }

    fn remove(&mut self, i: usize) -> Entry {
        let h = self.hot.remove(i);
        let peer = self.peers.remove(i);
        Entry {
            peer,
            last_seen: h.last_seen,
            failures: h.failures,
            subnet: h.subnet,
            referrer: (h.referrer != 0).then_some(h.referrer),
        }
    }

    fn entry(&self, i: usize) -> Entry {
        let h = self.hot[i];
        Entry {
            peer: self.peers[i],
            last_seen: h.last_seen,
            failures: h.failures,
            subnet: h.subnet,
            referrer: (h.referrer != 0).then_some(h.referrer),
        }
    }

    /// Index of the least recently seen entry.
    fn least_recent(&self) -> Option<usize> {
        let mut best: Option<(Instant, usize)> = None;
        for (i, h) in self.hot.iter().enumerate() {
            if best.is_none_or(|(b, _)| h.last_seen < b) {
                best = Some((h.last_seen, i));
            }
        }
        best.map(|(_, i)| i)
    }
}

/// What [`RoutingTable::seen`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Already in the table; refreshed.
    Refreshed,
    /// Newly admitted.
    Admitted,
    /// The bucket is full; kept as a replacement. If `probe` is set, the caller should
    /// ping that least-recently-seen entry and call [`RoutingTable::failed`] if it does not
    /// answer.
    Full {
        /// Entry to test.
        probe: Option<PeerAddr>,
    },
    /// Refused by the diversity limits (or it is ourselves).
    Refused,
}

/// What [`RoutingTable::offer`] asks of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Nothing to do (known, refused, or kept as an unverified replacement).
    Ignore,
    /// Ping it; a `Pong` from it admits it through [`RoutingTable::seen`].
    CheckReachability,
}

/// What [`RoutingTable::failed`] asks of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// Nothing more to do.
    Done,
    /// An unverified replacement could take the place: ping it (its referrer given).
    CheckReachability(PeerAddr, Option<NodeId>),
}

/// The k-bucket routing table of one cloud.
#[derive(Debug, Clone)]
pub struct RoutingTable {
    me: Key,
    k: usize,
    per_referrer: usize,
    limits: Option<SubnetLimits>,
    buckets: Vec<Bucket>,
    per_subnet: rustc_hash::FxHashMap<Subnet, u16>,
    len: usize,
    version: u64,
}

impl RoutingTable {
    /// An empty table around `me` with buckets of `k`, at most `per_referrer` contacts per
    /// referrer in a bucket, and optional IP diversity limits.
    pub fn new(me: NodeId, k: usize, per_referrer: usize, limits: Option<SubnetLimits>) -> Self {
        RoutingTable {
            me: Key::of_node(&me),
            k: k.max(1),
            per_referrer: per_referrer.max(1),
            limits,
            buckets: Vec::new(),
            per_subnet: HashMap::default(),
            len: 0,
            version: 0,
        }
    }

    /// Our own position.
    pub fn me(&self) -> Key {
        self.me
    }

    /// Number of contacts.
    pub fn len(&self) -> usize {
        self.len
    }

    /// `true` if empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A counter that changes whenever the set of contacts changes.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Bucket index of a position (its common prefix length with us, at most 255).
    pub fn bucket_of(&self, key: &Key) -> usize {
        (self.me.common_prefix_len(key).min(255)) as usize
    }

    /// Number of buckets allocated (one past the highest index ever used).
    pub fn bucket_count(&self) -> usize {
        self.buckets.len()
    }

    /// Contacts in bucket `i`.
    pub fn bucket_len(&self, i: usize) -> usize {
        self.buckets.get(i).map_or(0, Bucket::len)
    }

    /// `true` if bucket `i` holds k contacts.
    pub fn bucket_full(&self, i: usize) -> bool {
        self.bucket_len(i) >= self.k
    }

    /// The contact with this id, if present.
    pub fn get(&self, node: &NodeId) -> Option<Entry> {
        let i = self.bucket_of(&Key::of_node(node));
        let b = self.buckets.get(i)?;
        b.position(node).map(|p| b.entry(p))
    }

    /// `true` if present.
    pub fn contains(&self, node: &NodeId) -> bool {
        self.get(node).is_some()
    }

    /// Every contact, bucket by bucket.
    pub fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        self.buckets.iter().flat_map(|b| (0..b.len()).map(move |i| b.entry(i)))
    }

    /// The contacts of bucket `i`.
    pub fn bucket_entries(&self, i: usize) -> Vec<Entry> {
        self.buckets.get(i).map_or_else(Vec::new, |b| (0..b.len()).map(|j| b.entry(j)).collect())
    }

    fn bucket_mut(&mut self, i: usize) -> &mut Bucket {
        if self.buckets.len() <= i {
            self.buckets.resize_with(i + 1, Bucket::default);
        }
        &mut self.buckets[i]
    }

    fn subnet_allows(&self, bucket: usize, peer: &PeerAddr) -> bool {
        let Some(limits) = self.limits else {
            return true;
        };
        let subnet = Subnet::of(&peer.addr);
        if usize::from(self.per_subnet.get(&subnet).copied().unwrap_or(0)) >= limits.per_table {
            return false;
        }
        let in_bucket = self
            .buckets
            .get(bucket)
            .map_or(0, |b| b.hot.iter().filter(|h| h.subnet == subnet).count());
        in_bucket < limits.per_bucket
    }

    fn referrer_allows(&self, bucket: usize, referrer: Option<NodeId>) -> bool {
        let Some(r) = referrer else {
            return true;
        };
        let r = prefix(&r);
        let from_r = self
            .buckets
            .get(bucket)
            .map_or(0, |b| b.hot.iter().filter(|h| h.referrer == r).count());
        from_r < self.per_referrer
    }

    fn allows(&self, bucket: usize, peer: &PeerAddr, referrer: Option<NodeId>) -> bool {
        self.referrer_allows(bucket, referrer) && self.subnet_allows(bucket, peer)
    }

    fn insert(&mut self, bucket: usize, peer: PeerAddr, referrer: Option<NodeId>, now: Instant) {
        let subnet = Subnet::of(&peer.addr);
        if self.limits.is_some() {
            *self.per_subnet.entry(subnet).or_default() += 1;
        }
        let k = self.k;
        let b = self.bucket_mut(bucket);
        b.replacements.retain(|r| r.peer.node != peer.node);
        b.push(
            Entry {
                peer,
                last_seen: now,
                failures: 0,
                subnet,
                referrer: referrer.as_ref().map(prefix),
            },
            k,
        );
        self.len += 1;
        self.version += 1;
    }

    fn remove_at(&mut self, bucket: usize, pos: usize) -> Entry {
        let e = self.buckets[bucket].remove(pos);
        if self.limits.is_some()
            && let Some(n) = self.per_subnet.get_mut(&e.subnet)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_subnet.remove(&e.subnet);
            }
        }
        self.len -= 1;
        self.version += 1;
        e
    }

    /// We heard from `peer` directly: it sent us a request (`referrer` `None`) or answered
    /// one we sent because `referrer` named it. `probe_after`: how long the least recently
    /// seen entry of a full bucket must have been quiet before it is worth a ping.
    pub fn seen(
        &mut self,
        peer: PeerAddr,
        referrer: Option<NodeId>,
        now: Instant,
        probe_after: Duration,
    ) -> Seen {
        let key = Key::of_node(&peer.node);
        if key == self.me {
            return Seen::Refused;
        }
        let i = self.bucket_of(&key);
        if let Some(b) = self.buckets.get_mut(i)
            && let Some(pos) = b.position(&peer.node)
        {
            b.hot[pos].last_seen = now;
            b.hot[pos].failures = 0;
            if b.peers[pos].addr != peer.addr {
                // Same key, new address (the node moved); the authenticated sender wins.
                // (The subnet census keeps the old subnet until the entry leaves: a bound,
                // not an exact count.)
                b.peers[pos] = peer;
            }
            if b.probing == Some(peer.node) {
                b.probing = None;
            }
            return Seen::Refreshed;
        }
        if self.bucket_len(i) < self.k {
            if !self.allows(i, &peer, referrer) {
                return Seen::Refused;
            }
            self.insert(i, peer, referrer, now);
            return Seen::Admitted;
        }
        // Full: keep it as a replacement (the diversity limits apply when it is promoted).
        let b = self.bucket_mut(i);
        if let Some(pos) = b.replacements.iter().position(|r| r.peer.node == peer.node) {
            b.replacements.remove(pos);
        } else if b.replacements.len() >= REPLACEMENTS_PER_BUCKET {
            b.replacements.remove(0);
        }
        b.replacements.push(Replacement { peer, referrer, verified: true });
        if b.probing.is_some() {
            return Seen::Full { probe: None };
        }
        let probe = b.least_recent().and_then(|lrs| {
            (now.saturating_since(b.hot[lrs].last_seen) >= probe_after).then(|| b.peers[lrs])
        });
        if let Some(p) = probe {
            b.probing = Some(p.node);
        }
        Seen::Full { probe }
    }

    /// `referrer`'s answer named `peer`.
    pub fn offer(&mut self, peer: PeerAddr, referrer: Option<NodeId>) -> Offer {
        let key = Key::of_node(&peer.node);
        if key == self.me {
            return Offer::Ignore;
        }
        let i = self.bucket_of(&key);
        if let Some(b) = self.buckets.get(i)
            && b.position(&peer.node).is_some()
        {
            return Offer::Ignore;
        }
        if self.bucket_len(i) < self.k {
            return if self.allows(i, &peer, referrer) {
                Offer::CheckReachability
            } else {
                Offer::Ignore
            };
        }
        let b = self.bucket_mut(i);
        if !b.replacements.iter().any(|r| r.peer.node == peer.node) {
            if b.replacements.len() >= REPLACEMENTS_PER_BUCKET {
                // keep verified replacements in preference to hearsay
                if let Some(pos) = b.replacements.iter().position(|r| !r.verified) {
                    b.replacements.remove(pos);
                } else {
                    return Offer::Ignore;
                }
            }
            b.replacements.insert(0, Replacement { peer, referrer, verified: false });
        }
        Offer::Ignore
    }

    /// A request to `node` failed (timeout or unreachable) at `now`.
    pub fn failed(&mut self, node: &NodeId, now: Instant) -> Failed {
        let key = Key::of_node(node);
        let i = self.bucket_of(&key);
        let Some(b) = self.buckets.get_mut(i) else {
            return Failed::Done;
        };
        if b.probing == Some(*node) {
            b.probing = None;
        }
        let Some(pos) = b.position(node) else {
            b.replacements.retain(|r| r.peer.node != *node);
            return Failed::Done;
        };
        b.hot[pos].failures = b.hot[pos].failures.saturating_add(1);
        let failures = b.hot[pos].failures;
        if let Some(rpos) = b.replacements.iter().rposition(|r| r.verified) {
            let r = b.replacements.remove(rpos);
            self.remove_at(i, pos);
            if self.allows(i, &r.peer, r.referrer) {
                self.insert(i, r.peer, r.referrer, now);
            }
            return Failed::Done;
        }
        if failures >= MAX_FAILURES {
            self.remove_at(i, pos);
        }
        match self.buckets[i].replacements.pop() {
            Some(r) => Failed::CheckReachability(r.peer, r.referrer),
            None => Failed::Done,
        }
    }

    /// Removes a contact (e.g. one that served forged data).
    pub fn remove(&mut self, node: &NodeId) -> bool {
        let i = self.bucket_of(&Key::of_node(node));
        let Some(b) = self.buckets.get_mut(i) else {
            return false;
        };
        b.replacements.retain(|r| r.peer.node != *node);
        match b.position(node) {
            Some(pos) => {
                self.remove_at(i, pos);
                true
            }
            None => false,
        }
    }

    /// Up to `n` healthy contacts closest to `target`, closest first, skipping `exclude`.
    pub fn closest(&self, target: &Key, n: usize, exclude: Option<&NodeId>) -> Vec<PeerAddr> {
        let tp = u64::from_be_bytes([
            target.0[0],
            target.0[1],
            target.0[2],
            target.0[3],
            target.0[4],
            target.0[5],
            target.0[6],
            target.0[7],
        ]);
        // (top 64 bits of the distance, bucket, index); ties on the top word (equal id
        // prefixes) are broken on the whole distance below.
        let mut out: Vec<(u64, u16, u16)> = Vec::with_capacity(n + self.k);
        let excluded = exclude.map(prefix);
        let push = |out: &mut Vec<(u64, u16, u16)>, bi: usize, b: &Bucket| {
            for (j, h) in b.hot.iter().enumerate() {
                if h.failures == 0
                    && !(Some(h.prefix) == excluded && Some(&b.peers[j].node) == exclude)
                {
                    out.push((h.prefix ^ tp, bi as u16, j as u16));
                }
            }
        };
        let i = (self.me.common_prefix_len(target).min(255)) as usize;
        // 1. bucket i: every entry shares i+1 bits with the target, closer than all others
        if let Some(b) = self.buckets.get(i) {
            push(&mut out, i, b);
        }
        // 2. buckets above i: all at leading bit i from the target, ordered by the rest
        if out.len() < n {
            for (bi, b) in self.buckets.iter().enumerate().skip(i + 1) {
                push(&mut out, bi, b);
            }
        }
        // 3. buckets below i, nearest first: bucket j < i is at leading bit j
        let mut j = i;
        while out.len() < n && j > 0 {
            j -= 1;
            if let Some(b) = self.buckets.get(j) {
                push(&mut out, j, b);
            }
        }
        let peer =
            |&(_, b, e): &(u64, u16, u16)| self.buckets[usize::from(b)].peers[usize::from(e)];
        out.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0).then_with(|| {
                let (pa, pb) = (peer(a), peer(b));
                target.distance(&Key(pa.node.0)).cmp(&target.distance(&Key(pb.node.0)))
            })
        });
        out.iter().take(n).map(peer).collect()
    }

    /// Estimated number of nodes in the cloud, from the spacing of the `k` contacts
    /// closest to us: if the j-th closest is at fraction `x_j` of the id space, a cloud of
    /// `n` uniformly placed nodes puts it at `x_j ≈ j / n`; the least-squares fit is
    /// `n = Σ j² / Σ j·x_j`. `None` with fewer than 2 contacts. Counts us in.
    pub fn size_estimate(&self) -> Option<f64> {
        let mut near: Vec<Distance> = Vec::with_capacity(self.k);
        for b in self.buckets.iter().rev() {
            near.extend(b.peers.iter().map(|p| self.me.distance(&Key(p.node.0))));
            if near.len() >= self.k {
                break;
            }
        }
        if near.len() < 2 {
            return None;
        }
        near.sort_unstable();
        near.truncate(self.k);
        let (mut num, mut den) = (0.0f64, 0.0f64);
        for (j, d) in near.iter().enumerate() {
            let j = (j + 1) as f64;
            num += j * j;
            den += j * d.as_fraction();
        }
        if den <= 0.0 {
            return None;
        }
        Some(num / den + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddrV4};

    fn peer(id: u8, ip: [u8; 4]) -> PeerAddr {
        let mut n = [0u8; 32];
        n[0] = id;
        n[31] = id;
        PeerAddr {
            node: NodeId(n),
            addr: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(ip), 3587)),
        }
    }

    #[test]
    fn subnet_limit_per_bucket() {
        let me = NodeId([0; 32]);
        let mut t = RoutingTable::new(me, 20, 5, Some(SubnetLimits::default()));
        let now = Instant::ZERO;
        let d = Duration::ZERO;
        // ids 0x80.. all land in bucket 0
        assert_eq!(t.seen(peer(0x80, [10, 0, 0, 1]), None, now, d), Seen::Admitted);
        assert_eq!(t.seen(peer(0x81, [10, 0, 0, 2]), None, now, d), Seen::Admitted);
        assert_eq!(t.seen(peer(0x82, [10, 0, 0, 3]), None, now, d), Seen::Refused);
        assert_eq!(t.seen(peer(0x83, [10, 0, 1, 3]), None, now, d), Seen::Admitted);
        assert_eq!(t.offer(peer(0x84, [10, 0, 0, 9]), None), Offer::Ignore);
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn one_referrer_fills_at_most_its_share_of_a_bucket() {
        let me = NodeId([0; 32]);
        let mut t = RoutingTable::new(me, 20, 5, None);
        let liar = Some(NodeId([0x77; 32]));
        let mut admitted = 0;
        for id in 0x80..0x90u8 {
            let p = peer(id, [10, id, 0, 1]);
            if t.offer(p, liar) == Offer::CheckReachability
                && t.seen(p, liar, Instant::ZERO, Duration::ZERO) == Seen::Admitted
            {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 5);
        // a contact that reaches us by itself is not limited
        assert_eq!(
            t.seen(peer(0x95, [10, 9, 9, 1]), None, Instant::ZERO, Duration::ZERO),
            Seen::Admitted
        );
    }

    #[test]
    fn full_bucket_probes_least_recently_seen_and_replaces_on_failure() {
        let me = NodeId([0; 32]);
        let mut t = RoutingTable::new(me, 2, 5, None);
        let t0 = Instant::ZERO;
        let later = Instant::from_micros(120_000_000);
        let a = peer(0x80, [1, 0, 0, 1]);
        let b = peer(0x81, [1, 0, 1, 1]);
        let c = peer(0x82, [1, 0, 2, 1]);
        let minute = Duration::from_secs(60);
        t.seen(a, None, t0, minute);
        t.seen(b, None, t0, minute);
        assert_eq!(t.seen(c, None, later, minute), Seen::Full { probe: Some(a) });
        assert_eq!(t.failed(&a.node, later), Failed::Done);
        assert!(t.contains(&c.node));
        assert!(!t.contains(&a.node));
    }

    #[test]
    fn closest_orders_by_xor_distance() {
        let me = NodeId([0; 32]);
        let mut t = RoutingTable::new(me, 20, 5, None);
        for id in 1..=200u8 {
            t.seen(peer(id, [2, id, 0, 1]), None, Instant::ZERO, Duration::ZERO);
        }
        let mut target = [0u8; 32];
        target[0] = 0x42;
        let target = Key(target);
        let got = t.closest(&target, 10, None);
        let mut all: Vec<PeerAddr> = t.entries().map(|e| e.peer).collect();
        all.sort_by_key(|p| target.distance(&Key(p.node.0)));
        assert_eq!(got, all[..10].to_vec());
    }
}
