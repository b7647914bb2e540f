//! Checks the test vectors of `proto-specs/group.md` §10 against the code.
//!
//! Every vector is rebuilt from the inputs its block lists (seeds, classifiers, times,
//! serials) with the crate's own encoders and signers, and compared byte for byte; the
//! certificates, chains, records, invitation and hello are also produced through the
//! public API (`create_group`, `LocalMember::issue`, `Invitation`, `Hello::of`) and must
//! give the same bytes. Negative vectors are decoded and verified and must fail with the
//! error the spec names. A vector this test does not know fails it.
//!
//! `cargo test -p peergroup-group --test it -- spec_vectors:: --ignored --nocapture` prints
//! the vector blocks of §10 from the fixture (used to write the spec).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::time::Duration;

use peergroup_base::codec::FrameCodec;
use peergroup_base::spec_vectors::{self, Vector, get};
use peergroup_base::{NodeId, PeerName, UnixTime};
use peergroup_graph::proto::{ProviderContext, RecordLookup, SecurityProvider, Validation};
use peergroup_graph::record::{Record, RecordLimits};
use peergroup_graph::{GraphId, RecordFilter, RecordId};
use peergroup_group::admission::{self, Hello, Refusal};
use peergroup_group::cert::{CertDraft, DEFAULT_CLASSIFIER};
use peergroup_group::chain::MAX_CHAIN_BYTES;
use peergroup_group::group::{LocalMember, NewGroup, graph_id};
use peergroup_group::node::Message;
use peergroup_group::password::{self, JoinRefusal, PasswordInvitation, PasswordMessage};
use peergroup_group::records::{
    self, GroupProperties, Revocation, RevocationReason, SecurityData, decode_membership,
    encode_membership,
};
use peergroup_group::{
    Cert, CertCache, CertId, CertKind, Chain, ChainError, CreateOptions, DecodeError, GroupKey,
    GroupSecurity, Invitation, Role, Verifier, create_group,
};
use peergroup_identity::Identity;

const SPEC: &str = include_str!("../../../../proto-specs/group.md");

// ----------------------------------------------------------------------------- fixture

const T0: u64 = 1_795_632_699_250; // 2026-11-25T18:51:39.250Z
const T1: u64 = T0 + 60_000;
const T2: u64 = T0 + 120_000;
const GROUP_SEED: [u8; 32] = [0x47; 32];
const GROUP_CLASSIFIER: &str = "Zürich book club";
const ALICE_SEED: [u8; 32] = seq_seed();
const BOB_SEED: [u8; 32] = [0x42; 32];
const CAROL_SEED: [u8; 32] = [0x43; 32];
const DAVE_SEED: [u8; 32] = [0x44; 32];
const EXPORTER: [u8; 32] = exporter();
const DAY: Duration = Duration::from_secs(86_400);

const fn seq_seed() -> [u8; 32] {
    let mut s = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        s[i] = i as u8;
        i += 1;
    }
    s
}

const fn exporter() -> [u8; 32] {
    let mut s = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        s[i] = 0xe0 + i as u8;
        i += 1;
    }
    s
}

fn serial(n: u8) -> [u8; 16] {
    let mut s = [0u8; 16];
    s[15] = n;
    s
}

fn t(ms: u64) -> UnixTime {
    UnixTime::from_millis(ms)
}

struct Fixture {
    group: NewGroup,
    alice: LocalMember,
    bob: LocalMember,
    carol: LocalMember,
    /// name → certificate, in the order the spec lists them.
    certs: Vec<(&'static str, Cert, [u8; 32], &'static str)>,
    invitation: Invitation,
    hello: Hello,
    rev_admin: Revocation,
    rev_group: Revocation,
    stand: [[u8; 32]; 2],
}

fn identity(seed: [u8; 32], classifier: &str) -> Identity {
    Identity::from_seed(seed, classifier, "").unwrap()
}

fn options() -> CreateOptions {
    let mut o = CreateOptions::new(GROUP_CLASSIFIER);
    o.friendly_name = "Book club".into();
    o.comment = "Monthly, first Tuesday".into();
    o
}

