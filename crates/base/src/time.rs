//! Time as protocol cores see it.
//!
//! Cores never read a clock (DESIGN.md §2). Drivers pass a [`Now`](crate::Now) into every
//! call: an [`Instant`] on a monotonic clock whose origin is arbitrary (the simulator's
//! virtual clock, or the driver's start time) and a [`UnixTime`] for anything that must
//! agree between machines (certificate validity, record expiry).

use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A point on a monotonic clock, in microseconds since an arbitrary origin.
///
/// Unlike `std::time::Instant` it can be built from a number, so a simulator can run
/// thousands of nodes on one virtual clock and replay a run exactly.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The origin of the clock.
    pub const ZERO: Instant = Instant(0);

    /// An instant `micros` microseconds after the origin.
    pub const fn from_micros(micros: u64) -> Self {
        Instant(micros)
    }

    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Time elapsed since `earlier`, or zero if `earlier` is later than `self`.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

fn duration_micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates at the end of time rather than overflowing.
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(duration_micros(d)))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating: an earlier minus a later instant is zero.
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_since(earlier)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t+{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

/// Wall-clock time: milliseconds since 1970-01-01T00:00:00Z (leap seconds ignored).
///
/// Encoded on the wire as a `u64` (postcard varint) of milliseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UnixTime(u64);

impl UnixTime {
    /// 1970-01-01T00:00:00Z.
    pub const EPOCH: UnixTime = UnixTime(0);

    /// A time `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: u64) -> Self {
        UnixTime(millis)
    }

    /// A time `secs` seconds after the epoch (saturating).
    pub const fn from_secs(secs: u64) -> Self {
        UnixTime(secs.saturating_mul(1000))
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Whole seconds since the epoch.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// The current wall-clock time. For drivers and tools only: protocol cores receive the
    /// time as an argument and must not call this (clippy's `disallowed-methods` enforces it
    /// in those crates).
    #[allow(clippy::disallowed_methods)] // the one place the wall clock is read
    pub fn now() -> Self {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        UnixTime(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }

    /// `self + d`, saturating.
    pub fn saturating_add(self, d: Duration) -> Self {
        UnixTime(self.0.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: UnixTime) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl fmt::Debug for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UnixTime({}.{:03})", self.0 / 1000, self.0 % 1000)
    }
}

impl fmt::Display for UnixTime {
    /// RFC 3339 in UTC, e.g. `2026-11-25T18:51:39.000Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0 / 1000;
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
            rem / 3600,
            (rem / 60) % 60,
            rem % 60,
            self.0 % 1000
        )
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); Howard Hinnant's
/// `civil_from_days` for non-negative day counts.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_arithmetic_saturates() {
        let a = Instant::from_micros(5);
        assert_eq!(a + Duration::from_micros(10), Instant::from_micros(15));
        assert_eq!(a - Instant::from_micros(10), Duration::ZERO);
        assert_eq!(
            Instant::from_micros(u64::MAX) + Duration::from_secs(1),
            Instant::from_micros(u64::MAX)
        );
    }

    #[test]
    fn unix_time_displays_rfc3339() {
        assert_eq!(UnixTime::EPOCH.to_string(), "1970-01-01T00:00:00.000Z");
        // 2026-11-25T18:51:39.250Z
        assert_eq!(
            UnixTime::from_millis(1_795_632_699_250).to_string(),
            "2026-11-25T18:51:39.250Z"
        );
        // leap day
        assert_eq!(UnixTime::from_secs(951_782_400).to_string(), "2000-02-29T00:00:00.000Z");
    }
}
