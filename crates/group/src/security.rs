//! Record security for a group's graph (`group.md` §4–§6): [`GroupSecurity`] implements the
//! graph's [`SecurityProvider`].
//!
//! * Every record carries [`SecurityData`]: the signer's certificate id and an Ed25519
//!   signature over the graph's signing bytes, by the record's last modifier (or, for the
//!   group properties, by the group key).
//! * The signer's chain is its **membership record**, found by id from the signer's
//!   authority ([`membership_id`]) in the graph's own store (the provider reads it through
//!   the graph's read-only view): no mirror to keep in step, records loaded at start and
//!   expiries included. Parsed chains are cached by membership-record digest and each
//!   certificate's signature is verified once per node ([`CertCache`]).
//! * Roles: anyone may publish; only the creator of a record or an administrator may
//!   update or delete it; only the group key signs the properties, whose immutable fields
//!   never change; a record cannot outlive its signer's certificate.
//! * A record whose signer's membership has not arrived is **deferred**; the graph retries
//!   when a membership record is stored. A record deferred for longer than
//!   [`SecurityConfig::max_defer_age`] is refused.
//! * **Revocation** (`group.md` §6): a revocation record names a certificate; it applies to
//!   every chain through that certificate (cascade). It is *effective* when its signer
//!   may revoke the target: the group key always; an administrator whose chain is
//!   shorter than the target's (strictly senior); or the target's issuer. Seniority makes
//!   "who revokes whom" acyclic, so the outcome never depends on arrival order.
//! * **The racing rule** (Keyhive's "content that precedes the revocation stands"): a
//!   revocation lists the digests of the records by the revoked subtree that its signer
//!   held when it revoked. On every replica, a record whose signer's chain passes through a
//!   revoked certificate is kept if and only if its digest is in that list; every other
//!   record by the revoked subtree — whatever its timestamp — is refused on arrival and
//!   purged if already stored. A revoked member cannot slip records in by back-dating its
//!   clock, because the list names content, not times.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use peergroup_base::{Authority, NodeId, PeerName, UnixTime};
use peergroup_graph::proto::{
    Admission, PeerInfo, ProviderActions, ProviderContext, ProviderRejection, SecurityProvider,
    SigningError, Validation,
};
use peergroup_graph::record::Record;
use peergroup_graph::{RecordFilter, RecordId, RecordType};

use crate::cert::{Cert, CertId, Role};
use crate::chain::{CertCache, Chain, VerifiedChain, Verifier, sign_batch, verify_batch};
use crate::error::GroupError;
use crate::group::{GroupKey, LocalMember};
use crate::records::{
    GroupProperties, MEMBERSHIP_TYPE, PROPERTIES_TYPE, REVOCATION_TYPE, Revocation, SECURITY_TYPES,
    SecurityData, decode_membership, membership_id, properties_id, revocation_id,
};
use crate::wire::sha256;

/// Most signatures held verified ahead of validation ([`SecurityProvider::prepare`]).
const MAX_PRESIGNED: usize = 100_000;
/// Fewest records whose signatures [`GroupSecurity::prepare_batch`] checks ahead as one
/// batch: below it, checking each as it is applied costs about the same.
const PREPARE_MIN: usize = 8;

/// Settings of [`GroupSecurity`].
#[derive(Debug, Clone)]
pub struct SecurityConfig {
    /// How long a record may wait for its signer's membership before it is refused.
    /// Default **10 minutes** (Windows scans its unvalidated list every 30 s and drops
    /// expired entries; a membership synchronises before data, so minutes are plenty).
    pub max_defer_age: Duration,
    /// Memberships kept parsed (verified chains), at most. Default **100,000**.
    pub max_cached_members: usize,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig { max_defer_age: Duration::from_secs(600), max_cached_members: 100_000 }
    }
}

/// Counters of a [`GroupSecurity`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "sim", derive(serde::Serialize))]
pub struct SecurityCounters {
    /// Records validated (each call).
    pub validations: u64,
    /// Records accepted.
    pub accepted: u64,
    /// Records deferred.
    pub deferred: u64,
    /// Records refused: bad signature.
    pub refused_signature: u64,
    /// Records refused: the signer may not write it (role, properties, validity).
    pub refused_rules: u64,
    /// Records refused: written by a revoked certificate and not kept by its revocation.
    pub refused_revoked: u64,
    /// Records refused: not a member, deferred too long, or malformed.
    pub refused_other: u64,
    /// Records purged after a revocation arrived.
    pub purged: u64,
    /// Peers refused admission.
    pub peers_refused: u64,
}

