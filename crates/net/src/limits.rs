//! What a stranger can hold on an endpoint, and the refusals when it asks for more
//! (`proto-specs/wire.md` §5).
//!
//! Anyone who reaches the endpoint can complete a handshake with a fresh identity, so
//! every resource a connection takes is bounded here, before the application sees it:
//! connections (in total and per source prefix), handshakes per second per prefix (with
//! QUIC address validation under load), streams per connection and protocol, frames that
//! are half read, the time a frame may take, and the bytes all half-read frames hold.
//! Every refusal is counted ([`Refusals`]) and logged at debug level.

// The accept path reads the real clock for its token buckets: driver code, not a core.
#![allow(clippy::disallowed_methods)]

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

/// Counts of everything the endpoint refused, by reason. Read with
/// [`Endpoint::refusals`](crate::Endpoint::refusals).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refusals {
    /// Incoming connections refused: the endpoint holds its maximum of connections and
    /// handshakes.
    pub connections_total: u64,
    /// Incoming connections refused: their source prefix (IPv4 /24, IPv6 /48) holds its
    /// maximum.
    pub connections_per_prefix: u64,
    /// Incoming connections refused: their source prefix is over its handshake rate.
    pub handshake_rate: u64,
    /// QUIC Retry packets sent (address validation) instead of starting a handshake.
    pub retries: u64,
    /// Handshakes that failed or timed out (bad or missing certificate, wrong ALPN…).
    pub handshakes_failed: u64,
    /// Streams reset with `BUSY`: the connection already had its maximum of streams of
    /// that protocol.
    pub streams_per_protocol: u64,
    /// Streams reset with `BUSY`: the protocol's handler queue was full.
    pub handler_queue: u64,
    /// Streams reset with `BAD_PREAMBLE` (malformed or late preamble).
    pub bad_preamble: u64,
    /// Streams reset with `UNKNOWN_PROTOCOL`.
    pub unknown_protocol: u64,
    /// Frames refused with `BAD_FRAME` (length, version, encoding).
    pub bad_frame: u64,
    /// Frames refused with `BUSY`: the connection already had its maximum of half-read
    /// frames, or the endpoint's budget of buffered frame bytes was spent.
    pub half_read_frames: u64,
    /// Frames refused with `STALLED`: not complete by their deadline.
    pub frame_deadline: u64,
    /// Streams reset with `BUSY` before their preamble was read: the connection opened
    /// streams faster than its allowance (`EndpointConfig::new_streams_per_second`).
    pub stream_rate: u64,
    /// Connections closed with `STREAM_RATE`: they kept opening streams past their
    /// allowance (a full burst beyond it).
    pub stream_rate_closed: u64,
}

#[derive(Debug, Default)]
pub(crate) struct RefusalCounters {
    pub connections_total: AtomicU64,
    pub connections_per_prefix: AtomicU64,
    pub handshake_rate: AtomicU64,
    pub retries: AtomicU64,
    pub handshakes_failed: AtomicU64,
    pub streams_per_protocol: AtomicU64,
    pub handler_queue: AtomicU64,
    pub bad_preamble: AtomicU64,
    pub unknown_protocol: AtomicU64,
    pub bad_frame: AtomicU64,
    pub half_read_frames: AtomicU64,
    pub frame_deadline: AtomicU64,
    pub stream_rate: AtomicU64,
    pub stream_rate_closed: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl RefusalCounters {
    pub(crate) fn snapshot(&self) -> Refusals {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Refusals {
            connections_total: r(&self.connections_total),
            connections_per_prefix: r(&self.connections_per_prefix),
            handshake_rate: r(&self.handshake_rate),
            retries: r(&self.retries),
            handshakes_failed: r(&self.handshakes_failed),
            streams_per_protocol: r(&self.streams_per_protocol),
            handler_queue: r(&self.handler_queue),
            bad_preamble: r(&self.bad_preamble),
            unknown_protocol: r(&self.unknown_protocol),
            bad_frame: r(&self.bad_frame),
            half_read_frames: r(&self.half_read_frames),
            frame_deadline: r(&self.frame_deadline),
            stream_rate: r(&self.stream_rate),
            stream_rate_closed: r(&self.stream_rate_closed),
        }
    }
}

/// A source prefix: IPv4 /24 or IPv6 /48 (IPv4-mapped IPv6 counts as IPv4), the unit of
/// the per-source limits (the same as PNRP's diversity limits, `pnrp.md` §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Prefix {
    V4([u8; 3]),
    V6([u8; 6]),
}

