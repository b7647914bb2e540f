//! A small group for tests: creator (admin, depth 1) → admin (depth 2) → inviter
//! (depth 3) → two members (depth 4), plus helpers to write signed records.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use peergroup_base::UnixTime;
use peergroup_graph::proto::{ProviderContext, RecordLookup, SecurityProvider, Validation};
use peergroup_graph::record::{Record, RecordBuilder, RecordLimits};
use peergroup_graph::store::{MemStore, RecordStore};
use peergroup_graph::{GraphId, Hlc, RecordFilter, RecordId, RecordType};
use peergroup_group::records::{
    REVOCATION_TYPE, Revocation, RevocationReason, SecurityData, revocation_id,
};
use peergroup_group::{
    CertCache, CreateOptions, GroupKey, GroupSecurity, LocalMember, NewGroup, Role, Verifier,
    create_group,
};
use peergroup_identity::Identity;

pub(crate) const T0: UnixTime = UnixTime::from_secs(1_800_000_000);
pub(crate) const DATA: RecordType = RecordType::from_u128(0x42);

pub(crate) fn at(secs: u64) -> UnixTime {
    T0.saturating_add(Duration::from_secs(secs))
}

pub(crate) struct Fixture {
    pub(crate) group: NewGroup,
    pub(crate) creator: LocalMember,
    pub(crate) admin: LocalMember,
    pub(crate) inviter: LocalMember,
    pub(crate) alice: LocalMember,
    pub(crate) bob: LocalMember,
    pub(crate) carol: LocalMember,
}

pub(crate) fn ident(name: &str, n: u8) -> Identity {
    Identity::from_seed([n; 32], name, "").unwrap()
}

pub(crate) fn issue(issuer: &LocalMember, who: &Identity, role: Role, days: u64) -> LocalMember {
    let chain = issuer
        .issue(
            who.public_key(),
            who.peer_name().classifier(),
            role,
            Duration::from_secs(days * 86_400),
            T0,
            [who.public_key()[0]; 16],
        )
        .unwrap();
    LocalMember::new(who.clone(), &chain, &mut CertCache::default()).unwrap()
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        let creator = ident("creator", 1);
        let mut o = CreateOptions::new("tests");
        o.friendly_name = "Test group".into();
        let group = create_group(
            &creator,
            GroupKey::from_seed([100; 32]).unwrap(),
            &o,
            T0,
            [[1; 16], [2; 16]],
        )
        .unwrap();
        let c = group.creator.clone();
        let admin = issue(&c, &ident("admin", 2), Role::Administrator, 300);
        let inviter = issue(&admin, &ident("inviter", 3), Role::InvitingMember, 200);
        let alice = issue(&inviter, &ident("alice", 4), Role::Member, 100);
        let bob = issue(&inviter, &ident("bob", 5), Role::Member, 100);
        let carol = issue(&admin, &ident("carol", 6), Role::Member, 100);
        Fixture { creator: c, group, admin, inviter, alice, bob, carol }
    }

    pub(crate) fn graph(&self) -> &GraphId {
        &self.group.graph
    }

    /// A provider for a node that is `local`.
    pub(crate) fn security(&self, local: &LocalMember) -> GroupSecurity {
        GroupSecurity::new(self.group.root(), Some(local.clone()), None, Verifier::new())
    }

    pub(crate) fn membership(&self, m: &LocalMember) -> Record {
        peergroup_group::group::membership_record(
            m,
            self.graph(),
            Duration::from_secs(86_400),
            Hlc::new(T0, 0, 1),
            T0,
        )
        .unwrap()
    }

    /// Every membership record, the properties first.
    pub(crate) fn security_records(&self) -> Vec<Record> {
        vec![
            self.group.properties_record.clone(),
            self.membership(&self.creator),
            self.membership(&self.admin),
            self.membership(&self.inviter),
            self.membership(&self.alice),
            self.membership(&self.bob),
            self.membership(&self.carol),
        ]
    }
}

/// Signs `r` as `m` (kind 1).
pub(crate) fn sign(graph: &GraphId, m: &LocalMember, r: Record) -> Record {
    let signature = m.identity.sign(&r.signing_bytes(graph));
    r.with_security_data(
        &SecurityData::Member { cert: m.chain.leaf().id(), signature }.encode(),
        &RecordLimits::default(),
    )
    .unwrap()
}

