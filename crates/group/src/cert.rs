//! Group certificates (`group.md` §3): the group root certificate (GRC) and group
//! membership certificates (GMC), one compact signed format for both.
//!
//! | field | size | |
//! |---|---|---|
//! | version | 1 | `1` |
//! | kind | 1 | `0` root (GRC), `1` membership (GMC) |
//! | group key | 32 | the group's Ed25519 public key |
//! | group classifier | 2 + n | `u16` BE length, UTF-8 in NFC |
//! | subject key | 32 | GRC: the group key; GMC: the member's identity key |
//! | subject classifier | 2 + n | the subject's peer-name classifier |
//! | role | 1 | `0` root (GRC only), `1` administrator, `2` inviting member, `3` member |
//! | classifiers | 1 + … | count (≤ 8), then each `u16`-prefixed, NFC |
//! | not-before | 8 | `u64` BE ms since the Unix epoch |
//! | not-after | 8 | `u64` BE ms |
//! | serial | 16 | chosen by the issuer |
//! | issuer | 32 | the issuer certificate's id; all zero in a GRC |
//! | signature | 64 | Ed25519 over `"peergroup group-cert v1" ‖ 0x00 ‖ every byte before it` |
//!
//! A certificate's id ([`CertId`]) is SHA-256 over its whole encoding. The group peer name
//! is `authority(group key).group classifier`; the subject's peer name is
//! `authority(subject key).subject classifier`.

use std::fmt;

use peergroup_base::{Classifier, NodeId, PeerName, UnixTime};

use crate::error::DecodeError;
use crate::wire::{Reader, Writer, sha256, signed_message};

/// Domain separator of certificate signatures.
pub const CERT_SIGNATURE_DOMAIN: &[u8] = b"peergroup group-cert v1";
/// Format version written and read.
pub const CERT_VERSION: u8 = 1;
/// Largest certificate accepted, bytes (checked before decoding).
pub const MAX_CERT_BYTES: usize = 4096;
/// Most classifiers a certificate carries.
pub const MAX_CERT_CLASSIFIERS: usize = 8;
/// Longest classifier in bytes (149 scalar values of up to 4 bytes).
pub(crate) const MAX_CLASSIFIER_BYTES: usize = 596;
/// The classifier a GMC carries by default (MS-PPSEC: `participant`).
pub const DEFAULT_CLASSIFIER: &str = "participant";

/// The id of a certificate: SHA-256 over its encoding.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CertId(pub [u8; 32]);

impl CertId {
    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    /// Lowercase hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
    /// The all-zero id (the issuer field of a GRC).
    pub const ZERO: CertId = CertId([0; 32]);
}

impl fmt::Debug for CertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CertId({})", &self.to_hex()[..16])
    }
}

impl fmt::Display for CertId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex()[..16])
    }
}

/// A member's role (MS-PPSEC 2.2.5.3). `Root` is the GRC's, held by the group key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Role {
    /// The group root (the group key itself); only in a GRC.
    Root,
    /// Administrator: issues any role, modifies and deletes any record, revokes.
    Administrator,
    /// Inviting member: issues inviting members and members.
    InvitingMember,
    /// Member: issues nothing; publishes and modifies its own records.
    Member,
}

impl Role {
    /// The wire code.
    pub fn code(self) -> u8 {
        match self {
            Role::Root => 0,
            Role::Administrator => 1,
            Role::InvitingMember => 2,
            Role::Member => 3,
        }
    }

    /// The role of a wire code.
    pub fn from_code(c: u8) -> Result<Role, DecodeError> {
        Ok(match c {
            0 => Role::Root,
            1 => Role::Administrator,
            2 => Role::InvitingMember,
            3 => Role::Member,
            other => return Err(DecodeError::UnknownRole(other)),
        })
    }

    /// Whether a holder of `self` may issue a certificate with `role`: the root and
    /// administrators any member role, inviting members inviting members and members,
    /// members none. Nobody issues `Root`.
    pub fn may_issue(self, role: Role) -> bool {
        match (self, role) {
            (_, Role::Root) => false,
            (Role::Root | Role::Administrator, _) => true,
            (Role::InvitingMember, Role::InvitingMember | Role::Member) => true,
            _ => false,
        }
    }

