//! Property tests: for random sets and differences the protocol finds exactly the symmetric
//! difference on both sides, every message respects the size limit, and forced 64-bit key
//! collisions are detected and recovered from with a new salt.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use peergroup_reconcile::bench::{Trace, drive};
use peergroup_reconcile::{Config, Digest, DigestSet, MIN_MESSAGE_BYTES, Session};
use proptest::prelude::*;

/// A deterministic digest from a seed and an index; `prefix`, if set, becomes byte 0 (the
/// collision hook keys on it).
fn digest(seed: u64, i: u64, prefix: Option<u8>) -> Digest {
    let mut bytes = [0u8; 32];
    let mut z = seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for chunk in bytes.chunks_exact_mut(8) {
        z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = z;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(x ^ (x >> 31)).to_le_bytes());
    }
    if let Some(p) = prefix {
        bytes[0] = p;
    } else if bytes[0] == 0xc0 {
        bytes[0] = 0xc1; // keep the hook's prefix for the digests that ask for it
    }
    Digest::new(bytes)
}

struct Case {
    initiator: DigestSet,
    responder: DigestSet,
    initiator_only: Vec<Digest>,
    responder_only: Vec<Digest>,
}

fn case(seed: u64, shared: u64, only_i: u64, only_r: u64, colliding: [u64; 3]) -> Case {
    let mut next = 0u64;
    let mut make = |n: u64, c: u64| -> Vec<Digest> {
        (0..n + c)
            .map(|k| {
                next += 1;
                digest(seed, next, (k < c).then_some(0xc0))
            })
            .collect()
    };
    let common = make(shared, colliding[0]);
    let mut initiator_only = make(only_i, colliding[1]);
    let mut responder_only = make(only_r, colliding[2]);
    let initiator = common.iter().chain(&initiator_only).copied().collect();
    let responder = common.iter().chain(&responder_only).copied().collect();
    initiator_only.sort_unstable();
    responder_only.sort_unstable();
    Case { initiator, responder, initiator_only, responder_only }
}

/// Reconciles a case; checks both outcomes and every message size. Returns the trace and
/// the attempts used.
fn reconcile(c: &Case, ci: Config, cr: Config, salt: u64) -> (Trace, u8) {
    let cap = ci.max_message_bytes.min(cr.max_message_bytes);
    let mut salt_bytes = [0u8; 16];
    salt_bytes[..8].copy_from_slice(&salt.to_le_bytes());
    let mut i = Session::initiator(ci, c.initiator.clone(), salt_bytes).unwrap();
    let mut r = Session::responder(cr, c.responder.clone()).unwrap();
    let trace = drive(&mut i, &mut r).unwrap();
    assert!(trace.largest_message <= cap, "largest message {} > cap {cap}", trace.largest_message);
    assert!(i.stats().largest_sent <= cap && r.stats().largest_sent <= cap);
    let oi = i.outcome().unwrap();
    let or = r.outcome().unwrap();
    assert_eq!(oi.local_only, c.initiator_only, "initiator's local-only");
    assert_eq!(oi.remote_only, c.responder_only, "initiator's remote-only");
    assert_eq!(or.local_only, c.responder_only, "responder's local-only");
    assert_eq!(or.remote_only, c.initiator_only, "responder's remote-only");
    (trace, i.stats().attempts.max(r.stats().attempts))
}

