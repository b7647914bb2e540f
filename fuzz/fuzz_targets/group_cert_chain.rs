//! Group certificates and chains (group.md §3) on arbitrary bytes: decoding, then every
//! verification rule with a certificate cache, with and without a time — errors, never
//! panics. A chain that decodes re-encodes to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peergroup_group::{Cert, CertCache, Chain};

#[path = "group_common.rs"]
mod group_common;

fuzz_target!(|data: &[u8]| {
    if let Ok(cert) = Cert::decode(data) {
        assert_eq!(cert.encoded(), data);
        let _ = cert.signed_bytes();
        let _ = cert.group_name();
        let _ = cert.subject_name();
    }
    if let Ok(chain) = Chain::decode(data) {
        assert_eq!(chain.encode(), data);
        let mut cache = CertCache::default();
        let _ = chain.verify(&mut cache, None);
        // A second pass answers from the cache.
        if let Ok(v) = chain.verify(&mut cache, Some(group_common::NOW)) {
            let _ = v.group_name();
            let _ = v.leaf();
            let _ = v.expect_leaf(&[0; 32]);
        }
    }
});
