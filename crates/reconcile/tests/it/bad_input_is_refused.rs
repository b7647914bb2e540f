//! Bad input: garbage, corrupted real messages, oversize messages and every count limit.
//! Each gives an error naming the failed check — never a panic — and corruption never
//! yields a wrong difference.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use peergroup_reconcile::message::{Fingerprint, Hello, Key, Message, Opening, Reply, Symbol};
use peergroup_reconcile::{Config, Digest, DigestSet, Error, Outcome, Session};
use proptest::prelude::*;

fn digest(i: u64) -> Digest {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    b[8..16].copy_from_slice(&i.to_be_bytes());
    b[31] = 0x5a;
    Digest::new(b)
}

fn set(range: std::ops::Range<u64>) -> DigestSet {
    range.map(digest).collect()
}

fn enc(m: &Message) -> Vec<u8> {
    m.encode()
}

/// An initiator over `n` items and its decoded `Hello`.
fn initiator(n: u64) -> (Session, Hello) {
    let mut s = Session::initiator(Config::default(), set(0..n), [3; 16]).unwrap();
    let bytes = s.poll_transmit().unwrap();
    let Message::Hello(h) = Message::decode(&bytes, 1024).unwrap() else { panic!("not a Hello") };
    (s, h)
}

fn responder(n: u64) -> Session {
    Session::responder(Config::default(), set(0..n)).unwrap()
}

fn reply(items: u64) -> Message {
    Message::Reply(Reply { max_message_bytes: 61_440, items, fingerprint: Fingerprint([0; 8]) })
}

fn symbol() -> Symbol {
    Symbol { sum: [1; 8], checksum: [2; 8], count: 3 }
}

/// An initiator that sent its Hello, got a Reply for a 1,000-item peer and `next`.
fn initiator_after(next: &Message) -> (Session, Result<(), Error>) {
    let (mut s, _) = initiator(500);
    s.handle(&enc(&reply(1000))).unwrap();
    let r = s.handle(&enc(next));
    (s, r)
}

#[test]
fn oversize_trailing_and_garbage() {
    let mut r = responder(10);
    let big = vec![0u8; Config::default().max_message_bytes + 1];
    assert!(matches!(r.handle(&big), Err(Error::MessageTooLarge { .. })));
    assert!(r.is_failed());
    assert_eq!(r.handle(&[0]), Err(Error::SessionFailed));

    let (_, h) = initiator(500);
    let mut bytes = enc(&Message::Hello(h));
    bytes.push(0);
    assert_eq!(responder(10).handle(&bytes), Err(Error::TrailingBytes(1)));
    assert!(matches!(responder(10).handle(&[0xff, 0xff]), Err(Error::Malformed(_))));
    assert!(matches!(responder(10).handle(&[]), Err(Error::Malformed(_))));
}

#[test]
fn hello_checks() {
    let (_, h) = initiator(500);
    let with = |f: &dyn Fn(&mut Hello)| {
        let mut h = h.clone();
        f(&mut h);
        responder(500).handle(&enc(&Message::Hello(h)))
    };
    assert_eq!(with(&|_| {}), Ok(()));
    assert_eq!(with(&|h| h.version = 2), Err(Error::UnsupportedVersion(2)));
    assert!(matches!(with(&|h| h.items = 1 << 40), Err(Error::SetTooLarge { .. })));
    assert!(matches!(with(&|h| h.max_message_bytes = 1023), Err(Error::CountOutOfRange { .. })));
    assert_eq!(with(&|h| h.attempt = 4), Err(Error::TooManyAttempts(4)));
    assert!(matches!(
        with(&|h| {
            if let Opening::Sketch { sketch, .. } = &mut h.opening {
                sketch.truncate(100);
            }
        }),
        Err(Error::BadSketch { len: 100, expected: 512 })
    ));
    let keys = |list: Vec<u64>, items: u64| {
        let mut h = h.clone();
        h.items = items;
        h.opening = Opening::Keys(list.into_iter().map(Key::from).collect());
        responder(10).handle(&enc(&Message::Hello(h)))
    };
    assert_eq!(keys(vec![1, 2, 3], 3), Ok(()));
    assert_eq!(keys(vec![3, 2], 2), Err(Error::KeysNotSorted));
    assert_eq!(keys(vec![2, 2], 2), Err(Error::KeysNotSorted));
    assert!(matches!(keys(vec![1, 2], 5), Err(Error::CountOutOfRange { .. })));
}

