//! Many nodes register one name: a resolve returns up to `max_results` of them, ranked
//! by a service-location hint when one is given. Group members register
//! `<group authority>.participant` with their own keys and a delegation checked by a
//! pluggable validator.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use crate::common;

use std::sync::Arc;

use peergroup_base::{Classifier, PeerName, UnixTime};
use peergroup_pnrp::proto::{
    CpaError, Event, RegisterError, RegisterRequest, ResolveOutcome, ResolveRequest,
    SimpleDelegation,
};

#[test]
fn an_unsecured_name_registered_by_twelve_nodes_resolves_to_all_of_them() {
    let mut c = common::cloud(50, 41, common::config());
    let name: PeerName = "0.participants".parse().unwrap();
    let registrants: Vec<usize> = (10..22).collect();
    for &i in &registrants {
        let req = RegisterRequest::new(
            name.clone(),
            c.nodes[i].signer.clone(),
            vec![common::endpoint(i, 0)],
        );
        let (_, ev) = c.register(i, req);
        assert!(matches!(ev, Event::Registered { .. }), "{ev:?}");
    }
    let all = c.resolve(3, &name, 64);
    assert_eq!(all.outcome, ResolveOutcome::Found);
    assert_eq!(all.instances.len(), registrants.len());
    assert!(all.instances.iter().all(|i| i.unsecured), "unsecured names are flagged");
    let mut eps: Vec<_> = all.instances.iter().map(|i| i.endpoints[0]).collect();
    eps.sort();
    let mut want: Vec<_> = registrants.iter().map(|&i| common::endpoint(i, 0)).collect();
    want.sort();
    assert_eq!(eps, want);

    let five = c.resolve(4, &name, 5);
    assert_eq!(five.instances.len(), 5, "max_results caps the answer");

    // nearest to a hint: the instance whose service location is the hint comes first
    let target = all.instances[7].location;
    let mut req = ResolveRequest::new(name.clone());
    req.max_results = 64;
    req.hint = Some(target);
    let ranked = c.resolve_with(5, req);
    assert_eq!(ranked.instances[0].location, target);
}

#[test]
fn group_members_register_the_group_name_with_a_delegation() {
    let owner = common::signer(200);
    let group_name = PeerName::new(owner.authority(), Classifier::new("participant").unwrap());
    let validator: Arc<dyn peergroup_pnrp::proto::DelegationValidator> = Arc::new(SimpleDelegation);
    let mut config = common::config();
    config.validator = Some(validator);
    let mut c = common::cloud(40, 42, config);
    let until = UnixTime::from_secs(1_767_225_600 + 30 * 86_400);
    for i in 5..10 {
        let member = c.nodes[i].signer.clone();
        let proof = SimpleDelegation::issue(&owner, &member.public_key(), &group_name, until);
        let req = RegisterRequest::new(
            group_name.clone(),
            member.with_delegation(proof),
            vec![common::endpoint(i, 0)],
        );
        let (_, ev) = c.register(i, req);
        assert!(matches!(ev, Event::Registered { .. }), "{ev:?}");
    }
    let r = c.resolve(0, &group_name, 64);
    assert_eq!(r.outcome, ResolveOutcome::Found);
    assert_eq!(r.instances.len(), 5);
    assert!(r.instances.iter().all(|i| i.delegated && !i.unsecured));

    // a member without a delegation cannot register the group's name
    let req = RegisterRequest::new(
        group_name.clone(),
        c.nodes[12].signer.clone(),
        vec![common::endpoint(12, 0)],
    );
    let (_, ev) = c.register(12, req);
    assert!(
        matches!(
            ev,
            Event::RegistrationFailed {
                error: RegisterError::InvalidCpa(CpaError::WrongAuthority { .. }),
                ..
            }
        ),
        "{ev:?}"
    );
}

#[test]
fn replicas_without_a_validator_refuse_delegated_registrations() {
    let owner = common::signer(201);
    let group_name = PeerName::new(owner.authority(), Classifier::new("participant").unwrap());
    // only the registrant has a validator: the replicas refuse what they cannot check
    let mut c = common::cloud_with(30, 43, common::config(), |i, mut cfg| {
        if i == 6 {
            cfg.validator = Some(Arc::new(SimpleDelegation));
        }
        cfg
    });
    let until = UnixTime::from_secs(1_767_225_600 + 30 * 86_400);
    let member = c.nodes[6].signer.clone();
    let proof = SimpleDelegation::issue(&owner, &member.public_key(), &group_name, until);
    let req = RegisterRequest::new(
        group_name.clone(),
        member.with_delegation(proof),
        vec![common::endpoint(6, 0)],
    );
    let (_, ev) = c.register(6, req);
    assert!(matches!(ev, Event::Registered { replicas: 0, .. }), "{ev:?}");
    let refused: u64 =
        (0..30).filter(|&i| i != 6).map(|i| c.node(i).counters().stores_refused).sum();
    assert!(refused >= 20, "{refused} refusals");
}
