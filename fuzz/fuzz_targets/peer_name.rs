//! Peer-name parsing on arbitrary text: never panics; what parses round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peergroup_base::PeerName;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(name) = PeerName::parse(text)
    {
        assert_eq!(PeerName::parse(&name.to_string()).as_ref(), Ok(&name));
        let _ = name.p2p_id();
    }
});
