//! Registering a name (`proto-specs/pnrp.md` §6): sign a CPA, find the r nodes closest to
//! the name's key, store it there, and keep it there.
//!
//! A registration runs in **rounds**. Each round is a name lookup with a probe: every node
//! that answers says which version of our instance it holds. Far from the key a few
//! contacts per answer suffice; nodes estimated among the 2r closest are asked for k, so
//! once the α closest have answered, their answers name the whole neighbourhood of the key
//! and the lookup stops. The round then stores the CPA at each of the r closest candidates
//! that did not say it holds the current version (a `Store` of a CPA already held is
//! answered `AlreadyCurrent` without a signature check), moving on to the next candidate
//! when one does not answer, and at every other node that admitted holding an older one. Rounds repeat at an adaptive interval — halved (down to `republish_min`) when
//! more than a quarter of the r closest lacked the CPA, doubled (up to `republish_max`)
//! when fewer than a tenth did — so churn is met with republishing only where it is needed.
//! The CPA is re-signed with a new sequence at half its lifetime, so it never expires
//! while registered. Unregistering signs a revocation and stores it the same way.

use std::net::SocketAddr;
use std::time::Duration;

use peergroup_base::{Now, P2pId, PeerName, ServiceLocation, UnixTime};
use rand::Rng;

use crate::proto::api::{CloudState, Event, RegisterError, RegisterRequest, RegistrationId, Timer};
use crate::proto::cloud::{
    LookupEntry, LookupRequest, NewLookup, Out, Purpose, StoreOwner, node_lookup_params,
};
use crate::proto::config::Config;
use crate::proto::cpa::{CPA_FORMAT, Cpa, CpaBody, CpaError, CpaSigner};
use crate::proto::key::Key;
use crate::proto::lookup::MAX_PATHS;
use crate::proto::message::{Cloud, StoreStatus};
use crate::proto::node::{Pnrp, cx};

/// Domain separator of the service-location suffix hash.
pub const LOCATION_DOMAIN: &[u8] = b"peergroup/pnrp/location/v1";

/// The service location of a registration: `address_hint ‖ first 8 bytes of SHA-256(
/// "peergroup/pnrp/location/v1" ‖ 0x00 ‖ signer ‖ p2p_id ‖ u64 instance_tag)`.
///
/// Deterministic, so a node that registers the same name with the same key and tag after
/// a restart replaces its old instance instead of adding a second one.
pub fn service_location(
    address_hint: u64,
    signer: &[u8; 32],
    p2p: &P2pId,
    instance_tag: u64,
) -> ServiceLocation {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(LOCATION_DOMAIN);
    ctx.update(&[0]);
    ctx.update(signer);
    ctx.update(&p2p.0);
    ctx.update(&instance_tag.to_be_bytes());
    let d = ctx.finish();
    let mut s = [0u8; 8];
    s.copy_from_slice(&d.as_ref()[..8]);
    ServiceLocation::new(address_hint, u64::from_be_bytes(s))
}

#[derive(Debug, Clone)]
pub(crate) struct Round {
    generation: u32,
    pending: usize,
    confirmed: usize,
    missing: usize,
    total: usize,
    /// Candidates beyond the r closest, nearest first: the next store target when a
    /// store among the r closest fails.
    spare: Vec<peergroup_base::PeerAddr>,
}

impl Round {
    fn new(generation: u32) -> Self {
        Round { generation, pending: 0, confirmed: 0, missing: 0, total: 0, spare: Vec::new() }
    }
}

/// Who registers: the name, the key that signs, and the instance's service location.
#[derive(Debug)]
pub(crate) struct Registrant {
    pub name: PeerName,
    pub signer: CpaSigner,
    pub location: ServiceLocation,
}

/// What a registration publishes besides who registers.
#[derive(Debug)]
pub(crate) struct Content {
    pub endpoints: Vec<SocketAddr>,
    pub comment: String,
    pub payload: Option<Vec<u8>>,
}

impl Registrant {
    /// Signs version `sequence` of our CPA for `content` (a revocation, with no endpoints
    /// and no payload, if `revoked`), valid for the configured lifetime from `now`.
    fn sign(
        &self,
        config: &Config,
        sequence: u64,
        revoked: bool,
        content: &Content,
        now: UnixTime,
    ) -> Result<Cpa, CpaError> {
        let body = CpaBody {
            format: CPA_FORMAT,
            name: self.name.clone(),
            location: self.location,
            sequence,
            not_after: now.saturating_add(config.cpa_lifetime),
            revoked,
            endpoints: if revoked { Vec::new() } else { content.endpoints.clone() },
            comment: content.comment.clone(),
            payload: if revoked { None } else { content.payload.clone() },
            signer: self.signer.public_key(),
            delegation: self.signer.delegation().map(<[u8]>::to_vec),
        };
        let signed = body.sign(&self.signer, now)?;
        // Every check but the signature, which we just made: a registration that others
        // would refuse (wrong authority, refused delegation, …) fails here, at once.
        signed.verify_own(now, config.validator.as_deref())
    }
}

