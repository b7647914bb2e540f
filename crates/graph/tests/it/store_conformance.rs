//! One conformance suite for every `RecordStore`: each case is a generic function, and the
//! `suite!` macro instantiates every case for MemStore, RedbStore and (feature `sled`)
//! SledStore.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::ops::Bound;

use common::*;
use peergroup_graph::record::{Record, RecordLimits};
use peergroup_graph::{
    ApplyOutcome, GraphError, Query, RecordFilter, RecordPage, RecordStore, Rejection, SyncKey,
    SyncRange,
};

mod cases {
    use super::*;

    fn ids(records: &[Record]) -> Vec<u128> {
        records.iter().map(|r| u128::from_be_bytes(*r.id().as_bytes())).collect()
    }

    pub(crate) fn add_and_get_byte_exact<S: RecordStore>(
        open: impl Fn(RecordLimits) -> (S, Guard),
    ) {
        let (mut s, _g) = open(RecordLimits::default());
        assert!(s.is_empty().unwrap());
        let r = rec(1, 10, "0.alice", 0)
            .with_security_data(&[0xab; 64], &RecordLimits::default())
            .unwrap();
        s.add(&r, NOW).unwrap();
        let got = s.get(&r.id(), NOW).unwrap().unwrap();
        assert_eq!(got.encoded(), r.encoded());
        assert_eq!(got.security_data(), [0xab; 64]);
        assert_eq!(s.digest(&r.id(), NOW).unwrap(), Some(r.digest()));
        assert_eq!(s.len().unwrap(), 1);
        assert!(s.get(&rid(2), NOW).unwrap().is_none());
        assert!(matches!(s.add(&r, NOW), Err(GraphError::RecordAlreadyExists { .. })));
    }

    pub(crate) fn apply_outcomes<S: RecordStore>(open: impl Fn(RecordLimits) -> (S, Guard)) {
        let (mut s, _g) = open(RecordLimits::default());
        let v1 = rec(1, 10, "0.alice", 0);
        let v2 = bump(&v1, "0.bob", 10);
        assert_eq!(s.apply(&v1, NOW).unwrap(), ApplyOutcome::Added);
        assert_eq!(s.apply(&v1, NOW).unwrap(), ApplyOutcome::Unchanged);
        assert_eq!(s.apply(&v2, NOW).unwrap(), ApplyOutcome::Updated { previous_version: 1 });
        assert_eq!(s.apply(&v1, NOW).unwrap(), ApplyOutcome::IgnoredOlder);
        assert_eq!(s.get(&v1.id(), NOW).unwrap().unwrap(), v2);
        // same version, different modifier: the tie-break decides, the same on every store
        let v2b = bump(&v1, "0.zed", 10);
        assert!(v2b.conflict_cmp(&v2).is_gt());
        assert_eq!(s.apply(&v2b, NOW).unwrap(), ApplyOutcome::Updated { previous_version: 2 });
        assert_eq!(s.apply(&v2, NOW).unwrap(), ApplyOutcome::IgnoredOlder);
        assert_eq!(s.len().unwrap(), 1);
    }

    pub(crate) fn rejections<S: RecordStore>(open: impl Fn(RecordLimits) -> (S, Guard)) {
        let (mut s, _g) = open(RecordLimits::default());
        let v1 = rec(1, 10, "0.alice", 0);
        s.apply(&v1, NOW).unwrap();
        let rejected = |s: &mut S, r: &Record| match s.apply(r, NOW).unwrap() {
            ApplyOutcome::Rejected(why) => why,
            other => panic!("expected a rejection, got {other:?}"),
        };
        assert_eq!(rejected(&mut s, &rec(1, 11, "0.alice", 0)), Rejection::TypeChanged);
        assert_eq!(rejected(&mut s, &rec(1, 10, "0.mallory", 0)), Rejection::CreatorChanged);
        assert_eq!(rejected(&mut s, &rec(1, 10, "0.alice", 5)), Rejection::CreationTimeChanged);
        // a higher version that moves the expiration earlier
        let shorter = v1
            .update(name("0.alice"), hlc(10, 0, 1))
            .expires(secs_from_now(60))
            .detach()
            .build(&RecordLimits::default())
            .unwrap();
        assert_eq!(rejected(&mut s, &shorter), Rejection::InvalidRecordExpiration);
        // an update of a deleted record
        let dead = v1.tombstone(name("0.alice"), hlc(20, 0, 1), &RecordLimits::default()).unwrap();
        assert_eq!(s.apply(&dead, NOW).unwrap(), ApplyOutcome::Updated { previous_version: 1 });
        let v3_live = bump(&bump(&v1, "0.bob", 30), "0.bob", 40);
        assert_eq!(v3_live.version(), 3);
        assert_eq!(rejected(&mut s, &v3_live), Rejection::RecordDeleted);
        // expired on arrival
        let old = builder(2, 10, "0.alice", 0)
            .expires(secs_from_now(1))
            .build(&RecordLimits::default())
            .unwrap();
        assert_eq!(
            s.apply(&old, secs_from_now(1)).unwrap(),
            ApplyOutcome::Rejected(Rejection::RecordExpired)
        );
        // each rejection left the store as it was
        assert_eq!(s.get(&v1.id(), NOW).unwrap().unwrap(), dead);
        assert_eq!(s.len().unwrap(), 1);
    }

