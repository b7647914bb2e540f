//! Grouping security on one core (`proto-specs/group.md` §10): one JSON line per figure.
//!
//! * `ed25519_verify_per_sec`: ring's Ed25519 verification of distinct messages — the
//!   physical limit every other figure is compared with, measured in the same run.
//! * `gmc_verify_per_sec`: distinct membership certificates verified per second (a member
//!   chain whose shared part is cached: one signature per certificate), and its ratio to
//!   the verify rate (target ≥ 0.90).
//! * `record_validate_per_sec`: data records validated by `GroupSecurity` with a warm
//!   certificate cache (signature, membership lookup, roles, validity, revocation rule),
//!   and its ratio (target ≥ 0.85).
//! * `join_chains_ms`: a new node verifying the chains of 1,000 and 30,000 members from
//!   scratch (one new certificate each, the shared part once), median of 3 (targets
//!   ≤ 100 ms and ≤ 3 s), on one thread and over all cores (`CertCache::prewarm`);
//! * `join_validate_ms`: the same members' membership records validated by
//!   `GroupSecurity` in sync-message batches of 256 (each: its chain's new certificate
//!   and the record's own signature, two signatures per member), median of 3, on one
//!   thread and with each batch prepared over all cores (`SecurityProvider::prepare`).
//!
//! The three rates are measured in each of 5 rounds, in the order verify, GMC, records,
//! records, GMC, verify (half the sample each time), and each ratio is taken within its
//! round, so that the machine's drift weighs the same on all three.
//!
//! Run with `cargo bench -p peergroup-benches --bench group`. `GROUP_BENCH_N` sets the
//! sample size of the rate figures (default 20,000).
#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use peergroup_base::UnixTime;
use peergroup_graph::proto::{ProviderContext, RecordLookup, SecurityProvider, Validation};
use peergroup_graph::record::{Record, RecordBuilder, RecordLimits};
use peergroup_graph::store::{MemStore, RecordStore};
use peergroup_graph::{Hlc, RecordFilter, RecordId, RecordType};
use peergroup_group::group::membership_record;
use peergroup_group::records::SecurityData;
use peergroup_group::{
    CertCache, CreateOptions, GroupKey, GroupSecurity, LocalMember, Role, Verifier, create_group,
};
use peergroup_identity::Identity;
use serde_json::json;

const T0: UnixTime = UnixTime::from_secs(1_800_000_000);

struct View<'a>(&'a MemStore);

impl RecordLookup for View<'_> {
    fn get(&self, id: &RecordId) -> Option<Record> {
        self.0.get(id, T0).ok().flatten()
    }
    fn enumerate(&self, f: &RecordFilter) -> Vec<Record> {
        self.0.enumerate(f, T0).unwrap_or_default()
    }
}