impl Prefix {
    pub(crate) fn of(ip: IpAddr) -> Prefix {
        match ip {
            IpAddr::V4(v4) => {
                let o = v4.octets();
                Prefix::V4([o[0], o[1], o[2]])
            }
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Prefix::of(IpAddr::V4(v4)),
                None => {
                    let o = v6.octets();
                    Prefix::V6([o[0], o[1], o[2], o[3], o[4], o[5]])
                }
            },
        }
    }
}

/// Most prefixes whose handshake buckets are remembered; beyond, buckets that refilled are
/// forgotten (a full bucket is the same as none).
const MAX_BUCKETS: usize = 16_384;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Per-prefix connection counts and handshake token buckets.
#[derive(Debug, Default)]
pub(crate) struct PrefixTable {
    inner: Mutex<PrefixInner>,
}

#[derive(Debug, Default)]
struct PrefixInner {
    connections: HashMap<Prefix, usize>,
    buckets: HashMap<Prefix, Bucket>,
}

impl PrefixTable {
    /// Takes one handshake token of `prefix` (`rate` per second, burst `rate`); `false`
    /// if the bucket is empty.
    pub(crate) fn take_handshake(&self, prefix: Prefix, rate: u32, now: Instant) -> bool {
        let Ok(mut inner) = self.inner.lock() else { return false };
        let rate = f64::from(rate.max(1));
        if inner.buckets.len() >= MAX_BUCKETS {
            inner.buckets.retain(|_, b| {
                b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate < rate
            });
        }
        let b = inner.buckets.entry(prefix).or_insert(Bucket { tokens: rate, at: now });
        b.tokens = (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate).min(rate);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Takes `tokens` handshake tokens of `prefix` (`rate` per second, burst `rate`) at
    /// once, running the bucket into debt: the prefix gets no handshake until it has paid
    /// them back. The price of a connection closed for its stream rate (`wire.md` §5.1).
    pub(crate) fn take_handshakes(&self, prefix: Prefix, tokens: u32, rate: u32, now: Instant) {
        let Ok(mut inner) = self.inner.lock() else { return };
        let rate = f64::from(rate.max(1));
        let b = inner.buckets.entry(prefix).or_insert(Bucket { tokens: rate, at: now });
        b.tokens = (b.tokens + now.saturating_duration_since(b.at).as_secs_f64() * rate).min(rate);
        b.at = now;
        // at most one burst of debt beyond an empty bucket
        b.tokens = (b.tokens - f64::from(tokens)).max(-rate);
    }

    /// Counts one more connection (or handshake) from `prefix` unless it holds `max`.
    pub(crate) fn try_add(self: &Arc<Self>, prefix: Prefix, max: usize) -> Option<PrefixSlot> {
        let mut inner = self.inner.lock().ok()?;
        let n = inner.connections.entry(prefix).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PrefixSlot { table: self.clone(), prefix })
    }
}

/// One connection's place in its prefix's count; released when dropped.
#[derive(Debug)]
pub(crate) struct PrefixSlot {
    table: Arc<PrefixTable>,
    prefix: Prefix,
}

impl Drop for PrefixSlot {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.table.inner.lock()
            && let Some(n) = inner.connections.get_mut(&self.prefix)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                inner.connections.remove(&self.prefix);
            }
        }
    }
}

/// A counter with a maximum; [`Gauge::try_enter`] hands out a guard that leaves on drop.
#[derive(Debug, Default)]
pub(crate) struct Gauge(AtomicUsize);

