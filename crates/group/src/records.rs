//! The group's reserved records (`group.md` §5–§6) and the security data of every record
//! (`group.md` §4).
//!
//! | record | type | id | creator / signer |
//! |---|---|---|---|
//! | group properties | `02000000-0000-0000-0000-000000000000` | [`properties_id`] | the group creator; signed by the **group key** |
//! | membership | `01000000-0000-0000-0000-000000000000` | [`membership_id`] of the member's authority | the member (an administrator may update it) |
//! | revocation | `03000000-0000-0000-0000-000000000000` | [`revocation_id`] of (target, revoker) | an administrator, the target's issuer, or the group key |
//!
//! These are the *security record types*: the graph synchronises them before every other
//! record.

use std::time::Duration;

use peergroup_base::{Authority, Classifier, PeerName, UnixTime};
use peergroup_graph::record::Record;
use peergroup_graph::{RecordId, RecordType};

use crate::cert::{CertId, MAX_CLASSIFIER_BYTES};
use crate::chain::{Chain, MAX_CHAIN_BYTES};
use crate::error::DecodeError;
use crate::wire::{Reader, Writer, sha256};

/// Membership records (`{01000000-…}`, as MS-PPSEC 2.2.3.2).
pub const MEMBERSHIP_TYPE: RecordType = RecordType::from_u128(0x0100_0000 << 96);
/// The group-properties record (`{02000000-…}`, as MS-PPSEC 2.2.3.1).
pub const PROPERTIES_TYPE: RecordType = RecordType::from_u128(0x0200_0000 << 96);
/// Revocation records (`{03000000-…}`; Windows had none).
pub const REVOCATION_TYPE: RecordType = RecordType::from_u128(0x0300_0000 << 96);

/// The security record types, synchronised first.
pub const SECURITY_TYPES: [RecordType; 3] = [PROPERTIES_TYPE, MEMBERSHIP_TYPE, REVOCATION_TYPE];

/// Default member-data (membership record) lifetime: 2,419,200 s = 28 days (Windows).
pub const DEFAULT_MEMBER_DATA_LIFETIME: Duration = Duration::from_secs(2_419_200);
/// Default presence lifetime: 300 s (Windows).
pub const DEFAULT_PRESENCE_LIFETIME: Duration = Duration::from_secs(300);
/// Most records a revocation lets stand.
pub const MAX_STAND: usize = 16_384;
/// Longest group friendly name, Unicode scalar values (Windows: 255).
pub const MAX_GROUP_FRIENDLY_NAME_CHARS: usize = 255;
/// Longest comment, bytes (MS-PPSEC 2.2.3.1: 1,024).
pub const MAX_COMMENT_BYTES: usize = 1024;
/// Longest cloud name, bytes (MS-PPSEC 2.2.3.1: 254).
pub const MAX_CLOUD_BYTES: usize = 254;

fn id16(domain: &[u8], parts: &[&[u8]]) -> RecordId {
    let mut all: Vec<&[u8]> = Vec::with_capacity(parts.len() + 1);
    all.push(domain);
    all.extend_from_slice(parts);
    let h = sha256(&all);
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    RecordId::from_bytes(b)
}

/// The id of the group-properties record: the first 16 bytes of
/// SHA-256(`"peergroup/group/properties-id/v1"` ‖ group key).
pub fn properties_id(group_key: &[u8; 32]) -> RecordId {
    id16(b"peergroup/group/properties-id/v1", &[group_key])
}

/// The id of a member's membership record: the first 16 bytes of
/// SHA-256(`"peergroup/group/membership-id/v1"` ‖ the member's 20-byte authority).
pub fn membership_id(member: &Authority) -> RecordId {
    id16(b"peergroup/group/membership-id/v1", &[&member.binary()])
}

/// The id of a revocation record: the first 16 bytes of
/// SHA-256(`"peergroup/group/revocation-id/v1"` ‖ target id ‖ revoker), the revoker being
/// its certificate id, or the group key for a revocation signed by the group key.
pub fn revocation_id(target: &CertId, revoker: &[u8; 32]) -> RecordId {
    id16(b"peergroup/group/revocation-id/v1", &[target.as_bytes(), revoker])
}

// ----- security data ----------------------------------------------------------------------

