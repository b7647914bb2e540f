//! The record database of a graph: the [`RecordStore`] trait and its implementations.
//!
//! The sans-IO core calls a store synchronously: when a record arrives it calls
//! [`RecordStore::apply`] (or [`apply_batch`](RecordStore::apply_batch) for several) and
//! floods on according to the [`ApplyOutcome`]; for synchronisation it walks the records
//! in sync order `(last-modified HLC, id)` with [`sync_entries`](RecordStore::sync_entries)
//! (keys and [`RecordDigest`]s only, no record bodies) and fetches bodies with
//! [`sync_records`](RecordStore::sync_records); a timer calls
//! [`purge_expired`](RecordStore::purge_expired) at [`next_expiry`](RecordStore::next_expiry).
//!
//! Every store applies the same merge rule (`proto-specs/graph.md` §3.3): a record is
//! refused if it breaks this store's [`RecordLimits`] or has expired; a record with the id
//! of a stored one but a different type, creator or creation time is refused; otherwise
//! the greater of the two under [`Record::conflict_cmp`] is kept. Expired records are
//! never returned by any read, whether or not they have been purged yet; reads take the
//! current time for that reason.
//!
//! | store | use | durability |
//! |---|---|---|
//! | [`MemStore`] | tests, the simulator | none (memory) |
//! | [`RedbStore`] | the default on-disk store | every `apply`/`apply_batch` that returns `Ok` is on disk (one redb transaction, `Durability::Immediate`, two-phase commit); in `WriteMode::Deferred`, at the next flush (the deferred writes share one transaction); page cache bounded (64 MiB by default) |
//! | `SledStore` (feature `sled`) | on request | every successful write is followed by `flush` before it returns |
//!
//! All three pass one conformance suite (`tests/it/store_conformance.rs`); the on-disk ones
//! also pass a SIGKILL crash test (`tests/it/store_crash.rs`).

mod kv;
mod mem;
mod page;
mod redb_store;
#[cfg(feature = "sled")]
mod sled_store;

use std::ops::Bound;

use peergroup_base::{PeerName, UnixTime};

pub use mem::MemStore;
pub use redb_store::{DEFAULT_CACHE_BYTES, RedbStore};
#[cfg(feature = "sled")]
pub use sled_store::SledStore;

use crate::error::{GraphError, Rejection};
use crate::hlc::Hlc;
use crate::id::{RecordId, RecordType};
use crate::record::{Record, RecordDigest, RecordLimits, SyncKey, check_update};
use crate::search::Query;

/// Fewest records [`RecordStore::search_page`] reads from the store per step.
pub const SEARCH_STEP: usize = 256;

/// Most records one page may ask for ([`RecordPage`]).
pub const MAX_PAGE: usize = 10_000;

/// One page of an enumeration or search: the records, in id order, and where the next
/// page starts (`None` after the last page).
#[derive(Debug, Clone, Default)]
pub struct RecordPage {
    /// The records of this page, in id order.
    pub records: Vec<Record>,
    /// The id to pass as `after` for the next page; `None` if this page is the last.
    pub next: Option<RecordId>,
}

impl RecordPage {
    /// The page of `records` asked for with `limit`: the next page starts after the last
    /// record when the page is full.
    pub fn new(records: Vec<Record>, limit: usize) -> Self {
        let next = if records.len() >= limit { records.last().map(Record::id) } else { None };
        RecordPage { records, next }
    }
}

/// What [`RecordStore::apply`] did with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApplyOutcome {
    /// The store had no (unexpired) record with this id; the record was stored.
    Added,
    /// The record beat the stored version and replaced it.
    Updated {
        /// Version of the record it replaced.
        previous_version: u32,
    },
    /// The store already holds exactly this record.
    Unchanged,
    /// The stored version beats this one (it is older, or lost a tie); nothing changed.
    /// A flooding core sends its own copy back.
    IgnoredOlder,
    /// The record breaks a rule; nothing changed.
    Rejected(Rejection),
}

impl ApplyOutcome {
    /// `true` if the store changed (`Added` or `Updated`): the record is new here and is
    /// flooded on.
    pub fn is_stored(&self) -> bool {
        matches!(self, ApplyOutcome::Added | ApplyOutcome::Updated { .. })
    }

    /// `true` if the record was refused.
    pub fn is_rejected(&self) -> bool {
        matches!(self, ApplyOutcome::Rejected(_))
    }
}