impl Gauge {
    pub(crate) fn try_enter(self: &Arc<Self>, max: usize) -> Option<GaugeGuard> {
        self.try_add(1, max).map(|()| GaugeGuard { gauge: self.clone(), n: 1 })
    }

    fn try_add(&self, n: usize, max: usize) -> Option<()> {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                v.checked_add(n).filter(|&t| t <= max)
            })
            .ok()
            .map(|_| ())
    }

    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// A place in a [`Gauge`] of `n` units, given back when dropped.
#[derive(Debug)]
pub(crate) struct GaugeGuard {
    gauge: Arc<Gauge>,
    n: usize,
}

impl GaugeGuard {
    /// Takes `more` units in addition; `false` (nothing taken) if that would pass `max`.
    pub(crate) fn grow(&mut self, more: usize, max: usize) -> bool {
        if self.gauge.try_add(more, max).is_some() {
            self.n += more;
            true
        } else {
            false
        }
    }

    /// An empty guard on `gauge` (holds nothing until it grows).
    pub(crate) fn empty(gauge: &Arc<Gauge>) -> GaugeGuard {
        GaugeGuard { gauge: gauge.clone(), n: 0 }
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.gauge.0.fetch_sub(self.n, Ordering::AcqRel);
    }
}

/// What a connection's next new stream gets from its [`StreamRate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamVerdict {
    /// Within the allowance: served.
    Admit,
    /// Over the allowance: reset with `BUSY` before its preamble is read.
    Refuse,
    /// A full burst over the allowance: the connection is closed with `STREAM_RATE`.
    Close,
}

/// The rate at which one connection may open streams (`wire.md` §5): a token bucket of
/// `burst` tokens refilled at `rate` per second, one token per new stream. A stream that
/// finds the bucket empty is refused and still takes its token, so the bucket runs into
/// debt; a connection whose debt reaches `burst` — it kept opening streams while refused —
/// is closed. A peer that slows down pays its debt back at `rate` per second.
#[derive(Debug)]
pub(crate) struct StreamRate {
    tokens: f64,
    at: Instant,
    rate: f64,
    burst: f64,
}

impl StreamRate {
    pub(crate) fn new(rate: u32, burst: u32, now: Instant) -> StreamRate {
        let burst = f64::from(burst.max(1));
        StreamRate { tokens: burst, at: now, rate: f64::from(rate), burst }
    }

    /// Takes a token for a stream the peer opened at `now`.
    pub(crate) fn on_new_stream(&mut self, now: Instant) -> StreamVerdict {
        let refill = now.saturating_duration_since(self.at).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.at = now;
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            StreamVerdict::Admit
        } else if self.tokens > -self.burst {
            StreamVerdict::Refuse
        } else {
            StreamVerdict::Close
        }
    }
}

/// What the endpoint bounds per connection besides frames: streams per protocol.
#[derive(Debug, Default)]
pub(crate) struct ConnLimits {
    streams: Mutex<HashMap<String, Arc<Gauge>>>,
}

impl ConnLimits {
    /// A slot for one more incoming stream of `protocol`, unless it has `max` open.
    pub(crate) fn enter_stream(&self, protocol: &str, max: usize) -> Option<GaugeGuard> {
        let gauge = self.streams.lock().ok()?.entry(protocol.to_owned()).or_default().clone();
        gauge.try_enter(max)
    }
}

/// Everything a framed stream needs to apply the frame limits of `wire.md` §2 and §5.
#[derive(Debug, Clone)]
pub(crate) struct FrameLimits {
    pub counters: Arc<RefusalCounters>,
    /// This connection's half-read frames.
    pub half_read: Arc<Gauge>,
    pub max_half_read: usize,
    /// Bytes held by half-read frames, endpoint-wide.
    pub buffered: Arc<Gauge>,
    pub max_buffered: usize,
    pub frame_timeout: std::time::Duration,
    pub min_rate: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn prefixes_group_by_24_and_48() {
        let p = |s: &str| Prefix::of(s.parse().unwrap());
        assert_eq!(p("192.0.2.1"), p("192.0.2.200"));
        assert_ne!(p("192.0.2.1"), p("192.0.3.1"));
        assert_eq!(p("::ffff:192.0.2.1"), p("192.0.2.9"));
        assert_eq!(p("2001:db8:1::1"), p("2001:db8:1:ffff::2"));
        assert_ne!(p("2001:db8:1::1"), p("2001:db8:2::1"));
    }