/// A change in the member list (MemberChanged in the API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChange {
    /// A membership record arrived for a new member.
    Joined {
        /// The member.
        peer: PeerName,
        /// Its role.
        role: Role,
    },
    /// A member's membership record changed (renewal, new role).
    Updated {
        /// The member.
        peer: PeerName,
        /// Its role.
        role: Role,
    },
    /// A certificate of the member's chain was revoked.
    Revoked {
        /// The member.
        peer: PeerName,
        /// The revoked certificate.
        cert: CertId,
    },
    /// The membership record expired or was removed.
    Left {
        /// The member.
        peer: PeerName,
    },
}

/// A stored revocation, as the rules need it.
#[derive(Debug, Clone)]
struct RevocationEntry {
    record: RecordId,
    /// `None`: signed by the group key.
    signer: Option<VerifiedChain>,
    stand: Vec<[u8; 32]>,
}

impl RevocationEntry {
    /// Whether this revocation's signer may revoke a certificate at `depth` issued by
    /// `issuer` (`group.md` §6.3).
    fn may_revoke(&self, depth: usize, issuer: CertId) -> bool {
        match &self.signer {
            None => true,
            Some(c) => (c.role().is_admin() && c.depth() < depth) || c.leaf().id() == issuer,
        }
    }

    fn keeps(&self, digest: &[u8; 32]) -> bool {
        self.stand.binary_search(digest).is_ok()
    }
}

/// A parsed, verified membership, cached by the membership record's digest.
#[derive(Debug, Clone)]
struct MemberEntry {
    digest: [u8; 32],
    chain: VerifiedChain,
}

/// The grouping layer's [`SecurityProvider`]. See the [module docs](self).
#[derive(Debug)]
pub struct GroupSecurity {
    group_key: [u8; 32],
    group_name: PeerName,
    local: Option<LocalMember>,
    group_signer: Option<GroupKey>,
    config: SecurityConfig,
    cache: CertCache,
    members: HashMap<Authority, MemberEntry>,
    revocations: HashMap<CertId, Vec<RevocationEntry>>,
    loaded: bool,
    admitted: HashMap<NodeId, VerifiedChain>,
    deferred_since: HashMap<RecordId, UnixTime>,
    /// Signatures verified ahead by [`SecurityProvider::prepare`], by
    /// `SHA-256(key ‖ signature ‖ message)`; each is taken once.
    presigned: HashSet<[u8; 32]>,
    changes: Vec<MemberChange>,
    revision: u64,
    counters: SecurityCounters,
}

fn reject(e: GroupError) -> Validation {
    Validation::Reject(ProviderRejection::new(e))
}

impl GroupSecurity {
    /// The provider of a member of the group with this root certificate. `local` signs
    /// this node's records; `group_key` (the creator only) signs the properties.
    pub fn new(
        root: &Cert,
        local: Option<LocalMember>,
        group_key: Option<GroupKey>,
        verifier: Verifier,
    ) -> Self {
        GroupSecurity {
            group_key: *root.group_key(),
            group_name: root.group_name(),
            local,
            group_signer: group_key,
            config: SecurityConfig::default(),
            cache: CertCache::new(verifier),
            members: HashMap::new(),
            revocations: HashMap::new(),
            loaded: false,
            admitted: HashMap::new(),
            deferred_since: HashMap::new(),
            presigned: HashSet::new(),
            changes: Vec::new(),
            revision: 0,
            counters: SecurityCounters::default(),
        }
    }

    /// With other settings.
    pub fn with_config(mut self, config: SecurityConfig) -> Self {
        self.config = config;
        self
    }

    /// The group's peer name.
    pub fn group_name(&self) -> &PeerName {
        &self.group_name
    }
    /// The group key.
    pub fn group_key(&self) -> &[u8; 32] {
        &self.group_key
    }
    /// The local member, if any.
    pub fn local(&self) -> Option<&LocalMember> {
        self.local.as_ref()
    }
    /// Replaces the local member's chain (renewal, new role).
    pub fn set_local(&mut self, local: LocalMember) {
        self.local = Some(local);
    }
    /// The group key, if this node holds it.
    pub fn group_signer(&self) -> Option<&GroupKey> {
        self.group_signer.as_ref()
    }
    /// Counters.
    pub fn counters(&self) -> SecurityCounters {
        self.counters
    }
    /// The certificate cache (its counters: verifications, hits).
    pub fn cache(&self) -> &CertCache {
        &self.cache
    }
    /// Bumped whenever the set of revocations changes.
    pub fn revision(&self) -> u64 {
        self.revision
    }
    /// Member-list changes since the last call.
    pub fn take_changes(&mut self) -> Vec<MemberChange> {
        std::mem::take(&mut self.changes)
    }

