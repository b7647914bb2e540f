//! The on-disk store logic, written once over an ordered key-value engine.
//!
//! [`KvStore`] implements [`RecordStore`] on any [`KvBackend`]: redb (one table per
//! [`Table`]) or sled (one tree, the table as a one-byte key prefix). Values are opaque
//! bytes: record encodings exactly as received, and fixed-layout index entries
//! (`proto-specs/graph.md` §5), so no engine-specific value typing can change what is on
//! disk.
//!
//! | table | key | value |
//! |---|---|---|
//! | `meta` | `"format"` | `u32` big-endian, [`STORE_FORMAT`] |
//! | `records` | id (16) | the record's encoding |
//! | `by_sync` | modified HLC (20, big-endian) ‖ id (16) | digest (32) ‖ expires (8, big-endian ms) |
//! | `by_type` | type (16) ‖ id (16) | empty |
//! | `by_creator` | SHA-256(creator text)\[..16\] ‖ id (16) | empty |
//! | `by_expiry` | expires (8, big-endian ms) ‖ id (16) | empty |
//!
//! In [`WriteMode::Durable`], one `apply_batch` is one engine write transaction: reads of
//! the batch see its own earlier writes, and the engine makes the whole batch durable
//! before `write` returns. In [`WriteMode::Deferred`] (records from peers, which can be
//! synchronised again after a crash), applied records are staged in memory and written in
//! one engine write per [`MAX_STAGED`] records (each table's keys in order), so the cost
//! of a write transaction and of opening the tables is shared; every read merges the
//! staged records in, and a flush or durable write writes them first. A crash loses staged
//! records as it loses the engine's deferred writes: whole batches, never part of one.
//!
//! Decoded records recently stored or read are kept in a bounded cache ([`RecordCache`]),
//! exact because every change goes through this type.

use std::collections::HashMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use peergroup_base::{PeerName, UnixTime};

use crate::error::GraphError;
use crate::id::RecordId;
use crate::record::{Record, RecordDigest, RecordLimits, SyncKey};
use crate::store::{
    ApplyOutcome, RecordFilter, RecordStore, SyncEntry, SyncRange, WriteMode, decide,
};

/// The on-disk layout version this code writes and reads.
pub(crate) const STORE_FORMAT: u32 = 1;
/// The key of the format entry in [`Table::Meta`].
pub(crate) const FORMAT_KEY: &[u8] = b"format";

/// The tables of the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Meta,
    Records,
    BySync,
    ByType,
    ByCreator,
    ByExpiry,
}

impl Table {
    pub(crate) const ALL: [Table; 6] = [
        Table::Meta,
        Table::Records,
        Table::BySync,
        Table::ByType,
        Table::ByCreator,
        Table::ByExpiry,
    ];

    /// The table's name (redb table name).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::Meta => "meta",
            Table::Records => "records",
            Table::BySync => "by_sync",
            Table::ByType => "by_type",
            Table::ByCreator => "by_creator",
            Table::ByExpiry => "by_expiry",
        }
    }

    /// The table's one-byte key prefix (sled, single tree).
    #[cfg_attr(not(feature = "sled"), allow(dead_code))]
    pub(crate) fn prefix(self) -> u8 {
        match self {
            Table::Meta => 0,
            Table::Records => 1,
            Table::BySync => 2,
            Table::ByType => 3,
            Table::ByCreator => 4,
            Table::ByExpiry => 5,
        }
    }
}

/// Receives scanned entries; returns `Ok(false)` to stop.
pub(crate) type Visitor<'a> = dyn FnMut(&[u8], &[u8]) -> Result<bool, GraphError> + 'a;

/// Reads from one consistent snapshot.
pub(crate) trait KvRead {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, GraphError>;
    fn scan(
        &self,
        table: Table,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        reverse: bool,
        visit: &mut Visitor<'_>,
    ) -> Result<(), GraphError>;
    fn count(&self, table: Table) -> Result<u64, GraphError>;
}

/// Reads and writes of one atomic write transaction; reads see earlier writes.
pub(crate) trait KvWrite {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, GraphError>;
    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), GraphError>;
    fn remove(&mut self, table: Table, key: &[u8]) -> Result<(), GraphError>;
}

