//! Property tests of the record encoding (`graph.md` §2): arbitrary valid records survive
//! encode → decode byte-exact, and the decoder never panics on arbitrary or damaged input;
//! whatever it accepts is canonical.
#![allow(clippy::unwrap_used)]

use crate::common;

use common::*;
use peergroup_base::UnixTime;
use peergroup_graph::record::{AttributeValue, Record, RecordBuilder, RecordLimits};
use peergroup_graph::{GraphId, Hlc, RecordId, RecordType};
use proptest::prelude::*;

fn value() -> impl Strategy<Value = AttributeValue> {
    prop_oneof![
        "\\PC{0,30}".prop_map(AttributeValue::String),
        any::<i64>().prop_map(AttributeValue::Int),
        any::<u64>().prop_map(|t| AttributeValue::Date(UnixTime::from_millis(t))),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(AttributeValue::Bytes),
    ]
}

fn record() -> impl Strategy<Value = Record> {
    (
        any::<[u8; 16]>(),
        any::<[u8; 16]>(),
        "[a-zA-Z0-9]{1,20}",
        proptest::option::of("[a-z]{1,10}"),
        (any::<u32>(), 0u64..1_000_000, any::<u32>(), any::<u64>()),
        (1u64..10_000_000, 1u32..1000),
        proptest::collection::btree_map("[a-zA-Z0-9_.-]{1,40}", value(), 0..10),
        proptest::collection::vec(any::<u8>(), 0..600),
        proptest::collection::vec(any::<u8>(), 0..100),
        any::<bool>(),
    )
        .prop_map(
            |(
                ty,
                id,
                creator,
                modifier,
                (wall, dt, logical, node),
                (life, version),
                attrs,
                payload,
                sec,
                deleted,
            )| {
                let created = Hlc::new(UnixTime::from_millis(u64::from(wall)), logical, node);
                let mut b = RecordBuilder::new(
                    RecordType::from_bytes(ty),
                    RecordId::from_bytes(id),
                    name(&format!("0.{creator}")),
                    created,
                    UnixTime::from_millis(u64::from(wall) + dt + life),
                );
                if let Some(m) = &modifier {
                    let modified = Hlc::new(
                        UnixTime::from_millis(u64::from(wall) + dt),
                        logical,
                        node.wrapping_add(1),
                    );
                    b = b
                        .version(version + 1)
                        .modified(name(&format!("0.{m}")), modified.max(created));
                    if deleted {
                        b = b.deleted(true);
                    }
                }
                if !(modifier.is_some() && deleted) {
                    b = b.payload(payload);
                    for (n, v) in attrs {
                        b = b.attribute(&n, v);
                    }
                }
                b.security_data(sec).build(&RecordLimits::default()).unwrap()
            },
        )
}

proptest! {
    #[test]
    fn encode_decode_is_byte_exact(r in record()) {
        let l = RecordLimits::default();
        let d = Record::decode(r.encoded(), &l).unwrap();
        prop_assert_eq!(d.encoded(), r.encoded());
        prop_assert_eq!(d.digest(), r.digest());
        prop_assert_eq!(d.attributes(), r.attributes());
        prop_assert_eq!(d.payload(), r.payload());
        prop_assert_eq!(d.security_data(), r.security_data());
        prop_assert_eq!((d.version(), d.is_deleted(), d.expires()), (r.version(), r.is_deleted(), r.expires()));
        prop_assert_eq!(d.creator(), r.creator());
        prop_assert_eq!((d.created(), d.modified()), (r.created(), r.modified()));
        let g = GraphId::new("0.graph").unwrap();
        prop_assert_eq!(d.signing_bytes(&g), r.signing_bytes(&g));
        // re-signing changes the envelope, never the body
        let s = d.with_security_data(&[1, 2, 3], &l).unwrap();
        prop_assert_eq!(s.body_bytes(), r.body_bytes());
        prop_assert_eq!(Record::decode(s.encoded(), &l).unwrap(), s);
    }

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Record::decode(&bytes, &RecordLimits::default());
    }

    /// Damaged encodings are refused or decode to a record whose canonical encoding is
    /// exactly the input.
    #[test]
    fn damaged_encodings_are_refused_or_canonical(
        r in record(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let mut bytes = r.encoded().to_vec();
        for (at, v, kind) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at % bytes.len();
            match kind {
                0 => bytes[i] = v,
                1 => { bytes.remove(i); }
                _ => bytes.insert(i, v),
            }
        }
        if let Ok(d) = Record::decode(&bytes, &RecordLimits::default()) {
            prop_assert_eq!(d.encoded(), &bytes[..]);
        }
    }
}

#[test]
fn the_signature_covers_every_body_field() {
    // Changing any one field changes the signed bytes; changing the security data does not.
    let l = RecordLimits::default();
    let g = GraphId::new("0.g").unwrap();
    let base = rec(1, 1, "0.alice", 0);
    let variants = [
        builder(2, 1, "0.alice", 0).build(&l).unwrap(),
        builder(1, 2, "0.alice", 0).build(&l).unwrap(),
        builder(1, 1, "0.bob", 0).build(&l).unwrap(),
        builder(1, 1, "0.alice", 1).build(&l).unwrap(),
        builder(1, 1, "0.alice", 0).expires(secs_from_now(3601)).build(&l).unwrap(),
        builder(1, 1, "0.alice", 0).attribute("n", 2).build(&l).unwrap(),
        builder(1, 1, "0.alice", 0).payload(vec![1, 2, 4]).build(&l).unwrap(),
        bump(&base, "0.alice", 1),
    ];
    for v in &variants {
        assert_ne!(v.signing_bytes(&g), base.signing_bytes(&g), "{v:?}");
    }
    let signed = base.with_security_data(&[9; 64], &l).unwrap();
    assert_eq!(signed.signing_bytes(&g), base.signing_bytes(&g));
}

#[test]
fn signatures_verify_over_the_received_bytes() {
    // The flow the grouping layer follows: sign the signed bytes, put the signature in the
    // security data, send the encoding; the receiver verifies over what it received.
    use peergroup_identity::{Identity, verify_signature};
    let l = RecordLimits::default();
    let alice = Identity::from_seed([1; 32], "alice", "Alice").unwrap();
    let graph = GraphId::new("0.graph").unwrap();
    let unsigned = RecordBuilder::new(
        RecordType::from_u128(1),
        RecordId::from_u128(2),
        alice.peer_name().clone(),
        hlc(0, 0, 1),
        secs_from_now(60),
    )
    .payload(b"hello".to_vec())
    .build(&l)
    .unwrap();
    let sig = alice.sign(&unsigned.signing_bytes(&graph));
    let wire = unsigned.with_security_data(&sig, &l).unwrap().encoded().to_vec();

    let received = Record::decode(&wire, &l).unwrap();
    let sig: [u8; 64] = received.security_data().try_into().unwrap();
    assert!(verify_signature(&alice.public_key(), &received.signing_bytes(&graph), &sig));
    // the same record replayed into another graph does not verify
    let other = GraphId::new("0.other").unwrap();
    assert!(!verify_signature(&alice.public_key(), &received.signing_bytes(&other), &sig));
    // a payload byte changed in transit: still a valid record, but the signature fails
    let mut tampered = wire.clone();
    let at = tampered.len() - 64 - 2; // the last payload byte, before the security data
    tampered[at] ^= 1;
    let t = Record::decode(&tampered, &l).unwrap();
    assert_ne!(t.payload(), b"hello");
    assert!(!verify_signature(&alice.public_key(), &t.signing_bytes(&graph), &sig));
}
