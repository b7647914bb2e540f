//! Checks the record vectors of `proto-specs/graph.md` §10.1 against the code: record
//! encodings, signed bytes, digests and sync keys built from the fields the spec lists,
//! and the decoding failures it names. A vector this test does not know fails it; the
//! message vectors of §10.2 (`msg-`, `presence-`) are checked by `proto_spec_vectors.rs`.
#![allow(clippy::unwrap_used)]

use peergroup_base::spec_vectors::{self, Vector, get};
use peergroup_base::{PeerName, UnixTime};
use peergroup_graph::record::{AttributeValue, Record, RecordBuilder, RecordLimits};
use peergroup_graph::{GraphId, Hlc, RecordId, RecordType};

const SPEC: &str = include_str!("../../../../proto-specs/graph.md");

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn field<'a>(v: &'a Vector, key: &str) -> &'a str {
    let name = get(v, "name").unwrap_or("?");
    get(v, key).unwrap_or_else(|| panic!("vector {name} has no {key}"))
}

fn hlc(s: &str) -> Hlc {
    let p: Vec<u64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();
    assert_eq!(p.len(), 3, "hlc {s:?}");
    Hlc::new(UnixTime::from_millis(p[0]), u32::try_from(p[1]).unwrap(), p[2])
}

fn bytes_or_empty(s: &str) -> Vec<u8> {
    if s == "-" { Vec::new() } else { unhex(s) }
}

fn build(v: &Vector) -> Record {
    let mut b = RecordBuilder::new(
        RecordType::parse(field(v, "type")).unwrap(),
        RecordId::parse(field(v, "id")).unwrap(),
        PeerName::parse(field(v, "creator")).unwrap(),
        hlc(field(v, "created")),
        UnixTime::from_millis(field(v, "expires").parse().unwrap()),
    )
    .version(field(v, "version").parse().unwrap())
    .modified(PeerName::parse(field(v, "modifier")).unwrap(), hlc(field(v, "modified")))
    .deleted(field(v, "deleted").parse().unwrap())
    .payload(bytes_or_empty(field(v, "payload")))
    .security_data(bytes_or_empty(field(v, "security")));
    let attrs = field(v, "attributes");
    if attrs != "-" {
        for a in attrs.split_whitespace() {
            let (name, typed) = a.split_once('=').unwrap();
            let (ty, value) = typed.split_once(':').unwrap();
            let value = match ty {
                "string" => AttributeValue::String(value.to_owned()),
                "int" => AttributeValue::Int(value.parse().unwrap()),
                "date" => AttributeValue::Date(UnixTime::from_millis(value.parse().unwrap())),
                "bytes" => AttributeValue::Bytes(unhex(value)),
                other => panic!("unknown attribute type {other}"),
            };
            b = b.attribute(name, value);
        }
    }
    b.build(&RecordLimits::default()).unwrap()
}

#[test]
fn graph_vectors() {
    let vectors = spec_vectors::parse(SPEC);
    let mut records = Vec::new();
    let mut rejects = 0;
    for v in &vectors {
        let name = field(v, "name");
        if name.starts_with("record-") {
            let r = build(v);
            let encoding = unhex(field(v, "encoding"));
            assert_eq!(hex::encode(r.encoded()), hex::encode(&encoding), "{name}: encoding");
            let graph = GraphId::new(field(v, "graph")).unwrap();
            assert_eq!(
                hex::encode(r.signing_bytes(&graph)),
                hex::encode(unhex(field(v, "signed"))),
                "{name}: signed"
            );
            assert_eq!(r.digest().to_string(), field(v, "digest"), "{name}: digest");
            assert_eq!(
                hex::encode(r.sync_key().to_bytes()),
                hex::encode(unhex(field(v, "sync-key"))),
                "{name}: sync key"
            );
            let decoded = Record::decode(&encoding, &RecordLimits::default()).unwrap();
            assert_eq!(decoded, r, "{name}: decode");
            records.push(r);
        } else if name.starts_with("reject-") {
            rejects += 1;
            let limits = match get(v, "max-record-size") {
                Some(m) => {
                    RecordLimits::default().with_max_record_size(m.parse().unwrap()).unwrap()
                }
                None => RecordLimits::default(),
            };
            let input = match get(v, "encoding-repeat") {
                Some(rep) => {
                    let (byte, count) = rep.split_once(' ').unwrap();
                    vec![unhex(byte)[0]; count.parse().unwrap()]
                }
                None => unhex(field(v, "encoding")),
            };
            let err = Record::decode(&input, &limits).expect_err(name);
            let expected = field(v, "error");
            assert!(
                format!("{err:?}").starts_with(expected),
                "{name}: got {err:?}, spec says {expected}"
            );
        } else if name.starts_with("msg-") || name.starts_with("presence-") {
            // §10.2: proto_spec_vectors.rs
        } else {
            panic!("unknown vector {name}");
        }
    }
    assert_eq!((records.len(), rejects), (3, 11), "every vector of the spec is checked");
    // The spec's claim about the three versions (§10.1): tombstone > update > new.
    assert!(records[2].conflict_cmp(&records[1]).is_gt());
    assert!(records[1].conflict_cmp(&records[0]).is_gt());
}
