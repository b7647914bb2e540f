//! The per-attempt view of the local set: every digest's key and term under the attempt's
//! salt, sorted by key, plus the set fingerprint and the difference sketch.

use crate::config::TestHooks;
use crate::digest::{Digest, DigestSet};
use crate::hash::ItemHash;
use crate::sketch::Sketch;

/// The key every digest whose first byte is the test hook's prefix gets in attempt 0.
const FORCED_KEY: u64 = 0xc011_1de5_c011_1de5;

/// The key and term of `digest` in attempt `attempt` under `salt` (§3.1), with the test
/// hook applied.
pub(crate) fn item_hash(
    salt: &[u8; 16],
    attempt: u8,
    hooks: &TestHooks,
    digest: &Digest,
) -> ItemHash {
    let mut h = ItemHash::of(salt, digest.as_bytes());
    if attempt == 0 && hooks.collide_prefix == Some(digest.as_bytes()[0]) {
        h.key = FORCED_KEY;
    }
    h
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) key: u64,
    pub(crate) term: u64,
    /// Position of the digest in the [`DigestSet`].
    index: u32,
}

/// Two local digests share a key under this salt: the attempt must use another salt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LocalCollision;

/// The local set under one salt.
#[derive(Debug, Clone)]
pub(crate) struct KeyTable {
    set: DigestSet,
    entries: Vec<Entry>,
    fingerprint: u64,
}

impl KeyTable {
    /// Hashes every digest of `set` under `salt` and sorts by key.
    ///
    /// The set must hold fewer than 2^32 digests (the session checks this).
    pub(crate) fn build(
        set: &DigestSet,
        salt: &[u8; 16],
        attempt: u8,
        hooks: &TestHooks,
    ) -> Result<Self, LocalCollision> {
        let mut fingerprint = 0u64;
        let mut entries: Vec<Entry> = set
            .iter()
            .enumerate()
            .map(|(index, digest)| {
                let h = item_hash(salt, attempt, hooks, digest);
                fingerprint = fingerprint.wrapping_add(h.term);
                Entry { key: h.key, term: h.term, index: index as u32 }
            })
            .collect();
        radix_sort_by_key(&mut entries);
        if entries.windows(2).any(|w| w[0].key == w[1].key) {
            return Err(LocalCollision);
        }
        Ok(Self { set: set.clone(), entries, fingerprint })
    }

    /// How many items the set holds.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The set fingerprint: the sum of all terms modulo 2^64 (§3.3).
    pub(crate) fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The entries in ascending key order.
    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry with this key.
    pub(crate) fn find(&self, key: u64) -> Option<&Entry> {
        self.entries.binary_search_by_key(&key, |e| e.key).ok().map(|i| &self.entries[i])
    }

    /// Whether an item has this key.
    pub(crate) fn contains(&self, key: u64) -> bool {
        self.find(key).is_some()
    }

    /// The digest of an entry.
    pub(crate) fn digest(&self, entry: &Entry) -> Digest {
        self.set.as_slice()[entry.index as usize]
    }

    /// The difference sketch of the whole set (§5).
    pub(crate) fn sketch(&self) -> Sketch {
        let mut sketch = Sketch::default();
        for e in &self.entries {
            sketch.toggle(e.term);
        }
        sketch
    }
}

/// Sorts entries by key: least-significant-digit radix sort, 16 bits per pass. For a
/// million entries this is several times faster than a comparison sort.
fn radix_sort_by_key(entries: &mut Vec<Entry>) {
    if entries.len() < 4096 {
        entries.sort_unstable_by_key(|e| e.key);
        return;
    }
    let mut scratch = entries.clone();
    let mut counts = vec![0usize; 1 << 16];
    for pass in 0..4 {
        let shift = pass * 16;
        counts.iter_mut().for_each(|c| *c = 0);
        for e in entries.iter() {
            counts[((e.key >> shift) & 0xffff) as usize] += 1;
        }
        let mut sum = 0;
        for c in counts.iter_mut() {
            let n = *c;
            *c = sum;
            sum += n;
        }
        for e in entries.iter() {
            let digit = ((e.key >> shift) & 0xffff) as usize;
            scratch[counts[digit]] = *e;
            counts[digit] += 1;
        }
        std::mem::swap(entries, &mut scratch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(n: u32) -> DigestSet {
        (0..n)
            .map(|i| {
                let mut b = [0u8; 32];
                b[..4].copy_from_slice(&i.to_be_bytes());
                b[31] = 7;
                Digest::new(b)
            })
            .collect()
    }

    #[test]
    fn sorted_and_findable() {
        for n in [0, 1, 100, 5000] {
            let s = set(n);
            let t = KeyTable::build(&s, &[9; 16], 0, &TestHooks::default()).unwrap();
            assert_eq!(t.len(), n as usize);
            assert!(t.entries().windows(2).all(|w| w[0].key < w[1].key));
            for d in s.iter() {
                let h = ItemHash::of(&[9; 16], d.as_bytes());
                assert_eq!(t.digest(t.find(h.key).unwrap()), *d);
            }
            let sum = s
                .iter()
                .fold(0u64, |a, d| a.wrapping_add(ItemHash::of(&[9; 16], d.as_bytes()).term));
            assert_eq!(t.fingerprint(), sum);
        }
    }

    #[test]
    fn hook_forces_a_collision_in_attempt_zero_only() {
        let s = set(300); // digests start with byte 0: all would share the forced key
        let hooks = TestHooks { collide_prefix: Some(0), ..TestHooks::default() };
        assert_eq!(KeyTable::build(&s, &[1; 16], 0, &hooks).unwrap_err(), LocalCollision);
        assert!(KeyTable::build(&s, &[1; 16], 1, &hooks).is_ok());
    }
}
