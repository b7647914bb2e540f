//! `p2p sim sync` and `p2p sim pnrp` run and report honest figures; bad flags are usage
//! errors.
#![allow(clippy::unwrap_used)]

use std::process::Command;

fn p2p(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_p2p")).args(args).output().unwrap()
}

#[test]
fn sync_reports_the_difference_found() {
    let out = p2p(&["sim", "sync", "--records", "20000", "--diff", "50", "--seed", "3", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["records"], 20000);
    assert_eq!(r["diff"], 50);
    assert_eq!(r["records_transferred"], 50);
    assert!(r["round_trips"].as_f64().unwrap() <= 3.0);
    assert!(r["max_message_bytes"].as_u64().unwrap() <= 60 * 1024);
    // cost proportional to the difference, not to the 20,000 records
    assert!(r["reconcile_bytes"].as_u64().unwrap() < 50 * 200, "{r}");
}

#[test]
fn bad_flags_are_usage_errors() {
    let out = p2p(&["sim", "sync", "--records", "10", "--diff", "11"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot exceed"));
    let out = p2p(&["sim", "sync", "--max-message-bytes", "10"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sim_pnrp_reports_every_field() {
    let out = p2p(&["sim", "pnrp", "--nodes", "100", "--resolves", "200", "--seed", "5", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "nodes",
        "resolves",
        "succeeded",
        "success_rate",
        "hops_median",
        "hops_p99",
        "messages_per_resolve_median",
        "messages_per_resolve_p99",
        "maintenance_bytes_per_node_per_sec",
        "forged_accepted",
        "setup_seconds",
        "sim_seconds",
        "wall_seconds",
        "peak_rss_bytes",
    ] {
        assert!(!r[key].is_null(), "missing {key}: {r}");
    }
    assert_eq!(r["nodes"], 100);
    assert_eq!(r["resolves"], 200);
    assert_eq!(r["forged_accepted"], 0);
    assert_eq!(r["succeeded"], 200, "{r}");
    let out = p2p(&["sim", "pnrp", "--nodes", "0"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sim_graph_reports_every_field() {
    let out = p2p(&["sim", "graph", "--members", "60", "--records", "30", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "members",
        "records",
        "delivered_fraction",
        "copies_per_delivery",
        "control_messages_per_delivery",
        "overhead_bytes_per_delivery",
        "last_delivery_hop_median",
        "last_delivery_ms_median",
        "partitioned",
        "wall_seconds",
    ] {
        assert!(!r[key].is_null(), "missing {key}: {r}");
    }
    assert_eq!(r["delivered_fraction"], 1.0, "{r}");
    assert_eq!(r["partitioned"], false);
    assert!(r["copies_per_delivery"].as_f64().unwrap() >= 1.0);
    let out = p2p(&["sim", "graph", "--latency-ms", "100..10"]);
    assert_eq!(out.status.code(), Some(2));
}
