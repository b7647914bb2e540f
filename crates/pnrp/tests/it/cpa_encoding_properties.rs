//! Property tests of the CPA encoding: sign → verify returns the same body, the exact
//! bytes are what is verified, and no input makes decoding or verification panic.
#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use peergroup_base::{Classifier, PeerName, ServiceLocation, UnixTime};
use peergroup_pnrp::proto::cpa::{CPA_FORMAT, MAX_COMMENT_CHARS};
use peergroup_pnrp::proto::{CpaBody, CpaSigner, SignedCpa};
use proptest::prelude::*;

const T0: u64 = 1_767_225_600;

fn endpoint() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (1u8..=223, any::<[u8; 3]>(), 1u16..).prop_map(|(a, r, p)| SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(a, r[0], r[1], r[2].max(1))),
            p
        )),
        (0x2000u16..0x3fff, any::<[u16; 7]>(), 1u16..).prop_map(|(a, r, p)| SocketAddr::new(
            IpAddr::V6(Ipv6Addr::new(a, r[0], r[1], r[2], r[3], r[4], r[5], r[6])),
            p
        )),
    ]
}

fn body_strategy() -> impl Strategy<Value = (u8, CpaBody)> {
    (
        any::<u8>(),
        "[a-zA-Z0-9 ._-]{1,40}",
        any::<bool>(),
        any::<(u64, u64)>(),
        1u64..u64::MAX,
        43_200u64..=604_800,
        proptest::collection::vec(endpoint(), 1..=10),
        proptest::string::string_regex(&format!("[^\\p{{Cc}}]{{0,{MAX_COMMENT_CHARS}}}")).unwrap(),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
    )
        .prop_map(
            |(seed, classifier, secure, loc, sequence, life, endpoints, comment, payload)| {
                let signer = CpaSigner::from_seed(&[seed; 32]);
                let authority =
                    if secure { signer.authority() } else { peergroup_base::Authority::Unsecured };
                let body = CpaBody {
                    format: CPA_FORMAT,
                    name: PeerName::new(authority, Classifier::new(&classifier).unwrap()),
                    location: ServiceLocation::new(loc.0, loc.1),
                    sequence,
                    not_after: UnixTime::from_secs(T0 + life),
                    revoked: false,
                    endpoints,
                    comment,
                    payload,
                    signer: signer.public_key(),
                    delegation: None,
                };
                (seed, body)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn sign_then_verify_returns_the_body((seed, body) in body_strategy()) {
        let signer = CpaSigner::from_seed(&[seed; 32]);
        let now = UnixTime::from_secs(T0);
        let signed = body.sign(&signer, now).unwrap();
        // the wire form round-trips byte for byte
        let wire = postcard::to_allocvec(&signed).unwrap();
        let back: SignedCpa = postcard::from_bytes(&wire).unwrap();
        prop_assert_eq!(&back, &signed);
        let cpa = back.verify(now, None).unwrap();
        prop_assert_eq!(cpa.body(), &body);
        prop_assert_eq!(cpa.is_unsecured(), !body.name.is_secure());
        prop_assert_eq!(cpa.p2p_id(), body.name.p2p_id());
    }

    #[test]
    fn any_flipped_bit_is_refused((seed, body) in body_strategy(), at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let signer = CpaSigner::from_seed(&[seed; 32]);
        let now = UnixTime::from_secs(T0);
        let mut signed = body.sign(&signer, now).unwrap();
        let i = at.index(signed.body.len());
        signed.body[i] ^= 1 << bit;
        prop_assert!(signed.verify(now, None).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..600), sig in any::<[u8; 32]>()) {
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&sig);
        let s = SignedCpa { body, signature };
        prop_assert!(s.verify(UnixTime::from_secs(T0), None).is_err());
    }
}
