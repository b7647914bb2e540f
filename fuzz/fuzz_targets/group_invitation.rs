//! Group invitations (group.md §7) on arbitrary bytes: the binary body, and the armoured
//! text when the input is UTF-8 — errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peergroup_group::Invitation;

#[path = "group_common.rs"]
mod group_common;

fuzz_target!(|data: &[u8]| {
    if let Ok(inv) = Invitation::from_binary(data) {
        assert_eq!(inv.to_binary(), data);
        let _ = inv.check_for(&[0; 32], group_common::NOW);
        let text = inv.to_text();
        let _ = Invitation::parse(&text);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(inv) = Invitation::parse(text) {
            let _ = inv.group();
            let _ = inv.invitee();
        }
    }
});
