//! The index mapping of rateless IBLTs (`proto-specs/reconcile.md` §4.2).
//!
//! Every item is added to coded symbol 0 and then to an increasing, pseudo-random sequence
//! of further symbols, drawn so that it lands in symbol `i` with probability about
//! `ρ(i) = 1 / (1 + i/2)` (Yang, Gilad and Alizadeh, "Practical Rateless Set
//! Reconciliation", SIGCOMM 2024). The density falls off like `2/i`, so the first `m`
//! symbols of an `n`-item set are made with about `n·(2·ln(m/2) + 1)` additions, and a
//! set difference of `d` items decodes from about `1.35·d` symbols when `d` is large.
//!
//! Instead of flipping a coin per index, the next index is sampled directly ("skip
//! sampling"): from index `i`, the probability that the next index exceeds `j` is
//! `∏_{k=i+1..j} (1 − ρ(k)) = (i+1)(i+2) / ((j+1)(j+2)) ≈ ((i+1.5)/(j+1.5))²`, which
//! inverts to `next = i + ⌈(i + 1.5)·(1/√u − 1)⌉` for `u` uniform in `(0, 1]`. All of it
//! is IEEE-754 double arithmetic with correctly rounded operations (`√`, `/`, `·`, `+`),
//! so every implementation computes the same indices.

use crate::hash::{GOLDEN_GAMMA, mix64};

/// Indices are below 2^32; an item whose next index would reach it maps to no further
/// symbol.
pub(crate) const INDEX_LIMIT: u64 = 1 << 32;

/// The value of [`IndexMapping::index`] once the item maps to no further symbol.
pub(crate) const EXHAUSTED: u64 = u64::MAX;

/// Where one item goes next: the current index and the generator state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexMapping {
    index: u64,
    state: u64,
}

impl IndexMapping {
    /// The mapping of the item with `key`: it starts at symbol 0.
    #[inline]
    pub(crate) fn new(key: u64) -> Self {
        Self { index: 0, state: key }
    }

    /// The current index ([`EXHAUSTED`] once the item maps to no further symbol).
    #[inline(always)]
    pub(crate) fn index(&self) -> u64 {
        self.index
    }

    /// Moves to the next index of the sequence.
    #[inline]
    pub(crate) fn advance(&mut self) {
        if self.index == EXHAUSTED {
            return;
        }
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        let z = mix64(self.state);
        // u = ((z >> 11) + 1) · 2^-53 lies in (0, 1], exactly representable.
        let u = ((z >> 11) + 1) as f64 * (1.0 / 9_007_199_254_740_992.0);
        let x = (self.index as f64 + 1.5) * (1.0 / u.sqrt() - 1.0);
        if x >= INDEX_LIMIT as f64 {
            self.index = EXHAUSTED;
            return;
        }
        // ⌈x⌉ for 0 ≤ x < 2^32, without a libm call (no SSE4.1 `roundsd` on baseline
        // x86-64): truncate, then round up if something was cut off. Exact in this range.
        let mut gap = x as u64;
        if (gap as f64) < x {
            gap += 1;
        }
        let next = self.index + gap.max(1);
        self.index = if next >= INDEX_LIMIT { EXHAUSTED } else { next };
    }

    /// Whether the item with `key` maps to symbol `index`.
    pub(crate) fn contains(key: u64, index: u64) -> bool {
        let mut m = Self::new(key);
        while m.index < index {
            m.advance();
        }
        m.index == index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_indices(key: u64, n: usize) -> Vec<u64> {
        let mut m = IndexMapping::new(key);
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(m.index());
            m.advance();
        }
        out
    }

    #[test]
    fn starts_at_zero_and_increases() {
        for key in [0, 1, 42, u64::MAX, 0x0123_4567_89ab_cdef] {
            let idx = first_indices(key, 30);
            assert_eq!(idx[0], 0);
            assert!(idx.windows(2).all(|w| w[0] < w[1] || w[1] == EXHAUSTED), "{idx:?}");
        }
    }

    /// The empirical density of the mapping follows ρ(i) = 1 / (1 + i/2), up to the
    /// `(i+1.5)²` approximation of `(i+1)(i+2)`, a few per cent at the smallest indices.
    #[test]
    fn density_matches_rho() {
        let items = 20_000u64;
        let checkpoints = [1u64, 2, 5, 10, 50, 200];
        let mut hits = [0u64; 6];
        for k in 0..items {
            let mut m = IndexMapping::new(mix64(k.wrapping_add(12345)));
            while m.index() <= 200 {
                if let Some(p) = checkpoints.iter().position(|&c| c == m.index()) {
                    hits[p] += 1;
                }
                m.advance();
            }
        }
        for (c, h) in checkpoints.iter().zip(hits) {
            let rho = 1.0 / (1.0 + *c as f64 / 2.0);
            let got = h as f64 / items as f64;
            let sigma = (rho * (1.0 - rho) / items as f64).sqrt();
            assert!((got - rho).abs() < 5.0 * sigma + 0.05 * rho, "index {c}: {got} vs {rho}");
        }
    }

    #[test]
    fn contains_agrees_with_sequence() {
        let key = 0xfeed_f00d_dead_beef;
        let idx = first_indices(key, 12);
        for &i in &idx {
            assert!(IndexMapping::contains(key, i));
        }
        let max = *idx.last().unwrap();
        let missing = (0..max).find(|i| !idx.contains(i)).unwrap();
        assert!(!IndexMapping::contains(key, missing));
    }
}