/// A data record by `m`, modified at `t`.
pub(crate) fn data(graph: &GraphId, m: &LocalMember, id: u128, t: UnixTime) -> Record {
    let r = RecordBuilder::new(
        DATA,
        RecordId::from_u128(id),
        m.identity.peer_name().clone(),
        Hlc::new(t, 0, 1),
        t.saturating_add(Duration::from_secs(3600)),
    )
    .payload(vec![id as u8; 8])
    .build(&RecordLimits::default())
    .unwrap();
    sign(graph, m, r)
}

/// A revocation of `target`'s certificate by `revoker`, letting `stand` stand.
pub(crate) fn revocation(
    graph: &GraphId,
    revoker: &LocalMember,
    target: &LocalMember,
    stand: &[&Record],
    t: UnixTime,
) -> Record {
    let leaf = target.chain.leaf();
    let rev = Revocation {
        target: leaf.id(),
        target_not_after: leaf.not_after(),
        reason: RevocationReason::Misbehaviour,
        revoker: Some(revoker.chain.chain().clone()),
        stand: stand.iter().map(|r| *r.digest().as_bytes()).collect(),
    };
    let id = revocation_id(&leaf.id(), revoker.chain.leaf().id().as_bytes());
    let expires = leaf.not_after().min(revoker.chain.leaf().not_after());
    let r = RecordBuilder::new(
        REVOCATION_TYPE,
        id,
        revoker.identity.peer_name().clone(),
        Hlc::new(t, 0, 2),
        expires,
    )
    .payload(rev.encode())
    .build(&RecordLimits::default())
    .unwrap();
    sign(graph, revoker, r)
}

pub(crate) struct View<'a> {
    pub(crate) store: &'a MemStore,
    pub(crate) now: UnixTime,
}

impl RecordLookup for View<'_> {
    fn get(&self, id: &RecordId) -> Option<Record> {
        self.store.get(id, self.now).ok().flatten()
    }
    fn enumerate(&self, filter: &RecordFilter) -> Vec<Record> {
        self.store.enumerate(filter, self.now).unwrap_or_default()
    }
}

/// A replica: a store and a provider, driven as the graph drives them.
pub(crate) struct Replica {
    pub(crate) store: MemStore,
    pub(crate) security: GroupSecurity,
    pub(crate) graph: GraphId,
    pub(crate) deferred: Vec<Record>,
}

impl Replica {
    pub(crate) fn new(f: &Fixture, local: &LocalMember) -> Replica {
        Replica {
            store: MemStore::new(RecordLimits::default()),
            security: f.security(local),
            graph: f.graph().clone(),
            deferred: Vec::new(),
        }
    }

    pub(crate) fn validate(&mut self, r: &Record, now: UnixTime) -> Validation {
        let view = View { store: &self.store, now };
        let cx = ProviderContext { graph: &self.graph, now, records: &view };
        self.security.validate(&cx, r)
    }

    /// Offers a record as a neighbour's copy would arrive; returns the verdict.
    pub(crate) fn offer(&mut self, r: &Record, now: UnixTime) -> Validation {
        let v = self.validate(r, now);
        match &v {
            Validation::Accept => self.store_it(r, now),
            Validation::Defer => self.deferred.push(r.clone()),
            Validation::Reject(_) => {}
        }
        v
    }

    fn store_it(&mut self, r: &Record, now: UnixTime) {
        if self.store.apply(r, now).is_err() {
            return;
        }
        let view = View { store: &self.store, now };
        let cx = ProviderContext { graph: &self.graph, now, records: &view };
        let actions = self.security.stored(&cx, r);
        let removed = self.store.remove(&actions.purge).unwrap();
        for gone in &removed {
            let view = View { store: &self.store, now };
            let cx = ProviderContext { graph: &self.graph, now, records: &view };
            self.security.removed(&cx, gone);
        }
        if actions.retry_deferred {
            let pending = std::mem::take(&mut self.deferred);
            for d in pending {
                self.offer(&d, now);
            }
        }
    }

    /// (id, digest) of everything stored.
    pub(crate) fn contents(&self, now: UnixTime) -> Vec<(RecordId, [u8; 32])> {
        let mut v: Vec<_> = self
            .store
            .enumerate(&RecordFilter::All, now)
            .unwrap()
            .iter()
            .map(|r| (r.id(), *r.digest().as_bytes()))
            .collect();
        v.sort();
        v
    }
}