    // ----- admission ---------------------------------------------------------------------

    /// Checks a peer's chain for admission at `now`: valid, of this group, leaf = `node`'s
    /// key, nothing in it revoked. Remembers the peer as admitted.
    pub fn admit_chain(
        &mut self,
        chain: &Chain,
        node: NodeId,
        now: UnixTime,
    ) -> Result<VerifiedChain, GroupError> {
        let verified = chain.verify(&mut self.cache, Some(now))?;
        if verified.group_key() != &self.group_key || verified.group_name() != self.group_name {
            return Err(crate::error::ChainError::WrongGroup {
                expected: self.group_name.clone(),
                got: verified.group_name(),
            }
            .into());
        }
        if verified.leaf().subject_node() != node {
            return Err(GroupError::LeafNotPeer);
        }
        if let Some(cert) = self.revoked_cert(&verified) {
            return Err(GroupError::Revoked { cert });
        }
        self.admitted.insert(node, verified.clone());
        Ok(verified)
    }

    /// Admits a peer by the membership record this node holds for it (MS-PPSEC 3.3: the
    /// authenticator looks in its member list first): used when the chain the peer sent is
    /// outdated — revoked or expired — but an administrator has re-issued its certificate.
    pub fn admit_stored(
        &mut self,
        cx: &ProviderContext<'_>,
        node: NodeId,
    ) -> Result<VerifiedChain, GroupError> {
        self.load(cx);
        let who = node.authority();
        let chain = self
            .member(cx, &who)?
            .ok_or_else(|| GroupError::InvalidArgument("no membership record".into()))?;
        self.admit_chain(&chain.chain().clone(), node, cx.now)
    }

    /// Forgets an admitted peer (connection closed).
    pub fn forget_peer(&mut self, node: &NodeId) {
        self.admitted.remove(node);
    }

    /// Whether an admitted peer is still acceptable at `now` (not revoked, not expired).
    pub fn recheck_peer(&self, node: &NodeId, now: UnixTime) -> Result<(), GroupError> {
        let chain = self
            .admitted
            .get(node)
            .ok_or_else(|| GroupError::InvalidArgument("not admitted".into()))?;
        for (index, c) in chain.certs().iter().enumerate() {
            if !c.valid_at(now) {
                return Err(
                    crate::error::ChainError::Expired { index, not_after: c.not_after() }.into()
                );
            }
        }
        match self.revoked_cert(chain) {
            Some(cert) => Err(GroupError::Revoked { cert }),
            None => Ok(()),
        }
    }

    // ----- revocation --------------------------------------------------------------------

