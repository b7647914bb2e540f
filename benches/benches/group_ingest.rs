//! Signed group records ingested by one receiver from one publisher, in two separate
//! processes over real QUIC on loopback (issue 9's ingest figure). One JSON line per
//! figure:
//!
//! * `ed25519_verify_per_sec`: this machine's verify rate on one core, one signature at a
//!   time, in the same run (one verification per record is the cost of ingest on one core
//!   when records are checked one by one);
//! * `ed25519_batch_verify_per_sec`: the same signatures checked in batches of 256 on one
//!   core (`identity.md` §1.1, what a receiver does with a message of many records; one
//!   signer's terms coalesce, so this is several times the single rate);
//! * `ingest_live`: the publisher (a child process) writes `N` records in batches of
//!   `GROUP_INGEST_BATCH` durable commits while the receiver (this process) is connected;
//!   the figure is `N` / (first batch started → the receiver holds all `N`), with the
//!   publisher's own write rate beside it, since signing at the publisher bounds it too;
//! * `ingest_backlog`: the publisher already holds `N` records when the receiver connects;
//!   the figure is `N` / (connect → the receiver holds all `N`), so only transfer,
//!   verification and storage at the receiver count.
//!
//! Each figure reports `rate_per_sec`, `verify_ratio` = rate / single verify rate and
//! `batch_verify_ratio` = rate / batch verify rate (both on one core).
//! `GROUP_INGEST_RUNS` (default 3) repeats both and gives the median; `GROUP_INGEST_RECORDS`
//! (default 20,000) and `GROUP_INGEST_BATCH` (default 1,000) change the sizes.
//!
//! Run with `cargo bench -p peergroup-benches --bench group_ingest`.
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use peergroup_base::PeerName;
use peergroup_graph::proto::NewRecord;
use peergroup_graph::{RecordFilter, RecordType};
use peergroup_group::net::{Group, GroupOptions, random_record_id};
use peergroup_group::{CreateOptions, Role};
use peergroup_identity::{Identity, IdentityInfo};
use peergroup_net::{Endpoint, EndpointConfig};
use serde_json::json;

const DATA: RecordType = RecordType::from_u128(0x6265_6e63_6800_4000_8000_0000_0000_0002);
const WAIT: Duration = Duration::from_secs(300);

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    if std::env::var("GROUP_INGEST_ROLE").as_deref() == Ok("publisher") {
        rt.block_on(publisher());
    } else {
        rt.block_on(receiver());
    }
}

fn identity(seed: [u8; 32], name: &str) -> Identity {
    Identity::from_seed(seed, name, "").unwrap()
}

fn batch(n: usize, tag: usize) -> Vec<NewRecord> {
    (0..n)
        .map(|i| {
            NewRecord::new(
                random_record_id(),
                DATA,
                Duration::from_secs(3600),
                format!("record {tag}/{i} {}", "x".repeat(60)).into_bytes(),
            )
        })
        .collect()
}

async fn write_all(g: &Group, records: usize, per_batch: usize) -> f64 {
    let t = Instant::now();
    let mut written = 0;
    while written < records {
        let n = per_batch.min(records - written);
        g.add_records(batch(n, written)).await.unwrap();
        written += n;
    }
    records as f64 / t.elapsed().as_secs_f64()
}

/// The child: opens the publisher's group, listens, and writes records on command.
/// Protocol on stdin/stdout, one line each: it prints `addr <socket address>`; then
/// `write N B` → writes N records in batches of B and prints `wrote <records/s>`;
/// `quit` ends it.
async fn publisher() {
    let seed: [u8; 32] = hex(&std::env::var("GROUP_INGEST_SEED").unwrap());
    let dir = std::env::var("GROUP_INGEST_DIR").unwrap();
    let group = PeerName::parse(&std::env::var("GROUP_INGEST_GROUP").unwrap()).unwrap();
    let e = Endpoint::bind(identity(seed, "publisher"), EndpointConfig::loopback()).await.unwrap();
    let mut g = Group::open(&e, &group, GroupOptions::default().data_dir(&dir)).unwrap();
    g.listen().await.unwrap();
    println!("addr {}", e.local_addr().unwrap());
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["write", n, b] => {
                let rate = write_all(&g, n.parse().unwrap(), b.parse().unwrap()).await;
                println!("wrote {rate}");
            }
            _ => break,
        }
    }
    g.close().await.unwrap();
    e.close().await;
}