/// How a store commits writes ([`RecordStore::set_write_mode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// Every write is on disk when it returns.
    #[default]
    Durable,
    /// Writes are atomic but reach the disk at the next durable write or flush.
    Deferred,
}

/// Which records [`RecordStore::enumerate`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordFilter {
    /// Every live record, in id order.
    All,
    /// Live records of one type, in id order.
    Type(RecordType),
    /// Live records of one creator, in id order.
    Creator(PeerName),
}

/// One record as synchronisation sees it: position, digest and expiration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncEntry {
    /// Position in sync order.
    pub key: SyncKey,
    /// Digest of the record's encoding.
    pub digest: RecordDigest,
    /// Expiration.
    pub expires: UnixTime,
}

/// A range of sync keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncRange {
    /// Lower bound.
    pub start: Bound<SyncKey>,
    /// Upper bound.
    pub end: Bound<SyncKey>,
}

impl SyncRange {
    /// Every key.
    pub const ALL: SyncRange = SyncRange { start: Bound::Unbounded, end: Bound::Unbounded };

    /// Keys strictly after `key` (to continue an iteration).
    pub fn after(key: SyncKey) -> Self {
        SyncRange { start: Bound::Excluded(key), end: Bound::Unbounded }
    }

    /// Keys in `start..end` (half-open).
    pub fn between(start: SyncKey, end: SyncKey) -> Self {
        SyncRange { start: Bound::Included(start), end: Bound::Excluded(end) }
    }

    /// `true` if no key can lie in the range (start after end, or equal and not both
    /// included).
    pub fn is_empty(&self) -> bool {
        match (&self.start, &self.end) {
            (Bound::Included(s), Bound::Included(e)) => s > e,
            (Bound::Included(s) | Bound::Excluded(s), Bound::Excluded(e))
            | (Bound::Excluded(s), Bound::Included(e)) => s >= e,
            _ => false,
        }
    }

    /// `true` if `key` lies in the range.
    pub fn contains(&self, key: &SyncKey) -> bool {
        let lower = match &self.start {
            Bound::Included(s) => key >= s,
            Bound::Excluded(s) => key > s,
            Bound::Unbounded => true,
        };
        let upper = match &self.end {
            Bound::Included(e) => key <= e,
            Bound::Excluded(e) => key < e,
            Bound::Unbounded => true,
        };
        lower && upper
    }
}

/// The record database of one graph. See the [module docs](self).
///
/// Reads take the current wall-clock time `now` and never return a record that has
/// expired at `now` (`expires <= now`). `get` and the sync reads return tombstones;
/// `enumerate` and `search` do not.
pub trait RecordStore {
    /// The limits records must meet to enter this store.
    fn limits(&self) -> &RecordLimits;

    /// Applies records in order, atomically: either every outcome is in effect (and, for an
    /// on-disk store, durable) when this returns `Ok`, or, on `Err`, none is.
    fn apply_batch(
        &mut self,
        records: &[Record],
        now: UnixTime,
    ) -> Result<Vec<ApplyOutcome>, GraphError>;

    /// The stored record with this id (a tombstone included), unless expired.
    fn get(&self, id: &RecordId, now: UnixTime) -> Result<Option<Record>, GraphError>;

    /// Live (not deleted, not expired) records matching `filter`, in id order.
    fn enumerate(&self, filter: &RecordFilter, now: UnixTime) -> Result<Vec<Record>, GraphError>;

    /// One page of [`enumerate`](RecordStore::enumerate): up to `limit` of its records
    /// whose ids come after `after` (from the first when `None`), in id order. The next
    /// page starts after the last id of this one; a page shorter than `limit` is the last.
    /// The key-value stores scan only as far as the page reaches; this default reads all.
    fn enumerate_page(
        &self,
        filter: &RecordFilter,
        after: Option<&RecordId>,
        limit: usize,
        now: UnixTime,
    ) -> Result<Vec<Record>, GraphError> {
        let mut records = self.enumerate(filter, now)?;
        if let Some(after) = after {
            records.retain(|r| r.id() > *after);
        }
        records.truncate(limit);
        Ok(records)
    }

    /// Up to `limit` unexpired records (tombstones included) with sync keys in `range`, as
    /// [`SyncEntry`]s in sync order. Reads the sync index only, no record bodies.
    fn sync_entries(
        &self,
        range: &SyncRange,
        limit: usize,
        now: UnixTime,
    ) -> Result<Vec<SyncEntry>, GraphError>;

