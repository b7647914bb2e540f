//! Graph decoders on arbitrary bytes: protocol messages, records (with the default limits)
//! and search queries — errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peergroup_graph::RecordLimits;
use peergroup_graph::proto::Message;
use peergroup_graph::record::Record;
use peergroup_graph::search::Query;

fuzz_target!(|data: &[u8]| {
    let _ = Message::decode(data);
    let _ = Record::decode(data, &RecordLimits::default());
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Query::parse(text);
    }
});
