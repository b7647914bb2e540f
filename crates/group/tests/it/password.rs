//! Password groups (`group.md` §13): the joiner and verifier state machines run against
//! each other with no sockets; throttling, lock, channel binding, setup files and
//! decoders.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common;

use std::net::IpAddr;
use std::time::Duration;

use common::*;
use peergroup_base::{NodeId, UnixTime};
use peergroup_group::password::{
    CryptoRng, JoinRefusal, JoinerExchange, JoinerOutcome, MAX_FAILURES,
    MAX_PASSWORD_INVITATION_BYTES, MAX_PASSWORD_MESSAGE_BYTES, PasswordInvitation, PasswordMessage,
    PasswordOptions, PasswordSetup, PasswordVerifier, RngCore, VerifierExchange, VerifierOutcome,
};
use peergroup_group::{CertCache, DecodeError, GroupError, LocalMember, PasswordError, Role};
use peergroup_identity::Identity;

const PASSWORD: &str = "correct horse battery staple";
const EXPORTER: [u8; 32] = [0x5e; 32];

/// A seeded generator for tests: HMAC-SHA256(seed, counter) blocks (ring), so that every
/// run draws the same values.
struct TestRng {
    key: ring::hmac::Key,
    counter: u64,
}

impl TestRng {
    fn new(seed: u8) -> Self {
        TestRng { key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[seed; 32]), counter: 0 }
    }
}

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(32) {
            self.counter += 1;
            let block = ring::hmac::sign(&self.key, &self.counter.to_be_bytes());
            chunk.copy_from_slice(&block.as_ref()[..chunk.len()]);
        }
    }
    fn try_fill_bytes(
        &mut self,
        dest: &mut [u8],
    ) -> Result<(), peergroup_group::password::RngError> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for TestRng {}

fn addr(n: u8) -> IpAddr {
    IpAddr::from([192, 0, 2, n])
}

fn invitation(f: &Fixture) -> PasswordInvitation {
    PasswordInvitation::new(f.group.name.clone(), "Test group", "global").unwrap()
}

fn setup(issuer: &LocalMember, password: &str, rng: &mut TestRng) -> PasswordSetup {
    PasswordSetup::create(issuer, password, &PasswordOptions::default(), T0, rng).unwrap()
}

/// The result of one exchange, both sides.
struct Run {
    joiner: Result<peergroup_group::VerifiedChain, PasswordError>,
    verifier: Result<peergroup_group::Chain, PasswordError>,
}

/// Runs a whole exchange: `joiner_exporter` and `verifier_exporter` differ for a relayed
/// transcript.
#[allow(clippy::too_many_arguments)]
fn run(
    f: &Fixture,
    verifier: &mut PasswordVerifier,
    issuer: &LocalMember,
    joiner: &Identity,
    password: &str,
    from: IpAddr,
    now: UnixTime,
    exporters: ([u8; 32], [u8; 32]),
    rng: &mut TestRng,
) -> Run {
    let (mut j, start) =
        JoinerExchange::start(&invitation(f), joiner, password, &exporters.0, rng).unwrap();
    let mut v = VerifierExchange::new(joiner.node_id(), from, exporters.1);
    let mut to_verifier = start;
    loop {
        let out = v.handle(verifier, issuer, &to_verifier, now, rng);
        let to_joiner = match out {
            VerifierOutcome::Reply(b) => b,
            VerifierOutcome::Admitted { reply, chain, role, joiner: name, .. } => {
                assert_eq!(role, verifier.setup().role());
                assert_eq!(name, *joiner.peer_name());
                let JoinerOutcome::Joined(got) = j.handle(&reply, now, rng) else {
                    panic!("the joiner refused an accepted chain")
                };
                return Run { joiner: Ok(got), verifier: Ok(chain) };
            }
            VerifierOutcome::Failed { reply, error } => {
                let joiner_error = match reply.map(|r| j.handle(&r, now, rng)) {
                    Some(JoinerOutcome::Failed { error, .. }) => error,
                    other => panic!("joiner after a refusal: {other:?}"),
                };
                return Run { joiner: Err(joiner_error), verifier: Err(error) };
            }
            other => panic!("{other:?}"),
        };
        match j.handle(&to_joiner, now, rng) {
            JoinerOutcome::Reply(b) => to_verifier = b,
            JoinerOutcome::Failed { reply, error } => {
                let verifier_error = match reply {
                    Some(r) => match v.handle(verifier, issuer, &r, now, rng) {
                        VerifierOutcome::Failed { error, .. } => error,
                        other => panic!("verifier after an abort: {other:?}"),
                    },
                    None => v.abandon().unwrap(),
                };
                return Run { joiner: Err(error), verifier: Err(verifier_error) };
            }
            other => panic!("{other:?}"),
        }
    }
}

