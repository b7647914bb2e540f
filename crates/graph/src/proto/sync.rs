//! Synchronisation on connect (`graph.md` §8).
//!
//! When a neighbour connection opens, the node that asked for it (the *initiator*)
//! reconciles the two stores with the peer, in two phases: first the records of the
//! security provider's security record types, then every record. Each phase is one
//! `peergroup-reconcile` session over the digests (`graph.md` §2.4) of the unexpired
//! records of the phase — tombstones included — whose messages travel inside
//! `Sync::Reconcile`. The session ends with the difference on both sides; each side then
//! sends the records the other lacks in `Sync::Records` batches of at most
//! `sync_batch_bytes`, at most `sync_window` batches ahead of their `Ack`, and ends the
//! phase with `Done`. A phase is over for a side when its session has finished, it has
//! sent `Done` and it has received the peer's `Done`; the initiator then opens the next
//! phase. After the last phase both sides emit `Synchronized`.
//!
//! Records received by synchronisation go through the same checks as flooded ones, and
//! those new to the node are flooded on to its other neighbours. The cost is that of the
//! reconciliation (proportional to the difference, `reconcile.md` §9) plus the records
//! that differ.

use std::collections::{HashSet, VecDeque};

use peergroup_base::{Instant, NodeId, Now, PeerAddr, UnixTime};
use peergroup_reconcile::{Digest, DigestSet, Session};
use rand::Rng;

use crate::id::RecordId;
use crate::proto::api::{Event, RecordSource};
use crate::proto::error::ProtoError;
use crate::proto::flood::Verdict;
use crate::proto::message::{
    DisconnectReason, MAX_SYNC_BATCH_RECORDS, Message, SyncMessage, SyncPhase, WireRecord,
};
use crate::proto::node::{GraphNode, Out};
use crate::proto::security::{ProviderContext, SecurityProvider, StoreView};
use crate::record::Record;
use crate::store::{RecordStore, SyncRange};

/// The synchronisation with one neighbour.
#[derive(Debug)]
pub(crate) struct SyncState {
    pub(crate) initiator: bool,
    pub(crate) phase: SyncPhase,
    pub(crate) session: Option<Session>,
    pub(crate) session_done: bool,
    pub(crate) outgoing: VecDeque<RecordId>,
    pub(crate) unacked: usize,
    pub(crate) sent_done: bool,
    pub(crate) peer_done: bool,
    pub(crate) started: Instant,
    pub(crate) records_sent: u64,
    pub(crate) records_received: u64,
    /// A re-synchronisation leaves out records modified after this time (wall clock): they
    /// may still be on their way by flooding (§8.6).
    pub(crate) settled_before: Option<UnixTime>,
    /// Responder of a first synchronisation: the initiator's opening messages, held while
    /// another first synchronisation of this node runs (§8.3), and since when.
    held: Vec<(SyncPhase, Vec<u8>)>,
    held_since: Option<Instant>,
    /// Held once and released: never held again.
    released: bool,
    /// Initiator of a first synchronisation: opening it waits (§8.3).
    open_deferred: bool,
    /// Records the finished reconciliation said the peer will send.
    incoming_expected: usize,
}

/// What synchronisation keeps per neighbour.
#[derive(Debug)]
pub(crate) struct SyncLink {
    /// The synchronisation in progress (`None` once finished).
    pub(crate) running: Option<Box<SyncState>>,
    /// A first synchronisation has finished.
    pub(crate) synchronized: bool,
    /// This node opened the synchronisation on connect, so it also opens the periodic
    /// re-synchronisations (one side only, so two never cross).
    pub(crate) initiator: bool,
    /// When the last synchronisation with it finished (or the connection was made).
    pub(crate) last: Instant,
}

impl SyncLink {
    pub(crate) fn new(initiator: bool, now: Instant) -> Self {
        SyncLink { running: None, synchronized: false, initiator, last: now }
    }
}

/// Most opening messages a responder holds per neighbour.
const MAX_HELD: usize = 16;

/// A first synchronisation that will bring at least this many records makes the node's
/// other first synchronisations wait (§8.3): a node catching up, not a node repairing a
/// few records after a failure.
const CATCH_UP_RECORDS: usize = 256;

impl SyncState {
    fn new(initiator: bool, now: Instant) -> Self {
        SyncState {
            initiator,
            phase: SyncPhase::Security,
            session: None,
            session_done: false,
            outgoing: VecDeque::new(),
            unacked: 0,
            sent_done: false,
            peer_done: false,
            started: now,
            records_sent: 0,
            records_received: 0,
            settled_before: None,
            held: Vec::new(),
            held_since: None,
            released: false,
            open_deferred: false,
            incoming_expected: 0,
        }
    }

