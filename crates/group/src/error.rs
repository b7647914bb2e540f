//! Errors of the grouping layer. Every failed check has its own variant, named after it
//! (the Win32 `PEER_E_*` codes are the checklist), so callers and tests tell them apart.

use peergroup_base::{NameError, PeerName, UnixTime};

use crate::cert::{CertId, Role};

/// A structure could not be decoded (`group.md` §2). Checked before anything is verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is longer than the structure's limit; checked first.
    #[error("{what} is {len} bytes, more than the {max} accepted")]
    TooLarge {
        /// Which structure.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input ended inside a field.
    #[error("truncated in field '{field}'")]
    Truncated {
        /// The field.
        field: &'static str,
    },
    /// Bytes follow the structure.
    #[error("{extra} bytes after the end of the structure")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// A version this implementation does not know.
    #[error("unsupported {what} version {got}")]
    UnsupportedVersion {
        /// Which structure.
        what: &'static str,
        /// The version read.
        got: u8,
    },
    /// A certificate kind other than root (0) or membership (1).
    #[error("unknown certificate kind {0}")]
    UnknownKind(u8),
    /// A role code other than 0–3.
    #[error("unknown role {0}")]
    UnknownRole(u8),
    /// A security-data kind other than 1 (member) or 2 (group key).
    #[error("unknown security data kind {0}")]
    UnknownSecurityKind(u8),
    /// A text field is not UTF-8.
    #[error("field '{field}' is not UTF-8")]
    NotUtf8 {
        /// The field.
        field: &'static str,
    },
    /// A field is longer than its limit.
    #[error("field '{field}' is {len} bytes, more than the {max} accepted")]
    FieldTooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A classifier breaks a peer-name rule.
    #[error("field '{field}': {reason}")]
    InvalidClassifier {
        /// The field.
        field: &'static str,
        /// The rule broken.
        reason: NameError,
    },
    /// A text inside signed bytes is not in NFC: signed bytes cannot be normalised, so
    /// they are refused.
    #[error("field '{field}' is not in Unicode NFC")]
    NotNfc {
        /// The field.
        field: &'static str,
    },
    /// More classifiers than a certificate may carry.
    #[error("{count} classifiers, more than the {max} a certificate may carry")]
    TooManyClassifiers {
        /// How many.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A chain with no certificate.
    #[error("empty certificate chain")]
    ChainEmpty,
    /// A chain with more than 24 issuers (`PEER_E_CHAIN_TOO_LONG`).
    #[error("chain of {certs} certificates: more than {max_issuers} issuers")]
    ChainTooLong {
        /// Certificates in the chain.
        certs: usize,
        /// The issuer limit.
        max_issuers: usize,
    },
    /// A revocation's list of standing records is not in strictly ascending order.
    #[error("the standing-record list is not strictly ascending at entry {index}")]
    StandListUnsorted {
        /// The first entry out of order.
        index: usize,
    },
    /// A field holds a value the format forbids.
    #[error("field '{field}': {reason}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The text is not an armoured document of the expected kind.
    #[error("not a {expected} document: {reason}")]
    NotArmoured {
        /// The expected document.
        expected: &'static str,
        /// Why.
        reason: String,
    },
}

/// A certificate chain failed verification (`group.md` §3.3). `index` is the position of
/// the certificate in the chain (0 = the group root certificate).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// The chain could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The first certificate is not a group root certificate (kind root, subject = group
    /// key, issuer all zero).
    #[error("the first certificate is not a group root certificate")]
    NotARoot,
    /// A root certificate after the first position.
    #[error("certificate {index} is a root certificate; only the first may be")]
    UnexpectedRoot {
        /// Its position.
        index: usize,
    },
    /// The chain is of another group than expected.
    #[error("the chain belongs to group {got}, not {expected}")]
    WrongGroup {
        /// The group expected.
        expected: PeerName,
        /// The chain's group.
        got: PeerName,
    },
    /// A certificate names another group than the root.
    #[error("certificate {index} names another group than the root certificate")]
    MixedGroups {
        /// Its position.
        index: usize,
    },
    /// A certificate's issuer hash is not the previous certificate's id.
    #[error("certificate {index} does not link to the certificate before it")]
    BrokenLink {
        /// Its position.
        index: usize,
    },
    /// A subject key appears twice (`PEER_E_CIRCULAR_CHAIN_DETECTED`).
    #[error("certificate {index} repeats a subject key earlier in the chain")]
    CircularChain {
        /// Its position.
        index: usize,
    },
    /// A certificate's signature does not verify under its issuer's key.
    #[error("certificate {index} has an invalid signature")]
    SignatureInvalid {
        /// Its position.
        index: usize,
    },
    /// not-before is after not-after.
    #[error("certificate {index} has not-before after not-after")]
    InvalidValidity {
        /// Its position.
        index: usize,
    },
    /// A certificate expires after its issuer.
    #[error("certificate {index} expires after its issuer")]
    OutlivesIssuer {
        /// Its position.
        index: usize,
    },
    /// A certificate becomes valid before its issuer.
    #[error("certificate {index} becomes valid before its issuer")]
    StartsBeforeIssuer {
        /// Its position.
        index: usize,
    },
    /// The issuer's role may not issue this role (MS-PPSEC 2.2.5.3).
    #[error("certificate {index}: a {issuer} may not issue the role {role}")]
    RoleNotIssuable {
        /// Its position.
        index: usize,
        /// The issuer's role.
        issuer: Role,
        /// The role issued.
        role: Role,
    },
    /// A certificate is not valid yet.
    #[error("certificate {index} is not valid before {not_before:?}")]
    NotYetValid {
        /// Its position.
        index: usize,
        /// Its not-before.
        not_before: UnixTime,
    },
    /// A certificate has expired (`PEER_E_CERT_EXPIRED`-like).
    #[error("certificate {index} expired at {not_after:?}")]
    Expired {
        /// Its position.
        index: usize,
        /// Its not-after.
        not_after: UnixTime,
    },
    /// The leaf certificate is not for the expected key.
    #[error("the chain's leaf is not for the expected identity key")]
    LeafMismatch,
}

