//! Identity-info documents (armoured and binary) on arbitrary input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peergroup_identity::IdentityInfo;

fuzz_target!(|data: &[u8]| {
    let _ = IdentityInfo::parse_binary(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = IdentityInfo::parse(text);
    }
});