    /// Like [`sync_entries`](RecordStore::sync_entries), but the records themselves.
    fn sync_records(
        &self,
        range: &SyncRange,
        limit: usize,
        now: UnixTime,
    ) -> Result<Vec<Record>, GraphError>;

    /// Number of records stored, tombstones and expired-but-not-yet-purged ones included.
    fn len(&self) -> Result<u64, GraphError>;

    /// Removes every record that has expired at `now` and returns them (for
    /// "record expired" events).
    fn purge_expired(&mut self, now: UnixTime) -> Result<Vec<Record>, GraphError>;

    /// Removes these records outright — no tombstone, nothing to synchronise — and returns
    /// the ones that were stored. For records the security provider no longer accepts
    /// (`graph.md` §7.5: a revocation invalidated their signer); ids not stored are
    /// skipped. Atomic like [`apply_batch`](RecordStore::apply_batch).
    fn remove(&mut self, ids: &[RecordId]) -> Result<Vec<Record>, GraphError>;

    /// The earliest expiration of any stored record (the time to purge next).
    fn next_expiry(&self) -> Result<Option<UnixTime>, GraphError>;

    /// The greatest sync key stored, expired records included: a restarted node resumes
    /// its [`HlcClock`](crate::hlc::HlcClock) from its `modified` time.
    fn last_sync_key(&self) -> Result<Option<SyncKey>, GraphError>;

    /// How writes are committed from now on. [`WriteMode::Durable`] (the default of every
    /// store): a write that returns `Ok` is on disk. [`WriteMode::Deferred`]: writes are
    /// atomic and visible at once but reach the disk only at the next durable write or
    /// [`flush`](RecordStore::flush); a crash loses the deferred writes since the last
    /// durable one, never part of one, and the store still opens. Drivers defer writes
    /// of records received from peers (they can be synchronised again) and make local
    /// writes durable before acknowledging them. Stores without a disk ignore it.
    fn set_write_mode(&mut self, mode: WriteMode) {
        let _ = mode;
    }

    /// Makes every write so far durable (a no-op when nothing is deferred).
    fn flush(&mut self) -> Result<(), GraphError> {
        Ok(())
    }

    /// Applies one record ([`apply_batch`](RecordStore::apply_batch) of one).
    fn apply(&mut self, record: &Record, now: UnixTime) -> Result<ApplyOutcome, GraphError> {
        let mut outcomes = self.apply_batch(std::slice::from_ref(record), now)?;
        // Invariant: apply_batch returns one outcome per record.
        outcomes.pop().ok_or_else(|| GraphError::Storage {
            path: Default::default(),
            operation: "apply",
            reason: "the store returned no outcome".into(),
        })
    }

    /// `true` if the store holds no record.
    fn is_empty(&self) -> Result<bool, GraphError> {
        Ok(self.len()? == 0)
    }

    /// The digest of the stored record with this id, unless expired.
    fn digest(&self, id: &RecordId, now: UnixTime) -> Result<Option<RecordDigest>, GraphError> {
        Ok(self.get(id, now)?.map(|r| r.digest()))
    }

    /// The stored record with this id unless it is deleted or expired.
    fn get_live(&self, id: &RecordId, now: UnixTime) -> Result<Option<Record>, GraphError> {
        Ok(self.get(id, now)?.filter(|r| !r.is_deleted()))
    }

    /// Adds a new record written locally. Fails with
    /// [`GraphError::RecordAlreadyExists`] if a record with this id is stored (a tombstone
    /// included), or with the error of the rule the record breaks.
    fn add(&mut self, record: &Record, now: UnixTime) -> Result<(), GraphError> {
        if self.get(&record.id(), now)?.is_some() {
            return Err(GraphError::RecordAlreadyExists { id: record.id() });
        }
        match self.apply(record, now)? {
            ApplyOutcome::Added => Ok(()),
            ApplyOutcome::Rejected(r) => Err(r.into_error(record.id(), record.expires())),
            _ => Err(GraphError::RecordAlreadyExists { id: record.id() }),
        }
    }

