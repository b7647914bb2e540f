//! Group creation (`group.md` §5.1) and the group key.
//!
//! Creating a group draws a new Ed25519 group key, self-signs the group root certificate
//! (GRC) with it, issues the creator's GMC (role administrator) under the GRC, and writes
//! two records: the group properties (signed by the group key) and the creator's
//! membership. The group private key stays with the creator ([`GroupKey::save`]: an
//! owner-only file written atomically and fsynced, like identity keys); it is never put in
//! a record.

use std::path::Path;
use std::time::Duration;

use peergroup_base::{Classifier, NodeId, PeerName, UnixTime};
use peergroup_graph::record::{Record, RecordBuilder, RecordLimits};
use peergroup_graph::{GraphId, Hlc, HlcClock};
use peergroup_identity::Identity;
use ring::signature::{Ed25519KeyPair, KeyPair};

use crate::cert::{Cert, CertDraft, CertId, CertKind, DEFAULT_CLASSIFIER, Role};
use crate::chain::{CertCache, Chain, VerifiedChain};
use crate::error::GroupError;
use crate::records::{
    DEFAULT_MEMBER_DATA_LIFETIME, DEFAULT_PRESENCE_LIFETIME, GroupProperties, MEMBERSHIP_TYPE,
    PROPERTIES_TYPE, SecurityData, encode_membership, membership_id, properties_id,
};

/// Default validity of a group root certificate: 10 years. (Windows used 1,000 years;
/// finite lifetimes let revocation records be dropped once their target expired.)
pub const DEFAULT_ROOT_VALIDITY: Duration = Duration::from_secs(10 * 365 * 86_400);
/// Default validity of an invitation's GMC: 365 days, never beyond the issuer's.
pub const DEFAULT_INVITATION_VALIDITY: Duration = Duration::from_secs(365 * 86_400);

/// The group's key pair. Only the creator holds it.
pub struct GroupKey {
    seed: [u8; 32],
    pair: Ed25519KeyPair,
    public: [u8; 32],
}

impl std::fmt::Debug for GroupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupKey")
            .field("public", &hex::encode(self.public))
            .finish_non_exhaustive()
    }
}

impl Clone for GroupKey {
    fn clone(&self) -> Self {
        // Invariant: the seed was accepted when `self` was built.
        Self::from_seed(self.seed).unwrap_or_else(|_| unreachable!("seed accepted before"))
    }
}

impl Drop for GroupKey {
    fn drop(&mut self) {
        self.seed = [0; 32];
    }
}

/// The group key file: a line `peergroup group key v1`, then the 32-byte seed in hex.
const KEY_FILE_HEADER: &str = "peergroup group key v1";

impl GroupKey {
    /// A key from a 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> Result<GroupKey, GroupError> {
        let pair = Ed25519KeyPair::from_seed_unchecked(&seed)
            .map_err(|_| GroupError::InvalidArgument("invalid Ed25519 seed".into()))?;
        let mut public = [0u8; 32];
        public.copy_from_slice(pair.public_key().as_ref());
        Ok(GroupKey { seed, pair, public })
    }

    /// A new key from the operating system's random generator.
    pub fn generate() -> Result<GroupKey, GroupError> {
        use ring::rand::SecureRandom;
        let mut seed = [0u8; 32];
        ring::rand::SystemRandom::new().fill(&mut seed).map_err(|_| {
            GroupError::InvalidArgument("the system random generator failed".into())
        })?;
        Self::from_seed(seed)
    }

    /// The public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.pair.sign(msg).as_ref());
        out
    }

    /// Writes the key to `path`: owner-only, atomically, fsynced (as identity keys).
    pub fn save(&self, path: &Path) -> Result<(), GroupError> {
        let text = format!("{KEY_FILE_HEADER}\n{}\n", hex::encode(self.seed));
        peergroup_identity::store::write_private_file(path, text.as_bytes()).map_err(|e| {
            GroupError::Io {
                operation: "write group key",
                path: path.display().to_string(),
                reason: e.to_string(),
            }
        })
    }

    /// Reads a key written by [`GroupKey::save`].
    pub fn load(path: &Path) -> Result<GroupKey, GroupError> {
        let io = |reason: String| GroupError::Io {
            operation: "read group key",
            path: path.display().to_string(),
            reason,
        };
        let meta = std::fs::metadata(path).map_err(|e| io(e.to_string()))?;
        if meta.len() > 1024 {
            return Err(io("the file is larger than a group key file".into()));
        }
        let text = std::fs::read_to_string(path).map_err(|e| io(e.to_string()))?;
        let mut lines = text.lines();
        if lines.next() != Some(KEY_FILE_HEADER) {
            return Err(io("not a group key file".into()));
        }
        let seed = lines
            .next()
            .and_then(|l| hex::decode(l.trim()).ok())
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| io("the seed line is not 64 hex digits".into()))?;
        Self::from_seed(seed)
    }
}