    /// Whether the role may modify and delete other members' records and revoke.
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Root | Role::Administrator)
    }

    /// Parses `administrator` / `admin`, `inviting-member` / `inviter`, `member`.
    pub fn parse(s: &str) -> Option<Role> {
        match s.to_ascii_lowercase().as_str() {
            "administrator" | "admin" => Some(Role::Administrator),
            "inviting-member" | "invitingmember" | "inviter" => Some(Role::InvitingMember),
            "member" => Some(Role::Member),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Root => "group root",
            Role::Administrator => "administrator",
            Role::InvitingMember => "inviting member",
            Role::Member => "member",
        })
    }
}

/// Root (GRC) or membership (GMC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertKind {
    /// The group root certificate, self-signed by the group key.
    Root,
    /// A group membership certificate, signed by its issuer.
    Membership,
}

/// A decoded certificate. Decoding checks the format and field rules only; signatures
/// and chain rules are checked by [`Chain::verify`](crate::chain::Chain::verify).
#[derive(Clone, PartialEq, Eq)]
pub struct Cert {
    pub(crate) kind: CertKind,
    pub(crate) group_key: [u8; 32],
    pub(crate) group_classifier: Classifier,
    pub(crate) subject_key: [u8; 32],
    pub(crate) subject_classifier: Classifier,
    pub(crate) role: Role,
    pub(crate) classifiers: Vec<Classifier>,
    pub(crate) not_before: UnixTime,
    pub(crate) not_after: UnixTime,
    pub(crate) serial: [u8; 16],
    pub(crate) issuer: CertId,
    pub(crate) signature: [u8; 64],
    pub(crate) encoded: Vec<u8>,
    pub(crate) id: CertId,
}

impl fmt::Debug for Cert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cert")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("subject", &self.subject_name().to_string())
            .field("role", &self.role)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// The unsigned fields of a certificate to issue.
#[derive(Debug, Clone)]
pub struct CertDraft {
    /// Root or membership.
    pub kind: CertKind,
    /// The group key.
    pub group_key: [u8; 32],
    /// The group classifier.
    pub group_classifier: Classifier,
    /// The subject's key.
    pub subject_key: [u8; 32],
    /// The subject's classifier.
    pub subject_classifier: Classifier,
    /// The role.
    pub role: Role,
    /// Classifiers granted (default `participant`).
    pub classifiers: Vec<Classifier>,
    /// Valid from.
    pub not_before: UnixTime,
    /// Valid until.
    pub not_after: UnixTime,
    /// Serial.
    pub serial: [u8; 16],
    /// The issuer's certificate id (zero for a root).
    pub issuer: CertId,
}

impl CertDraft {
    /// The encoding of every field before the signature.
    pub(crate) fn tbs(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(256);
        w.u8(CERT_VERSION);
        w.u8(match self.kind {
            CertKind::Root => 0,
            CertKind::Membership => 1,
        });
        w.bytes(&self.group_key);
        w.var(self.group_classifier.as_str().as_bytes());
        w.bytes(&self.subject_key);
        w.var(self.subject_classifier.as_str().as_bytes());
        w.u8(self.role.code());
        let n = self.classifiers.len().min(MAX_CERT_CLASSIFIERS);
        w.u8(n as u8);
        for c in &self.classifiers[..n] {
            w.var(c.as_str().as_bytes());
        }
        w.u64(self.not_before.as_millis());
        w.u64(self.not_after.as_millis());
        w.bytes(&self.serial);
        w.bytes(&self.issuer.0);
        w.0
    }

    /// Signs the draft with `sign` (the issuer's key; the group key for a root) and
    /// returns the certificate.
    pub fn sign(self, sign: impl FnOnce(&[u8]) -> [u8; 64]) -> Result<Cert, DecodeError> {
        let mut tbs = self.tbs();
        let signature = sign(&signed_message(CERT_SIGNATURE_DOMAIN, &tbs));
        tbs.extend_from_slice(&signature);
        Cert::decode(&tbs)
    }
}

fn classifier(r: &mut Reader<'_>, field: &'static str) -> Result<Classifier, DecodeError> {
    let s = r.str(field, MAX_CLASSIFIER_BYTES)?;
    let c =
        Classifier::new(s).map_err(|reason| DecodeError::InvalidClassifier { field, reason })?;
    if c.as_str() != s {
        return Err(DecodeError::NotNfc { field });
    }
    Ok(c)
}

