//! Scale benchmark of set reconciliation (`crates/reconcile`, `proto-specs/reconcile.md`).
//!
//! Two replicas of N items differing by D (split between both sides) reconcile with
//! messages of at most 60 KiB; every case runs 3 times with different seeds and prints one
//! JSON line with the medians (bytes, round trips, time) and the worst message size. The
//! cases are the targets of the graph issue — 1,000,000 items with 1 and with 10,000
//! differences, 100,000 items with 1,000 — plus D ∈ {0, 10, 100, 100,000} at 1,000,000.
//!
//! Run with `cargo bench -p peergroup-benches --bench reconcile`. Set `RECONCILE_CASES`
//! to a comma-separated list of `N:D` to run other cases, and `RECONCILE_RUNS` to change
//! the number of runs (seeds) per case.

use peergroup_reconcile::bench::{self, Report};
use serde_json::json;

const DEFAULT_RUNS: u64 = 3;
const MAX_MESSAGE_BYTES: usize = 60 * 1024;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn case(records: usize, diff: usize, runs: u64) {
    let reports: Vec<Report> =
        (0..runs).map(|seed| bench::run(records, diff, MAX_MESSAGE_BYTES, 1000 + seed)).collect();
    let med = |f: &dyn Fn(&Report) -> f64| median(reports.iter().map(f).collect());
    let line = json!({
        "bench": "reconcile",
        "records": records,
        "diff": diff,
        "runs": runs,
        "round_trips": med(&|r| r.round_trips),
        "round_trips_max": reports.iter().map(|r| r.round_trips).fold(0.0, f64::max),
        "reconcile_bytes": med(&|r| r.reconcile_bytes as f64),
        "reconcile_bytes_max": reports.iter().map(|r| r.reconcile_bytes).max(),
        "bytes_per_difference": if diff > 0 { med(&|r| r.reconcile_bytes as f64) / diff as f64 } else { 0.0 },
        "bytes_total": med(&|r| r.bytes_total as f64),
        "max_message_bytes": reports.iter().map(|r| r.max_message_bytes).max(),
        "messages": med(&|r| r.messages as f64),
        "symbols": med(&|r| r.symbols as f64),
        "records_transferred": reports[0].records_transferred,
        "estimated_diff": reports.iter().map(|r| r.estimated_diff).collect::<Vec<_>>(),
        "wall_seconds": med(&|r| r.wall_seconds),
        "setup_seconds": med(&|r| r.setup_seconds),
    });
    println!("{line}");
}

fn main() {
    let cases: Vec<(usize, usize)> = match std::env::var("RECONCILE_CASES") {
        Ok(spec) => spec
            .split(',')
            .filter_map(|c| {
                let (n, d) = c.split_once(':')?;
                Some((n.trim().parse().ok()?, d.trim().parse().ok()?))
            })
            .collect(),
        Err(_) => vec![
            (1_000_000, 1),
            (1_000_000, 10_000),
            (100_000, 1_000),
            (1_000_000, 0),
            (1_000_000, 10),
            (1_000_000, 100),
            (1_000_000, 100_000),
        ],
    };
    let runs = std::env::var("RECONCILE_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .filter(|&r| r > 0)
        .unwrap_or(DEFAULT_RUNS);
    for (records, diff) in cases {
        case(records, diff, runs);
    }
}
