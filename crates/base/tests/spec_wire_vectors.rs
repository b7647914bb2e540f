//! Checks the test vectors of `proto-specs/wire.md` against the codec.
#![allow(clippy::expect_used)] // a failed expect is a failed run

use std::net::SocketAddr;

use peergroup_base::codec::{CodecError, FrameCodec};
use peergroup_base::spec_vectors::{self, get};
use peergroup_base::{NodeId, PeerAddr, PeerName, UnixTime};

const SPEC: &str = include_str!("../../../proto-specs/wire.md");

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).expect("spec hex")
}

/// The frame for a vector's `message`, built from the typed value the spec names.
fn encode(message: &str, codec: &FrameCodec) -> Result<Vec<u8>, CodecError> {
    match message {
        r#"string "hello""# => codec.encode("hello"),
        "u64 300" => codec.encode(&300u64),
        "unix-time 2026-11-25T18:51:39.250Z" => {
            codec.encode(&UnixTime::from_millis(1_795_632_699_250))
        }
        "peer-name 0.MyApplication" => {
            codec.encode(&PeerName::parse("0.MyApplication").expect("name"))
        }
        "peer-addr 0x11*32 127.0.0.1:3587" => codec.encode(&PeerAddr {
            node: NodeId([0x11; 32]),
            addr: "127.0.0.1:3587".parse::<SocketAddr>().expect("addr"),
        }),
        "option-bytes Some(01 02 03)" => {
            codec.encode(&Some(serde_bytes::ByteBuf::from(vec![1u8, 2, 3])))
        }
        "peer-addr 0x22*32 [2001:db8::1]:3587" => codec.encode(&PeerAddr {
            node: NodeId([0x22; 32]),
            addr: "[2001:db8::1]:3587".parse::<SocketAddr>().expect("addr"),
        }),
        other => panic!("spec vector names an unknown message {other:?}"),
    }
}

#[test]
fn wire_vectors() {
    let vectors = spec_vectors::parse(SPEC);
    let mut checked = 0;
    for v in &vectors {
        let name = get(v, "name").expect("every vector has a name");
        if name.starts_with("preamble-") {
            continue; // checked by crates/net (the preamble is the transport's)
        }
        assert!(
            name.starts_with("frame-")
                || name.starts_with("reject-")
                || name.starts_with("accept-"),
            "unknown vector {name}"
        );
        checked += 1;
        let codec = match get(v, "max-frame-len") {
            Some(m) => FrameCodec::new(m.parse().expect("max-frame-len")),
            None => FrameCodec::default(),
        };
        let frame = unhex(get(v, "frame").expect("frame"));
        if let Some(message) = get(v, "message") {
            let encoded = encode(message, &codec).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                hex::encode(&encoded),
                hex::encode(&frame),
                "{name}: encoding differs from spec"
            );
            // and it decodes back to the same bytes
            let (bytes, used) = decode_any(message, &codec, &frame);
            assert_eq!(used, frame.len(), "{name}");
            assert_eq!(bytes, encoded, "{name}: decode/re-encode");
        } else if let Some(value) = get(v, "value") {
            // accepted although not how an encoder writes it
            let decode_as = get(v, "decode-as").expect("an accept- vector names its type");
            let got =
                decode_typed(decode_as, &codec, &frame).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(got, value, "{name}");
        } else {
            let expected = get(v, "error").expect("a vector has a message, a value or an error");
            let err = match get(v, "decode-as") {
                Some(t) => decode_typed(t, &codec, &frame).expect_err(name),
                None => codec.decode::<serde_bytes::ByteBuf>(&frame).map(|_| ()).expect_err(name),
            };
            assert!(err.to_string().contains(expected), "{name}: got {err}, spec says {expected}");
        }
    }
    assert_eq!(checked, 17, "every frame vector of the spec is checked");
}

/// Decodes a whole frame as the type a vector's `decode-as` names; the value as text.
fn decode_typed(ty: &str, codec: &FrameCodec, frame: &[u8]) -> Result<String, CodecError> {
    fn whole<T: serde::de::DeserializeOwned>(
        codec: &FrameCodec,
        frame: &[u8],
    ) -> Result<T, CodecError> {
        let (v, used): (T, usize) = codec.decode(frame)?.expect("a complete frame");
        assert_eq!(used, frame.len());
        Ok(v)
    }
    Ok(match ty {
        "u16" => whole::<u16>(codec, frame)?.to_string(),
        "u32" => whole::<u32>(codec, frame)?.to_string(),
        "u64" => whole::<u64>(codec, frame)?.to_string(),
        "peer-name" => whole::<PeerName>(codec, frame)?.to_string(),
        other => panic!("unknown decode-as {other:?}"),
    })
}

fn decode_any(message: &str, codec: &FrameCodec, frame: &[u8]) -> (Vec<u8>, usize) {
    fn re<T: serde::Serialize + serde::de::DeserializeOwned>(
        codec: &FrameCodec,
        frame: &[u8],
    ) -> (Vec<u8>, usize) {
        let (v, used): (T, usize) = codec.decode(frame).expect("decodes").expect("complete");
        (codec.encode(&v).expect("re-encodes"), used)
    }
    match message {
        r#"string "hello""# => re::<String>(codec, frame),
        "u64 300" => re::<u64>(codec, frame),
        "unix-time 2026-11-25T18:51:39.250Z" => re::<UnixTime>(codec, frame),
        "peer-name 0.MyApplication" => re::<PeerName>(codec, frame),
        "peer-addr 0x11*32 127.0.0.1:3587" => re::<PeerAddr>(codec, frame),
        "option-bytes Some(01 02 03)" => re::<Option<serde_bytes::ByteBuf>>(codec, frame),
        "peer-addr 0x22*32 [2001:db8::1]:3587" => re::<PeerAddr>(codec, frame),
        other => panic!("unknown message {other:?}"),
    }
}