fn fixture() -> Fixture {
    let alice_id = identity(ALICE_SEED, "alice");
    let bob_id = identity(BOB_SEED, "bob");
    let carol_id = identity(CAROL_SEED, "carol");
    let dave_id = identity(DAVE_SEED, "dave");
    let key = GroupKey::from_seed(GROUP_SEED).unwrap();
    let group = create_group(&alice_id, key, &options(), t(T0), [serial(1), serial(2)]).unwrap();
    let alice = group.creator.clone();
    let mut cache = CertCache::default();
    let bob_chain = alice
        .issue(
            bob_id.public_key(),
            bob_id.peer_name().classifier(),
            Role::InvitingMember,
            365 * DAY,
            t(T1),
            serial(3),
        )
        .unwrap();
    let bob = LocalMember::new(bob_id.clone(), &bob_chain, &mut cache).unwrap();
    let carol_chain = bob
        .issue(
            carol_id.public_key(),
            carol_id.peer_name().classifier(),
            Role::Member,
            30 * DAY,
            t(T2),
            serial(4),
        )
        .unwrap();
    let carol = LocalMember::new(carol_id.clone(), &carol_chain, &mut cache).unwrap();
    // Certificates the issuing API refuses to make: signed directly.
    let bob_leaf = bob.chain.leaf().clone();
    let draft = |subject: &Identity, role: Role, not_after: u64, n: u8| CertDraft {
        kind: CertKind::Membership,
        group_key: *bob_leaf.group_key(),
        group_classifier: bob_leaf.group_name().classifier().clone(),
        subject_key: subject.public_key(),
        subject_classifier: subject.peer_name().classifier().clone(),
        role,
        classifiers: vec![peergroup_base::Classifier::new(DEFAULT_CLASSIFIER).unwrap()],
        not_before: t(T2),
        not_after: t(not_after),
        serial: serial(n),
        issuer: bob_leaf.id(),
    };
    let sign_bob = |m: &[u8]| bob_id.sign(m);
    let admin_by_inviter =
        draft(&dave_id, Role::Administrator, T2 + 30 * 86_400_000, 5).sign(sign_bob).unwrap();
    let outliving = draft(&dave_id, Role::Member, bob_leaf.not_after().as_millis() + 1, 6)
        .sign(sign_bob)
        .unwrap();
    let circular = draft(&alice_id, Role::Member, T2 + 30 * 86_400_000, 7).sign(sign_bob).unwrap();
    let root = group.root().clone();
    let certs = vec![
        ("cert-grc", root, GROUP_SEED, "group"),
        ("cert-creator", alice.chain.leaf().clone(), GROUP_SEED, "alice"),
        ("cert-inviter", bob.chain.leaf().clone(), ALICE_SEED, "bob"),
        ("cert-member", carol.chain.leaf().clone(), BOB_SEED, "carol"),
        ("cert-admin-by-inviter", admin_by_inviter, BOB_SEED, "dave"),
        ("cert-outliving", outliving, BOB_SEED, "dave"),
        ("cert-circular", circular, BOB_SEED, "alice"),
    ];
    let invitation = Invitation {
        cloud: "global".into(),
        friendly_name: "Book club".into(),
        chain: carol.chain.clone(),
    };
    let hello = Hello::of(&carol, &EXPORTER);
    let stand = [
        sha(b"peergroup spec: a record bob wrote"),
        sha(b"peergroup spec: another record bob wrote"),
    ];
    let rev_admin = Revocation {
        target: bob.chain.leaf().id(),
        target_not_after: bob.chain.leaf().not_after(),
        reason: RevocationReason::Misbehaviour,
        revoker: Some(alice.chain.chain().clone()),
        stand: stand.to_vec(),
    };
    let rev_group = Revocation {
        target: bob.chain.leaf().id(),
        target_not_after: bob.chain.leaf().not_after(),
        reason: RevocationReason::KeyCompromise,
        revoker: None,
        stand: Vec::new(),
    };
    Fixture { group, alice, bob, carol, certs, invitation, hello, rev_admin, rev_group, stand }
}

fn sha(b: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, b);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn hx(b: &[u8]) -> String {
    hex::encode(b)
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
}

fn arr<const N: usize>(s: &str) -> [u8; N] {
    <[u8; N]>::try_from(unhex(s)).unwrap()
}

fn seed_of(who: &str) -> [u8; 32] {
    match who {
        "group" => GROUP_SEED,
        "alice" => ALICE_SEED,
        "bob" => BOB_SEED,
        "carol" => CAROL_SEED,
        "dave" => DAVE_SEED,
        other => panic!("no seed named {other}"),
    }
}

fn classifier_of(who: &str) -> &str {
    if who == "group" { GROUP_CLASSIFIER } else { who }
}

fn uuid(id: &RecordId) -> String {
    id.to_string()
}

/// The chains of the fixture, by vector name.
fn chains(f: &Fixture) -> Vec<(&'static str, Vec<&'static str>)> {
    let _ = f;
    vec![
        ("chain-creator", vec!["cert-grc", "cert-creator"]),
        ("chain-inviter", vec!["cert-grc", "cert-creator", "cert-inviter"]),
        ("chain-member", vec!["cert-grc", "cert-creator", "cert-inviter", "cert-member"]),
    ]
}

fn cert_by_name<'a>(f: &'a Fixture, name: &str) -> &'a Cert {
    &f.certs.iter().find(|(n, ..)| *n == name).unwrap_or_else(|| panic!("no cert {name}")).1
}

fn chain_of(f: &Fixture, names: &[&str]) -> Chain {
    Chain::from_certs(names.iter().map(|n| cert_by_name(f, n).clone()).collect())
}

fn role_code(r: Role) -> u8 {
    r.code()
}

fn classifiers_text(c: &Cert) -> String {
    if c.classifiers().is_empty() {
        "-".into()
    } else {
        c.classifiers().iter().map(|c| c.as_str().to_owned()).collect::<Vec<_>>().join(" | ")
    }
}

/// `Variant index` (or `Variant`) of a chain error, as the spec writes results.
fn error_text(e: &ChainError) -> String {
    let dbg = format!("{e:?}");
    let name = match e {
        ChainError::Decode(d) => {
            let d = format!("{d:?}");
            return d.split([' ', '(']).next().unwrap_or_default().to_owned();
        }
        _ => dbg.split([' ', '(']).next().unwrap_or_default().to_owned(),
    };
    let index = match e {
        ChainError::UnexpectedRoot { index }
        | ChainError::MixedGroups { index }
        | ChainError::BrokenLink { index }
        | ChainError::CircularChain { index }
        | ChainError::SignatureInvalid { index }
        | ChainError::InvalidValidity { index }
        | ChainError::OutlivesIssuer { index }
        | ChainError::StartsBeforeIssuer { index }
        | ChainError::RoleNotIssuable { index, .. }
        | ChainError::NotYetValid { index, .. }
        | ChainError::Expired { index, .. } => Some(*index),
        _ => None,
    };
    match index {
        Some(i) => format!("{name} {i}"),
        None => name,
    }
}

// ----------------------------------------------------------------------------- printing

fn block(lines: &[(&str, String)]) -> String {
    let mut s = String::from("```vector\n");
    for (k, v) in lines {
        s.push_str(&format!("{k}: {v}\n"));
    }
    s.push_str("```\n");
    s
}

fn membership_of(f: &Fixture) -> &Record {
    &f.group.membership_record
}

