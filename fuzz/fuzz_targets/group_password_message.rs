//! Password-join messages (group.md §13.3) on arbitrary bytes: decoded, re-encoded to the
//! same bytes, refusals mapped — errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peergroup_group::password::{JoinRefusal, PasswordMessage};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = PasswordMessage::decode(data) {
        assert_eq!(m.encode(), data);
        if let PasswordMessage::JoinRefused { refusal, .. } = m {
            assert_eq!(JoinRefusal::from_code(refusal.code()), refusal);
        }
    }
});
