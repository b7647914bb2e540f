//! The network model: what a message meets between two nodes, and how long nodes stay up.
//!
//! Every message crosses one *link* (the unordered pair of its endpoints). A link has a
//! [`LinkConfig`]: a latency distribution, a loss probability, a duplication probability
//! and a reordering probability with its extra delay. Links use the simulator's default
//! configuration unless [`Sim::set_link`](crate::Sim::set_link) overrides them.
//!
//! [`Dist`] and [`Churn`] describe node sessions for churn: each churned node alternates
//! between an up period (a session) and a down period.
//!
//! All sampling draws from the simulator's one seeded RNG, in the order events happen, so
//! a run replays exactly from its seed.

use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::NodeIdx;

/// Whole microseconds of a duration, saturating.
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A sample of an exponential distribution with the given mean (in microseconds).
fn exponential(rng: &mut ChaCha8Rng, mean: f64) -> u64 {
    if mean.is_nan() || mean <= 0.0 {
        return 0;
    }
    let u: f64 = rng.random(); // [0, 1)
    let x = -mean * (1.0 - u).ln(); // 1 - u ∈ (0, 1], so x ≥ 0
    // `as` saturates for floats: huge samples become u64::MAX, never wrap.
    x as u64
}

fn uniform(rng: &mut ChaCha8Rng, min: Duration, max: Duration) -> u64 {
    let (a, b) = (micros(min), micros(max));
    if b <= a { a } else { rng.random_range(a..=b) }
}

/// `true` with probability `p` (`p ≤ 0` or NaN: never; `p ≥ 1`: always). Draws from the
/// RNG only when the answer is not already certain, so a perfect link consumes no
/// randomness.
pub(crate) fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    if p.is_nan() || p <= 0.0 {
        false
    } else if p >= 1.0 {
        true
    } else {
        rng.random::<f64>() < p
    }
}

/// One-way delay of a message on a link.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Latency {
    /// Always the same delay. With no reordering, messages on a link arrive in the order
    /// they were sent (equal arrival times keep send order).
    Fixed(Duration),
    /// Uniform between `min` and `max` inclusive (microsecond resolution).
    Uniform {
        /// Smallest delay.
        min: Duration,
        /// Largest delay.
        max: Duration,
    },
    /// Exponential with the given mean (memoryless queueing; can be arbitrarily small).
    Exponential {
        /// Mean delay.
        mean: Duration,
    },
    /// A fixed propagation delay plus exponential jitter: `base + Exp(jitter_mean)`.
    Shifted {
        /// The propagation delay every message pays.
        base: Duration,
        /// Mean of the exponential queueing delay added to it.
        jitter_mean: Duration,
    },
    /// One delay per link: every unordered pair of nodes gets a delay drawn uniformly from
    /// `min..=max` (microsecond resolution) by hashing the pair with the simulator's seed,
    /// and every message on that link takes exactly that delay. So links differ, as paths
    /// on a real network do, and each link delivers in send order, as the one stream per
    /// peer of the QUIC driver does. Draws nothing from the RNG.
    PerLink {
        /// Delay of the fastest links.
        min: Duration,
        /// Delay of the slowest links.
        max: Duration,
    },
}

impl Latency {
    /// Draws one delay, in microseconds, for a message on the link whose pair hash is
    /// `link` (see [`LinkConfig::sample_delay`]).
    pub(crate) fn sample_micros(&self, rng: &mut ChaCha8Rng, link: u64) -> u64 {
        match *self {
            Latency::Fixed(d) => micros(d),
            Latency::Uniform { min, max } => uniform(rng, min, max),
            Latency::PerLink { min, max } => {
                let (a, b) = (micros(min), micros(max));
                if b <= a { a } else { a + link % (b - a + 1) }
            }
            Latency::Exponential { mean } => exponential(rng, micros(mean) as f64),
            Latency::Shifted { base, jitter_mean } => {
                micros(base).saturating_add(exponential(rng, micros(jitter_mean) as f64))
            }
        }
    }

    /// The mean delay of the distribution.
    pub fn mean(&self) -> Duration {
        match *self {
            Latency::Fixed(d) => d,
            Latency::Uniform { min, max } | Latency::PerLink { min, max } if max > min => {
                min + (max - min) / 2
            }
            Latency::Uniform { min, .. } | Latency::PerLink { min, .. } => min,
            Latency::Exponential { mean } => mean,
            Latency::Shifted { base, jitter_mean } => base + jitter_mean,
        }
    }
}

