//! Store apply throughput: 300-byte records in batches of 100. Ignored by default; run
//!
//! ```text
//! cargo test --release -p peergroup-graph --test it -- apply_throughput --ignored --nocapture
//! ```
//!
//! (add `--features sled` for the sled figures). Prints the median of 3 repetitions for
//! each store: adding 100,000 new records, then applying a newer version of each, then
//! reopening the on-disk store (which checks its integrity) and reading every record back.
#![allow(clippy::unwrap_used)]
// A test harness, not a protocol core: a benchmark measures real time.
#![allow(clippy::disallowed_methods)]

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use peergroup_graph::record::{Record, RecordBuilder, RecordLimits};
use peergroup_graph::{ApplyOutcome, RecordStore, SyncRange};

const N: u64 = 100_000;
const BATCH: usize = 100;
const REPS: usize = 3;

fn records() -> (Vec<Record>, Vec<Record>) {
    let l = RecordLimits::default();
    let v1: Vec<Record> = (0..N)
        .map(|i| {
            RecordBuilder::new(
                rtype(1),
                rid(u128::from(i)),
                name("0.bench"),
                hlc(i, 0, 1),
                secs_from_now(3600),
            )
            .attribute("seq", i64::try_from(i).unwrap())
            .payload(vec![u8::try_from(i % 251).unwrap(); 215])
            .build(&l)
            .unwrap()
        })
        .collect();
    let v2 = v1.iter().map(|r| bump(r, "0.bench", N + 10)).collect();
    (v1, v2)
}

fn apply_all<S: RecordStore>(s: &mut S, records: &[Record], expect_added: bool) -> Duration {
    let t = Instant::now();
    for chunk in records.chunks(BATCH) {
        let out = s.apply_batch(chunk, NOW).unwrap();
        if expect_added {
            assert!(out.iter().all(|o| *o == ApplyOutcome::Added));
        } else {
            assert!(out.iter().all(|o| matches!(o, ApplyOutcome::Updated { .. })));
        }
    }
    t.elapsed()
}

fn rate(n: usize, d: Duration) -> String {
    format!("{:.1} k records/s", n as f64 / d.as_secs_f64() / 1000.0)
}

/// Reopens a store's files and reads everything back: (open time, read time).
type Reopen = dyn Fn(&Guard) -> (Duration, Duration);

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn report<S: RecordStore>(
    label: &str,
    v1: &[Record],
    v2: &[Record],
    mut open: impl FnMut() -> (S, Guard),
    reopen: Option<&Reopen>,
) {
    let (mut add, mut upd, mut ro, mut rd) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..REPS {
        let (mut s, g) = open();
        add.push(apply_all(&mut s, v1, true));
        upd.push(apply_all(&mut s, v2, false));
        drop(s);
        if let Some(f) = reopen {
            let (o, r) = f(&g);
            ro.push(o);
            rd.push(r);
        }
    }
    let (a, u) = (median(add), median(upd));
    eprintln!(
        "{label}: add {} ({a:?} for {N}), update {} ({u:?})",
        rate(v1.len(), a),
        rate(v2.len(), u)
    );
    if !ro.is_empty() {
        let (o, r) = (median(ro), median(rd));
        eprintln!("{label}: reopen {o:?}; read all {N} back {:?} ({})", r, rate(v1.len(), r));
    }
}

#[test]
#[ignore = "benchmark; run in release with --ignored --nocapture"]
fn apply_throughput_300_byte_records_batches_of_100() {
    let t = Instant::now();
    let (v1, v2) = records();
    eprintln!(
        "built {} records of {} bytes (and as many updates of {} bytes) in {:?}",
        v1.len() + v2.len(),
        v1[0].encoded_len(),
        v2[0].encoded_len(),
        t.elapsed()
    );
    report("MemStore", &v1, &v2, || open_mem(RecordLimits::default()), None);
    let reopen_redb = |g: &Guard| {
        let path = g.as_ref().unwrap().path().join("records.redb");
        let t = Instant::now();
        let s = peergroup_graph::RedbStore::open(&path, RecordLimits::default()).unwrap();
        let o = t.elapsed();
        let t = Instant::now();
        let n = s.sync_records(&SyncRange::ALL, usize::MAX, NOW).unwrap().len();
        assert_eq!(n as u64, N);
        (o, t.elapsed())
    };
    report("RedbStore", &v1, &v2, || open_redb(RecordLimits::default()), Some(&reopen_redb));
    #[cfg(feature = "sled")]
    {
        let reopen_sled = |g: &Guard| {
            let path = g.as_ref().unwrap().path().join("records.sled");
            let t = Instant::now();
            let s = peergroup_graph::SledStore::open(&path, RecordLimits::default()).unwrap();
            let o = t.elapsed();
            let t = Instant::now();
            let n = s.sync_records(&SyncRange::ALL, usize::MAX, NOW).unwrap().len();
            assert_eq!(n as u64, N);
            (o, t.elapsed())
        };
        report("SledStore", &v1, &v2, || open_sled(RecordLimits::default()), Some(&reopen_sled));
    }
}