    fn reset_phase(&mut self, phase: SyncPhase, session: Session) {
        self.phase = phase;
        self.session = Some(session);
        self.session_done = false;
        self.outgoing.clear();
        self.unacked = 0;
        self.sent_done = false;
        self.peer_done = false;
    }

    fn phase_complete(&self) -> bool {
        self.session_done && self.sent_done && self.peer_done
    }
}

impl<S: RecordStore, P: SecurityProvider> GraphNode<S, P> {
    /// The digests of the phase's records (unexpired, tombstones included).
    fn phase_set(
        &self,
        now: Now,
        phase: SyncPhase,
        settled_before: Option<UnixTime>,
    ) -> Result<DigestSet, ProtoError> {
        let settled =
            |modified: crate::hlc::Hlc| settled_before.is_none_or(|t| modified.wall() < t);
        let digests: Vec<Digest> = match phase {
            SyncPhase::All => self
                .store
                .sync_entries(&SyncRange::ALL, usize::MAX, now.unix)?
                .into_iter()
                .filter(|e| settled(e.key.modified))
                .map(|e| Digest::new(e.digest.0))
                .collect(),
            SyncPhase::Security => {
                // Through the store's type index: live records of the security types only
                // (tombstones of security records, if a provider allows any, travel in the
                // All phase). The phase costs the security records, not the store.
                let types = self.provider.security_record_types().to_vec();
                let mut out = Vec::new();
                for t in types {
                    out.extend(
                        self.store
                            .enumerate(&crate::store::RecordFilter::Type(t), now.unix)?
                            .iter()
                            .filter(|r| settled(r.modified()))
                            .map(|r| Digest::new(r.digest().0)),
                    );
                }
                out
            }
        };
        Ok(DigestSet::from_unsorted(digests))
    }

    /// The ids of the stored records with these digests.
    fn ids_of(&self, now: Now, digests: &[Digest]) -> Result<VecDeque<RecordId>, ProtoError> {
        if digests.is_empty() {
            return Ok(VecDeque::new());
        }
        let wanted: HashSet<[u8; 32]> = digests.iter().map(|d| *d.as_bytes()).collect();
        Ok(self
            .store
            .sync_entries(&SyncRange::ALL, usize::MAX, now.unix)?
            .into_iter()
            .filter(|e| wanted.contains(&e.digest.0))
            .map(|e| e.key.id)
            .collect())
    }

    fn first_phase(&self) -> SyncPhase {
        if self.provider.security_record_types().is_empty() {
            SyncPhase::All
        } else {
            SyncPhase::Security
        }
    }

    /// A neighbour connection opened: the initiator opens the first phase.
    /// A re-synchronisation (`settled_before` set, §8.6) leaves out the records modified
    /// at or after that time; its initiator announces it with `Resync` first.
    pub(crate) fn start_sync(
        &mut self,
        now: Now,
        peer: PeerAddr,
        initiator: bool,
        settled_before: Option<UnixTime>,
        out: &mut Out,
    ) {
        // An initiator's first synchronisation waits while another first synchronisation
        // of this node runs (§8.3), like a responder's.
        let wait =
            initiator && settled_before.is_none() && self.other_first_sync_running(&peer.node);
        let Some(l) = self.neighbours.get_mut(&peer.node) else {
            return;
        };
        let mut st = SyncState::new(initiator, now.instant);
        st.settled_before = settled_before;
        if wait {
            st.held_since = Some(now.instant);
            st.open_deferred = true;
        }
        l.sync.running = Some(Box::new(st));
        if wait {
            return;
        }
        if let (true, Some(settled_before)) = (initiator, settled_before) {
            self.send(peer, Message::Sync(SyncMessage::Resync { settled_before }), out);
        }
        if initiator {
            let phase = self.first_phase();
            self.open_phase(now, peer, phase, out);
        }
    }

    fn take_sync(&mut self, node: &NodeId) -> Option<Box<SyncState>> {
        self.neighbours.get_mut(node).and_then(|l| l.sync.running.take())
    }

    fn put_sync(&mut self, node: &NodeId, st: Box<SyncState>) {
        if let Some(l) = self.neighbours.get_mut(node) {
            l.sync.running = Some(st);
        }
    }