/// How a link treats the messages that cross it.
///
/// Build one with struct update syntax or the `with_*` helpers:
///
/// ```
/// use std::time::Duration;
/// use peergroup_sim::{Latency, LinkConfig};
///
/// let lossy = LinkConfig { loss: 0.3, ..LinkConfig::default() };
/// let lan = LinkConfig::fixed(Duration::from_millis(1)).with_duplicate(0.01);
/// assert_eq!(lan.latency, Latency::Fixed(Duration::from_millis(1)));
/// assert_eq!(lossy.loss, 0.3);
/// ```
///
/// The decisions are taken when the message is sent: first loss (the message vanishes
/// silently, as a lost datagram whose retransmissions all fail would), then the latency,
/// then reordering (an extra delay), then duplication (a second copy with its own latency
/// and reordering draw). Probabilities outside `[0, 1]` are clamped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConfig {
    /// One-way delay. Default: uniform 10–50 ms, a spread between a metro and a
    /// continental path, so that concurrent messages interleave realistically.
    pub latency: Latency,
    /// Probability that a message is silently lost. Default: 0.
    pub loss: f64,
    /// Probability that a message is delivered twice. Default: 0.
    pub duplicate: f64,
    /// Probability that a message is held back by an extra [`reorder_delay`] so that later
    /// messages overtake it. Default: 0.
    ///
    /// [`reorder_delay`]: LinkConfig::reorder_delay
    pub reorder: f64,
    /// Extra delay of a reordered message. Default: uniform 0–100 ms (twice the largest
    /// default latency, so a held-back message is usually overtaken).
    pub reorder_delay: Latency,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            latency: Latency::Uniform {
                min: Duration::from_millis(10),
                max: Duration::from_millis(50),
            },
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Latency::Uniform {
                min: Duration::ZERO,
                max: Duration::from_millis(100),
            },
        }
    }
}

impl LinkConfig {
    /// A perfect link with a fixed delay: no loss, duplication or reordering.
    pub fn fixed(latency: Duration) -> Self {
        LinkConfig { latency: Latency::Fixed(latency), ..LinkConfig::default() }
    }

    /// The same link with another latency distribution.
    pub fn with_latency(self, latency: Latency) -> Self {
        LinkConfig { latency, ..self }
    }

    /// The same link with loss probability `p`.
    pub fn with_loss(self, p: f64) -> Self {
        LinkConfig { loss: p, ..self }
    }

    /// The same link with duplication probability `p`.
    pub fn with_duplicate(self, p: f64) -> Self {
        LinkConfig { duplicate: p, ..self }
    }

    /// The same link with reordering probability `p` and extra delay `delay`.
    pub fn with_reorder(self, p: f64, delay: Latency) -> Self {
        LinkConfig { reorder: p, reorder_delay: delay, ..self }
    }

    /// Delay of one copy of a message: latency plus, with probability `reorder`, the extra
    /// reordering delay. Returns the delay and whether the copy was held back. `link` is a
    /// well-mixed hash of the simulator seed and the node pair, used by
    /// [`Latency::PerLink`].
    pub(crate) fn sample_delay(&self, rng: &mut ChaCha8Rng, link: u64) -> (u64, bool) {
        let base = self.latency.sample_micros(rng, link);
        if chance(rng, self.reorder) {
            (base.saturating_add(self.reorder_delay.sample_micros(rng, link)), true)
        } else {
            (base, false)
        }
    }
}

/// A distribution of durations, for churn sessions and downtimes.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Dist {
    /// Always the same duration.
    Fixed(Duration),
    /// Uniform between `min` and `max` inclusive.
    Uniform {
        /// Shortest duration.
        min: Duration,
        /// Longest duration.
        max: Duration,
    },
    /// Exponential with the given median (mean = median / ln 2). Measurement studies of
    /// P2P networks report session lengths by their median, hence the parameter.
    Exponential {
        /// Half of all samples are shorter than this.
        median: Duration,
    },
}

