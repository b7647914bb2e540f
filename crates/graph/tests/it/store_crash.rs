//! Acknowledged writes survive SIGKILL (DESIGN.md §6: "a record acknowledged to the
//! application survives kill -9").
//!
//! Each test re-executes this test binary as a child *writer* (selected by the
//! `PEERGROUP_GRAPH_CRASH_WRITER` environment variable) that applies batches to an on-disk
//! store and prints `ACK n` only after `apply_batch` for batch `n` returned. A batch adds
//! 10 new records (300-byte payloads), updates one record of the previous batch and
//! deletes one of the batch before that. The parent kills the child with SIGKILL at a
//! random point (a few runs before the first ACK, during open or the first commit), then
//! reopens the store and checks that:
//!
//! * the store opens;
//! * every acknowledged batch is present, every record byte-exact (including the updates
//!   and tombstones of later acknowledged batches);
//! * at most the one batch in flight at the kill is present beyond the last ACK, and it is
//!   present completely or not at all (atomic batches), with no holes before it;
//! * the store accepts and returns a new write.
//!
//! The store is kept across the runs, so later runs also recover stores that earlier
//! kills left behind. 20 runs per backend; set `PEERGROUP_GRAPH_CRASH_SEED` to vary the
//! kill points (the default seed is fixed).
//!
//! The kill is `Child::kill`: SIGKILL on Unix, `TerminateProcess` on Windows (where CI runs
//! this under wine), both abrupt: no destructor or flush runs in the child.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// A test harness, not a protocol core: kill delays and reopen times are real time.
#![allow(clippy::disallowed_methods)]

use crate::common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{NOW, name};
use peergroup_base::UnixTime;
use peergroup_graph::record::{Record, RecordBuilder, RecordLimits};
use peergroup_graph::{Hlc, RecordId, RecordStore, RecordType, SyncRange};

const ENV_WRITER: &str = "PEERGROUP_GRAPH_CRASH_WRITER";
const ENV_PATH: &str = "PEERGROUP_GRAPH_CRASH_PATH";
const ENV_START: &str = "PEERGROUP_GRAPH_CRASH_START";
const ENV_SEED: &str = "PEERGROUP_GRAPH_CRASH_SEED";

/// New records per batch.
const K: u64 = 10;
const RUNS: usize = 20;
/// Batches per flush in the "redb-deferred" mode.
const DEFERRED_GROUP: u64 = 3;

fn expires() -> UnixTime {
    NOW.saturating_add(Duration::from_secs(365 * 86_400))
}

fn stamp(id: u64, step: u32) -> Hlc {
    Hlc::new(UnixTime::from_millis(NOW.as_millis() + id), step, 7)
}

fn new_record(id: u64) -> Record {
    let payload: Vec<u8> =
        (0..300u64).map(|i| (id.wrapping_mul(31).wrapping_add(i) % 251) as u8).collect();
    RecordBuilder::new(
        RecordType::from_u128(1),
        RecordId::from_u128(u128::from(id)),
        name("0.writer"),
        stamp(id, 0),
        expires(),
    )
    .attribute("seq", i64::try_from(id).unwrap())
    .payload(payload)
    .build(&RecordLimits::default())
    .unwrap()
}

fn updated(id: u64) -> Record {
    new_record(id)
        .update(name("0.writer"), stamp(id, 1))
        .payload(vec![0xee; 300])
        .build(&RecordLimits::default())
        .unwrap()
}

fn tombstone(id: u64) -> Record {
    new_record(id).tombstone(name("0.writer"), stamp(id, 2), &RecordLimits::default()).unwrap()
}

fn batch(b: u64) -> Vec<Record> {
    let mut out: Vec<Record> = (b * K..(b + 1) * K).map(new_record).collect();
    if b >= 1 {
        out.push(updated((b - 1) * K));
    }
    if b >= 2 {
        out.push(tombstone((b - 2) * K + 1));
    }
    out
}

