//! The group's record payloads and security data (group.md §4–§6) on arbitrary bytes:
//! security data, membership, revocation, group properties — errors, never panics. What
//! decodes re-encodes to the same bytes (each has one encoding).
#![no_main]

use libfuzzer_sys::fuzz_target;
use peergroup_group::records::{decode_membership, encode_membership};
use peergroup_group::{CertCache, GroupProperties, Revocation, SecurityData};

fuzz_target!(|data: &[u8]| {
    if let Ok(sd) = SecurityData::decode(data) {
        assert_eq!(sd.encode(), data);
    }
    if let Ok(chain) = decode_membership(data) {
        assert_eq!(encode_membership(&chain), data);
        let _ = chain.verify(&mut CertCache::default(), None);
    }
    if let Ok(rev) = Revocation::decode(data) {
        assert_eq!(rev.encode(), data);
        if let Some(chain) = &rev.revoker {
            let _ = chain.verify(&mut CertCache::default(), None);
        }
        for d in &rev.stand {
            assert!(rev.keeps(d));
        }
    }
    if let Ok(p) = GroupProperties::decode(data) {
        assert_eq!(p.encode(), data);
        let _ = p.group_name();
        assert_eq!(p.immutable_change(&p), None);
    }
});