/// One registration of this node.
#[derive(Debug)]
pub(crate) struct Registration {
    pub cloud: Cloud,
    pub p2p: P2pId,
    pub key: Key,
    pub registrant: Registrant,
    pub content: Content,
    /// The CPA (or revocation) being kept at the replicas.
    pub current: Cpa,
    pub generation: u32,
    round: Option<Round>,
    interval: Duration,
    announced: Option<u64>,
    unregistering: bool,
}

impl Pnrp {
    pub(crate) fn register(
        &mut self,
        id: RegistrationId,
        req: RegisterRequest,
        now: Now,
        out: &mut Out,
    ) {
        let fail = |error| Event::RegistrationFailed { id, error };
        if self.registrations.contains_key(&id) {
            out.emit(fail(RegisterError::DuplicateId(id)));
            return;
        }
        if self.registrations.len() >= self.config.max_registrations {
            out.emit(fail(RegisterError::TooManyRegistrations(self.config.max_registrations)));
            return;
        }
        let ci = req.cloud.index();
        if !self.clouds[ci].enabled {
            out.emit(fail(RegisterError::CloudDisabled(req.cloud)));
            return;
        }
        let p2p = req.name.p2p_id();
        let hint = req
            .address_hint
            .or_else(|| req.endpoints.first().map(|e| ServiceLocation::address_hint_of(e.ip())))
            .unwrap_or(0);
        let location = service_location(hint, &req.signer.public_key(), &p2p, req.instance_tag);
        let sequence = now.unix.as_millis().max(1);
        let registrant = Registrant { name: req.name, signer: req.signer, location };
        let content =
            Content { endpoints: req.endpoints, comment: req.comment, payload: req.payload };
        let cpa = match registrant.sign(&self.config, sequence, false, &content, now.unix) {
            Ok(c) => c,
            Err(e) => {
                out.emit(fail(RegisterError::InvalidCpa(e)));
                return;
            }
        };
        let interval = self.config.republish_min.saturating_mul(4).min(self.config.republish_max);
        self.registrations.insert(
            id,
            Registration {
                cloud: req.cloud,
                p2p,
                key: Key::of_name(&p2p),
                registrant,
                content,
                current: cpa,
                generation: 0,
                round: None,
                interval,
                announced: None,
                unregistering: false,
            },
        );
        self.start_round(id, now, out);
    }

    pub(crate) fn update(
        &mut self,
        id: RegistrationId,
        endpoints: Vec<SocketAddr>,
        comment: String,
        payload: Option<Vec<u8>>,
        now: Now,
        out: &mut Out,
    ) {
        let Some(r) = self.registrations.get(&id) else {
            out.emit(Event::RegistrationFailed {
                id,
                error: RegisterError::UnknownRegistration(id),
            });
            return;
        };
        let sequence = now.unix.as_millis().max(r.current.body().sequence + 1);
        let content = Content { endpoints, comment, payload };
        let made = r.registrant.sign(&self.config, sequence, false, &content, now.unix);
        match made {
            Ok(cpa) => {
                if let Some(r) = self.registrations.get_mut(&id) {
                    r.current = cpa;
                    r.content = content;
                    r.generation += 1;
                    r.round = None;
                }
                self.start_round(id, now, out);
            }
            Err(e) => {
                out.emit(Event::RegistrationFailed { id, error: RegisterError::InvalidCpa(e) })
            }
        }
    }

    pub(crate) fn unregister(&mut self, id: RegistrationId, now: Now, out: &mut Out) {
        let Some(r) = self.registrations.get(&id) else {
            out.emit(Event::RegistrationFailed {
                id,
                error: RegisterError::UnknownRegistration(id),
            });
            return;
        };
        let sequence = now.unix.as_millis().max(r.current.body().sequence + 1);
        let made = r.registrant.sign(&self.config, sequence, true, &r.content, now.unix);
        match made {
            Ok(cpa) => {
                if let Some(r) = self.registrations.get_mut(&id) {
                    r.current = cpa;
                    r.unregistering = true;
                    r.generation += 1;
                    r.round = None;
                }
                self.start_round(id, now, out);
            }
            Err(e) => {
                out.emit(Event::RegistrationFailed { id, error: RegisterError::InvalidCpa(e) })
            }
        }
    }

