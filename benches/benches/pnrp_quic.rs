//! PNRP over real QUIC on loopback (issue 3's last target): 50 peers in one process, each
//! on its own endpoint, bootstrapped for real through one seed given by address; every
//! peer registers its name, then every peer resolves every other peer's name (2,450
//! resolves). Prints one JSON object: success count and rate, resolve latency (median,
//! p99, max, in ms), hops and requests per resolve, and the setup times.
//!
//! Run with `cargo bench -p peergroup-benches --bench pnrp_quic`. `PNRP_QUIC_PEERS`
//! changes the number of peers (default 50).
//!
//! Resolves run one at a time per peer and all peers at once (50 in flight), each with a
//! 10 s timeout; a resolve succeeds if it returns the target's instance with the target's
//! listening address. Then the same 2,450 resolves run again one at a time
//! (`sequential_*`): the latency of one resolve on an idle node, connections open.

// A benchmark measures real time.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use peergroup_identity::Identity;
use peergroup_net::{Endpoint, EndpointConfig};
use peergroup_pnrp::net::{Endpoints, Pnrp, PnrpConfig, ResolveOptions, Seed};
use peergroup_pnrp::proto::{Cloud, ResolveOutcome};
use serde_json::json;

struct Peer {
    identity: Identity,
    endpoint: Endpoint,
    pnrp: Pnrp,
}

#[derive(Default)]
struct Tally {
    latencies_ms: Vec<f64>,
    hops: Vec<u32>,
    requests: Vec<u32>,
    succeeded: usize,
    not_found: usize,
    timed_out: usize,
    other: usize,
}

impl Tally {
    fn add(&mut self, t: Tally) {
        self.latencies_ms.extend(t.latencies_ms);
        self.hops.extend(t.hops);
        self.requests.extend(t.requests);
        self.succeeded += t.succeeded;
        self.not_found += t.not_found;
        self.timed_out += t.timed_out;
        self.other += t.other;
    }
}

type Target = (peergroup_base::PeerName, Option<std::net::SocketAddr>);

