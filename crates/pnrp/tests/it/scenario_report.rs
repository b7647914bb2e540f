//! The scenario runner builds a cloud by honest bootstrap, runs resolves and reports
//! every figure the CLI prints; the same seed gives the same run.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use peergroup_pnrp::scenario::{Params, run};

fn small(seed: u64) -> Params {
    let mut p = Params::new(100, 500);
    p.seed = seed;
    p.join_rate = 100.0;
    p.settle_secs = 5.0;
    p.maintenance_window_secs = Some(120.0);
    p
}

#[test]
fn a_small_cloud_resolves_everything_and_reports_it() {
    let r = run(&small(7)).expect("the run completes");
    assert_eq!((r.nodes, r.resolves, r.names), (100, 500, 100));
    assert_eq!(r.succeeded, 500);
    assert!((r.success_rate - 1.0).abs() < 1e-12);
    assert!(r.hops_median <= 2.0 && r.hops_p99 <= 3.0, "{r:?}");
    assert!(r.messages_per_resolve_median <= 4.0, "{r:?}");
    assert!(r.messages_per_resolve_p99 >= r.messages_per_resolve_median);
    // a stable cloud: refreshes and liveness pings only
    assert!(
        r.maintenance_bytes_per_node_per_sec > 0.0 && r.maintenance_bytes_per_node_per_sec < 200.0,
        "{r:?}"
    );
    assert_eq!(r.forged_accepted, 0);
    assert!(r.sim_seconds > 0.0 && r.wall_seconds >= r.setup_seconds);
    assert!(r.peak_rss_bytes.is_some_and(|b| b > 1 << 20), "{:?}", r.peak_rss_bytes);
    let json = serde_json::to_value(&r).unwrap();
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
        assert!(json.get(key).is_some(), "report lacks {key}");
    }
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let a = run(&small(8)).unwrap();
    let b = run(&small(8)).unwrap();
    assert_eq!(
        (a.sim_messages, a.sim_events, a.succeeded),
        (b.sim_messages, b.sim_events, b.succeeded)
    );
    assert_eq!(a.messages_per_resolve_mean, b.messages_per_resolve_mean);
    assert_eq!(a.maintenance_bytes_per_node_per_sec, b.maintenance_bytes_per_node_per_sec);
    let c = run(&small(9)).unwrap();
    assert_ne!(a.sim_messages, c.sim_messages, "another seed, another run");
}

#[test]
fn nonsense_parameters_are_refused() {
    assert!(run(&Params::new(1, 10)).is_err());
    let mut p = Params::new(10, 10);
    p.adversarial_fraction = 1.5;
    assert!(run(&p).is_err());
}
