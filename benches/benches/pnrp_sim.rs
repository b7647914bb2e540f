//! Scale benchmark of PNRP on the simulator: the targets of issue 3.
//!
//! Each scenario runs in its own child process (so that `peak_rss_bytes`, the process's
//! peak resident set, belongs to that scenario alone) and prints one JSON line: the scenario's name,
//! its targets and whether each was met, and the full `peergroup_pnrp::scenario::Report`.
//!
//! | scenario | run | targets |
//! |---|---|---|
//! | `1k` | 1,000 nodes, 10,000 resolves | success 100 %, messages median ≤ 4 |
//! | `10k` | 10,000 nodes, 100,000 resolves, honest bootstrap | success ≥ 99.9 %, hops median ≤ 2, p99 ≤ 3, messages median ≤ 6, ≤ 60 s wall, ≤ 2 GiB |
//! | `churn-30min` | 1,000 nodes, 10,000 resolves, exponential sessions, median 30 min | success ≥ 99.9 % |
//! | `churn-1.4min` | same, median 84 s | success ≥ 99 %, maintenance ≤ 500 B/s per node |
//! | `adversarial-20pct` | 1,000 nodes, 10,000 resolves, 20 % adversaries, 4 disjoint paths | forged accepted = 0, success ≥ 99 % |
//! | `100k` (stretch, only when named) | 100,000 nodes, 100,000 resolves | success ≥ 99.9 %, ≤ 10 min, ≤ 16 GiB |
//!
//! Run all with `cargo bench -p peergroup-benches --bench pnrp_sim`; name scenarios to run
//! only those: `cargo bench -p peergroup-benches --bench pnrp_sim -- 10k churn-1.4min`.
//! Resolves under churn are spread at 100 per virtual second so that they span the
//! churn; the others start 2,000 per virtual second.
#![allow(clippy::expect_used)] // a failed expect is a failed run

use std::process::Command;

use peergroup_pnrp::scenario::{Params, Report, run};
use serde_json::{Value, json};

const CHILD_ENV: &str = "PNRP_SIM_SCENARIO";
const DEFAULT: [&str; 5] = ["1k", "10k", "churn-30min", "churn-1.4min", "adversarial-20pct"];

fn params(name: &str) -> Option<Params> {
    let mut p = match name {
        "1k" => Params::new(1_000, 10_000),
        "10k" => Params::new(10_000, 100_000),
        "churn-30min" | "churn-1.4min" => {
            let mut p = Params::new(1_000, 10_000);
            p.churn_median_session_secs = Some(if name == "churn-30min" { 1_800.0 } else { 84.0 });
            p.resolve_rate = 100.0;
            p
        }
        "adversarial-20pct" => {
            let mut p = Params::new(1_000, 10_000);
            p.adversarial_fraction = 0.2;
            p.disjoint_paths = 4;
            p
        }
        "100k" => {
            let mut p = Params::new(100_000, 100_000);
            p.join_rate = 1_000.0;
            p
        }
        _ => return None,
    };
    p.seed = 2026;
    Some(p)
}

/// The targets of a scenario: (name, met).
fn targets(name: &str, r: &Report) -> Vec<(&'static str, bool)> {
    const GIB: u64 = 1 << 30;
    let rss = |limit: u64| r.peak_rss_bytes.is_none_or(|b| b <= limit);
    match name {
        "1k" => vec![
            ("success_rate == 1", r.success_rate >= 1.0),
            ("messages_per_resolve_median <= 4", r.messages_per_resolve_median <= 4.0),
        ],
        "10k" => vec![
            ("success_rate >= 0.999", r.success_rate >= 0.999),
            ("hops_median <= 2", r.hops_median <= 2.0),
            ("hops_p99 <= 3", r.hops_p99 <= 3.0),
            ("messages_per_resolve_median <= 6", r.messages_per_resolve_median <= 6.0),
            ("wall_seconds <= 60", r.wall_seconds <= 60.0),
            ("peak_rss_bytes <= 2 GiB", rss(2 * GIB)),
        ],
        "churn-30min" => vec![("success_rate >= 0.999", r.success_rate >= 0.999)],
        "churn-1.4min" => vec![
            ("success_rate >= 0.99", r.success_rate >= 0.99),
            (
                "maintenance_bytes_per_node_per_sec <= 500",
                r.maintenance_bytes_per_node_per_sec <= 500.0,
            ),
        ],
        "adversarial-20pct" => vec![
            ("forged_accepted == 0", r.forged_accepted == 0),
            ("success_rate >= 0.99", r.success_rate >= 0.99),
        ],
        "100k" => vec![
            ("success_rate >= 0.999", r.success_rate >= 0.999),
            ("wall_seconds <= 600", r.wall_seconds <= 600.0),
            ("peak_rss_bytes <= 16 GiB", rss(16 * GIB)),
        ],
        _ => Vec::new(),
    }
}

fn child(name: &str) {
    let Some(p) = params(name) else {
        eprintln!("unknown scenario {name}");
        std::process::exit(2);
    };
    match run(&p) {
        Ok(report) => {
            let checks = targets(name, &report);
            let line = json!({
                "scenario": name,
                "targets_met": checks.iter().all(|(_, ok)| *ok),
                "targets": checks.iter().map(|(t, ok)| (t.to_string(), Value::Bool(*ok))).collect::<serde_json::Map<_, _>>(),
                "report": report,
            });
            println!("{line}");
        }
        Err(e) => {
            println!("{}", json!({ "scenario": name, "error": e.to_string() }));
            std::process::exit(1);
        }
    }
}

fn main() {
    if let Ok(name) = std::env::var(CHILD_ENV) {
        child(&name);
        return;
    }
    // `cargo bench` passes `--bench`; other arguments name scenarios.
    let named: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let list: Vec<String> =
        if named.is_empty() { DEFAULT.iter().map(|s| s.to_string()).collect() } else { named };
    let exe = std::env::current_exe().expect("the bench knows its own path");
    let mut failed = false;
    for name in list {
        let out = Command::new(&exe).env(CHILD_ENV, &name).output().expect("the child runs");
        let text = String::from_utf8_lossy(&out.stdout);
        print!("{text}");
        if !out.status.success() {
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
            failed = true;
        }
    }
    if failed {
        std::process::exit(1);
    }
}
