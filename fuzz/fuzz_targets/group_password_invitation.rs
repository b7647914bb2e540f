//! Password invitations (group.md §13.2) on arbitrary bytes: the binary body, and the
//! armoured text when the input is UTF-8 — errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peergroup_group::password::PasswordInvitation;

fuzz_target!(|data: &[u8]| {
    if let Ok(inv) = PasswordInvitation::from_binary(data) {
        assert_eq!(inv.to_binary(), data);
        assert_eq!(PasswordInvitation::parse(&inv.to_text()).as_ref(), Ok(&inv));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = PasswordInvitation::parse(text);
    }
});