/// Sends a `JoinStart` and abandons the exchange after the challenge: a charged failure
/// that costs no key stretching.
fn abandoned(
    f: &Fixture,
    verifier: &mut PasswordVerifier,
    joiner: &Identity,
    from: IpAddr,
    now: UnixTime,
    rng: &mut TestRng,
) -> Result<(), PasswordError> {
    let (_, start) =
        JoinerExchange::start(&invitation(f), joiner, "guess", &EXPORTER, rng).unwrap();
    let mut v = VerifierExchange::new(joiner.node_id(), from, EXPORTER);
    match v.handle(verifier, &f.admin, &start, now, rng) {
        VerifierOutcome::Reply(_) => {
            assert_eq!(v.abandon(), Some(PasswordError::Abandoned));
            Ok(())
        }
        VerifierOutcome::Failed { error, .. } => Err(error),
        other => panic!("{other:?}"),
    }
}

#[test]
#[allow(clippy::disallowed_methods)] // measures the exchange's own wall time
fn the_right_password_yields_a_chain_for_the_joiner() {
    let f = Fixture::new();
    let mut rng = TestRng::new(1);
    let dave = ident("dave", 40);
    let t = std::time::Instant::now();
    let mut verifier = PasswordVerifier::new(setup(&f.admin, PASSWORD, &mut rng));
    let setup_time = t.elapsed();
    let t = std::time::Instant::now();
    let now = at(10);
    let r = run(
        &f,
        &mut verifier,
        &f.admin,
        &dave,
        PASSWORD,
        addr(1),
        now,
        (EXPORTER, EXPORTER),
        &mut rng,
    );
    println!("password setup {setup_time:?}, one join exchange (both sides) {:?}", t.elapsed());
    let chain = r.joiner.unwrap();
    assert_eq!(chain.chain(), &r.verifier.unwrap());
    let verified = chain.chain().verify(&mut CertCache::default(), Some(now)).unwrap();
    assert_eq!(verified.role(), Role::Member);
    assert_eq!(verified.leaf().subject_key(), &dave.public_key());
    assert_eq!(verified.leaf().subject_name(), *dave.peer_name());
    assert_eq!(verified.group_name(), f.group.name);
    assert!(verified.leaf().not_after() <= f.admin.chain.leaf().not_after());
    assert_eq!(verifier.setup().failures(), 0, "a success is refunded");
    // The new member is a member like an invited one.
    LocalMember::new(dave, chain.chain(), &mut CertCache::default()).unwrap();
}

#[test]
fn an_inviting_member_grants_its_roles_within_its_own_validity() {
    let f = Fixture::new();
    let mut rng = TestRng::new(2);
    let admin_role = PasswordOptions { role: Role::Administrator, ..PasswordOptions::default() };
    let e = PasswordSetup::create(&f.inviter, PASSWORD, &admin_role, T0, &mut rng).unwrap_err();
    assert_eq!(
        e,
        PasswordError::Group(GroupError::RoleNotIssuable {
            issuer: Role::InvitingMember,
            role: Role::Administrator
        })
    );
    let e = PasswordSetup::create(&f.alice, PASSWORD, &PasswordOptions::default(), T0, &mut rng)
        .unwrap_err();
    assert!(matches!(e, PasswordError::Group(GroupError::RoleRequired { held: Role::Member, .. })));
    let e = PasswordSetup::create(&f.inviter, "", &PasswordOptions::default(), T0, &mut rng)
        .unwrap_err();
    assert_eq!(e, PasswordError::InvalidPassword);
    // An inviting member's setup issues members, cut to its own not-after (200 days < 365).
    let mut verifier = PasswordVerifier::new(setup(&f.inviter, PASSWORD, &mut rng));
    let erin = ident("erin", 41);
    let r = run(
        &f,
        &mut verifier,
        &f.inviter,
        &erin,
        PASSWORD,
        addr(1),
        at(5),
        (EXPORTER, EXPORTER),
        &mut rng,
    );
    let chain = r.joiner.unwrap();
    assert_eq!(chain.role(), Role::Member);
    assert_eq!(chain.leaf().not_after(), f.inviter.chain.leaf().not_after());
}

