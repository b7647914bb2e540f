//! Property tests of the merge rule (`graph.md` §3.3): over arbitrary histories of one
//! record — concurrent updates, equal versions, tombstones, rule-breaking writers — the
//! conflict order is a total order, merge is commutative, associative and idempotent, and
//! a store ends with the same record whatever the arrival order.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::cmp::Ordering;
use std::time::Duration;

use common::*;
use peergroup_base::UnixTime;
use peergroup_graph::record::{Record, RecordLimits, check_update, merge};
use peergroup_graph::{Hlc, MemStore, RecordStore};
use proptest::prelude::*;

/// One step of a history: derive a new version from an earlier one.
#[derive(Debug, Clone)]
struct Step {
    parent: usize,
    modifier: u8,
    dt_ms: u64,
    logical: u32,
    /// Expiration change in seconds (negative: a rule-breaking writer).
    extend: i64,
    tombstone: bool,
    /// Keep the parent's version (a same-version conflict).
    same_version: bool,
    payload: u8,
    security: Vec<u8>,
}

fn step() -> impl Strategy<Value = Step> {
    (
        any::<usize>(),
        0u8..4,
        0u64..50,
        0u32..3,
        -600i64..600,
        proptest::bool::weighted(0.15),
        proptest::bool::weighted(0.2),
        0u8..3,
        proptest::collection::vec(0u8..3, 0..3),
    )
        .prop_map(
            |(
                parent,
                modifier,
                dt_ms,
                logical,
                extend,
                tombstone,
                same_version,
                payload,
                security,
            )| Step {
                parent,
                modifier,
                dt_ms,
                logical,
                extend,
                tombstone,
                same_version,
                payload,
                security,
            },
        )
}

/// Builds the versions a history produces. Every version is a valid record on its own;
/// many break the update rules against their parent (the point of the test).
fn history(steps: &[Step]) -> Vec<Record> {
    let l = RecordLimits::default();
    let mut out = vec![rec(1, 1, "0.alice", 0)];
    for s in steps {
        let p = out[s.parent % out.len()].clone();
        let modifier = name(&format!("0.m{}", s.modifier));
        let modified = Hlc::new(
            UnixTime::from_millis(p.modified().wall().as_millis() + s.dt_ms),
            s.logical,
            u64::from(s.modifier),
        )
        .max(p.created());
        let expires_ms = i64::try_from(p.expires().as_millis()).unwrap() + s.extend * 1000;
        // stay valid on its own: expire after NOW and after the modification
        let floor = NOW.as_millis().max(modified.wall().as_millis()) + 1;
        let expires = UnixTime::from_millis(u64::try_from(expires_ms).unwrap().max(floor));
        let mut b =
            p.update(modifier, modified).detach().expires(expires).payload(vec![s.payload; 3]);
        if s.same_version {
            b = b.version(p.version());
        }
        if s.tombstone {
            b = b.deleted(true).clear_attributes().payload(Vec::new());
        }
        let r = b.build(&l);
        // version 1 must equal its creation; skip the (rare) steps that would violate it
        let Ok(r) = r else { continue };
        out.push(r.with_security_data(&s.security, &l).unwrap());
    }
    out
}

fn histories() -> impl Strategy<Value = Vec<Record>> {
    proptest::collection::vec(step(), 0..12).prop_map(|s| history(&s))
}

fn max_of(records: &[Record]) -> Record {
    records.iter().skip(1).fold(records[0].clone(), |acc, r| merge(&acc, r))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn conflict_order_is_a_total_order(h in histories()) {
        for a in &h {
            prop_assert_eq!(a.conflict_cmp(a), Ordering::Equal);
            for b in &h {
                let ab = a.conflict_cmp(b);
                prop_assert_eq!(ab, b.conflict_cmp(a).reverse());
                prop_assert_eq!(ab == Ordering::Equal, a.encoded() == b.encoded());
                for c in &h {
                    if ab.is_le() && b.conflict_cmp(c).is_le() {
                        prop_assert!(a.conflict_cmp(c).is_le());
                    }
                }
            }
        }
    }

    #[test]
    fn merge_is_commutative_associative_idempotent(h in histories()) {
        for a in &h {
            prop_assert_eq!(&merge(a, a), a);
            for b in &h {
                prop_assert_eq!(merge(a, b), merge(b, a));
                for c in &h {
                    prop_assert_eq!(merge(&merge(a, b), c), merge(a, &merge(b, c)));
                }
            }
        }
    }

    #[test]
    fn stores_converge_whatever_the_arrival_order(
        (h, shuffled) in histories().prop_flat_map(|h| {
            let s = Just(h.clone()).prop_shuffle();
            (Just(h), s)
        })
    ) {
        let mut a = MemStore::new(RecordLimits::default());
        let mut b = MemStore::new(RecordLimits::default());
        for r in &h {
            a.apply(r, NOW).unwrap();
        }
        // b receives the records one by one in another order, some twice
        for r in shuffled.iter().chain(shuffled.iter().step_by(2)) {
            b.apply(r, NOW).unwrap();
        }
        let winner = max_of(&h);
        prop_assert_eq!(a.get(&rid(1), NOW).unwrap().unwrap(), winner.clone());
        prop_assert_eq!(b.get(&rid(1), NOW).unwrap().unwrap(), winner);
    }

    #[test]
    fn a_valid_update_always_wins(h in histories()) {
        for a in &h {
            for b in &h {
                if check_update(a, b).is_ok() {
                    prop_assert!(b.conflict_cmp(a).is_gt(), "{:?} passes the update rules over {:?} but loses", b, a);
                }
            }
        }
    }

    /// A rule-breaking version never displaces the version it breaks the rules against:
    /// a higher version with an earlier expiration (between two live versions, or two
    /// tombstones), or a live version after a tombstone. (A tombstone beats every live
    /// version, whatever the expirations: deletes win, `graph.md` §3.3.)
    #[test]
    fn rule_breakers_lose_against_their_predecessor(h in histories()) {
        for a in &h {
            for b in &h {
                let earlier_expiry = b.version() > a.version()
                    && b.expires() < a.expires()
                    && a.is_deleted() == b.is_deleted();
                let update_after_delete = a.is_deleted() && !b.is_deleted();
                if earlier_expiry || update_after_delete {
                    prop_assert!(b.conflict_cmp(a).is_lt());
                }
            }
        }
    }
}

#[test]
fn the_winner_of_a_simple_race() {
    // Two writers update v1 concurrently; a third deletes v1. The tombstone wins even
    // though its version is not the highest, and every replica agrees.
    let l = RecordLimits::default();
    let v1 = rec(1, 1, "0.alice", 0);
    let by_bob = v1.update(name("0.bob"), hlc(10, 0, 2)).payload(vec![2]).build(&l).unwrap();
    let by_bob_v3 = by_bob.update(name("0.bob"), hlc(20, 0, 2)).payload(vec![3]).build(&l).unwrap();
    let delete = v1.tombstone(name("0.carol"), hlc(15, 0, 3), &l).unwrap();
    let all = [v1, by_bob, by_bob_v3, delete.clone()];
    assert_eq!(max_of(&all), delete);
    let longer = all[0]
        .update(name("0.dave"), hlc(12, 0, 4))
        .expires(NOW.saturating_add(Duration::from_secs(7200)))
        .build(&l)
        .unwrap();
    // a live version with a later expiration beats higher live versions, never a tombstone
    assert_eq!(max_of(&[all[0].clone(), all[2].clone(), longer.clone()]), longer);
    assert_eq!(max_of(&[longer, delete.clone()]), delete);
}