/// An ordered key-value engine with atomic, durable write transactions.
pub(crate) trait KvBackend {
    /// The store's file or directory, for error messages.
    fn path(&self) -> &Path;
    /// Runs `f` on a read snapshot.
    fn read<R>(
        &self,
        f: impl FnOnce(&dyn KvRead) -> Result<R, GraphError>,
    ) -> Result<R, GraphError>;
    /// Runs `f` in a write transaction; commits it durably if `f` returns `Ok`, discards
    /// every write otherwise.
    fn write<R>(
        &mut self,
        f: impl FnOnce(&mut dyn KvWrite) -> Result<R, GraphError>,
    ) -> Result<R, GraphError>;
    /// See [`RecordStore::set_write_mode`](crate::store::RecordStore::set_write_mode).
    fn set_write_mode(&mut self, mode: crate::store::WriteMode);
    /// Makes every deferred write durable.
    fn flush(&mut self) -> Result<(), GraphError>;
}

/// A [`RecordStore`] over a [`KvBackend`].
#[derive(Debug)]
pub(crate) struct KvStore<B: KvBackend> {
    pub(super) backend: B,
    limits: RecordLimits,
    cache: Mutex<RecordCache>,
    mode: WriteMode,
    /// In [`WriteMode::Deferred`]: records applied but not yet written to the backend, by
    /// id. They are written together, in one backend write with each table's keys in
    /// order, when [`MAX_STAGED`] are waiting, before anything that changes the backend
    /// otherwise, and on flush. Every read merges them in, so they are visible at once.
    pub(super) staged: HashMap<RecordId, Staged>,
}

/// Records staged in deferred mode before one backend write (see [`KvStore`]).
const MAX_STAGED: usize = 256;

/// A record applied in deferred mode and not yet written to the backend.
#[derive(Debug)]
pub(super) struct Staged {
    pub(super) record: Record,
    /// What the backend holds under this id, whose index entries the write removes.
    stored: Option<Record>,
}

/// `true` if `r` belongs in what `enumerate(filter)` returns at `now`.
pub(super) fn enumerated(filter: &RecordFilter, r: &Record, now: UnixTime) -> bool {
    !r.is_expired(now)
        && !r.is_deleted()
        && match filter {
            RecordFilter::All => true,
            RecordFilter::Type(t) => r.record_type() == *t,
            RecordFilter::Creator(c) => r.creator() == c,
        }
}

fn sync_entry(r: &Record) -> SyncEntry {
    SyncEntry { key: r.sync_key(), digest: r.digest(), expires: r.expires() }
}

/// Entries per generation of [`RecordCache`].
const CACHE_ENTRIES: usize = 4096;
/// Encoded bytes per generation of [`RecordCache`].
const CACHE_BYTES: usize = 4 << 20;

/// Decoded records recently stored or read again, by id, so that a record read often (a
/// group member's membership record, read for every record the member signs; a record
/// received again) is not read and decoded each time.
///
/// Exact: every change to the store goes through [`KvStore`], which puts what it stored
/// and drops what it removed; a failed write (which, in deferred mode, may discard the
/// deferred writes before it) empties the cache. Bounded: two generations of at most
/// [`CACHE_ENTRIES`] records and [`CACHE_BYTES`] encoded bytes each; when the current one
/// is full it becomes the old one, and a record found in the old one moves back.
#[derive(Debug, Default)]
struct RecordCache {
    current: HashMap<RecordId, Record>,
    current_bytes: usize,
    old: HashMap<RecordId, Record>,
}

impl RecordCache {
    fn get(&mut self, id: &RecordId) -> Option<Record> {
        if let Some(r) = self.current.get(id) {
            return Some(r.clone());
        }
        let r = self.old.remove(id)?;
        self.put(r.clone());
        Some(r)
    }

    fn put(&mut self, r: Record) {
        let len = r.encoded_len();
        if len > CACHE_BYTES / 16 {
            self.remove(&r.id());
            return;
        }
        if self.current.len() >= CACHE_ENTRIES || self.current_bytes + len > CACHE_BYTES {
            self.old = std::mem::take(&mut self.current);
            self.current_bytes = 0;
        }
        self.old.remove(&r.id());
        if let Some(prev) = self.current.insert(r.id(), r) {
            self.current_bytes -= prev.encoded_len();
        }
        self.current_bytes += len;
    }

    fn remove(&mut self, id: &RecordId) {
        if let Some(prev) = self.current.remove(id) {
            self.current_bytes -= prev.encoded_len();
        }
        self.old.remove(id);
    }

    fn clear(&mut self) {
        *self = RecordCache::default();
    }
}

fn by_type_key(r: &Record) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..16].copy_from_slice(r.record_type().as_bytes());
    k[16..].copy_from_slice(r.id().as_bytes());
    k
}

pub(super) fn creator_hash(c: &PeerName) -> [u8; 16] {
    let d = ring::digest::digest(&ring::digest::SHA256, c.to_string().as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&d.as_ref()[..16]);
    out
}