/// The expected encoding of record `id` once batches `0..=n` are applied (`id` in a
/// batch `<= n`); built once per (id, state) and cached across runs.
fn expected(cache: &mut HashMap<(u64, u8), Vec<u8>>, id: u64, n: u64) -> &[u8] {
    let (b, i) = (id / K, id % K);
    let state = if i == 0 && b < n {
        1
    } else if i == 1 && b + 1 < n {
        2
    } else {
        0
    };
    cache.entry((id, state)).or_insert_with(|| {
        match state {
            1 => updated(id),
            2 => tombstone(id),
            _ => new_record(id),
        }
        .encoded()
        .to_vec()
    })
}

fn open(kind: &str, path: &Path) -> Result<Box<dyn RecordStore>, peergroup_graph::GraphError> {
    match kind {
        "redb" | "redb-deferred" => {
            Ok(Box::new(peergroup_graph::RedbStore::open(path, RecordLimits::default())?))
        }
        #[cfg(feature = "sled")]
        "sled" => Ok(Box::new(peergroup_graph::SledStore::open(path, RecordLimits::default())?)),
        other => panic!("unknown store kind {other}"),
    }
}

/// The child: applies batches from `start` on, printing `ACK n` after each. Exits when
/// stdout is closed (the parent is gone) or after a generous number of batches.
fn writer(kind: &str) -> ! {
    let path = std::env::var(ENV_PATH).unwrap();
    let start: u64 = std::env::var(ENV_START).unwrap().parse().unwrap();
    let mut store = open(kind, Path::new(&path)).unwrap();
    let mut out = std::io::stdout();
    // "redb-deferred" writes as the graph driver does: records committed without fsync
    // (`WriteMode::Deferred`), made durable by a `flush`, acknowledged after it — here
    // every `DEFERRED_GROUP` batches.
    let deferred = kind == "redb-deferred";
    if deferred {
        store.set_write_mode(peergroup_graph::WriteMode::Deferred);
    }
    for b in start..start + 100_000 {
        store.apply_batch(&batch(b), NOW).unwrap();
        if deferred {
            if (b - start) % DEFERRED_GROUP != DEFERRED_GROUP - 1 {
                continue;
            }
            store.flush().unwrap();
        }
        if writeln!(out, "ACK {b}").and_then(|()| out.flush()).is_err() {
            std::process::exit(0);
        }
    }
    std::process::exit(0)
}

