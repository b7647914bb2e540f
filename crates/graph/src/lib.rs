//! Peer graphing: the replicated record database of a group (DESIGN.md §6,
//! `proto-specs/graph.md`).
//!
//! A *graph* is a set of peers that each hold a replica of one record database and keep
//! it in step by flooding new records to their neighbours and reconciling on connect.
//! This crate provides the database and the protocol core that floods and synchronises it:
//!
//! * [`record`]: the [`Record`] — typed, versioned, expiring, with attributes, payload and
//!   opaque security data — its canonical encoding, the exact bytes a signature covers,
//!   the update rules of [MS-PPGRH] 3.1.7.8 and the total conflict order that makes every
//!   replica converge.
//! * [`hlc`]: hybrid logical clocks, which stamp creation and modification times instead of
//!   [MS-PPGRH]'s averaged "peer time".
//! * [`store`]: the synchronous [`RecordStore`] trait the sans-IO core calls, with
//!   [`MemStore`] (tests, simulator), [`RedbStore`] (default, on disk) and `SledStore`
//!   (feature `sled`); iteration in sync order `(modified HLC, id)`, per-record digests,
//!   lookup by id, type and creator, tombstones and expiry purge.
//! * [`search`]: a small query language over attributes and reserved fields.
//! * [`proto`]: the sans-IO core that keeps replicas in step — HyParView topology with a
//!   partition signature, PlumTree flooding with lazy push, and synchronisation on connect
//!   by set reconciliation — with the [`proto::SecurityProvider`] hook the grouping layer
//!   implements.
//! * `net` (feature `net`, on by default): the tokio driver and the application API
//!   (`net::Graph`) on the shared QUIC endpoint.
//! * `scenario` (feature `sim`): the simulated scale run behind `p2p sim graph`.
//!
//! Nothing outside `net` reads a clock: every operation that depends on time takes the
//! wall-clock time as a [`UnixTime`](peergroup_base::UnixTime) argument.
//!
//! # Features
//!
//! | Feature | Default | What it adds | What it pulls in |
//! |---|---|---|---|
//! | `net` | yes | `net`: the driver and `net::Graph` | `peergroup-net` (quinn, rustls), tokio, tracing, futures-core, serde_json |
//! | `sim` | no | `scenario`; `proto::TestProvider`, the provider of tests and simulations | `peergroup-sim` |
//! | `sled` | no | `SledStore` | sled 0.34 |
//!
//! Without default features the crate is the sans-IO core, the records and the stores
//! (`cargo check -p peergroup-graph --no-default-features`, which CI runs): no tokio, no
//! QUIC; redb (the default store), ring, serde/postcard, rand and `peergroup-reconcile` are
//! always in. An application never needs `sim`; the tests, the benchmarks and `p2p sim`
//! turn it on.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
pub mod export;
pub mod hlc;
mod id;
#[cfg(feature = "net")]
pub mod net;
pub mod proto;
pub mod record;
#[cfg(feature = "sim")]
pub mod scenario;
pub mod search;
pub mod store;

pub use error::{GraphError, Rejection};
pub use hlc::{Hlc, HlcClock, HlcConfig};
pub use id::{GraphId, MAX_GRAPH_ID_CHARS, RecordId, RecordType};
pub use record::{
    Attribute, AttributeName, AttributeValue, Record, RecordBuilder, RecordDigest, RecordLimits,
    SyncKey,
};
pub use search::{Query, QueryError};
#[cfg(feature = "sled")]
pub use store::SledStore;
pub use store::{
    ApplyOutcome, MAX_PAGE, MemStore, RecordFilter, RecordPage, RecordStore, RedbStore, SyncEntry,
    SyncRange, WriteMode,
};
