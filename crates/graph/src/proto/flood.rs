//! Flooding with lazy push (`graph.md` §7): PlumTree (Leitão, Pereira, Rodrigues, "Epidemic
//! Broadcast Trees", SRDS 2007) over the neighbour links.
//!
//! Each neighbour link is *eager* or *lazy*. A record new to a node (written locally,
//! flooded, synchronised, or accepted after deferral) is pushed whole to the eager
//! neighbours and announced — id, version, digest tag, hops — to the lazy ones, in
//! batches every `announce_interval`. Links start eager; a node that receives a copy it
//! already holds prunes the link it came on (both ends turn it lazy), so the eager links
//! shrink to a spanning tree and each node receives each record about once. A node that
//! hears an announcement of a record it lacks waits `graft_timeout` for the eager copy,
//! then grafts: asks the announcer for the record and turns that link eager, repairing the
//! tree where a node failed.
//!
//! The tree is not shaped by duplicates alone, as in PlumTree, which fragments under many
//! concurrent writers: it is the first-arrival tree of the signature beacons
//! (`signature.rs`), and only links outside it are pruned. The writer of a record also
//! hands its lazy neighbours a *custody copy*, stored and announced but not pushed on, so
//! a record outlives a writer that fails before its tree neighbours pass it on.
//!
//! Whatever the path, a copy meets the same rules ([MS-PPGRH] 3.1.7.3): new or newer —
//! store and forward; equal — stop; older — stop, and send our newer copy back to the
//! sender. Expired records are never sent.

use std::collections::{HashMap, HashSet, VecDeque};

use peergroup_base::{Now, PeerAddr};

use crate::id::RecordId;
use crate::proto::api::{Event, RecordChange, RecordSource, TimerKind};
use crate::proto::error::ProtoError;
use crate::proto::message::{
    Announcement, DigestTag, GraftItem, MAX_ANNOUNCE_ITEMS, Message, WireRecord,
};
use crate::proto::node::{GraphNode, Out};
use crate::proto::presence::PRESENCE_TYPE;
use crate::proto::security::{ProviderContext, SecurityProvider, StoreView, Validation};
use crate::record::Record;
use crate::store::{ApplyOutcome, RecordStore};

/// An announced record not received yet.
#[derive(Debug)]
pub(crate) struct Missing {
    /// The version announced (first announcement).
    pub(crate) announced: Announcement,
    /// Who announced it, with the hops they announced, in arrival order (at most 8).
    pub(crate) announcers: VecDeque<(PeerAddr, u16)>,
}

/// Most announcers remembered per missing record.
pub(crate) const MAX_ANNOUNCERS: usize = 8;
/// Records refused by the provider, remembered so their announcements are not pulled.
pub(crate) const REJECTED_MEMORY: usize = 1024;
/// Custody copies remembered until their tree copy comes.
pub(crate) const CUSTODY_MEMORY: usize = 4096;

/// The node's flooding state: records announced and not received, versions refused,
/// custody copies waiting for their tree copy.
#[derive(Debug, Default)]
pub(crate) struct FloodState {
    pub(crate) missing: HashMap<(RecordId, DigestTag), Missing>,
    /// An `AnnounceFlush` timer is set.
    pub(crate) announce_armed: bool,
    pub(crate) rejected: VecDeque<(RecordId, DigestTag)>,
    pub(crate) rejected_set: HashSet<(RecordId, DigestTag)>,
    /// Custody copies received and not yet forwarded (their tree copy has not come).
    pub(crate) custody: VecDeque<(RecordId, DigestTag)>,
    pub(crate) custody_set: HashSet<(RecordId, DigestTag)>,
    /// The last record received was a security record (its duplicates do not prune).
    pub(crate) duplicate_was_security: bool,
}

impl FloodState {
    /// Remembers a record refused by the provider (bounded).
    pub(crate) fn remember_rejected(&mut self, record: &Record) {
        let key = (record.id(), DigestTag::of(&record.digest()));
        if self.rejected_set.insert(key) {
            self.rejected.push_back(key);
            if self.rejected.len() > REJECTED_MEMORY
                && let Some(old) = self.rejected.pop_front()
            {
                self.rejected_set.remove(&old);
            }
        }
    }