fn by_creator_key(r: &Record) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..16].copy_from_slice(&creator_hash(r.creator()));
    k[16..].copy_from_slice(r.id().as_bytes());
    k
}

fn by_expiry_key(expires: UnixTime, id: &RecordId) -> [u8; 24] {
    let mut k = [0u8; 24];
    k[..8].copy_from_slice(&expires.as_millis().to_be_bytes());
    k[8..].copy_from_slice(id.as_bytes());
    k
}

fn sync_value(r: &Record) -> [u8; 40] {
    let mut v = [0u8; 40];
    v[..32].copy_from_slice(r.digest().as_bytes());
    v[32..].copy_from_slice(&r.expires().as_millis().to_be_bytes());
    v
}

fn bound_bytes(b: &Bound<SyncKey>) -> Bound<[u8; 36]> {
    match b {
        Bound::Included(k) => Bound::Included(k.to_bytes()),
        Bound::Excluded(k) => Bound::Excluded(k.to_bytes()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn as_slice_bound(b: &Bound<[u8; 36]>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(&k[..]),
        Bound::Excluded(k) => Bound::Excluded(&k[..]),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Decodes a stored record under the store's limits; it must carry the id it is stored
/// under. Failures name the store's file and the record.
fn decode_stored(
    path: &Path,
    limits: &RecordLimits,
    key: &[u8],
    bytes: &[u8],
) -> Result<Record, GraphError> {
    let invalid = |source: GraphError| GraphError::InvalidStoredRecord {
        path: path.to_path_buf(),
        key: match <[u8; 16]>::try_from(key) {
            Ok(id) => RecordId::from_bytes(id).to_string(),
            Err(_) => hex::encode(key),
        },
        source: Box::new(source),
    };
    let record = Record::decode_stored(bytes, limits).map_err(invalid)?;
    if record.id().as_bytes()[..] != *key {
        return Err(invalid(GraphError::MalformedRecord {
            reason: format!("it holds record {}", record.id()),
        }));
    }
    Ok(record)
}

impl<B: KvBackend> Drop for KvStore<B> {
    fn drop(&mut self) {
        // Written into the backend, which makes them durable when it drops.
        let _ = self.write_staged();
    }
}

impl<B: KvBackend> KvStore<B> {
    /// Wraps an opened backend: checks (or, in a new store, writes) the format entry.
    pub(crate) fn open(mut backend: B, limits: RecordLimits) -> Result<Self, GraphError> {
        let path = backend.path().to_path_buf();
        backend.write(|w| match w.get(Table::Meta, FORMAT_KEY)? {
            None => w.put(Table::Meta, FORMAT_KEY, &STORE_FORMAT.to_be_bytes()),
            Some(v) => {
                let found =
                    <[u8; 4]>::try_from(v.as_slice()).map(u32::from_be_bytes).map_err(|_| {
                        GraphError::CorruptStore {
                            path: path.clone(),
                            reason: format!("format entry has {} bytes, expected 4", v.len()),
                        }
                    })?;
                if found != STORE_FORMAT {
                    return Err(GraphError::UnsupportedStoreFormat {
                        path: path.clone(),
                        found,
                        expected: STORE_FORMAT,
                    });
                }
                Ok(())
            }
        })?;
        Ok(KvStore {
            backend,
            limits,
            cache: Mutex::default(),
            mode: WriteMode::Durable,
            staged: HashMap::new(),
        })
    }

    fn cache(&self) -> MutexGuard<'_, RecordCache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps the cache exact after a write: `Err` may have discarded earlier deferred
    /// writes too, so nothing cached can be trusted.
    fn after_write<R>(
        &self,
        result: &Result<R, GraphError>,
        update: impl FnOnce(&R, &mut RecordCache),
    ) {
        let mut cache = self.cache();
        match result {
            Ok(v) => update(v, &mut cache),
            Err(_) => cache.clear(),
        }
    }

    /// Makes every deferred write durable (see [`KvBackend::flush`]).
    pub(crate) fn flush(&mut self) -> Result<(), GraphError> {
        self.write_staged()?;
        let r = self.backend.flush();
        self.after_write(&r, |_, _| {});
        r
    }

    /// See [`RecordStore::set_write_mode`]. Staged records stay staged: the next durable
    /// write or flush writes them first.
    pub(crate) fn set_write_mode(&mut self, mode: WriteMode) {
        self.mode = mode;
        self.backend.set_write_mode(mode);
    }

    /// Writes the staged records to the backend in one write, removes before puts, each
    /// table's keys in order. `Err` discards them (and, in deferred mode, the backend's
    /// earlier deferred writes), as a crash would.
    fn write_staged(&mut self) -> Result<(), GraphError> {
        if self.staged.is_empty() {
            return Ok(());
        }
        let staged = std::mem::take(&mut self.staged);
        let result = self.backend.write(|w| Self::write_records(w, &staged));
        self.after_write(&result, |_, _| {});
        result
    }

    /// Writes `staged` through `w`: the index entries of what they replace are removed
    /// first (an old and a new entry can have the same key), then every table gets its
    /// new entries in key order.
    fn write_records(
        w: &mut dyn KvWrite,
        staged: &HashMap<RecordId, Staged>,
    ) -> Result<(), GraphError> {
        for s in staged.values() {
            if let Some(old) = &s.stored {
                Self::remove_indexes(w, old)?;
            }
        }
        let mut recs: Vec<&Record> = staged.values().map(|s| &s.record).collect();
        recs.sort_unstable_by_key(|r| r.id());
        for r in &recs {
            w.put(Table::Records, r.id().as_bytes(), r.encoded())?;
        }
        let mut sync: Vec<([u8; 36], [u8; 40])> =
            recs.iter().map(|r| (r.sync_key().to_bytes(), sync_value(r))).collect();
        sync.sort_unstable();
        for (k, v) in &sync {
            w.put(Table::BySync, k, v)?;
        }
        let mut keys: Vec<[u8; 32]> = recs.iter().map(|r| by_type_key(r)).collect();
        keys.sort_unstable();
        for k in &keys {
            w.put(Table::ByType, k, &[])?;
        }
        keys = recs.iter().map(|r| by_creator_key(r)).collect();
        keys.sort_unstable();
        for k in &keys {
            w.put(Table::ByCreator, k, &[])?;
        }
        let mut expiry: Vec<[u8; 24]> =
            recs.iter().map(|r| by_expiry_key(r.expires(), &r.id())).collect();
        expiry.sort_unstable();
        for k in &expiry {
            w.put(Table::ByExpiry, k, &[])?;
        }
        Ok(())
    }

    /// Deferred mode: decides each record against what is stored (staged, cached or in the
    /// backend) and stages the ones that win.
    fn stage_batch(
        &mut self,
        records: &[Record],
        now: UnixTime,
    ) -> Result<Vec<ApplyOutcome>, GraphError> {
        let mut outcomes = Vec::with_capacity(records.len());
        for rec in records {
            let (existing, stored) = match self.staged.get(&rec.id()) {
                Some(s) => (Some(s.record.clone()), s.stored.clone()),
                None => {
                    let e = self.read_cached(&rec.id())?;
                    (e.clone(), e)
                }
            };
            let outcome = decide(existing.as_ref(), rec, &self.limits, now);
            if outcome.is_stored() {
                self.staged.insert(rec.id(), Staged { record: rec.clone(), stored });
                self.cache().put(rec.clone());
            }
            outcomes.push(outcome);
        }
        if self.staged.len() >= MAX_STAGED {
            self.write_staged()?;
        }
        Ok(outcomes)
    }

    pub(crate) fn backend(&self) -> &B {
        &self.backend
    }

    pub(super) fn corrupt(&self, reason: String) -> GraphError {
        GraphError::CorruptStore { path: self.backend.path().to_path_buf(), reason }
    }

    pub(super) fn decode_stored(&self, key: &[u8], bytes: &[u8]) -> Result<Record, GraphError> {
        decode_stored(self.backend.path(), &self.limits, key, bytes)
    }

    pub(super) fn read_record(
        &self,
        r: &dyn KvRead,
        id: &RecordId,
    ) -> Result<Option<Record>, GraphError> {
        match r.get(Table::Records, id.as_bytes())? {
            Some(bytes) => self.decode_stored(id.as_bytes(), &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// [`KvStore::read_record`] through the cache, for point reads (scans do not fill it).
    fn read_cached(&self, id: &RecordId) -> Result<Option<Record>, GraphError> {
        if let Some(s) = self.staged.get(id) {
            return Ok(Some(s.record.clone()));
        }
        if let Some(r) = self.cache().get(id) {
            return Ok(Some(r));
        }
        let rec = self.backend.read(|r| self.read_record(r, id))?;
        if let Some(rec) = &rec {
            self.cache().put(rec.clone());
        }
        Ok(rec)
    }

    /// Live records whose ids come from the 32-byte index keys of `table` with `prefix`.
    fn live_by_index(
        &self,
        table: Table,
        prefix: &[u8; 16],
        now: UnixTime,
        keep: impl Fn(&Record) -> bool,
    ) -> Result<Vec<Record>, GraphError> {
        self.backend.read(|r| {
            let mut lower = [0u8; 32];
            lower[..16].copy_from_slice(prefix);
            let mut upper = [0xffu8; 32];
            upper[..16].copy_from_slice(prefix);
            let mut ids = Vec::new();
            r.scan(table, Bound::Included(&lower), Bound::Included(&upper), false, &mut |k, _| {
                let id = <[u8; 16]>::try_from(k.get(16..).unwrap_or_default()).map_err(|_| {
                    self.corrupt(format!("{} key of {} bytes", table.name(), k.len()))
                })?;
                ids.push(RecordId::from_bytes(id));
                Ok(true)
            })?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(rec) = self.read_record(r, &id)?
                    && !rec.is_expired(now)
                    && !rec.is_deleted()
                    && keep(&rec)
                {
                    out.push(rec);
                }
            }
            Ok(out)
        })
    }

    fn scan_sync(
        &self,
        r: &dyn KvRead,
        range: &SyncRange,
        limit: usize,
        now: UnixTime,
        visit: &mut dyn FnMut(SyncEntry) -> Result<(), GraphError>,
    ) -> Result<(), GraphError> {
        if limit == 0 || range.is_empty() {
            return Ok(());
        }
        let (lo, hi) = (bound_bytes(&range.start), bound_bytes(&range.end));
        let mut taken = 0usize;
        r.scan(Table::BySync, as_slice_bound(&lo), as_slice_bound(&hi), false, &mut |k, v| {
            let key = <[u8; 36]>::try_from(k)
                .map_err(|_| self.corrupt(format!("by_sync key of {} bytes", k.len())))?;
            let value = <[u8; 40]>::try_from(v)
                .map_err(|_| self.corrupt(format!("by_sync value of {} bytes", v.len())))?;
            let mut digest = [0u8; 32];
            digest.copy_from_slice(&value[..32]);
            let mut exp = [0u8; 8];
            exp.copy_from_slice(&value[32..]);
            let expires = UnixTime::from_millis(u64::from_be_bytes(exp));
            if expires > now {
                visit(SyncEntry {
                    key: SyncKey::from_bytes(&key),
                    digest: RecordDigest(digest),
                    expires,
                })?;
                taken += 1;
            }
            Ok(taken < limit)
        })
    }

    fn remove_indexes(w: &mut dyn KvWrite, r: &Record) -> Result<(), GraphError> {
        w.remove(Table::BySync, &r.sync_key().to_bytes())?;
        w.remove(Table::ByType, &by_type_key(r))?;
        w.remove(Table::ByCreator, &by_creator_key(r))?;
        w.remove(Table::ByExpiry, &by_expiry_key(r.expires(), &r.id()))
    }

    fn put_record(w: &mut dyn KvWrite, r: &Record) -> Result<(), GraphError> {
        w.put(Table::Records, r.id().as_bytes(), r.encoded())?;
        w.put(Table::BySync, &r.sync_key().to_bytes(), &sync_value(r))?;
        w.put(Table::ByType, &by_type_key(r), &[])?;
        w.put(Table::ByCreator, &by_creator_key(r), &[])?;
        w.put(Table::ByExpiry, &by_expiry_key(r.expires(), &r.id()), &[])
    }
}

impl<B: KvBackend> RecordStore for KvStore<B> {
    fn limits(&self) -> &RecordLimits {
        &self.limits
    }

    fn apply_batch(
        &mut self,
        records: &[Record],
        now: UnixTime,
    ) -> Result<Vec<ApplyOutcome>, GraphError> {
        if self.mode == WriteMode::Deferred {
            return self.stage_batch(records, now);
        }
        let limits = self.limits;
        let path = self.backend.path().to_path_buf();
        let cache = &self.cache;
        // staged records (from deferred mode) go first, in the same write
        let staged = std::mem::take(&mut self.staged);
        let result = self.backend.write(|w| {
            Self::write_records(w, &staged)?;
            let mut outcomes = Vec::with_capacity(records.len());
            for rec in records {
                let cached = cache.lock().unwrap_or_else(PoisonError::into_inner).get(&rec.id());
                let existing = match cached {
                    Some(c) => Some(c),
                    None => match w.get(Table::Records, rec.id().as_bytes())? {
                        Some(bytes) => {
                            Some(decode_stored(&path, &limits, rec.id().as_bytes(), &bytes)?)
                        }
                        None => None,
                    },
                };
                let outcome = decide(existing.as_ref(), rec, &limits, now);
                if outcome.is_stored() {
                    if let Some(e) = &existing {
                        Self::remove_indexes(w, e)?;
                    }
                    Self::put_record(w, rec)?;
                }
                outcomes.push(outcome);
            }
            Ok(outcomes)
        });
        self.after_write(&result, |outcomes, cache| {
            for (rec, outcome) in records.iter().zip(outcomes) {
                if outcome.is_stored() {
                    cache.put(rec.clone());
                }
            }
        });
        result
    }

    fn get(&self, id: &RecordId, now: UnixTime) -> Result<Option<Record>, GraphError> {
        let rec = self.read_cached(id)?;
        Ok(rec.filter(|r| !r.is_expired(now)))
    }

    fn enumerate(&self, filter: &RecordFilter, now: UnixTime) -> Result<Vec<Record>, GraphError> {
        let mut out = self.enumerate_backend(filter, now)?;
        if !self.staged.is_empty() {
            out.retain(|r| !self.staged.contains_key(&r.id()));
            out.extend(
                self.staged
                    .values()
                    .map(|s| &s.record)
                    .filter(|r| enumerated(filter, r, now))
                    .cloned(),
            );
            out.sort_unstable_by_key(|r| r.id());
        }
        Ok(out)
    }

    fn enumerate_page(
        &self,
        filter: &RecordFilter,
        after: Option<&RecordId>,
        limit: usize,
        now: UnixTime,
    ) -> Result<Vec<Record>, GraphError> {
        self.enumerate_page_kv(filter, after, limit, now)
    }

    fn sync_entries(
        &self,
        range: &SyncRange,
        limit: usize,
        now: UnixTime,
    ) -> Result<Vec<SyncEntry>, GraphError> {
        let extra = self.staged.values().filter(|s| s.stored.is_some()).count();
        let backend = self.backend.read(|r| {
            let mut out = Vec::new();
            self.scan_sync(r, range, limit.saturating_add(extra), now, &mut |e| {
                out.push(e);
                Ok(())
            })?;
            Ok(out)
        })?;
        Ok(self.merge_sync(backend, range, limit, now, SyncEntry::clone, sync_entry))
    }

    fn sync_records(
        &self,
        range: &SyncRange,
        limit: usize,
        now: UnixTime,
    ) -> Result<Vec<Record>, GraphError> {
        self.backend.read(|r| {
            let mut entries = Vec::new();
            let extra = self.staged.values().filter(|s| s.stored.is_some()).count();
            self.scan_sync(r, range, limit.saturating_add(extra), now, &mut |e| {
                entries.push(e);
                Ok(())
            })?;
            // Entries this merge drops are never read.
            let mut keep =
                self.merge_sync(entries, range, limit, now, |e| Ok(e.key), |r| Err(r.clone()));
            let mut out = Vec::with_capacity(keep.len());
            for item in keep.drain(..) {
                match item {
                    Err(staged) => out.push(staged),
                    Ok(key) => match self.read_record(r, &key.id)? {
                        Some(rec) => out.push(rec),
                        None => {
                            return Err(self.corrupt(format!(
                                "by_sync names record {}, which is missing",
                                key.id
                            )));
                        }
                    },
                }
            }
            Ok(out)
        })
    }

    fn len(&self) -> Result<u64, GraphError> {
        let added = self.staged.values().filter(|s| s.stored.is_none()).count() as u64;
        Ok(self.backend.read(|r| r.count(Table::Records))? + added)
    }

    fn purge_expired(&mut self, now: UnixTime) -> Result<Vec<Record>, GraphError> {
        self.write_staged()?;
        self.purge_expired_backend(now)
    }

    fn remove(&mut self, ids: &[RecordId]) -> Result<Vec<Record>, GraphError> {
        self.write_staged()?;
        self.remove_backend(ids)
    }

    fn next_expiry(&self) -> Result<Option<UnixTime>, GraphError> {
        // Can be early (a replaced record's entry is still in the backend), never late.
        let backend = self.next_expiry_backend()?;
        let staged = self.staged.values().map(|s| s.record.expires()).min();
        Ok(match (backend, staged) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    fn last_sync_key(&self) -> Result<Option<SyncKey>, GraphError> {
        let stale = self.stale_sync_keys();
        let backend = self.backend.read(|r| {
            let mut last = None;
            r.scan(Table::BySync, Bound::Unbounded, Bound::Unbounded, true, &mut |k, _| {
                let key = <[u8; 36]>::try_from(k)
                    .map_err(|_| self.corrupt(format!("by_sync key of {} bytes", k.len())))?;
                if stale.contains(&key) {
                    return Ok(true);
                }
                last = Some(key);
                Ok(false)
            })?;
            Ok(last)
        })?;
        let staged = self.staged.values().map(|s| s.record.sync_key().to_bytes()).max();
        Ok(backend.max(staged).map(|k| SyncKey::from_bytes(&k)))
    }
}

impl<B: KvBackend> KvStore<B> {
    /// The backend's by_sync keys that staged records replace.
    fn stale_sync_keys(&self) -> std::collections::HashSet<[u8; 36]> {
        self.staged
            .values()
            .filter_map(|s| s.stored.as_ref())
            .map(|r| r.sync_key().to_bytes())
            .collect()
    }

    /// The first `limit` of: the backend's entries (`backend`, in order, fetched with room
    /// for the stale ones) without those staged records replace, and the staged records
    /// in `range` live at `now`, in sync order.
    fn merge_sync<E, T>(
        &self,
        backend: Vec<E>,
        range: &SyncRange,
        limit: usize,
        now: UnixTime,
        from_backend: impl Fn(&E) -> T,
        from_staged: impl Fn(&Record) -> T,
    ) -> Vec<T>
    where
        E: AsSyncKey,
    {
        if self.staged.is_empty() {
            return backend.iter().take(limit).map(from_backend).collect();
        }
        let stale = self.stale_sync_keys();
        let (lo, hi) = (bound_bytes(&range.start), bound_bytes(&range.end));
        let mut merged: Vec<([u8; 36], T)> = backend
            .iter()
            .map(|e| (e.sync_key_bytes(), e))
            .filter(|(k, _)| !stale.contains(k))
            .map(|(k, e)| (k, from_backend(e)))
            .collect();
        for s in self.staged.values() {
            let k = s.record.sync_key().to_bytes();
            if s.record.expires() > now && std::ops::RangeBounds::contains(&(lo, hi), &k) {
                merged.push((k, from_staged(&s.record)));
            }
        }
        merged.sort_unstable_by_key(|e| e.0);
        merged.into_iter().take(limit).map(|(_, t)| t).collect()
    }
}

/// What [`KvStore::merge_sync`] orders by.
trait AsSyncKey {
    fn sync_key_bytes(&self) -> [u8; 36];
}

impl AsSyncKey for SyncEntry {
    fn sync_key_bytes(&self) -> [u8; 36] {
        self.key.to_bytes()
    }
}

impl<B: KvBackend> KvStore<B> {
    fn enumerate_backend(
        &self,
        filter: &RecordFilter,
        now: UnixTime,
    ) -> Result<Vec<Record>, GraphError> {
        match filter {
            RecordFilter::All => self.backend.read(|r| {
                let mut out = Vec::new();
                let mut err = None;
                r.scan(Table::Records, Bound::Unbounded, Bound::Unbounded, false, &mut |k, v| {
                    match self.decode_stored(k, v) {
                        Ok(rec) => {
                            if !rec.is_expired(now) && !rec.is_deleted() {
                                out.push(rec);
                            }
                            Ok(true)
                        }
                        Err(e) => {
                            err = Some(e);
                            Ok(false)
                        }
                    }
                })?;
                match err {
                    Some(e) => Err(e),
                    None => Ok(out),
                }
            }),
            RecordFilter::Type(t) => self.live_by_index(Table::ByType, t.as_bytes(), now, |_| true),
            RecordFilter::Creator(c) => {
                // The index holds a hash of the name; the check removes collisions.
                self.live_by_index(Table::ByCreator, &creator_hash(c), now, |r| r.creator() == c)
            }
        }
    }

    fn purge_expired_backend(&mut self, now: UnixTime) -> Result<Vec<Record>, GraphError> {
        let upper = by_expiry_key(now, &RecordId::from_bytes([0xff; 16]));
        let due = self.backend.read(|r| {
            let mut ids = Vec::new();
            r.scan(
                Table::ByExpiry,
                Bound::Unbounded,
                Bound::Included(&upper),
                false,
                &mut |k, _| {
                    let id = <[u8; 16]>::try_from(k.get(8..).unwrap_or_default())
                        .map_err(|_| self.corrupt(format!("by_expiry key of {} bytes", k.len())))?;
                    ids.push(RecordId::from_bytes(id));
                    Ok(true)
                },
            )?;
            Ok(ids)
        })?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let limits = self.limits;
        let path = self.backend.path().to_path_buf();
        let result = self.backend.write(|w| {
            let mut purged = Vec::with_capacity(due.len());
            for id in &due {
                if let Some(bytes) = w.get(Table::Records, id.as_bytes())? {
                    let rec = decode_stored(&path, &limits, id.as_bytes(), &bytes)?;
                    if rec.is_expired(now) {
                        w.remove(Table::Records, id.as_bytes())?;
                        Self::remove_indexes(w, &rec)?;
                        purged.push(rec);
                    }
                }
            }
            Ok(purged)
        });
        self.after_write(&result, |purged: &Vec<Record>, cache| {
            purged.iter().for_each(|r| cache.remove(&r.id()));
        });
        result
    }

    fn remove_backend(&mut self, ids: &[RecordId]) -> Result<Vec<Record>, GraphError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let limits = self.limits;
        let path = self.backend.path().to_path_buf();
        let result = self.backend.write(|w| {
            let mut removed = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(bytes) = w.get(Table::Records, id.as_bytes())? {
                    let rec = decode_stored(&path, &limits, id.as_bytes(), &bytes)?;
                    w.remove(Table::Records, id.as_bytes())?;
                    Self::remove_indexes(w, &rec)?;
                    removed.push(rec);
                }
            }
            Ok(removed)
        });
        self.after_write(&result, |removed: &Vec<Record>, cache| {
            removed.iter().for_each(|r| cache.remove(&r.id()));
        });
        result
    }

    fn next_expiry_backend(&self) -> Result<Option<UnixTime>, GraphError> {
        self.backend.read(|r| {
            let mut first = None;
            r.scan(Table::ByExpiry, Bound::Unbounded, Bound::Unbounded, false, &mut |k, _| {
                let t = <[u8; 8]>::try_from(k.get(..8).unwrap_or_default())
                    .map_err(|_| self.corrupt(format!("by_expiry key of {} bytes", k.len())))?;
                first = Some(UnixTime::from_millis(u64::from_be_bytes(t)));
                Ok(false)
            })?;
            Ok(first)
        })
    }
}

/// Implements [`RecordStore`] for a newtype whose `inner` field is a [`KvStore`].
macro_rules! delegate_record_store {
    ($ty:ty) => {
        impl $crate::store::RecordStore for $ty {
            fn limits(&self) -> &$crate::record::RecordLimits {
                self.inner.limits()
            }
            fn apply_batch(
                &mut self,
                records: &[$crate::record::Record],
                now: peergroup_base::UnixTime,
            ) -> Result<Vec<$crate::store::ApplyOutcome>, $crate::GraphError> {
                self.inner.apply_batch(records, now)
            }
            fn get(
                &self,
                id: &$crate::id::RecordId,
                now: peergroup_base::UnixTime,
            ) -> Result<Option<$crate::record::Record>, $crate::GraphError> {
                self.inner.get(id, now)
            }
            fn enumerate(
                &self,
                filter: &$crate::store::RecordFilter,
                now: peergroup_base::UnixTime,
            ) -> Result<Vec<$crate::record::Record>, $crate::GraphError> {
                self.inner.enumerate(filter, now)
            }
            fn enumerate_page(
                &self,
                filter: &$crate::store::RecordFilter,
                after: Option<&$crate::id::RecordId>,
                limit: usize,
                now: peergroup_base::UnixTime,
            ) -> Result<Vec<$crate::record::Record>, $crate::GraphError> {
                self.inner.enumerate_page(filter, after, limit, now)
            }
            fn sync_entries(
                &self,
                range: &$crate::store::SyncRange,
                limit: usize,
                now: peergroup_base::UnixTime,
            ) -> Result<Vec<$crate::store::SyncEntry>, $crate::GraphError> {
                self.inner.sync_entries(range, limit, now)
            }
            fn sync_records(
                &self,
                range: &$crate::store::SyncRange,
                limit: usize,
                now: peergroup_base::UnixTime,
            ) -> Result<Vec<$crate::record::Record>, $crate::GraphError> {
                self.inner.sync_records(range, limit, now)
            }
            fn len(&self) -> Result<u64, $crate::GraphError> {
                self.inner.len()
            }
            fn purge_expired(
                &mut self,
                now: peergroup_base::UnixTime,
            ) -> Result<Vec<$crate::record::Record>, $crate::GraphError> {
                self.inner.purge_expired(now)
            }
            fn remove(
                &mut self,
                ids: &[$crate::id::RecordId],
            ) -> Result<Vec<$crate::record::Record>, $crate::GraphError> {
                self.inner.remove(ids)
            }
            fn next_expiry(&self) -> Result<Option<peergroup_base::UnixTime>, $crate::GraphError> {
                self.inner.next_expiry()
            }
            fn last_sync_key(&self) -> Result<Option<$crate::record::SyncKey>, $crate::GraphError> {
                self.inner.last_sync_key()
            }
            fn set_write_mode(&mut self, mode: $crate::store::WriteMode) {
                self.inner.set_write_mode(mode)
            }
            fn flush(&mut self) -> Result<(), $crate::GraphError> {
                self.inner.flush()
            }
        }
    };
}
pub(crate) use delegate_record_store;
