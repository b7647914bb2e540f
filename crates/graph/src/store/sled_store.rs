//! [`SledStore`]: the sled 0.34 record store (feature `sled`; one directory).
//!
//! sled's atomic multi-key write is `apply_batch` on one tree, so the whole layout
//! (`proto-specs/graph.md` §5) lives in the default tree with the table as a one-byte key
//! prefix. A write transaction collects its writes in memory (its reads see them), then
//! applies them as one batch and calls `flush` before returning: an
//! `apply`/`apply_batch` that returns `Ok` survives `kill -9`.
//!
//! sled's last stable release is from 2021 and its on-disk format is not frozen
//! (`reference/deps-notes.md` §3.3); [`RedbStore`](crate::store::RedbStore) is the default.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use crate::error::GraphError;
use crate::record::RecordLimits;
use crate::store::WriteMode;
use crate::store::kv::{KvBackend, KvRead, KvStore, KvWrite, Table, Visitor};

fn map_err(path: &Path, operation: &'static str) -> impl FnOnce(sled::Error) -> GraphError {
    move |e| match e {
        sled::Error::Corruption { .. } => {
            GraphError::CorruptStore { path: path.to_path_buf(), reason: e.to_string() }
        }
        other => {
            GraphError::Storage { path: path.to_path_buf(), operation, reason: other.to_string() }
        }
    }
}

fn prefixed(table: Table, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + key.len());
    k.push(table.prefix());
    k.extend_from_slice(key);
    k
}

/// The bounds of a table's keys in the shared tree.
fn tree_bounds(
    table: Table,
    lower: Bound<&[u8]>,
    upper: Bound<&[u8]>,
) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let lo = match lower {
        Bound::Included(k) => Bound::Included(prefixed(table, k)),
        Bound::Excluded(k) => Bound::Excluded(prefixed(table, k)),
        Bound::Unbounded => Bound::Included(vec![table.prefix()]),
    };
    let hi = match upper {
        Bound::Included(k) => Bound::Included(prefixed(table, k)),
        Bound::Excluded(k) => Bound::Excluded(prefixed(table, k)),
        Bound::Unbounded => Bound::Excluded(vec![table.prefix() + 1]),
    };
    (lo, hi)
}

pub(crate) struct SledBackend {
    db: sled::Db,
    path: PathBuf,
    /// How the next writes commit.
    mode: WriteMode,
    /// Writes not yet flushed.
    dirty: bool,
}

impl std::fmt::Debug for SledBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledBackend").field("path", &self.path).finish_non_exhaustive()
    }
}

struct SledRead<'a> {
    db: &'a sled::Db,
    path: &'a Path,
}

impl KvRead for SledRead<'_> {
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, GraphError> {
        let v = self.db.get(prefixed(table, key)).map_err(map_err(self.path, "read"))?;
        Ok(v.map(|v| v.to_vec()))
    }

    fn scan(
        &self,
        table: Table,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        reverse: bool,
        visit: &mut Visitor<'_>,
    ) -> Result<(), GraphError> {
        let (lo, hi) = tree_bounds(table, lower, upper);
        if range_is_empty(&lo, &hi) {
            return Ok(());
        }
        let iter = self.db.range::<Vec<u8>, _>((lo, hi));
        let mut step = |item: sled::Result<(sled::IVec, sled::IVec)>| {
            let (k, v) = item.map_err(map_err(self.path, "scan"))?;
            // Every key in the range starts with the table prefix.
            visit(k.get(1..).unwrap_or_default(), &v)
        };
        if reverse {
            for item in iter.rev() {
                if !step(item)? {
                    break;
                }
            }
        } else {
            for item in iter {
                if !step(item)? {
                    break;
                }
            }
        }
        Ok(())
    }

    fn count(&self, table: Table) -> Result<u64, GraphError> {
        let mut n = 0u64;
        for item in self.db.scan_prefix([table.prefix()]) {
            item.map_err(map_err(self.path, "count"))?;
            n += 1;
        }
        Ok(n)
    }
}