    /// Initiator: starts a phase's session.
    fn open_phase(&mut self, now: Now, peer: PeerAddr, phase: SyncPhase, out: &mut Out) {
        let Some(mut st) = self.take_sync(&peer.node) else {
            return;
        };
        let mut salt = [0u8; 16];
        self.rng.fill(&mut salt);
        let session = self
            .phase_set(now, phase, st.settled_before)
            .and_then(|set| Ok(Session::initiator(self.config.sync.reconcile.clone(), set, salt)?));
        match session {
            Ok(s) => {
                st.reset_phase(phase, s);
                self.pump(now, peer, st, out);
            }
            Err(e) => self.sync_failed(now, peer, e, out),
        }
    }

    fn sync_failed(&mut self, now: Now, peer: PeerAddr, e: ProtoError, out: &mut Out) {
        self.reject(peer, e, out);
        self.drop_neighbour(now, peer.node, DisconnectReason::ProtocolError, out);
    }

    /// Sends what the session queued, starts the record transfer once the session has
    /// finished, sends batches within the window, `Done` when all are acknowledged, and
    /// moves to the next phase (or finishes) when the phase is complete.
    fn pump(&mut self, now: Now, peer: PeerAddr, mut st: Box<SyncState>, out: &mut Out) {
        let phase = st.phase;
        if let Some(session) = st.session.as_mut() {
            let mut sent = Vec::new();
            while let Some(payload) = session.poll_transmit() {
                sent.push(payload);
            }
            for payload in sent {
                self.counters.reconcile_bytes_sent += payload.len() as u64;
                self.send(peer, Message::Sync(SyncMessage::Reconcile { phase, payload }), out);
            }
            if !st.session_done && session.is_finished() {
                st.session_done = true;
                let outcome = session.take_outcome().unwrap_or_default();
                st.incoming_expected = outcome.remote_only.len();
                match self.ids_of(now, &outcome.local_only) {
                    Ok(ids) => st.outgoing = ids,
                    Err(e) => {
                        self.sync_failed(now, peer, e, out);
                        return;
                    }
                }
            }
        }
        if st.session_done {
            while st.unacked < self.config.sync.sync_window.max(1) && !st.outgoing.is_empty() {
                let mut batch = Vec::new();
                let mut bytes = 0usize;
                while let Some(id) = st.outgoing.front().copied() {
                    let record = match self.store.get(&id, now.unix) {
                        Ok(Some(r)) if !r.is_expired(now.unix) => r,
                        _ => {
                            st.outgoing.pop_front();
                            continue;
                        }
                    };
                    if !batch.is_empty()
                        && (bytes + record.encoded_len() > self.config.sync.sync_batch_bytes
                            || batch.len() >= MAX_SYNC_BATCH_RECORDS)
                    {
                        break;
                    }
                    st.outgoing.pop_front();
                    bytes += record.encoded_len();
                    batch.push(WireRecord::from(record));
                }
                if batch.is_empty() {
                    break;
                }
                st.unacked += 1;
                st.records_sent += batch.len() as u64;
                self.counters.sync_records_sent += batch.len() as u64;
                let msg = Message::Sync(SyncMessage::Records { phase, records: batch });
                self.send(peer, msg, out);
            }
            if st.outgoing.is_empty() && st.unacked == 0 && !st.sent_done {
                st.sent_done = true;
                self.send(peer, Message::Sync(SyncMessage::Done { phase }), out);
            }
        }
        if st.phase_complete() {
            match (phase, st.initiator) {
                (SyncPhase::Security, true) => {
                    self.put_sync(&peer.node, st);
                    self.open_phase(now, peer, SyncPhase::All, out);
                    return;
                }
                (SyncPhase::Security, false) => {} // the initiator opens the next phase
                (SyncPhase::All, _) => {
                    self.counters.syncs_completed += 1;
                    let mut first = false;
                    if let Some(l) = self.neighbours.get_mut(&peer.node) {
                        first = !l.sync.synchronized;
                        l.sync.synchronized = true;
                        l.sync.last = now.instant;
                    }
                    // A re-synchronisation that moved nothing is not news.
                    if first || st.records_received > 0 || st.records_sent > 0 {
                        out.emit(Event::Synchronized {
                            peer,
                            records_received: st.records_received,
                            records_sent: st.records_sent,
                        });
                    }
                    // The state is dropped; responders waiting for this one may go on.
                    self.release_held(now, out);
                    return;
                }
            }
        }
        self.put_sync(&peer.node, st);
    }

