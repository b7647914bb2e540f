//! The bytes of the password join (`group.md` §13.2, §13.3): the password invitation and
//! the four exchange messages, in the compact encoding of §2.

use std::time::Duration;

use peergroup_base::{Classifier, PeerName};
use peergroup_identity::DocumentKind;

use crate::cert::MAX_CLASSIFIER_BYTES;
use crate::chain::{Chain, MAX_CHAIN_BYTES};
use crate::error::{DecodeError, PasswordError};
use crate::records::{MAX_CLOUD_BYTES, MAX_GROUP_FRIENDLY_NAME_CHARS};
use crate::wire::{Reader, Writer};

/// Longest peer name in a structure (§2 rule 5).
const MAX_NAME_BYTES: usize = 700;
/// Longest friendly name, bytes (255 scalar values of up to 4 bytes).
const MAX_FRIENDLY_BYTES: usize = 1020;

/// Size of OPAQUE's KE1 (credential request) with ristretto255: blinded element 32 ‖
/// client nonce 32 ‖ client ephemeral key 32.
pub const KE1_BYTES: usize = 96;
/// Size of OPAQUE's KE2 (credential response): evaluated element 32 ‖ masking nonce 32 ‖
/// masked response 128 ‖ server nonce 32 ‖ server ephemeral key 32 ‖ server MAC 64.
pub const KE2_BYTES: usize = 320;
/// Size of OPAQUE's KE3 (client MAC, SHA-512).
pub const KE3_BYTES: usize = 64;
/// Largest exchange message (a `JoinAccepted` with a chain at its limit).
pub const MAX_PASSWORD_MESSAGE_BYTES: usize = 2 + 4 + MAX_CHAIN_BYTES;
/// Largest password-invitation body.
pub const MAX_PASSWORD_INVITATION_BYTES: usize =
    1 + 2 + MAX_NAME_BYTES + 2 + MAX_FRIENDLY_BYTES + 2 + MAX_CLOUD_BYTES;
/// The message format version.
const VERSION: u8 = 1;

/// Why a verifier refused a password join (the code of `JoinRefused`, §13.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum JoinRefusal {
    /// 1: another group, or no password join for this group here.
    WrongGroup,
    /// 2: the joiner's key confirmation failed or it gave up: wrong password.
    BadPassword,
    /// 3: held off: retry after the time given.
    Backoff,
    /// 4: the password is locked until a new one is set.
    Locked,
    /// 5: the joiner's key is not the connection's identity.
    NotThePeer,
    /// 6: a malformed or unexpected message.
    Protocol,
    /// 7: the verifier cannot issue credentials now.
    Unavailable,
    /// 8: the joiner's identity holds a revoked membership of the group: a password does
    /// not undo a revocation (an administrator may invite it again).
    Revoked,
}

impl JoinRefusal {
    /// The wire code.
    pub fn code(self) -> u8 {
        match self {
            JoinRefusal::WrongGroup => 1,
            JoinRefusal::BadPassword => 2,
            JoinRefusal::Backoff => 3,
            JoinRefusal::Locked => 4,
            JoinRefusal::NotThePeer => 5,
            JoinRefusal::Protocol => 6,
            JoinRefusal::Unavailable => 7,
            JoinRefusal::Revoked => 8,
        }
    }

    /// From a wire code (unknown codes read as `Protocol`).
    pub fn from_code(c: u8) -> JoinRefusal {
        match c {
            1 => JoinRefusal::WrongGroup,
            2 => JoinRefusal::BadPassword,
            3 => JoinRefusal::Backoff,
            4 => JoinRefusal::Locked,
            5 => JoinRefusal::NotThePeer,
            7 => JoinRefusal::Unavailable,
            8 => JoinRefusal::Revoked,
            _ => JoinRefusal::Protocol,
        }
    }

    /// The refusal a verifier sends for an error.
    pub fn of(e: &PasswordError) -> JoinRefusal {
        match e {
            PasswordError::WrongGroup { .. } | PasswordError::NotAVerifier => {
                JoinRefusal::WrongGroup
            }
            PasswordError::BadPassword | PasswordError::Abandoned => JoinRefusal::BadPassword,
            PasswordError::Backoff { .. } => JoinRefusal::Backoff,
            PasswordError::Locked { .. } => JoinRefusal::Locked,
            PasswordError::NotThePeer => JoinRefusal::NotThePeer,
            PasswordError::Decode(_) | PasswordError::Protocol(_) => JoinRefusal::Protocol,
            PasswordError::Revoked => JoinRefusal::Revoked,
            _ => JoinRefusal::Unavailable,
        }
    }
}