    /// The effective revocations of one certificate of a chain at `depth`.
    fn effective<'a>(
        &'a self,
        cert: &Cert,
        depth: usize,
    ) -> impl Iterator<Item = &'a RevocationEntry> + 'a {
        let issuer = cert.issuer();
        self.revocations
            .get(&cert.id())
            .into_iter()
            .flatten()
            .filter(move |e| e.may_revoke(depth, issuer))
    }

    /// The first certificate of `chain` that an effective revocation names.
    pub fn revoked_cert(&self, chain: &VerifiedChain) -> Option<CertId> {
        chain
            .certs()
            .iter()
            .enumerate()
            .find_map(|(depth, c)| self.effective(c, depth).next().map(|_| c.id()))
    }

    /// The racing rule: `Err(cert)` if a certificate of `chain` is revoked and no
    /// effective revocation of it keeps the record with this digest.
    fn check_write(&self, chain: &VerifiedChain, digest: &[u8; 32]) -> Result<(), CertId> {
        for (depth, c) in chain.certs().iter().enumerate() {
            let mut any = false;
            let mut kept = false;
            for e in self.effective(c, depth) {
                any = true;
                kept |= e.keeps(digest);
            }
            if any && !kept {
                return Err(c.id());
            }
        }
        Ok(())
    }

    /// Loads the revocations held in the store (first use).
    fn load(&mut self, cx: &ProviderContext<'_>) {
        if self.loaded {
            return;
        }
        self.loaded = true;
        for r in cx.records.enumerate(&RecordFilter::Type(REVOCATION_TYPE)) {
            self.note_revocation(&r);
        }
    }

    fn note_revocation(&mut self, r: &Record) -> Option<CertId> {
        let rev = Revocation::decode(r.payload()).ok()?;
        let signer = match &rev.revoker {
            Some(c) => Some(c.verify(&mut self.cache, None).ok()?),
            None => None,
        };
        let list = self.revocations.entry(rev.target).or_default();
        if list.iter().any(|e| e.record == r.id()) {
            return None;
        }
        list.push(RevocationEntry { record: r.id(), signer, stand: rev.stand });
        self.revision += 1;
        Some(rev.target)
    }

    // ----- membership --------------------------------------------------------------------

    /// The verified chain of the member with this authority, from its stored membership
    /// record (`Ok(None)`: none stored).
    fn member(
        &mut self,
        cx: &ProviderContext<'_>,
        who: &Authority,
    ) -> Result<Option<VerifiedChain>, GroupError> {
        let Some(rec) = cx.records.get(&membership_id(who)) else {
            return Ok(None);
        };
        if rec.is_deleted() || rec.record_type() != MEMBERSHIP_TYPE {
            return Ok(None);
        }
        let digest = *rec.digest().as_bytes();
        if let Some(e) = self.members.get(who)
            && e.digest == digest
        {
            return Ok(Some(e.chain.clone()));
        }
        let chain = decode_membership(rec.payload())?.verify(&mut self.cache, None)?;
        if self.members.len() >= self.config.max_cached_members {
            self.members.clear();
        }
        self.members.insert(*who, MemberEntry { digest, chain: chain.clone() });
        Ok(Some(chain))
    }

    /// Verifies a record signature by `key`.
    fn signature_ok(
        &mut self,
        key: &[u8; 32],
        cx: &ProviderContext<'_>,
        r: &Record,
        sig: &[u8; 64],
    ) -> bool {
        let msg = r.signing_bytes(cx.graph);
        if !self.presigned.is_empty() && self.presigned.remove(&sha256(&[key, sig, &msg])) {
            return true;
        }
        self.cache.verifier.verify(key, &msg, sig)
    }

    /// Verifies, in batches and over the cores, the signatures a batch of records will need:
    /// the certificates of the membership records' chains (into the certificate cache)
    /// and the records' own signatures (into `presigned`). Verdicts are unchanged:
    /// [`validate`](SecurityProvider::validate) still checks every rule and takes each
    /// signature's verdict from here only if it verified.
    fn prepare_batch(&mut self, cx: &ProviderContext<'_>, records: &[&Record]) {
        if records.len() < PREPARE_MIN || self.cache.verifier.is_memoising() {
            return;
        }
        let mut chains = Vec::new();
        let mut leaf_keys: HashMap<Authority, [u8; 32]> = HashMap::new();
        for r in records {
            if r.record_type() == MEMBERSHIP_TYPE
                && r.creator() == r.last_modifier()
                && !r.is_deleted()
                && let Ok(chain) = decode_membership(r.payload())
            {
                if let Some(leaf) = chain.leaf() {
                    leaf_keys.insert(*r.last_modifier().authority(), *leaf.subject_key());
                }
                chains.push(chain);
            }
        }
        self.cache.prewarm(chains.iter());
        let mut items = Vec::new();
        for r in records {
            let (key, signature) = match SecurityData::decode(r.security_data()) {
                Ok(SecurityData::GroupKey { signature }) => (self.group_key, signature),
                Ok(SecurityData::Member { signature, .. }) => {
                    let who = r.last_modifier().authority();
                    let key = match leaf_keys.get(who) {
                        Some(k) => *k,
                        None => match self.member(cx, who) {
                            Ok(Some(chain)) => *chain.leaf().subject_key(),
                            _ => continue,
                        },
                    };
                    (key, signature)
                }
                Err(_) => continue,
            };
            items.push((key, r.signing_bytes(cx.graph), signature));
        }
        if items.len() < PREPARE_MIN {
            return;
        }
        if self.presigned.len() + items.len() > MAX_PRESIGNED {
            self.presigned.clear();
        }
        self.cache.verifier.verifications += items.len() as u64;
        for ((key, msg, sig), ok) in items.iter().zip(verify_batch(&items)) {
            if ok {
                self.presigned.insert(sha256(&[key, sig, msg]));
            }
        }
    }

    fn check_chain_group(&self, chain: &VerifiedChain) -> Result<(), GroupError> {
        if chain.group_key() != &self.group_key || chain.group_name() != self.group_name {
            return Err(crate::error::ChainError::WrongGroup {
                expected: self.group_name.clone(),
                got: chain.group_name(),
            }
            .into());
        }
        Ok(())
    }

    fn validate_inner(
        &mut self,
        cx: &ProviderContext<'_>,
        r: &Record,
    ) -> Result<Validation, GroupError> {
        let sd = SecurityData::decode(r.security_data())?;
        let t = r.record_type();
        if t == PROPERTIES_TYPE {
            return self.validate_properties(cx, r, &sd);
        }
        // The signer's chain.
        let (chain, signature) = match sd {
            SecurityData::GroupKey { signature } => {
                if t != REVOCATION_TYPE {
                    return Err(GroupError::WrongSigner(
                        "only the properties and revocations may be signed by the group key",
                    ));
                }
                if !self.signature_ok(&self.group_key.clone(), cx, r, &signature) {
                    self.counters.refused_signature += 1;
                    return Err(GroupError::SignatureInvalid);
                }
                let rev = Revocation::decode(r.payload())?;
                if r.expires() > rev.target_not_after.max(r.modified().wall()) {
                    return Err(GroupError::InvalidSecurityRecord {
                        what: "revocation",
                        reason: "a revocation expires no later than its target",
                    });
                }
                if rev.revoker.is_some() || r.id() != revocation_id(&rev.target, &self.group_key) {
                    return Err(GroupError::InvalidSecurityRecord {
                        what: "revocation",
                        reason: "id or revoker does not match the group-key signature",
                    });
                }
                if r.is_deleted() {
                    return Err(GroupError::InvalidSecurityRecord {
                        what: "revocation",
                        reason: "revocations are never deleted",
                    });
                }
                return Ok(Validation::Accept);
            }
            SecurityData::Member { cert, signature } => {
                let signer = *r.last_modifier().authority();
                let self_introduced =
                    t == MEMBERSHIP_TYPE && r.creator() == r.last_modifier() && !r.is_deleted();
                let chain = if self_introduced {
                    // A membership record carries its own signer's chain.
                    let c = decode_membership(r.payload())?.verify(&mut self.cache, None)?;
                    Some(c)
                } else {
                    self.member(cx, &signer)?
                };
                let Some(chain) = chain else {
                    return Ok(Validation::Defer);
                };
                let _ = cert;
                (chain, signature)
            }
        };
        self.check_chain_group(&chain)?;
        let leaf = chain.leaf();
        if leaf.subject_name() != *r.last_modifier() {
            return Err(GroupError::WrongSigner(
                "the signer's certificate is not for the record's last modifier",
            ));
        }
        if !self.signature_ok(leaf.subject_key(), cx, r, &signature) {
            self.counters.refused_signature += 1;
            return Err(GroupError::SignatureInvalid);
        }
        // Times: a record never outlives its signer's certificate (MS-PPSEC 3.1.7.2).
        // A revocation is exempt from the expiry bound: it lives until its target expires,
        // even beyond its revoker's certificate (group.md §6.2).
        if (r.expires() > leaf.not_after() && t != REVOCATION_TYPE)
            || r.modified().wall() >= leaf.not_after()
        {
            self.counters.refused_rules += 1;
            return Err(GroupError::OutsideValidity);
        }
        // Role: modifying someone else's record needs an administrator.
        if r.creator() != r.last_modifier() && !chain.role().is_admin() {
            self.counters.refused_rules += 1;
            return Err(GroupError::NotCreatorOrAdmin {
                signer: r.last_modifier().clone(),
                creator: r.creator().clone(),
            });
        }
        match t {
            t if t == MEMBERSHIP_TYPE => self.validate_membership(r)?,
            t if t == REVOCATION_TYPE => self.validate_revocation(r, &chain)?,
            _ => {}
        }
        // The racing rule. Membership records are exempt: they carry nothing but the chain,
        // which stays revoked, and every replica needs them to validate the records that
        // stand (group.md §6.4).
        if t != MEMBERSHIP_TYPE
            && let Err(cert) = self.check_write(&chain, r.digest().as_bytes())
        {
            self.counters.refused_revoked += 1;
            return Err(GroupError::RevokedWrite { cert });
        }
        Ok(Validation::Accept)
    }

    fn validate_properties(
        &mut self,
        cx: &ProviderContext<'_>,
        r: &Record,
        sd: &SecurityData,
    ) -> Result<Validation, GroupError> {
        let SecurityData::GroupKey { signature } = sd else {
            self.counters.refused_rules += 1;
            return Err(GroupError::WrongSigner(
                "the group properties are signed by the group key",
            ));
        };
        if r.id() != properties_id(&self.group_key) {
            return Err(GroupError::InvalidSecurityRecord {
                what: "properties",
                reason: "wrong record id",
            });
        }
        if !self.signature_ok(&self.group_key.clone(), cx, r, signature) {
            self.counters.refused_signature += 1;
            return Err(GroupError::SignatureInvalid);
        }
        if r.is_deleted() {
            return Err(GroupError::InvalidSecurityRecord {
                what: "properties",
                reason: "the properties are never deleted",
            });
        }
        let p = GroupProperties::decode(r.payload())?;
        if p.group_key != self.group_key || p.group_name() != self.group_name {
            return Err(GroupError::InvalidSecurityRecord {
                what: "properties",
                reason: "another group's properties",
            });
        }
        if let Some(old) = cx.records.get(&r.id())
            && let Ok(old) = GroupProperties::decode(old.payload())
            && let Some(field) = p.immutable_change(&old)
        {
            self.counters.refused_rules += 1;
            return Err(GroupError::ImmutableProperty(field));
        }
        Ok(Validation::Accept)
    }

    fn validate_membership(&mut self, r: &Record) -> Result<(), GroupError> {
        let invalid = |reason| GroupError::InvalidSecurityRecord { what: "membership", reason };
        if r.is_deleted() {
            return Err(invalid("membership records are never deleted"));
        }
        if r.id() != membership_id(r.creator().authority()) {
            return Err(invalid("the id is not the creator's membership id"));
        }
        let chain = decode_membership(r.payload())?.verify(&mut self.cache, None)?;
        self.check_chain_group(&chain)?;
        if chain.leaf().subject_name() != *r.creator() {
            return Err(invalid("the chain's leaf is not the record's creator"));
        }
        if r.expires() > chain.leaf().not_after() {
            return Err(GroupError::OutsideValidity);
        }
        Ok(())
    }

    fn validate_revocation(
        &mut self,
        r: &Record,
        signer: &VerifiedChain,
    ) -> Result<(), GroupError> {
        let invalid = |reason| GroupError::InvalidSecurityRecord { what: "revocation", reason };
        if r.is_deleted() {
            return Err(invalid("revocations are never deleted"));
        }
        let rev = Revocation::decode(r.payload())?;
        let Some(revoker) = &rev.revoker else {
            return Err(invalid("a member-signed revocation carries the revoker's chain"));
        };
        if revoker.leaf().map(Cert::id) != Some(signer.leaf().id()) {
            return Err(invalid("the revoker's chain is not the signer's"));
        }
        if r.id() != revocation_id(&rev.target, signer.leaf().id().as_bytes()) {
            return Err(invalid("wrong record id"));
        }
        if !matches!(signer.role(), Role::Administrator | Role::InvitingMember) {
            return Err(GroupError::RoleRequired {
                needed: Role::InvitingMember,
                held: signer.role(),
            });
        }
        if r.expires() > rev.target_not_after.max(r.modified().wall()) {
            return Err(invalid("a revocation expires no later than its target"));
        }
        Ok(())
    }

    /// After a revocation of `target` was stored: the stored records it now refuses.
    fn purge_for(&mut self, cx: &ProviderContext<'_>, target: CertId) -> Vec<RecordId> {
        // Members whose chain passes through the target.
        let affected: HashSet<Authority> = cx
            .records
            .enumerate(&RecordFilter::Type(MEMBERSHIP_TYPE))
            .iter()
            .filter_map(|m| {
                let chain = decode_membership(m.payload()).ok()?;
                chain.certs().iter().any(|c| c.id() == target).then(|| *m.creator().authority())
            })
            .collect();
        if affected.is_empty() {
            return Vec::new();
        }
        let mut purge = Vec::new();
        for r in cx.records.all_with_tombstones() {
            if r.record_type() == PROPERTIES_TYPE
                || r.record_type() == MEMBERSHIP_TYPE
                || !affected.contains(r.last_modifier().authority())
            {
                continue;
            }
            let chain = if r.record_type() == MEMBERSHIP_TYPE && r.creator() == r.last_modifier() {
                decode_membership(r.payload())
                    .ok()
                    .and_then(|c| c.verify(&mut self.cache, None).ok())
            } else {
                self.member(cx, r.last_modifier().authority()).ok().flatten()
            };
            if let Some(chain) = chain
                && self.check_write(&chain, r.digest().as_bytes()).is_err()
            {
                purge.push(r.id());
            }
        }
        self.counters.purged += purge.len() as u64;
        purge
    }

    /// The member-list events for a stored membership record.
    fn note_membership(&mut self, cx: &ProviderContext<'_>, r: &Record) {
        let who = *r.creator().authority();
        let known = self.members.contains_key(&who);
        if let Ok(Some(chain)) = self.member(cx, &who) {
            let peer = r.creator().clone();
            let role = chain.role();
            self.changes.push(if known {
                MemberChange::Updated { peer, role }
            } else {
                MemberChange::Joined { peer, role }
            });
        }
    }

    /// Every member whose chain an effective revocation names, with that certificate.
    pub fn revoked_members(&mut self, cx: &ProviderContext<'_>) -> Vec<(PeerName, CertId)> {
        self.load(cx);
        let mut out = Vec::new();
        for m in cx.records.enumerate(&RecordFilter::Type(MEMBERSHIP_TYPE)) {
            if let Ok(chain) = decode_membership(m.payload()).and_then(|c| {
                c.verify(&mut self.cache, None).map_err(|_| crate::error::DecodeError::ChainEmpty)
            }) && let Some(cert) = self.revoked_cert(&chain)
            {
                out.push((m.creator().clone(), cert));
            }
        }
        out
    }

    /// The verified chain of a member, by peer name, from the records.
    pub fn member_chain(
        &mut self,
        cx: &ProviderContext<'_>,
        peer: &PeerName,
    ) -> Option<VerifiedChain> {
        self.member(cx, peer.authority()).ok().flatten()
    }
}

