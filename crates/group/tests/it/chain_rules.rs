//! Every chain rule of group.md §3.3 has its own error, checked here one by one.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use common::*;
use peergroup_base::UnixTime;
use peergroup_group::cert::{CertDraft, CertKind};
use peergroup_group::chain::MAX_CHAIN_CERTS;
use peergroup_group::{CertCache, Chain, ChainError, DecodeError, GroupError, Role, Verifier};
use proptest::prelude::*;

fn reissue(
    chain: &Chain,
    index: usize,
    edit: impl FnOnce(&mut CertDraft),
    signer: &peergroup_identity::Identity,
) -> Chain {
    let c = &chain.certs()[index];
    let mut d = CertDraft {
        kind: c.kind(),
        group_key: *c.group_key(),
        group_classifier: c.group_name().classifier().clone(),
        subject_key: *c.subject_key(),
        subject_classifier: c.subject_name().classifier().clone(),
        role: c.role(),
        classifiers: c.classifiers().to_vec(),
        not_before: c.not_before(),
        not_after: c.not_after(),
        serial: *c.serial(),
        issuer: c.issuer(),
    };
    edit(&mut d);
    let cert = d.sign(|m| signer.sign(m)).unwrap();
    let mut certs = chain.certs().to_vec();
    certs[index] = cert;
    Chain::from_certs(certs)
}

#[test]
fn a_depth_four_chain_verifies_and_round_trips() {
    let f = Fixture::new();
    let chain = f.alice.chain.chain();
    assert_eq!(chain.certs().len(), 5);
    let back = Chain::decode(&chain.encode()).unwrap();
    assert_eq!(&back, chain);
    let v = back.verify(&mut CertCache::default(), Some(at(10))).unwrap();
    assert_eq!(v.role(), Role::Member);
    assert_eq!(v.depth(), 4);
    assert_eq!(v.group_name(), f.group.name);
    v.expect_leaf(&f.alice.identity.public_key()).unwrap();
    assert_eq!(v.expect_leaf(&f.bob.identity.public_key()), Err(ChainError::LeafMismatch));
}

#[test]
fn a_shared_chain_costs_its_signatures_once() {
    let f = Fixture::new();
    let mut cache = CertCache::new(Verifier::new());
    // 1,000 members under the same inviter: the shared part is verified once.
    for i in 0..1000u32 {
        let who = peergroup_identity::Identity::from_seed(sha(i), "m", "").unwrap();
        let chain = f
            .inviter
            .issue(
                who.public_key(),
                who.peer_name().classifier(),
                Role::Member,
                Duration::from_secs(86_400),
                T0,
                [0; 16],
            )
            .unwrap();
        chain.verify(&mut cache, Some(at(1))).unwrap();
    }
    // 4 shared certificates once + one leaf per member.
    assert_eq!(cache.verifications(), 4 + 1000);
    assert_eq!(cache.hits, 999 * 4);
    // Verifying again costs nothing.
    f.alice.chain.chain().verify(&mut cache, None).unwrap();
    assert_eq!(cache.verifications(), 1005);
}

fn sha(i: u32) -> [u8; 32] {
    let mut s = [0u8; 32];
    s[..4].copy_from_slice(&i.to_be_bytes());
    s[31] = 0xaa;
    s
}

