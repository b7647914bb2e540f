//! Scale benchmark of the graph core on the simulator (`crates/graph/src/scenario.rs`,
//! `proto-specs/graph.md` §11): the targets of the graph issue, one JSON line each.
//!
//! * `baseline`: 1,000 members, 100 records from random members — the setup in which
//!   iroh-gossip 0.101 and naive flooding were measured on this machine.
//! * `no-faults`: 1,000 members, 10,000 records (targets: `delivered_fraction` = 1.0,
//!   `copies_per_delivery` ≤ 1.5, `last_delivery_ms_median` ≤ 600).
//! * `crash-50`: as `no-faults`, with 50% of the members crashed at once half-way
//!   (target: `delivered_fraction` ≥ 0.999 two repair rounds after the last record).
//! * `crash-80`: the same with 80% (targets: ≥ 0.99, `partitioned` = false).
//!
//! Links: one delay per link, uniform 10..100 ms. Run with
//! `cargo bench -p peergroup-benches --bench graph_sim`. `GRAPH_SIM_CASES` selects cases
//! by name (comma-separated), `GRAPH_SIM_SEED` changes the seed, `GRAPH_SIM_RECORDS`
//! overrides the record count of the 10,000-record cases.

use peergroup_graph::scenario::{self, Params};
use serde_json::json;

fn main() {
    let seed = std::env::var("GRAPH_SIM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(1);
    let records =
        std::env::var("GRAPH_SIM_RECORDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let cases: Vec<(&str, usize, usize, f64)> = vec![
        ("baseline", 1000, 100, 0.0),
        ("no-faults", 1000, records, 0.0),
        ("crash-50", 1000, records, 0.5),
        ("crash-80", 1000, records, 0.8),
    ];
    let selected: Option<Vec<String>> = std::env::var("GRAPH_SIM_CASES")
        .ok()
        .map(|s| s.split(',').map(|c| c.trim().to_owned()).collect());
    for (name, members, records, crash) in cases {
        if selected.as_ref().is_some_and(|s| !s.iter().any(|c| c == name)) {
            continue;
        }
        let mut p = Params::new(members, records);
        p.crash_fraction = crash;
        p.seed = seed;
        let report = scenario::run(&p);
        let mut line = serde_json::to_value(&report).unwrap_or_default();
        if let Some(obj) = line.as_object_mut() {
            obj.insert("bench".into(), json!("graph_sim"));
            obj.insert("case".into(), json!(name));
        }
        println!("{line}");
    }
}
