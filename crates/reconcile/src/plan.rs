//! How many symbols to send, and when a key list is cheaper (`proto-specs/reconcile.md`
//! §6). These are local choices: the peer accepts any counts within its limits.

use crate::message::{KEY_BYTES, SYMBOL_BYTES};

/// Symbols per estimated difference item the responder sends first. The rateless IBLT of
/// §4 decodes `d` items from about 1.38·d symbols for large `d` (1.44·d at the 95th
/// percentile for `d` = 1,000, 1.68·d for `d` = 100), and the sketch estimate is within
/// −12% / +13% of `d` 90% of the time (§5); 1.6 covers both so that about 2% of sessions
/// need a second batch. Measured by the `calibrate` test below: 1.6·d̂ + 32 sends 1.62·d
/// symbols on average for `d` ≥ 1,000, with 1.5–2.5% retries; 1.5 would send 1.60·d but
/// retry 10–15% of the time, 1.7 sends 1.71·d for ≤ 1%.
const SYMBOLS_PER_ITEM: f64 = 1.6;
/// Extra symbols on top of the proportional budget: small differences need relatively more.
const SYMBOLS_EXTRA: f64 = 32.0;

/// Bytes a key-list fallback is charged for the extra round trip it costs when it is the
/// *peer's* list that must be asked for.
const ROUND_TRIP_PENALTY_BYTES: u64 = 4096;

/// Symbols (from index 0) the responder sends after the probe failed, for an estimated
/// difference `estimate`. At least twice the probe: the probe's failure says the
/// difference is not tiny, whatever the estimate says.
pub(crate) fn first_batch(estimate: f64, probe: u64) -> u64 {
    let proportional = (SYMBOLS_PER_ITEM * estimate + SYMBOLS_EXTRA).ceil() as u64;
    proportional.max(2 * probe).max(32)
}

/// Further symbols the initiator asks for when `have` symbols did not decode: half as
/// many again, so two requests still fit in the four round trips of the target (§6.2).
pub(crate) fn more(have: u64) -> u64 {
    (have / 2).max(32)
}

/// What the responder does after the probe: the cheapest of three ways on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    /// Send this many coded symbols.
    Symbols(u64),
    /// Send our whole key list.
    OurKeys,
    /// Ask for the peer's key list.
    TheirKeys,
}

/// Picks the cheapest way on for a set of `ours` items, a peer of `theirs` items and a
/// budget of `symbols` (at most `max_symbols`).
pub(crate) fn choose(symbols: u64, max_symbols: u64, ours: u64, theirs: u64) -> Choice {
    let by_symbols = if symbols <= max_symbols { symbols * SYMBOL_BYTES as u64 } else { u64::MAX };
    let by_our_keys = ours * KEY_BYTES as u64;
    let by_their_keys = theirs * KEY_BYTES as u64 + ROUND_TRIP_PENALTY_BYTES;
    if by_symbols <= by_our_keys && by_symbols <= by_their_keys {
        Choice::Symbols(symbols)
    } else if by_our_keys <= by_their_keys {
        Choice::OurKeys
    } else {
        Choice::TheirKeys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_win_when_the_difference_is_most_of_the_set() {
        assert_eq!(choose(100, 1 << 20, 1_000_000, 1_000_000), Choice::Symbols(100));
        assert_eq!(choose(300_000, 1 << 20, 100_000, 1_000_000), Choice::OurKeys);
        assert_eq!(choose(300_000, 1 << 20, 1_000_000, 10_000), Choice::TheirKeys);
        assert_eq!(choose(5_000_000, 1 << 20, 1 << 30, 1 << 30), Choice::OurKeys);
    }
}

/// Calibration of the constants above: the distribution of the sketch estimate's error and
/// of the symbols a difference needs, by simulation. Run with
/// `cargo test --release -p peergroup-reconcile calibrate -- --ignored --nocapture`.
#[cfg(test)]
mod calibration {
    use std::collections::HashSet;

    use crate::hash::mix64;
    use crate::riblt::{Decoder, Encoder};
    use crate::sketch::Sketch;

    fn quantile(v: &mut [f64], q: f64) -> f64 {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * q).round() as usize]
    }

    #[test]
    #[ignore = "calibration run, prints tables"]
    fn calibrate() {
        let trials = 200u64;
        println!("d: estimate/d quantiles (5%, 50%, 95%) | symbols/d quantiles (50%, 95%, 99%)");
        for d in [10u64, 20, 50, 100, 300, 1000, 3000, 10_000, 30_000] {
            let mut ratios = Vec::new();
            let mut needed = Vec::new();
            for t in 0..trials {
                let seed = mix64(d * 1_000_003 + t);
                let keys: Vec<u64> = (0..d).map(|i| mix64(seed ^ mix64(i))).collect();
                let mut sketch = Sketch::default();
                for &k in &keys {
                    sketch.toggle(mix64(k ^ 0x1234));
                }
                ratios.push(sketch.estimate(1e7) / d as f64);
                // Half the difference on each side: remote = first half, local = second.
                let (remote, local) = keys.split_at(keys.len() / 2);
                let local_set: HashSet<u64> = local.iter().copied().collect();
                let mut er = Encoder::new(remote.iter().copied());
                let mut el = Encoder::new(local.iter().copied());
                let mut dec = Decoder::default();
                while !dec.is_decoded() {
                    let step = (dec.len() as usize / 50).max(1);
                    let r = er.produce(step);
                    let l = el.produce(step);
                    dec.extend(r.into_iter().zip(l).map(|(a, b)| a.minus(b)), |k| {
                        local_set.contains(&k)
                    });
                }
                needed.push(dec.len() as f64 / d as f64);
            }
            // Retry rate and mean symbols/d of first_batch-like budgets c·d̂ + e, pairing
            // each estimate with an independent decoding threshold.
            let mut plans = String::new();
            for (c, e) in [(1.5, 32.0), (1.6, 16.0), (1.6, 32.0), (1.65, 32.0), (1.7, 32.0)] {
                let mut fails = 0;
                let mut symbols = 0.0;
                for (r, n) in ratios.iter().zip(needed.iter().rev()) {
                    let budget = (c * r * d as f64 + e) / d as f64;
                    symbols += budget;
                    if budget < *n {
                        fails += 1;
                        symbols += budget / 2.0;
                    }
                }
                plans += &format!(
                    " [{c}/{e}: {:.1}% {:.2}]",
                    100.0 * fails as f64 / trials as f64,
                    symbols / trials as f64
                );
            }
            println!(
                "{d:>6}: {:.3} {:.3} {:.3} | {:.3} {:.3} {:.3}",
                quantile(&mut ratios, 0.05),
                quantile(&mut ratios, 0.5),
                quantile(&mut ratios, 0.95),
                quantile(&mut needed, 0.5),
                quantile(&mut needed, 0.95),
                quantile(&mut needed, 0.99),
            );
            println!("        plans (c·d̂ + e: retry rate, mean symbols/d):{plans}");
        }
    }
}
