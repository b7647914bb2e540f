//! Identity-certificate verification (what the TLS verifiers run) on arbitrary DER.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peergroup_base::UnixTime;
use peergroup_identity::{CertUsage, verify_certificate};

fuzz_target!(|data: &[u8]| {
    let _ = verify_certificate(data, UnixTime::from_secs(1_795_632_699), CertUsage::Client);
});