/// Who signs a record this node writes (after [`GroupSecurity::signer_for`]'s checks).
enum Signer<'a> {
    GroupKey(&'a GroupKey),
    Member(&'a LocalMember),
}

impl GroupSecurity {
    /// The checks [`SecurityProvider::secure`] makes before signing `record`, and the key
    /// that signs it.
    fn signer_for(&self, record: &Record) -> Result<Signer<'_>, SigningError> {
        let by_group_key = record.record_type() == PROPERTIES_TYPE
            || (record.record_type() == REVOCATION_TYPE
                && Revocation::decode(record.payload()).is_ok_and(|r| r.revoker.is_none()));
        if by_group_key {
            let key = self.group_signer.as_ref().ok_or_else(|| SigningError {
                reason: "only the group creator holds the group key".into(),
            })?;
            return Ok(Signer::GroupKey(key));
        }
        let local = self.local.as_ref().ok_or_else(|| SigningError {
            reason: "this node is not a member of the group".into(),
        })?;
        if local.identity.peer_name() != record.last_modifier() {
            return Err(SigningError {
                reason: "the record's last modifier is not the local member".into(),
            });
        }
        if let Some(cert) = self.revoked_cert(&local.chain) {
            return Err(SigningError {
                reason: format!("the local member's certificate chain is revoked ({cert})"),
            });
        }
        let leaf = local.chain.leaf();
        if record.expires() > leaf.not_after() && record.record_type() != REVOCATION_TYPE {
            return Err(SigningError {
                reason: "the record would outlive the local member's certificate".into(),
            });
        }
        Ok(Signer::Member(local))
    }
}