    pub(crate) fn store_limits_apply_to_every_record<S: RecordStore>(
        open: impl Fn(RecordLimits) -> (S, Guard),
    ) {
        let small = RecordLimits::default()
            .with_max_record_size(2048)
            .unwrap()
            .with_max_attributes(2)
            .with_max_attribute_bytes(100)
            .with_max_security_data(16);
        let (mut s, _g) = open(small);
        let big =
            builder(1, 1, "0.a", 0).payload(vec![0; 4000]).build(&RecordLimits::default()).unwrap();
        assert!(matches!(
            s.apply(&big, NOW).unwrap(),
            ApplyOutcome::Rejected(Rejection::MaxRecordSizeExceeded { max: 2048, .. })
        ));
        let many = builder(2, 1, "0.a", 0)
            .attribute("b", 1)
            .attribute("c", 2)
            .build(&RecordLimits::default())
            .unwrap();
        assert!(matches!(
            s.apply(&many, NOW).unwrap(),
            ApplyOutcome::Rejected(Rejection::TooManyAttributes { count: 3, max: 2 })
        ));
        let wide = builder(3, 1, "0.a", 0)
            .attribute("s", "x".repeat(200))
            .build(&RecordLimits::default())
            .unwrap();
        assert!(matches!(
            s.apply(&wide, NOW).unwrap(),
            ApplyOutcome::Rejected(Rejection::AttributesTooLarge { .. })
        ));
        let signed =
            rec(4, 1, "0.a", 0).with_security_data(&[0; 64], &RecordLimits::default()).unwrap();
        assert!(matches!(
            s.apply(&signed, NOW).unwrap(),
            ApplyOutcome::Rejected(Rejection::SecurityDataTooLarge { size: 64, max: 16 })
        ));
        assert!(matches!(s.add(&big, NOW), Err(GraphError::MaxRecordSizeExceeded { .. })));
        assert_eq!(s.len().unwrap(), 0);
        assert_eq!(s.limits().max_record_size(), 2048);
    }

    pub(crate) fn tombstones<S: RecordStore>(open: impl Fn(RecordLimits) -> (S, Guard)) {
        let (mut s, _g) = open(RecordLimits::default());
        let v1 = rec(1, 10, "0.alice", 0);
        s.add(&v1, NOW).unwrap();
        s.add(&rec(2, 10, "0.alice", 0), NOW).unwrap();
        let dead = s.delete(&v1.id(), name("0.bob"), hlc(5, 0, 2), NOW).unwrap();
        assert!(dead.is_deleted() && dead.payload().is_empty() && dead.attributes().is_empty());
        assert_eq!((dead.version(), dead.expires()), (2, v1.expires()));
        // get returns the tombstone, get_live / enumerate / search do not
        assert_eq!(s.get(&v1.id(), NOW).unwrap().unwrap(), dead);
        assert!(s.get_live(&v1.id(), NOW).unwrap().is_none());
        assert_eq!(ids(&s.enumerate(&RecordFilter::All, NOW).unwrap()), [2]);
        assert_eq!(ids(&s.enumerate(&RecordFilter::Type(rtype(10)), NOW).unwrap()), [2]);
        assert_eq!(ids(&s.enumerate(&RecordFilter::Creator(name("0.alice")), NOW).unwrap()), [2]);
        assert_eq!(ids(&s.search(&Query::parse("@version >= 1").unwrap(), NOW).unwrap()), [2]);
        // sync sees it (it must flood)
        let keys: Vec<SyncKey> = s
            .sync_entries(&SyncRange::ALL, usize::MAX, NOW)
            .unwrap()
            .iter()
            .map(|e| e.key)
            .collect();
        assert!(keys.contains(&dead.sync_key()));
        // no second delete, no update
        assert!(matches!(
            s.delete(&v1.id(), name("0.bob"), hlc(6, 0, 2), NOW),
            Err(GraphError::RecordDeleted { .. })
        ));
        let v2 = bump(&v1, "0.alice", 7);
        assert!(matches!(s.update(&v2, NOW), Err(GraphError::RecordDeleted { .. })));
        assert!(matches!(
            s.delete(&rid(9), name("0.bob"), hlc(6, 0, 2), NOW),
            Err(GraphError::RecordNotFound { .. })
        ));
        // the tombstone lives until the record's expiry, then is purged like any record
        let purged = s.purge_expired(v1.expires()).unwrap();
        assert_eq!(purged.len(), 2);
        assert!(s.is_empty().unwrap());
    }

