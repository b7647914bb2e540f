//! Records written locally, deferred records, and expiry.

use std::collections::BTreeMap;

use peergroup_base::{Instant, Now, PeerAddr, UnixTime};

use crate::error::GraphError;
use crate::id::RecordId;
use crate::proto::api::{
    Event, NewRecord, RecordChange, RecordSource, RecordUpdate, Timer, TimerKind,
};
use crate::proto::error::ProtoError;
use crate::proto::flood::Verdict;
use crate::proto::node::{GraphNode, Out};
use crate::proto::presence::PRESENCE_TYPE;
use crate::proto::security::{ProviderContext, SecurityProvider, StoreView, Validation};
use crate::record::{Record, RecordBuilder};
use crate::store::{ApplyOutcome, RecordStore};

/// A record the provider deferred.
#[derive(Debug, Clone)]
pub(crate) struct Deferred {
    pub(crate) record: Record,
    pub(crate) from: Option<PeerAddr>,
}

/// The node's record bookkeeping: records the provider deferred, and the expiry timer.
#[derive(Debug, Default)]
pub(crate) struct RecordsState {
    pub(crate) deferred: BTreeMap<RecordId, Deferred>,
    /// The provider asked for the deferred records to be validated again (done at the
    /// end of the current input, never recursively).
    pub(crate) retry_requested: bool,
    /// Generation of the expiry timer: only the latest one purges.
    pub(crate) expiry_generation: u64,
    /// When the expiry timer fires.
    pub(crate) expiry_at: Option<UnixTime>,
}

impl RecordsState {
    /// Arms the purge timer for the store's next expiry.
    pub(crate) fn arm_expiry(&mut self, store: &impl RecordStore, now: Now, out: &mut Out) {
        self.expiry_at = None;
        if let Ok(Some(next)) = store.next_expiry() {
            self.note_expiry(now, next, out);
        }
    }

    /// A record expiring at `t` is stored: make sure the purge runs by then.
    pub(crate) fn note_expiry(&mut self, now: Now, t: UnixTime, out: &mut Out) {
        if self.expiry_at.is_some_and(|at| at <= t) {
            return;
        }
        let t = t.max(now.unix.saturating_add(MIN_PURGE_GAP));
        self.expiry_at = Some(t);
        self.expiry_generation += 1;
        let generation = self.expiry_generation;
        out.set_timer(instant_of(now, t), Timer(TimerKind::Expiry { generation }));
    }
}

/// The instant at which the wall clock reads `t` (assuming it runs with the monotonic
/// clock).
fn instant_of(now: Now, t: UnixTime) -> Instant {
    now.instant + t.saturating_since(now.unix)
}

/// The expiry purge runs at least this long after the previous one ([MS-PPGRH] 3.1.6.7
/// clamps its scan to at least 15 s; 1 s keeps expiry events close to the expiry time).
const MIN_PURGE_GAP: std::time::Duration = std::time::Duration::from_secs(1);

impl<S: RecordStore, P: SecurityProvider> GraphNode<S, P> {
    /// Adds the provider's security data to a record this node wrote.
    pub(crate) fn sign(&mut self, now: Now, record: Record) -> Result<Record, ProtoError> {
        let view = StoreView { store: &self.store, now: now.unix };
        let cx = ProviderContext { graph: &self.graph, now: now.unix, records: &view };
        let security = self
            .provider
            .secure(&cx, &record)
            .map_err(|e| ProtoError::SigningFailed { id: record.id(), reason: e.reason })?;
        if security.is_empty() {
            return Ok(record);
        }
        Ok(record.with_security_data(&security, self.store.limits())?)
    }

    /// Stores and floods a record this node wrote (already checked against the store's
    /// rules by the caller's `add`/`update`).
    fn publish_local(&mut self, now: Now, record: &Record, outcome: ApplyOutcome, out: &mut Out) {
        self.on_stored(now, record, outcome, RecordSource::Local, out);
        self.publish_flood(now, record, out);
    }

    /// The unsigned record of `spec`, created now.
    fn build_local(&mut self, now: Now, spec: NewRecord) -> Result<Record, ProtoError> {
        let created = self.hlc.now(now.unix);
        let expires = now.unix.saturating_add(spec.lifetime);
        let mut b =
            RecordBuilder::new(spec.record_type, spec.id, self.name.clone(), created, expires)
                .payload(spec.payload);
        for (name, value) in spec.attributes {
            b = b.attribute(&name, value);
        }
        Ok(b.build(self.store.limits())?)
    }