/// Kills the child if the parent test fails before it does.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// splitmix64, for reproducible kill delays.
fn next(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct RunReport {
    acked: u64,
    extra: u64,
    killed_before_ack: bool,
    reopen: Duration,
}

fn crash_test(kind: &str, test_name: &str) {
    if let Ok(k) = std::env::var(ENV_WRITER) {
        writer(&k);
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(format!("records.{kind}"));
    let mut seed: u64 =
        std::env::var(ENV_SEED).ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_0fc4_a5a5);
    let mut next_batch = 0u64;
    let mut reports = Vec::new();
    let mut cache = HashMap::new();
    for run in 0..RUNS {
        let child = Command::new(std::env::current_exe().unwrap())
            .args([test_name, "--exact", "--nocapture", "--test-threads=1", "--quiet"])
            .env(ENV_WRITER, kind)
            .env(ENV_PATH, &path)
            .env(ENV_START, next_batch.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut child = KillOnDrop(child);
        let stdout = child.0.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<u64>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("ACK ") {
                    let _ = tx.send(n.trim().parse().unwrap());
                }
            }
        });
        // every 7th run dies before its first ACK: during open, recovery or the first commit
        let killed_before_ack = run % 7 == 3;
        let mut acks = Vec::new();
        if killed_before_ack {
            std::thread::sleep(Duration::from_millis(next(&mut seed) % 40));
        } else {
            acks.push(
                rx.recv_timeout(Duration::from_secs(30)).expect("writer acknowledged nothing"),
            );
            std::thread::sleep(Duration::from_millis(next(&mut seed) % 120));
        }
        child.0.kill().unwrap(); // SIGKILL on Unix, TerminateProcess on Windows
        let status = child.0.wait().unwrap();
        assert!(!status.success(), "run {run}: the writer exited by itself: {status}");
        reader.join().unwrap();
        acks.extend(rx.try_iter());
        let last_ack = acks.iter().max().copied();
        if let Some(a) = last_ack {
            assert!(a >= next_batch, "run {run}: ACK {a} before the start batch {next_batch}");
        }

        // Reopen and check.
        let t = Instant::now();
        let mut store =
            open(kind, &path).unwrap_or_else(|e| panic!("run {run}: reopen failed: {e}"));
        let reopen = t.elapsed();
        let all = store.sync_records(&SyncRange::ALL, usize::MAX, NOW).unwrap();
        let records: HashMap<u64, Record> = all
            .into_iter()
            .filter(|r| r.record_type() == RecordType::from_u128(1))
            .map(|r| (u64::try_from(u128::from_be_bytes(*r.id().as_bytes())).unwrap(), r))
            .collect();
        // Batches 0..acked_end were acknowledged (in this run or before); 0..present_end
        // are in the store. The batch in flight at the kill may or may not be there.
        let acked_end = last_ack.map_or(next_batch, |a| a + 1);
        let present_end = records.keys().map(|id| id / K + 1).max().unwrap_or(0);
        assert!(
            present_end >= acked_end,
            "run {run}: acknowledged batches {present_end}..{acked_end} lost"
        );
        // In flight at the kill: one batch, or in the deferred mode one flush group.
        let in_flight = if kind == "redb-deferred" { DEFERRED_GROUP } else { 1 };
        assert!(
            present_end <= acked_end + in_flight,
            "run {run}: batch {} present but never started",
            present_end - 1
        );
        assert_eq!(records.len() as u64, present_end * K, "run {run}: holes or a partial batch");
        if present_end > 0 {
            for id in 0..present_end * K {
                let want = expected(&mut cache, id, present_end - 1);
                let got =
                    records.get(&id).unwrap_or_else(|| panic!("run {run}: record {id} missing"));
                assert_eq!(got.encoded(), want, "run {run}: record {id} differs");
            }
        }
        // The recovered store accepts (and returns) a write.
        let probe = RecordBuilder::new(
            RecordType::from_u128(2),
            RecordId::from_u128((1 << 100) + run as u128),
            name("0.probe"),
            stamp(0, 0),
            expires(),
        )
        .build(&RecordLimits::default())
        .unwrap();
        store.add(&probe, NOW).unwrap();
        assert_eq!(store.get(&probe.id(), NOW).unwrap().unwrap(), probe);
        drop(store);

        reports.push(RunReport {
            acked: acked_end - next_batch,
            extra: present_end - acked_end,
            killed_before_ack,
            reopen,
        });
        next_batch = present_end;
    }
    let mut acked: Vec<u64> =
        reports.iter().filter(|r| !r.killed_before_ack).map(|r| r.acked).collect();
    acked.sort_unstable();
    let mut reopen: Vec<Duration> = reports.iter().map(|r| r.reopen).collect();
    reopen.sort_unstable();
    eprintln!(
        "crash test {kind}: {RUNS} runs ({} killed before the first ACK), 0 failures; \
         acknowledged batches per run min/median/max {}/{}/{}; total batches {next_batch} \
         ({} records); un-acknowledged batch found complete in {} runs; reopen median/max \
         {:?}/{:?}; wall time {:?}",
        reports.iter().filter(|r| r.killed_before_ack).count(),
        acked.first().unwrap_or(&0),
        acked.get(acked.len() / 2).unwrap_or(&0),
        acked.last().unwrap_or(&0),
        next_batch * K,
        reports.iter().filter(|r| r.extra > 0).count(),
        reopen[reopen.len() / 2],
        reopen[reopen.len() - 1],
        started.elapsed(),
    );
}

#[test]
fn redb_acknowledged_writes_survive_sigkill() {
    crash_test("redb", "store_crash::redb_acknowledged_writes_survive_sigkill");
}

/// The graph driver's way of writing: deferred commits, acknowledged after a flush.
#[test]
fn redb_deferred_writes_acknowledged_after_flush_survive_sigkill() {
    crash_test(
        "redb-deferred",
        "store_crash::redb_deferred_writes_acknowledged_after_flush_survive_sigkill",
    );
}

#[cfg(feature = "sled")]
#[test]
fn sled_acknowledged_writes_survive_sigkill() {
    crash_test("sled", "store_crash::sled_acknowledged_writes_survive_sigkill");
}
