//! PNRP messages and CPAs on arbitrary bytes: a frame decodes into a message that passed its
//! limit checks, or into an error; a CPA verifies or is refused — never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peergroup_base::{FrameCodec, UnixTime};
use peergroup_pnrp::proto::Message;
use peergroup_pnrp::proto::cpa::SignedCpa;

fuzz_target!(|data: &[u8]| {
    let codec = FrameCodec::default();
    let _ = Message::decode(&codec, data);
    if data.len() > 64 {
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&data[..64]);
        let cpa = SignedCpa { body: data[64..].to_vec(), signature };
        let _ = cpa.verify(UnixTime::from_secs(1_795_632_699), None);
    }
});
