//! An in-memory driver for two sessions, and the sync benchmark behind `p2p sim sync`.
//!
//! [`drive`] delivers messages in *flights*: it takes every message one side has queued,
//! hands them all to the other side, then does the same the other way, until neither side
//! has anything to send. Each non-empty flight is one change of direction, and counts as
//! half a round trip (`proto-specs/reconcile.md` §9) — the honest count for a pipelined
//! transport, where a flight's messages go out back to back but an answer has to wait for
//! the whole flight.
//!
//! [`run`] builds two replicas, reconciles them with [`drive`], checks the difference
//! found is exactly the one built in, and reports sizes, round trips and time.
//!
//! This module is a tool, not part of the protocol: it reads the wall clock to report
//! `wall_seconds` (the sessions themselves never do).
#![allow(clippy::disallowed_methods)] // a benchmark measures wall time

use std::time::Instant as WallClock;

use serde::Serialize;

use crate::config::Config;
use crate::digest::{Digest, DigestSet};
use crate::error::Error;
use crate::hash::{GOLDEN_GAMMA, mix64};
use crate::session::{Outcome, Role, Session};

/// Nominal size of one record, for [`Report::bytes_total`]: records are the graph layer's
/// business, so the benchmark charges a stand-in 300 bytes per record transferred.
pub const NOMINAL_RECORD_BYTES: u64 = 300;

/// What [`drive`] observed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Trace {
    /// Non-empty flights (changes of direction, the first included).
    pub flights: u32,
    /// Messages in both directions.
    pub messages: u64,
    /// Encoded bytes initiator → responder.
    pub bytes_to_responder: u64,
    /// Encoded bytes responder → initiator.
    pub bytes_to_initiator: u64,
    /// The largest single message, in bytes.
    pub largest_message: usize,
}

impl Trace {
    /// Round trips: flights / 2.
    pub fn round_trips(&self) -> f64 {
        f64::from(self.flights) / 2.0
    }

    /// Bytes in both directions.
    pub fn bytes(&self) -> u64 {
        self.bytes_to_responder + self.bytes_to_initiator
    }
}

/// Why [`drive`] stopped before both sides finished.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DriveError {
    /// A session refused a message.
    #[error("{side:?} failed: {error}")]
    Session {
        /// The side whose `handle` failed.
        side: Role,
        /// Its error.
        error: Error,
    },
    /// Neither side had anything to send, yet they are not both finished.
    #[error("the sessions stalled after {flights} flights")]
    Stalled {
        /// Flights delivered.
        flights: u32,
    },
}

/// Runs two sessions against each other in memory until both finish (see the module
/// docs for how flights are counted).
///
/// # Errors
/// [`DriveError`] if a session fails or the exchange stalls.
pub fn drive(initiator: &mut Session, responder: &mut Session) -> Result<Trace, DriveError> {
    let mut trace = Trace::default();
    loop {
        let to_responder = flight(initiator, responder, &mut trace)?;
        let to_initiator = flight(responder, initiator, &mut trace)?;
        if to_responder == 0 && to_initiator == 0 {
            break;
        }
    }
    if initiator.is_finished() && responder.is_finished() {
        Ok(trace)
    } else {
        Err(DriveError::Stalled { flights: trace.flights })
    }
}

/// Delivers everything `from` has queued to `to`; returns the bytes delivered.
fn flight(from: &mut Session, to: &mut Session, trace: &mut Trace) -> Result<u64, DriveError> {
    let mut bytes = 0u64;
    let mut any = false;
    while let Some(message) = from.poll_transmit() {
        any = true;
        bytes += message.len() as u64;
        trace.messages += 1;
        trace.largest_message = trace.largest_message.max(message.len());
        to.handle(&message).map_err(|error| DriveError::Session { side: to.role(), error })?;
    }
    if any {
        trace.flights += 1;
        match from.role() {
            Role::Initiator => trace.bytes_to_responder += bytes,
            Role::Responder => trace.bytes_to_initiator += bytes,
        }
    }
    Ok(bytes)
}

/// The result of one [`run`]: what `p2p sim sync --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// Distinct items over both replicas.
    pub records: usize,
    /// Items on one replica only (`⌈diff/2⌉` on the initiator, `⌊diff/2⌋` on the responder).
    pub diff: usize,
    /// Round trips: flights / 2.
    pub round_trips: f64,
    /// Flights (changes of direction).
    pub flights: u32,
    /// Messages in both directions.
    pub messages: u64,
    /// Encoded bytes of every protocol message, both directions.
    pub reconcile_bytes: u64,
    /// Of which initiator → responder.
    pub bytes_to_responder: u64,
    /// Of which responder → initiator.
    pub bytes_to_initiator: u64,
    /// `reconcile_bytes` plus [`NOMINAL_RECORD_BYTES`] per record transferred.
    pub bytes_total: u64,
    /// The largest message actually sent, in bytes.
    pub max_message_bytes: usize,
    /// The configured message limit.
    pub message_limit: usize,
    /// Records that would be transferred: the differences found, both directions.
    pub records_transferred: usize,
    /// Coded symbols sent, both directions.
    pub symbols: u64,
    /// The responder's estimate of the difference, if the probe did not decode it.
    pub estimated_diff: Option<f64>,
    /// Attempts (1 unless keys collided).
    pub attempts: u8,
    /// Wall time of the reconciliation (both sides' work, hashing the sets included).
    pub wall_seconds: f64,
    /// Wall time spent building the two replicas (not part of `wall_seconds`).
    pub setup_seconds: f64,
    /// The seed.
    pub seed: u64,
}

