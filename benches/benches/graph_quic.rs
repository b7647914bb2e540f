//! The graph over real QUIC on loopback (issue 4's last target): 5 peers in one process,
//! each on its own endpoint with its own on-disk redb store; one peer publishes 100,000
//! records of 300 bytes; measured until every peer holds all of them. Then a fresh peer
//! joins that graph (through a peer that is not the publisher) and catches up by
//! synchronisation: time to synchronised and to holding every record, records and bytes
//! it took.
//!
//! Run with `cargo bench -p peergroup-benches --bench graph_quic`. Environment:
//! `GRAPH_QUIC_PEERS` (default 5), `GRAPH_QUIC_RECORDS` (default 100,000),
//! `GRAPH_QUIC_BATCH` (records per `add_records` call, default 1,000). Prints one JSON
//! object.
//!
//! What is measured:
//! * `publish_seconds`: from the first `add_records` call until the publisher's last one
//!   returned (every record durable on its disk and handed to flooding);
//! * `all_have_seconds`: from the first call until every peer's replica holds every record
//!   (each replica's record count polled every 20 ms); `records_per_second` is records
//!   divided by it; `peer_complete_seconds` per receiving peer;
//! * `copies_per_delivery`: full record copies received by the receivers (flooding and
//!   synchronisation, duplicates included) per record per receiver;
//! * the joiner: `sync_seconds` (connect until its status is synchronised),
//!   `complete_seconds` (connect until it holds every record), records it received by
//!   synchronisation, reconciliation bytes both ways, record bytes received.

// A benchmark measures real time.
#![allow(clippy::disallowed_methods)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use peergroup_graph::net::{Graph, GraphOptions, random_record_id};
use peergroup_graph::proto::{NewRecord, TestProvider};
use peergroup_graph::{GraphId, RecordType, RedbStore};
use peergroup_identity::Identity;
use peergroup_net::{Endpoint, EndpointConfig};
use serde_json::json;

const BENCH: RecordType = RecordType::from_u128(0x6265_6e63_6800_4000_8000_0000_0000_0300);
const PAYLOAD: usize = 300;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A graph on disk with the test provider (no group security: this measures the graph).
type PlainGraph = Graph<RedbStore, TestProvider>;

struct Peer {
    endpoint: Endpoint,
    graph: PlainGraph,
}

async fn peer(name: &str, dir: &std::path::Path, graph: &GraphId) -> Peer {
    let identity = Identity::generate(name, "").unwrap();
    let endpoint = Endpoint::bind(identity, EndpointConfig::loopback()).await.unwrap();
    let options = GraphOptions::new(graph.clone()).data_dir(dir);
    let graph = Graph::create(&endpoint, options, TestProvider::new()).unwrap();
    Peer { endpoint, graph }
}

