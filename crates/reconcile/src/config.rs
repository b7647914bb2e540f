//! Session configuration.

use crate::error::Error;
use crate::mapping::INDEX_LIMIT;

/// The smallest `max_message_bytes` allowed, and the most a `Hello` may take: a receiver
/// must accept messages of this size before it has announced its own limit
/// (`proto-specs/reconcile.md` §8.1).
pub const MIN_MESSAGE_BYTES: usize = 1024;

/// The largest `max_message_bytes` allowed (the wire frame limit, `wire.md` §2, is 1 MiB
/// by default and 64 MiB at most; reconciliation messages are meant to be much smaller).
pub const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// Limits and tuning of one reconciliation session. Both sides should use the same
/// values; the protocol works when they differ (each side enforces its own limits and
/// never sends more than the smaller of the two message limits).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Largest encoded message this side sends or accepts, in bytes. Default 61,440
    /// (60 KiB): a message plus the frame header stays under 64 KiB, so it fits any QUIC
    /// stream buffer comfortably. At least [`MIN_MESSAGE_BYTES`], at most
    /// [`MAX_MESSAGE_BYTES`].
    pub max_message_bytes: usize,
    /// Coded symbols the initiator puts in its `Hello` (the *probe*). Default 24: they
    /// decode a difference of up to about 9 items (95% of the time) within the first round
    /// trip, and cost 408 bytes (`proto-specs/reconcile.md` §6.1). Clamped so that the
    /// `Hello` fits in [`MIN_MESSAGE_BYTES`].
    pub probe_symbols: usize,
    /// Most coded symbols one attempt sends or accepts. Default 4,194,304 (2^22): enough
    /// for a difference of about 3 million items, 71 MiB of symbols; beyond that a full
    /// key list is cheaper anyway (§6.3). At most 2^32.
    pub max_symbols: u64,
    /// Largest set size a peer may announce. Default 16,777,216 (2^24), well above the
    /// "few million" records a graph is sized for; bounds every key or digest list.
    pub max_set_len: u64,
    /// Attempts (each with a fresh salt) before giving up when 64-bit keys collide or the
    /// final fingerprint check fails. Default 4: an honest attempt fails with probability
    /// about `n²/2^64`, so a fourth attempt only happens under attack or with a bug.
    pub max_attempts: u8,
    /// Hooks for tests; the default is off.
    #[doc(hidden)]
    pub test_hooks: TestHooks,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_message_bytes: 60 * 1024,
            probe_symbols: 24,
            max_symbols: 1 << 22,
            max_set_len: 1 << 24,
            max_attempts: 4,
            test_hooks: TestHooks::default(),
        }
    }
}

impl Config {
    /// Checks the values are within their documented ranges.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), Error> {
        if !(MIN_MESSAGE_BYTES..=MAX_MESSAGE_BYTES).contains(&self.max_message_bytes) {
            return Err(Error::InvalidConfig("max_message_bytes"));
        }
        if self.max_symbols == 0 || self.max_symbols > INDEX_LIMIT {
            return Err(Error::InvalidConfig("max_symbols"));
        }
        if self.max_set_len == 0 || self.max_set_len > u64::from(u32::MAX) {
            return Err(Error::InvalidConfig("max_set_len"));
        }
        if self.max_attempts == 0 {
            return Err(Error::InvalidConfig("max_attempts"));
        }
        Ok(())
    }
}

/// Test hooks (not part of the stable API).
#[doc(hidden)]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestHooks {
    /// In attempt 0 only, every digest whose first byte is this value gets the same
    /// 64-bit key, so tests can force key collisions within and across the sets.
    pub collide_prefix: Option<u8>,
    /// Overrides the size of the responder's first batch of symbols, so tests can force
    /// `RequestSymbols` rounds.
    pub first_batch: Option<u64>,
}
