//! The CPA store of one cloud: what this node holds as a replica (`proto-specs/pnrp.md` §6).
//!
//! CPAs are grouped by the DHT key of their name; within a key, by instance (signer and
//! service location), keeping only the highest sequence. A revocation replaces the
//! instance and stays until its own `not_after`, so older versions replayed later are
//! refused. The store is bounded three ways — CPAs per key, CPAs in total, bytes in total —
//! and when full it keeps the keys closest to this node (those it is most likely a
//! replica for) and refuses or evicts the farthest.

use std::collections::{BTreeMap, HashSet};

use peergroup_base::{P2pId, ServiceLocation, UnixTime};

use crate::proto::cpa::{Cpa, CpaDigest, InstanceId, SignedCpa};
use crate::proto::key::{Distance, Key};
use crate::proto::message::StoreStatus;

/// Limits of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// Most instances of one name. Default: 64, the largest `max_results`, so a single
    /// replica can answer any resolve in full.
    pub per_key: usize,
    /// Most CPAs in total. Default: 4,096 — with r = 20 and one name per node a replica
    /// holds about 20, so this leaves two orders of magnitude of headroom.
    pub entries: usize,
    /// Most bytes of CPA bodies in total. Default: 8 MiB (4,096 CPAs of 2 KiB).
    pub bytes: usize,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits { per_key: 64, entries: 4096, bytes: 8 << 20 }
    }
}

#[derive(Debug, Clone)]
struct KeyEntry {
    p2p: P2pId,
    instances: Vec<Cpa>,
}

/// The bounded CPA store of one cloud.
#[derive(Debug, Clone)]
pub struct CpaStore {
    me: Key,
    limits: StoreLimits,
    by_key: BTreeMap<Key, KeyEntry>,
    digests: HashSet<CpaDigest>,
    entries: usize,
    bytes: usize,
}

impl CpaStore {
    /// An empty store of a node at `me`.
    pub fn new(me: Key, limits: StoreLimits) -> Self {
        CpaStore {
            me,
            limits,
            by_key: BTreeMap::new(),
            digests: HashSet::new(),
            entries: 0,
            bytes: 0,
        }
    }

    /// CPAs held (revocations included).
    pub fn len(&self) -> usize {
        self.entries
    }

    /// `true` if nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Bytes of CPA bodies held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// `true` if this exact CPA is held.
    pub fn contains_digest(&self, digest: &CpaDigest) -> bool {
        self.digests.contains(digest)
    }

    /// Number of distinct names held.
    pub fn keys(&self) -> usize {
        self.by_key.len()
    }

    /// Stores a verified CPA.
    pub fn put(&mut self, cpa: Cpa, now: UnixTime) -> StoreStatus {
        let key = cpa.key();
        let instance = cpa.instance();
        if let Some(entry) = self.by_key.get_mut(&key)
            && let Some(pos) = entry.instances.iter().position(|c| c.instance() == instance)
        {
            let held = &entry.instances[pos];
            if held.body().sequence >= cpa.body().sequence {
                return StoreStatus::AlreadyCurrent;
            }
            let old_len = held.signed().body.len();
            let new_len = cpa.signed().body.len();
            if self.bytes - old_len + new_len > self.limits.bytes {
                return StoreStatus::Full;
            }
            self.bytes = self.bytes - old_len + new_len;
            self.digests.remove(&held.digest());
            self.digests.insert(cpa.digest());
            entry.instances[pos] = cpa;
            return StoreStatus::Stored;
        }
        // a new instance: make room if needed
        self.sweep_key(&key, now);
        let per_key_full =
            self.by_key.get(&key).is_some_and(|e| e.instances.len() >= self.limits.per_key);
        if per_key_full {
            return StoreStatus::Full;
        }
        let len = cpa.signed().body.len();
        while self.entries + 1 > self.limits.entries || self.bytes + len > self.limits.bytes {
            if !self.evict_farther_than(&key) {
                return StoreStatus::Full;
            }
        }
        let p2p = cpa.p2p_id();
        self.digests.insert(cpa.digest());
        self.entries += 1;
        self.bytes += len;
        self.by_key
            .entry(key)
            .or_insert_with(|| KeyEntry { p2p, instances: Vec::new() })
            .instances
            .push(cpa);
        StoreStatus::Stored
    }

