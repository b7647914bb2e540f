//! The scale scenario at a small size: every safety figure is zero and delivery complete.
#![cfg(feature = "sim")]
#![allow(clippy::unwrap_used)]

use peergroup_group::scenario::{Params, run};

#[test]
fn small_group_with_revocations_and_hostile_nodes_converges() {
    let mut p = Params::new(30, 200, 4);
    p.seed = 7;
    let r = run(&p);
    println!("{}", serde_json::to_string_pretty(&r).unwrap());
    assert_eq!(r.forged_accepted, 0, "forged records kept");
    assert_eq!(r.nonmember_admitted, 0, "non-members admitted");
    assert_eq!(r.accepted_from_revoked_after_rule, 0, "records the racing rule refuses were kept");
    assert_eq!(r.replicas_disagree, 0, "replicas disagree");
    assert!(r.revoked_members >= 4);
    assert!(r.forged_attempts > 0 && r.nonmember_attempts > 0);
    assert!(r.refusals.values().sum::<u64>() >= r.nonmember_attempts as u64);
    assert!((r.delivered_fraction - 1.0).abs() < 1e-9, "delivered {}", r.delivered_fraction);
    assert!(r.revocation_ms_p99.is_finite());
}