#[test]
fn every_rule_has_its_error() {
    let f = Fixture::new();
    let chain = f.alice.chain.chain().clone();
    let check = |c: &Chain| c.verify(&mut CertCache::default(), Some(at(10)));
    let inviter = &f.inviter.identity;
    let admin = &f.admin.identity;

    // Not a root first.
    let no_root = Chain::from_certs(chain.certs()[1..].to_vec());
    assert_eq!(check(&no_root), Err(ChainError::NotARoot));
    // A root later.
    let mut twice = chain.certs().to_vec();
    twice.insert(1, chain.certs()[0].clone());
    assert_eq!(check(&Chain::from_certs(twice)), Err(ChainError::UnexpectedRoot { index: 1 }));
    // Broken link: alice's GMC names another issuer.
    let broken = reissue(&chain, 4, |d| d.issuer = peergroup_group::CertId([7; 32]), inviter);
    assert_eq!(check(&broken), Err(ChainError::BrokenLink { index: 4 }));
    // Signature by the wrong key.
    let forged = reissue(&chain, 4, |_| {}, admin);
    assert_eq!(check(&forged), Err(ChainError::SignatureInvalid { index: 4 }));
    // Outlives its issuer.
    let long = reissue(&chain, 4, |d| d.not_after = at(400 * 86_400), inviter);
    assert_eq!(check(&long), Err(ChainError::OutlivesIssuer { index: 4 }));
    // Starts before its issuer.
    let early = reissue(&chain, 4, |d| d.not_before = UnixTime::from_secs(1), inviter);
    assert_eq!(check(&early), Err(ChainError::StartsBeforeIssuer { index: 4 }));
    // not-before after not-after.
    let inverted = reissue(
        &chain,
        4,
        |d| {
            d.not_before = at(50);
            d.not_after = at(40)
        },
        inviter,
    );
    assert_eq!(check(&inverted), Err(ChainError::InvalidValidity { index: 4 }));
    // Role not issuable: an inviting member issues an administrator.
    let escalated = reissue(&chain, 4, |d| d.role = Role::Administrator, inviter);
    assert_eq!(
        check(&escalated),
        Err(ChainError::RoleNotIssuable {
            index: 4,
            issuer: Role::InvitingMember,
            role: Role::Administrator
        })
    );
    // Another group in the middle.
    let mixed = reissue(&chain, 4, |d| d.group_key = [9; 32], inviter);
    assert_eq!(check(&mixed), Err(ChainError::MixedGroups { index: 4 }));
    // A repeated subject key: alice re-certifies the inviter's key under herself.
    let alice_chain = f.alice.chain.chain().clone();
    let loop_cert = CertDraft {
        kind: CertKind::Membership,
        group_key: *alice_chain.certs()[0].group_key(),
        group_classifier: alice_chain.certs()[0].group_name().classifier().clone(),
        subject_key: inviter.public_key(),
        subject_classifier: inviter.peer_name().classifier().clone(),
        role: Role::Member,
        classifiers: Vec::new(),
        not_before: T0,
        not_after: at(1000),
        serial: [0; 16],
        issuer: alice_chain.leaf().unwrap().id(),
    }
    .sign(|m| f.alice.identity.sign(m))
    .unwrap();
    // (A member may not issue, so build it under the inviter instead to isolate the cycle.)
    let _ = loop_cert;
    let cyc = f.inviter.chain.chain().extended(
        CertDraft {
            kind: CertKind::Membership,
            group_key: *chain.certs()[0].group_key(),
            group_classifier: chain.certs()[0].group_name().classifier().clone(),
            subject_key: f.admin.identity.public_key(),
            subject_classifier: f.admin.identity.peer_name().classifier().clone(),
            role: Role::Member,
            classifiers: Vec::new(),
            not_before: T0,
            not_after: at(1000),
            serial: [0; 16],
            issuer: f.inviter.chain.leaf().id(),
        }
        .sign(|m| inviter.sign(m))
        .unwrap(),
    );
    assert_eq!(check(&cyc), Err(ChainError::CircularChain { index: 4 }));
    // Dates.
    assert!(matches!(
        chain.verify(&mut CertCache::default(), Some(UnixTime::from_secs(5))),
        Err(ChainError::NotYetValid { index: 0, .. })
    ));
    assert!(matches!(
        chain.verify(&mut CertCache::default(), Some(at(101 * 86_400))),
        Err(ChainError::Expired { index: 4, .. })
    ));
}