/// The local member: its identity (which signs) and its verified chain.
#[derive(Debug, Clone)]
pub struct LocalMember {
    /// The identity.
    pub identity: Identity,
    /// Its chain in the group.
    pub chain: VerifiedChain,
}

impl LocalMember {
    /// Checks that `chain` ends in a certificate for `identity`.
    pub fn new(
        identity: Identity,
        chain: &Chain,
        cache: &mut CertCache,
    ) -> Result<LocalMember, GroupError> {
        let chain = chain.verify(cache, None)?;
        chain.expect_leaf(&identity.public_key())?;
        Ok(LocalMember { identity, chain })
    }

    /// The role held.
    pub fn role(&self) -> Role {
        self.chain.role()
    }

    /// Issues a GMC for `subject` with `role`, valid from `now` for `validity` (cut to this
    /// member's own not-after), and returns the subject's chain.
    pub fn issue(
        &self,
        subject_key: [u8; 32],
        subject_classifier: &Classifier,
        role: Role,
        validity: Duration,
        now: UnixTime,
        serial: [u8; 16],
    ) -> Result<Chain, GroupError> {
        let me = self.chain.leaf();
        if !me.role().may_issue(role) {
            return Err(GroupError::RoleNotIssuable { issuer: me.role(), role });
        }
        if subject_key == self.identity.public_key() {
            return Err(GroupError::InvalidArgument(
                "a member cannot issue a certificate to itself".into(),
            ));
        }
        let not_before = now.max(me.not_before());
        let not_after = now.saturating_add(validity).min(me.not_after());
        if not_after <= not_before {
            return Err(GroupError::InvalidArgument("the issuer's certificate has expired".into()));
        }
        let cert = CertDraft {
            kind: CertKind::Membership,
            group_key: *me.group_key(),
            group_classifier: me.group_classifier.clone(),
            subject_key,
            subject_classifier: subject_classifier.clone(),
            role,
            classifiers: default_classifiers(),
            not_before,
            not_after,
            serial,
            issuer: me.id(),
        }
        .sign(|m| self.identity.sign(m))?;
        Ok(self.chain.chain().extended(cert))
    }
}

fn default_classifiers() -> Vec<Classifier> {
    // Invariant: a valid constant classifier.
    Classifier::new(DEFAULT_CLASSIFIER).map(|c| vec![c]).unwrap_or_default()
}

/// What creating a group chooses.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// The group classifier (the second half of the group peer name).
    pub classifier: String,
    /// The friendly name.
    pub friendly_name: String,
    /// The comment.
    pub comment: String,
    /// The PNRP cloud (default `global`).
    pub cloud: String,
    /// Member-data lifetime (default 2,419,200 s).
    pub member_data_lifetime: Duration,
    /// Presence lifetime (default 300 s).
    pub presence_lifetime: Duration,
    /// Validity of the root certificate (default 10 years); the creator's GMC gets the same.
    pub validity: Duration,
}

impl CreateOptions {
    /// A group with this classifier and the defaults.
    pub fn new(classifier: &str) -> Self {
        CreateOptions {
            classifier: classifier.to_owned(),
            friendly_name: String::new(),
            comment: String::new(),
            cloud: "global".to_owned(),
            member_data_lifetime: DEFAULT_MEMBER_DATA_LIFETIME,
            presence_lifetime: DEFAULT_PRESENCE_LIFETIME,
            validity: DEFAULT_ROOT_VALIDITY,
        }
    }
}

/// A new group: the key, the root certificate, the creator's chain, and the two first
/// records (properties, creator's membership), ready to be stored.
#[derive(Debug)]
pub struct NewGroup {
    /// The group key (keep it with the creator only).
    pub key: GroupKey,
    /// The group's peer name.
    pub name: PeerName,
    /// The graph id of the group's database (the group peer name).
    pub graph: GraphId,
    /// The creator's chain (GRC → creator GMC).
    pub creator: LocalMember,
    /// The properties.
    pub properties: GroupProperties,
    /// The properties record.
    pub properties_record: Record,
    /// The creator's membership record.
    pub membership_record: Record,
}

impl NewGroup {
    /// The group root certificate.
    pub fn root(&self) -> &Cert {
        self.creator.chain.root()
    }
}