#[test]
fn a_wrong_password_is_refused_and_counted() {
    let f = Fixture::new();
    let mut rng = TestRng::new(3);
    let mut verifier = PasswordVerifier::new(setup(&f.admin, PASSWORD, &mut rng));
    let dave = ident("dave", 40);
    let r = run(
        &f,
        &mut verifier,
        &f.admin,
        &dave,
        "Correct horse battery staple",
        addr(1),
        at(1),
        (EXPORTER, EXPORTER),
        &mut rng,
    );
    assert_eq!(r.joiner.unwrap_err(), PasswordError::BadPassword);
    assert_eq!(r.verifier.unwrap_err(), PasswordError::BadPassword);
    assert_eq!(verifier.setup().failures(), 1);
}

#[test]
fn the_tenth_failure_locks_until_a_new_password_is_set() {
    let f = Fixture::new();
    let mut rng = TestRng::new(4);
    let mut verifier = PasswordVerifier::new(setup(&f.admin, PASSWORD, &mut rng));
    for i in 0..MAX_FAILURES {
        let who = ident("guesser", 50 + i as u8);
        abandoned(&f, &mut verifier, &who, addr(10 + i as u8), at(1), &mut rng).unwrap();
        assert_eq!(verifier.setup().failures(), i + 1);
        assert_eq!(verifier.is_locked(), i + 1 == MAX_FAILURES);
    }
    // Even the right password, from a fresh identity and address, a day later.
    let dave = ident("dave", 40);
    let r = run(
        &f,
        &mut verifier,
        &f.admin,
        &dave,
        PASSWORD,
        addr(99),
        at(86_400),
        (EXPORTER, EXPORTER),
        &mut rng,
    );
    assert_eq!(r.verifier.unwrap_err(), PasswordError::Locked { failures: MAX_FAILURES });
    assert!(r.joiner.unwrap_err().is_locked());
    // The lock survives a restart (the counter is in the setup file).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("password");
    verifier.setup().save(&path).unwrap();
    let mut verifier = PasswordVerifier::new(PasswordSetup::load(&path).unwrap());
    assert!(verifier.is_locked());
    // A new password unlocks.
    verifier.set_setup(setup(&f.admin, "a new password", &mut rng));
    let r = run(
        &f,
        &mut verifier,
        &f.admin,
        &dave,
        PASSWORD,
        addr(99),
        at(86_401),
        (EXPORTER, EXPORTER),
        &mut rng,
    );
    assert_eq!(r.joiner.unwrap_err(), PasswordError::BadPassword, "the old password is gone");
    let r = run(
        &f,
        &mut verifier,
        &f.admin,
        &dave,
        "a new password",
        addr(99),
        at(90_000),
        (EXPORTER, EXPORTER),
        &mut rng,
    );
    r.joiner.unwrap();
}