#[test]
#[ignore = "prints the vectors of group.md §10"]
fn print_vectors() {
    let f = fixture();
    let gk = GroupKey::from_seed(GROUP_SEED).unwrap().public_key();
    let name = f.group.name.clone();
    println!(
        "{}",
        block(&[
            ("kind", "group-key".into()),
            ("name", "group-key".into()),
            ("seed", hx(&GROUP_SEED)),
            ("public_key", hx(&gk)),
            ("classifier", GROUP_CLASSIFIER.into()),
            ("classifier_utf8", hx(GROUP_CLASSIFIER.as_bytes())),
            ("group_peer_name", name.to_string()),
            ("graph_id", f.group.graph.to_string()),
        ])
    );
    for who in ["alice", "bob", "carol", "dave"] {
        let id = identity(seed_of(who), who);
        println!(
            "{}",
            block(&[
                ("kind", "identity".into()),
                ("name", who.into()),
                ("seed", hx(&seed_of(who))),
                ("classifier", who.into()),
                ("public_key", hx(&id.public_key())),
                ("peer_name", id.peer_name().to_string()),
            ])
        );
    }
    for (n, c, signer, subject) in &f.certs {
        let issuer =
            f.certs.iter().find(|(_, x, ..)| x.id() == c.issuer()).map(|(n, ..)| *n).unwrap_or("-");
        let enc = c.encoded();
        println!(
            "{}",
            block(&[
                ("kind", "group-cert".into()),
                ("name", (*n).into()),
                ("cert_kind", if c.kind() == CertKind::Root { "0".into() } else { "1".into() }),
                ("group_key", hx(c.group_key())),
                ("group_classifier", c.group_name().classifier().as_str().into()),
                ("subject", (*subject).into()),
                ("subject_key", hx(c.subject_key())),
                ("subject_classifier", c.subject_name().classifier().as_str().into()),
                ("role", role_code(c.role()).to_string()),
                ("classifiers", classifiers_text(c)),
                ("not_before", c.not_before().as_millis().to_string()),
                ("not_after", c.not_after().as_millis().to_string()),
                ("serial", hx(c.serial())),
                ("issuer_cert", issuer.into()),
                ("issuer", hx(c.issuer().as_bytes())),
                (
                    "signer",
                    (if *signer == GROUP_SEED {
                        "group"
                    } else if *signer == ALICE_SEED {
                        "alice"
                    } else {
                        "bob"
                    })
                    .into()
                ),
                ("tbs", hx(&enc[..enc.len() - 64])),
                ("signature", hx(c.signature())),
                ("encoding", hx(enc)),
                ("cert_id", c.id().to_hex()),
            ])
        );
    }
    for (n, names) in chains(&f) {
        let ch = chain_of(&f, &names);
        println!(
            "{}",
            block(&[
                ("kind", "group-chain".into()),
                ("name", n.into()),
                ("certs", names.join(" ")),
                ("encoding", hx(&ch.encode())),
                ("verify_at", T2.to_string()),
                ("result", "ok".into()),
            ])
        );
    }
    // negatives
    let mut negatives: Vec<(&str, String, Vec<u8>, Option<u64>)> = Vec::new();
    for (n, names) in [
        ("chain-broken-link", vec!["cert-grc", "cert-creator", "cert-member"]),
        (
            "chain-role-not-issuable",
            vec!["cert-grc", "cert-creator", "cert-inviter", "cert-admin-by-inviter"],
        ),
        (
            "chain-outlives-issuer",
            vec!["cert-grc", "cert-creator", "cert-inviter", "cert-outliving"],
        ),
        ("chain-circular", vec!["cert-grc", "cert-creator", "cert-inviter", "cert-circular"]),
        ("chain-not-a-root", vec!["cert-creator", "cert-inviter"]),
    ] {
        negatives.push((n, names.join(" "), chain_of(&f, &names).encode(), None));
    }
    let member =
        chain_of(&f, &["cert-grc", "cert-creator", "cert-inviter", "cert-member"]).encode();
    let mut bad = member.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    negatives.push(("chain-bad-signature", "-".into(), bad, None));
    negatives.push((
        "chain-expired",
        "cert-grc cert-creator cert-inviter cert-member".into(),
        member.clone(),
        Some(cert_by_name(&f, "cert-member").not_after().as_millis()),
    ));
    negatives.push((
        "chain-not-yet-valid",
        "cert-grc cert-creator cert-inviter cert-member".into(),
        member.clone(),
        Some(T2 - 1),
    ));
    let mut too_long = vec![26u8];
    too_long.extend_from_slice(&member[1..]);
    negatives.push(("chain-26-certs", "-".into(), too_long, None));
    negatives.push(("chain-empty", "-".into(), vec![0], None));
    for (n, names, enc, at) in negatives {
        let result = match Chain::decode(&enc) {
            Err(e) => error_text(&ChainError::Decode(e)),
            Ok(c) => match c.verify(&mut CertCache::default(), at.map(t)) {
                Ok(_) => "ok".into(),
                Err(e) => error_text(&e),
            },
        };
        let mut lines =
            vec![("kind", "group-chain".to_owned()), ("name", n.to_owned()), ("certs", names)];
        lines.push(("encoding", hx(&enc)));
        if let Some(at) = at {
            lines.push(("verify_at", at.to_string()));
        }
        lines.push(("result", result));
        println!("{}", block(&lines));
    }
    // record ids
    let alice_auth = f.alice.identity.peer_name().authority().binary();
    let carol_auth = f.carol.identity.peer_name().authority().binary();
    let bob_cert = cert_by_name(&f, "cert-inviter").id();
    let alice_cert = cert_by_name(&f, "cert-creator").id();
    for (n, func, input, id) in [
        ("id-properties", "properties", hx(&gk), records::properties_id(&gk)),
        (
            "id-membership-alice",
            "membership",
            hx(&alice_auth),
            records::membership_id(f.alice.identity.peer_name().authority()),
        ),
        (
            "id-membership-carol",
            "membership",
            hx(&carol_auth),
            records::membership_id(f.carol.identity.peer_name().authority()),
        ),
        (
            "id-revocation-by-admin",
            "revocation",
            format!("{} {}", bob_cert.to_hex(), alice_cert.to_hex()),
            records::revocation_id(&bob_cert, alice_cert.as_bytes()),
        ),
        (
            "id-revocation-by-group-key",
            "revocation",
            format!("{} {}", bob_cert.to_hex(), hx(&gk)),
            records::revocation_id(&bob_cert, &gk),
        ),
    ] {
        println!(
            "{}",
            block(&[
                ("kind", "record-id".into()),
                ("name", n.into()),
                ("function", func.into()),
                ("input", input),
                ("id", uuid(&id))
            ])
        );
    }
    // properties
    let p = &f.group.properties;
    println!(
        "{}",
        block(&[
            ("kind", "group-properties".into()),
            ("name", "properties-1".into()),
            ("group_key", hx(&p.group_key)),
            ("classifier", p.classifier.as_str().into()),
            ("creator", p.creator.to_string()),
            ("cloud", p.cloud.clone()),
            ("member_data_lifetime", p.member_data_lifetime.as_secs().to_string()),
            ("presence_lifetime", p.presence_lifetime.as_secs().to_string()),
            ("friendly_name", p.friendly_name.clone()),
            ("comment", p.comment.clone()),
            ("payload", hx(&p.encode())),
        ])
    );
    // membership
    println!(
        "{}",
        block(&[
            ("kind", "membership".into()),
            ("name", "membership-creator".into()),
            ("chain", "chain-creator".into()),
            ("payload", hx(&encode_membership(f.alice.chain.chain()))),
        ])
    );
    println!(
        "{}",
        block(&[
            ("kind", "membership".into()),
            ("name", "membership-member".into()),
            ("chain", "chain-member".into()),
            ("payload", hx(&encode_membership(f.carol.chain.chain()))),
        ])
    );
    // security data
    let graph = f.group.graph.clone();
    for (n, r, signer, cert) in [
        ("sd-membership-creator", membership_of(&f), "alice", Some("cert-creator")),
        ("sd-properties", &f.group.properties_record, "group", None),
    ] {
        let sd = SecurityData::decode(r.security_data()).unwrap();
        let (k, sig) = match sd {
            SecurityData::Member { signature, .. } => ("1", signature),
            SecurityData::GroupKey { signature } => ("2", signature),
        };
        println!(
            "{}",
            block(&[
                ("kind", "security-data".into()),
                ("name", n.into()),
                ("graph", graph.to_string()),
                ("record", hx(r.encoded())),
                ("signed", hx(&r.signing_bytes(&graph))),
                ("signer", signer.into()),
                ("security_kind", k.into()),
                ("cert", cert.unwrap_or("-").into()),
                ("signature", hx(&sig)),
                ("security_data", hx(r.security_data())),
                ("record_digest", hx(r.digest().as_bytes())),
                ("result", "Accept".into()),
            ])
        );
    }
    // revocations
    for (n, rev, chain, id) in [
        (
            "revocation-by-admin",
            &f.rev_admin,
            "chain-creator",
            records::revocation_id(&bob_cert, alice_cert.as_bytes()),
        ),
        ("revocation-by-group-key", &f.rev_group, "-", records::revocation_id(&bob_cert, &gk)),
    ] {
        let stand = if rev.stand.is_empty() {
            "-".into()
        } else {
            rev.stand.iter().map(|d| hx(d)).collect::<Vec<_>>().join(" ")
        };
        println!(
            "{}",
            block(&[
                ("kind", "revocation".into()),
                ("name", n.into()),
                ("target", "cert-inviter".into()),
                ("target_id", rev.target.to_hex()),
                ("target_not_after", rev.target_not_after.as_millis().to_string()),
                (
                    "reason",
                    format!(
                        "{}",
                        match rev.reason {
                            RevocationReason::Misbehaviour => 4,
                            RevocationReason::KeyCompromise => 1,
                            _ => 0,
                        }
                    )
                ),
                ("revoker_chain", chain.into()),
                ("stand", stand),
                ("payload", hx(&rev.encode())),
                ("record_id", uuid(&id)),
            ])
        );
    }
    let _ = &f.stand;
    // invitation
    let inv = &f.invitation;
    println!(
        "{}",
        block(&[
            ("kind", "invitation".into()),
            ("name", "invitation-1".into()),
            ("cloud", inv.cloud.clone()),
            ("friendly_name", inv.friendly_name.clone()),
            ("chain", "chain-member".into()),
            ("group_peer_name", inv.group().to_string()),
            ("invitee", inv.invitee().to_string()),
            ("binary", hx(&inv.to_binary())),
        ])
    );
    println!("```text\n{}```\n", inv.to_text());
    // hello
    let h = &f.hello;
    let frame = FrameCodec::default().encode(&Message::Hello(h.encode())).unwrap();
    println!(
        "{}",
        block(&[
            ("kind", "hello".into()),
            ("name", "hello-member".into()),
            ("group_peer_name", h.group.to_string()),
            ("chain", "chain-member".into()),
            ("signer", "carol".into()),
            ("exporter", hx(&EXPORTER)),
            ("binding_message", hx(&admission::binding_message(&h.group, &EXPORTER))),
            ("binding", hx(&h.binding)),
            ("encoding", hx(&h.encode())),
            ("frame", hx(&frame)),
        ])
    );
    let r = Refusal::Revoked;
    let frame = FrameCodec::default().encode(&Message::Refused(r.code())).unwrap();
    println!(
        "{}",
        block(&[
            ("kind", "group-message".into()),
            ("name", "msg-refused-revoked".into()),
            ("message", format!("Refused {}", r.code())),
            ("frame", hx(&frame)),
        ])
    );
    let frame = FrameCodec::default().encode(&Message::Knock).unwrap();
    println!(
        "{}",
        block(&[
            ("kind", "group-message".into()),
            ("name", "msg-knock".into()),
            ("message", "Knock".into()),
            ("frame", hx(&frame)),
        ])
    );
}