    pub(crate) fn on_sync_reconcile(
        &mut self,
        now: Now,
        from: PeerAddr,
        phase: SyncPhase,
        payload: &[u8],
        out: &mut Out,
    ) {
        let Some(mut st) = self.take_sync(&from.node) else {
            // Synchronisation finished (a re-synchronisation starts with `Resync`) or
            // never started: a protocol error.
            let e = ProtoError::NotConnected { message: "Sync/Reconcile", peer: from.node };
            self.sync_failed(now, from, e, out);
            return;
        };
        // A first synchronisation opened while another one of this node runs waits for
        // it (at most `sync_timeout / 3`): a joiner whose further neighbours all connect
        // at once would otherwise receive every record once from each of them.
        let holding = !st.initiator
            && !st.released
            && st.settled_before.is_none()
            && (st.session.is_none() || !st.held.is_empty())
            && st.held.len() < MAX_HELD
            && st.held_since.is_none_or(|t| now.instant - t < self.hold_limit())
            && self.other_first_sync_running(&from.node);
        if holding {
            st.held.push((phase, payload.to_vec()));
            st.held_since.get_or_insert(now.instant);
            self.put_sync(&from.node, st);
            return;
        }
        let opens_phase =
            !st.initiator && (st.session.is_none() || (phase > st.phase && st.phase_complete()));
        if opens_phase {
            let session = self
                .phase_set(now, phase, st.settled_before)
                .and_then(|set| Ok(Session::responder(self.config.sync.reconcile.clone(), set)?));
            match session {
                Ok(s) => st.reset_phase(phase, s),
                Err(e) => {
                    self.sync_failed(now, from, e, out);
                    return;
                }
            }
        }
        if phase != st.phase {
            let e = ProtoError::Reconcile(peergroup_reconcile::Error::UnexpectedMessage {
                expected: "a message of the current phase",
                got: "a message of another phase",
            });
            self.sync_failed(now, from, e, out);
            return;
        }
        let result = match st.session.as_mut() {
            Some(s) => s.handle(payload).map_err(ProtoError::from),
            None => Err(ProtoError::NotConnected { message: "Sync/Reconcile", peer: from.node }),
        };
        match result {
            Ok(()) => self.pump(now, from, st, out),
            Err(e) => self.sync_failed(now, from, e, out),
        }
    }

    fn hold_limit(&self) -> std::time::Duration {
        self.config.sync.sync_timeout / 3
    }

    /// Whether this node is catching up: a first synchronisation with another neighbour
    /// found at least [`CATCH_UP_RECORDS`] records to receive and has not finished.
    fn other_first_sync_running(&self, except: &NodeId) -> bool {
        self.neighbours.iter().any(|(node, l)| {
            node != except
                && l.sync.running.as_ref().is_some_and(|s| {
                    s.settled_before.is_none()
                        && s.session_done
                        && s.incoming_expected >= CATCH_UP_RECORDS
                        && !s.phase_complete()
                })
        })
    }

    /// Opens the first synchronisations initiators deferred and replays the opening
    /// messages responders held (§8.3), once no other first synchronisation runs, or once
    /// they have waited `sync_timeout / 3`. Called when a
    /// synchronisation finishes and at every maintenance round.
    pub(crate) fn release_held(&mut self, now: Now, out: &mut Out) {
        let limit = self.hold_limit();
        let ready: Vec<PeerAddr> = self
            .neighbours
            .values()
            .filter(|l| {
                l.sync.running.as_ref().is_some_and(|s| {
                    (!s.held.is_empty() || s.open_deferred)
                        && (s.held_since.is_some_and(|t| now.instant - t >= limit)
                            || !self.other_first_sync_running(&l.peer.node))
                })
            })
            .map(|l| l.peer)
            .collect();
        for peer in ready {
            let Some(mut st) = self.take_sync(&peer.node) else { continue };
            let held = std::mem::take(&mut st.held);
            let open = std::mem::take(&mut st.open_deferred);
            st.released = true;
            self.put_sync(&peer.node, st);
            if open {
                let phase = self.first_phase();
                self.open_phase(now, peer, phase, out);
            }
            for (phase, payload) in held {
                self.on_sync_reconcile(now, peer, phase, &payload, out);
            }
        }
    }

    /// The neighbour opens a periodic re-synchronisation (§8.6). Only the side that
    /// initiated the first synchronisation may, and only when none is running.
    pub(crate) fn on_sync_resync(
        &mut self,
        now: Now,
        from: PeerAddr,
        settled_before: UnixTime,
        out: &mut Out,
    ) {
        let allowed = self
            .neighbours
            .get(&from.node)
            .is_some_and(|l| l.sync.running.is_none() && l.sync.synchronized && !l.sync.initiator);
        if !allowed {
            let e = ProtoError::NotConnected { message: "Sync/Resync", peer: from.node };
            self.sync_failed(now, from, e, out);
            return;
        }
        self.start_sync(now, from, false, Some(settled_before), out);
    }

