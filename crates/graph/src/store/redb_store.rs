//! [`RedbStore`]: the default on-disk record store, on redb 4.x (one file).
//!
//! Each table of the layout (`proto-specs/graph.md` §5) is a redb table with `&[u8]` keys and
//! values. In [`WriteMode::Durable`] (the default) every write transaction commits with
//! `Durability::Immediate` and two-phase commit (`Durability::None` commits are lost on a
//! crash, and two-phase commit protects against a crash during repair), so an
//! `apply`/`apply_batch` that returns `Ok` survives `kill -9`. Batch records (one
//! `apply_batch` per flooded batch): a commit costs an fsync.
//!
//! In [`WriteMode::Deferred`] the writes of many calls share one open redb write
//! transaction ([`MAX_PENDING_WRITES`] calls at most), which reads also go through, so
//! they see every write at once; it is committed by the next durable write or
//! [`flush`](crate::store::RecordStore::flush) (one fsync for all of them). A commit per
//! received record cost more than verifying its signature; sharing it is what lets a
//! receiver store records at the rate it verifies them.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
};

use crate::error::GraphError;
use crate::record::RecordLimits;
use crate::store::WriteMode;
use crate::store::kv::{KvBackend, KvRead, KvStore, KvWrite, Table, Visitor};

type Bytes = &'static [u8];

fn def(t: Table) -> TableDefinition<'static, Bytes, Bytes> {
    TableDefinition::new(t.name())
}

/// Maps a redb error: corruption (and an unreadable format) is [`GraphError::CorruptStore`],
/// anything else [`GraphError::Storage`]; both name the file.
fn map_err<E: Into<redb::Error>>(
    path: &Path,
    operation: &'static str,
) -> impl FnOnce(E) -> GraphError {
    move |e| match e.into() {
        redb::Error::Corrupted(reason) => {
            GraphError::CorruptStore { path: path.to_path_buf(), reason }
        }
        redb::Error::DatabaseAlreadyOpen => GraphError::StoreInUse { path: path.to_path_buf() },
        redb::Error::UpgradeRequired(v) => GraphError::CorruptStore {
            path: path.to_path_buf(),
            reason: format!("redb file format {v} needs an upgrade this program does not do"),
        },
        other => {
            GraphError::Storage { path: path.to_path_buf(), operation, reason: other.to_string() }
        }
    }
}

pub(crate) struct RedbBackend {
    db: Database,
    path: PathBuf,
    /// Set once redb panicked: its state is no longer trusted.
    poisoned: AtomicBool,
    /// How the next writes commit.
    mode: WriteMode,
    /// Deferred commits not yet followed by a durable one.
    dirty: bool,
    /// The open transaction of deferred writes (none in durable mode).
    pending: Option<redb::WriteTransaction>,
    /// Write calls in `pending`.
    pending_writes: usize,
}

/// Deferred write calls that share one transaction before it is committed (without an
/// fsync) and a new one begun: bounds the memory an open transaction holds.
pub(crate) const MAX_PENDING_WRITES: usize = 8_192;

/// Runs redb code, turning a panic into [`GraphError::CorruptStore`].
///
/// redb 4.6 can panic on a damaged file (an out-of-range slice index on a corrupt page;
/// in debug builds also its "unreachable" assertions, which release builds return as
/// `Corrupted`). Data from disk must never panic the process, so every call into redb runs
/// under `catch_unwind`. (With `panic = "abort"` this net is gone; the integrity check at
/// open still catches most damage.)
fn contain_panic<R>(
    path: &Path,
    f: impl FnOnce() -> Result<R, GraphError>,
) -> Result<R, GraphError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        Err(GraphError::CorruptStore {
            path: path.to_path_buf(),
            reason: format!("the storage engine failed on damaged data ({what})"),
        })
    })
}