#[test]
fn attempts_must_increase() {
    let (_, h) = initiator(500);
    // A responder whose set differs a lot, so that it answers with symbols and waits.
    let mut r = Session::responder(Config::default(), set(200..700)).unwrap();
    let mut h1 = h.clone();
    h1.attempt = 1;
    r.handle(&enc(&Message::Hello(h1.clone()))).unwrap();
    // The responder answered with symbols and waits; a Hello restarts only if newer.
    assert_eq!(r.handle(&enc(&Message::Hello(h1))), Err(Error::BadAttempt { current: 1, got: 1 }));
}

#[test]
fn unexpected_messages() {
    let mut r = responder(10);
    assert_eq!(
        r.handle(&enc(&Message::RequestKeys)),
        Err(Error::UnexpectedMessage { expected: "Hello", got: "RequestKeys" })
    );
    let (mut i, h) = initiator(500);
    assert!(matches!(
        i.handle(&enc(&Message::Hello(h))),
        Err(Error::UnexpectedMessage { got: "Hello", .. })
    ));
    // A responder never receives SymbolsFollow.
    let (_, h) = initiator(500);
    let mut r = Session::responder(Config::default(), set(200..700)).unwrap();
    r.handle(&enc(&Message::Hello(h))).unwrap();
    assert!(matches!(
        r.handle(&enc(&Message::SymbolsFollow { count: 1 })),
        Err(Error::UnexpectedMessage { got: "SymbolsFollow", .. })
    ));
}

#[test]
fn reply_checks() {
    let (mut i, _) = initiator(500);
    assert!(matches!(i.handle(&enc(&reply(1 << 40))), Err(Error::SetTooLarge { .. })));
}

#[test]
fn symbol_checks() {
    let (_, r) = initiator_after(&Message::SymbolsFollow { count: 0 });
    assert!(matches!(r, Err(Error::CountOutOfRange { .. })));
    let (_, r) = initiator_after(&Message::SymbolsFollow { count: 1 << 23 });
    assert!(matches!(r, Err(Error::TooManySymbols { .. })));

    let (mut s, r) = initiator_after(&Message::SymbolsFollow { count: 3 });
    r.unwrap();
    assert_eq!(
        s.handle(&enc(&Message::Symbols { first: 1, symbols: vec![symbol()] })),
        Err(Error::SymbolOutOfOrder { expected: 0, got: 1 })
    );
    let (mut s, _) = initiator_after(&Message::SymbolsFollow { count: 3 });
    let e = s.handle(&enc(&Message::Symbols { first: 0, symbols: vec![symbol(); 4] }));
    assert!(matches!(e, Err(Error::CountOutOfRange { count: 4, max: 3, .. })));
    assert!(e.unwrap_err().is_limit_exceeded());
    let (mut s, _) = initiator_after(&Message::SymbolsFollow { count: 3 });
    let e = s.handle(&enc(&Message::Symbols { first: 0, symbols: vec![] }));
    assert!(matches!(e, Err(Error::CountOutOfRange { count: 0, .. })));
    let (mut s, _) = initiator_after(&Message::SymbolsFollow { count: 3 });
    assert!(matches!(
        s.handle(&enc(&Message::Keys(vec![Key([0; 8])]))),
        Err(Error::UnexpectedMessage { expected: "Symbols", got: "Keys" })
    ));
}