impl Dist {
    /// Draws one duration, in microseconds.
    pub(crate) fn sample_micros(&self, rng: &mut ChaCha8Rng) -> u64 {
        match *self {
            Dist::Fixed(d) => micros(d),
            Dist::Uniform { min, max } => uniform(rng, min, max),
            Dist::Exponential { median } => {
                exponential(rng, micros(median) as f64 / std::f64::consts::LN_2)
            }
        }
    }

    /// The mean of the distribution.
    pub fn mean(&self) -> Duration {
        match *self {
            Dist::Fixed(d) => d,
            Dist::Uniform { min, max } if max > min => min + (max - min) / 2,
            Dist::Uniform { min, .. } => min,
            Dist::Exponential { median } => median.div_f64(std::f64::consts::LN_2),
        }
    }
}

/// Which nodes churn.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChurnNodes {
    /// Every node, including nodes added after churn was enabled.
    All,
    /// Only these nodes.
    Only(Vec<NodeIdx>),
}

/// Node churn: each affected node alternates between up for a `session` and down for a
/// `downtime`, both drawn from the simulator's RNG.
///
/// A node that is up when churn is enabled (or when it is added) first stays up for one
/// session sample; one that is down first stays down for one downtime sample. Exponential
/// sessions are memoryless, so the first sample needs no special treatment.
#[derive(Debug, Clone, PartialEq)]
pub struct Churn {
    /// Length of an up period.
    pub session: Dist,
    /// Length of a down period.
    pub downtime: Dist,
    /// The nodes that churn.
    pub nodes: ChurnNodes,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn mean_of(n: usize, mut f: impl FnMut() -> u64) -> f64 {
        (0..n).map(|_| f() as f64).sum::<f64>() / n as f64
    }

    #[test]
    fn latency_samples_have_the_documented_mean() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let ms = Duration::from_millis;
        for lat in [
            Latency::Fixed(ms(20)),
            Latency::Uniform { min: ms(10), max: ms(50) },
            Latency::Exponential { mean: ms(30) },
            Latency::Shifted { base: ms(5), jitter_mean: ms(10) },
        ] {
            let got = mean_of(50_000, || lat.sample_micros(&mut rng, 0));
            let want = micros(lat.mean()) as f64;
            assert!((got - want).abs() < want * 0.03, "{lat:?}: mean {got} vs {want}");
        }
        let u = Latency::Uniform { min: ms(10), max: ms(50) };
        for _ in 0..10_000 {
            let s = u.sample_micros(&mut rng, 0);
            assert!((10_000..=50_000).contains(&s));
        }
    }

    #[test]
    fn per_link_latency_is_fixed_per_link_and_spread_over_the_range() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let untouched = rng.clone();
        let ms = Duration::from_millis;
        let l = Latency::PerLink { min: ms(10), max: ms(100) };
        let mut seen = Vec::new();
        for pair in 0..2_000u64 {
            let link = crate::node::splitmix(pair);
            let a = l.sample_micros(&mut rng, link);
            assert_eq!(a, l.sample_micros(&mut rng, link), "one delay per link");
            assert!((10_000..=100_000).contains(&a));
            seen.push(a as f64);
        }
        assert_eq!(rng, untouched, "draws nothing from the RNG");
        let mean = seen.iter().sum::<f64>() / seen.len() as f64;
        assert!((mean - 55_000.0).abs() < 2_500.0, "mean {mean}");
        assert_eq!(l.mean(), ms(55));
    }

    #[test]
    fn exponential_dist_is_parameterised_by_median() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let d = Dist::Exponential { median: Duration::from_secs(60) };
        let mut samples: Vec<u64> = (0..20_001).map(|_| d.sample_micros(&mut rng)).collect();
        samples.sort_unstable();
        let median = samples[10_000] as f64;
        assert!((median - 60e6).abs() < 60e6 * 0.05, "median {median}");
        assert!((d.mean().as_secs_f64() - 60.0 / std::f64::consts::LN_2).abs() < 1e-6);
    }

    #[test]
    fn certain_chances_draw_nothing() {
        let mut a = ChaCha8Rng::seed_from_u64(3);
        let b = a.clone();
        assert!(!chance(&mut a, 0.0));
        assert!(!chance(&mut a, f64::NAN));
        assert!(chance(&mut a, 1.0));
        assert!(chance(&mut a, 7.0));
        assert_eq!(a, b, "no randomness consumed");
    }
}