    pub(crate) fn start_waiting_registrations(&mut self, ci: usize, now: Now, out: &mut Out) {
        let cloud = self.clouds[ci].cloud;
        let ids: Vec<RegistrationId> = self
            .registrations
            .iter()
            .filter(|(_, r)| r.cloud == cloud && r.round.is_none())
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.start_round(id, now, out);
        }
    }

    /// Starts an upkeep round unless one runs or the cloud is not ready (it then starts
    /// when the cloud becomes active).
    fn start_round(&mut self, id: RegistrationId, now: Now, out: &mut Out) {
        let Some(r) = self.registrations.get_mut(&id) else {
            return;
        };
        if r.round.is_some() {
            return;
        }
        let ci = r.cloud.index();
        let generation = r.generation;
        let key = r.key;
        let p2p = r.p2p;
        let probe = r.current.instance();
        match self.clouds[ci].state {
            CloudState::Active => {}
            CloudState::Alone => {
                r.round = Some(Round::new(generation));
                self.complete_round(id, now, out);
                return;
            }
            _ => return,
        }
        let seeds = self.clouds[ci].table.closest(&key, self.config.k, None);
        if seeds.is_empty() {
            r.round = Some(Round::new(generation));
            self.complete_round(id, now, out);
            return;
        }
        r.round = Some(Round::new(generation));
        let mut params = node_lookup_params(&self.config, u32::MAX);
        params.width = self.config.alpha;
        params.keep = 2 * self.config.replicas;
        // With disjoint paths configured, registrations use them too: a registrant whose
        // one path ran into a coalition would otherwise store only at its members.
        params.paths = self.config.disjoint_paths.clamp(1, MAX_PATHS);
        let request = LookupRequest::FindName {
            p2p,
            count: self.config.resolve_contacts.clamp(1, 20),
            max_results: 0,
            hint: None,
            probe: Some(probe),
        };
        let purpose = Purpose::Register { id, generation };
        // Far from the key a few contacts per answer suffice to get closer; the nodes
        // estimated among the 2r closest are asked for k, so that between them they name
        // all of the r closest (§6.2).
        // With fewer than two contacts there is no estimate (§5.3); the cloud is then as
        // small as the table knows it, so every candidate is among the 2r closest.
        let table = &self.clouds[ci].table;
        let size = Some(table.size_estimate().unwrap_or(table.len() as f64 + 1.0));
        let near =
            size.map(|n| (n, 2.0 * self.config.replicas as f64, self.config.registration_contacts));
        let lookup = NewLookup { target: key, params, request, purpose, near };
        let started = self.start_lookup(ci, lookup, &seeds, now, out);
        if started.is_none() {
            // too many lookups: try again later
            if let Some(r) = self.registrations.get_mut(&id) {
                r.round = None;
            }
            out.set_timer(
                now.instant + self.config.republish_min,
                Timer::Registration { id, generation },
            );
        }
    }

    /// The round's lookup converged: store where the current version is missing.
    pub(crate) fn registration_lookup_finished(
        &mut self,
        ci: usize,
        id: RegistrationId,
        generation: u32,
        entry: &LookupEntry,
        now: Now,
        out: &mut Out,
    ) {
        let Some(r) = self.registrations.get(&id) else {
            return;
        };
        if r.round.as_ref().map(|x| x.generation) != Some(generation) {
            return;
        }
        let seq = r.current.body().sequence;
        let signed = r.current.signed().clone();
        let candidates = entry.lookup.live_closest();
        // The registrant answers for its own registration: when it is itself among the r
        // closest nodes, it is one of the r, so every registrant of a name stores at the
        // same r nodes and each of them holds every instance.
        let mine = self.key.distance(&r.key);
        let closer = candidates
            .iter()
            .filter(|(p, _)| Key::of_node(&p.node).distance(&r.key) < mine)
            .count();
        let replicas = if closer < self.config.replicas {
            self.config.replicas - 1
        } else {
            self.config.replicas
        };
        let total = candidates.len().min(replicas);
        let (mut pending, mut confirmed, mut missing) = (0, 0, 0);
        let mut spare = Vec::new();
        for (rank, &(peer, answered)) in candidates.iter().enumerate() {
            let holds = if answered {
                entry.holdings.iter().find(|(n, _)| *n == peer.node).and_then(|(_, h)| *h)
            } else {
                None
            };
            if holds.is_some_and(|h| h >= seq) {
                if rank < replicas {
                    confirmed += 1;
                }
                continue;
            }
            if rank >= replicas {
                // Beyond the r closest: update a node that holds an older version (so no
                // resolver is served an outdated copy from just outside the replica set);
                // keep the others as spares.
                if holds.is_none() {
                    if spare.len() < replicas {
                        spare.push(peer);
                    }
                    continue;
                }
            } else {
                missing += 1;
            }
            let owner = StoreOwner::Registration { id, generation };
            if self.clouds[ci].send_store(&mut cx!(self, now, out), peer, signed.clone(), owner) {
                pending += 1;
            }
        }
        if let Some(r) = self.registrations.get_mut(&id)
            && let Some(round) = r.round.as_mut()
        {
            round.pending = pending;
            round.confirmed = confirmed;
            round.missing = missing;
            round.total = total;
            round.spare = spare;
        }
        if pending == 0 {
            self.complete_round(id, now, out);
        }
    }

    /// A `StoreAck` (or a failure: `None`) for a store of ours.
    pub(crate) fn store_answered(
        &mut self,
        owner: StoreOwner,
        status: Option<StoreStatus>,
        now: Now,
        out: &mut Out,
    ) {
        let StoreOwner::Registration { id, generation } = owner else {
            return;
        };
        let Some(r) = self.registrations.get_mut(&id) else {
            return;
        };
        let Some(round) = r.round.as_mut().filter(|x| x.generation == generation) else {
            return;
        };
        round.pending = round.pending.saturating_sub(1);
        if matches!(status, Some(StoreStatus::Stored | StoreStatus::AlreadyCurrent)) {
            round.confirmed += 1;
        } else if !round.spare.is_empty() {
            // that candidate is gone (or refused): the next closest takes its place
            let next = round.spare.remove(0);
            let ci = r.cloud.index();
            let signed = r.current.signed().clone();
            let owner = StoreOwner::Registration { id, generation };
            if self.clouds[ci].send_store(&mut cx!(self, now, out), next, signed, owner)
                && let Some(round) = self.registrations.get_mut(&id).and_then(|r| r.round.as_mut())
            {
                round.pending += 1;
            }
        }
        let Some(r) = self.registrations.get_mut(&id) else {
            return;
        };
        if r.round.as_ref().is_some_and(|x| x.pending == 0) {
            self.complete_round(id, now, out);
        }
    }

    fn complete_round(&mut self, id: RegistrationId, now: Now, out: &mut Out) {
        let jitter: f64 = self.rng.random_range(0.9..1.1);
        let Some(r) = self.registrations.get_mut(&id) else {
            return;
        };
        let Some(round) = r.round.take() else {
            return;
        };
        if r.unregistering {
            self.registrations.remove(&id);
            out.emit(Event::Unregistered { id, replicas: round.confirmed });
            return;
        }
        let seq = r.current.body().sequence;
        if r.announced != Some(seq) {
            r.announced = Some(seq);
            out.emit(Event::Registered {
                id,
                sequence: seq,
                digest: r.current.digest(),
                replicas: round.confirmed,
            });
        }
        if round.total > 0 {
            let miss = round.missing as f64 / round.total as f64;
            if miss > 0.25 {
                r.interval = (r.interval / 2).max(self.config.republish_min);
            } else if miss < 0.1 {
                r.interval = r.interval.saturating_mul(2).min(self.config.republish_max);
            }
        }
        // re-sign at half-life
        let resign_at = r
            .current
            .body()
            .not_after
            .as_millis()
            .saturating_sub(self.config.cpa_lifetime.as_millis() as u64 / 2);
        let until_resign = Duration::from_millis(resign_at.saturating_sub(now.unix.as_millis()));
        let next = r.interval.mul_f64(jitter).min(until_resign).max(Duration::from_secs(1));
        out.set_timer(now.instant + next, Timer::Registration { id, generation: r.generation });
    }

    pub(crate) fn registration_timer(
        &mut self,
        id: RegistrationId,
        generation: u32,
        now: Now,
        out: &mut Out,
    ) {
        let Some(r) = self.registrations.get(&id) else {
            return;
        };
        if r.generation != generation || r.round.is_some() {
            return;
        }
        let half = self.config.cpa_lifetime / 2;
        let resign =
            !r.unregistering && r.current.body().not_after <= now.unix.saturating_add(half);
        if resign {
            let sequence = now.unix.as_millis().max(r.current.body().sequence + 1);
            let made = r.registrant.sign(&self.config, sequence, false, &r.content, now.unix);
            match made {
                Ok(cpa) => {
                    if let Some(r) = self.registrations.get_mut(&id) {
                        r.current = cpa;
                    }
                }
                Err(e) => {
                    out.emit(Event::RegistrationFailed { id, error: RegisterError::InvalidCpa(e) });
                    return;
                }
            }
        }
        self.start_round(id, now, out);
    }
}