    pub(crate) fn on_sync_records(
        &mut self,
        now: Now,
        from: PeerAddr,
        phase: SyncPhase,
        records: &[WireRecord],
        out: &mut Out,
    ) {
        let mut stored = 0;
        // Decode the batch first, so that the provider can prepare it as a whole.
        let decoded: Vec<_> = records.iter().map(|w| w.to_record(self.store.limits())).collect();
        let ok: Vec<&Record> = decoded.iter().filter_map(|r| r.as_ref().ok()).collect();
        if ok.len() > 1 {
            let view = StoreView { store: &self.store, now: now.unix };
            let cx = ProviderContext { graph: &self.graph, now: now.unix, records: &view };
            self.provider.prepare(&cx, &ok);
        }
        for record in decoded {
            let source = RecordSource::Sync { from: from.node };
            let verdict = match record {
                Ok(r) => self.receive_decoded(now, r, from, source, out),
                Err(e) => {
                    self.counters.records_rejected += 1;
                    self.reject(from, e.into(), out);
                    Verdict::Rejected
                }
            };
            if let Verdict::Stored(r) = verdict {
                stored += 1;
                self.flood(now, &r, 0, Some(from), out);
            }
        }
        self.counters.sync_records_stored += stored;
        if let Some(st) = self.neighbours.get_mut(&from.node).and_then(|l| l.sync.running.as_mut())
        {
            st.records_received += stored;
        }
        if self.neighbours.contains_key(&from.node) {
            self.send(from, Message::Sync(SyncMessage::Ack { phase }), out);
        }
    }

    pub(crate) fn on_sync_ack(
        &mut self,
        now: Now,
        from: PeerAddr,
        phase: SyncPhase,
        out: &mut Out,
    ) {
        let Some(mut st) = self.take_sync(&from.node) else {
            return;
        };
        if st.phase == phase {
            st.unacked = st.unacked.saturating_sub(1);
        }
        self.pump(now, from, st, out);
    }

    pub(crate) fn on_sync_done(
        &mut self,
        now: Now,
        from: PeerAddr,
        phase: SyncPhase,
        out: &mut Out,
    ) {
        let Some(mut st) = self.take_sync(&from.node) else {
            return;
        };
        if st.phase == phase {
            st.peer_done = true;
        }
        self.pump(now, from, st, out);
    }

    /// Drops the neighbours whose synchronisation has run longer than `sync_timeout`
    /// (the reconciliation has no timers of its own, `reconcile.md` §8.4).
    pub(crate) fn drop_stalled_syncs(&mut self, now: Now, out: &mut Out) {
        let timeout = self.config.sync.sync_timeout;
        let stalled: Vec<NodeId> = self
            .neighbours
            .values()
            .filter(|l| l.sync.running.as_ref().is_some_and(|s| now.instant - s.started > timeout))
            .map(|l| l.peer.node)
            .collect();
        for node in stalled {
            self.drop_neighbour(now, node, DisconnectReason::SyncTimeout, out);
        }
    }

    /// Anti-entropy (§8.6): re-synchronises with the neighbours this node opened the first
    /// synchronisation with, once `resync_interval` has passed since the last one finished.
    /// Flooding is best effort — a message lost to a full queue or a crash between two
    /// hops is not retransmitted — and a reconciliation of identical stores costs a few
    /// hundred bytes, so this bounds how long any loss lasts.
    ///
    /// At most one re-synchronisation starts per round (the neighbour waiting longest), so
    /// a node reads its store for this at most once per maintenance interval.
    pub(crate) fn resync_due(&mut self, now: Now, out: &mut Out) {
        let Some(interval) = self.config.sync.resync_interval else {
            return;
        };
        let due = self
            .neighbours
            .values()
            .filter(|l| {
                l.sync.initiator
                    && l.sync.synchronized
                    && l.sync.running.is_none()
                    && now.instant - l.sync.last >= interval
            })
            .min_by_key(|l| l.sync.last)
            .map(|l| l.peer);
        if let Some(peer) = due {
            let settle = self.config.sync.resync_settle.as_millis() as u64;
            let cutoff = UnixTime::from_millis(now.unix.as_millis().saturating_sub(settle));
            self.start_sync(now, peer, true, Some(cutoff), out);
        }
    }
}