impl RedbBackend {
    /// Runs `f` under [`contain_panic`]; after a panic the handle refuses every operation.
    fn guarded<R>(&self, f: impl FnOnce() -> Result<R, GraphError>) -> Result<R, GraphError> {
        if self.poisoned.load(Ordering::Relaxed) {
            return Err(GraphError::CorruptStore {
                path: self.path.clone(),
                reason: "the storage engine failed on damaged data earlier; reopen the store"
                    .into(),
            });
        }
        let mut completed = false;
        let r = contain_panic(&self.path, || {
            let r = f();
            completed = true;
            r
        });
        if !completed {
            self.poisoned.store(true, Ordering::Relaxed);
        }
        r
    }
}

impl std::fmt::Debug for RedbBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbBackend").field("path", &self.path).finish_non_exhaustive()
    }
}

/// A get on an open table (of a read or a write transaction).
fn table_get<T: ReadableTable<Bytes, Bytes>>(
    t: &T,
    key: &[u8],
    path: &Path,
) -> Result<Option<Vec<u8>>, GraphError> {
    let v = t.get(key).map_err(map_err(path, "read"))?;
    Ok(v.map(|g| g.value().to_vec()))
}

/// A range scan on an open table (of a read or a write transaction).
fn table_scan<T: ReadableTable<Bytes, Bytes>>(
    t: &T,
    range: (Bound<&[u8]>, Bound<&[u8]>),
    reverse: bool,
    visit: &mut Visitor<'_>,
    path: &Path,
) -> Result<(), GraphError> {
    let range = t.range::<&[u8]>(range).map_err(map_err(path, "scan"))?;
    let mut step = |item: Result<
        (redb::AccessGuard<'_, Bytes>, redb::AccessGuard<'_, Bytes>),
        redb::StorageError,
    >| {
        let (k, v) = item.map_err(map_err(path, "scan"))?;
        visit(k.value(), v.value())
    };
    if reverse {
        for item in range.rev() {
            if !step(item)? {
                break;
            }
        }
    } else {
        for item in range {
            if !step(item)? {
                break;
            }
        }
    }
    Ok(())
}

struct RedbRead<'a> {
    txn: redb::ReadTransaction,
    path: &'a Path,
}

impl KvRead for RedbRead<'_> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, GraphError> {
        let t = self.txn.open_table(def(table)).map_err(map_err(self.path, "open table"))?;
        table_get(&t, key, self.path)
    }

    fn scan(
        &self,
        table: Table,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        reverse: bool,
        visit: &mut Visitor<'_>,
    ) -> Result<(), GraphError> {
        let t = self.txn.open_table(def(table)).map_err(map_err(self.path, "open table"))?;
        table_scan(&t, (lower, upper), reverse, visit, self.path)
    }

    fn count(&self, table: Table) -> Result<u64, GraphError> {
        let t = self.txn.open_table(def(table)).map_err(map_err(self.path, "open table"))?;
        t.len().map_err(map_err(self.path, "count"))
    }
}

/// Reads through the open transaction of deferred writes, so they see those writes.
struct RedbPendingRead<'a> {
    txn: &'a redb::WriteTransaction,
    path: &'a Path,
}

impl KvRead for RedbPendingRead<'_> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, GraphError> {
        let t = self.txn.open_table(def(table)).map_err(map_err(self.path, "open table"))?;
        table_get(&t, key, self.path)
    }

    fn scan(
        &self,
        table: Table,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        reverse: bool,
        visit: &mut Visitor<'_>,
    ) -> Result<(), GraphError> {
        let t = self.txn.open_table(def(table)).map_err(map_err(self.path, "open table"))?;
        table_scan(&t, (lower, upper), reverse, visit, self.path)
    }

    fn count(&self, table: Table) -> Result<u64, GraphError> {
        let t = self.txn.open_table(def(table)).map_err(map_err(self.path, "open table"))?;
        t.len().map_err(map_err(self.path, "count"))
    }
}

struct RedbWrite<'t> {
    // In `Table::ALL` order.
    tables: Vec<redb::Table<'t, Bytes, Bytes>>,
    path: &'t Path,
}

impl<'t> RedbWrite<'t> {
    fn table(&mut self, t: Table) -> Result<&mut redb::Table<'t, Bytes, Bytes>, GraphError> {
        let i = Table::ALL.iter().position(|x| *x == t).unwrap_or(usize::MAX);
        // Invariant: every table of Table::ALL was opened in `write`.
        let path = self.path;
        self.tables.get_mut(i).ok_or_else(|| GraphError::Storage {
            path: path.to_path_buf(),
            operation: "open table",
            reason: format!("table {} not open", t.name()),
        })
    }
}