/// The security data of a group record (`group.md` §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityData {
    /// Kind 1: signed by a member — the id of the signer's leaf certificate and the
    /// Ed25519 signature by its key over the graph's signing bytes.
    Member {
        /// The signer's certificate.
        cert: CertId,
        /// The signature.
        signature: [u8; 64],
    },
    /// Kind 2: signed by the group key (group properties; revocations by the creator).
    GroupKey {
        /// The signature.
        signature: [u8; 64],
    },
}

impl SecurityData {
    /// Length of kind 1.
    pub const MEMBER_LEN: usize = 1 + 32 + 64;
    /// Length of kind 2.
    pub const GROUP_KEY_LEN: usize = 1 + 64;

    /// The encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(Self::MEMBER_LEN);
        match self {
            SecurityData::Member { cert, signature } => {
                w.u8(1);
                w.bytes(&cert.0);
                w.bytes(signature);
            }
            SecurityData::GroupKey { signature } => {
                w.u8(2);
                w.bytes(signature);
            }
        }
        w.0
    }

    /// Decodes security data.
    pub fn decode(b: &[u8]) -> Result<SecurityData, DecodeError> {
        if b.len() > Self::MEMBER_LEN {
            return Err(DecodeError::TooLarge {
                what: "security data",
                len: b.len(),
                max: Self::MEMBER_LEN,
            });
        }
        let mut r = Reader::new(b);
        let sd = match r.u8("security data kind")? {
            1 => SecurityData::Member {
                cert: CertId(r.array("signer certificate")?),
                signature: r.array("signature")?,
            },
            2 => SecurityData::GroupKey { signature: r.array("signature")? },
            k => return Err(DecodeError::UnknownSecurityKind(k)),
        };
        r.finish()?;
        Ok(sd)
    }
}

// ----- group properties -------------------------------------------------------------------

/// The group's properties (`PEER_GROUP_PROPERTIES`), the payload of the properties record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupProperties {
    /// The group key (immutable).
    pub group_key: [u8; 32],
    /// The group classifier (immutable).
    pub classifier: Classifier,
    /// The creator's peer name (immutable).
    pub creator: PeerName,
    /// The PNRP cloud the group registers in (immutable; default `global`).
    pub cloud: String,
    /// Membership-record lifetime (immutable).
    pub member_data_lifetime: Duration,
    /// Presence lifetime (immutable).
    pub presence_lifetime: Duration,
    /// Friendly name (the creator may change it).
    pub friendly_name: String,
    /// Comment (the creator may change it).
    pub comment: String,
}

impl GroupProperties {
    /// Format version.
    pub const VERSION: u8 = 1;
    /// Largest encoding accepted.
    pub const MAX_BYTES: usize = 1
        + 32
        + 2
        + MAX_CLASSIFIER_BYTES
        + 2
        + 700
        + 2
        + MAX_CLOUD_BYTES
        + 16
        + 2
        + 1020
        + 2
        + MAX_COMMENT_BYTES;

    /// The group's peer name.
    pub fn group_name(&self) -> PeerName {
        PeerName::new(
            peergroup_base::NodeId::from_ed25519(&self.group_key).authority(),
            self.classifier.clone(),
        )
    }

    /// Checks the limits of the mutable and caller-given fields.
    pub fn check(&self) -> Result<(), DecodeError> {
        if self.friendly_name.chars().count() > MAX_GROUP_FRIENDLY_NAME_CHARS {
            return Err(DecodeError::FieldTooLong {
                field: "friendly name",
                len: self.friendly_name.chars().count(),
                max: MAX_GROUP_FRIENDLY_NAME_CHARS,
            });
        }
        if self.friendly_name.chars().any(char::is_control) {
            return Err(DecodeError::InvalidField {
                field: "friendly name",
                reason: "control character",
            });
        }
        if self.comment.len() > MAX_COMMENT_BYTES {
            return Err(DecodeError::FieldTooLong {
                field: "comment",
                len: self.comment.len(),
                max: MAX_COMMENT_BYTES,
            });
        }
        if self.cloud.is_empty() || self.cloud.len() > MAX_CLOUD_BYTES {
            return Err(DecodeError::InvalidField { field: "cloud", reason: "1 to 254 bytes" });
        }
        if self.member_data_lifetime.as_secs() < 2280 || self.presence_lifetime.as_secs() < 300 {
            return Err(DecodeError::InvalidField {
                field: "lifetime",
                reason: "member data ≥ 2,280 s, presence ≥ 300 s",
            });
        }
        Ok(())
    }

