//! Resolving a name (`proto-specs/pnrp.md` §8): a name lookup towards the name's key that
//! verifies every CPA it is given and streams instances as they come.

use std::collections::BTreeMap;

use peergroup_base::{Instant, NodeId, Now, P2pId, PeerAddr};

use crate::proto::api::{
    CloudState, Event, Instance, ResolveId, ResolveOutcome, ResolveRequest, ResolveStats, Timer,
};
use crate::proto::cloud::{
    Answer, LookupEntry, LookupRequest, MAX_LOOKUP_REQUESTS, NewLookup, Out, Purpose,
};
use crate::proto::cpa::{Cpa, CpaDigest, CpaError, InstanceId};
use crate::proto::key::Key;
use crate::proto::lookup::{LookupParams, MAX_PATHS, Pacing};
use crate::proto::message::{Cloud, MAX_CONTACTS, MAX_RESULTS};
use crate::proto::node::Pnrp;
use crate::proto::store::location_distance;

/// Most distinct CPAs one resolve verifies; answers beyond are ignored. Bounds the CPU an
/// adversary can make a resolve spend (each Ed25519 check is ~47 µs).
const MAX_CPAS_CHECKED_PER_RESOLVE: usize = 256;

/// A resolve in progress.
#[derive(Debug)]
pub(crate) struct Resolve {
    pub cloud: Cloud,
    pub request: ResolveRequest,
    pub p2p: P2pId,
    pub key: Key,
    pub started: Instant,
    pub lookup: Option<u64>,
    pub instances: BTreeMap<InstanceId, (Cpa, NodeId)>,
    pub revoked: BTreeMap<InstanceId, u64>,
    pub stats: ResolveStats,
    /// CPAs already checked in this resolve, with the verdict.
    pub checked: Vec<(CpaDigest, bool)>,
}

pub(crate) fn instance_of(cpa: &Cpa, source: NodeId) -> Instance {
    let b = cpa.body();
    Instance {
        name: b.name.clone(),
        location: b.location,
        endpoints: b.endpoints.clone(),
        comment: b.comment.clone(),
        payload: b.payload.clone(),
        not_after: b.not_after,
        sequence: b.sequence,
        signer: b.signer,
        unsecured: cpa.is_unsecured(),
        delegated: cpa.is_delegated(),
        digest: cpa.digest(),
        source,
        cpa: cpa.signed().clone(),
    }
}

impl Pnrp {
    pub(crate) fn resolve(
        &mut self,
        id: ResolveId,
        mut request: ResolveRequest,
        now: Now,
        out: &mut Out,
    ) {
        request.max_results = request.max_results.clamp(1, MAX_RESULTS);
        let ci = request.cloud.index();
        let done = |outcome| Event::ResolveDone {
            id,
            outcome,
            instances: Vec::new(),
            stats: ResolveStats::default(),
        };
        if !self.clouds[ci].enabled {
            out.emit(done(ResolveOutcome::CloudNotReady));
            return;
        }
        let capacity = self.config.max_lookups + self.config.max_queued_resolves;
        if self.resolves.contains_key(&id) || self.resolves.len() >= capacity {
            out.emit(done(ResolveOutcome::Busy));
            return;
        }
        let p2p = request.name.p2p_id();
        let timeout = request.timeout;
        self.resolves.insert(
            id,
            Resolve {
                cloud: request.cloud,
                request,
                p2p,
                key: Key::of_name(&p2p),
                started: now.instant,
                lookup: None,
                instances: BTreeMap::new(),
                revoked: BTreeMap::new(),
                stats: ResolveStats::default(),
                checked: Vec::new(),
            },
        );
        out.set_timer(now.instant + timeout, Timer::ResolveDeadline { id });
        match self.clouds[ci].state {
            CloudState::Active | CloudState::Alone => self.run_resolve(id, now, out),
            CloudState::Synchronising if self.clouds[ci].bootstrap_answered() => {
                self.run_resolve(id, now, out)
            }
            CloudState::Synchronising => {
                if self.clouds[ci].queued.len() < self.config.max_queued_resolves {
                    self.clouds[ci].queued.push_back(id);
                } else {
                    self.finish_resolve(id, ResolveOutcome::Busy, now, out);
                }
            }
            _ => self.finish_resolve(id, ResolveOutcome::CloudNotReady, now, out),
        }
    }

    pub(crate) fn run_queued_resolves(&mut self, ci: usize, now: Now, out: &mut Out) {
        let queued: Vec<ResolveId> = self.clouds[ci].queued.drain(..).collect();
        for id in queued {
            self.run_resolve(id, now, out);
        }
    }