impl KvWrite for RedbWrite<'_> {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, GraphError> {
        let path = self.path;
        let t = self.table(table)?;
        let v = t.get(key).map_err(map_err(path, "read"))?;
        Ok(v.map(|g| g.value().to_vec()))
    }

    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), GraphError> {
        let path = self.path;
        let t = self.table(table)?;
        t.insert(key, value).map_err(map_err(path, "write"))?;
        Ok(())
    }

    fn remove(&mut self, table: Table, key: &[u8]) -> Result<(), GraphError> {
        let path = self.path;
        let t = self.table(table)?;
        t.remove(key).map_err(map_err(path, "write"))?;
        Ok(())
    }
}

impl KvBackend for RedbBackend {
    fn path(&self) -> &Path {
        &self.path
    }

    fn read<R>(
        &self,
        f: impl FnOnce(&dyn KvRead) -> Result<R, GraphError>,
    ) -> Result<R, GraphError> {
        self.guarded(|| match &self.pending {
            Some(txn) => f(&RedbPendingRead { txn, path: &self.path }),
            None => {
                let txn = self.db.begin_read().map_err(map_err(&self.path, "begin read"))?;
                f(&RedbRead { txn, path: &self.path })
            }
        })
    }

    fn write<R>(
        &mut self,
        f: impl FnOnce(&mut dyn KvWrite) -> Result<R, GraphError>,
    ) -> Result<R, GraphError> {
        let path = self.path.as_path();
        let db = &self.db;
        let mode = self.mode;
        let mut pending = self.pending.take();
        let pending_writes = self.pending_writes + 1;
        let run = || {
            let mut txn = match pending.take() {
                Some(txn) => txn,
                None => {
                    let mut txn = db.begin_write().map_err(map_err(path, "begin write"))?;
                    txn.set_two_phase_commit(true);
                    txn
                }
            };
            let result = {
                let mut tables = Vec::with_capacity(Table::ALL.len());
                for t in Table::ALL {
                    tables.push(txn.open_table(def(t)).map_err(map_err(path, "open table"))?);
                }
                let mut w = RedbWrite { tables, path };
                f(&mut w)
            };
            match result {
                Ok(v) => match mode {
                    WriteMode::Deferred if pending_writes < MAX_PENDING_WRITES => {
                        Ok((v, Some(txn)))
                    }
                    WriteMode::Deferred | WriteMode::Durable => {
                        let durability = match mode {
                            WriteMode::Durable => Durability::Immediate,
                            WriteMode::Deferred => Durability::None,
                        };
                        txn.set_durability(durability).map_err(map_err(path, "set durability"))?;
                        txn.commit().map_err(map_err(path, "commit"))?;
                        Ok((v, None))
                    }
                },
                Err(e) => {
                    // Nothing of the failed transaction is kept (in deferred mode, neither
                    // are the deferred writes before it in the same transaction: like a
                    // crash, they can be synchronised again); an abort error adds nothing.
                    let _ = txn.abort();
                    Err(e)
                }
            }
        };
        let r = self.guarded(run);
        match r {
            Ok((v, still_pending)) => {
                self.pending_writes = if still_pending.is_some() { pending_writes } else { 0 };
                if still_pending.is_none() {
                    // a durable commit also makes the deferred ones before it durable
                    self.dirty = mode == WriteMode::Deferred;
                }
                self.pending = still_pending;
                Ok(v)
            }
            Err(e) => {
                self.pending_writes = 0;
                Err(e)
            }
        }
    }

    fn set_write_mode(&mut self, mode: WriteMode) {
        self.mode = mode;
    }

