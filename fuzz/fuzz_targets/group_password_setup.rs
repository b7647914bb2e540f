//! Password setup files (group.md §13.5) on arbitrary bytes: decoded (with the OPAQUE
//! values parsed) and re-encoded to the same bytes — errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peergroup_group::password::PasswordSetup;

fuzz_target!(|data: &[u8]| {
    if let Ok(setup) = PasswordSetup::from_bytes(data) {
        assert_eq!(setup.to_bytes().as_slice(), data);
        let _ = setup.is_locked();
    }
});