    /// The encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(256);
        w.u8(Self::VERSION);
        w.bytes(&self.group_key);
        w.var(self.classifier.as_str().as_bytes());
        w.var(self.creator.to_string().as_bytes());
        w.var(self.cloud.as_bytes());
        w.u64(self.member_data_lifetime.as_secs());
        w.u64(self.presence_lifetime.as_secs());
        w.var(self.friendly_name.as_bytes());
        w.var(self.comment.as_bytes());
        w.0
    }

    /// Decodes and checks properties.
    pub fn decode(b: &[u8]) -> Result<GroupProperties, DecodeError> {
        if b.len() > Self::MAX_BYTES {
            return Err(DecodeError::TooLarge {
                what: "group properties",
                len: b.len(),
                max: Self::MAX_BYTES,
            });
        }
        let mut r = Reader::new(b);
        let v = r.u8("version")?;
        if v != Self::VERSION {
            return Err(DecodeError::UnsupportedVersion { what: "group properties", got: v });
        }
        let group_key = r.array("group key")?;
        let cs = r.str("classifier", MAX_CLASSIFIER_BYTES)?;
        let classifier = Classifier::new(cs)
            .map_err(|reason| DecodeError::InvalidClassifier { field: "classifier", reason })?;
        if classifier.as_str() != cs {
            return Err(DecodeError::NotNfc { field: "classifier" });
        }
        let creator_s = r.str("creator", 700)?;
        let creator = PeerName::parse(creator_s)
            .map_err(|reason| DecodeError::InvalidClassifier { field: "creator", reason })?;
        if creator.to_string() != creator_s {
            return Err(DecodeError::NotNfc { field: "creator" });
        }
        let cloud = r.str("cloud", MAX_CLOUD_BYTES)?.to_owned();
        let member_data_lifetime = Duration::from_secs(r.u64("member data lifetime")?);
        let presence_lifetime = Duration::from_secs(r.u64("presence lifetime")?);
        let friendly_name = r.str("friendly name", 1020)?.to_owned();
        let comment = r.str("comment", MAX_COMMENT_BYTES)?.to_owned();
        r.finish()?;
        let p = GroupProperties {
            group_key,
            classifier,
            creator,
            cloud,
            member_data_lifetime,
            presence_lifetime,
            friendly_name,
            comment,
        };
        p.check()?;
        Ok(p)
    }

    /// The first immutable field that differs from `old`, if any.
    pub fn immutable_change(&self, old: &GroupProperties) -> Option<&'static str> {
        if self.group_key != old.group_key {
            Some("group key")
        } else if self.classifier != old.classifier {
            Some("classifier")
        } else if self.creator != old.creator {
            Some("creator")
        } else if self.cloud != old.cloud {
            Some("cloud")
        } else if self.member_data_lifetime != old.member_data_lifetime {
            Some("member data lifetime")
        } else if self.presence_lifetime != old.presence_lifetime {
            Some("presence lifetime")
        } else {
            None
        }
    }
}

// ----- membership -------------------------------------------------------------------------

/// The payload of a membership record: `version: u8 = 1` ‖ chain (`u32` BE length ‖ bytes).
pub fn encode_membership(chain: &Chain) -> Vec<u8> {
    let mut w = Writer::with_capacity(600);
    w.u8(1);
    w.var32(&chain.encode());
    w.0
}

/// Decodes a membership payload.
pub fn decode_membership(b: &[u8]) -> Result<Chain, DecodeError> {
    if b.len() > 5 + MAX_CHAIN_BYTES {
        return Err(DecodeError::TooLarge {
            what: "membership",
            len: b.len(),
            max: 5 + MAX_CHAIN_BYTES,
        });
    }
    let mut r = Reader::new(b);
    let v = r.u8("version")?;
    if v != 1 {
        return Err(DecodeError::UnsupportedVersion { what: "membership", got: v });
    }
    let chain = Chain::decode(r.var32("chain", MAX_CHAIN_BYTES)?)?;
    r.finish()?;
    Ok(chain)
}

// ----- revocation -------------------------------------------------------------------------

/// Why a certificate was revoked (informational).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RevocationReason {
    /// No reason given (0).
    Unspecified,
    /// The member's key is compromised (1).
    KeyCompromise,
    /// The member left the group (2).
    Left,
    /// Replaced by a new certificate (3).
    Superseded,
    /// The member misbehaved (4).
    Misbehaviour,
}