    pub(crate) fn add_local(
        &mut self,
        now: Now,
        spec: NewRecord,
        out: &mut Out,
    ) -> Result<(), ProtoError> {
        let record = self.build_local(now, spec)?;
        let record = self.sign(now, record)?;
        self.store.add(&record, now.unix)?;
        self.publish_local(now, &record, ApplyOutcome::Added, out);
        Ok(())
    }

    /// [`add_local`](Self::add_local) for each of `specs` in order, the signatures made
    /// together ([`SecurityProvider::secure_batch`]); stops at the first failure.
    pub(crate) fn add_local_batch(
        &mut self,
        now: Now,
        specs: Vec<NewRecord>,
        out: &mut Out,
    ) -> Result<(), ProtoError> {
        let mut records = Vec::with_capacity(specs.len());
        let mut failed = None;
        for spec in specs {
            match self.build_local(now, spec) {
                Ok(r) => records.push(r),
                Err(e) => {
                    // the ones before it are still added, as one by one
                    failed = Some(e);
                    break;
                }
            }
        }
        let view = StoreView { store: &self.store, now: now.unix };
        let cx = ProviderContext { graph: &self.graph, now: now.unix, records: &view };
        let security = self.provider.secure_batch(&cx, &records);
        for (record, security) in records.into_iter().zip(security) {
            let security = security
                .map_err(|e| ProtoError::SigningFailed { id: record.id(), reason: e.reason })?;
            let record = if security.is_empty() {
                record
            } else {
                record.with_security_data(&security, self.store.limits())?
            };
            self.store.add(&record, now.unix)?;
            self.publish_local(now, &record, ApplyOutcome::Added, out);
        }
        failed.map_or(Ok(()), Err)
    }

    pub(crate) fn update_local(
        &mut self,
        now: Now,
        u: RecordUpdate,
        out: &mut Out,
    ) -> Result<(), ProtoError> {
        let current =
            self.store.get(&u.id, now.unix)?.ok_or(GraphError::RecordNotFound { id: u.id })?;
        if current.is_deleted() {
            return Err(GraphError::RecordDeleted { id: u.id }.into());
        }
        let mut b = current.update(self.name.clone(), self.hlc.now(now.unix));
        if let Some(p) = u.payload {
            b = b.payload(p);
        }
        for (name, value) in u.set_attributes {
            b = b.attribute(&name, value);
        }
        for name in &u.remove_attributes {
            b = b.remove_attribute(name);
        }
        if let Some(lifetime) = u.lifetime {
            b = b.expires(now.unix.saturating_add(lifetime).max(current.expires()));
        }
        let record = self.sign(now, b.build(self.store.limits())?)?;
        self.store.update(&record, now.unix)?;
        let outcome = ApplyOutcome::Updated { previous_version: current.version() };
        self.publish_local(now, &record, outcome, out);
        Ok(())
    }

    pub(crate) fn delete_local(
        &mut self,
        now: Now,
        id: RecordId,
        out: &mut Out,
    ) -> Result<(), ProtoError> {
        let current = self.store.get(&id, now.unix)?.ok_or(GraphError::RecordNotFound { id })?;
        let modified = self.hlc.now(now.unix);
        let tombstone = current.tombstone(self.name.clone(), modified, self.store.limits())?;
        let tombstone = self.sign(now, tombstone)?;
        self.store.update(&tombstone, now.unix)?;
        let outcome = ApplyOutcome::Updated { previous_version: current.version() };
        self.publish_local(now, &tombstone, outcome, out);
        Ok(())
    }

    // ----- deferred records -------------------------------------------------------------