    fn run_resolve(&mut self, id: ResolveId, now: Now, out: &mut Out) {
        let Some(r) = self.resolves.get(&id) else {
            return;
        };
        let ci = r.cloud.index();
        let (key, p2p, max, hint) = (r.key, r.p2p, r.request.max_results, r.request.hint);
        // Local hits: what we hold as a replica, and our own registrations.
        let mut local: Vec<Cpa> = self.clouds[ci]
            .store
            .cpas_for(&key)
            .iter()
            .filter(|c| !c.body().revoked && !c.is_expired(now.unix))
            .cloned()
            .collect();
        let cloud = r.cloud;
        for reg in self.registrations.values().filter(|g| g.cloud == cloud && g.p2p == p2p) {
            if !reg.current.body().revoked && !reg.current.is_expired(now.unix) {
                local.push(reg.current.clone());
            }
        }
        let me = self.me.node;
        for cpa in local {
            self.accept_instance(id, cpa, me, out);
        }
        let paths = self.config.disjoint_paths.clamp(1, MAX_PATHS);
        let quorum = self.config.path_quorum.max(1);
        let found = self.resolves.get(&id).map_or(0, |r| r.instances.len());
        if found >= max || (found > 0 && paths == 1 && quorum == 1) {
            self.finish_resolve(id, ResolveOutcome::Found, now, out);
            return;
        }
        if self.clouds[ci].state == CloudState::Alone {
            let outcome = if found > 0 { ResolveOutcome::Found } else { ResolveOutcome::NotFound };
            self.finish_resolve(id, outcome, now, out);
            return;
        }
        let k = self.config.k;
        let seeds: Vec<PeerAddr> =
            self.clouds[ci].table.closest(&key, k.max(paths * self.config.alpha), None);
        if seeds.is_empty() {
            let outcome =
                if found > 0 { ResolveOutcome::Found } else { ResolveOutcome::CloudNotReady };
            self.finish_resolve(id, outcome, now, out);
            return;
        }
        let pacing = if self.config.pacing && paths == 1 {
            self.clouds[ci]
                .table
                .size_estimate()
                .map(|size| Pacing { size, rank_threshold: self.config.replicas as f64 / 2.0 })
        } else {
            None
        };
        let params = LookupParams {
            alpha: self.config.alpha,
            width: k,
            paths,
            quorum,
            stall: self.config.stall_timeout,
            pacing,
            max_requests: MAX_LOOKUP_REQUESTS,
            keep: 0,
        };
        let count = if paths > 1 { MAX_CONTACTS as u8 } else { self.config.resolve_contacts };
        let request = LookupRequest::FindName {
            p2p,
            count: count.clamp(1, MAX_CONTACTS as u8),
            max_results: max as u8,
            hint,
            probe: None,
        };
        // The lookup may end inside start_lookup; record its id first.
        let next = self.clouds[ci].next_lookup;
        if let Some(r) = self.resolves.get_mut(&id) {
            r.lookup = Some(next);
        }
        let lookup =
            NewLookup { target: key, params, request, purpose: Purpose::Resolve(id), near: None };
        if self.start_lookup(ci, lookup, &seeds, now, out).is_none() {
            if let Some(r) = self.resolves.get_mut(&id) {
                r.lookup = None;
            }
            self.finish_resolve(id, ResolveOutcome::Busy, now, out);
        }
    }

    /// Adds a verified CPA to a resolve's results; emits it if new or newer.
    fn accept_instance(&mut self, id: ResolveId, cpa: Cpa, source: NodeId, out: &mut Out) {
        let Some(r) = self.resolves.get_mut(&id) else {
            return;
        };
        let inst = cpa.instance();
        let seq = cpa.body().sequence;
        if cpa.body().revoked {
            let e = r.revoked.entry(inst).or_insert(0);
            *e = (*e).max(seq);
            if r.instances.get(&inst).is_some_and(|(c, _)| c.body().sequence < seq) {
                r.instances.remove(&inst);
            }
            return;
        }
        if r.revoked.get(&inst).is_some_and(|&rs| rs >= seq) {
            return;
        }
        if r.instances.get(&inst).is_some_and(|(c, _)| c.body().sequence >= seq) {
            return;
        }
        out.emit(Event::ResolveInstance { id, instance: Box::new(instance_of(&cpa, source)) });
        r.instances.insert(inst, (cpa, source));
    }