    fn flush(&mut self) -> Result<(), GraphError> {
        let pending = self.pending.take();
        self.pending_writes = 0;
        if !self.dirty && pending.is_none() {
            return Ok(());
        }
        let path = self.path.as_path();
        let db = &self.db;
        // The open transaction of deferred writes, or an empty one, committed with
        // `Durability::Immediate`: it persists every `Durability::None` commit before it
        // (redb's persistence rule).
        self.guarded(|| {
            let mut txn = match pending {
                Some(txn) => txn,
                None => {
                    let mut txn = db.begin_write().map_err(map_err(path, "begin write"))?;
                    txn.set_two_phase_commit(true);
                    txn
                }
            };
            txn.set_durability(Durability::Immediate).map_err(map_err(path, "set durability"))?;
            txn.commit().map_err(map_err(path, "flush"))
        })?;
        self.dirty = false;
        Ok(())
    }
}

impl Drop for RedbBackend {
    fn drop(&mut self) {
        // Deferred writes not yet committed: keep them, as a flush would.
        if self.pending.is_some() {
            let _ = KvBackend::flush(self);
        }
    }
}

/// The page cache of a [`RedbStore`] unless told otherwise: 64 MiB (a store of 100,000
/// records of 300 bytes, with its indexes, fits).
pub const DEFAULT_CACHE_BYTES: usize = 64 << 20;

/// The default on-disk record store: one redb 4.x file.
///
/// Each table of the layout (`proto-specs/graph.md` §5) is a redb table of opaque bytes.
/// Every write is one transaction committed with `Durability::Immediate` and two-phase
/// commit, so an `apply`/`apply_batch` that returns `Ok` survives `kill -9`
/// (`tests/it/store_crash.rs`). A commit costs an fsync: apply records in batches. Opening
/// checks every page checksum (about 30 ms per 100,000 records here), and a panic inside
/// redb on damaged data is turned into [`GraphError::CorruptStore`].
///
/// ```
/// use peergroup_graph::record::RecordLimits;
/// use peergroup_graph::store::{RecordStore, RedbStore};
/// let dir = tempfile::tempdir()?;
/// let store = RedbStore::open(dir.path().join("records.redb"), RecordLimits::default())?;
/// assert_eq!(store.len()?, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RedbStore {
    inner: KvStore<RedbBackend>,
}

impl RedbStore {
    /// Opens the store in `path`, creating the file if it does not exist. A file that is
    /// not a record store, or is damaged, gives [`GraphError::CorruptStore`] naming it. The
    /// file stays locked while the store is open: opening it again, from another process or
    /// this one, gives [`GraphError::StoreInUse`] (on Linux, macOS and Windows alike).
    pub fn open(path: impl AsRef<Path>, limits: RecordLimits) -> Result<Self, GraphError> {
        Self::open_with_cache(path, limits, DEFAULT_CACHE_BYTES)
    }

    /// [`open`](RedbStore::open) with redb's page cache bounded to `cache_bytes` (the
    /// default, [`DEFAULT_CACHE_BYTES`], is 64 MiB; redb's own would be 1 GiB). The cache
    /// fills as pages are read; a bigger one serves a bigger store from memory.
    pub fn open_with_cache(
        path: impl AsRef<Path>,
        limits: RecordLimits,
        cache_bytes: usize,
    ) -> Result<Self, GraphError> {
        let path = path.as_ref().to_path_buf();
        let db = contain_panic(&path, || {
            let mut db = Database::builder()
                .set_cache_size(cache_bytes)
                .create(&path)
                .map_err(map_err(&path, "open"))?;
            // redb verifies page checksums only when it repairs after a crash; check every
            // page now, so damage is reported here rather than met later as wrong data.
            if !db.check_integrity().map_err(map_err(&path, "check"))? {
                return Err(GraphError::CorruptStore {
                    path: path.clone(),
                    reason: "the file was damaged; redb repaired it, possibly rolling back \
                             recent commits (opening it again uses the repaired file)"
                        .into(),
                });
            }
            Ok(db)
        })?;
        let backend = RedbBackend {
            db,
            path,
            poisoned: AtomicBool::new(false),
            mode: WriteMode::Durable,
            dirty: false,
            pending: None,
            pending_writes: 0,
        };
        Ok(RedbStore { inner: KvStore::open(backend, limits)? })
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        self.inner.backend().path()
    }
}

crate::store::kv::delegate_record_store!(RedbStore);