impl SecurityProvider for GroupSecurity {
    fn validate(&mut self, cx: &ProviderContext<'_>, record: &Record) -> Validation {
        self.load(cx);
        self.counters.validations += 1;
        let v = match self.validate_inner(cx, record) {
            Ok(v) => v,
            Err(e) => {
                if !matches!(e, GroupError::SignatureInvalid | GroupError::RevokedWrite { .. })
                    && !matches!(
                        e,
                        GroupError::OutsideValidity
                            | GroupError::NotCreatorOrAdmin { .. }
                            | GroupError::ImmutableProperty(_)
                            | GroupError::WrongSigner(_)
                    )
                {
                    self.counters.refused_other += 1;
                }
                self.deferred_since.remove(&record.id());
                return reject(e);
            }
        };
        match v {
            Validation::Defer => {
                let since = *self.deferred_since.entry(record.id()).or_insert(cx.now);
                if cx.now.saturating_since(since) > self.config.max_defer_age {
                    self.deferred_since.remove(&record.id());
                    self.counters.refused_other += 1;
                    return reject(GroupError::NotAMember { peer: record.last_modifier().clone() });
                }
                if self.deferred_since.len() > 100_000 {
                    self.deferred_since.clear();
                }
                self.counters.deferred += 1;
                Validation::Defer
            }
            v => {
                self.deferred_since.remove(&record.id());
                self.counters.accepted += 1;
                v
            }
        }
    }