impl RevocationReason {
    fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::Left => 2,
            RevocationReason::Superseded => 3,
            RevocationReason::Misbehaviour => 4,
        }
    }
    fn from_code(c: u8) -> Result<Self, DecodeError> {
        Ok(match c {
            0 => RevocationReason::Unspecified,
            1 => RevocationReason::KeyCompromise,
            2 => RevocationReason::Left,
            3 => RevocationReason::Superseded,
            4 => RevocationReason::Misbehaviour,
            _ => return Err(DecodeError::InvalidField { field: "reason", reason: "unknown code" }),
        })
    }
}

/// The payload of a revocation record (`group.md` §6.2).
///
/// `version: u8 = 1` ‖ target id (32) ‖ target not-after (`u64` BE ms) ‖ reason (`u8`) ‖
/// the revoker's chain (`u32` length ‖ chain; length 0 when the group key signs) ‖ standing
/// records (`u32` count ≤ 16,384, then that many 32-byte record digests, strictly
/// ascending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    /// The revoked certificate.
    pub target: CertId,
    /// The revoked certificate's not-after: the revocation record expires then.
    pub target_not_after: UnixTime,
    /// Why.
    pub reason: RevocationReason,
    /// The revoker's chain; `None` when the group key signs.
    pub revoker: Option<Chain>,
    /// Digests of the records by the revoked certificate (and those beneath it) that the
    /// revoker held when it revoked: exactly these stand (`group.md` §6.4).
    pub stand: Vec<[u8; 32]>,
}

impl Revocation {
    /// Format version.
    pub const VERSION: u8 = 1;
    /// Largest encoding accepted.
    pub const MAX_BYTES: usize = 1 + 32 + 8 + 1 + 4 + MAX_CHAIN_BYTES + 4 + 32 * MAX_STAND;

    /// The encoding (the stand list sorted and de-duplicated).
    pub fn encode(&self) -> Vec<u8> {
        let mut stand = self.stand.clone();
        stand.sort_unstable();
        stand.dedup();
        stand.truncate(MAX_STAND);
        let mut w = Writer::with_capacity(64 + 32 * stand.len());
        w.u8(Self::VERSION);
        w.bytes(&self.target.0);
        w.u64(self.target_not_after.as_millis());
        w.u8(self.reason.code());
        match &self.revoker {
            Some(c) => w.var32(&c.encode()),
            None => w.u32(0),
        }
        w.u32(stand.len() as u32);
        for d in &stand {
            w.bytes(d);
        }
        w.0
    }

    /// Decodes a revocation; the stand list must be strictly ascending.
    pub fn decode(b: &[u8]) -> Result<Revocation, DecodeError> {
        if b.len() > Self::MAX_BYTES {
            return Err(DecodeError::TooLarge {
                what: "revocation",
                len: b.len(),
                max: Self::MAX_BYTES,
            });
        }
        let mut r = Reader::new(b);
        let v = r.u8("version")?;
        if v != Self::VERSION {
            return Err(DecodeError::UnsupportedVersion { what: "revocation", got: v });
        }
        let target = CertId(r.array("target")?);
        let target_not_after = UnixTime::from_millis(r.u64("target not-after")?);
        let reason = RevocationReason::from_code(r.u8("reason")?)?;
        let chain = r.var32("revoker chain", MAX_CHAIN_BYTES)?;
        let revoker = if chain.is_empty() { None } else { Some(Chain::decode(chain)?) };
        let n = r.u32("stand count")? as usize;
        if n > MAX_STAND {
            return Err(DecodeError::FieldTooLong { field: "stand", len: n, max: MAX_STAND });
        }
        let mut stand: Vec<[u8; 32]> = Vec::with_capacity(n);
        for index in 0..n {
            let d: [u8; 32] = r.array("stand digest")?;
            if stand.last().is_some_and(|p| *p >= d) {
                return Err(DecodeError::StandListUnsorted { index });
            }
            stand.push(d);
        }
        r.finish()?;
        Ok(Revocation { target, target_not_after, reason, revoker, stand })
    }

    /// Whether the record with this digest stands.
    pub fn keeps(&self, digest: &[u8; 32]) -> bool {
        self.stand.binary_search(digest).is_ok()
    }
}

/// Whether a record is one of the group's reserved records.
pub fn is_security_record(r: &Record) -> bool {
    SECURITY_TYPES.contains(&r.record_type())
}