impl Cert {
    /// Decodes a certificate: limits first, then every field rule. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<Cert, DecodeError> {
        if bytes.len() > MAX_CERT_BYTES {
            return Err(DecodeError::TooLarge {
                what: "certificate",
                len: bytes.len(),
                max: MAX_CERT_BYTES,
            });
        }
        let mut r = Reader::new(bytes);
        let version = r.u8("version")?;
        if version != CERT_VERSION {
            return Err(DecodeError::UnsupportedVersion { what: "certificate", got: version });
        }
        let kind = match r.u8("kind")? {
            0 => CertKind::Root,
            1 => CertKind::Membership,
            k => return Err(DecodeError::UnknownKind(k)),
        };
        let group_key = r.array("group key")?;
        let group_classifier = classifier(&mut r, "group classifier")?;
        let subject_key = r.array("subject key")?;
        let subject_classifier = classifier(&mut r, "subject classifier")?;
        let role = Role::from_code(r.u8("role")?)?;
        let count = usize::from(r.u8("classifier count")?);
        if count > MAX_CERT_CLASSIFIERS {
            return Err(DecodeError::TooManyClassifiers { count, max: MAX_CERT_CLASSIFIERS });
        }
        let mut classifiers = Vec::with_capacity(count);
        for _ in 0..count {
            classifiers.push(classifier(&mut r, "classifier")?);
        }
        let not_before = UnixTime::from_millis(r.u64("not-before")?);
        let not_after = UnixTime::from_millis(r.u64("not-after")?);
        let serial = r.array("serial")?;
        let issuer = CertId(r.array("issuer")?);
        let signature = r.array("signature")?;
        r.finish()?;
        match kind {
            CertKind::Root => {
                if role != Role::Root {
                    return Err(DecodeError::InvalidField {
                        field: "role",
                        reason: "a root certificate has the role root",
                    });
                }
                if issuer != CertId::ZERO {
                    return Err(DecodeError::InvalidField {
                        field: "issuer",
                        reason: "a root certificate's issuer is all zero",
                    });
                }
                if subject_key != group_key || subject_classifier != group_classifier {
                    return Err(DecodeError::InvalidField {
                        field: "subject",
                        reason: "a root certificate's subject is the group",
                    });
                }
            }
            CertKind::Membership => {
                if role == Role::Root {
                    return Err(DecodeError::InvalidField {
                        field: "role",
                        reason: "only a root certificate has the role root",
                    });
                }
            }
        }
        Ok(Cert {
            kind,
            group_key,
            group_classifier,
            subject_key,
            subject_classifier,
            role,
            classifiers,
            not_before,
            not_after,
            serial,
            issuer,
            signature,
            id: CertId(sha256(&[bytes])),
            encoded: bytes.to_vec(),
        })
    }

    /// The exact bytes the signature covers (domain included).
    pub fn signed_bytes(&self) -> Vec<u8> {
        signed_message(CERT_SIGNATURE_DOMAIN, &self.encoded[..self.encoded.len() - 64])
    }

    /// The signature.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// The encoding.
    pub fn encoded(&self) -> &[u8] {
        &self.encoded
    }
    /// SHA-256 of the encoding.
    pub fn id(&self) -> CertId {
        self.id
    }
    /// Root or membership.
    pub fn kind(&self) -> CertKind {
        self.kind
    }
    /// The group key.
    pub fn group_key(&self) -> &[u8; 32] {
        &self.group_key
    }
    /// The group's peer name, `authority(group key).classifier`.
    pub fn group_name(&self) -> PeerName {
        PeerName::new(
            NodeId::from_ed25519(&self.group_key).authority(),
            self.group_classifier.clone(),
        )
    }
    /// The subject's key.
    pub fn subject_key(&self) -> &[u8; 32] {
        &self.subject_key
    }
    /// The subject's peer name.
    pub fn subject_name(&self) -> PeerName {
        PeerName::new(
            NodeId::from_ed25519(&self.subject_key).authority(),
            self.subject_classifier.clone(),
        )
    }
    /// The subject's node id.
    pub fn subject_node(&self) -> NodeId {
        NodeId::from_ed25519(&self.subject_key)
    }
    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }
    /// Classifiers granted.
    pub fn classifiers(&self) -> &[Classifier] {
        &self.classifiers
    }
    /// Valid from.
    pub fn not_before(&self) -> UnixTime {
        self.not_before
    }
    /// Valid until (exclusive).
    pub fn not_after(&self) -> UnixTime {
        self.not_after
    }
    /// Serial.
    pub fn serial(&self) -> &[u8; 16] {
        &self.serial
    }
    /// The issuer's id (zero for a root).
    pub fn issuer(&self) -> CertId {
        self.issuer
    }
    /// Whether `now` lies in `[not_before, not_after)`.
    pub fn valid_at(&self, now: UnixTime) -> bool {
        self.not_before <= now && now < self.not_after
    }
}