/// A deterministic stream of pseudo-random digests (splitmix64).
struct DigestStream(u64);

impl DigestStream {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN_GAMMA);
        mix64(self.0)
    }

    fn next_digest(&mut self) -> Digest {
        let mut bytes = [0u8; 32];
        for chunk in bytes.chunks_exact_mut(8) {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        Digest::new(bytes)
    }
}

/// Two replicas over `records` distinct random digests, `diff` of which are on one side
/// only (`⌈diff/2⌉` on the initiator's): (initiator's, responder's, initiator-only,
/// responder-only), the last two sorted.
fn replicas(
    records: usize,
    diff: usize,
    seed: u64,
) -> (DigestSet, DigestSet, Vec<Digest>, Vec<Digest>) {
    let mut stream = DigestStream(seed ^ 0x5eed_5eed_5eed_5eed);
    let all = loop {
        let all: Vec<Digest> = (0..records).map(|_| stream.next_digest()).collect();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() == records {
            break all;
        }
    };
    let only_i = diff.div_ceil(2);
    let mut initiator_only = all[..only_i].to_vec();
    let mut responder_only = all[only_i..diff].to_vec();
    let shared = &all[diff..];
    let a = DigestSet::from_unsorted(shared.iter().chain(&initiator_only).copied().collect());
    let b = DigestSet::from_unsorted(shared.iter().chain(&responder_only).copied().collect());
    initiator_only.sort_unstable();
    responder_only.sort_unstable();
    (a, b, initiator_only, responder_only)
}

/// Builds two replicas of `records` items differing by `diff` (split between both sides),
/// reconciles them with messages of at most `max_message_bytes`, checks the difference
/// found is exactly right, and measures.
///
/// ```
/// let report = peergroup_reconcile::bench::run(10_000, 10, 60 * 1024, 1);
/// assert_eq!(report.records_transferred, 10);
/// assert!(report.round_trips <= 2.0);
/// ```
///
/// # Panics
/// If `diff > records`, if `max_message_bytes` is out of the range [`Config`] allows, if
/// the sessions fail, or if the difference found is wrong: a benchmark that cannot
/// reconcile has no figures to report.
pub fn run(records: usize, diff: usize, max_message_bytes: usize, seed: u64) -> Report {
    assert!(diff <= records, "diff ({diff}) cannot exceed records ({records})");
    let setup = WallClock::now();
    let (a, b, initiator_only, responder_only) = replicas(records, diff, seed);
    let setup_seconds = setup.elapsed().as_secs_f64();

    let config = Config { max_message_bytes, ..Config::default() };
    let mut salt = [0u8; 16];
    salt[..8].copy_from_slice(&mix64(seed).to_le_bytes());
    salt[8..].copy_from_slice(&mix64(seed ^ GOLDEN_GAMMA).to_le_bytes());

    let start = WallClock::now();
    let mut initiator =
        Session::initiator(config.clone(), a, salt).unwrap_or_else(|e| panic!("initiator: {e}"));
    let mut responder = Session::responder(config, b).unwrap_or_else(|e| panic!("responder: {e}"));
    let trace = drive(&mut initiator, &mut responder).unwrap_or_else(|e| panic!("{e}"));
    let wall_seconds = start.elapsed().as_secs_f64();

    let got_i = initiator.take_outcome().unwrap_or_default();
    let got_r = responder.take_outcome().unwrap_or_default();
    assert_eq!(
        (got_i.local_only.len(), got_i.remote_only.len()),
        (initiator_only.len(), responder_only.len()),
        "initiator's difference sizes"
    );
    assert!(got_i.local_only == initiator_only, "initiator's local-only digests are wrong");
    assert!(got_i.remote_only == responder_only, "initiator's remote-only digests are wrong");
    let mirror = Outcome { local_only: responder_only, remote_only: initiator_only };
    assert!(got_r == mirror, "responder's difference is wrong");

    let records_transferred = got_i.local_only.len() + got_i.remote_only.len();
    let (si, sr) = (initiator.stats(), responder.stats());
    Report {
        records,
        diff,
        round_trips: trace.round_trips(),
        flights: trace.flights,
        messages: trace.messages,
        reconcile_bytes: trace.bytes(),
        bytes_to_responder: trace.bytes_to_responder,
        bytes_to_initiator: trace.bytes_to_initiator,
        bytes_total: trace.bytes() + NOMINAL_RECORD_BYTES * records_transferred as u64,
        max_message_bytes: trace.largest_message,
        message_limit: max_message_bytes,
        records_transferred,
        symbols: si.symbols_sent + sr.symbols_sent,
        estimated_diff: sr.estimated_difference,
        attempts: si.attempts.max(sr.attempts),
        wall_seconds,
        setup_seconds,
        seed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_runs_are_exact() {
        for (n, d) in [(0, 0), (1, 1), (5, 0), (100, 100), (2000, 1), (2000, 37), (3000, 1500)] {
            let r = run(n, d, 60 * 1024, 7);
            assert_eq!(r.records_transferred, d, "n = {n}, d = {d}");
            assert!(r.max_message_bytes <= 60 * 1024);
        }
    }
}
