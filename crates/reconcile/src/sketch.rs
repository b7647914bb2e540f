//! The difference sketch: 512 bytes from which the responder estimates the size of the
//! symmetric difference (`proto-specs/reconcile.md` §5).
//!
//! Items are spread over [`LEVELS`] levels with geometrically falling probability (level
//! `j` takes an item with probability `2^-(j+1)`, the last level takes the rest) and,
//! within a level, over [`BUCKETS`] one-bit buckets. A bucket holds the parity of the
//! number of its items. The sketch is linear: XORing the two sides' sketches gives the
//! sketch of the symmetric difference, in which a bucket is set with probability
//! `(1 − e^{−2λ})/2`, `λ` being the expected number of differing items in it. The estimate
//! is the `d` that maximises the likelihood of the set-bucket counts of all levels at once.
//! A level is informative where `λ` is within a few octaves of 1/2, so together the levels
//! cover any `d` from 1 to about 5·10^7, with a relative error of about 8% (one standard
//! deviation) once `d` is more than a few dozen.
//!
//! Why one-bit buckets: a bucket mostly says "empty or not", and for that one bit per
//! bucket carries about a third more information per bit than a multi-bit tag; levels
//! two-fold apart lose nothing against finer spacing for the same number of bits.
//!
//! The estimate is a local decision aid (how many symbols to send first); two
//! implementations need to agree on the sketch's layout only.

use crate::error::Error;

/// Levels of the sketch.
pub(crate) const LEVELS: usize = 16;
/// Buckets (bits) per level.
pub(crate) const BUCKETS: usize = 256;
/// Encoded size: one bit per bucket.
pub(crate) const SKETCH_BYTES: usize = LEVELS * BUCKETS / 8;

/// A difference sketch (§5.1).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Sketch {
    bits: [u8; SKETCH_BYTES],
}

impl std::fmt::Debug for Sketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sketch({} buckets set)", self.set_per_level().iter().sum::<u32>())
    }
}

impl Default for Sketch {
    fn default() -> Self {
        Self { bits: [0; SKETCH_BYTES] }
    }
}

impl Sketch {
    /// Adds (or, the same, removes) the item whose hash term is `term`.
    #[inline]
    pub(crate) fn toggle(&mut self, term: u64) {
        let level = (term.leading_zeros() as usize).min(LEVELS - 1);
        let bucket = (term & (BUCKETS as u64 - 1)) as usize;
        let bit = level * BUCKETS + bucket;
        self.bits[bit / 8] ^= 1 << (bit % 8);
    }

    /// The encoded bytes (§5.1: bucket `b` of level `j` is bit `j·256 + b`, bit `i` being
    /// bit `i mod 8` (least significant first) of byte `i / 8`).
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bits
    }

    /// Parses encoded bytes; the length must be exactly [`SKETCH_BYTES`].
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let bits = bytes
            .try_into()
            .map_err(|_| Error::BadSketch { len: bytes.len(), expected: SKETCH_BYTES })?;
        Ok(Self { bits })
    }

    /// The sketch of the symmetric difference of the two sets.
    pub(crate) fn xor(&self, other: &Self) -> Self {
        let mut out = self.clone();
        for (a, b) in out.bits.iter_mut().zip(other.bits.iter()) {
            *a ^= b;
        }
        out
    }

    fn set_per_level(&self) -> [u32; LEVELS] {
        let mut z = [0u32; LEVELS];
        let per_level = BUCKETS / 8;
        for (level, count) in z.iter_mut().enumerate() {
            *count = self.bits[level * per_level..(level + 1) * per_level]
                .iter()
                .map(|b| b.count_ones())
                .sum();
        }
        z
    }

    /// Maximum-likelihood estimate of the number of items in the set this sketch describes
    /// (use it on the XOR of two sketches), searched over `[0, max]`.
    pub(crate) fn estimate(&self, max: f64) -> f64 {
        let z = self.set_per_level();
        if z.iter().all(|&c| c == 0) {
            return 0.0;
        }
        let m = BUCKETS as f64;
        let log_likelihood = |d: f64| -> f64 {
            let mut ll = 0.0;
            for (level, &set) in z.iter().enumerate() {
                let share = if level == LEVELS - 1 {
                    (-((LEVELS - 1) as f64)).exp2()
                } else {
                    (-((level + 1) as f64)).exp2()
                };
                let lambda = d * share / m;
                let p = (-0.5 * (-2.0 * lambda).exp_m1()).clamp(1e-12, 0.5);
                let set = f64::from(set);
                ll += set * p.ln() + (m - set) * (1.0 - p).ln();
            }
            ll
        };
        // Coarse scan on a logarithmic grid, then a golden-section refinement.
        let max = max.max(1.0);
        let steps = 400;
        let ln_max = max.ln();
        let mut best = (0.0_f64, f64::NEG_INFINITY);
        for s in 0..=steps {
            let t = ln_max * s as f64 / steps as f64;
            let ll = log_likelihood(t.exp());
            if ll > best.1 {
                best = (t, ll);
            }
        }
        let step = ln_max / steps as f64;
        let (mut lo, mut hi) = ((best.0 - step).max(0.0), (best.0 + step).min(ln_max));
        let phi = 0.5 * (5f64.sqrt() - 1.0);
        for _ in 0..40 {
            let a = hi - phi * (hi - lo);
            let b = lo + phi * (hi - lo);
            if log_likelihood(a.exp()) < log_likelihood(b.exp()) {
                lo = a;
            } else {
                hi = b;
            }
        }
        (0.5 * (lo + hi)).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::mix64;

    fn sketch_of(range: std::ops::Range<u64>) -> Sketch {
        let mut s = Sketch::default();
        for i in range {
            s.toggle(mix64(i.wrapping_mul(0x9e37_79b9)));
        }
        s
    }

    #[test]
    fn empty_difference_estimates_zero() {
        let a = sketch_of(0..1000);
        assert_eq!(a.xor(&a).estimate(2000.0), 0.0);
    }

    #[test]
    fn estimates_within_a_factor() {
        for d in [1u64, 100, 1000, 10_000, 100_000] {
            let a = sketch_of(0..200_000);
            let b = sketch_of(d..200_000);
            let est = a.xor(&b).estimate(400_000.0);
            let ratio = est / d as f64;
            assert!((0.5..2.0).contains(&ratio), "d = {d}: estimate {est}");
        }
    }

    #[test]
    fn round_trips_bytes() {
        let a = sketch_of(0..77);
        assert_eq!(Sketch::from_bytes(a.as_bytes()).unwrap(), a);
        assert!(Sketch::from_bytes(&[0; 3]).is_err());
    }
}