/// The graph id of a group: its peer name.
pub fn graph_id(group: &PeerName) -> Result<GraphId, GroupError> {
    GraphId::new(&group.to_string()).map_err(|e| GroupError::InvalidArgument(e.to_string()))
}

/// Creates a group owned by `creator` (see the module docs). `serials` supplies two random
/// serials (root, creator).
pub fn create_group(
    creator: &Identity,
    key: GroupKey,
    options: &CreateOptions,
    now: UnixTime,
    serials: [[u8; 16]; 2],
) -> Result<NewGroup, GroupError> {
    let classifier = Classifier::new(&options.classifier)
        .map_err(|e| GroupError::InvalidArgument(format!("group classifier: {e}")))?;
    let not_after = now.saturating_add(options.validity);
    let root = CertDraft {
        kind: CertKind::Root,
        group_key: key.public_key(),
        group_classifier: classifier.clone(),
        subject_key: key.public_key(),
        subject_classifier: classifier.clone(),
        role: Role::Root,
        classifiers: Vec::new(),
        not_before: now,
        not_after,
        serial: serials[0],
        issuer: CertId::ZERO,
    }
    .sign(|m| key.sign(m))?;
    let creator_cert = CertDraft {
        kind: CertKind::Membership,
        group_key: key.public_key(),
        group_classifier: classifier.clone(),
        subject_key: creator.public_key(),
        subject_classifier: creator.peer_name().classifier().clone(),
        role: Role::Administrator,
        classifiers: Vec::new(),
        not_before: now,
        not_after,
        serial: serials[1],
        issuer: root.id(),
    }
    .sign(|m| key.sign(m))?;
    let chain = Chain::from_certs(vec![root, creator_cert]);
    let mut cache = CertCache::default();
    let member = LocalMember::new(creator.clone(), &chain, &mut cache)?;
    let properties = GroupProperties {
        group_key: key.public_key(),
        classifier,
        creator: creator.peer_name().clone(),
        cloud: options.cloud.clone(),
        member_data_lifetime: options.member_data_lifetime,
        presence_lifetime: options.presence_lifetime,
        friendly_name: options.friendly_name.clone(),
        comment: options.comment.clone(),
    };
    properties.check()?;
    let name = properties.group_name();
    let graph = graph_id(&name)?;
    let limits = RecordLimits::default();
    let created = Hlc::new(now, 0, HlcClock::node_tag(&creator.node_id()));
    let build =
        |b: RecordBuilder| b.build(&limits).map_err(|e| GroupError::InvalidArgument(e.to_string()));
    let props = build(
        RecordBuilder::new(
            PROPERTIES_TYPE,
            properties_id(&key.public_key()),
            creator.peer_name().clone(),
            created,
            not_after,
        )
        .payload(properties.encode()),
    )?;
    let sig = key.sign(&props.signing_bytes(&graph));
    let properties_record = props
        .with_security_data(&SecurityData::GroupKey { signature: sig }.encode(), &limits)
        .map_err(|e| GroupError::InvalidArgument(e.to_string()))?;
    let membership_record =
        membership_record(&member, &graph, options.member_data_lifetime, created, now)?;
    Ok(NewGroup {
        key,
        name,
        graph,
        creator: member,
        properties,
        properties_record,
        membership_record,
    })
}

/// A signed membership record for `member` (version 1), expiring after `lifetime` or at
/// its certificate's not-after, whichever is first.
pub fn membership_record(
    member: &LocalMember,
    graph: &GraphId,
    lifetime: Duration,
    created: Hlc,
    now: UnixTime,
) -> Result<Record, GroupError> {
    let limits = RecordLimits::default();
    let name = member.identity.peer_name().clone();
    let expires = now.saturating_add(lifetime).min(member.chain.leaf().not_after());
    let r = RecordBuilder::new(
        MEMBERSHIP_TYPE,
        membership_id(name.authority()),
        name,
        created,
        expires,
    )
    .payload(encode_membership(member.chain.chain()))
    .build(&limits)
    .map_err(|e| GroupError::InvalidArgument(e.to_string()))?;
    let signature = member.identity.sign(&r.signing_bytes(graph));
    r.with_security_data(
        &SecurityData::Member { cert: member.chain.leaf().id(), signature }.encode(),
        &limits,
    )
    .map_err(|e| GroupError::InvalidArgument(e.to_string()))
}

/// The node id of a chain's leaf.
pub fn leaf_node(chain: &VerifiedChain) -> NodeId {
    chain.leaf().subject_node()
}