// ----------------------------------------------------------------------------- checking

/// A store for the provider: a fixed list of records.
struct Records(Vec<Record>);

impl RecordLookup for Records {
    fn get(&self, id: &RecordId) -> Option<Record> {
        self.0.iter().find(|r| r.id() == *id).cloned()
    }
    fn enumerate(&self, _filter: &RecordFilter) -> Vec<Record> {
        self.0.clone()
    }
}

fn field<'a>(v: &'a Vector, key: &str) -> &'a str {
    let name = get(v, "name").unwrap_or("?");
    get(v, key).unwrap_or_else(|| panic!("vector {name} has no {key}"))
}

struct Ctx<'a> {
    by_name: HashMap<&'a str, &'a Vector>,
    fixture: Fixture,
}

impl Ctx<'_> {
    fn vector(&self, name: &str) -> &Vector {
        self.by_name.get(name).unwrap_or_else(|| panic!("no vector named {name}"))
    }
    fn cert(&self, name: &str) -> Cert {
        Cert::decode(&unhex(field(self.vector(name), "encoding"))).unwrap()
    }
    fn chain(&self, name: &str) -> Chain {
        let v = self.vector(name);
        Chain::from_certs(field(v, "certs").split_whitespace().map(|c| self.cert(c)).collect())
    }
}