/// Peer `i` resolves every other target, one after the other.
async fn resolve_from(i: usize, pnrp: Pnrp, targets: Vec<Target>) -> Tally {
    let mut tally = Tally::default();
    let options = ResolveOptions::default().with_timeout(Duration::from_secs(10));
    for (j, (name, addr)) in targets.iter().enumerate() {
        if i == j {
            continue;
        }
        let started = Instant::now();
        let result = pnrp.resolve_detailed(name, options.clone()).await;
        tally.latencies_ms.push(started.elapsed().as_secs_f64() * 1e3);
        match result {
            Ok(r) => {
                tally.hops.push(r.stats.hops);
                tally.requests.push(r.stats.requests);
                match r.outcome {
                    ResolveOutcome::Found
                        if r.instances.iter().any(|x| x.endpoints.first() == addr.as_ref()) =>
                    {
                        tally.succeeded += 1
                    }
                    ResolveOutcome::NotFound => tally.not_found += 1,
                    ResolveOutcome::TimedOut => tally.timed_out += 1,
                    _ => tally.other += 1,
                }
            }
            Err(_) => tally.other += 1,
        }
    }
    tally
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

async fn start_peer(i: usize, seeds: Vec<Seed>) -> Result<Peer, String> {
    let identity = Identity::generate(&format!("peer{i}"), "").map_err(|e| e.to_string())?;
    let endpoint = Endpoint::bind(identity.clone(), EndpointConfig::loopback())
        .await
        .map_err(|e| e.to_string())?;
    let pnrp = Pnrp::start(&endpoint, &identity, PnrpConfig::loopback().with_seeds(seeds))
        .await
        .map_err(|e| e.to_string())?;
    Ok(Peer { identity, endpoint, pnrp })
}

async fn run(n: usize) -> Result<serde_json::Value, String> {
    let wait = Duration::from_secs(30);
    let t0 = Instant::now();
    let first = start_peer(0, Vec::new()).await?;
    let seed = Seed::Addr(first.endpoint.local_addr().map_err(|e| e.to_string())?);
    let mut peers = vec![first];
    for i in 1..n {
        peers.push(start_peer(i, vec![seed]).await?);
    }
    for p in &peers {
        p.pnrp.wait_active(Cloud::Global, wait).await.map_err(|e| e.to_string())?;
    }
    let setup = t0.elapsed();

    let t1 = Instant::now();
    let mut tasks = Vec::new();
    for p in &peers {
        let pnrp = p.pnrp.clone();
        let name = p.identity.peer_name().clone();
        tasks.push(tokio::spawn(async move {
            pnrp.register(name, Endpoints::Auto, "bench", None).await
        }));
    }
    let mut registrations = Vec::new();
    let mut replicas = Vec::new();
    for t in tasks {
        let r = t.await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
        replicas.push(r.replicas() as f64);
        registrations.push(r);
    }
    let register = t1.elapsed();

    let targets: Vec<_> = peers
        .iter()
        .map(|p| (p.identity.peer_name().clone(), p.endpoint.local_addr().ok()))
        .collect();
    let nodes: Vec<Pnrp> = peers.iter().map(|p| p.pnrp.clone()).collect();
    let t2 = Instant::now();
    let mut tasks = Vec::new();
    for (i, pnrp) in nodes.iter().enumerate() {
        tasks.push(tokio::spawn(resolve_from(i, pnrp.clone(), targets.clone())));
    }
    let mut all = Tally::default();
    for t in tasks {
        all.add(t.await.map_err(|e| e.to_string())?);
    }
    let resolving = t2.elapsed();

    // The same resolves again, one at a time (connections now open): the latency of a
    // resolve on an idle node rather than under 50 concurrent ones.
    let t3 = Instant::now();
    let mut sequential = Tally::default();
    for (i, pnrp) in nodes.iter().enumerate() {
        sequential.add(resolve_from(i, pnrp.clone(), targets.clone()).await);
    }
    let sequential_time = t3.elapsed();
    sequential.latencies_ms.sort_by(f64::total_cmp);

    let resolves = n * (n - 1);
    all.latencies_ms.sort_by(f64::total_cmp);
    let mut hops: Vec<f64> = all.hops.iter().map(|&h| f64::from(h)).collect();
    hops.sort_by(f64::total_cmp);
    let mut requests: Vec<f64> = all.requests.iter().map(|&r| f64::from(r)).collect();
    requests.sort_by(f64::total_cmp);
    replicas.sort_by(f64::total_cmp);
    let report = json!({
        "bench": "pnrp_quic",
        "peers": n,
        "resolves": resolves,
        "succeeded": all.succeeded,
        "success_rate": all.succeeded as f64 / resolves as f64,
        "not_found": all.not_found,
        "timed_out": all.timed_out,
        "other_failures": all.other,
        "latency_ms_median": round3(percentile(&all.latencies_ms, 50.0)),
        "latency_ms_p99": round3(percentile(&all.latencies_ms, 99.0)),
        "latency_ms_max": round3(all.latencies_ms.last().copied().unwrap_or(f64::NAN)),
        "hops_median": percentile(&hops, 50.0),
        "hops_p99": percentile(&hops, 99.0),
        "requests_median": percentile(&requests, 50.0),
        "requests_p99": percentile(&requests, 99.0),
        "replicas_median": percentile(&replicas, 50.0),
        "sequential_succeeded": sequential.succeeded,
        "sequential_latency_ms_median": round3(percentile(&sequential.latencies_ms, 50.0)),
        "sequential_latency_ms_p99": round3(percentile(&sequential.latencies_ms, 99.0)),
        "sequential_seconds": round3(sequential_time.as_secs_f64()),
        "setup_seconds": round3(setup.as_secs_f64()),
        "register_seconds": round3(register.as_secs_f64()),
        "resolve_seconds": round3(resolving.as_secs_f64()),
    });
    for r in registrations {
        r.detach();
    }
    for p in &peers {
        let _ = p.pnrp.shutdown().await;
    }
    Ok(report)
}

fn main() {
    let n = std::env::var("PNRP_QUIC_PEERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50usize)
        .max(2);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("pnrp_quic: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    match runtime.block_on(run(n)) {
        Ok(report) => println!("{report}"),
        Err(e) => {
            eprintln!("pnrp_quic: {e}");
            std::process::exit(1);
        }
    }
}