    fn secure(
        &mut self,
        cx: &ProviderContext<'_>,
        record: &Record,
    ) -> Result<Vec<u8>, SigningError> {
        let msg = record.signing_bytes(cx.graph);
        match self.signer_for(record)? {
            Signer::GroupKey(key) => {
                Ok(SecurityData::GroupKey { signature: key.sign(&msg) }.encode())
            }
            Signer::Member(local) => Ok(SecurityData::Member {
                cert: local.chain.leaf().id(),
                signature: local.identity.sign(&msg),
            }
            .encode()),
        }
    }

    /// Each record's checks as [`secure`](Self::secure) makes them; the member's
    /// signatures made over the cores ([`sign_batch`]).
    fn secure_batch(
        &mut self,
        cx: &ProviderContext<'_>,
        records: &[Record],
    ) -> Vec<Result<Vec<u8>, SigningError>> {
        let msgs: Vec<Vec<u8>> = records.iter().map(|r| r.signing_bytes(cx.graph)).collect();
        let mut out: Vec<Result<Vec<u8>, SigningError>> = Vec::with_capacity(records.len());
        let mut by_member: Vec<usize> = Vec::new();
        for (i, r) in records.iter().enumerate() {
            out.push(match self.signer_for(r) {
                Ok(Signer::GroupKey(key)) => {
                    Ok(SecurityData::GroupKey { signature: key.sign(&msgs[i]) }.encode())
                }
                Ok(Signer::Member(_)) => {
                    by_member.push(i);
                    Ok(Vec::new())
                }
                Err(e) => Err(e),
            });
        }
        if let Some(local) = &self.local
            && !by_member.is_empty()
        {
            let batch: Vec<&[u8]> = by_member.iter().map(|&i| msgs[i].as_slice()).collect();
            let cert = local.chain.leaf().id();
            for (i, signature) in by_member.into_iter().zip(sign_batch(&local.identity, &batch)) {
                out[i] = Ok(SecurityData::Member { cert, signature }.encode());
            }
        }
        out
    }

