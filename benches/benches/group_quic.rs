//! Groups over real QUIC on loopback, in one process (issue 9's figures). One JSON line per
//! figure:
//!
//! * `join_ms`: a group of 20 peers holding 10,000 records (written by the creator in
//!   batches of 1,000 durable commits): each of the 19 members, invitation in hand →
//!   joined, connected through a member that already holds everything, and holding every
//!   record — median and p99 (= the slowest of 19);
//! * `password_join_ms`: a password join against the creator, Argon2id included — median
//!   of 5 (each from a new identity, waiting out the per-address backoff is not needed:
//!   every attempt succeeds);
//! * `revocation_ms`: the creator revokes a member → the last of the other members still
//!   in the group lists it revoked (a peer that has not learned it within 20 s is reported
//!   on stderr and the wait moves on) — median of 3 revocations;
//! * `ed25519_verify_per_sec`: the verify rate of this machine in the same run.
//!
//! Run with `cargo bench -p peergroup-benches --bench group_quic`. `GROUP_QUIC_RECORDS`
//! and `GROUP_QUIC_PEERS` change the sizes (defaults 10,000 and 20).
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use peergroup_graph::proto::NewRecord;
use peergroup_graph::{RecordFilter, RecordType};
use peergroup_group::net::{Group, GroupOptions, random_record_id};
use peergroup_group::password::{PasswordInvitation, PasswordOptions};
use peergroup_group::{CreateOptions, Role};
use peergroup_identity::{Identity, IdentityInfo};
use peergroup_net::{Endpoint, EndpointConfig};
use serde_json::json;

const DATA: RecordType = RecordType::from_u128(0x6265_6e63_6800_4000_8000_0000_0000_0001);
const WAIT: Duration = Duration::from_secs(120);

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

async fn endpoint(name: &str) -> Endpoint {
    Endpoint::bind(Identity::generate(name, "").unwrap(), EndpointConfig::loopback()).await.unwrap()
}

/// Whether `g` holds `want` data records. The record count (security and presence
/// records included) is a cheap upper bound: the records are enumerated only once there
/// can be enough of them, so that polling does not slow the node it measures.
async fn holds(g: &Group, want: usize) -> bool {
    g.record_count().await.unwrap() >= want as u64
        && g.enumerate(RecordFilter::Type(DATA)).await.unwrap().len() >= want
}

async fn wait_until<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !f().await {
        assert!(started.elapsed() < WAIT, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(run());
}

async fn run() {
    let records = env("GROUP_QUIC_RECORDS", 10_000);
    let peers = env("GROUP_QUIC_PEERS", 20);
    let dir = tempfile::tempdir().unwrap();
    let opts = || GroupOptions::default().data_dir(dir.path());

    // the verify rate, in the same run
    let id = Identity::generate("v", "").unwrap();
    let msgs: Vec<(Vec<u8>, [u8; 64])> = (0..5_000)
        .map(|i| {
            let m = format!("m{i}").into_bytes();
            let s = id.sign(&m);
            (m, s)
        })
        .collect();
    let t = Instant::now();
    for (m, s) in &msgs {
        assert!(peergroup_identity::verify_signature(&id.public_key(), m, s));
    }
    let verify_rate = msgs.len() as f64 / t.elapsed().as_secs_f64();
    println!("{}", json!({ "figure": "ed25519_verify_per_sec", "value": verify_rate }));

    // the creator and the records
    let ea = endpoint("creator").await;
    let mut creator = Group::create(&ea, &CreateOptions::new("bench"), opts()).unwrap();
    creator.listen().await.unwrap();
    let t = Instant::now();
    for chunk in 0..records.div_ceil(1_000) {
        let n = (records - chunk * 1_000).min(1_000);
        let batch: Vec<NewRecord> = (0..n)
            .map(|i| {
                NewRecord::new(
                    random_record_id(),
                    DATA,
                    Duration::from_secs(3600),
                    format!("record {chunk}/{i} {}", "x".repeat(60)).into_bytes(),
                )
            })
            .collect();
        creator.add_records(batch).await.unwrap();
    }
    let write_s = t.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({ "figure": "creator_write_per_sec", "records": records, "value": records as f64 / write_s })
    );

    // members join one by one through a random member that holds everything
    let mut members: Vec<(Endpoint, Group)> = Vec::new();
    let mut joins = Vec::new();
    for i in 1..peers {
        let e = endpoint(&format!("m{i}")).await;
        let info = IdentityInfo::parse(&IdentityInfo::export(e.identity())).unwrap();
        let inv = creator.invite(&info, Role::Member, None).unwrap();
        let via = if members.is_empty() || i % 2 == 0 {
            ea.local_addr().unwrap()
        } else {
            members[i % members.len()].0.local_addr().unwrap()
        };
        let t = Instant::now();
        let mut g = Group::join(&e, &inv, opts()).unwrap();
        g.connect(via).await.unwrap();
        wait_until("a member holding every record", || holds(&g, records)).await;
        joins.push(t.elapsed().as_secs_f64() * 1e3);
        members.push((e, g));
    }
    println!(
        "{}",
        json!({ "figure": "join_ms", "peers": peers, "records": records, "joins": joins.len(), "median": percentile(joins.clone(), 0.5), "p99": percentile(joins.clone(), 0.99), "all": joins })
    );

    // password joins
    let inv = creator.set_password("bench password", &PasswordOptions::default()).await.unwrap();
    let inv = PasswordInvitation::parse(&inv.to_text()).unwrap();
    let mut pw = Vec::new();
    let mut pw_groups = Vec::new();
    for i in 0..5 {
        let e = endpoint(&format!("pw{i}")).await;
        let t = Instant::now();
        let g = Group::password_join(&e, &inv, "bench password", ea.local_addr().unwrap(), opts())
            .await
            .unwrap();
        pw.push(t.elapsed().as_secs_f64() * 1e3);
        pw_groups.push((e, g));
    }
    println!(
        "{}",
        json!({ "figure": "password_join_ms", "joins": pw.len(), "median": percentile(pw.clone(), 0.5), "all": pw })
    );

    // revocations: published at the creator → the last of the other peers knows
    let mut revs = Vec::new();
    for k in 0..3.min(members.len()) {
        let target = members[k].0.peer_name().clone();
        let t = Instant::now();
        creator.revoke(&target).await.unwrap();
        // the members revoked before, and this one, are out of the group
        for (_, g) in members.iter().skip(k + 1) {
            let started = Instant::now();
            while !g
                .members()
                .await
                .unwrap()
                .iter()
                .any(|m| m.peer == target && m.revoked.is_some())
            {
                if started.elapsed() > Duration::from_secs(20) {
                    eprintln!(
                        "a peer never learned revocation {k}: admitted {:?}, status {:?}",
                        g.admitted_peers().await.unwrap().len(),
                        g.status()
                    );
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        revs.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "{}",
        json!({ "figure": "revocation_ms", "peers": peers, "revocations": revs.len(), "median": percentile(revs.clone(), 0.5), "all": revs })
    );

    for (e, g) in members.into_iter().chain(pw_groups) {
        g.close().await.unwrap();
        e.close().await;
    }
    creator.close().await.unwrap();
    ea.close().await;
}
