//! Pages of [`RecordStore::enumerate`](super::RecordStore::enumerate) for the key-value
//! stores: a scan that starts after a record id and stops after `limit` records, so that
//! listing a large replica never holds the store (and the node that owns it) for longer
//! than one page takes.

use std::ops::Bound;

use peergroup_base::UnixTime;

use super::RecordFilter;
use super::kv::{KvBackend, KvRead, KvStore, Table, creator_hash, enumerated};
use crate::GraphError;
use crate::id::RecordId;
use crate::record::Record;

impl<B: KvBackend> KvStore<B> {
    /// Up to `limit` live records matching `filter` with ids after `after`, in id order
    /// (see [`RecordStore::enumerate_page`](super::RecordStore::enumerate_page)).
    pub(crate) fn enumerate_page_kv(
        &self,
        filter: &RecordFilter,
        after: Option<&RecordId>,
        limit: usize,
        now: UnixTime,
    ) -> Result<Vec<Record>, GraphError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // The backend's first `limit` that no staged record overrides, then the staged
        // ones after `after`: the page is the first `limit` of the two merged.
        let staged = &self.staged;
        let keep = |r: &Record| enumerated(filter, r, now) && !staged.contains_key(&r.id());
        let mut out = self.backend.read(|r| match filter {
            RecordFilter::All => self.page_of_records(r, after, limit, &keep),
            RecordFilter::Type(t) => {
                self.page_by_index(r, Table::ByType, t.as_bytes(), after, limit, &keep)
            }
            RecordFilter::Creator(c) => {
                // The index holds a hash of the name; `enumerated` removes collisions.
                self.page_by_index(r, Table::ByCreator, &creator_hash(c), after, limit, &keep)
            }
        })?;
        if !staged.is_empty() {
            out.extend(
                staged
                    .values()
                    .map(|s| &s.record)
                    .filter(|r| after.is_none_or(|a| r.id() > *a) && enumerated(filter, r, now))
                    .cloned(),
            );
            out.sort_unstable_by_key(|r| r.id());
            out.truncate(limit);
        }
        Ok(out)
    }

    /// The records table from after `after`, stopping at `limit` kept records.
    fn page_of_records(
        &self,
        r: &dyn KvRead,
        after: Option<&RecordId>,
        limit: usize,
        keep: &dyn Fn(&Record) -> bool,
    ) -> Result<Vec<Record>, GraphError> {
        let lower = after.map(|a| *a.as_bytes());
        let lower = lower.as_ref().map_or(Bound::Unbounded, |k| Bound::Excluded(&k[..]));
        let mut out = Vec::new();
        let mut err = None;
        r.scan(Table::Records, lower, Bound::Unbounded, false, &mut |k, v| match self
            .decode_stored(k, v)
        {
            Ok(rec) => {
                if keep(&rec) {
                    out.push(rec);
                }
                Ok(out.len() < limit)
            }
            Err(e) => {
                err = Some(e);
                Ok(false)
            }
        })?;
        err.map_or(Ok(out), Err)
    }

    /// An index (`prefix ‖ id` keys) from after `prefix ‖ after`, reading each record,
    /// stopping at `limit` kept records.
    fn page_by_index(
        &self,
        r: &dyn KvRead,
        table: Table,
        prefix: &[u8; 16],
        after: Option<&RecordId>,
        limit: usize,
        keep: &dyn Fn(&Record) -> bool,
    ) -> Result<Vec<Record>, GraphError> {
        let mut lower = [0u8; 32];
        lower[..16].copy_from_slice(prefix);
        let mut upper = [0xffu8; 32];
        upper[..16].copy_from_slice(prefix);
        let lower = match after {
            Some(a) => {
                lower[16..].copy_from_slice(a.as_bytes());
                Bound::Excluded(&lower[..])
            }
            None => Bound::Included(&lower[..]),
        };
        let mut out = Vec::new();
        let mut err = None;
        r.scan(table, lower, Bound::Included(&upper[..]), false, &mut |k, _| {
            let id = match <[u8; 16]>::try_from(k.get(16..).unwrap_or_default()) {
                Ok(id) => RecordId::from_bytes(id),
                Err(_) => {
                    err = Some(self.corrupt(format!("{} key of {} bytes", table.name(), k.len())));
                    return Ok(false);
                }
            };
            match self.read_record(r, &id) {
                Ok(Some(rec)) if keep(&rec) => out.push(rec),
                Ok(_) => {}
                Err(e) => {
                    err = Some(e);
                    return Ok(false);
                }
            }
            Ok(out.len() < limit)
        })?;
        err.map_or(Ok(out), Err)
    }
}