/// One message of the password join (§13.3).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PasswordMessage {
    /// 1, joiner → verifier: the group, the joiner's identity and OPAQUE's KE1.
    JoinStart {
        /// The group the joiner wants to join.
        group: PeerName,
        /// The joiner's identity key (Ed25519), the connection's TLS key.
        joiner_key: [u8; 32],
        /// The joiner's peer-name classifier (its certificate's subject classifier).
        joiner_classifier: Classifier,
        /// OPAQUE KE1.
        ke1: [u8; KE1_BYTES],
    },
    /// 2, verifier → joiner: the key-stretching function and OPAQUE's KE2.
    JoinChallenge {
        /// The key-stretching code (§13.4).
        ksf: u8,
        /// OPAQUE KE2.
        ke2: [u8; KE2_BYTES],
    },
    /// 3, joiner → verifier: OPAQUE's KE3 (the joiner's key confirmation).
    JoinFinish {
        /// OPAQUE KE3.
        ke3: [u8; KE3_BYTES],
    },
    /// 4, joiner → verifier: the password did not open the credentials; the joiner gives up.
    JoinAbort,
    /// 5, verifier → joiner: the joiner's new chain.
    JoinAccepted {
        /// The verifier's chain extended by the joiner's new GMC.
        chain: Chain,
    },
    /// 6, verifier → joiner: the join is refused.
    JoinRefused {
        /// Why.
        refusal: JoinRefusal,
        /// When a retry may succeed (backoff), whole seconds; zero otherwise.
        retry_after: Duration,
    },
}

impl PasswordMessage {
    /// The type code.
    pub fn type_code(&self) -> u8 {
        match self {
            PasswordMessage::JoinStart { .. } => 1,
            PasswordMessage::JoinChallenge { .. } => 2,
            PasswordMessage::JoinFinish { .. } => 3,
            PasswordMessage::JoinAbort => 4,
            PasswordMessage::JoinAccepted { .. } => 5,
            PasswordMessage::JoinRefused { .. } => 6,
        }
    }

    /// The encoding: `version: u8 = 1` ‖ `type: u8` ‖ body (§13.3).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(400);
        w.u8(VERSION);
        w.u8(self.type_code());
        match self {
            PasswordMessage::JoinStart { group, joiner_key, joiner_classifier, ke1 } => {
                w.var(group.to_string().as_bytes());
                w.bytes(joiner_key);
                w.var(joiner_classifier.as_str().as_bytes());
                w.bytes(ke1);
            }
            PasswordMessage::JoinChallenge { ksf, ke2 } => {
                w.u8(*ksf);
                w.bytes(ke2);
            }
            PasswordMessage::JoinFinish { ke3 } => w.bytes(ke3),
            PasswordMessage::JoinAbort => {}
            PasswordMessage::JoinAccepted { chain } => w.var32(&chain.encode()),
            PasswordMessage::JoinRefused { refusal, retry_after } => {
                w.u8(refusal.code());
                w.u32(u32::try_from(retry_after.as_secs()).unwrap_or(u32::MAX));
            }
        }
        w.0
    }

    /// Decodes a message (structure only; OPAQUE values are checked by the exchange).
    pub fn decode(b: &[u8]) -> Result<PasswordMessage, DecodeError> {
        if b.len() > MAX_PASSWORD_MESSAGE_BYTES {
            return Err(DecodeError::TooLarge {
                what: "password-join message",
                len: b.len(),
                max: MAX_PASSWORD_MESSAGE_BYTES,
            });
        }
        let mut r = Reader::new(b);
        let v = r.u8("version")?;
        if v != VERSION {
            return Err(DecodeError::UnsupportedVersion { what: "password-join message", got: v });
        }
        let m = match r.u8("type")? {
            1 => {
                let group = peer_name(&mut r, "group")?;
                let joiner_key = r.array("joiner key")?;
                let c = r.str("joiner classifier", MAX_CLASSIFIER_BYTES)?;
                let joiner_classifier = Classifier::new(c).map_err(|reason| {
                    DecodeError::InvalidClassifier { field: "joiner classifier", reason }
                })?;
                if joiner_classifier.as_str() != c {
                    return Err(DecodeError::NotNfc { field: "joiner classifier" });
                }
                let ke1 = r.array("ke1")?;
                PasswordMessage::JoinStart { group, joiner_key, joiner_classifier, ke1 }
            }
            2 => PasswordMessage::JoinChallenge { ksf: r.u8("ksf")?, ke2: r.array("ke2")? },
            3 => PasswordMessage::JoinFinish { ke3: r.array("ke3")? },
            4 => PasswordMessage::JoinAbort,
            5 => PasswordMessage::JoinAccepted {
                chain: Chain::decode(r.var32("chain", MAX_CHAIN_BYTES)?)?,
            },
            6 => {
                let code = r.u8("refusal")?;
                if !(1..=8).contains(&code) {
                    return Err(DecodeError::InvalidField {
                        field: "refusal",
                        reason: "unknown refusal code",
                    });
                }
                PasswordMessage::JoinRefused {
                    refusal: JoinRefusal::from_code(code),
                    retry_after: Duration::from_secs(u64::from(r.u32("retry after")?)),
                }
            }
            _ => {
                return Err(DecodeError::InvalidField {
                    field: "type",
                    reason: "unknown password-join message type",
                });
            }
        };
        r.finish()?;
        Ok(m)
    }
}

