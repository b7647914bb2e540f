//! Under churn (exponential sessions, half the nodes down at any time, every restart a
//! cold start), registrants re-register, replicas hand CPAs to joining nodes, upkeep rounds
//! refill replica sets, and names stay resolvable.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use peergroup_pnrp::scenario::{Params, run};

#[test]
fn names_stay_resolvable_with_two_minute_sessions() {
    let mut p = Params::new(150, 400);
    p.seed = 81;
    p.join_rate = 100.0;
    p.settle_secs = 10.0;
    p.churn_median_session_secs = Some(120.0);
    p.resolve_rate = 20.0;
    p.maintenance_window_secs = Some(60.0);
    let r = run(&p).expect("the run completes");
    assert_eq!(r.resolves, 400);
    assert!(r.success_rate >= 0.98, "success {} ({r:?})", r.success_rate);
    assert_eq!(r.forged_accepted, 0);
    assert!(r.counters.handovers > 0, "replicas handed cpas to joining nodes");
    assert!(
        r.maintenance_bytes_per_node_per_sec > 0.0 && r.maintenance_bytes_per_node_per_sec < 1000.0,
        "maintenance {} B/s",
        r.maintenance_bytes_per_node_per_sec
    );
}
