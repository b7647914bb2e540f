//! Helpers shared by the integration tests: fixed times, names, record builders and the
//! store openers of the conformance suite.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use peergroup_base::{PeerName, UnixTime};
use peergroup_graph::record::{Record, RecordBuilder, RecordLimits};
use peergroup_graph::{Hlc, MemStore, RecordId, RecordType, RedbStore};

/// "Now" in every test: 2027-01-15T08:00:00Z.
pub(crate) const NOW: UnixTime = UnixTime::from_millis(1_800_000_000_000);

pub(crate) fn name(s: &str) -> PeerName {
    PeerName::parse(s).unwrap()
}

/// `NOW + ms`, as an HLC of node `node`.
pub(crate) fn hlc(ms: u64, logical: u32, node: u64) -> Hlc {
    Hlc::new(UnixTime::from_millis(NOW.as_millis() + ms), logical, node)
}

pub(crate) fn secs_from_now(s: u64) -> UnixTime {
    NOW.saturating_add(Duration::from_secs(s))
}

pub(crate) fn rid(n: u128) -> RecordId {
    RecordId::from_u128(n)
}

pub(crate) fn rtype(n: u128) -> RecordType {
    RecordType::from_u128(n)
}

/// Version 1 of record `id` of type `ty` by `creator`, created at `NOW + created_ms`,
/// expiring in an hour, with attribute `n = id` and a 3-byte payload.
pub(crate) fn rec(id: u128, ty: u128, creator: &str, created_ms: u64) -> Record {
    builder(id, ty, creator, created_ms).build(&RecordLimits::default()).unwrap()
}

pub(crate) fn builder(id: u128, ty: u128, creator: &str, created_ms: u64) -> RecordBuilder {
    RecordBuilder::new(
        rtype(ty),
        rid(id),
        name(creator),
        hlc(created_ms, 0, 1),
        secs_from_now(3600),
    )
    .attribute("n", i64::try_from(id).unwrap())
    .payload(vec![1, 2, 3])
}

/// The next version of `r` by `modifier` at `NOW + ms`.
pub(crate) fn bump(r: &Record, modifier: &str, ms: u64) -> Record {
    r.update(name(modifier), hlc(ms, 0, 2)).build(&RecordLimits::default()).unwrap()
}

/// What an opener returns: the store and whatever keeps its files alive.
pub(crate) type Guard = Option<tempfile::TempDir>;

pub(crate) fn open_mem(limits: RecordLimits) -> (MemStore, Guard) {
    (MemStore::new(limits), None)
}

pub(crate) fn open_redb(limits: RecordLimits) -> (RedbStore, Guard) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("records.redb"), limits).unwrap();
    (store, Some(dir))
}

/// A redb store in [`peergroup_graph::WriteMode::Deferred`], as the drivers use it: its
/// writes share one open transaction, which reads go through.
#[allow(dead_code)] // not every test binary that includes `common` uses it
pub(crate) fn open_redb_deferred(limits: RecordLimits) -> (RedbStore, Guard) {
    let (mut store, dir) = open_redb(limits);
    peergroup_graph::RecordStore::set_write_mode(&mut store, peergroup_graph::WriteMode::Deferred);
    (store, dir)
}

#[cfg(feature = "sled")]
pub(crate) fn open_sled(limits: RecordLimits) -> (peergroup_graph::SledStore, Guard) {
    let dir = tempfile::tempdir().unwrap();
    let store = peergroup_graph::SledStore::open(dir.path().join("records.sled"), limits).unwrap();
    (store, Some(dir))
}
