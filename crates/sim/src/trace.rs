//! The trace hash and the fast fixed-key hasher used for routing tables.
//!
//! Both use the FxHash word mixer (rotate, xor, multiply by a fixed odd constant): fast,
//! with no per-process random key, so results are identical on every run and platform.
//! Neither is meant to resist adversarial inputs; the simulator only hashes its own data.

const K: u64 = 0x517c_c1b7_2722_0a95;

#[inline]
fn mix(h: u64, w: u64) -> u64 {
    (h.rotate_left(5) ^ w).wrapping_mul(K)
}

/// A 64-bit hash of a byte string (its length, then its bytes in little-endian words).
pub(crate) fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = mix(0, bytes.len() as u64);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = mix(h, u64::from_le_bytes(w));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = mix(h, u64::from_le_bytes(w));
    }
    h
}

/// SplitMix64's finaliser: a bijective avalanche of 64 bits.
pub(crate) fn avalanche(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Kinds of trace records; the first word of each record.
#[derive(Clone, Copy)]
#[repr(u64)]
pub(crate) enum Record {
    Delivered = 1,
    DroppedLoss = 2,
    DroppedPartition = 3,
    DroppedDead = 4,
    DroppedUnreachable = 5,
    DroppedUnencodable = 6,
    TimerFired = 7,
    Emitted = 8,
    PeerDown = 9,
    Command = 10,
    Start = 11,
    Crash = 12,
    Restart = 13,
}

/// The running trace hash: a fold of every record the simulator writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TraceHash(u64);

impl TraceHash {
    /// Folds one record: its kind, the time, and up to a few words of detail.
    #[inline]
    pub(crate) fn record(&mut self, kind: Record, now: u64, words: &[u64]) {
        let mut h = mix(self.0, kind as u64);
        h = mix(h, now);
        for &w in words {
            h = mix(h, w);
        }
        self.0 = h;
    }

    /// The hash so far.
    pub(crate) fn value(&self) -> u64 {
        avalanche(self.0)
    }
}

/// The hasher of the simulator's address and link tables: FxHash (`rustc-hash`), with no
/// per-process key, so runs replay.
pub(crate) type FxBuild = rustc_hash::FxBuildHasher;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_hash_covers_length_and_every_byte() {
        assert_ne!(hash_bytes(b""), hash_bytes(b"\0"));
        assert_ne!(hash_bytes(b"abcdefgh1"), hash_bytes(b"abcdefgh2"));
        assert_ne!(hash_bytes(b"abcdefgh"), hash_bytes(b"abcdefgh\0"));
        assert_eq!(hash_bytes(b"peergroup"), hash_bytes(b"peergroup"));
    }

    #[test]
    fn trace_depends_on_order() {
        let (mut a, mut b) = (TraceHash::default(), TraceHash::default());
        a.record(Record::Delivered, 1, &[1, 2]);
        a.record(Record::TimerFired, 2, &[3]);
        b.record(Record::TimerFired, 2, &[3]);
        b.record(Record::Delivered, 1, &[1, 2]);
        assert_ne!(a.value(), b.value());
    }
}