fn config(max_message_bytes: usize) -> Config {
    let mut c = Config::default();
    c.max_message_bytes = max_message_bytes;
    c
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Random sets and differences, random (and different) message limits.
    #[test]
    fn finds_the_symmetric_difference(
        seed in any::<u64>(),
        shared in 0u64..400,
        only_i in 0u64..80,
        only_r in 0u64..80,
        cap_i in MIN_MESSAGE_BYTES..6000,
        cap_r in MIN_MESSAGE_BYTES..6000,
    ) {
        let c = case(seed, shared, only_i, only_r, [0; 3]);
        let (trace, attempts) = reconcile(&c, config(cap_i), config(cap_r), seed);
        prop_assert_eq!(attempts, 1);
        prop_assert!(trace.flights <= 8, "{} flights", trace.flights);
    }

    /// A responder that sends too few symbols first: the initiator asks for more (or for
    /// the key list) until it decodes.
    #[test]
    fn recovers_from_a_short_first_batch(
        seed in any::<u64>(),
        shared in 120u64..300,
        diff in 30u64..150,
        first in 1u64..40,
        max_symbols in prop::option::of(40u64..200),
    ) {
        let c = case(seed, shared, diff / 2, diff - diff / 2, [0; 3]);
        let mut cr = Config::default();
        cr.test_hooks.first_batch = Some(first);
        let mut ci = Config::default();
        if let Some(m) = max_symbols {
            ci.max_symbols = m;
        }
        let (trace, _) = reconcile(&c, ci, cr, seed);
        if first < diff && diff > 24 {
            // Fewer symbols than differences cannot decode: the initiator had to ask again.
            prop_assert!(trace.flights >= 5, "{} flights", trace.flights);
        }
    }

    /// Keys forced to collide in attempt 0 — within a side, across sides, or with shared
    /// items — are detected and the session completes with a new salt.
    #[test]
    fn survives_forced_key_collisions(
        seed in any::<u64>(),
        shared in 0u64..300,
        only_i in 0u64..40,
        only_r in 0u64..40,
        colliding in prop::array::uniform3(0u64..3),
    ) {
        let c = case(seed, shared, only_i, only_r, colliding);
        let mut cfg = Config::default();
        cfg.test_hooks.collide_prefix = Some(0xc0);
        let (_, attempts) = reconcile(&c, cfg.clone(), cfg, seed);
        let on_i = colliding[0] + colliding[1];
        let on_r = colliding[0] + colliding[2];
        if on_i >= 2 || on_r >= 2 || (colliding[1] >= 1 && colliding[2] >= 1) {
            prop_assert!(attempts >= 2, "a collision must cost a restart");
        }
    }
}

#[test]
fn identical_sets_take_one_round_trip() {
    let c = case(1, 1000, 0, 0, [0; 3]);
    let (trace, _) = reconcile(&c, Config::default(), Config::default(), 1);
    assert_eq!(trace.flights, 2);
}

#[test]
fn one_difference_takes_at_most_one_and_a_half_round_trips() {
    for (i, r) in [(1, 0), (0, 1)] {
        let c = case(2, 1000, i, r, [0; 3]);
        let (trace, _) = reconcile(&c, Config::default(), Config::default(), 2);
        assert!(trace.flights <= 3, "{} flights", trace.flights);
        assert!(trace.bytes() < 2048, "{} bytes", trace.bytes());
    }
}

#[test]
fn empty_sides() {
    for (shared, i, r) in [(0, 0, 0), (0, 500, 0), (0, 0, 500), (0, 3, 0), (0, 0, 3)] {
        let c = case(3, shared, i, r, [0; 3]);
        let (trace, _) = reconcile(&c, Config::default(), Config::default(), 3);
        assert!(trace.flights <= 3, "{} flights for {i}/{r}", trace.flights);
    }
}

#[test]
fn all_different() {
    for (i, r) in [(300, 300), (1000, 10), (10, 1000), (200, 0), (0, 200)] {
        let c = case(4, 0, i, r, [0; 3]);
        reconcile(&c, Config::default(), Config::default(), 4);
    }
}

#[test]
fn large_difference_at_the_minimum_message_size() {
    let c = case(5, 2000, 700, 600, [0; 3]);
    let (trace, _) = reconcile(&c, config(MIN_MESSAGE_BYTES), config(MIN_MESSAGE_BYTES), 5);
    assert!(trace.messages > 50, "lists were split: {} messages", trace.messages);
}

#[test]
fn a_cross_side_collision_is_caught_by_the_fingerprint() {
    // One initiator-only and one responder-only item share a key in attempt 0: they cancel
    // in every coded symbol, so only the fingerprint check can notice.
    let c = case(6, 500, 20, 20, [0, 1, 1]);
    let mut cfg = Config::default();
    cfg.test_hooks.collide_prefix = Some(0xc0);
    let (_, attempts) = reconcile(&c, cfg.clone(), cfg, 6);
    assert_eq!(attempts, 2);
}

#[test]
fn collisions_in_every_attempt_exhaust_the_budget() {
    let c = case(7, 100, 5, 5, [0, 2, 0]);
    let mut cfg = Config::default();
    cfg.test_hooks.collide_prefix = Some(0xc0);
    cfg.max_attempts = 1;
    let salt = [0u8; 16];
    let err = Session::initiator(cfg, c.initiator, salt).unwrap_err();
    assert_eq!(err, peergroup_reconcile::Error::TooManyAttempts(1));
}