    pub(crate) fn local_update_rules<S: RecordStore>(open: impl Fn(RecordLimits) -> (S, Guard)) {
        let (mut s, _g) = open(RecordLimits::default());
        let v1 = rec(1, 10, "0.alice", 0);
        let v2 = bump(&v1, "0.alice", 10);
        assert!(matches!(s.update(&v2, NOW), Err(GraphError::RecordNotFound { .. })));
        s.add(&v1, NOW).unwrap();
        s.update(&v2, NOW).unwrap();
        assert!(matches!(
            s.update(&v2, NOW),
            Err(GraphError::VersionNotGreater { existing: 2, update: 2, .. })
        ));
        // a concurrent v2 that loses the tie-break is reported as superseded
        let v2_other =
            v1.update(name("0.aaron"), hlc(10, 0, 3)).build(&RecordLimits::default()).unwrap();
        assert!(v2_other.conflict_cmp(&v2).is_lt());
        assert!(matches!(s.update(&v2_other, NOW), Err(GraphError::VersionNotGreater { .. })));
        assert!(matches!(
            s.add(&rec(1, 99, "0.x", 0), NOW),
            Err(GraphError::RecordAlreadyExists { .. })
        ));
        let other_creator = rec(1, 10, "0.bob", 0);
        assert!(matches!(s.update(&other_creator, NOW), Err(GraphError::CreatorChanged { .. })));
        assert_eq!(s.get(&v1.id(), NOW).unwrap().unwrap(), v2);
    }

    pub(crate) fn enumerate_by_type_and_creator<S: RecordStore>(
        open: impl Fn(RecordLimits) -> (S, Guard),
    ) {
        let (mut s, _g) = open(RecordLimits::default());
        let batch = [
            rec(5, 1, "0.alice", 0),
            rec(3, 2, "0.bob", 0),
            rec(4, 1, "0.bob", 0),
            rec(1, 1, "0.alice", 0),
            rec(2, 2, "0.alice", 0),
        ];
        let out = s.apply_batch(&batch, NOW).unwrap();
        assert!(out.iter().all(|o| *o == ApplyOutcome::Added));
        assert_eq!(ids(&s.enumerate(&RecordFilter::All, NOW).unwrap()), [1, 2, 3, 4, 5]);
        assert_eq!(ids(&s.enumerate(&RecordFilter::Type(rtype(1)), NOW).unwrap()), [1, 4, 5]);
        assert_eq!(ids(&s.enumerate(&RecordFilter::Type(rtype(2)), NOW).unwrap()), [2, 3]);
        assert!(s.enumerate(&RecordFilter::Type(rtype(3)), NOW).unwrap().is_empty());
        assert_eq!(
            ids(&s.enumerate(&RecordFilter::Creator(name("0.alice")), NOW).unwrap()),
            [1, 2, 5]
        );
        assert_eq!(ids(&s.enumerate(&RecordFilter::Creator(name("0.bob")), NOW).unwrap()), [3, 4]);
        assert!(s.enumerate(&RecordFilter::Creator(name("0.carol")), NOW).unwrap().is_empty());
        // an update keeps the record in its type and creator indexes, once
        let v2 = bump(&batch[0], "0.bob", 50);
        s.apply(&v2, NOW).unwrap();
        assert_eq!(ids(&s.enumerate(&RecordFilter::Type(rtype(1)), NOW).unwrap()), [1, 4, 5]);
        assert_eq!(
            ids(&s.enumerate(&RecordFilter::Creator(name("0.alice")), NOW).unwrap()),
            [1, 2, 5]
        );
        assert_eq!(s.len().unwrap(), 5);
    }