#[test]
fn backoff_applies_per_identity_and_per_address() {
    let f = Fixture::new();
    let mut rng = TestRng::new(5);
    let mut verifier = PasswordVerifier::new(setup(&f.admin, PASSWORD, &mut rng));
    let dave = ident("dave", 40);
    let erin = ident("erin", 41);
    let frank = ident("frank", 42);
    abandoned(&f, &mut verifier, &dave, addr(1), at(0), &mut rng).unwrap();
    // The same identity from another address: held off for 1 s.
    let e = abandoned(&f, &mut verifier, &dave, addr(2), at(0), &mut rng).unwrap_err();
    assert_eq!(e, PasswordError::Backoff { retry_after: Duration::from_secs(1) });
    // Another identity from the same address: held off too.
    let e = abandoned(&f, &mut verifier, &erin, addr(1), at(0), &mut rng).unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
    // Another identity from another address: free.
    abandoned(&f, &mut verifier, &erin, addr(2), at(0), &mut rng).unwrap();
    // After the wait, dave may try again; its second charge doubles the wait.
    abandoned(&f, &mut verifier, &dave, addr(3), at(1), &mut rng).unwrap();
    let e = abandoned(&f, &mut verifier, &dave, addr(4), at(2), &mut rng).unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
    abandoned(&f, &mut verifier, &dave, addr(4), at(3), &mut rng).unwrap();
    // Refused attempts are not charged: only the four that got a challenge count.
    assert_eq!(verifier.setup().failures(), 4);
    assert_eq!(verifier.table_sizes(), (2, 4));
    // A refusal carries the wait on the wire.
    let (mut j, start) =
        JoinerExchange::start(&invitation(&f), &frank, PASSWORD, &EXPORTER, &mut rng).unwrap();
    let mut v = VerifierExchange::new(frank.node_id(), addr(4), EXPORTER);
    let VerifierOutcome::Failed { reply: Some(reply), error } =
        v.handle(&mut verifier, &f.admin, &start, at(3), &mut rng)
    else {
        panic!("not held off")
    };
    assert_eq!(error.retry_after(), Some(Duration::from_secs(1)), "address 4 was charged at 3 s");
    assert_eq!(
        PasswordMessage::decode(&reply).unwrap(),
        PasswordMessage::JoinRefused {
            refusal: JoinRefusal::Backoff,
            retry_after: Duration::from_secs(1)
        }
    );
    let JoinerOutcome::Failed { error, .. } = j.handle(&reply, at(3), &mut rng) else { panic!() };
    assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));
    // Dave's third charge (at 3 s) holds him off for 4 s; 500 ms later, 3.5 s rounds up to 4.
    let late = at(3).saturating_add(Duration::from_millis(500));
    let e = abandoned(&f, &mut verifier, &dave, addr(5), late, &mut rng).unwrap_err();
    assert_eq!(e.retry_after(), Some(Duration::from_secs(4)));
}

#[test]
fn a_transcript_relayed_to_another_connection_or_identity_fails() {
    let f = Fixture::new();
    let mut rng = TestRng::new(6);
    let mut verifier = PasswordVerifier::new(setup(&f.admin, PASSWORD, &mut rng));
    let dave = ident("dave", 40);
    // The joiner's connection and the verifier's are not the same TLS session.
    let mut other = EXPORTER;
    other[31] ^= 1;
    let r = run(
        &f,
        &mut verifier,
        &f.admin,
        &dave,
        PASSWORD,
        addr(1),
        at(0),
        (EXPORTER, other),
        &mut rng,
    );
    assert_eq!(r.joiner.unwrap_err(), PasswordError::BadPassword);
    assert_eq!(r.verifier.unwrap_err(), PasswordError::BadPassword);
    // A JoinStart for dave arriving on mallory's connection.
    let mallory = ident("mallory", 66);
    let (mut j, start) =
        JoinerExchange::start(&invitation(&f), &dave, PASSWORD, &EXPORTER, &mut rng).unwrap();
    let mut v = VerifierExchange::new(mallory.node_id(), addr(7), EXPORTER);
    let out = v.handle(&mut verifier, &f.admin, &start, at(10), &mut rng);
    assert!(matches!(out, VerifierOutcome::Failed { error: PasswordError::NotThePeer, .. }));
    // Mallory puts its own identity in dave's JoinStart and relays the challenge to dave:
    // the identity is in the OPAQUE context, so dave's key confirmation fails.
    let PasswordMessage::JoinStart { group, ke1, .. } = PasswordMessage::decode(&start).unwrap()
    else {
        panic!()
    };
    let forged = PasswordMessage::JoinStart {
        group,
        joiner_key: mallory.public_key(),
        joiner_classifier: mallory.peer_name().classifier().clone(),
        ke1,
    };
    let mut v = VerifierExchange::new(mallory.node_id(), addr(8), EXPORTER);
    let VerifierOutcome::Reply(challenge) =
        v.handle(&mut verifier, &f.admin, &forged.encode(), at(20), &mut rng)
    else {
        panic!("the forged start is well formed")
    };
    let out = j.handle(&challenge, at(20), &mut rng);
    assert!(matches!(out, JoinerOutcome::Failed { error: PasswordError::BadPassword, .. }));
    assert_eq!(v.abandon(), Some(PasswordError::Abandoned));
}

