//! The integration tests of `peergroup-graph`, in one test binary (one link of quinn,
//! rustls and tokio instead of one per file). Each module was a test file of its own; its
//! tests keep their names under the module's (`net_loopback::three_peers_…`).
//!
//! * `harness` — a simulated graph for the `proto_*` tests (sim-driven nodes and scripted
//!   raw peers); `common` — fixed times, names, record builders and store openers.
//! * `proto_*` — the sans-IO core on the simulator: topology, flooding, synchronisation,
//!   presence, direct connections, deferral, bad input, spec vectors, convergence.
//! * `record_*`, `search_parser`, `export_format`, `spec_vectors` — records, queries and
//!   the export format against the spec.
//! * `store_*`, `apply_throughput` — the record stores: conformance, corruption, crash and
//!   lock behaviour.
//! * `net_loopback` — the tokio driver over loopback QUIC (feature `net`).

mod common;
mod harness;

mod apply_throughput;
mod export_format;
// Opens QUIC endpoints: needs the tokio driver.
#[cfg(feature = "net")]
mod net_loopback;
mod proto_bad_input;
mod proto_convergence;
mod proto_deferred;
mod proto_direct;
mod proto_flooding;
mod proto_presence;
mod proto_spec_vectors;
mod proto_sync;
mod proto_topology;
mod record_codec;
mod record_merge;
mod search_parser;
mod spec_vectors;
mod store_conformance;
mod store_corruption;
mod store_crash;
mod store_in_use;