    /// An answer to a resolve's lookup. Returns `true` if the resolve ended.
    pub(crate) fn resolve_answer(
        &mut self,
        ci: usize,
        id: ResolveId,
        answer: Answer,
        now: Now,
        out: &mut Out,
    ) -> bool {
        let Answer { lookup: lid, path, from, depth, cpas, received_bytes, .. } = answer;
        let Some(r) = self.resolves.get_mut(&id) else {
            return false;
        };
        r.stats.responses += 1;
        r.stats.bytes_received += received_bytes;
        let p2p = r.p2p;
        let validator = self.config.validator.clone();
        let mut valid = 0usize;
        let mut forged = false;
        for signed in cpas {
            let digest = signed.digest();
            let Some(r) = self.resolves.get_mut(&id) else {
                return true;
            };
            if let Some(&(_, ok)) = r.checked.iter().find(|(d, _)| *d == digest) {
                if ok {
                    valid += 1;
                } else {
                    r.stats.rejected_cpas += 1;
                }
                continue;
            }
            if r.checked.len() >= MAX_CPAS_CHECKED_PER_RESOLVE {
                break;
            }
            let verdict = signed
                .verify_cached(now.unix, validator.as_deref(), &mut self.verify_cache)
                .and_then(|c| {
                    if c.p2p_id() == p2p {
                        Ok(c)
                    } else {
                        Err(CpaError::NameMismatch { expected: p2p, got: c.p2p_id() })
                    }
                });
            let r = match self.resolves.get_mut(&id) {
                Some(r) => r,
                None => return true,
            };
            match verdict {
                Ok(cpa) => {
                    r.checked.push((digest, true));
                    valid += 1;
                    self.accept_instance(id, cpa, from.node, out);
                }
                Err(e) => {
                    r.checked.push((digest, false));
                    r.stats.rejected_cpas += 1;
                    forged |= e.is_forgery();
                    self.counters.note_cpa_error(&e);
                }
            }
        }
        if forged {
            // Honest nodes check CPAs before storing or serving them: this one is hostile.
            if self.clouds[ci].table.remove(&from.node) {
                self.counters.contacts_punished += 1;
            }
        }
        if valid > 0 {
            if let Some(r) = self.resolves.get_mut(&id) {
                r.stats.hops = u32::from(depth);
            }
            if let Some(e) = self.clouds[ci].lookups.get_mut(&lid) {
                e.lookup.hit(path);
            }
        }
        let (found, max) = match self.resolves.get(&id) {
            Some(r) => (r.instances.len(), r.request.max_results),
            None => return true,
        };
        if found >= max {
            self.finish_resolve(id, ResolveOutcome::Found, now, out);
            return true;
        }
        false
    }

    /// The resolve's lookup ended (every path converged or reached its quorum).
    pub(crate) fn resolve_lookup_finished(
        &mut self,
        id: ResolveId,
        entry: &LookupEntry,
        now: Now,
        out: &mut Out,
    ) {
        let Some(r) = self.resolves.get_mut(&id) else {
            return;
        };
        r.lookup = None;
        r.stats.requests += entry.sent;
        r.stats.bytes_sent += entry.bytes_sent;
        let outcome = if r.instances.is_empty() {
            r.stats.hops = u32::from(entry.lookup.max_depth);
            ResolveOutcome::NotFound
        } else {
            ResolveOutcome::Found
        };
        self.finish_resolve(id, outcome, now, out);
    }

    pub(crate) fn resolve_deadline(&mut self, id: ResolveId, now: Now, out: &mut Out) {
        let Some(r) = self.resolves.get(&id) else {
            return;
        };
        let outcome =
            if r.instances.is_empty() { ResolveOutcome::TimedOut } else { ResolveOutcome::Found };
        self.finish_resolve(id, outcome, now, out);
    }

    /// Ends a resolve: drops its lookup and emits the ranked result.
    pub(crate) fn finish_resolve(
        &mut self,
        id: ResolveId,
        outcome: ResolveOutcome,
        now: Now,
        out: &mut Out,
    ) {
        let Some(mut r) = self.resolves.remove(&id) else {
            return;
        };
        let ci = r.cloud.index();
        if let Some(lid) = r.lookup.take()
            && let Some(e) = self.clouds[ci].lookups.remove(&lid)
        {
            r.stats.requests += e.sent;
            r.stats.bytes_sent += e.bytes_sent;
        }
        self.clouds[ci].queued.retain(|q| *q != id);
        let mut list: Vec<&(Cpa, NodeId)> = r.instances.values().collect();
        match r.request.hint {
            Some(h) => list.sort_by_key(|(c, _)| location_distance(&h, &c.body().location)),
            None => list.sort_by(|a, b| {
                b.0.body()
                    .sequence
                    .cmp(&a.0.body().sequence)
                    .then(a.0.instance().cmp(&b.0.instance()))
            }),
        }
        let instances: Vec<Instance> = list
            .into_iter()
            .take(r.request.max_results)
            .map(|(c, src)| instance_of(c, *src))
            .collect();
        r.stats.elapsed_micros = now.instant.saturating_since(r.started).as_micros() as u64;
        out.emit(Event::ResolveDone { id, outcome, instances, stats: r.stats });
    }
}