fn check_group_key(cx: &Ctx<'_>, v: &Vector) {
    let key = GroupKey::from_seed(arr(field(v, "seed"))).unwrap();
    assert_eq!(hx(&key.public_key()), field(v, "public_key"));
    assert_eq!(hx(field(v, "classifier").as_bytes()), field(v, "classifier_utf8"));
    let name = PeerName::new(
        NodeId::from_ed25519(&key.public_key()).authority(),
        peergroup_base::Classifier::new(field(v, "classifier")).unwrap(),
    );
    assert_eq!(name.to_string(), field(v, "group_peer_name"));
    assert_eq!(name, cx.fixture.group.name);
    assert_eq!(graph_id(&name).unwrap().to_string(), field(v, "graph_id"));
}

fn check_identity(v: &Vector) {
    let id = identity(arr(field(v, "seed")), field(v, "classifier"));
    assert_eq!(hx(&id.public_key()), field(v, "public_key"));
    assert_eq!(id.peer_name().to_string(), field(v, "peer_name"));
}

fn check_cert(cx: &Ctx<'_>, v: &Vector) {
    let name = field(v, "name");
    let subject = field(v, "subject");
    let subject_key = if subject == "group" {
        GroupKey::from_seed(GROUP_SEED).unwrap().public_key()
    } else {
        identity(seed_of(subject), classifier_of(subject)).public_key()
    };
    assert_eq!(hx(&subject_key), field(v, "subject_key"), "{name}: subject key");
    let classifiers = match field(v, "classifiers") {
        "-" => Vec::new(),
        s => s.split(" | ").map(|c| peergroup_base::Classifier::new(c).unwrap()).collect(),
    };
    let issuer = match field(v, "issuer_cert") {
        "-" => CertId::ZERO,
        n => cx.cert(n).id(),
    };
    assert_eq!(hx(issuer.as_bytes()), field(v, "issuer"), "{name}: issuer");
    let draft = CertDraft {
        kind: if field(v, "cert_kind") == "0" { CertKind::Root } else { CertKind::Membership },
        group_key: arr(field(v, "group_key")),
        group_classifier: peergroup_base::Classifier::new(field(v, "group_classifier")).unwrap(),
        subject_key,
        subject_classifier: peergroup_base::Classifier::new(field(v, "subject_classifier"))
            .unwrap(),
        role: Role::from_code(field(v, "role").parse().unwrap()).unwrap(),
        classifiers,
        not_before: t(field(v, "not_before").parse().unwrap()),
        not_after: t(field(v, "not_after").parse().unwrap()),
        serial: arr(field(v, "serial")),
        issuer,
    };
    let signer = GroupKey::from_seed(seed_of(field(v, "signer"))).unwrap();
    let cert = draft.sign(|m| signer.sign(m)).unwrap();
    let enc = cert.encoded();
    assert_eq!(hx(&enc[..enc.len() - 64]), field(v, "tbs"), "{name}: tbs");
    assert_eq!(hx(cert.signature()), field(v, "signature"), "{name}: signature");
    assert_eq!(hx(enc), field(v, "encoding"), "{name}: encoding");
    assert_eq!(cert.id().to_hex(), field(v, "cert_id"), "{name}: id");
    let mut signed = b"peergroup group-cert v1\0".to_vec();
    signed.extend_from_slice(&enc[..enc.len() - 64]);
    assert_eq!(cert.signed_bytes(), signed, "{name}: signed bytes");
    let decoded = Cert::decode(&unhex(field(v, "encoding"))).unwrap();
    assert_eq!(decoded, cert, "{name}: decode");
    // The API produced the same certificate.
    assert_eq!(cert_by_name(&cx.fixture, name), &cert, "{name}: create_group / issue");
}

fn check_chain(cx: &Ctx<'_>, v: &Vector) {
    let name = field(v, "name");
    let enc = unhex(field(v, "encoding"));
    if let Some(certs) = get(v, "certs").filter(|c| *c != "-") {
        let chain = Chain::from_certs(certs.split_whitespace().map(|c| cx.cert(c)).collect());
        assert_eq!(hx(&chain.encode()), hx(&enc), "{name}: encoding from the certificates");
    }
    let at = get(v, "verify_at").map(|s| t(s.parse().unwrap()));
    let result = match Chain::decode(&enc) {
        Err(e) => error_text(&ChainError::Decode(e)),
        Ok(c) => {
            assert_eq!(c.encode(), enc, "{name}: re-encoding");
            match c.verify(&mut CertCache::default(), at) {
                Ok(verified) => {
                    if let Some((_, names)) =
                        chains(&cx.fixture).into_iter().find(|(n, _)| *n == name)
                    {
                        assert_eq!(
                            verified.chain(),
                            &chain_of(&cx.fixture, &names),
                            "{name}: fixture"
                        );
                    }
                    "ok".to_owned()
                }
                Err(e) => error_text(&e),
            }
        }
    };
    assert_eq!(result, field(v, "result"), "{name}: verification");
}