/// `true` if a range has no keys (sled's `range` panics on such a range).
fn range_is_empty(lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    match (lo, hi) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Excluded(b))
        | (Bound::Excluded(a), Bound::Included(b)) => a >= b,
        _ => false,
    }
}

struct SledWrite<'a> {
    db: &'a sled::Db,
    path: &'a Path,
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl KvWrite for SledWrite<'_> {
    fn get(&mut self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, GraphError> {
        let k = prefixed(table, key);
        if let Some(v) = self.pending.get(&k) {
            return Ok(v.clone());
        }
        let v = self.db.get(k).map_err(map_err(self.path, "read"))?;
        Ok(v.map(|v| v.to_vec()))
    }

    fn put(&mut self, table: Table, key: &[u8], value: &[u8]) -> Result<(), GraphError> {
        self.pending.insert(prefixed(table, key), Some(value.to_vec()));
        Ok(())
    }

    fn remove(&mut self, table: Table, key: &[u8]) -> Result<(), GraphError> {
        self.pending.insert(prefixed(table, key), None);
        Ok(())
    }
}

impl KvBackend for SledBackend {
    fn path(&self) -> &Path {
        &self.path
    }

    fn read<R>(
        &self,
        f: impl FnOnce(&dyn KvRead) -> Result<R, GraphError>,
    ) -> Result<R, GraphError> {
        f(&SledRead { db: &self.db, path: &self.path })
    }

    fn write<R>(
        &mut self,
        f: impl FnOnce(&mut dyn KvWrite) -> Result<R, GraphError>,
    ) -> Result<R, GraphError> {
        let mut w = SledWrite { db: &self.db, path: &self.path, pending: BTreeMap::new() };
        let out = f(&mut w)?;
        if w.pending.is_empty() {
            return Ok(out);
        }
        let mut batch = sled::Batch::default();
        for (k, v) in w.pending {
            match v {
                Some(v) => batch.insert(k, v),
                None => batch.remove(k),
            }
        }
        self.db.apply_batch(batch).map_err(map_err(&self.path, "write"))?;
        match self.mode {
            WriteMode::Durable => {
                self.db.flush().map_err(map_err(&self.path, "flush"))?;
                self.dirty = false;
            }
            WriteMode::Deferred => self.dirty = true,
        }
        Ok(out)
    }

    fn set_write_mode(&mut self, mode: WriteMode) {
        self.mode = mode;
    }

    fn flush(&mut self) -> Result<(), GraphError> {
        if self.dirty {
            self.db.flush().map_err(map_err(&self.path, "flush"))?;
            self.dirty = false;
        }
        Ok(())
    }
}

/// The sled 0.34 record store (feature `sled`): one directory, one tree, the table as a
/// one-byte key prefix (`proto-specs/graph.md` §5). A write is one `apply_batch` followed
/// by `flush`, so an `apply`/`apply_batch` that returns `Ok` survives `kill -9`.
///
/// sled's last stable release is from 2021 and its on-disk format is not frozen;
/// [`RedbStore`](crate::store::RedbStore) is the default.
#[derive(Debug)]
pub struct SledStore {
    inner: KvStore<SledBackend>,
}

impl SledStore {
    /// Opens the store in directory `path`, creating it if it does not exist. Damaged
    /// files give [`GraphError::CorruptStore`] naming the directory.
    pub fn open(path: impl AsRef<Path>, limits: RecordLimits) -> Result<Self, GraphError> {
        let path = path.as_ref().to_path_buf();
        let db = sled::Config::new().path(&path).open().map_err(map_err(&path, "open"))?;
        let backend = SledBackend { db, path, mode: WriteMode::Durable, dirty: false };
        Ok(SledStore { inner: KvStore::open(backend, limits)? })
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        self.inner.backend().path()
    }
}

crate::store::kv::delegate_record_store!(SledStore);