    /// Whether this version was refused.
    pub(crate) fn is_rejected(&self, id: RecordId, tag: DigestTag) -> bool {
        self.rejected_set.contains(&(id, tag))
    }

    /// Remembers a custody copy until its tree copy comes (bounded).
    fn hold_custody(&mut self, record: &Record) {
        let key = (record.id(), DigestTag::of(&record.digest()));
        if self.custody_set.insert(key) {
            self.custody.push_back(key);
            if self.custody.len() > CUSTODY_MEMORY
                && let Some(old) = self.custody.pop_front()
            {
                self.custody_set.remove(&old);
            }
        }
    }
}

/// What flooding keeps per neighbour: the announcements waiting for the next flush.
#[derive(Debug, Default)]
pub(crate) struct FloodLink {
    pub(crate) announce: Vec<Announcement>,
}

/// What became of a record that arrived.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// New or newer here: stored.
    Stored(Record),
    /// Already held (or deferred, or refused before).
    Duplicate,
    /// We hold a newer version (returned).
    Older(Record),
    /// The provider deferred it.
    Deferred,
    /// Refused (reported in an event).
    Rejected,
}

impl<S: RecordStore, P: SecurityProvider> GraphNode<S, P> {
    /// Lets the security provider [`prepare`](SecurityProvider::prepare) the records of
    /// the flooded messages (`Push`, `Custody`) among `msgs` as one batch, before they are
    /// handled one by one — a driver's [`Protocol::prepare`](peergroup_base::Protocol)
    /// hint. Records that do not decode, or that this node already holds, are left out.
    /// It changes no verdict: the provider only does early what `validate` would do.
    pub fn prepare_messages<'a>(&mut self, now: Now, msgs: impl IntoIterator<Item = &'a Message>) {
        let flooded: Vec<&Message> = msgs
            .into_iter()
            .filter(|m| matches!(m, Message::Push { .. } | Message::Custody { .. }))
            .collect();
        if !self.provider.prepares(flooded.len()) {
            return;
        }
        let limits = *self.store.limits();
        let mut records = Vec::new();
        for m in flooded {
            let (Message::Push { record, .. } | Message::Custody { record }) = m else {
                continue;
            };
            let Ok(r) = record.to_record(&limits) else {
                continue;
            };
            if self.store.digest(&r.id(), now.unix).ok().flatten() == Some(r.digest()) {
                continue;
            }
            records.push(r);
        }
        if records.len() > 1 {
            let refs: Vec<&Record> = records.iter().collect();
            let view = StoreView { store: &self.store, now: now.unix };
            let cx = ProviderContext { graph: &self.graph, now: now.unix, records: &view };
            self.provider.prepare(&cx, &refs);
        }
    }

    /// The full path of a record from a peer: decode and check, compare with the stored
    /// version, validate with the provider, observe its clock, store.
    pub(crate) fn receive_record(
        &mut self,
        now: Now,
        wire: &WireRecord,
        from: PeerAddr,
        source: RecordSource,
        out: &mut Out,
    ) -> Verdict {
        let record = match wire.to_record(self.store.limits()) {
            Ok(r) => r,
            Err(e) => {
                self.counters.records_rejected += 1;
                self.reject(from, e.into(), out);
                return Verdict::Rejected;
            }
        };
        self.receive_decoded(now, record, from, source, out)
    }

    /// [`receive_record`](Self::receive_record) after decoding.
    pub(crate) fn receive_decoded(
        &mut self,
        now: Now,
        record: Record,
        from: PeerAddr,
        source: RecordSource,
        out: &mut Out,
    ) -> Verdict {
        let security = self.provider.security_record_types().contains(&record.record_type());
        self.flooding.duplicate_was_security = security;
        if record.record_type() == PRESENCE_TYPE {
            self.counters.presence_copies_received += 1;
        } else if security {
            self.counters.security_copies_received += 1;
        } else {
            self.counters.copies_received += 1;
            self.counters.copy_bytes_received += record.encoded_len() as u64;
        }
        match self.store.get(&record.id(), now.unix) {
            Ok(Some(stored)) if stored.digest() == record.digest() => {
                self.counters.duplicates += 1;
                return Verdict::Duplicate;
            }
            Ok(Some(stored)) if stored.conflict_cmp(&record).is_gt() => {
                self.counters.older_received += 1;
                return Verdict::Older(stored);
            }
            Ok(_) => {}
            Err(e) => {
                self.reject(from, e.into(), out);
                return Verdict::Rejected;
            }
        }
        let tag = DigestTag::of(&record.digest());
        if self.flooding.is_rejected(record.id(), tag)
            || self.records.deferred.get(&record.id()).is_some_and(|d| d.record == record)
        {
            self.counters.duplicates += 1;
            return Verdict::Duplicate;
        }
        if record.is_expired(now.unix) {
            self.counters.records_rejected += 1;
            let e = crate::error::GraphError::RecordExpired {
                id: record.id(),
                expires: record.expires(),
            };
            self.reject(from, e.into(), out);
            return Verdict::Rejected;
        }
        let view = StoreView { store: &self.store, now: now.unix };
        let cx = ProviderContext { graph: &self.graph, now: now.unix, records: &view };
        match self.provider.validate(&cx, &record) {
            Validation::Accept => {}
            Validation::Reject(reason) => {
                self.counters.records_rejected += 1;
                self.flooding.remember_rejected(&record);
                self.reject(from, ProtoError::ProviderRejected { id: record.id(), reason }, out);
                return Verdict::Rejected;
            }
            Validation::Defer => {
                self.defer(record, Some(from), out);
                return Verdict::Deferred;
            }
        }
        self.store_remote(now, record, Some(from), source, out)
    }

    /// Stores a validated record from a peer (or a deferred one accepted later).
    pub(crate) fn store_remote(
        &mut self,
        now: Now,
        record: Record,
        from: Option<PeerAddr>,
        source: RecordSource,
        out: &mut Out,
    ) -> Verdict {
        let report = |node: &mut Self, e: ProtoError, out: &mut Out| {
            node.counters.records_rejected += 1;
            match from {
                Some(p) => node.reject(p, e, out),
                None => node.command_failed("RetryDeferred", e, out),
            }
        };
        // A remote timestamp pulls our clock forward, within the drift bound (§3.5).
        if let Err(e) = self.hlc.observe(record.modified(), now.unix) {
            report(self, e.into(), out);
            return Verdict::Rejected;
        }
        match self.store.apply(&record, now.unix) {
            Ok(outcome @ (ApplyOutcome::Added | ApplyOutcome::Updated { .. })) => {
                self.on_stored(now, &record, outcome, source, out);
                Verdict::Stored(record)
            }
            Ok(ApplyOutcome::Unchanged) => {
                self.counters.duplicates += 1;
                Verdict::Duplicate
            }
            Ok(ApplyOutcome::IgnoredOlder) => match self.store.get(&record.id(), now.unix) {
                Ok(Some(stored)) => {
                    self.counters.older_received += 1;
                    Verdict::Older(stored)
                }
                _ => Verdict::Duplicate,
            },
            Ok(ApplyOutcome::Rejected(r)) => {
                report(self, r.into_error(record.id(), record.expires()).into(), out);
                Verdict::Rejected
            }
            Err(e) => {
                report(self, e.into(), out);
                Verdict::Rejected
            }
        }
    }

    /// Bookkeeping after the store took a record: event, node list, expiry timer,
    /// deferred and missing lists.
    pub(crate) fn on_stored(
        &mut self,
        now: Now,
        record: &Record,
        outcome: ApplyOutcome,
        source: RecordSource,
        out: &mut Out,
    ) {
        let change = if record.is_deleted() {
            RecordChange::Deleted
        } else if matches!(outcome, ApplyOutcome::Added) {
            RecordChange::Added
        } else {
            RecordChange::Updated
        };
        out.emit(Event::RecordChanged {
            change,
            id: record.id(),
            record_type: record.record_type(),
            version: record.version(),
            source,
        });
        if record.record_type() == PRESENCE_TYPE {
            self.presence.changed(self.me.node, record, change, out);
        }
        if self
            .records
            .deferred
            .get(&record.id())
            .is_some_and(|d| !d.record.conflict_cmp(record).is_gt())
        {
            self.records.deferred.remove(&record.id());
        }
        self.flooding.missing.remove(&(record.id(), DigestTag::of(&record.digest())));
        self.records.note_expiry(now, record.expires(), out);
        let view = StoreView { store: &self.store, now: now.unix };
        let cx = ProviderContext { graph: &self.graph, now: now.unix, records: &view };
        let actions = self.provider.stored(&cx, record);
        if actions.retry_deferred && !self.records.deferred.is_empty() {
            self.records.retry_requested = true;
        }
        if !actions.purge.is_empty() {
            self.purge_invalidated(now, &actions.purge, out);
        }
    }

    /// Pushes a record to the eager neighbours and queues announcements for the lazy
    /// ones, except `except` (where it came from).
    pub(crate) fn flood(
        &mut self,
        now: Now,
        record: &Record,
        hops: u16,
        except: Option<PeerAddr>,
        out: &mut Out,
    ) {
        self.forward(now, record, hops, except, true, out);
    }

    /// [`flood`](Self::flood), optionally without the announcements (already made).
    fn forward(
        &mut self,
        now: Now,
        record: &Record,
        hops: u16,
        except: Option<PeerAddr>,
        announce: bool,
        out: &mut Out,
    ) {
        if record.is_expired(now.unix) {
            return;
        }
        let announcement = Announcement::of(record, hops);
        let mut eager = Vec::new();
        let mut queued = false;
        // Security records (memberships, revocations) go eagerly to every neighbour
        // (§7.2): they are rare, and a revocation cuts links of the tree it would
        // otherwise travel on.
        let urgent = self.provider.security_record_types().contains(&record.record_type());
        for l in self.neighbours.values_mut() {
            if except.is_some_and(|e| e.node == l.peer.node) {
                continue;
            }
            if l.tree.eager || urgent {
                eager.push(l.peer);
            } else if announce {
                l.flood.announce.push(announcement);
                queued = true;
            }
        }
        for peer in eager {
            self.counters.pushes_sent += 1;
            let msg =
                Message::Push { hops: hops.saturating_add(1), record: WireRecord::from(record) };
            self.send(peer, msg, out);
        }
        if queued && !self.flooding.announce_armed {
            self.flooding.announce_armed = true;
            let at = now.instant + self.config.flood.announce_interval;
            self.set_timer(at, TimerKind::AnnounceFlush, out);
        }
    }

    /// Floods a record this node wrote: pushed to the eager neighbours, and sent whole
    /// to the lazy ones as a custody copy (§7.2), so that it outlives this node even if
    /// the node fails before its tree neighbours pass it on.
    pub(crate) fn publish_flood(&mut self, now: Now, record: &Record, out: &mut Out) {
        if record.is_expired(now.unix) {
            return;
        }
        let peers: Vec<(PeerAddr, bool)> =
            self.neighbours.values().map(|l| (l.peer, l.tree.eager)).collect();
        for (peer, eager) in peers {
            self.counters.pushes_sent += 1;
            let msg = if eager {
                Message::Push { hops: 1, record: WireRecord::from(record) }
            } else {
                Message::Custody { record: WireRecord::from(record) }
            };
            self.send(peer, msg, out);
        }
    }

    /// Queues an announcement to every neighbour but `except`, eager ones included.
    fn announce_to_all(
        &mut self,
        now: Now,
        record: &Record,
        hops: u16,
        except: PeerAddr,
        out: &mut Out,
    ) {
        let a = Announcement::of(record, hops);
        let mut queued = false;
        for l in self.neighbours.values_mut() {
            if l.peer.node != except.node {
                l.flood.announce.push(a);
                queued = true;
            }
        }
        if queued && !self.flooding.announce_armed {
            self.flooding.announce_armed = true;
            let at = now.instant + self.config.flood.announce_interval;
            self.set_timer(at, TimerKind::AnnounceFlush, out);
        }
    }

    /// A custody copy from the record's writer: stored and announced to every other
    /// neighbour, but not pushed on — the tree copy will come, and is forwarded then. If
    /// the writer fails first, the announcements let the neighbours pull it from here.
    pub(crate) fn on_custody(
        &mut self,
        now: Now,
        from: PeerAddr,
        wire: &WireRecord,
        out: &mut Out,
    ) {
        let source = RecordSource::Flood { from: from.node, hops: 1 };
        match self.receive_record(now, wire, from, source, out) {
            Verdict::Stored(r) => {
                self.flooding.hold_custody(&r);
                self.announce_to_all(now, &r, 1, from, out);
            }
            Verdict::Older(ours) => {
                self.counters.pushes_sent += 1;
                let msg = Message::Push { hops: 1, record: WireRecord::from(ours) };
                self.send(from, msg, out);
            }
            Verdict::Duplicate | Verdict::Deferred | Verdict::Rejected => {}
        }
    }

    pub(crate) fn flush_announcements(&mut self, out: &mut Out) {
        self.flooding.announce_armed = false;
        let mut batches = Vec::new();
        for l in self.neighbours.values_mut() {
            if !l.flood.announce.is_empty() {
                batches.push((l.peer, std::mem::take(&mut l.flood.announce)));
            }
        }
        for (peer, items) in batches {
            for chunk in items.chunks(MAX_ANNOUNCE_ITEMS) {
                self.counters.announce_messages_sent += 1;
                self.counters.announcements_sent += chunk.len() as u64;
                self.send(peer, Message::Announce(chunk.to_vec()), out);
            }
        }
    }

    pub(crate) fn on_push(
        &mut self,
        now: Now,
        from: PeerAddr,
        hops: u16,
        wire: &WireRecord,
        out: &mut Out,
    ) {
        let source = RecordSource::Flood { from: from.node, hops };
        match self.receive_record(now, wire, from, source, out) {
            Verdict::Stored(r) => self.flood(now, &r, hops, Some(from), out),
            Verdict::Duplicate
                if !self.flooding.custody_set.is_empty()
                    && self.forward_custody(now, from, hops, wire, out) => {}
            Verdict::Duplicate => {
                // A redundant eager link: prune it (PlumTree §3.6) — unless it is a link
                // of the beacon tree, which duplicates during a tree change do not undo,
                // or the repair link of a node cut off from its parent. Duplicates of
                // security records, pushed to every neighbour, say nothing about the tree.
                let parent = self.beacons.parent;
                if !std::mem::take(&mut self.flooding.duplicate_was_security)
                    && let Some(l) = self.neighbours.get_mut(&from.node)
                    && l.tree.eager
                    && !l.tree.child
                    && !(l.tree.repair && parent.is_none())
                    && parent != Some(from.node)
                {
                    l.tree.eager = false;
                    self.counters.prunes_sent += 1;
                    self.send(from, Message::Prune, out);
                }
            }
            Verdict::Older(ours) => {
                if !ours.is_expired(now.unix) {
                    self.counters.pushes_sent += 1;
                    let msg = Message::Push { hops: 1, record: WireRecord::from(ours) };
                    self.send(from, msg, out);
                }
            }
            Verdict::Deferred | Verdict::Rejected => {}
        }
    }

    /// The tree copy of a record held in custody arrived: forward it now, as if new.
    /// Returns `false` if the record was not held in custody.
    fn forward_custody(
        &mut self,
        now: Now,
        from: PeerAddr,
        hops: u16,
        wire: &WireRecord,
        out: &mut Out,
    ) -> bool {
        let Ok(r) = wire.to_record(self.store.limits()) else {
            return false;
        };
        if !self.flooding.custody_set.remove(&(r.id(), DigestTag::of(&r.digest()))) {
            return false;
        }
        self.forward(now, &r, hops, Some(from), false, out);
        true
    }

    /// A `Prune`: announce to the sender instead of pushing. If the sender is our tree
    /// parent (it pruned us before it heard our tree graft), insist: graft it again.
    pub(crate) fn on_prune(&mut self, from: PeerAddr, out: &mut Out) {
        let is_parent = self.beacons.parent == Some(from.node);
        let Some(l) = self.neighbours.get_mut(&from.node) else {
            return;
        };
        l.tree.child = false;
        if is_parent {
            self.send(from, Message::Graft(Vec::new()), out);
        } else {
            l.tree.eager = false;
            l.tree.repair = false;
        }
    }

    /// Whether an announced version needs fetching: not if we hold it or a version that
    /// beats it (`graph.md` §3.3), have it deferred, or refused it.
    fn have(&self, now: Now, a: &Announcement) -> bool {
        if let Ok(Some(s)) = self.store.get(&a.id, now.unix)
            && (DigestTag::of(&s.digest()) == a.tag || a.is_beaten_by(&s))
        {
            return true;
        }
        self.flooding.is_rejected(a.id, a.tag)
            || self
                .records
                .deferred
                .get(&a.id)
                .is_some_and(|d| DigestTag::of(&d.record.digest()) == a.tag)
    }

    pub(crate) fn on_announce(
        &mut self,
        now: Now,
        from: PeerAddr,
        items: &[Announcement],
        out: &mut Out,
    ) {
        for a in items {
            if self.have(now, a) {
                continue;
            }
            let key = (a.id, a.tag);
            if !self.flooding.missing.contains_key(&key) {
                if self.flooding.missing.len() >= self.config.flood.max_missing {
                    continue;
                }
                let m = Missing { announced: *a, announcers: Default::default() };
                self.flooding.missing.insert(key, m);
                let at = now.instant + self.config.flood.graft_timeout;
                self.set_timer(at, TimerKind::Graft { id: a.id, tag: a.tag }, out);
            }
            if let Some(m) = self.flooding.missing.get_mut(&key)
                && m.announcers.len() < MAX_ANNOUNCERS
                && !m.announcers.iter().any(|(p, _)| p.node == from.node)
            {
                m.announcers.push_back((from, a.hops));
            }
        }
    }

    pub(crate) fn on_graft_timer(
        &mut self,
        now: Now,
        id: RecordId,
        tag: crate::proto::message::DigestTag,
        out: &mut Out,
    ) {
        let key = (id, tag);
        let Some(mut m) = self.flooding.missing.remove(&key) else {
            return;
        };
        if self.have(now, &m.announced) {
            return;
        }
        while let Some((peer, hops)) = m.announcers.pop_front() {
            let Some(l) = self.neighbours.get_mut(&peer.node) else {
                continue;
            };
            l.tree.eager = true;
            l.tree.repair = true;
            self.counters.grafts_sent += 1;
            self.send(peer, Message::Graft(vec![GraftItem { id, tag, hops }]), out);
            self.flooding.missing.insert(key, m);
            let at = now.instant + self.config.flood.graft_retry;
            self.set_timer(at, TimerKind::Graft { id, tag }, out);
            return;
        }
    }

    /// A `Graft`: push eagerly to the sender from now on, and send the records it asks
    /// for. Without items it is a tree graft: the sender took this node as its parent.
    pub(crate) fn on_graft(
        &mut self,
        now: Now,
        from: PeerAddr,
        items: &[GraftItem],
        out: &mut Out,
    ) {
        if let Some(l) = self.neighbours.get_mut(&from.node) {
            l.tree.eager = true;
            if items.is_empty() {
                l.tree.child = true;
            } else {
                l.tree.repair = true;
            }
        }
        for item in items {
            if let Ok(Some(r)) = self.store.get(&item.id, now.unix)
                && !r.is_expired(now.unix)
            {
                self.counters.pushes_sent += 1;
                let msg = Message::Push {
                    hops: item.hops.saturating_add(1),
                    record: WireRecord::from(r),
                };
                self.send(from, msg, out);
            }
        }
    }
}