#[test]
fn decoding_limits_come_first() {
    // 26 certificates: more than 24 issuers.
    let mut b = vec![26u8];
    b.extend_from_slice(&[0; 10]);
    assert_eq!(Chain::decode(&b), Err(DecodeError::ChainTooLong { certs: 26, max_issuers: 24 }));
    assert_eq!(Chain::decode(&[0]), Err(DecodeError::ChainEmpty));
    assert!(matches!(Chain::decode(&vec![1; 300_000]), Err(DecodeError::TooLarge { .. })));
    assert!(matches!(Chain::decode(&[1, 0, 5, 1]), Err(DecodeError::Truncated { .. })));
    let f = Fixture::new();
    let mut enc = f.alice.chain.chain().encode();
    enc.push(0);
    assert_eq!(Chain::decode(&enc), Err(DecodeError::TrailingBytes { extra: 1 }));
    assert_eq!(MAX_CHAIN_CERTS, 25);
}

#[test]
fn a_chain_of_twenty_five_verifies_and_twenty_six_is_refused() {
    let f = Fixture::new();
    let mut m = f.creator.clone();
    let mut n = 10u8;
    while m.chain.certs().len() < 25 {
        let who = ident("link", n);
        n += 1;
        m = issue(&m, &who, Role::Administrator, 300);
    }
    assert_eq!(m.chain.certs().len(), 25);
    let who = ident("one-too-many", 200);
    let long = m
        .issue(
            who.public_key(),
            who.peer_name().classifier(),
            Role::Member,
            Duration::from_secs(86_400),
            T0,
            [0; 16],
        )
        .unwrap();
    assert_eq!(
        Chain::decode(&long.encode()),
        Err(DecodeError::ChainTooLong { certs: 26, max_issuers: 24 })
    );
    assert!(long.verify(&mut CertCache::default(), None).is_err());
}

#[test]
fn issuing_follows_the_role_rules() {
    let f = Fixture::new();
    let who = ident("x", 77);
    let e = f.alice.issue(
        who.public_key(),
        who.peer_name().classifier(),
        Role::Member,
        Duration::from_secs(10),
        T0,
        [0; 16],
    );
    assert_eq!(
        e.unwrap_err(),
        GroupError::RoleNotIssuable { issuer: Role::Member, role: Role::Member }
    );
    let e = f.inviter.issue(
        who.public_key(),
        who.peer_name().classifier(),
        Role::Administrator,
        Duration::from_secs(10),
        T0,
        [0; 16],
    );
    assert!(matches!(e, Err(GroupError::RoleNotIssuable { .. })));
    // An issued certificate never outlives its issuer: the validity is cut.
    let c = f
        .inviter
        .issue(
            who.public_key(),
            who.peer_name().classifier(),
            Role::Member,
            Duration::from_secs(10_000 * 86_400),
            T0,
            [0; 16],
        )
        .unwrap();
    assert_eq!(c.leaf().unwrap().not_after(), f.inviter.chain.leaf().not_after());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any expiry beyond the issuer's is refused, any within accepted.
    #[test]
    fn expiry_beyond_the_issuer_is_refused(extra in 1u64..10_000_000, inside in 0u64..1_000_000) {
        let f = Fixture::new();
        let chain = f.alice.chain.chain().clone();
        let issuer_after = chain.certs()[3].not_after();
        let beyond = reissue(&chain, 4, |d| d.not_after = UnixTime::from_millis(issuer_after.as_millis() + extra), &f.inviter.identity);
        prop_assert_eq!(beyond.verify(&mut CertCache::default(), None), Err(ChainError::OutlivesIssuer { index: 4 }));
        let within = reissue(&chain, 4, |d| d.not_after = UnixTime::from_millis(issuer_after.as_millis().saturating_sub(inside).max(d.not_before.as_millis())), &f.inviter.identity);
        prop_assert!(within.verify(&mut CertCache::default(), None).is_ok());
    }

    /// Arbitrary bytes never panic the decoder.
    #[test]
    fn chain_decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Chain::decode(&bytes).map(|c| c.verify(&mut CertCache::default(), None));
    }
}
