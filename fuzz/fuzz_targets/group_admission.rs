//! The admission exchange (group.md §8) on arbitrary bytes: the group connection message
//! (postcard) and the hello, decoded and verified against a fixed group's security
//! provider — errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peergroup_base::NodeId;
use peergroup_base::codec::FrameCodec;
use peergroup_group::admission::{Hello, Refusal};
use peergroup_group::node::Message;
use peergroup_group::{GroupSecurity, Verifier};

#[path = "group_common.rs"]
mod group_common;

fuzz_target!(|data: &[u8]| {
    let _ = FrameCodec::default().decode_body::<Message>(data);
    if let Ok(hello) = Hello::decode(data) {
        assert_eq!(hello.encode(), data);
        let mut security = GroupSecurity::new(group_common::root(), None, None, Verifier::new());
        let peer = hello.chain.leaf().map(|c| c.subject_node()).unwrap_or(NodeId([0; 32]));
        if let Err(e) = hello.verify(&mut security, peer, &[0x5a; 32], group_common::NOW) {
            let _ = Refusal::of(&e).code();
        }
    }
});
