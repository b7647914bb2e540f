//! Runs one simulated PNRP scenario and prints its report as one JSON line.
//!
//! ```text
//! cargo run --release -p peergroup-pnrp --example pnrp_scenario -- \
//!     --nodes 1000 --resolves 10000 [--churn-median-secs S] [--adversarial-fraction F] \
//!     [--disjoint-paths D] [--seed X]
//! ```
#![allow(clippy::expect_used)] // a failed expect is a failed run

use peergroup_pnrp::scenario::{Params, run};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut p = Params::new(1000, 10_000);
    let mut i = 0;
    while i + 1 < args.len() {
        let v = &args[i + 1];
        let num = || v.parse::<f64>().unwrap_or_else(|_| panic!("{} needs a number", args[i]));
        match args[i].as_str() {
            "--nodes" => p.nodes = num() as usize,
            "--resolves" => p.resolves = num() as usize,
            "--churn-median-secs" => p.churn_median_session_secs = Some(num()),
            "--churn-downtime-secs" => p.churn_median_downtime_secs = Some(num()),
            "--adversarial-fraction" => p.adversarial_fraction = num(),
            "--disjoint-paths" => p.disjoint_paths = num() as usize,
            "--seed" => p.seed = num() as u64,
            "--join-rate" => p.join_rate = num(),
            "--resolve-rate" => p.resolve_rate = num(),
            "--republish-min-secs" => {
                p.config.republish_min = std::time::Duration::from_secs_f64(num())
            }
            "--refresh-requests" => p.config.refresh_requests = num() as u32,
            "--bootstrap-contacts" => p.config.bootstrap_contacts = num() as u8,
            "--registration-contacts" => p.config.registration_contacts = num() as u8,
            "--per-referrer" => p.config.per_referrer = num() as usize,
            "--maintenance-secs" => {
                p.config.maintenance_interval = std::time::Duration::from_secs_f64(num())
            }
            "--resolve-contacts" => p.config.resolve_contacts = num() as u8,
            "--eviction-probe-secs" => {
                p.config.eviction_probe_after = std::time::Duration::from_secs_f64(num())
            }
            other => panic!("unknown option {other}"),
        }
        i += 2;
    }
    match run(&p) {
        Ok(r) => println!("{}", serde_json::to_string(&r).expect("report serialises")),
        Err(e) => {
            eprintln!("scenario failed: {e}");
            std::process::exit(1);
        }
    }
}