    pub(crate) fn sync_order_ranges_and_limits<S: RecordStore>(
        open: impl Fn(RecordLimits) -> (S, Guard),
    ) {
        let (mut s, _g) = open(RecordLimits::default());
        // ids and modification times in different orders
        let mut records = Vec::new();
        for i in 0..50u128 {
            let ms = u64::try_from((i * 37) % 50).unwrap();
            records.push(rec(1000 - i, 1, "0.alice", ms));
        }
        s.apply_batch(&records, NOW).unwrap();
        let mut expected: Vec<SyncKey> = records.iter().map(|r| r.sync_key()).collect();
        expected.sort();
        let all = s.sync_entries(&SyncRange::ALL, usize::MAX, NOW).unwrap();
        assert_eq!(all.iter().map(|e| e.key).collect::<Vec<_>>(), expected);
        for e in &all {
            let r = s.get(&e.key.id, NOW).unwrap().unwrap();
            assert_eq!((e.digest, e.expires), (r.digest(), r.expires()));
        }
        // paging with a cursor visits every key once, in order
        let mut paged = Vec::new();
        let mut range = SyncRange::ALL;
        loop {
            let page = s.sync_entries(&range, 7, NOW).unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 7);
            let last = page[page.len() - 1].key;
            paged.extend(page.into_iter().map(|e| e.key));
            range = SyncRange::after(last);
        }
        assert_eq!(paged, expected);
        // half-open ranges, inclusive ends, records
        let mid = SyncRange::between(expected[10], expected[20]);
        assert_eq!(s.sync_entries(&mid, usize::MAX, NOW).unwrap().len(), 10);
        let incl =
            SyncRange { start: Bound::Included(expected[10]), end: Bound::Included(expected[20]) };
        let recs = s.sync_records(&incl, usize::MAX, NOW).unwrap();
        assert_eq!(recs.iter().map(|r| r.sync_key()).collect::<Vec<_>>(), expected[10..=20]);
        assert_eq!(s.sync_records(&incl, 3, NOW).unwrap().len(), 3);
        assert!(s.sync_entries(&SyncRange::ALL, 0, NOW).unwrap().is_empty());
        // empty and inverted ranges are empty, not a panic
        for r in [
            SyncRange::between(expected[20], expected[10]),
            SyncRange::between(expected[10], expected[10]),
            SyncRange { start: Bound::Excluded(expected[10]), end: Bound::Included(expected[10]) },
        ] {
            assert!(r.is_empty());
            assert!(s.sync_entries(&r, usize::MAX, NOW).unwrap().is_empty());
            assert!(s.sync_records(&r, usize::MAX, NOW).unwrap().is_empty());
        }
        assert_eq!(s.last_sync_key().unwrap(), expected.last().copied());
        // an update moves the record to its new place in sync order
        let moved = bump(&records[0], "0.bob", 1_000);
        s.apply(&moved, NOW).unwrap();
        let all = s.sync_entries(&SyncRange::ALL, usize::MAX, NOW).unwrap();
        assert_eq!(all.len(), 50);
        assert_eq!(all.last().map(|e| e.key), Some(moved.sync_key()));
        assert!(!all.iter().any(|e| e.key == records[0].sync_key()));
    }

    pub(crate) fn expiry_hides_then_purges<S: RecordStore>(
        open: impl Fn(RecordLimits) -> (S, Guard),
    ) {
        let (mut s, _g) = open(RecordLimits::default());
        let short = builder(1, 1, "0.a", 0)
            .expires(secs_from_now(10))
            .build(&RecordLimits::default())
            .unwrap();
        let long = builder(2, 1, "0.a", 0)
            .expires(secs_from_now(20))
            .build(&RecordLimits::default())
            .unwrap();
        s.apply_batch(&[long.clone(), short.clone()], NOW).unwrap();
        assert_eq!(s.next_expiry().unwrap(), Some(secs_from_now(10)));
        let t = secs_from_now(10);
        // expired but not yet purged: invisible to every read
        assert!(s.get(&short.id(), t).unwrap().is_none());
        assert!(s.digest(&short.id(), t).unwrap().is_none());
        assert_eq!(ids(&s.enumerate(&RecordFilter::All, t).unwrap()), [2]);
        assert_eq!(s.sync_entries(&SyncRange::ALL, usize::MAX, t).unwrap().len(), 1);
        assert_eq!(s.sync_records(&SyncRange::ALL, usize::MAX, t).unwrap().len(), 1);
        assert_eq!(s.len().unwrap(), 2);
        // an expired record counts as absent: a new record may take its id
        let reborn = rec(1, 7, "0.other", 10_000);
        assert_eq!(s.apply(&reborn, t).unwrap(), ApplyOutcome::Added);
        assert_eq!(ids(&s.enumerate(&RecordFilter::Type(rtype(1)), t).unwrap()), [2]);
        assert_eq!(ids(&s.enumerate(&RecordFilter::Type(rtype(7)), t).unwrap()), [1]);
        assert_eq!(s.len().unwrap(), 2);
        let purged = s.purge_expired(secs_from_now(20)).unwrap();
        assert_eq!(ids(&purged), [2]);
        assert_eq!(s.purge_expired(secs_from_now(20)).unwrap().len(), 0);
        assert_eq!(s.len().unwrap(), 1);
        assert_eq!(s.next_expiry().unwrap(), Some(reborn.expires()));
        s.purge_expired(reborn.expires()).unwrap();
        assert!(s.is_empty().unwrap());
        assert_eq!(s.next_expiry().unwrap(), None);
        assert_eq!(s.last_sync_key().unwrap(), None);
        assert!(s.enumerate(&RecordFilter::Type(rtype(7)), NOW).unwrap().is_empty());
    }

    pub(crate) fn batch_sees_its_own_writes<S: RecordStore>(
        open: impl Fn(RecordLimits) -> (S, Guard),
    ) {
        let (mut s, _g) = open(RecordLimits::default());
        let v1 = rec(1, 1, "0.a", 0);
        let v2 = bump(&v1, "0.a", 1);
        let v3 = bump(&v2, "0.a", 2);
        let out = s
            .apply_batch(
                &[v1.clone(), v3.clone(), v2.clone(), v3.clone(), rec(1, 2, "0.a", 0)],
                NOW,
            )
            .unwrap();
        assert_eq!(
            out,
            [
                ApplyOutcome::Added,
                ApplyOutcome::Updated { previous_version: 1 },
                ApplyOutcome::IgnoredOlder,
                ApplyOutcome::Unchanged,
                ApplyOutcome::Rejected(Rejection::TypeChanged),
            ]
        );
        assert_eq!(s.get(&v1.id(), NOW).unwrap().unwrap(), v3);
        assert_eq!(s.sync_entries(&SyncRange::ALL, usize::MAX, NOW).unwrap().len(), 1);
        assert_eq!(s.apply_batch(&[], NOW).unwrap(), []);
    }

    pub(crate) fn search_through_the_store<S: RecordStore>(
        open: impl Fn(RecordLimits) -> (S, Guard),
    ) {
        let (mut s, _g) = open(RecordLimits::default());
        let l = RecordLimits::default();
        let mk = |id: u128, ty: u128, creator: &str, color: &str, size: i64| {
            builder(id, ty, creator, 0)
                .attribute("color", color)
                .attribute("size", size)
                .build(&l)
                .unwrap()
        };
        s.apply_batch(
            &[
                mk(1, 1, "0.alice", "red", 3),
                mk(2, 1, "0.bob", "green", 5),
                mk(3, 2, "0.alice", "reed", 8),
                mk(4, 2, "0.carol", "blue", 1),
            ],
            NOW,
        )
        .unwrap();
        let q = |text: &str| ids(&s.search(&Query::parse(text).unwrap(), NOW).unwrap());
        assert_eq!(q(r#"color = "re*""#), [1, 3]);
        assert_eq!(q(r#"color = "r?d""#), [1]);
        assert_eq!(q(r#"color != "re*""#), [2, 4]);
        assert_eq!(q("size >= 5"), [2, 3]);
        assert_eq!(q(r#"size >= 5 and @creator = "0.alice""#), [3]);
        assert_eq!(q(r#"@type = "00000000-0000-0000-0000-000000000002" and not size < 5"#), [3]);
        assert_eq!(q(r#"(color = "blue" or color = "green") and @creator = "0.*b""#), [2]);
        assert_eq!(q(r#"size = "3""#), Vec::<u128>::new());
        assert_eq!(q("missing = 1 or not missing = 1"), [1, 2, 3, 4]);
        assert_eq!(q("@version = 1 and @created <= 2027-01-15T08:00:00Z"), [1, 2, 3, 4]);
        assert_eq!(q("@expires < 2027-01-15T09:00:00Z"), Vec::<u128>::new());
        assert_eq!(q(r#"@id = "00000000-0000-0000-0000-000000000004""#), [4]);
    }

    /// Pages of enumerate and search, of every size, put together are the whole answer;
    /// a page after the last id is empty, and a tombstone or expired record is skipped.
    pub(crate) fn pages_of_enumerate_and_search<S: RecordStore>(
        open: impl Fn(RecordLimits) -> (S, Guard),
    ) {
        let (mut s, _g) = open(RecordLimits::default());
        let batch: Vec<Record> = (1..=9u128)
            .map(|id| {
                let who = if id % 3 == 0 { "0.bob" } else { "0.alice" };
                rec(id, 1 + id % 2, who, 0)
            })
            .collect();
        s.apply_batch(&batch, NOW).unwrap();
        s.delete(&rid(4), name("0.alice"), hlc(5, 0, 2), NOW).unwrap();
        let filters = [
            RecordFilter::All,
            RecordFilter::Type(rtype(1)),
            RecordFilter::Type(rtype(2)),
            RecordFilter::Creator(name("0.bob")),
            RecordFilter::Creator(name("0.carol")),
        ];
        for f in &filters {
            let whole = ids(&s.enumerate(f, NOW).unwrap());
            for limit in [1, 2, 4, 100] {
                let mut paged = Vec::new();
                let mut after = None;
                loop {
                    let page = RecordPage::new(
                        s.enumerate_page(f, after.as_ref(), limit, NOW).unwrap(),
                        limit,
                    );
                    assert!(page.records.len() <= limit);
                    paged.extend(ids(&page.records));
                    match page.next {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
                assert_eq!(paged, whole, "{f:?} in pages of {limit}");
            }
            assert!(s.enumerate_page(f, Some(&rid(9)), 5, NOW).unwrap().is_empty());
            assert!(s.enumerate_page(f, None, 0, NOW).unwrap().is_empty());
        }
        let q = Query::parse(r#"@creator = "0.alice""#).unwrap();
        let whole = ids(&s.search(&q, NOW).unwrap());
        assert_eq!(whole, [1, 2, 5, 7, 8]);
        for limit in [1, 3, 10] {
            let mut paged = Vec::new();
            let mut after = None;
            loop {
                let page =
                    RecordPage::new(s.search_page(&q, after.as_ref(), limit, NOW).unwrap(), limit);
                paged.extend(ids(&page.records));
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            assert_eq!(paged, whole, "search in pages of {limit}");
        }
    }

    /// `remove` takes records out with every index, leaves no tombstone, skips unknown ids.
    pub(crate) fn remove_leaves_no_trace<S: RecordStore>(
        open: impl Fn(RecordLimits) -> (S, Guard),
    ) {
        let (mut s, _g) = open(RecordLimits::default());
        for i in 1..=3 {
            s.add(&rec(i, 7, "0.alice", i as u64), NOW).unwrap();
        }
        let removed = s.remove(&[rid(2), rid(9)]).unwrap();
        assert_eq!(ids(&removed), [2]);
        assert!(s.get(&rid(2), NOW).unwrap().is_none());
        assert_eq!(s.len().unwrap(), 2);
        assert_eq!(ids(&s.enumerate(&RecordFilter::Type(rtype(7)), NOW).unwrap()), [1, 3]);
        assert_eq!(
            ids(&s.enumerate(&RecordFilter::Creator(name("0.alice")), NOW).unwrap()),
            [1, 3]
        );
        let synced = s.sync_entries(&SyncRange::ALL, usize::MAX, NOW).unwrap();
        assert_eq!(synced.len(), 2);
        // A removed record can be stored again (it is not remembered as deleted).
        s.apply(&rec(2, 7, "0.alice", 2), NOW).unwrap();
        assert_eq!(s.len().unwrap(), 3);
        assert!(s.remove(&[]).unwrap().is_empty());
    }

    /// Two stores that receive the same records in opposite orders end up identical.
    pub(crate) fn replicas_converge<S: RecordStore>(open: impl Fn(RecordLimits) -> (S, Guard)) {
        let (mut a, _ga) = open(RecordLimits::default());
        let (mut b, _gb) = open(RecordLimits::default());
        let x1 = rec(1, 1, "0.alice", 0);
        let x2a = bump(&x1, "0.bob", 10);
        let x2b = bump(&x1, "0.carol", 10);
        let x3 = bump(&x2a, "0.bob", 20);
        let dead = x2b.tombstone(name("0.carol"), hlc(15, 0, 3), &RecordLimits::default()).unwrap();
        let y1 = rec(2, 1, "0.bob", 5);
        let y2 = y1
            .update(name("0.bob"), hlc(30, 0, 2))
            .expires(secs_from_now(7200))
            .build(&RecordLimits::default())
            .unwrap();
        let all = [x1, x2a, x2b, x3, dead.clone(), y1, y2.clone()];
        for r in &all {
            a.apply(r, NOW).unwrap();
        }
        for r in all.iter().rev() {
            b.apply(r, NOW).unwrap();
        }
        let ea = a.sync_entries(&SyncRange::ALL, usize::MAX, NOW).unwrap();
        let eb = b.sync_entries(&SyncRange::ALL, usize::MAX, NOW).unwrap();
        assert_eq!(ea, eb);
        assert_eq!(a.get(&rid(1), NOW).unwrap().unwrap(), dead);
        assert_eq!(b.get(&rid(2), NOW).unwrap().unwrap(), y2);
    }
}

/// Instantiates every case for one store.
macro_rules! suite {
    ($store:ident, $open:path) => {
        mod $store {
            use super::*;
            suite!(@cases $open;
                add_and_get_byte_exact,
                apply_outcomes,
                rejections,
                store_limits_apply_to_every_record,
                tombstones,
                local_update_rules,
                enumerate_by_type_and_creator,
                sync_order_ranges_and_limits,
                expiry_hides_then_purges,
                batch_sees_its_own_writes,
                search_through_the_store,
                remove_leaves_no_trace,
                pages_of_enumerate_and_search,
                replicas_converge
            );
        }
    };
    (@cases $open:path; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                cases::$case($open);
            }
        )*
    };
}

suite!(mem, open_mem);
suite!(redb, open_redb);
suite!(redb_deferred, open_redb_deferred);

/// Deferred writes are kept when the store is flushed or dropped, and lost by neither.
#[test]
fn redb_deferred_writes_survive_flush_and_drop() {
    let (mut s, dir) = open_redb_deferred(RecordLimits::default());
    let path = s.path().to_path_buf();
    s.apply(&rec(1, 10, "0.alice", 0), NOW).unwrap();
    s.flush().unwrap();
    for i in 2..=3000u128 {
        s.apply(&rec(i, 10, "0.alice", 0), NOW).unwrap();
    }
    assert_eq!(s.len().unwrap(), 3000);
    drop(s);
    let s = peergroup_graph::RedbStore::open(&path, RecordLimits::default()).unwrap();
    assert_eq!(s.len().unwrap(), 3000);
    assert!(s.get(&rid(3000), NOW).unwrap().is_some());
    drop(dir);
}
#[cfg(feature = "sled")]
suite!(sled, open_sled);

/// A deferred redb store stages applied records and writes them in batches; every read
/// must merge them in. This drives a deferred store and the in-memory store with the same
/// random writes (new records, newer, older and deleted versions, batches, flushes,
/// durable writes in between, removals) and compares every read after each step.
mod staging {
    use super::*;
    use peergroup_graph::WriteMode;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        /// Apply the next version of record `id` (or its first).
        Newer(u8),
        /// Apply the first version of `id` again (older, or unchanged).
        First(u8),
        /// Delete `id` (a tombstone), if it exists.
        Delete(u8),
        /// Apply the next versions of two records in one batch.
        Pair(u8, u8),
        Flush,
        /// One write in durable mode, then back to deferred.
        Durable(u8),
        Remove(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..8).prop_map(Op::Newer),
            1 => (0u8..8).prop_map(Op::First),
            1 => (0u8..8).prop_map(Op::Delete),
            1 => (0u8..8, 0u8..8).prop_map(|(a, b)| Op::Pair(a, b)),
            1 => Just(Op::Flush),
            1 => (0u8..8).prop_map(Op::Durable),
            1 => (0u8..8).prop_map(Op::Remove),
        ]
    }

    struct Versions {
        first: std::collections::HashMap<u8, Record>,
        latest: std::collections::HashMap<u8, Record>,
        clock: u64,
    }

    impl Versions {
        fn next(&mut self, id: u8) -> Record {
            self.clock += 10;
            let r = match self.latest.get(&id) {
                None => {
                    let creator = ["0.alice", "0.bob", "0.carol"][usize::from(id % 3)];
                    rec(u128::from(id) + 1, u128::from(id % 2), creator, self.clock)
                }
                Some(l) if l.is_deleted() => l.clone(),
                Some(l) => bump(l, "0.bob", self.clock),
            };
            self.first.entry(id).or_insert_with(|| r.clone());
            self.latest.insert(id, r.clone());
            r
        }

        fn delete(&mut self, id: u8) -> Option<Record> {
            let l = self.latest.get(&id)?;
            if l.is_deleted() {
                return None;
            }
            self.clock += 10;
            let t = l
                .tombstone(name("0.alice"), hlc(self.clock, 0, 3), &RecordLimits::default())
                .unwrap();
            self.latest.insert(id, t.clone());
            Some(t)
        }
    }

    fn same_reads(a: &impl RecordStore, b: &impl RecordStore) {
        let enc = |v: Vec<Record>| v.into_iter().map(|r| r.encoded().to_vec()).collect::<Vec<_>>();
        for id in 1..=8u128 {
            assert_eq!(
                a.get(&rid(id), NOW).unwrap().map(|r| r.encoded().to_vec()),
                b.get(&rid(id), NOW).unwrap().map(|r| r.encoded().to_vec()),
                "get {id}"
            );
        }
        assert_eq!(a.len().unwrap(), b.len().unwrap(), "len");
        for f in [
            RecordFilter::All,
            RecordFilter::Type(rtype(0)),
            RecordFilter::Type(rtype(1)),
            RecordFilter::Creator(name("0.alice")),
        ] {
            assert_eq!(enc(a.enumerate(&f, NOW).unwrap()), enc(b.enumerate(&f, NOW).unwrap()));
            // pages of 3, put together, are the whole enumeration
            let mut paged = Vec::new();
            let mut after = None;
            loop {
                let page = a.enumerate_page(&f, after.as_ref(), 3, NOW).unwrap();
                after = page.last().map(Record::id);
                let last = page.len() < 3;
                paged.extend(page);
                if last {
                    break;
                }
            }
            assert_eq!(enc(paged), enc(b.enumerate(&f, NOW).unwrap()), "pages of {f:?}");
        }
        let all = b.sync_entries(&SyncRange::ALL, usize::MAX, NOW).unwrap();
        let mut ranges = vec![SyncRange::ALL];
        ranges.extend(all.iter().map(|e| SyncRange::after(e.key)));
        if all.len() >= 2 {
            ranges.push(SyncRange::between(all[0].key, all[all.len() - 1].key));
        }
        for range in &ranges {
            for limit in [1, 2, 3, 100] {
                assert_eq!(
                    a.sync_entries(range, limit, NOW).unwrap(),
                    b.sync_entries(range, limit, NOW).unwrap(),
                    "sync_entries {range:?} {limit}"
                );
                assert_eq!(
                    enc(a.sync_records(range, limit, NOW).unwrap()),
                    enc(b.sync_records(range, limit, NOW).unwrap()),
                    "sync_records {range:?} {limit}"
                );
            }
        }
        assert_eq!(a.last_sync_key().unwrap(), b.last_sync_key().unwrap(), "last_sync_key");
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
        #[test]
        fn a_deferred_store_reads_like_the_memory_store(ops in proptest::collection::vec(op(), 1..40)) {
            let (mut model, _m) = open_mem(RecordLimits::default());
            let (mut store, _g) = open_redb_deferred(RecordLimits::default());
            let mut v = Versions { first: Default::default(), latest: Default::default(), clock: 0 };
            for op in ops {
                let batch: Vec<Record> = match op {
                    Op::Newer(id) => vec![v.next(id)],
                    Op::First(id) => v.first.get(&id).cloned().into_iter().collect(),
                    Op::Delete(id) => v.delete(id).into_iter().collect(),
                    Op::Pair(a, b) => vec![v.next(a), v.next(b)],
                    Op::Flush => {
                        store.flush().unwrap();
                        Vec::new()
                    }
                    Op::Durable(id) => {
                        let r = v.next(id);
                        store.set_write_mode(WriteMode::Durable);
                        let got = store.apply_batch(std::slice::from_ref(&r), NOW).unwrap();
                        store.set_write_mode(WriteMode::Deferred);
                        prop_assert_eq!(got, model.apply_batch(std::slice::from_ref(&r), NOW).unwrap());
                        Vec::new()
                    }
                    Op::Remove(id) => {
                        let ids = [rid(u128::from(id) + 1)];
                        let a: Vec<_> = store.remove(&ids).unwrap().iter().map(Record::id).collect();
                        let b: Vec<_> = model.remove(&ids).unwrap().iter().map(Record::id).collect();
                        prop_assert_eq!(a, b);
                        v.latest.remove(&id);
                        v.first.remove(&id);
                        Vec::new()
                    }
                };
                if !batch.is_empty() {
                    prop_assert_eq!(
                        store.apply_batch(&batch, NOW).unwrap(),
                        model.apply_batch(&batch, NOW).unwrap()
                    );
                }
                same_reads(&store, &model);
            }
            // and after a flush, a reopen reads the same
            let path = store.path().to_path_buf();
            drop(store);
            let reopened = peergroup_graph::RedbStore::open(&path, RecordLimits::default()).unwrap();
            same_reads(&reopened, &model);
        }
    }
}
