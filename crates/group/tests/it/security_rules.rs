//! Record security (group.md §4–§6): signatures, roles, validity, deferral, properties,
//! revocation with cascade and the racing rule, and convergence for any arrival order.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use common::*;
use peergroup_graph::Hlc;
use peergroup_graph::proto::Validation;
use peergroup_graph::record::{RecordBuilder, RecordLimits};
use peergroup_graph::store::RecordStore;
use peergroup_group::records::{GroupProperties, SecurityData};
use peergroup_group::{GroupError, LocalMember, Role};
use proptest::prelude::*;

fn reason(v: &Validation) -> GroupError {
    match v {
        Validation::Reject(r) => r.downcast_ref::<GroupError>().cloned().unwrap(),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// A replica holding the group's security records.
fn member_replica(f: &Fixture) -> Replica {
    let mut r = Replica::new(f, &f.carol);
    for s in f.security_records() {
        assert_eq!(r.offer(&s, at(1)), Validation::Accept, "{:?}", s.record_type());
    }
    r
}

#[test]
fn members_records_are_accepted_and_forgeries_refused() {
    let f = Fixture::new();
    let mut r = member_replica(&f);
    let g = f.graph().clone();
    assert_eq!(r.offer(&data(&g, &f.alice, 1, at(5)), at(6)), Validation::Accept);
    // Signed by bob in alice's name.
    let mut forged = data(&g, &f.alice, 2, at(5));
    let sig = f.bob.identity.sign(&forged.signing_bytes(&g));
    forged = forged
        .with_security_data(
            &SecurityData::Member { cert: f.bob.chain.leaf().id(), signature: sig }.encode(),
            &RecordLimits::default(),
        )
        .unwrap();
    assert_eq!(reason(&r.offer(&forged, at(6))), GroupError::SignatureInvalid);
    // Garbage security data.
    let junk = data(&g, &f.alice, 3, at(5))
        .with_security_data(&[9, 9, 9], &RecordLimits::default())
        .unwrap();
    assert!(matches!(reason(&r.offer(&junk, at(6))), GroupError::Decode(_)));
}

#[test]
fn only_the_creator_or_an_administrator_modifies_a_record() {
    let f = Fixture::new();
    let g = f.graph().clone();
    let mut r = member_replica(&f);
    let original = data(&g, &f.alice, 10, at(5));
    assert_eq!(r.offer(&original, at(6)), Validation::Accept);
    let by_bob = sign(
        &g,
        &f.bob,
        original
            .update(f.bob.identity.peer_name().clone(), Hlc::new(at(7), 0, 5))
            .payload(b"bob".to_vec())
            .build(&RecordLimits::default())
            .unwrap(),
    );
    assert!(matches!(reason(&r.offer(&by_bob, at(8))), GroupError::NotCreatorOrAdmin { .. }));
    let by_admin = sign(
        &g,
        &f.admin,
        original
            .update(f.admin.identity.peer_name().clone(), Hlc::new(at(7), 0, 2))
            .payload(b"admin".to_vec())
            .build(&RecordLimits::default())
            .unwrap(),
    );
    assert_eq!(r.offer(&by_admin, at(8)), Validation::Accept);
}

#[test]
fn a_record_cannot_outlive_its_signers_certificate() {
    let f = Fixture::new();
    let g = f.graph().clone();
    let mut r = member_replica(&f);
    let leaf_after = f.alice.chain.leaf().not_after();
    let rec = RecordBuilder::new(
        DATA,
        peergroup_graph::RecordId::from_u128(20),
        f.alice.identity.peer_name().clone(),
        Hlc::new(at(5), 0, 1),
        leaf_after.saturating_add(Duration::from_secs(1)),
    )
    .build(&RecordLimits::default())
    .unwrap();
    assert_eq!(reason(&r.offer(&sign(&g, &f.alice, rec), at(6))), GroupError::OutsideValidity);
}

#[test]
fn a_record_waits_for_its_signers_membership() {
    let f = Fixture::new();
    let g = f.graph().clone();
    let mut r = Replica::new(&f, &f.carol);
    let early = data(&g, &f.alice, 30, at(5));
    assert_eq!(r.offer(&early, at(6)), Validation::Defer);
    for s in f.security_records() {
        r.offer(&s, at(7));
    }
    // Retried when the membership arrived.
    assert!(r.contents(at(8)).iter().any(|(id, _)| *id == early.id()));
}

#[test]
fn deferral_is_bounded_in_age() {
    let f = Fixture::new();
    let g = f.graph().clone();
    let mut r = member_replica(&f);
    let ghost = issue(&f.admin, &ident("ghost", 91), peergroup_group::Role::Member, 10);
    let rec = data(&g, &ghost, 40, at(5));
    assert_eq!(r.offer(&rec, at(6)), Validation::Defer);
    assert_eq!(r.validate(&rec, at(6 + 599)), Validation::Defer);
    assert!(matches!(reason(&r.validate(&rec, at(6 + 601))), GroupError::NotAMember { .. }));
}

#[test]
fn properties_change_only_by_the_group_key_and_never_their_immutable_fields() {
    let f = Fixture::new();
    let g = f.graph().clone();
    let mut r = member_replica(&f);
    let current = f.group.properties_record.clone();
    let update = |p: &GroupProperties,
                  key: Option<&peergroup_group::GroupKey>,
                  signer: &peergroup_group::LocalMember| {
        let u = current
            .update(f.creator.identity.peer_name().clone(), Hlc::new(at(9), 0, 1))
            .payload(p.encode())
            .build(&RecordLimits::default())
            .unwrap();
        match key {
            Some(k) => u
                .with_security_data(
                    &SecurityData::GroupKey { signature: k.sign(&u.signing_bytes(&g)) }.encode(),
                    &RecordLimits::default(),
                )
                .unwrap(),
            None => sign(&g, signer, u),
        }
    };
    let mut renamed = f.group.properties.clone();
    renamed.friendly_name = "New name".into();
    assert!(matches!(
        reason(&r.offer(&update(&renamed, None, &f.creator), at(10))),
        GroupError::WrongSigner(_)
    ));
    let mut moved = f.group.properties.clone();
    moved.cloud = "elsewhere".into();
    assert_eq!(
        reason(&r.offer(&update(&moved, Some(&f.group.key), &f.creator), at(10))),
        GroupError::ImmutableProperty("cloud")
    );
    assert_eq!(
        r.offer(&update(&renamed, Some(&f.group.key), &f.creator), at(10)),
        Validation::Accept
    );
}

#[test]
fn revocation_refuses_new_writes_keeps_listed_ones_and_cascades() {
    let f = Fixture::new();
    let g = f.graph().clone();
    let mut r = member_replica(&f);
    let a1 = data(&g, &f.alice, 50, at(5));
    let a2 = data(&g, &f.alice, 51, at(6));
    let b1 = data(&g, &f.bob, 52, at(6));
    let c1 = data(&g, &f.carol, 53, at(6));
    for x in [&a1, &a2, &b1, &c1] {
        assert_eq!(r.offer(x, at(7)), Validation::Accept);
    }
    // The admin revokes the inviter: alice and bob are beneath it. The admin held a1 and
    // b1 (and the memberships), not a2.
    let alice_m = f.membership(&f.alice);
    let bob_m = f.membership(&f.bob);
    let inviter_m = f.membership(&f.inviter);
    let rev =
        revocation(&g, &f.admin, &f.inviter, &[&a1, &b1, &alice_m, &bob_m, &inviter_m], at(8));
    assert_eq!(r.offer(&rev, at(9)), Validation::Accept);
    let held: Vec<_> = r.contents(at(9)).into_iter().map(|(id, _)| id).collect();
    assert!(held.contains(&a1.id()) && held.contains(&b1.id()) && held.contains(&c1.id()));
    assert!(!held.contains(&a2.id()), "a2 was not held by the revoker: purged");
    // A back-dated write by alice after the revocation: refused.
    let back = data(&g, &f.alice, 54, at(2));
    assert!(matches!(reason(&r.offer(&back, at(10))), GroupError::RevokedWrite { .. }));
    // Carol (a sibling branch) is unaffected.
    assert_eq!(r.offer(&data(&g, &f.carol, 55, at(10)), at(10)), Validation::Accept);
    // Admission: alice is refused, carol admitted.
    let e = r
        .security
        .admit_chain(f.alice.chain.chain(), f.alice.identity.node_id(), at(10))
        .unwrap_err();
    assert!(e.is_revoked());
    r.security.admit_chain(f.carol.chain.chain(), f.carol.identity.node_id(), at(10)).unwrap();
}

#[test]
fn a_revocation_is_accepted_before_its_target_and_seniority_decides() {
    let f = Fixture::new();
    let g = f.graph().clone();
    let mut r = Replica::new(&f, &f.carol);
    for s in f.security_records() {
        r.offer(&s, at(1));
    }
    // A member revoking: refused (members issue nothing).
    let by_member = revocation(&g, &f.carol, &f.alice, &[], at(2));
    assert!(matches!(reason(&r.offer(&by_member, at(3))), GroupError::RoleRequired { .. }));
    // The inviter tries to revoke the admin above it: stored, but not effective (junior).
    let upward = revocation(&g, &f.inviter, &f.admin, &[], at(2));
    assert_eq!(r.offer(&upward, at(3)), Validation::Accept);
    let v = r.offer(&data(&g, &f.admin, 60, at(4)), at(4));
    assert_eq!(v, Validation::Accept, "{:?} {:?}", f.admin.chain.leaf().not_after(), at(4));
    // The issuer revokes its own member: effective.
    let by_issuer = revocation(&g, &f.inviter, &f.bob, &[], at(5));
    assert_eq!(r.offer(&by_issuer, at(5)), Validation::Accept);
    assert!(matches!(
        reason(&r.offer(&data(&g, &f.bob, 61, at(6)), at(6))),
        GroupError::RevokedWrite { .. }
    ));
    // A revocation of a certificate nobody here knows yet is accepted and applies later.
    let dave = issue(&f.admin, &ident("dave", 92), peergroup_group::Role::Member, 10);
    let early = revocation(&g, &f.admin, &dave, &[], at(6));
    assert_eq!(r.offer(&early, at(7)), Validation::Accept);
    // Dave's membership is stored (memberships carry only the chain), but nothing he
    // writes is, and he is not admitted.
    assert_eq!(r.offer(&f.membership(&dave), at(8)), Validation::Accept);
    assert!(matches!(
        reason(&r.offer(&data(&g, &dave, 62, at(8)), at(8))),
        GroupError::RevokedWrite { .. }
    ));
    assert!(
        r.security
            .admit_chain(dave.chain.chain(), dave.identity.node_id(), at(8))
            .unwrap_err()
            .is_revoked()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Replicas converge for any arrival order of records, memberships and revocations.
    #[test]
    fn replicas_converge_for_any_arrival_order(seed_a in any::<u64>(), seed_b in any::<u64>()) {
        let f = Fixture::new();
        let g = f.graph().clone();
        let a1 = data(&g, &f.alice, 70, at(5));
        let a2 = data(&g, &f.alice, 71, at(6));
        let b1 = data(&g, &f.bob, 72, at(6));
        let c1 = data(&g, &f.carol, 73, at(6));
        let back = data(&g, &f.bob, 74, at(1));
        let alice_m = f.membership(&f.alice);
        let bob_m = f.membership(&f.bob);
        let inviter_m = f.membership(&f.inviter);
        let rev = revocation(&g, &f.admin, &f.inviter, &[&a1, &b1, &alice_m, &bob_m, &inviter_m], at(8));
        let rev_c = revocation(&g, &f.creator, &f.carol, &[&c1], at(9));
        let mut all = f.security_records();
        all.extend([a1, a2, b1, c1, back, rev, rev_c]);
        let shuffle = |seed: u64| {
            let mut v = all.clone();
            let mut s = seed;
            for i in (1..v.len()).rev() {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                v.swap(i, (s >> 33) as usize % (i + 1));
            }
            v
        };
        let mut ra = Replica::new(&f, &f.admin);
        let mut rb = Replica::new(&f, &f.creator);
        for x in shuffle(seed_a) { ra.offer(&x, at(10)); }
        for x in shuffle(seed_b) { rb.offer(&x, at(10)); }
        // Anti-entropy: each offers the other what it holds, twice.
        for _ in 0..2 {
            let from_a: Vec<_> = ra.store.enumerate(&peergroup_graph::RecordFilter::All, at(10)).unwrap();
            let from_b: Vec<_> = rb.store.enumerate(&peergroup_graph::RecordFilter::All, at(10)).unwrap();
            for x in from_b { ra.offer(&x, at(10)); }
            for x in from_a { rb.offer(&x, at(10)); }
        }
        if ra.contents(at(10)) != rb.contents(at(10)) {
            let cm = peergroup_group::records::membership_id(f.carol.identity.peer_name().authority());
            eprintln!("carol membership {:?}: a={:?} b={:?}", cm, ra.store.get(&cm, at(10)).unwrap().map(|r| r.version()), rb.store.get(&cm, at(10)).unwrap().map(|r| r.version()));
            for x in &all {
                eprintln!("{:?} {:?} a={:?} b={:?}", x.id(), x.record_type(), ra.validate(x, at(10)), rb.validate(x, at(10)));
            }
        }
        prop_assert_eq!(ra.contents(at(10)), rb.contents(at(10)));
        let ids: Vec<u128> = ra.contents(at(10)).iter().map(|(id, _)| u128::from_be_bytes(*id.as_bytes())).collect();
        prop_assert!(ids.contains(&70) && ids.contains(&72) && ids.contains(&73));
        prop_assert!(!ids.contains(&71) && !ids.contains(&74));
    }
}

/// A batch prepared ahead (signatures verified over the cores) gets exactly the verdicts
/// it gets unprepared: the good records accepted, a record with a bad signature and a
/// membership whose certificate signature is bad refused, each for its own reason.
#[test]
fn preparing_a_batch_changes_no_verdict() {
    let f = Fixture::new();
    let g = f.graph().clone();
    let mut batch = f.security_records();
    // 100 members issued by the inviter, and their data records.
    let members: Vec<LocalMember> = (0..100u8)
        .map(|i| issue(&f.inviter, &ident("m", 120u8.wrapping_add(i)), Role::Member, 50))
        .collect();
    for m in &members {
        batch.push(f.membership(m));
    }
    for (i, m) in members.iter().enumerate() {
        batch.push(data(&g, m, 1_000 + i as u128, at(5)));
    }
    // a data record whose signature is bad (signed by another member)
    let mut bad_sig = data(&g, &members[0], 5_000, at(5));
    let sig = members[1].identity.sign(&bad_sig.signing_bytes(&g));
    bad_sig = bad_sig
        .with_security_data(
            &SecurityData::Member { cert: members[0].chain.leaf().id(), signature: sig }.encode(),
            &RecordLimits::default(),
        )
        .unwrap();
    batch.push(bad_sig.clone());
    // a membership whose leaf certificate's signature is broken
    let rogue_id = ident("rogue", 250);
    let honest = issue(&f.inviter, &rogue_id, Role::Member, 50);
    let mut certs = honest.chain.certs().to_vec();
    let mut leaf = certs.pop().unwrap().encoded().to_vec();
    let last = leaf.len() - 1;
    leaf[last] ^= 1;
    certs.push(peergroup_group::cert::Cert::decode(&leaf).unwrap());
    let rogue_chain = peergroup_group::Chain::from_certs(certs);
    let rogue_membership = sign(
        &g,
        &honest,
        RecordBuilder::new(
            peergroup_group::records::MEMBERSHIP_TYPE,
            peergroup_group::records::membership_id(rogue_id.peer_name().authority()),
            rogue_id.peer_name().clone(),
            Hlc::new(T0, 0, 1),
            at(86_400),
        )
        .payload(peergroup_group::records::encode_membership(&rogue_chain))
        .build(&RecordLimits::default())
        .unwrap(),
    );
    batch.push(rogue_membership.clone());

    let verdicts = |prepare: bool| {
        let mut r = Replica::new(&f, &f.carol);
        if prepare {
            let view = common::View { store: &r.store, now: at(6) };
            let cx = peergroup_graph::proto::ProviderContext {
                graph: &r.graph,
                now: at(6),
                records: &view,
            };
            let refs: Vec<_> = batch.iter().collect();
            peergroup_graph::proto::SecurityProvider::prepare(&mut r.security, &cx, &refs);
        }
        let hits_before = r.security.cache().hits;
        let out: Vec<String> = batch.iter().map(|x| format!("{:?}", r.offer(x, at(6)))).collect();
        (out, r.contents(at(6)), r.security.cache().hits - hits_before)
    };
    let (plain, plain_contents, plain_hits) = verdicts(false);
    let (prepared, prepared_contents, prepared_hits) = verdicts(true);
    if peergroup_group::chain::parallelism() > 1 {
        // the 100 new leaf certificates were verified ahead, in the batch
        assert!(prepared_hits >= plain_hits + 100, "{prepared_hits} vs {plain_hits}");
    }
    assert_eq!(plain, prepared);
    assert_eq!(plain_contents, prepared_contents);
    let mut r = member_replica(&f);
    for m in &members {
        assert_eq!(r.offer(&f.membership(m), at(6)), Validation::Accept);
    }
    assert_eq!(reason(&r.offer(&bad_sig, at(6))), GroupError::SignatureInvalid);
    assert!(matches!(
        reason(&r.offer(&rogue_membership, at(6))),
        GroupError::Chain(peergroup_group::ChainError::SignatureInvalid { .. })
    ));
    // everything else in the batch was accepted
    assert_eq!(plain.iter().filter(|v| v.as_str() == "Accept").count(), batch.len() - 2);
}

/// Records written together are signed over the cores (`secure_batch`); each gets exactly
/// what signing it alone gives (Ed25519 signatures are deterministic), refusals included.
#[test]
fn signing_a_batch_gives_what_signing_one_by_one_gives() {
    use peergroup_graph::proto::{ProviderContext, SecurityProvider};
    let f = Fixture::new();
    let g = f.graph().clone();
    let unsigned = |by: &LocalMember, id: u128, expires: peergroup_base::UnixTime| {
        RecordBuilder::new(
            DATA,
            peergroup_graph::RecordId::from_u128(id),
            by.identity.peer_name().clone(),
            Hlc::new(at(5), 0, 1),
            expires,
        )
        .payload(vec![id as u8; 8])
        .build(&RecordLimits::default())
        .unwrap()
    };
    let mut records: Vec<_> =
        (0..100u128).map(|i| unsigned(&f.carol, 7_000 + i, at(3600))).collect();
    // not the local member's record, and one that outlives its certificate
    records.insert(10, unsigned(&f.alice, 8_000, at(3600)));
    records.insert(50, unsigned(&f.carol, 8_001, at(10 * 365 * 86_400)));

    let mut one = Replica::new(&f, &f.carol);
    let mut batch = Replica::new(&f, &f.carol);
    let view = View { store: &one.store, now: at(6) };
    let cx = ProviderContext { graph: &g, now: at(6), records: &view };
    let alone: Vec<_> = records.iter().map(|r| one.security.secure(&cx, r)).collect();
    let view = View { store: &batch.store, now: at(6) };
    let cx = ProviderContext { graph: &g, now: at(6), records: &view };
    let together = batch.security.secure_batch(&cx, &records);
    assert_eq!(together.len(), records.len());
    for (i, (a, b)) in alone.iter().zip(&together).enumerate() {
        match (a, b) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "record {i}"),
            (Err(a), Err(b)) => assert_eq!(a.reason, b.reason, "record {i}"),
            _ => panic!("record {i}: {a:?} alone, {b:?} in a batch"),
        }
    }
    assert!(together[10].is_err() && together[50].is_err());
    assert_eq!(together.iter().filter(|r| r.is_ok()).count(), 100);
}
