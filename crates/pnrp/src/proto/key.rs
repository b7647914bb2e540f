//! Positions in the DHT and the XOR metric (`proto-specs/pnrp.md` §2).
//!
//! Nodes and names live in one 256-bit space. A node's position is its [`NodeId`]
//! (SHA-256 of its key's SubjectPublicKeyInfo, so nobody picks their place); a name's
//! position is its [`Key::of_name`], a domain-separated SHA-256 of its P2P ID, shared by
//! every registration of the name. Closeness is the XOR of two positions read as a 256-bit
//! unsigned integer (Kademlia, Maymounkov & Mazières 2002, §2.1).

use std::fmt;

use peergroup_base::{NodeId, P2pId};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Domain separator of the name key hash (`proto-specs/pnrp.md` §2).
pub const NAME_KEY_DOMAIN: &[u8] = b"peergroup/pnrp/key/v1";

/// A 256-bit position in the DHT: a node id or the key of a name.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Key(pub [u8; 32]);

impl Key {
    /// The position of a node: its id.
    pub fn of_node(node: &NodeId) -> Key {
        Key(node.0)
    }

    /// The position of a name: `SHA-256("peergroup/pnrp/key/v1" ‖ 0x00 ‖ p2p_id)`.
    ///
    /// Every registration of a name shares its P2P ID and therefore this key, so one
    /// lookup reaches every instance. Hashing (rather than padding the 128-bit P2P ID)
    /// spreads names over the whole space with no structure in the low half.
    pub fn of_name(p2p: &P2pId) -> Key {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(NAME_KEY_DOMAIN);
        ctx.update(&[0]);
        ctx.update(&p2p.0);
        let d = ctx.finish();
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Key(out)
    }

    /// The XOR distance to `other`.
    #[inline]
    pub fn distance(&self, other: &Key) -> Distance {
        let mut w = [0u64; 4];
        for (i, word) in w.iter_mut().enumerate() {
            let mut a = [0u8; 8];
            let mut b = [0u8; 8];
            a.copy_from_slice(&self.0[i * 8..i * 8 + 8]);
            b.copy_from_slice(&other.0[i * 8..i * 8 + 8]);
            *word = u64::from_be_bytes(a) ^ u64::from_be_bytes(b);
        }
        Distance(w)
    }

    /// Number of leading bits shared with `other` (256 if equal). This is the index of
    /// the k-bucket `other` falls into in the table of a node at `self`.
    #[inline]
    pub fn common_prefix_len(&self, other: &Key) -> u32 {
        self.distance(other).leading_zeros()
    }

    /// A uniformly random key sharing exactly `bucket` leading bits with `self` (so it
    /// falls in bucket `bucket` of `self`'s table). `bucket` must be below 256.
    pub fn random_in_bucket(&self, bucket: u32, rng: &mut impl Rng) -> Key {
        let bucket = bucket.min(255) as usize;
        let mut out = [0u8; 32];
        rng.fill(&mut out[..]);
        let (byte, bit) = (bucket / 8, bucket % 8);
        // bytes before `byte` copy self
        out[..byte].copy_from_slice(&self.0[..byte]);
        // within `byte`: the first `bit` bits copy self, bit `bit` is flipped, the rest random
        let keep_mask: u8 = if bit == 0 { 0 } else { 0xffu8 << (8 - bit) };
        let flip: u8 = 0x80 >> bit;
        let mine = self.0[byte];
        out[byte] = (mine & keep_mask) | (!mine & flip) | (out[byte] & !(keep_mask | flip));
        Key(out)
    }

    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl From<NodeId> for Key {
    fn from(n: NodeId) -> Key {
        Key(n.0)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({}…)", hex::encode(&self.0[..8]))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// An XOR distance: a 256-bit unsigned integer as four big-endian words, ordered as the
/// integer.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Distance(pub [u64; 4]);

impl Distance {
    /// The largest distance.
    pub const MAX: Distance = Distance([u64::MAX; 4]);

    /// Leading zero bits (256 for distance zero).
    #[inline]
    pub fn leading_zeros(&self) -> u32 {
        let mut n = 0;
        for w in self.0 {
            if w != 0 {
                return n + w.leading_zeros();
            }
            n += 64;
        }
        n
    }

    /// The distance as a fraction of the whole space, `distance / 2^256`, in `[0, 1)`.
    ///
    /// Precise to about 2^-53 relative to the leading bit, which is plenty to estimate
    /// ranks in networks of any practical size.
    pub fn as_fraction(&self) -> f64 {
        let mut x = 0.0f64;
        let mut scale = 1.0f64;
        for w in self.0 {
            scale /= 18_446_744_073_709_551_616.0; // 2^64
            x += w as f64 * scale;
            if w != 0 && scale < 1e-40 {
                break;
            }
        }
        x
    }
}

impl fmt::Debug for Distance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Distance(2^-{:.1})", -self.as_fraction().max(f64::MIN_POSITIVE).log2())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn distance_is_xor_and_ordered_as_integer() {
        let a = Key([0u8; 32]);
        let mut b = [0u8; 32];
        b[31] = 1;
        let mut c = [0u8; 32];
        c[0] = 0x80;
        assert!(a.distance(&Key(b)) < a.distance(&Key(c)));
        assert_eq!(a.distance(&a), Distance::default());
        assert_eq!(a.common_prefix_len(&a), 256);
        assert_eq!(a.common_prefix_len(&Key(c)), 0);
        assert_eq!(a.common_prefix_len(&Key(b)), 255);
        assert!((a.distance(&Key(c)).as_fraction() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn random_key_lands_in_the_asked_bucket() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..50 {
            let mut me = [0u8; 32];
            rng.fill(&mut me[..]);
            let me = Key(me);
            for bucket in [0u32, 1, 7, 8, 9, 100, 254, 255] {
                let k = me.random_in_bucket(bucket, &mut rng);
                assert_eq!(me.common_prefix_len(&k), bucket);
            }
        }
    }

    #[test]
    fn name_key_is_domain_separated_hash() {
        let p = P2pId([7; 16]);
        assert_eq!(Key::of_name(&p), Key::of_name(&p));
        assert_ne!(Key::of_name(&p), Key::of_name(&P2pId([8; 16])));
    }
}