fn seed(i: u64, tag: u8) -> [u8; 32] {
    let mut s = [tag; 32];
    s[..8].copy_from_slice(&i.to_be_bytes());
    s
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let n: usize =
        std::env::var("GROUP_BENCH_N").ok().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let creator = Identity::from_seed([1; 32], "creator", "").unwrap();
    let group = create_group(
        &creator,
        GroupKey::from_seed([2; 32]).unwrap(),
        &CreateOptions::new("bench"),
        T0,
        [[1; 16], [2; 16]],
    )
    .unwrap();
    let admin = group.creator.clone();
    let inviter_id = Identity::from_seed([3; 32], "inviter", "").unwrap();
    let inviter_chain = admin
        .issue(
            inviter_id.public_key(),
            inviter_id.peer_name().classifier(),
            Role::InvitingMember,
            Duration::from_secs(86_400 * 365),
            T0,
            [3; 16],
        )
        .unwrap();
    let inviter = LocalMember::new(inviter_id, &inviter_chain, &mut CertCache::default()).unwrap();

    // members: identities and chains (set-up, not timed)
    let members_needed = (n + 1).max(30_000);
    let mut members: Vec<LocalMember> = Vec::with_capacity(members_needed);
    for i in 0..members_needed as u64 {
        let id = Identity::from_seed(seed(i, 7), "m", "").unwrap();
        let chain = inviter
            .issue(
                id.public_key(),
                id.peer_name().classifier(),
                Role::Member,
                Duration::from_secs(86_400 * 30),
                T0,
                [0; 16],
            )
            .unwrap();
        members.push(LocalMember {
            identity: id,
            chain: chain.verify(&mut CertCache::default(), None).unwrap(),
        });
    }

    // 1–3. the verify rate, distinct GMC verifications and record validation, measured
    // in turn in each of 5 rounds; the ratios are taken within a round (this machine is
    // shared: its speed drifts between rounds), and the medians reported.
    let msgs: Vec<(Vec<u8>, [u8; 64])> = (0..n)
        .map(|i| {
            let m = format!("message {i}").into_bytes();
            let s = creator.sign(&m);
            (m, s)
        })
        .collect();
    let key = creator.public_key();

    let graph = group.graph.clone();
    let mut store = MemStore::new(RecordLimits::default());
    store.apply(&group.properties_record, T0).unwrap();
    let writers = &members[..100];
    for m in writers {
        store
            .apply(
                &membership_record(m, &graph, Duration::from_secs(86_400), Hlc::new(T0, 0, 1), T0)
                    .unwrap(),
                T0,
            )
            .unwrap();
    }
    let data_type = RecordType::from_u128(0x42);
    let records: Vec<Record> = (0..n)
        .map(|i| {
            let m = &writers[i % writers.len()];
            let r = RecordBuilder::new(
                data_type,
                RecordId::from_u128(i as u128 + 1),
                m.identity.peer_name().clone(),
                Hlc::new(T0, i as u32, 1),
                T0.saturating_add(Duration::from_secs(3600)),
            )
            .payload(vec![1; 100])
            .build(&RecordLimits::default())
            .unwrap();
            let signature = m.identity.sign(&r.signing_bytes(&graph));
            r.with_security_data(
                &SecurityData::Member { cert: m.chain.leaf().id(), signature }.encode(),
                &RecordLimits::default(),
            )
            .unwrap()
        })
        .collect();

    let (mut verify_rates, mut gmc_rates, mut rec_rates) = (Vec::new(), Vec::new(), Vec::new());
    let (mut gmc_ratios, mut rec_ratios) = (Vec::new(), Vec::new());
    // Each round runs verify, GMC, records, records, GMC, verify (an ABBA order), each on
    // half the sample, so that a drift of the machine's speed during the round weighs the
    // same on all three; a round's rates are the sums over its two halves.
    let half = n / 2;
    let verify_block = |range: std::ops::Range<usize>| {
        let t = Instant::now();
        let mut ok = 0;
        for (m, s) in &msgs[range.clone()] {
            ok += usize::from(peergroup_identity::verify_signature(&key, m, s));
        }
        assert_eq!(ok, range.len());
        t.elapsed().as_secs_f64()
    };
    let gmc_block = |range: std::ops::Range<usize>| {
        let mut cache = CertCache::default();
        members[0].chain.chain().verify(&mut cache, None).unwrap();
        let t = Instant::now();
        for m in &members[range] {
            m.chain.chain().verify(&mut cache, Some(T0)).unwrap();
        }
        t.elapsed().as_secs_f64()
    };
    let rec_block = |range: std::ops::Range<usize>| {
        // data records by 100 members whose chains are warm
        let mut sec = GroupSecurity::new(group.root(), None, None, Verifier::new());
        let view = View(&store);
        let cx = ProviderContext { graph: &graph, now: T0, records: &view };
        for r in &records[..writers.len()] {
            assert_eq!(sec.validate(&cx, r), Validation::Accept);
        }
        let t = Instant::now();
        for r in &records[range] {
            assert_eq!(sec.validate(&cx, r), Validation::Accept);
        }
        t.elapsed().as_secs_f64()
    };
    for _ in 0..5 {
        let v1 = verify_block(0..half);
        let g1 = gmc_block(1..half + 1);
        let r1 = rec_block(0..half);
        let r2 = rec_block(half..2 * half);
        let g2 = gmc_block(half + 1..2 * half + 1);
        let v2 = verify_block(half..2 * half);
        let (verify_rate, gmc_rate, rec_rate) = (
            (2 * half) as f64 / (v1 + v2),
            (2 * half) as f64 / (g1 + g2),
            (2 * half) as f64 / (r1 + r2),
        );
        verify_rates.push(verify_rate);
        gmc_rates.push(gmc_rate);
        rec_rates.push(rec_rate);
        gmc_ratios.push(gmc_rate / verify_rate);
        rec_ratios.push(rec_rate / verify_rate);
    }
    let verify_rate = median(verify_rates);
    println!(
        "{}",
        json!({ "figure": "ed25519_verify_per_sec", "n": n, "rounds": 5, "value": verify_rate })
    );
    println!(
        "{}",
        json!({ "figure": "gmc_verify_per_sec", "n": n, "rounds": 5, "value": median(gmc_rates), "ratio_to_verify": median(gmc_ratios) })
    );
    println!(
        "{}",
        json!({ "figure": "record_validate_per_sec", "n": n, "rounds": 5, "value": median(rec_rates), "ratio_to_verify": median(rec_ratios) })
    );

    // 4. a new node validates the memberships of 1,000 and 30,000 members, from scratch.
    // `join_chains_ms`: the chains alone (one new certificate each, the shared part
    // once: the floor of the issue's estimate). `join_validate_ms`: the membership
    // records as the graph delivers them — in batches of 256 (a 256 KiB sync message),
    // each batch prepared by `GroupSecurity` (its signatures verified over all cores) and
    // then validated record by record (every rule; the chain's new certificate and the
    // record's own signature: two signatures per member). Each is measured on one
    // thread (`threads: 1`) and over the machine's cores (`threads: N`), median of 3.
    let threads = peergroup_group::chain::parallelism();
    for count in [1_000usize, 30_000] {
        for parallel in [false, true] {
            let mut times = Vec::new();
            for _ in 0..3 {
                let mut cache = CertCache::default();
                let t = Instant::now();
                if parallel {
                    cache.prewarm(members[..count].iter().map(|m| m.chain.chain()));
                }
                for m in &members[..count] {
                    m.chain.chain().verify(&mut cache, Some(T0)).unwrap();
                }
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
            println!(
                "{}",
                json!({ "figure": "join_chains_ms", "members": count, "threads": if parallel { threads } else { 1 }, "value": median(times), "signatures_per_member": 1, "one_thread_floor_ms": count as f64 / verify_rate * 1e3 })
            );
        }
    }
    for count in [1_000usize, 30_000] {
        let memberships: Vec<Record> = members[..count]
            .iter()
            .map(|m| {
                membership_record(m, &graph, Duration::from_secs(86_400), Hlc::new(T0, 0, 1), T0)
                    .unwrap()
            })
            .collect();
        let empty = MemStore::new(RecordLimits::default());
        for parallel in [false, true] {
            let mut times = Vec::new();
            for _ in 0..3 {
                let mut sec = GroupSecurity::new(group.root(), None, None, Verifier::new());
                let view = View(&empty);
                let cx = ProviderContext { graph: &graph, now: T0, records: &view };
                let t = Instant::now();
                for batch in memberships.chunks(256) {
                    if parallel {
                        let refs: Vec<&Record> = batch.iter().collect();
                        sec.prepare(&cx, &refs);
                    }
                    for r in batch {
                        assert_eq!(sec.validate(&cx, r), Validation::Accept);
                    }
                }
                times.push(t.elapsed().as_secs_f64() * 1e3);
            }
            println!(
                "{}",
                json!({ "figure": "join_validate_ms", "members": count, "threads": if parallel { threads } else { 1 }, "value": median(times), "signatures_per_member": 2, "one_thread_floor_ms": count as f64 * 2.0 / verify_rate * 1e3 })
            );
        }
    }
}
