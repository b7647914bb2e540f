//! A fifth of the nodes lie: they answer lookups with forged, expired and stale CPAs and
//! with routing entries that point at each other. No forged CPA is ever accepted, and with
//! disjoint paths resolves still succeed.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use peergroup_pnrp::scenario::{Params, run};

fn params(disjoint: usize) -> Params {
    let mut p = Params::new(120, 300);
    p.seed = 91;
    p.join_rate = 100.0;
    p.settle_secs = 10.0;
    p.adversarial_fraction = 0.2;
    p.disjoint_paths = disjoint;
    p
}

#[test]
fn forged_cpas_are_never_accepted_and_disjoint_paths_route_around_liars() {
    let r = run(&params(4)).expect("the run completes");
    assert_eq!(r.adversaries, 23);
    assert_eq!(r.forged_accepted, 0);
    assert_eq!(r.stale_accepted, 0, "two answers per path: the newest version wins");
    assert!(r.forged_rejected > 0, "adversaries did serve forgeries");
    assert!(r.counters.contacts_punished > 0, "liars were dropped from tables");
    assert!(r.success_rate >= 0.98, "success {}", r.success_rate);
}

#[test]
fn without_disjoint_paths_forgeries_are_still_refused() {
    let r = run(&params(1)).expect("the run completes");
    assert_eq!(r.forged_accepted, 0);
    assert!(r.forged_rejected > 0);
}