    #[test]
    fn handshake_bucket_refills_at_its_rate() {
        let t = PrefixTable::default();
        let pre = Prefix::of("192.0.2.1".parse().unwrap());
        let t0 = Instant::now();
        assert!((0..4).all(|_| t.take_handshake(pre, 4, t0)));
        assert!(!t.take_handshake(pre, 4, t0));
        assert!(t.take_handshake(pre, 4, t0 + Duration::from_millis(300)));
    }

    #[test]
    fn a_prefix_pays_for_a_stream_rate_close_with_its_handshakes() {
        let t = PrefixTable::default();
        let pre = Prefix::of("192.0.2.1".parse().unwrap());
        let other = Prefix::of("192.0.3.1".parse().unwrap());
        let t0 = Instant::now();
        t.take_handshakes(pre, 4, 4, t0);
        assert!(!t.take_handshake(pre, 4, t0), "the bucket is empty");
        assert!(t.take_handshake(other, 4, t0), "other prefixes are not charged");
        // a debt of at most one burst: after 1 s at 4 per second the bucket is full again
        t.take_handshakes(pre, 100, 4, t0);
        assert!(!t.take_handshake(pre, 4, t0 + Duration::from_millis(900)));
        assert!(t.take_handshake(pre, 4, t0 + Duration::from_millis(2100)));
    }

    #[test]
    fn prefix_slots_count_and_release() {
        let t = Arc::new(PrefixTable::default());
        let pre = Prefix::of("192.0.2.1".parse().unwrap());
        let a = t.try_add(pre, 2).unwrap();
        let _b = t.try_add(pre, 2).unwrap();
        assert!(t.try_add(pre, 2).is_none());
        drop(a);
        assert!(t.try_add(pre, 2).is_some());
    }

    #[test]
    fn stream_rate_admits_a_burst_refuses_beyond_and_closes_a_burst_later() {
        use StreamVerdict::{Admit, Close, Refuse};
        let t0 = Instant::now();
        let mut r = StreamRate::new(10, 4, t0);
        let at_once: Vec<_> = (0..8).map(|_| r.on_new_stream(t0)).collect();
        assert_eq!(at_once, [Admit, Admit, Admit, Admit, Refuse, Refuse, Refuse, Close]);

        // a peer that slows down pays its debt back and is served again
        let mut r = StreamRate::new(10, 4, t0);
        for _ in 0..6 {
            r.on_new_stream(t0); // 4 admitted, 2 refused: 2 tokens of debt
        }
        assert_eq!(r.on_new_stream(t0 + Duration::from_millis(350)), Admit); // +3.5 tokens
        assert_eq!(r.on_new_stream(t0 + Duration::from_millis(350)), Refuse);
        // at the rate, forever
        let mut r = StreamRate::new(10, 4, t0);
        for i in 1..=1000u64 {
            assert_eq!(r.on_new_stream(t0 + Duration::from_millis(100 * i)), Admit);
        }
        // the bucket never holds more than the burst
        let mut r = StreamRate::new(10, 4, t0);
        let later = t0 + Duration::from_secs(3600);
        let after_idle: Vec<_> = (0..5).map(|_| r.on_new_stream(later)).collect();
        assert_eq!(after_idle, [Admit, Admit, Admit, Admit, Refuse]);
    }

    #[test]
    fn gauges_bound_and_release() {
        let g = Arc::new(Gauge::default());
        let mut a = g.try_enter(3).unwrap();
        assert!(a.grow(2, 3));
        assert!(!a.grow(1, 3));
        assert!(g.try_enter(3).is_none());
        drop(a);
        assert_eq!(g.get(), 0);
    }
}