    /// Evicts one CPA of the key farthest from us, if that key is farther than `key`.
    fn evict_farther_than(&mut self, key: &Key) -> bool {
        let mine = self.me.distance(key);
        let far: Option<(Distance, Key)> =
            self.by_key.keys().map(|k| (self.me.distance(k), *k)).max_by_key(|(d, _)| *d);
        let Some((d, k)) = far else {
            return false;
        };
        if d <= mine {
            return false;
        }
        if let Some(entry) = self.by_key.get_mut(&k)
            && let Some(c) = entry.instances.pop()
        {
            self.entries -= 1;
            self.bytes -= c.signed().body.len();
            self.digests.remove(&c.digest());
            if entry.instances.is_empty() {
                self.by_key.remove(&k);
            }
            return true;
        }
        false
    }

    fn sweep_key(&mut self, key: &Key, now: UnixTime) {
        if let Some(entry) = self.by_key.get_mut(key) {
            let before = entry.instances.len();
            let mut freed = 0;
            let digests = &mut self.digests;
            entry.instances.retain(|c| {
                let keep = !c.is_expired(now);
                if !keep {
                    freed += c.signed().body.len();
                    digests.remove(&c.digest());
                }
                keep
            });
            self.entries -= before - entry.instances.len();
            self.bytes -= freed;
            if entry.instances.is_empty() {
                self.by_key.remove(key);
            }
        }
    }

    /// Removes every expired CPA.
    pub fn sweep(&mut self, now: UnixTime) -> usize {
        let keys: Vec<Key> = self.by_key.keys().copied().collect();
        let before = self.entries;
        for k in keys {
            self.sweep_key(&k, now);
        }
        before - self.entries
    }

    /// Unexpired registrations (no revocations) for `key`, at most `max` and `max_bytes`
    /// of bodies, nearest to `hint` first (by XOR of service locations) or newest first.
    pub fn get(
        &self,
        key: &Key,
        now: UnixTime,
        max: usize,
        max_bytes: usize,
        hint: Option<ServiceLocation>,
    ) -> Vec<SignedCpa> {
        let Some(entry) = self.by_key.get(key) else {
            return Vec::new();
        };
        let mut live: Vec<&Cpa> =
            entry.instances.iter().filter(|c| !c.body().revoked && !c.is_expired(now)).collect();
        rank(&mut live, hint);
        let mut out = Vec::new();
        let mut bytes = 0;
        for c in live.into_iter().take(max) {
            bytes += c.signed().body.len();
            if bytes > max_bytes {
                break;
            }
            out.push(c.signed().clone());
        }
        out
    }

    /// The sequence of `instance` held under `key` (revocations count), if unexpired.
    pub fn holds(&self, key: &Key, instance: &InstanceId, now: UnixTime) -> Option<u64> {
        self.by_key.get(key)?.instances.iter().find_map(|c| {
            (c.instance() == *instance && !c.is_expired(now)).then_some(c.body().sequence)
        })
    }

    /// Every key held, with its P2P ID.
    pub fn key_list(&self) -> impl Iterator<Item = (&Key, P2pId)> {
        self.by_key.iter().map(|(k, e)| (k, e.p2p))
    }

    /// Every unexpired CPA (revocations included) held under `key`.
    pub fn all_for(&self, key: &Key, now: UnixTime) -> Vec<SignedCpa> {
        self.by_key.get(key).map_or_else(Vec::new, |e| {
            e.instances.iter().filter(|c| !c.is_expired(now)).map(|c| c.signed().clone()).collect()
        })
    }

    /// Every CPA held under `key`, expired or not, as verified values.
    pub fn cpas_for(&self, key: &Key) -> &[Cpa] {
        self.by_key.get(key).map_or(&[], |e| &e.instances)
    }
}

/// Orders instances nearest to `hint` first (XOR of service locations), or newest first.
pub(crate) fn rank(list: &mut [&Cpa], hint: Option<ServiceLocation>) {
    match hint {
        Some(h) => list.sort_by_key(|c| location_distance(&h, &c.body().location)),
        None => list.sort_by(|a, b| {
            b.body().sequence.cmp(&a.body().sequence).then(a.instance().cmp(&b.instance()))
        }),
    }
}

/// XOR distance of two service locations, as a 128-bit integer.
pub fn location_distance(a: &ServiceLocation, b: &ServiceLocation) -> u128 {
    u128::from_be_bytes(a.0) ^ u128::from_be_bytes(b.0)
}