#[test]
fn key_list_checks() {
    let (_, r) = initiator_after(&Message::KeysFollow { count: 999 });
    assert!(matches!(r, Err(Error::CountOutOfRange { .. })));
    let (mut s, r) = initiator_after(&Message::KeysFollow { count: 1000 });
    r.unwrap();
    s.handle(&enc(&Message::Keys(vec![Key::from(5), Key::from(9)]))).unwrap();
    // Order is checked across messages too.
    assert_eq!(s.handle(&enc(&Message::Keys(vec![Key::from(9)]))), Err(Error::KeysNotSorted));
}

#[test]
fn decoded_checks() {
    let (_, r) = initiator_after(&Message::Decoded { yours: 501, mine: 0 });
    assert!(matches!(r, Err(Error::CountOutOfRange { what: "Decoded.yours", .. })));
    let (_, r) = initiator_after(&Message::Decoded { yours: 0, mine: 1001 });
    assert!(matches!(r, Err(Error::CountOutOfRange { what: "Decoded.mine", .. })));
    let (mut s, r) = initiator_after(&Message::Decoded { yours: 0, mine: 2 });
    r.unwrap();
    assert_eq!(
        s.handle(&enc(&Message::Digests(vec![digest(900), digest(900)]))),
        Err(Error::DigestsNotSorted)
    );
    // Keys are announced first, so digests cannot come before them.
    let (mut s, _) = initiator_after(&Message::Decoded { yours: 1, mine: 1 });
    assert!(matches!(
        s.handle(&enc(&Message::Digests(vec![digest(900)]))),
        Err(Error::UnexpectedMessage { expected: "Keys", got: "Digests" })
    ));
}

/// A `Decoded` with nothing to confirm that fails the confirmer's checks ends the session
/// (§8.3): the decoder has finished, so a restart could only reach a finished session.
#[test]
fn an_inconsistent_decoded_with_nothing_to_confirm_fails() {
    // A digest the initiator does not hold, whose term breaks the fingerprint equation.
    let (mut s, r) = initiator_after(&Message::Decoded { yours: 0, mine: 1 });
    r.unwrap();
    let e = s.handle(&enc(&Message::Digests(vec![digest(900)])));
    assert_eq!(e, Err(Error::InconsistentDecoded));
    assert!(e.unwrap_err().is_protocol_violation());
    assert!(s.is_failed());
    assert_eq!(s.poll_transmit(), None, "no new Hello: no restart");
    // A digest whose key the initiator holds (it is one of its own items).
    let (mut s, _) = initiator_after(&Message::Decoded { yours: 0, mine: 1 });
    assert_eq!(s.handle(&enc(&Message::Digests(vec![digest(3)]))), Err(Error::InconsistentDecoded));
    assert_eq!(s.poll_transmit(), None);
}

/// The decoder checks that confirmed digests hash to the keys it asked for.
#[test]
fn a_wrong_confirmation_fails() {
    let a = set(0..3);
    let b = set(1..4);
    let mut i = Session::initiator(Config::default(), a, [1; 16]).unwrap();
    let mut r = Session::responder(Config::default(), b).unwrap();
    while let Some(m) = i.poll_transmit() {
        r.handle(&m).unwrap();
    }
    while let Some(m) = r.poll_transmit() {
        i.handle(&m).unwrap();
    }
    // The responder decoded and waits for the digest of the initiator's only item.
    let e = r.handle(&enc(&Message::Digests(vec![digest(77)])));
    assert_eq!(e, Err(Error::ConfirmMismatch { index: 0 }));
    assert!(e.unwrap_err().is_protocol_violation());
}

#[test]
fn nothing_after_the_end() {
    let mut i = Session::initiator(Config::default(), set(0..5), [1; 16]).unwrap();
    let mut r = Session::responder(Config::default(), set(0..5)).unwrap();
    peergroup_reconcile::bench::drive(&mut i, &mut r).unwrap();
    assert_eq!(i.outcome(), Some(&Outcome::default()));
    assert_eq!(i.handle(&enc(&Message::RequestKeys)), Err(Error::AlreadyFinished));
}

