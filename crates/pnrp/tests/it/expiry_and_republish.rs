//! A registered name outlives its CPA's lifetime: the registrant re-signs it at half-life
//! and stores the new version. A name whose registrant is gone disappears when its CPA
//! expires.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use crate::common;

use std::time::Duration;

use peergroup_pnrp::proto::{Event, ResolveOutcome};
use peergroup_sim::NodeIdx;

fn short_lived() -> peergroup_pnrp::proto::Config {
    peergroup_pnrp::proto::Config {
        cpa_lifetime: Duration::from_secs(12 * 3600), // the shortest allowed
        // keep the run light: upkeep rounds every 30 minutes at most
        republish_min: Duration::from_secs(1800),
        republish_max: Duration::from_secs(1800),
        refresh_interval: Duration::from_secs(3600),
        maintenance_interval: Duration::from_secs(600),
        ..common::config()
    }
}

#[test]
fn a_live_registration_is_republished_before_it_expires() {
    let mut c = common::cloud(24, 61, short_lived());
    let req = c.own_name_request(4);
    let (_, ev) = c.register(4, req);
    let Event::Registered { sequence: first, .. } = ev else { panic!("{ev:?}") };
    c.sim.run_for(Duration::from_secs(30 * 3600)).expect("no invariants");
    let r = c.resolve(11, &c.nodes[4].name.clone(), 4);
    assert_eq!(r.outcome, ResolveOutcome::Found);
    let inst = &r.instances[0];
    assert!(inst.sequence > first, "re-signed: {} > {first}", inst.sequence);
    let now = c.sim.now_full().unix;
    assert!(inst.not_after > now, "the served cpa is current");
}

#[test]
fn an_abandoned_registration_expires() {
    let mut c = common::cloud(24, 62, short_lived());
    let req = c.own_name_request(5);
    c.register(5, req);
    let name = c.nodes[5].name.clone();
    c.sim.crash(NodeIdx(5));
    c.sim.run_for(Duration::from_secs(6 * 3600)).expect("no invariants");
    assert_eq!(c.resolve(9, &name, 4).outcome, ResolveOutcome::Found, "still valid at 6 h");
    c.sim.run_for(Duration::from_secs(7 * 3600)).expect("no invariants");
    assert_eq!(c.resolve(9, &name, 4).outcome, ResolveOutcome::NotFound, "expired at 12 h");
    let held: usize = (0..24)
        .filter(|&i| i != 5)
        .map(|i| c.node(i).store(peergroup_pnrp::proto::Cloud::Global).len())
        .sum();
    assert_eq!(held, 0, "replicas swept the expired cpa");
}
