//! The frame codec on arbitrary bytes: a stream of frames holding typed messages.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peergroup_base::{FrameCodec, PeerAddr, PeerName, UnixTime};

#[derive(Debug, serde::Serialize, serde::Deserialize)]
enum Msg {
    Bytes(#[serde(with = "serde_bytes")] Vec<u8>),
    Name(PeerName),
    Addr(PeerAddr),
    Times(Vec<UnixTime>),
    Nested(Option<Box<Msg>>),
}

fuzz_target!(|data: &[u8]| {
    let codec = FrameCodec::new(64 * 1024);
    let mut rest = data;
    while let Ok(Some((msg, used))) = codec.decode::<Msg>(rest) {
        // what decodes re-encodes
        let _ = codec.encode(&msg).expect("a decoded message re-encodes");
        rest = &rest[used..];
    }
});