fn hex(s: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

fn seed_hex(seed: &[u8; 32]) -> String {
    seed.iter().map(|b| format!("{b:02x}")).collect()
}

struct Publisher {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Publisher {
    fn spawn(seed: &[u8; 32], dir: &Path, group: &PeerName) -> (Publisher, std::net::SocketAddr) {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env("GROUP_INGEST_ROLE", "publisher")
            .env("GROUP_INGEST_SEED", seed_hex(seed))
            .env("GROUP_INGEST_DIR", dir)
            .env("GROUP_INGEST_GROUP", group.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line.trim().strip_prefix("addr ").unwrap().parse().unwrap();
        (Publisher { child, stdin, stdout }, addr)
    }

    /// Starts a write of `n` records; [`Publisher::wrote`] waits for its end.
    fn write(&mut self, n: usize, per_batch: usize) {
        writeln!(self.stdin, "write {n} {per_batch}").unwrap();
        self.stdin.flush().unwrap();
    }

    fn wrote(&mut self) -> f64 {
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        line.trim().strip_prefix("wrote ").unwrap().parse().unwrap()
    }

    fn quit(mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.child.wait();
    }
}

/// Waits until `g` holds `want` data records; returns when it first did. Polling must
/// not slow the node it measures: the record count is cheap, and `base` (the records
/// other than data ones, counted before) says when enumerating the data records can
/// succeed; the enumeration then confirms it. The time returned is that of the count, so
/// the confirming enumeration (a read of every record) is not part of the figure.
async fn wait_holding(g: &Group, want: usize, base: u64) -> Instant {
    let started = Instant::now();
    loop {
        if g.record_count().await.unwrap() >= base + want as u64 {
            let at = Instant::now();
            if g.enumerate(RecordFilter::Type(DATA)).await.unwrap().len() >= want {
                return at;
            }
        }
        if started.elapsed() > WAIT {
            let held = g.enumerate(RecordFilter::Type(DATA)).await.unwrap().len();
            panic!("timed out waiting for {want} records: {held} held, status {:?}", g.status());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// One run: a fresh group, the publisher in a child process, both measures.
async fn one_run(run: usize, records: usize, per_batch: usize) -> (f64, f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let pub_dir = dir.path().join("publisher");
    let recv_dir = dir.path().join("receiver");
    let mut pub_seed = [0u8; 32];
    pub_seed[..8].copy_from_slice(&(run as u64 + 1).to_le_bytes());
    pub_seed[31] = 0xa1;
    let publisher_id = identity(pub_seed, "publisher");
    let receiver_e =
        Endpoint::bind(Identity::generate("receiver", "").unwrap(), EndpointConfig::loopback())
            .await
            .unwrap();

    // the group, created here with the publisher's identity, then handed to the child
    let (group, invitation) = {
        let e = Endpoint::bind(publisher_id, EndpointConfig::loopback()).await.unwrap();
        let g = Group::create(
            &e,
            &CreateOptions::new("ingest"),
            GroupOptions::default().data_dir(&pub_dir),
        )
        .unwrap();
        let info = IdentityInfo::parse(&IdentityInfo::export(receiver_e.identity())).unwrap();
        let inv = g.invite(&info, Role::Member, None).unwrap();
        let name = g.name().clone();
        g.close().await.unwrap();
        e.close().await;
        (name, inv)
    };
    let (mut publisher, addr) = Publisher::spawn(&pub_seed, &pub_dir, &group);

    // live: connected first, then the publisher writes
    let mut g =
        Group::join(&receiver_e, &invitation, GroupOptions::default().data_dir(&recv_dir)).unwrap();
    g.connect(addr).await.unwrap();
    let started = Instant::now();
    while g.admitted_peers().await.unwrap().is_empty() {
        assert!(started.elapsed() < WAIT, "never admitted");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let base = g.record_count().await.unwrap();
    let t = Instant::now();
    publisher.write(records, per_batch);
    let done = wait_holding(&g, records, base).await;
    let live = records as f64 / (done - t).as_secs_f64();
    let publisher_rate = publisher.wrote();
    eprintln!("run {run}: live {live:.0}/s (publisher {publisher_rate:.0}/s)");
    g.close().await.unwrap();

    // backlog: the publisher writes while the receiver is away, then the receiver connects
    publisher.write(records, per_batch);
    publisher.wrote();
    let mut g =
        Group::open(&receiver_e, &group, GroupOptions::default().data_dir(&recv_dir)).unwrap();
    let t = Instant::now();
    g.connect(addr).await.unwrap();
    let done = wait_holding(&g, 2 * records, base).await;
    let backlog = records as f64 / (done - t).as_secs_f64();
    g.close().await.unwrap();
    receiver_e.close().await;
    publisher.quit();
    (live, publisher_rate, backlog)
}

/// Signatures per second on one core: one by one, and in batches of 256.
fn verify_rate() -> (f64, f64) {
    let id = Identity::generate("v", "").unwrap();
    let items: Vec<([u8; 32], Vec<u8>, [u8; 64])> = (0..5_120)
        .map(|i| {
            let m = format!("record {i} {}", "x".repeat(60)).into_bytes();
            let s = id.sign(&m);
            (id.public_key(), m, s)
        })
        .collect();
    let t = Instant::now();
    for (k, m, s) in &items {
        assert!(peergroup_identity::verify_signature(k, m, s));
    }
    let single = items.len() as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for chunk in items.chunks(256) {
        assert!(peergroup_identity::verify_signatures(chunk).iter().all(|ok| *ok));
    }
    (single, items.len() as f64 / t.elapsed().as_secs_f64())
}

async fn receiver() {
    let records = env("GROUP_INGEST_RECORDS", 20_000);
    let per_batch = env("GROUP_INGEST_BATCH", 1_000);
    let runs = env("GROUP_INGEST_RUNS", 3).max(1);
    let (mut verify, mut batch_verify) = (Vec::new(), Vec::new());
    let (mut live, mut publisher, mut backlog) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs {
        let (v, bv) = verify_rate();
        verify.push(v);
        batch_verify.push(bv);
        let (l, p, b) = one_run(run, records, per_batch).await;
        eprintln!("run {run}: live {l:.0}/s (publisher {p:.0}/s), backlog {b:.0}/s");
        live.push(l);
        publisher.push(p);
        backlog.push(b);
    }
    let (v, bv) = verify_rate();
    verify.push(v);
    batch_verify.push(bv);
    let v = median(verify.clone());
    println!("{}", json!({ "figure": "ed25519_verify_per_sec", "median": v, "all": verify }));
    let bv = median(batch_verify.clone());
    println!(
        "{}",
        json!({ "figure": "ed25519_batch_verify_per_sec", "batch": 256, "median": bv, "all": batch_verify })
    );
    let l = median(live.clone());
    println!(
        "{}",
        json!({ "figure": "ingest_live", "records": records, "batch": per_batch, "rate_per_sec": l, "verify_ratio": l / v, "batch_verify_ratio": l / bv, "publisher_write_per_sec": median(publisher.clone()), "all": live, "publisher_all": publisher })
    );
    let b = median(backlog.clone());
    println!(
        "{}",
        json!({ "figure": "ingest_backlog", "records": records, "rate_per_sec": b, "verify_ratio": b / v, "batch_verify_ratio": b / bv, "all": backlog })
    );
}
