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
//! One `apply_batch` is one engine write transaction: reads of the batch see its own
//! earlier writes, and the engine makes the whole batch durable before `write` returns.

use std::ops::Bound;
use std::path::Path;

use peergroup_base::{PeerName, UnixTime};

use crate::error::GraphError;
use crate::id::RecordId;
use crate::record::{Record, RecordDigest, RecordLimits, SyncKey};
use crate::store::{ApplyOutcome, RecordFilter, RecordStore, SyncEntry, SyncRange, decide};

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
pub(crate) struct KvStore<B> {
    backend: B,
    limits: RecordLimits,
}

fn by_type_key(r: &Record) -> [u8; 32] {
    let mut k = [0u8; 32];
    k[..16].copy_from_slice(r.record_type().as_bytes());
    k[16..].copy_from_slice(r.id().as_bytes());
    k
}

fn creator_hash(c: &PeerName) -> [u8; 16] {
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
    let record = Record::decode(bytes, limits).map_err(invalid)?;
    if record.id().as_bytes()[..] != *key {
        return Err(invalid(GraphError::MalformedRecord {
            reason: format!("it holds record {}", record.id()),
        }));
    }
    Ok(record)
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
        Ok(KvStore { backend, limits })
    }

    pub(crate) fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }

    pub(crate) fn backend(&self) -> &B {
        &self.backend
    }

    fn corrupt(&self, reason: String) -> GraphError {
        GraphError::CorruptStore { path: self.backend.path().to_path_buf(), reason }
    }

    fn decode_stored(&self, key: &[u8], bytes: &[u8]) -> Result<Record, GraphError> {
        decode_stored(self.backend.path(), &self.limits, key, bytes)
    }

    fn read_record(&self, r: &dyn KvRead, id: &RecordId) -> Result<Option<Record>, GraphError> {
        match r.get(Table::Records, id.as_bytes())? {
            Some(bytes) => self.decode_stored(id.as_bytes(), &bytes).map(Some),
            None => Ok(None),
        }
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
        let limits = self.limits;
        let path = self.backend.path().to_path_buf();
        self.backend.write(|w| {
            let mut outcomes = Vec::with_capacity(records.len());
            for rec in records {
                let existing = match w.get(Table::Records, rec.id().as_bytes())? {
                    Some(bytes) => {
                        Some(decode_stored(&path, &limits, rec.id().as_bytes(), &bytes)?)
                    }
                    None => None,
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
        })
    }

    fn get(&self, id: &RecordId, now: UnixTime) -> Result<Option<Record>, GraphError> {
        let rec = self.backend.read(|r| self.read_record(r, id))?;
        Ok(rec.filter(|r| !r.is_expired(now)))
    }

    fn enumerate(&self, filter: &RecordFilter, now: UnixTime) -> Result<Vec<Record>, GraphError> {
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

    fn sync_entries(
        &self,
        range: &SyncRange,
        limit: usize,
        now: UnixTime,
    ) -> Result<Vec<SyncEntry>, GraphError> {
        self.backend.read(|r| {
            let mut out = Vec::new();
            self.scan_sync(r, range, limit, now, &mut |e| {
                out.push(e);
                Ok(())
            })?;
            Ok(out)
        })
    }

    fn sync_records(
        &self,
        range: &SyncRange,
        limit: usize,
        now: UnixTime,
    ) -> Result<Vec<Record>, GraphError> {
        self.backend.read(|r| {
            let mut ids = Vec::new();
            self.scan_sync(r, range, limit, now, &mut |e| {
                ids.push(e.key.id);
                Ok(())
            })?;
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                match self.read_record(r, &id)? {
                    Some(rec) => out.push(rec),
                    None => {
                        return Err(
                            self.corrupt(format!("by_sync names record {id}, which is missing"))
                        );
                    }
                }
            }
            Ok(out)
        })
    }

    fn len(&self) -> Result<u64, GraphError> {
        self.backend.read(|r| r.count(Table::Records))
    }

    fn purge_expired(&mut self, now: UnixTime) -> Result<Vec<Record>, GraphError> {
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
        self.backend.write(|w| {
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
        })
    }

    fn remove(&mut self, ids: &[RecordId]) -> Result<Vec<Record>, GraphError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let limits = self.limits;
        let path = self.backend.path().to_path_buf();
        self.backend.write(|w| {
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
        })
    }

    fn next_expiry(&self) -> Result<Option<UnixTime>, GraphError> {
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

    fn last_sync_key(&self) -> Result<Option<SyncKey>, GraphError> {
        self.backend.read(|r| {
            let mut last = None;
            r.scan(Table::BySync, Bound::Unbounded, Bound::Unbounded, true, &mut |k, _| {
                let key = <[u8; 36]>::try_from(k)
                    .map_err(|_| self.corrupt(format!("by_sync key of {} bytes", k.len())))?;
                last = Some(SyncKey::from_bytes(&key));
                Ok(false)
            })?;
            Ok(last)
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
                self.inner.backend_mut().set_write_mode(mode)
            }
            fn flush(&mut self) -> Result<(), $crate::GraphError> {
                self.inner.backend_mut().flush()
            }
        }
    };
}
pub(crate) use delegate_record_store;