#[test]
fn wrong_group_and_out_of_order_messages_are_refused() {
    let f = Fixture::new();
    let mut rng = TestRng::new(7);
    let mut verifier = PasswordVerifier::new(setup(&f.admin, PASSWORD, &mut rng));
    let dave = ident("dave", 40);
    let elsewhere = PasswordInvitation::new(
        peergroup_base::PeerName::parse(&format!("{}.elsewhere", f.group.name.authority()))
            .unwrap(),
        "",
        "global",
    )
    .unwrap();
    let (mut j, start) =
        JoinerExchange::start(&elsewhere, &dave, PASSWORD, &EXPORTER, &mut rng).unwrap();
    let mut v = VerifierExchange::new(dave.node_id(), addr(1), EXPORTER);
    let VerifierOutcome::Failed { reply: Some(r), error } =
        v.handle(&mut verifier, &f.admin, &start, at(0), &mut rng)
    else {
        panic!()
    };
    assert!(matches!(error, PasswordError::WrongGroup { .. }));
    assert!(matches!(
        PasswordMessage::decode(&r).unwrap(),
        PasswordMessage::JoinRefused { refusal: JoinRefusal::WrongGroup, .. }
    ));
    let JoinerOutcome::Failed { error, .. } = j.handle(&r, at(0), &mut rng) else { panic!() };
    assert_eq!(error, PasswordError::NotAVerifier);
    let mut v = VerifierExchange::new(dave.node_id(), addr(1), EXPORTER);
    let out =
        v.handle(&mut verifier, &f.admin, &PasswordMessage::JoinAbort.encode(), at(0), &mut rng);
    assert!(matches!(out, VerifierOutcome::Failed { error: PasswordError::Protocol(_), .. }));
    let out = v.handle(&mut verifier, &f.admin, b"\x01\x09", at(0), &mut rng);
    assert!(matches!(out, VerifierOutcome::Failed { error: PasswordError::Decode(_), .. }));
    assert_eq!(verifier.setup().failures(), 0, "nothing was charged");
    // A member cannot verify: its role issues nothing.
    let mut v = VerifierExchange::new(dave.node_id(), addr(1), EXPORTER);
    let (_, start) =
        JoinerExchange::start(&invitation(&f), &dave, PASSWORD, &EXPORTER, &mut rng).unwrap();
    let out = v.handle(&mut verifier, &f.alice, &start, at(0), &mut rng);
    assert!(matches!(out, VerifierOutcome::Failed { error: PasswordError::Unavailable, .. }));
    // A node id is the joiner's only when derived from its key.
    assert_ne!(NodeId::from_ed25519(&dave.public_key()), f.admin.identity.node_id());
}

#[test]
fn the_setup_file_round_trips_owner_only() {
    let f = Fixture::new();
    let mut rng = TestRng::new(8);
    let s = setup(&f.admin, PASSWORD, &mut rng);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub").join("password-setup");
    s.save(&path).unwrap();
    assert_eq!(PasswordSetup::load(&path).unwrap(), s);
    assert_eq!(PasswordSetup::from_bytes(&s.to_bytes()).unwrap(), s);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let debug = format!("{s:?}");
    assert!(!debug.contains(&hex::encode(&s.to_bytes()[100..140])), "no secret in Debug");
    // Damage is refused with a named error.
    let bytes = s.to_bytes();
    let e = PasswordSetup::from_bytes(&bytes[..bytes.len() - 1]).unwrap_err();
    assert_eq!(e, PasswordError::Decode(DecodeError::Truncated { field: "record" }));
    let mut extra = bytes.to_vec();
    extra.push(0);
    let e = PasswordSetup::from_bytes(&extra).unwrap_err();
    assert_eq!(e, PasswordError::Decode(DecodeError::TrailingBytes { extra: 1 }));
    let e = PasswordSetup::from_bytes(&vec![1; 5000]).unwrap_err();
    assert!(matches!(e, PasswordError::Decode(DecodeError::TooLarge { .. })));
    std::fs::write(&path, "peergroup group key v1\n00\n").unwrap();
    assert!(matches!(PasswordSetup::load(&path), Err(PasswordError::Io { .. })));
}

