//! [`MemStore`]: the in-memory record store of tests and the simulator.

use std::collections::{BTreeMap, BTreeSet};

use peergroup_base::{PeerName, UnixTime};

use crate::error::GraphError;
use crate::id::{RecordId, RecordType};
use crate::record::{Record, RecordLimits, SyncKey};
use crate::store::{ApplyOutcome, RecordFilter, RecordStore, SyncEntry, SyncRange, decide};

/// A record store in memory: ordered maps for the records and each index. Records share
/// their contents with the caller (cloning a [`Record`] is cheap), so thousands of
/// simulated replicas of one record cost little memory.
#[derive(Debug, Clone, Default)]
pub struct MemStore {
    limits: RecordLimits,
    records: BTreeMap<RecordId, Record>,
    by_sync: BTreeSet<SyncKey>,
    by_type: BTreeSet<(RecordType, RecordId)>,
    by_creator: BTreeSet<(PeerName, RecordId)>,
    by_expiry: BTreeSet<(UnixTime, RecordId)>,
}

impl MemStore {
    /// An empty store with these limits.
    pub fn new(limits: RecordLimits) -> Self {
        MemStore { limits, ..Default::default() }
    }

    fn index(&mut self, r: &Record) {
        self.by_sync.insert(r.sync_key());
        self.by_type.insert((r.record_type(), r.id()));
        self.by_creator.insert((r.creator().clone(), r.id()));
        self.by_expiry.insert((r.expires(), r.id()));
    }

    fn unindex(&mut self, r: &Record) {
        self.by_sync.remove(&r.sync_key());
        self.by_type.remove(&(r.record_type(), r.id()));
        self.by_creator.remove(&(r.creator().clone(), r.id()));
        self.by_expiry.remove(&(r.expires(), r.id()));
    }

    fn live(&self, id: &RecordId, now: UnixTime) -> Option<&Record> {
        self.records.get(id).filter(|r| !r.is_expired(now) && !r.is_deleted())
    }

    fn sync_keys<'a>(
        &'a self,
        range: &SyncRange,
        now: UnixTime,
    ) -> impl Iterator<Item = &'a Record> + 'a {
        // BTreeSet::range panics on an empty (inverted) range.
        let bounds = if range.is_empty() {
            (std::ops::Bound::Excluded(SyncKey::MAX), std::ops::Bound::Unbounded)
        } else {
            (range.start, range.end)
        };
        self.by_sync
            .range(bounds)
            .filter_map(|k| self.records.get(&k.id))
            .filter(move |r| !r.is_expired(now))
    }
}

const ID_MIN: RecordId = RecordId::NIL;
const ID_MAX: RecordId = RecordId::from_bytes([0xff; 16]);

impl RecordStore for MemStore {
    fn limits(&self) -> &RecordLimits {
        &self.limits
    }

    fn apply_batch(
        &mut self,
        records: &[Record],
        now: UnixTime,
    ) -> Result<Vec<ApplyOutcome>, GraphError> {
        let mut outcomes = Vec::with_capacity(records.len());
        for r in records {
            let existing = self.records.get(&r.id()).cloned();
            let outcome = decide(existing.as_ref(), r, &self.limits, now);
            if outcome.is_stored() {
                if let Some(e) = &existing {
                    self.unindex(e);
                }
                self.index(r);
                self.records.insert(r.id(), r.clone());
            }
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }

    fn get(&self, id: &RecordId, now: UnixTime) -> Result<Option<Record>, GraphError> {
        Ok(self.records.get(id).filter(|r| !r.is_expired(now)).cloned())
    }

    fn enumerate(&self, filter: &RecordFilter, now: UnixTime) -> Result<Vec<Record>, GraphError> {
        Ok(match filter {
            RecordFilter::All => self
                .records
                .values()
                .filter(|r| !r.is_expired(now) && !r.is_deleted())
                .cloned()
                .collect(),
            RecordFilter::Type(t) => self
                .by_type
                .range((*t, ID_MIN)..=(*t, ID_MAX))
                .filter_map(|(_, id)| self.live(id, now).cloned())
                .collect(),
            RecordFilter::Creator(c) => self
                .by_creator
                .range((c.clone(), ID_MIN)..=(c.clone(), ID_MAX))
                .filter_map(|(_, id)| self.live(id, now).cloned())
                .collect(),
        })
    }

    fn sync_entries(
        &self,
        range: &SyncRange,
        limit: usize,
        now: UnixTime,
    ) -> Result<Vec<SyncEntry>, GraphError> {
        Ok(self
            .sync_keys(range, now)
            .take(limit)
            .map(|r| SyncEntry { key: r.sync_key(), digest: r.digest(), expires: r.expires() })
            .collect())
    }

    fn sync_records(
        &self,
        range: &SyncRange,
        limit: usize,
        now: UnixTime,
    ) -> Result<Vec<Record>, GraphError> {
        Ok(self.sync_keys(range, now).take(limit).cloned().collect())
    }

    fn len(&self) -> Result<u64, GraphError> {
        Ok(self.records.len() as u64)
    }

    fn purge_expired(&mut self, now: UnixTime) -> Result<Vec<Record>, GraphError> {
        let due: Vec<RecordId> =
            self.by_expiry.range(..=(now, ID_MAX)).map(|(_, id)| *id).collect();
        let mut purged = Vec::with_capacity(due.len());
        for id in due {
            if let Some(r) = self.records.remove(&id) {
                self.unindex(&r);
                purged.push(r);
            }
        }
        Ok(purged)
    }

    fn remove(&mut self, ids: &[RecordId]) -> Result<Vec<Record>, GraphError> {
        let mut removed = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(r) = self.records.remove(id) {
                self.unindex(&r);
                removed.push(r);
            }
        }
        Ok(removed)
    }

    fn next_expiry(&self) -> Result<Option<UnixTime>, GraphError> {
        Ok(self.by_expiry.first().map(|(t, _)| *t))
    }

    fn last_sync_key(&self) -> Result<Option<SyncKey>, GraphError> {
        Ok(self.by_sync.last().copied())
    }
}
