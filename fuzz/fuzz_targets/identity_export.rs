//! Password-protected identity exports: every check that needs no password, on arbitrary
//! text. (Decryption is not fuzzed: each attempt costs ≥ 100,000 PBKDF2 iterations.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use peergroup_identity::EncryptedIdentity;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = EncryptedIdentity::parse(text);
    }
});