    pub(crate) fn defer(&mut self, record: Record, from: Option<PeerAddr>, out: &mut Out) {
        let id = record.id();
        if let Some(d) = self.records.deferred.get_mut(&id) {
            if record.conflict_cmp(&d.record).is_gt() {
                d.record = record;
                d.from = from;
            }
            return;
        }
        if self.records.deferred.len() >= self.config.records.max_deferred {
            self.counters.records_rejected += 1;
            let e = ProtoError::TooManyDeferred { id, max: self.config.records.max_deferred };
            match from {
                Some(p) => self.reject(p, e, out),
                None => self.command_failed("RetryDeferred", e, out),
            }
            return;
        }
        self.counters.records_deferred += 1;
        out.emit(Event::RecordDeferred { id, record_type: record.record_type() });
        self.records.deferred.insert(id, Deferred { record, from });
    }

    /// Validates every deferred record again (`PeerGraphValidateDeferredRecords`):
    /// accepted ones are stored and flooded, refused ones dropped, the rest kept.
    pub(crate) fn retry_deferred(&mut self, now: Now, out: &mut Out) {
        let mut pending: Vec<Deferred> =
            std::mem::take(&mut self.records.deferred).into_values().collect();
        // Oldest writes first, so an update never arrives before its predecessor.
        pending.sort_by_key(|d| d.record.sync_key());
        for d in pending {
            if d.record.is_expired(now.unix) {
                continue;
            }
            let view = StoreView { store: &self.store, now: now.unix };
            let cx = ProviderContext { graph: &self.graph, now: now.unix, records: &view };
            match self.provider.validate(&cx, &d.record) {
                Validation::Accept => {
                    if let Verdict::Stored(r) =
                        self.store_remote(now, d.record, d.from, RecordSource::Deferred, out)
                    {
                        self.flood(now, &r, 0, None, out);
                    }
                }
                Validation::Reject(reason) => {
                    self.counters.records_rejected += 1;
                    self.flooding.remember_rejected(&d.record);
                    let e = ProtoError::ProviderRejected { id: d.record.id(), reason };
                    match d.from {
                        Some(p) => self.reject(p, e, out),
                        None => self.command_failed("RetryDeferred", e, out),
                    }
                }
                Validation::Defer => {
                    self.records.deferred.insert(d.record.id(), d);
                }
            }
        }
    }

    // ----- expiry -----------------------------------------------------------------------

    /// Removes records the provider no longer accepts (a revocation invalidated their
    /// signer): no tombstone, nothing flooded; every replica that learns the revocation
    /// removes the same records (`graph.md` §7.5).
    pub(crate) fn purge_invalidated(&mut self, now: Now, ids: &[RecordId], out: &mut Out) {
        let removed = match self.store.remove(ids) {
            Ok(r) => r,
            Err(e) => {
                self.command_failed("PurgeInvalidated", e.into(), out);
                return;
            }
        };
        for r in &removed {
            // Not remembered as rejected: if the revocation that invalidated it is itself
            // invalidated later, a neighbour's copy must be accepted again.
            self.counters.records_invalidated += 1;
            let view = StoreView { store: &self.store, now: now.unix };
            let cx = ProviderContext { graph: &self.graph, now: now.unix, records: &view };
            self.provider.removed(&cx, r);
            out.emit(Event::RecordChanged {
                change: RecordChange::Invalidated,
                id: r.id(),
                record_type: r.record_type(),
                version: r.version(),
                source: RecordSource::Provider,
            });
            if r.record_type() == PRESENCE_TYPE {
                self.presence.changed(self.me.node, r, RecordChange::Invalidated, out);
            }
        }
    }

    pub(crate) fn purge_expired(&mut self, now: Now, out: &mut Out) {
        let purged = match self.store.purge_expired(now.unix) {
            Ok(p) => p,
            Err(e) => {
                self.command_failed("PurgeExpired", e.into(), out);
                Vec::new()
            }
        };
        for r in &purged {
            let view = StoreView { store: &self.store, now: now.unix };
            let cx = ProviderContext { graph: &self.graph, now: now.unix, records: &view };
            self.provider.removed(&cx, r);
            out.emit(Event::RecordChanged {
                change: RecordChange::Expired,
                id: r.id(),
                record_type: r.record_type(),
                version: r.version(),
                source: RecordSource::Expiry,
            });
            if r.record_type() == PRESENCE_TYPE {
                self.presence.changed(self.me.node, r, RecordChange::Expired, out);
            }
        }
        self.records.deferred.retain(|_, d| !d.record.is_expired(now.unix));
        self.records.arm_expiry(&self.store, now, out);
    }
}