fn check_record_id(v: &Vector) {
    let name = field(v, "name");
    let input: Vec<Vec<u8>> = field(v, "input").split_whitespace().map(unhex).collect();
    let id = match field(v, "function") {
        "properties" => records::properties_id(&<[u8; 32]>::try_from(input[0].clone()).unwrap()),
        "membership" => {
            let a = peergroup_base::Authority::parse(&hx(&input[0])).unwrap();
            records::membership_id(&a)
        }
        "revocation" => records::revocation_id(
            &CertId(<[u8; 32]>::try_from(input[0].clone()).unwrap()),
            &<[u8; 32]>::try_from(input[1].clone()).unwrap(),
        ),
        other => panic!("{name}: unknown id function {other}"),
    };
    assert_eq!(uuid(&id), field(v, "id"), "{name}");
}

fn check_properties(cx: &Ctx<'_>, v: &Vector) {
    let p = GroupProperties {
        group_key: arr(field(v, "group_key")),
        classifier: peergroup_base::Classifier::new(field(v, "classifier")).unwrap(),
        creator: PeerName::parse(field(v, "creator")).unwrap(),
        cloud: field(v, "cloud").into(),
        member_data_lifetime: Duration::from_secs(
            field(v, "member_data_lifetime").parse().unwrap(),
        ),
        presence_lifetime: Duration::from_secs(field(v, "presence_lifetime").parse().unwrap()),
        friendly_name: field(v, "friendly_name").into(),
        comment: field(v, "comment").into(),
    };
    assert_eq!(hx(&p.encode()), field(v, "payload"));
    assert_eq!(GroupProperties::decode(&unhex(field(v, "payload"))).unwrap(), p);
    assert_eq!(cx.fixture.group.properties, p);
    assert_eq!(cx.fixture.group.properties_record.payload(), p.encode().as_slice());
}

fn check_membership(cx: &Ctx<'_>, v: &Vector) {
    let chain = cx.chain(field(v, "chain"));
    let payload = unhex(field(v, "payload"));
    assert_eq!(hx(&encode_membership(&chain)), hx(&payload));
    assert_eq!(decode_membership(&payload).unwrap(), chain);
    if field(v, "name") == "membership-creator" {
        assert_eq!(cx.fixture.group.membership_record.payload(), payload.as_slice());
    }
}

fn check_security_data(cx: &Ctx<'_>, v: &Vector) {
    let name = field(v, "name");
    let graph = GraphId::new(field(v, "graph")).unwrap();
    let record = Record::decode(&unhex(field(v, "record")), &RecordLimits::default()).unwrap();
    assert_eq!(hx(&record.signing_bytes(&graph)), field(v, "signed"), "{name}: signed");
    assert_eq!(hx(record.digest().as_bytes()), field(v, "record_digest"), "{name}: digest");
    let signer = GroupKey::from_seed(seed_of(field(v, "signer"))).unwrap();
    let signature = signer.sign(&unhex(field(v, "signed")));
    assert_eq!(hx(&signature), field(v, "signature"), "{name}: signature");
    let sd = match field(v, "security_kind") {
        "1" => SecurityData::Member { cert: cx.cert(field(v, "cert")).id(), signature },
        "2" => SecurityData::GroupKey { signature },
        other => panic!("{name}: kind {other}"),
    };
    assert_eq!(hx(&sd.encode()), field(v, "security_data"), "{name}: security data");
    assert_eq!(SecurityData::decode(&sd.encode()).unwrap(), sd);
    assert_eq!(hx(record.security_data()), field(v, "security_data"), "{name}: in the record");
    let expected = match name {
        "sd-membership-creator" => &cx.fixture.group.membership_record,
        "sd-properties" => &cx.fixture.group.properties_record,
        other => panic!("unknown security-data vector {other}"),
    };
    assert_eq!(expected.encoded(), record.encoded(), "{name}: create_group's record");
    // The provider of a fresh member accepts it.
    let mut security = GroupSecurity::new(cx.fixture.group.root(), None, None, Verifier::new());
    let store = Records(Vec::new());
    let pcx = ProviderContext { graph: &graph, now: t(T2), records: &store };
    let verdict = match security.validate(&pcx, &record) {
        Validation::Accept => "Accept".to_owned(),
        Validation::Defer => "Defer".to_owned(),
        Validation::Reject(e) => format!("Reject {e}"),
    };
    assert_eq!(verdict, field(v, "result"), "{name}: validation");
    // A flipped signature bit is refused.
    let mut bad = unhex(field(v, "security_data"));
    let last = bad.len() - 1;
    bad[last] ^= 1;
    let forged = record.with_security_data(&bad, &RecordLimits::default()).unwrap();
    assert!(matches!(security.validate(&pcx, &forged), Validation::Reject(_)), "{name}: forged");
}

fn check_revocation(cx: &Ctx<'_>, v: &Vector) {
    let name = field(v, "name");
    let stand: Vec<[u8; 32]> = match field(v, "stand") {
        "-" => Vec::new(),
        s => s.split_whitespace().map(arr::<32>).collect(),
    };
    let target = cx.cert(field(v, "target"));
    assert_eq!(target.id().to_hex(), field(v, "target_id"), "{name}: target");
    let reason = match field(v, "reason") {
        "0" => RevocationReason::Unspecified,
        "1" => RevocationReason::KeyCompromise,
        "2" => RevocationReason::Left,
        "3" => RevocationReason::Superseded,
        "4" => RevocationReason::Misbehaviour,
        other => panic!("{name}: reason {other}"),
    };
    let revoker = match field(v, "revoker_chain") {
        "-" => None,
        c => Some(cx.chain(c)),
    };
    let rev = Revocation {
        target: target.id(),
        target_not_after: t(field(v, "target_not_after").parse().unwrap()),
        reason,
        revoker: revoker.clone(),
        stand,
    };
    let payload = unhex(field(v, "payload"));
    assert_eq!(hx(&rev.encode()), hx(&payload), "{name}: payload");
    assert_eq!(Revocation::decode(&payload).unwrap(), rev, "{name}: decode");
    let revoker_id = match &revoker {
        Some(c) => *c.leaf().unwrap().id().as_bytes(),
        None => GroupKey::from_seed(GROUP_SEED).unwrap().public_key(),
    };
    assert_eq!(
        uuid(&records::revocation_id(&target.id(), &revoker_id)),
        field(v, "record_id"),
        "{name}: id"
    );
    let fixture = if revoker.is_some() { &cx.fixture.rev_admin } else { &cx.fixture.rev_group };
    assert_eq!(fixture, &rev);
    // A stand list out of order is refused.
    if rev.stand.len() >= 2 {
        let mut swapped = payload.clone();
        let n = swapped.len();
        let (a, b) = swapped[n - 64..].split_at_mut(32);
        a.swap_with_slice(b);
        assert!(matches!(
            Revocation::decode(&swapped),
            Err(DecodeError::StandListUnsorted { index: 1 })
        ));
    }
}