/// Errors of the grouping layer: record security, membership, revocation, invitations and
/// admission.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GroupError {
    /// A structure could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A certificate chain failed verification.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The signer holds no membership in this group (`PEER_E_NOT_A_MEMBER`-like).
    #[error("{peer} is not a member of the group")]
    NotAMember {
        /// The peer.
        peer: PeerName,
    },
    /// A certificate of the signer's chain is revoked.
    #[error("certificate {cert} is revoked")]
    Revoked {
        /// The revoked certificate.
        cert: CertId,
    },
    /// The record was written by a revoked certificate and is not among the records its
    /// revocation lets stand (`group.md` §6.4).
    #[error("written by revoked certificate {cert} and not among the records its revocation keeps")]
    RevokedWrite {
        /// The revoked certificate.
        cert: CertId,
    },
    /// The record's signature does not verify (`PEER_E_INVALID_RECORD` / signature).
    #[error("invalid record signature")]
    SignatureInvalid,
    /// The record is not signed the way its type requires.
    #[error("record signed wrongly: {0}")]
    WrongSigner(&'static str),
    /// Only the record's creator or an administrator may update or delete it.
    #[error("{signer} may not modify a record created by {creator}: not an administrator")]
    NotCreatorOrAdmin {
        /// Who signed the change.
        signer: PeerName,
        /// The record's creator.
        creator: PeerName,
    },
    /// The record's times are outside the signer's certificate validity.
    #[error("record times lie outside the signer's certificate validity")]
    OutsideValidity,
    /// A reserved record breaks its rules.
    #[error("invalid {what} record: {reason}")]
    InvalidSecurityRecord {
        /// Which record kind.
        what: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// An immutable group property would change.
    #[error("the group property '{0}' cannot change")]
    ImmutableProperty(&'static str),
    /// The issuer's role may not issue the requested role.
    #[error("a {issuer} may not issue the role {role}")]
    RoleNotIssuable {
        /// The issuer's role.
        issuer: Role,
        /// The role asked for.
        role: Role,
    },
    /// The operation needs a role the local member does not hold.
    #[error("this needs the role {needed}; the local member is a {held}")]
    RoleRequired {
        /// Needed.
        needed: Role,
        /// Held.
        held: Role,
    },
    /// An invitation is for another identity.
    #[error("the invitation is for {invitee}, not for this identity")]
    InvitationNotForMe {
        /// The invitee named in it.
        invitee: PeerName,
    },
    /// The admission exchange's channel binding does not verify.
    #[error("the admission proof is not bound to this connection")]
    BindingInvalid,
    /// The peer's chain is for another key than its connection's identity.
    #[error("the chain's leaf key is not the connection's identity key")]
    LeafNotPeer,
    /// A group key file or operation failed.
    #[error("{operation} {path}: {reason}")]
    Io {
        /// What was attempted.
        operation: &'static str,
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// An input the caller gave breaks a rule.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl GroupError {
    /// `true` if the error means "not (or no longer) a member".
    pub fn is_not_member(&self) -> bool {
        matches!(
            self,
            GroupError::NotAMember { .. }
                | GroupError::Revoked { .. }
                | GroupError::RevokedWrite { .. }
                | GroupError::Chain(ChainError::Expired { .. } | ChainError::WrongGroup { .. })
        )
    }

    /// `true` if a certificate of the chain is revoked.
    pub fn is_revoked(&self) -> bool {
        matches!(self, GroupError::Revoked { .. } | GroupError::RevokedWrite { .. })
    }
}

/// A password join failed (`group.md` §13). Each refusal the verifier sends has its own
/// variant, so a joiner tells them apart, and every variant a verifier returns is a failed
/// authentication the node reports as `AuthenticationFailed`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// A message or file could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// A group rule failed (issuing the certificate, verifying the issued chain).
    #[error(transparent)]
    Group(#[from] GroupError),
    /// The password is wrong: the joiner could not open the credentials with it, or the
    /// verifier found the joiner's key confirmation invalid (refusal 2).
    #[error("wrong password")]
    BadPassword,
    /// Too many failed attempts with this password: nobody joins with it until its holder
    /// sets a new one (refusal 4).
    #[error("password join is locked after {failures} failed attempts; a new password must be set")]
    Locked {
        /// Failed attempts counted against the password.
        failures: u32,
    },
    /// Attempts from this identity or address are held off (refusal 3).
    #[error("too many attempts: retry after {retry_after:?}")]
    Backoff {
        /// How long to wait before the next attempt.
        retry_after: std::time::Duration,
    },
    /// The join names another group than the verifier's (refusal 1).
    #[error("the join is for group {got}, not {expected}")]
    WrongGroup {
        /// The group expected.
        expected: PeerName,
        /// The group named.
        got: PeerName,
    },
    /// The peer does not verify passwords for this group: it is in another group, or holds
    /// no password setup for it (refusal 1, as the joiner sees it).
    #[error("the peer verifies no password for this group")]
    NotAVerifier,
    /// The joiner's key is not the connection's authenticated identity (refusal 5).
    #[error("the joiner's key is not the connection's identity")]
    NotThePeer,
    /// A message arrived that the exchange does not expect in its state, or a message was
    /// malformed (refusal 6).
    #[error("unexpected or malformed password-join message: {0}")]
    Protocol(&'static str),
    /// The verifier cannot admit anyone now: its own certificate expired, its role no
    /// longer issues the password's role, or the password was replaced (refusal 7).
    #[error("the verifier cannot issue credentials now")]
    Unavailable,
    /// The joiner's identity holds a revoked membership of the group: a password does not
    /// undo a revocation (refusal 8).
    #[error("this identity's membership of the group was revoked; a password does not undo that")]
    Revoked,
    /// The joiner left the exchange before confirming the password (connection closed,
    /// timed out). The attempt counts as a failure.
    #[error("the joiner abandoned the exchange")]
    Abandoned,
    /// The verifier uses a key-stretching function this implementation does not know.
    #[error("unknown key-stretching function {0}")]
    UnsupportedKsf(u8),
    /// The password is empty or longer than 1,024 bytes.
    #[error("a password is 1 to 1,024 bytes of UTF-8")]
    InvalidPassword,
    /// The OPAQUE library reported an internal failure (not an input error).
    #[error("password-join cryptography failed: {0}")]
    Crypto(&'static str),
    /// A password setup file could not be written or read.
    #[error("{operation} {path}: {reason}")]
    Io {
        /// What was attempted.
        operation: &'static str,
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

impl PasswordError {
    /// `true` for a wrong password.
    pub fn is_bad_password(&self) -> bool {
        matches!(self, PasswordError::BadPassword)
    }

    /// `true` if the password is locked.
    pub fn is_locked(&self) -> bool {
        matches!(self, PasswordError::Locked { .. })
    }

    /// The wait a backoff asks for, if this is one.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            PasswordError::Backoff { retry_after } => Some(*retry_after),
            _ => None,
        }
    }
}