    fn admit(&mut self, cx: &ProviderContext<'_>, peer: &PeerInfo<'_>) -> Admission {
        self.load(cx);
        let node = peer.addr.node;
        let result = if self.admitted.contains_key(&node) {
            self.recheck_peer(&node, cx.now)
        } else {
            match self.member(cx, peer.peer.authority()) {
                Ok(Some(chain)) => {
                    self.admit_chain(&chain.chain().clone(), node, cx.now).map(|_| ())
                }
                Ok(None) => Err(GroupError::NotAMember { peer: peer.peer.clone() }),
                Err(e) => Err(e),
            }
        };
        match result {
            Ok(()) => Admission::Allow,
            Err(e) => {
                self.counters.peers_refused += 1;
                Admission::Deny(ProviderRejection::new(e))
            }
        }
    }

    fn security_record_types(&self) -> &[RecordType] {
        &SECURITY_TYPES
    }

    fn stored(&mut self, cx: &ProviderContext<'_>, record: &Record) -> ProviderActions {
        self.load(cx);
        let t = record.record_type();
        let mut actions = ProviderActions::default();
        if t == MEMBERSHIP_TYPE {
            self.note_membership(cx, record);
            actions.retry_deferred = true;
        } else if t == REVOCATION_TYPE {
            if let Some(target) = self.note_revocation(record) {
                actions.purge = self.purge_for(cx, target);
                for (peer, cert) in self.revoked_members(cx) {
                    if cert == target
                        || self
                            .revocations
                            .get(&cert)
                            .is_some_and(|l| l.iter().any(|e| e.record == record.id()))
                    {
                        self.changes.push(MemberChange::Revoked { peer, cert });
                    }
                }
            }
            actions.retry_deferred = true;
        }
        actions
    }

    fn prepares(&self, records: usize) -> bool {
        records >= PREPARE_MIN && !self.cache.verifier.is_memoising()
    }

    fn prepare(&mut self, cx: &ProviderContext<'_>, records: &[&Record]) {
        self.load(cx);
        self.prepare_batch(cx, records);
    }

    fn removed(&mut self, cx: &ProviderContext<'_>, record: &Record) {
        let t = record.record_type();
        if t == MEMBERSHIP_TYPE {
            let who = record.creator().authority();
            if self.members.remove(who).is_some() && cx.records.get(&record.id()).is_none() {
                self.changes.push(MemberChange::Left { peer: record.creator().clone() });
            }
        } else if t == REVOCATION_TYPE {
            for list in self.revocations.values_mut() {
                list.retain(|e| e.record != record.id());
            }
            self.revocations.retain(|_, l| !l.is_empty());
            self.revision += 1;
        }
    }
}