/// The armoured document that follows the vector named `name`.
fn document_after<'a>(name: &str, label: &str) -> &'a str {
    let at = SPEC.find(&format!("name: {name}\n")).unwrap();
    let rest = &SPEC[at..];
    let begin = rest.find(&format!("-----BEGIN {label}-----")).unwrap();
    let end_line = format!("-----END {label}-----\n");
    let end = rest[begin..].find(&end_line).unwrap() + begin + end_line.len();
    &rest[begin..end]
}

fn check_invitation(cx: &Ctx<'_>, v: &Vector) {
    let chain = cx.chain(field(v, "chain")).verify(&mut CertCache::default(), None).unwrap();
    let inv = Invitation {
        cloud: field(v, "cloud").into(),
        friendly_name: field(v, "friendly_name").into(),
        chain,
    };
    let binary = unhex(field(v, "binary"));
    assert_eq!(hx(&inv.to_binary()), hx(&binary));
    assert_eq!(Invitation::from_binary(&binary).unwrap(), inv);
    assert_eq!(inv.group().to_string(), field(v, "group_peer_name"));
    assert_eq!(inv.invitee().to_string(), field(v, "invitee"));
    assert_eq!(inv, cx.fixture.invitation);
    let text = document_after(field(v, "name"), "PEERGROUP GROUP INVITATION");
    assert_eq!(inv.to_text(), text, "armoured text");
    assert_eq!(Invitation::parse(text).unwrap(), inv);
    // The invitee accepts it at its not-before; anyone else does not.
    inv.check_for(&cx.fixture.carol.identity.public_key(), t(T2)).unwrap();
    assert!(inv.check_for(&cx.fixture.bob.identity.public_key(), t(T2)).is_err());
    // A header that disagrees with the body is refused.
    let forged = text.replace("Invitee: ", &format!("Invitee: {}", "0.x\nX-Old: "));
    assert!(Invitation::parse(&forged).is_err());
}

fn check_hello(cx: &Ctx<'_>, v: &Vector) {
    let group = PeerName::parse(field(v, "group_peer_name")).unwrap();
    let exporter: [u8; 32] = arr(field(v, "exporter"));
    let msg = admission::binding_message(&group, &exporter);
    assert_eq!(hx(&msg), field(v, "binding_message"));
    let signer = GroupKey::from_seed(seed_of(field(v, "signer"))).unwrap();
    let binding = signer.sign(&msg);
    assert_eq!(hx(&binding), field(v, "binding"));
    let hello = Hello { group, chain: cx.chain(field(v, "chain")), binding };
    let enc = unhex(field(v, "encoding"));
    assert_eq!(hx(&hello.encode()), hx(&enc));
    assert_eq!(Hello::decode(&enc).unwrap(), hello);
    assert_eq!(hello, cx.fixture.hello);
    let frame = FrameCodec::default().encode(&Message::Hello(enc.clone())).unwrap();
    assert_eq!(hx(&frame), field(v, "frame"));
    // Verification: accepted on this connection, refused on another or from another node.
    let carol = cx.fixture.carol.identity.node_id();
    let mut security = GroupSecurity::new(cx.fixture.group.root(), None, None, Verifier::new());
    hello.verify(&mut security, carol, &exporter, t(T2)).unwrap();
    let mut other = exporter;
    other[0] ^= 1;
    let e = hello.verify(&mut security, carol, &other, t(T2)).unwrap_err();
    assert_eq!(Refusal::of(&e), Refusal::BadBinding);
    let e = hello
        .verify(&mut security, cx.fixture.bob.identity.node_id(), &exporter, t(T2))
        .unwrap_err();
    assert_eq!(Refusal::of(&e), Refusal::NotThePeer);
    let late = cx.cert("cert-member").not_after();
    let e = hello.verify(&mut security, carol, &exporter, late).unwrap_err();
    assert_eq!(Refusal::of(&e), Refusal::Expired);
}

fn check_message(v: &Vector) {
    let text = field(v, "message");
    let m = match text.split_once(' ') {
        Some(("Refused", c)) => Message::Refused(c.parse().unwrap()),
        None if text == "Knock" => Message::Knock,
        other => panic!("unknown message {other:?}"),
    };
    let frame = FrameCodec::default().encode(&m).unwrap();
    assert_eq!(hx(&frame), field(v, "frame").replace(' ', ""));
}

fn check_password_invitation(v: &Vector) {
    let group = PeerName::parse(field(v, "group_peer_name")).unwrap();
    let inv = PasswordInvitation::new(group, field(v, "friendly_name"), field(v, "cloud")).unwrap();
    let binary = unhex(field(v, "binary"));
    assert_eq!(hx(&inv.to_binary()), hx(&binary));
    assert_eq!(PasswordInvitation::from_binary(&binary).unwrap(), inv);
    let text = document_after(field(v, "name"), "PEERGROUP GROUP PASSWORD INVITATION");
    assert_eq!(inv.to_text(), text, "armoured text");
    assert_eq!(PasswordInvitation::parse(text).unwrap(), inv);
}