    /// Stores a new version of a record written locally, after checking the update rules
    /// of [MS-PPGRH] 3.1.7.8 against the stored version ([`check_update`]). Fails with
    /// [`GraphError::RecordNotFound`] if there is none.
    fn update(&mut self, record: &Record, now: UnixTime) -> Result<(), GraphError> {
        let existing =
            self.get(&record.id(), now)?.ok_or(GraphError::RecordNotFound { id: record.id() })?;
        check_update(&existing, record)?;
        match self.apply(record, now)? {
            ApplyOutcome::Updated { .. } => Ok(()),
            ApplyOutcome::Rejected(r) => Err(r.into_error(record.id(), record.expires())),
            _ => Err(GraphError::UpdateSuperseded { id: record.id() }),
        }
    }

    /// Deletes a record on behalf of `modifier`: stores its tombstone
    /// ([`Record::tombstone`], unsigned) and returns it for flooding. A graph whose records
    /// are signed builds the tombstone itself, signs it and calls
    /// [`update`](RecordStore::update).
    fn delete(
        &mut self,
        id: &RecordId,
        modifier: PeerName,
        modified: Hlc,
        now: UnixTime,
    ) -> Result<Record, GraphError> {
        let existing = self.get(id, now)?.ok_or(GraphError::RecordNotFound { id: *id })?;
        let tombstone = existing.tombstone(modifier, modified, self.limits())?;
        self.update(&tombstone, now)?;
        Ok(tombstone)
    }

    /// Live records matching a query, in id order. Uses the type or creator index when the
    /// query requires an exact `@type` or `@creator` ([`Query::index_hint`]).
    fn search(&self, query: &Query, now: UnixTime) -> Result<Vec<Record>, GraphError> {
        let filter = query.index_hint().unwrap_or(RecordFilter::All);
        let mut records = self.enumerate(&filter, now)?;
        records.retain(|r| query.matches(r));
        Ok(records)
    }

    /// One page of [`search`](RecordStore::search): up to `limit` matching records whose
    /// ids come after `after`, in id order, read through [`enumerate_page`] in steps of
    /// at least [`SEARCH_STEP`] records.
    ///
    /// [`enumerate_page`]: RecordStore::enumerate_page
    fn search_page(
        &self,
        query: &Query,
        after: Option<&RecordId>,
        limit: usize,
        now: UnixTime,
    ) -> Result<Vec<Record>, GraphError> {
        let filter = query.index_hint().unwrap_or(RecordFilter::All);
        let step = limit.max(SEARCH_STEP);
        let mut out = Vec::new();
        let mut cursor = after.copied();
        while out.len() < limit {
            let page = self.enumerate_page(&filter, cursor.as_ref(), step, now)?;
            let Some(last) = page.last().map(Record::id) else { break };
            let done = page.len() < step;
            out.extend(page.into_iter().filter(|r| query.matches(r)));
            cursor = Some(last);
            if done {
                break;
            }
        }
        out.truncate(limit);
        Ok(out)
    }
}

/// The merge rule every store applies (`graph.md` §3.3): the outcome, and whether the
/// incoming record is to be written (replacing `existing`, if any).
pub(crate) fn decide(
    existing: Option<&Record>,
    incoming: &Record,
    limits: &RecordLimits,
    now: UnixTime,
) -> ApplyOutcome {
    if let Err(r) = incoming.check_limits(limits) {
        return ApplyOutcome::Rejected(r);
    }
    if incoming.is_expired(now) {
        return ApplyOutcome::Rejected(Rejection::RecordExpired);
    }
    // An expired record still waiting for the purge counts as absent.
    let Some(e) = existing.filter(|e| !e.is_expired(now)) else {
        return ApplyOutcome::Added;
    };
    if incoming.record_type() != e.record_type() {
        return ApplyOutcome::Rejected(Rejection::TypeChanged);
    }
    if incoming.creator() != e.creator() {
        return ApplyOutcome::Rejected(Rejection::CreatorChanged);
    }
    if incoming.created() != e.created() {
        return ApplyOutcome::Rejected(Rejection::CreationTimeChanged);
    }
    match incoming.conflict_cmp(e) {
        std::cmp::Ordering::Equal => ApplyOutcome::Unchanged,
        std::cmp::Ordering::Greater => ApplyOutcome::Updated { previous_version: e.version() },
        std::cmp::Ordering::Less => {
            let newer = incoming.version() > e.version();
            if newer && e.is_deleted() && !incoming.is_deleted() {
                ApplyOutcome::Rejected(Rejection::RecordDeleted)
            } else if newer && incoming.expires() < e.expires() {
                ApplyOutcome::Rejected(Rejection::InvalidRecordExpiration)
            } else {
                ApplyOutcome::IgnoredOlder
            }
        }
    }
}