/// Waits until every graph holds at least `target` records; returns when each got there
/// (seconds since `start`).
async fn wait_counts(
    graphs: &[&PlainGraph],
    target: u64,
    start: Instant,
    limit: Duration,
) -> Vec<f64> {
    let mut done: Vec<Option<f64>> = vec![None; graphs.len()];
    while done.iter().any(Option::is_none) {
        if start.elapsed() > limit {
            let mut counts = Vec::new();
            for g in graphs {
                counts.push(g.record_count().await.unwrap());
            }
            panic!("not every peer got {target} records within {limit:?}: {counts:?}");
        }
        for (i, g) in graphs.iter().enumerate() {
            if done[i].is_none() && g.record_count().await.unwrap() >= target {
                done[i] = Some(start.elapsed().as_secs_f64());
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        if std::env::var_os("GRAPH_QUIC_TRACE").is_some() && start.elapsed().as_millis() % 2000 < 25
        {
            let mut counts = Vec::new();
            for g in graphs {
                counts.push(g.record_count().await.unwrap());
            }
            eprintln!("{:.1} s: {counts:?}", start.elapsed().as_secs_f64());
        }
    }
    done.into_iter().map(Option::unwrap_or_default).collect()
}

fn peak_rss_mib() -> Option<f64> {
    peergroup_pnrp::scenario::peak_rss_bytes().map(|b| b as f64 / (1024.0 * 1024.0))
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let n = env("GRAPH_QUIC_PEERS", 5).max(2);
    let records = env("GRAPH_QUIC_RECORDS", 100_000);
    let batch = env("GRAPH_QUIC_BATCH", 1000).max(1);
    let dir = tempfile::tempdir().unwrap();
    let graph_id = GraphId::new("bench-graph").unwrap();

    // --- setup: peer 0 listens, the others join through it ---------------------------------
    let t_setup = Instant::now();
    let mut peers = Vec::new();
    for i in 0..n {
        peers.push(peer(&format!("peer{i}"), dir.path(), &graph_id).await);
    }
    peers[0].graph.listen().await.unwrap();
    let seed = peers[0].endpoint.local_addr().unwrap();
    for p in peers.iter_mut().skip(1) {
        p.graph.connect(seed).await.unwrap();
    }
    for p in &peers[1..] {
        p.graph.wait_status(Duration::from_secs(30), |s| s.synchronized).await.expect("sync");
    }
    // Presence records: every node's, once they have spread.
    let all: Vec<&PlainGraph> = peers.iter().map(|p| &p.graph).collect();
    wait_counts(&all, n as u64, Instant::now(), Duration::from_secs(60)).await;
    let base: Vec<u64> = {
        let mut v = Vec::new();
        for g in &all {
            v.push(g.record_count().await.unwrap());
        }
        v
    };
    let setup_seconds = t_setup.elapsed().as_secs_f64();
    eprintln!("setup done in {setup_seconds:.2} s; publishing {records} records");
    let counters_before: Vec<_> = {
        let mut v = Vec::new();
        for g in &all {
            v.push(g.counters().await.unwrap());
        }
        v
    };

    // --- publish ------------------------------------------------------------------------
    let start = Instant::now();
    let publisher = async {
        let mut left = records;
        let mut i = 0u64;
        while left > 0 {
            let k = left.min(batch);
            let batch: Vec<NewRecord> = (0..k)
                .map(|_| {
                    let mut payload = vec![0u8; PAYLOAD];
                    payload[..8].copy_from_slice(&i.to_be_bytes());
                    i += 1;
                    NewRecord::new(random_record_id(), BENCH, Duration::from_secs(86_400), payload)
                })
                .collect();
            peers[0].graph.add_records(batch).await.unwrap();
            left -= k;
        }
        start.elapsed().as_secs_f64()
    };
    let target = base.iter().copied().max().unwrap_or(0) + records as u64;
    let (publish_seconds, complete) =
        tokio::join!(publisher, wait_counts(&all, target, start, Duration::from_secs(1800)));
    let all_have_seconds = complete.iter().copied().fold(0.0, f64::max);

    let mut copies = 0u64;
    let mut copy_bytes = 0u64;
    let mut dropped_events = 0u64;
    for (i, g) in all.iter().enumerate().skip(1) {
        let c = g.counters().await.unwrap();
        copies += c.copies_received - counters_before[i].copies_received;
        copy_bytes += c.copy_bytes_received - counters_before[i].copy_bytes_received;
        dropped_events += g.events_dropped();
    }
    let receivers = (n - 1) as f64;

    // --- a fresh peer joins through peer 1 ----------------------------------------------
    let mut joiner = peer("joiner", dir.path(), &graph_id).await;
    let serving_before = peers[1].graph.counters().await.unwrap();
    let t_join = Instant::now();
    joiner.graph.connect(peers[1].endpoint.local_addr().unwrap()).await.unwrap();
    joiner
        .graph
        .wait_status(Duration::from_secs(600), |s| s.synchronized)
        .await
        .expect("joiner sync");
    let sync_seconds = t_join.elapsed().as_secs_f64();
    let complete_join =
        wait_counts(&[&joiner.graph], target, t_join, Duration::from_secs(600)).await[0];
    let jc = joiner.graph.counters().await.unwrap();
    let sc = peers[1].graph.counters().await.unwrap();

    let report = json!({
        "bench": "graph_quic",
        "peers": n,
        "records": records,
        "payload_bytes": PAYLOAD,
        "batch": batch,
        "setup_seconds": setup_seconds,
        "publish_seconds": publish_seconds,
        "all_have_seconds": all_have_seconds,
        "records_per_second": records as f64 / all_have_seconds,
        "peer_complete_seconds": complete,
        "copies_per_delivery": copies as f64 / (records as f64 * receivers),
        "record_bytes_received_per_receiver": copy_bytes as f64 / receivers,
        "events_dropped": dropped_events,
        "joiner": {
            "via": "peer1",
            "sync_seconds": sync_seconds,
            "complete_seconds": complete_join,
            "records_by_sync": jc.sync_records_stored,
            "records_sent_by_server": sc.sync_records_sent - serving_before.sync_records_sent,
            "record_bytes_received": jc.copy_bytes_received,
            "reconcile_bytes_sent_by_joiner": jc.reconcile_bytes_sent,
            "reconcile_bytes_sent_by_server": sc.reconcile_bytes_sent - serving_before.reconcile_bytes_sent,
            "records_per_second": jc.sync_records_stored as f64 / complete_join.max(1e-9),
        },
        "peak_rss_mib": peak_rss_mib(),
    });
    println!("{report}");
    joiner.graph.close().await.unwrap();
    for p in peers {
        p.graph.close().await.unwrap();
    }
}
