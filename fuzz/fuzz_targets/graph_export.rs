//! Database export files (`graph.md` §12) on arbitrary bytes: errors, never panics; and
//! whatever is accepted re-exports to the same bytes.
//!
//! The first byte picks the input: odd, the rest of the data as is; even, the rest after a
//! valid header of graph `0.graph`, so that the fuzzer spends its time on entries and the
//! checksum rather than on finding the magic and the graph id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peergroup_graph::export::{EXPORT_MAGIC, EXPORT_VERSION, read_export, write_export};
use peergroup_graph::{GraphId, RecordLimits};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(graph) = GraphId::new("0.graph") else {
        return;
    };
    let input = if mode & 1 == 1 {
        rest.to_vec()
    } else {
        let mut input = EXPORT_MAGIC.to_vec();
        input.push(EXPORT_VERSION);
        input.extend_from_slice(&7u16.to_be_bytes());
        input.extend_from_slice(b"0.graph");
        input.extend_from_slice(rest);
        input
    };
    let limits = RecordLimits::default();
    if let Ok(records) = read_export(&input[..], &graph, &limits) {
        let mut again = Vec::new();
        let written = write_export(&mut again, &graph, &records);
        assert_eq!(written.ok(), Some(input.len() as u64));
        assert_eq!(again, input, "an accepted export re-exports byte for byte");
    }
});
