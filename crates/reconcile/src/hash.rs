//! The hash functions of the protocol (`proto-specs/reconcile.md` §3).
//!
//! * [`siphash24_128`]: SipHash-2-4 with 128-bit output (Aumasson and Bernstein, the
//!   reference `siphash.c` with `outlen = 16`), keyed with the session salt. It turns a
//!   32-byte digest into an [`ItemHash`]: a 64-bit *key* (what the coded symbols carry) and
//!   a 64-bit *term* (summed into the set fingerprint, and feeding the difference sketch).
//! * [`mix64`]: the splitmix64 finaliser (Stafford's "mix13"), a bijection on `u64`. It
//!   derives a key's checksum and drives the index mapping's random number generator.

/// SipHash-2-4 with 128-bit output of `message` under the 16-byte `key`.
///
/// Returns the 16 output bytes in the order of the reference implementation (two
/// little-endian 64-bit words).
pub(crate) fn siphash24_128(key: &[u8; 16], message: &[u8]) -> [u8; 16] {
    let k0 = u64::from_le_bytes(first8(&key[..8]));
    let k1 = u64::from_le_bytes(first8(&key[8..]));
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f83, // 0x…6f6d ^ 0xee: the 128-bit variant
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    let mut blocks = message.chunks_exact(8);
    for block in &mut blocks {
        let m = u64::from_le_bytes(first8(block));
        v[3] ^= m;
        sip_round(&mut v);
        sip_round(&mut v);
        v[0] ^= m;
    }
    let tail = blocks.remainder();
    let mut last = [0u8; 8];
    last[..tail.len()].copy_from_slice(tail);
    // The reference takes the length modulo 256 into the top byte.
    last[7] = message.len() as u8;
    let m = u64::from_le_bytes(last);
    v[3] ^= m;
    sip_round(&mut v);
    sip_round(&mut v);
    v[0] ^= m;

    v[2] ^= 0xee;
    for _ in 0..4 {
        sip_round(&mut v);
    }
    let out0 = v[0] ^ v[1] ^ v[2] ^ v[3];
    v[1] ^= 0xdd;
    for _ in 0..4 {
        sip_round(&mut v);
    }
    let out1 = v[0] ^ v[1] ^ v[2] ^ v[3];
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&out0.to_le_bytes());
    out[8..].copy_from_slice(&out1.to_le_bytes());
    out
}

/// The first 8 bytes of a slice that has at least 8 (callers pass exact 8-byte pieces).
fn first8(bytes: &[u8]) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(&bytes[..8]);
    out
}

#[inline(always)]
fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13);
    v[1] ^= v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16);
    v[3] ^= v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21);
    v[3] ^= v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17);
    v[1] ^= v[2];
    v[2] = v[2].rotate_left(32);
}

/// The splitmix64 finaliser: a bijection of `u64` with full avalanche.
#[inline(always)]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The splitmix64 increment (the golden ratio, odd).
pub(crate) const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// XORed into a key before mixing, so that a key's checksum differs from the outputs of
/// its own index-mapping generator (which mixes `key + n·GOLDEN_GAMMA`).
const CHECKSUM_TWEAK: u64 = 0x5851_f42d_4c95_7f2d;

/// The checksum of a key (`proto-specs/reconcile.md` §3.2): a coded symbol is *pure*
/// when its count is ±1 and its checksum sum equals `checksum(key sum)`.
#[inline(always)]
pub(crate) fn checksum(key: u64) -> u64 {
    mix64(key ^ CHECKSUM_TWEAK)
}

/// What the protocol derives from one 32-byte digest under a salt (§3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ItemHash {
    /// The 64-bit key the coded symbols, key lists and requests carry.
    pub(crate) key: u64,
    /// Summed (mod 2^64) into the set fingerprint; its bits also place the item in the
    /// difference sketch.
    pub(crate) term: u64,
}

impl ItemHash {
    /// Hashes one digest under the session salt.
    pub(crate) fn of(salt: &[u8; 16], digest: &[u8; 32]) -> Self {
        let h = siphash24_128(salt, digest);
        Self { key: u64::from_le_bytes(first8(&h[..8])), term: u64::from_le_bytes(first8(&h[8..])) }
    }
}

/// Derives the salt of the next attempt from the salt of the previous one (an
/// implementation choice: the protocol only needs the initiator to pick a new salt).
pub(crate) fn next_salt(salt: &[u8; 16]) -> [u8; 16] {
    siphash24_128(salt, b"peergroup-reconcile next salt")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    /// `vectors_sip128` of the SipHash reference repository (key 00..0f, message 00..len-1),
    /// for a few lengths including 32, the only one the protocol uses.
    #[test]
    fn siphash128_reference_vectors() {
        let key: [u8; 16] = std::array::from_fn(|i| i as u8);
        let msg: Vec<u8> = (0u8..64).collect();
        for (len, want) in [
            (0, "a3817f04ba25a8e66df67214c7550293"),
            (1, "da87c1d86b99af44347659119b22fc45"),
            (7, "a1f1ebbed8dbc153c0b84aa61ff08239"),
            (8, "3b62a9ba6258f5610f83e264f31497b4"),
            (15, "5493e99933b0a8117e08ec0f97cfc3d9"),
            (31, "2939b0183223fafc1723de4f52c43d35"),
            (32, "7c3956ca5eeafc3e363e9d556546eb68"),
            (33, "77c6077146f01c32b6b69d5f4ea9ffcf"),
            (63, "5150d1772f50834a503e069a973fbd7c"),
        ] {
            assert_eq!(siphash24_128(&key, &msg[..len]).to_vec(), unhex(want), "length {len}");
        }
    }

    #[test]
    fn mix64_known_values() {
        // splitmix64 seeded with 0: the first output is mix64(GOLDEN_GAMMA).
        assert_eq!(mix64(GOLDEN_GAMMA), 0xe220_a839_7b1d_cdaf);
        assert_eq!(mix64(0), 0);
    }
}