/// A peer name inside signed or bound bytes: valid and already NFC (§2 rule 5).
fn peer_name(r: &mut Reader<'_>, field: &'static str) -> Result<PeerName, DecodeError> {
    let s = r.str(field, MAX_NAME_BYTES)?;
    let name =
        PeerName::parse(s).map_err(|reason| DecodeError::InvalidClassifier { field, reason })?;
    if name.to_string() != s {
        return Err(DecodeError::NotNfc { field });
    }
    Ok(name)
}

/// The `Group-Peer-Name` header.
pub const GROUP_HEADER: &str = "Group-Peer-Name";
/// The `Friendly-Name` header.
pub const FRIENDLY_NAME_HEADER: &str = "Friendly-Name";

/// A password invitation (§13.2): where the group is, not how to get in. The password
/// travels separately.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordInvitation {
    /// The group's peer name.
    pub group: PeerName,
    /// The group's friendly name (for people).
    pub friendly_name: String,
    /// The group's PNRP cloud.
    pub cloud: String,
}

impl PasswordInvitation {
    /// A password invitation, checking the friendly name and cloud rules of §5.3.
    pub fn new(
        group: PeerName,
        friendly_name: &str,
        cloud: &str,
    ) -> Result<PasswordInvitation, PasswordError> {
        let bad = |m: &str| PasswordError::Group(crate::GroupError::InvalidArgument(m.into()));
        if cloud.is_empty() || cloud.len() > MAX_CLOUD_BYTES {
            return Err(bad("the cloud name is 1 to 254 bytes"));
        }
        if friendly_name.chars().count() > MAX_GROUP_FRIENDLY_NAME_CHARS
            || friendly_name.chars().any(char::is_control)
        {
            return Err(bad(
                "the friendly name is at most 255 characters, without control characters",
            ));
        }
        Ok(PasswordInvitation {
            group,
            friendly_name: friendly_name.to_owned(),
            cloud: cloud.to_owned(),
        })
    }

    /// The binary body: `version: u8 = 1` ‖ group (str16) ‖ friendly name (str16) ‖ cloud
    /// (str16).
    pub fn to_binary(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(128);
        w.u8(VERSION);
        w.var(self.group.to_string().as_bytes());
        w.var(self.friendly_name.as_bytes());
        w.var(self.cloud.as_bytes());
        w.0
    }

    /// Decodes a binary body.
    pub fn from_binary(b: &[u8]) -> Result<PasswordInvitation, DecodeError> {
        if b.len() > MAX_PASSWORD_INVITATION_BYTES {
            return Err(DecodeError::TooLarge {
                what: "password invitation",
                len: b.len(),
                max: MAX_PASSWORD_INVITATION_BYTES,
            });
        }
        let mut r = Reader::new(b);
        let v = r.u8("version")?;
        if v != VERSION {
            return Err(DecodeError::UnsupportedVersion { what: "password invitation", got: v });
        }
        let group = peer_name(&mut r, "group")?;
        let friendly_name = r.str("friendly name", MAX_FRIENDLY_BYTES)?;
        if friendly_name.chars().count() > MAX_GROUP_FRIENDLY_NAME_CHARS
            || friendly_name.chars().any(char::is_control)
        {
            return Err(DecodeError::InvalidField {
                field: "friendly name",
                reason: "more than 255 characters, or a control character",
            });
        }
        let cloud = r.str("cloud", MAX_CLOUD_BYTES)?;
        if cloud.is_empty() {
            return Err(DecodeError::InvalidField { field: "cloud", reason: "empty" });
        }
        r.finish()?;
        Ok(PasswordInvitation {
            group,
            friendly_name: friendly_name.to_owned(),
            cloud: cloud.to_owned(),
        })
    }

    /// The armoured text (`PEERGROUP GROUP PASSWORD INVITATION`).
    pub fn to_text(&self) -> String {
        let group = self.group.to_string();
        let mut headers = vec![(GROUP_HEADER, group.as_str())];
        if !self.friendly_name.trim().is_empty() {
            headers.push((FRIENDLY_NAME_HEADER, self.friendly_name.as_str()));
        }
        peergroup_identity::armour_document(
            DocumentKind::GroupPasswordInvitation,
            &headers,
            &self.to_binary(),
        )
    }

    /// Parses armoured text: armour (16 KiB at most), body, then `Group-Peer-Name`, if
    /// present, against the body.
    pub fn parse(text: &str) -> Result<PasswordInvitation, DecodeError> {
        let (headers, binary) =
            peergroup_identity::dearmour_document(DocumentKind::GroupPasswordInvitation, text)
                .map_err(|e| DecodeError::NotArmoured {
                    expected: "group password invitation",
                    reason: e.to_string(),
                })?;
        let inv = Self::from_binary(&binary)?;
        let header = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(GROUP_HEADER))
            .map(|(_, v)| v.as_str());
        if let Some(g) = header
            && PeerName::parse(g).ok().as_ref() != Some(&inv.group)
        {
            return Err(DecodeError::InvalidField {
                field: GROUP_HEADER,
                reason: "does not match the body",
            });
        }
        Ok(inv)
    }
}