#[test]
fn decoders_refuse_oversize_and_garbage() {
    let f = Fixture::new();
    let big = vec![1u8; MAX_PASSWORD_MESSAGE_BYTES + 1];
    assert!(matches!(PasswordMessage::decode(&big), Err(DecodeError::TooLarge { .. })));
    assert!(matches!(
        PasswordMessage::decode(&[]),
        Err(DecodeError::Truncated { field: "version" })
    ));
    assert!(matches!(
        PasswordMessage::decode(&[2, 1]),
        Err(DecodeError::UnsupportedVersion { got: 2, .. })
    ));
    assert!(matches!(
        PasswordMessage::decode(&[1, 0]),
        Err(DecodeError::InvalidField { field: "type", .. })
    ));
    assert!(matches!(
        PasswordMessage::decode(&[1, 3, 0]),
        Err(DecodeError::Truncated { field: "ke3" })
    ));
    assert!(matches!(
        PasswordMessage::decode(&[1, 4, 0]),
        Err(DecodeError::TrailingBytes { extra: 1 })
    ));
    assert!(matches!(
        PasswordMessage::decode(&[1, 6, 9, 0, 0, 0, 0]),
        Err(DecodeError::InvalidField { field: "refusal", .. })
    ));
    assert!(matches!(
        PasswordMessage::decode(&[1, 5, 0xff, 0xff, 0xff, 0xff]),
        Err(DecodeError::FieldTooLong { field: "chain", .. })
    ));
    // A classifier that is not NFC inside a JoinStart.
    let mut m = vec![1u8, 1];
    let g = f.group.name.to_string();
    m.extend_from_slice(&(g.len() as u16).to_be_bytes());
    m.extend_from_slice(g.as_bytes());
    m.extend_from_slice(&[7; 32]);
    m.extend_from_slice(&3u16.to_be_bytes());
    m.extend_from_slice("e\u{301}".as_bytes());
    m.extend_from_slice(&[0; 96]);
    assert!(matches!(
        PasswordMessage::decode(&m),
        Err(DecodeError::NotNfc { field: "joiner classifier" })
    ));
    // Invitations.
    let inv = invitation(&f);
    assert_eq!(PasswordInvitation::from_binary(&inv.to_binary()).unwrap(), inv);
    assert_eq!(PasswordInvitation::parse(&inv.to_text()).unwrap(), inv);
    let big = vec![1u8; MAX_PASSWORD_INVITATION_BYTES + 1];
    assert!(matches!(PasswordInvitation::from_binary(&big), Err(DecodeError::TooLarge { .. })));
    let mut empty_cloud = inv.clone();
    empty_cloud.cloud.clear();
    assert!(matches!(
        PasswordInvitation::from_binary(&empty_cloud.to_binary()),
        Err(DecodeError::InvalidField { field: "cloud", .. })
    ));
    assert!(matches!(
        PasswordInvitation::parse("not an invitation"),
        Err(DecodeError::NotArmoured { .. })
    ));
    let huge = format!("{}\n{}", inv.to_text(), "x".repeat(20_000));
    assert!(matches!(PasswordInvitation::parse(&huge), Err(DecodeError::NotArmoured { .. })));
    let forged = inv.to_text().replace(&g, &format!("{}.other", f.group.name.authority()));
    assert!(matches!(
        PasswordInvitation::parse(&forged),
        Err(DecodeError::InvalidField { field: "Group-Peer-Name", .. })
    ));
    // An identity invitation is not a password invitation.
    assert!(PasswordInvitation::parse(&inv.to_text().replace("PASSWORD ", "")).is_err());
    assert!(PasswordInvitation::new(f.group.name.clone(), "bad\nname", "global").is_err());
}