#[test]
fn config_is_validated() {
    let mut c = Config::default();
    c.max_message_bytes = 100;
    assert_eq!(
        Session::responder(c, DigestSet::new()).unwrap_err(),
        Error::InvalidConfig("max_message_bytes")
    );
    let mut c = Config::default();
    c.max_set_len = 3;
    assert!(matches!(Session::responder(c, set(0..4)), Err(Error::SetTooLarge { len: 4, max: 3 })));
}

/// A real exchange with a symbol phase, recorded message by message.
fn recorded_exchange(seed: u64) -> (DigestSet, DigestSet) {
    let a = set(seed..seed + 400);
    let b = set(seed + 40..seed + 440);
    (a, b)
}

/// Replays an exchange, applying `corrupt` to message number `target`. Returns the outcomes
/// if both sides finished.
fn replay(
    a: &DigestSet,
    b: &DigestSet,
    target: usize,
    corrupt: &dyn Fn(&mut Vec<u8>),
) -> Option<(Outcome, Outcome)> {
    let mut i = Session::initiator(Config::default(), a.clone(), [9; 16]).ok()?;
    let mut r = Session::responder(Config::default(), b.clone()).ok()?;
    let mut n = 0;
    for _ in 0..40 {
        let mut any = false;
        while let Some(mut m) = i.poll_transmit() {
            any = true;
            if n == target {
                corrupt(&mut m);
            }
            n += 1;
            if r.handle(&m).is_err() {
                return None;
            }
        }
        while let Some(mut m) = r.poll_transmit() {
            any = true;
            if n == target {
                corrupt(&mut m);
            }
            n += 1;
            if i.handle(&m).is_err() {
                return None;
            }
        }
        if !any {
            break;
        }
    }
    Some((i.take_outcome()?, r.take_outcome()?))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Random bytes, to sessions in their first states: an error or nothing, never a panic.
    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..3000)) {
        let _ = responder(300).handle(&bytes);
        let (mut i, _) = initiator(300);
        let _ = i.handle(&bytes);
        let (mut i, _) = initiator(300);
        i.handle(&enc(&reply(400))).unwrap();
        let _ = i.handle(&bytes);
    }

    /// Garbage after a valid prefix of tag bytes (so it reaches deeper decoders).
    #[test]
    fn tagged_garbage_never_panics(tag in 0u8..12, bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut m = vec![tag];
        m.extend(bytes);
        let _ = responder(300).handle(&m);
        let (mut i, _) = initiator(300);
        i.handle(&enc(&reply(400))).unwrap();
        let _ = i.handle(&m);
    }

    /// One corrupted message anywhere in a real exchange: the sessions may fail or retry,
    /// but if both finish, their difference is exactly right.
    #[test]
    fn corruption_never_gives_a_wrong_difference(
        seed in 0u64..1000,
        target in 0usize..12,
        position in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        truncate in any::<bool>(),
    ) {
        let (a, b) = recorded_exchange(seed);
        let corrupt = |m: &mut Vec<u8>| {
            if m.is_empty() {
                return;
            }
            let at = position.index(m.len());
            if truncate {
                m.truncate(at);
            } else {
                m[at] ^= flip;
            }
        };
        if let Some((oi, or)) = replay(&a, &b, target, &corrupt) {
            let want_i: Vec<Digest> = a.iter().filter(|d| !b.contains(d)).copied().collect();
            let want_r: Vec<Digest> = b.iter().filter(|d| !a.contains(d)).copied().collect();
            prop_assert_eq!(&oi.local_only, &want_i);
            prop_assert_eq!(&oi.remote_only, &want_r);
            prop_assert_eq!(&or.local_only, &want_r);
            prop_assert_eq!(&or.remote_only, &want_i);
        }
    }
}