fn check_password_context(v: &Vector) {
    let group = PeerName::parse(field(v, "group_peer_name")).unwrap();
    let joiner = identity(seed_of(field(v, "joiner")), field(v, "joiner_classifier"));
    assert_eq!(hx(&joiner.public_key()), field(v, "joiner_key"));
    let exporter: [u8; 32] = arr(field(v, "exporter"));
    let ctx =
        password::context(&group, &joiner.public_key(), joiner.peer_name().classifier(), &exporter);
    assert_eq!(hx(&ctx), field(v, "context"));
    let id = |domain: &[u8]| {
        let mut b = domain.to_vec();
        b.push(0);
        b.extend_from_slice(group.to_string().as_bytes());
        hx(&b)
    };
    assert_eq!(id(password::SERVER_ID_DOMAIN), field(v, "server_identifier"));
    assert_eq!(id(password::CLIENT_ID_DOMAIN), field(v, "client_identifier"));
    assert_eq!(hx(group.to_string().as_bytes()), field(v, "credential_identifier"));
}

fn check_password_message(cx: &Ctx<'_>, v: &Vector) {
    let m = match field(v, "message") {
        "JoinStart" => {
            let joiner = identity(seed_of(field(v, "joiner")), field(v, "joiner_classifier"));
            PasswordMessage::JoinStart {
                group: PeerName::parse(field(v, "group_peer_name")).unwrap(),
                joiner_key: joiner.public_key(),
                joiner_classifier: joiner.peer_name().classifier().clone(),
                ke1: arr(field(v, "ke1")),
            }
        }
        "JoinChallenge" => PasswordMessage::JoinChallenge {
            ksf: field(v, "ksf").parse().unwrap(),
            ke2: arr(field(v, "ke2")),
        },
        "JoinFinish" => PasswordMessage::JoinFinish { ke3: arr(field(v, "ke3")) },
        "JoinAbort" => PasswordMessage::JoinAbort,
        "JoinAccepted" => PasswordMessage::JoinAccepted { chain: cx.chain(field(v, "chain")) },
        "JoinRefused" => PasswordMessage::JoinRefused {
            refusal: JoinRefusal::from_code(field(v, "refusal").parse().unwrap()),
            retry_after: Duration::from_secs(field(v, "retry_after").parse().unwrap()),
        },
        other => panic!("unknown password message {other}"),
    };
    let enc = unhex(field(v, "encoding"));
    assert_eq!(hx(&m.encode()), hx(&enc), "{}", field(v, "name"));
    assert_eq!(PasswordMessage::decode(&enc).unwrap(), m);
    // Every strict prefix is truncated, never accepted.
    for n in 0..enc.len() {
        assert!(PasswordMessage::decode(&enc[..n]).is_err(), "{} prefix {n}", field(v, "name"));
    }
}

#[test]
fn group_vectors() {
    let vectors = spec_vectors::parse(SPEC);
    let mut by_name = HashMap::new();
    for v in &vectors {
        assert!(
            by_name.insert(field(v, "name"), v).is_none(),
            "duplicate vector {}",
            field(v, "name")
        );
    }
    let cx = Ctx { by_name, fixture: fixture() };
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for v in &vectors {
        let kind = field(v, "kind");
        match kind {
            "group-key" => check_group_key(&cx, v),
            "identity" => check_identity(v),
            "group-cert" => check_cert(&cx, v),
            "group-chain" => check_chain(&cx, v),
            "record-id" => check_record_id(v),
            "group-properties" => check_properties(&cx, v),
            "membership" => check_membership(&cx, v),
            "security-data" => check_security_data(&cx, v),
            "revocation" => check_revocation(&cx, v),
            "invitation" => check_invitation(&cx, v),
            "hello" => check_hello(&cx, v),
            "group-message" => check_message(v),
            "password-invitation" => check_password_invitation(v),
            "password-context" => check_password_context(v),
            "password-message" => check_password_message(&cx, v),
            // the stream ids belong to the network layer (feature `net`)
            #[cfg(feature = "net")]
            "protocol-ids" => check_protocol_ids(v),
            #[cfg(not(feature = "net"))]
            "protocol-ids" => {}
            other => panic!("vector {} has an unknown kind {other}", field(v, "name")),
        }
        *counts.entry(kind).or_default() += 1;
    }
    for kind in [
        "group-key",
        "identity",
        "group-cert",
        "group-chain",
        "record-id",
        "group-properties",
        "membership",
        "security-data",
        "revocation",
        "invitation",
        "hello",
        "group-message",
        "password-invitation",
        "protocol-ids",
        "password-context",
        "password-message",
    ] {
        assert!(counts.get(kind).is_some_and(|n| *n > 0), "no vector of kind {kind}");
    }
    // The chain limit of §3.2, as the spec writes it.
    let limit = MAX_CHAIN_BYTES.to_string();
    assert_eq!(format!("{},{}", &limit[..3], &limit[3..]), "102,451");
    assert!(SPEC.contains("**102,451 bytes**"), "§3.2 states the chain limit");
    // The password-join limits of §9 and §13, as the spec writes them.
    assert_eq!(password::MAX_PASSWORD_MESSAGE_BYTES, 102_457);
    assert!(SPEC.contains("| password-join message | 102,457 bytes | §13.3 |"));
    assert_eq!(password::MAX_PASSWORD_INVITATION_BYTES, 1_981);
    assert!(SPEC.contains("| password invitation body | 1,981 bytes"));
    assert_eq!(password::MAX_SETUP_FILE_BYTES, 4_096);
    assert_eq!(password::MAX_FAILURES, 10);
    assert_eq!(password::MAX_THROTTLE_ENTRIES, 1_024);
}

/// §14.1: a group's stream ids, and their preambles (`wire.md` §3).
#[cfg(feature = "net")]
fn check_protocol_ids(v: &Vector) {
    let group = PeerName::parse(field(v, "group_peer_name")).unwrap();
    let ids = [
        (peergroup_group::net::protocol_id(&group).unwrap(), "group"),
        (peergroup_group::net::join_protocol_id(&group).unwrap(), "join"),
    ];
    for (id, key) in ids {
        assert_eq!(id.as_str(), field(v, &format!("{key}_protocol")));
        let mut preamble = vec![id.as_str().len() as u8];
        preamble.extend_from_slice(id.as_str().as_bytes());
        assert_eq!(hex::encode(preamble), field(v, &format!("{key}_preamble")));
    }
}
