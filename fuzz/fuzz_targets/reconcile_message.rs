//! Reconciliation messages and sessions on arbitrary bytes: decoding never panics, and a
//! responder (with a small set) fed garbage returns errors, never a wrong state.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peergroup_reconcile::message::Message;
use peergroup_reconcile::{Config, Digest, DigestSet, Session};

fuzz_target!(|data: &[u8]| {
    let _ = Message::decode(data, 64 * 1024);
    let set: DigestSet = (0u8..50).map(|i| Digest::from([i; 32])).collect();
    if let Ok(mut responder) = Session::responder(Config::default(), set) {
        for chunk in data.split(|b| *b == 0xA5) {
            if responder.handle(chunk).is_err() {
                break;
            }
            while responder.poll_transmit().is_some() {}
        }
    }
});
