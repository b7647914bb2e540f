//! Identity info: the public, shareable, self-signed description of an identity
//! (`proto-specs/identity.md` §6).
//!
//! It is what an invitee hands to an inviter out of band (mail, chat, a file), like the
//! `PEERIDENTITYINFO` XML of the Windows grouping API: the public key, classifier, friendly
//! name and creation time, signed by the identity key so that nobody can alter it in
//! transit without detection. It holds no secret.
//!
//! # Binary body (version 1)
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 2 | format version, `u16` BE = 1 |
//! | 2 | 32 | Ed25519 public key |
//! | 34 | 8 | creation time, `u64` BE milliseconds since the Unix epoch |
//! | 42 | 2 + n | classifier: `u16` BE byte length, UTF-8 in NFC |
//! | 44 + n | 2 + m | friendly name: `u16` BE byte length, UTF-8 |
//! | 46 + n + m | 64 | Ed25519 signature |
//!
//! The signature covers `"peergroup identity-info v1" ‖ 0x00 ‖ body[..46 + n + m]`
//! (everything before it), so an identity-info signature can never be confused with a
//! signature over any other message of the protocol.
//!
//! # Armour
//!
//! `-----BEGIN PEERGROUP IDENTITY INFO-----`, the headers `Peer-Name:` and (when the
//! friendly name is not empty) `Friendly-Name:`, an empty line, the body in base64 at 64
//! columns, `-----END PEERGROUP IDENTITY INFO-----`. The headers are for people reading the
//! text; when present, the parser checks them against the signed body.
//!
//! ```
//! use peergroup_identity::{Identity, IdentityInfo};
//! let alice = Identity::generate("alice", "Alice's laptop")?;
//! let text = IdentityInfo::export(&alice);
//! let info = IdentityInfo::parse(&text)?;
//! assert_eq!(info.peer_name(), alice.peer_name());
//! assert_eq!(info.friendly_name(), "Alice's laptop");
//! # Ok::<(), peergroup_identity::IdentityError>(())
//! ```

use peergroup_base::{Classifier, NodeId, PeerName, UnixTime};

use crate::armour::{self, DocumentKind};
use crate::encoding::{Reader, Writer};
use crate::{Identity, IdentityError, validate_friendly_name, verify_signature};

/// Format version written and read.
pub const INFO_VERSION: u16 = 1;

/// Domain separator prefixed (with a 0x00 byte) to the body before signing.
pub const INFO_SIGNATURE_DOMAIN: &[u8] = b"peergroup identity-info v1";

/// The `Peer-Name` armour header.
pub const PEER_NAME_HEADER: &str = "Peer-Name";

/// The `Friendly-Name` armour header.
pub const FRIENDLY_NAME_HEADER: &str = "Friendly-Name";

const KIND: DocumentKind = DocumentKind::IdentityInfo;

/// A verified identity info: every field was covered by a valid self-signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityInfo {
    peer_name: PeerName,
    node_id: NodeId,
    public_key: [u8; 32],
    friendly_name: String,
    created: UnixTime,
}

impl IdentityInfo {
    /// The public description of `identity` (no signature needed: it is known to be true).
    pub fn of(identity: &Identity) -> Self {
        IdentityInfo {
            peer_name: identity.peer_name().clone(),
            node_id: identity.node_id(),
            public_key: identity.public_key(),
            friendly_name: identity.friendly_name().to_owned(),
            created: identity.created(),
        }
    }

    /// The signed binary body (spec §6.1) of `identity`'s info, signature included.
    pub fn export_binary(identity: &Identity) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(128));
        w.u16(INFO_VERSION);
        w.bytes(&identity.public_key());
        w.u64(identity.created().as_millis());
        w.str(identity.peer_name().classifier().as_str());
        w.str(identity.friendly_name());
        let signature = identity.sign(&signed_message(&w.0));
        w.bytes(&signature);
        w.0
    }

    /// The armoured identity info document of `identity` (spec §6.3). Deterministic: the
    /// same identity always gives the same text.
    pub fn export(identity: &Identity) -> String {
        let binary = Self::export_binary(identity);
        let name = identity.peer_name().to_string();
        let mut headers = vec![(PEER_NAME_HEADER, name.as_str())];
        if !identity.friendly_name().is_empty() {
            headers.push((FRIENDLY_NAME_HEADER, identity.friendly_name()));
        }
        armour::armour(KIND, &headers, &binary)
    }

    /// Parses and verifies an armoured identity info document.
    ///
    /// Checks, in order: size ([`crate::MAX_DOCUMENT_BYTES`]), armour, base64, version,
    /// field lengths, self-signature, classifier and friendly-name rules, then the
    /// informational headers against the body.
    pub fn parse(text: &str) -> Result<Self, IdentityError> {
        let armoured = armour::dearmour(KIND, text)?;
        let info = Self::parse_binary(&armoured.binary)?;
        if let Some(header) = armoured.header(PEER_NAME_HEADER) {
            let matches = PeerName::parse(header).is_ok_and(|n| n == info.peer_name);
            if !matches {
                return Err(IdentityError::HeaderMismatch {
                    header: PEER_NAME_HEADER,
                    header_value: header.to_owned(),
                    body_value: info.peer_name.to_string(),
                });
            }
        }
        if let Some(header) = armoured.header(FRIENDLY_NAME_HEADER) {
            // Header values are trimmed by the armour parser; mail may eat outer spaces.
            if header != info.friendly_name.trim() {
                return Err(IdentityError::HeaderMismatch {
                    header: FRIENDLY_NAME_HEADER,
                    header_value: header.to_owned(),
                    body_value: info.friendly_name.clone(),
                });
            }
        }
        Ok(info)
    }

    /// Parses and verifies the binary body (spec §6.1), signature included.
    pub fn parse_binary(binary: &[u8]) -> Result<Self, IdentityError> {
        let mut r = Reader::new(binary, KIND);
        let version = r.u16("format version")?;
        if version != INFO_VERSION {
            return Err(IdentityError::UnsupportedVersion { kind: KIND, version });
        }
        let public_key: [u8; 32] = r.array("public key")?;
        let created = UnixTime::from_millis(r.u64("creation time")?);
        let classifier = r.str("classifier")?;
        let friendly_name = r.str("friendly name")?;
        let signed_len = r.position();
        let signature: [u8; 64] = r.array("signature")?;
        if !r.remaining().is_empty() {
            return Err(IdentityError::Malformed {
                kind: KIND,
                reason: format!("{} bytes after the signature", r.remaining().len()),
            });
        }
        let signed = binary.get(..signed_len).unwrap_or_default();
        if !verify_signature(&public_key, &signed_message(signed), &signature) {
            return Err(IdentityError::SignatureInvalid);
        }
        let classifier_checked = Classifier::new(classifier)?;
        if classifier_checked.as_str() != classifier {
            return Err(IdentityError::Malformed {
                kind: KIND,
                reason: "classifier is not in Unicode NFC".into(),
            });
        }
        validate_friendly_name(friendly_name)?;
        let node_id = NodeId::from_ed25519(&public_key);
        Ok(IdentityInfo {
            peer_name: PeerName::new(node_id.authority(), classifier_checked),
            node_id,
            public_key,
            friendly_name: friendly_name.to_owned(),
            created,
        })
    }

    /// The secure peer name `authority(public key).classifier`.
    pub fn peer_name(&self) -> &PeerName {
        &self.peer_name
    }

    /// The node id (SHA-256 of the key's SPKI).
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// The friendly name (may be empty).
    pub fn friendly_name(&self) -> &str {
        &self.friendly_name
    }

    /// When the identity was created, as its owner claims.
    pub fn created(&self) -> UnixTime {
        self.created
    }
}

/// `INFO_SIGNATURE_DOMAIN ‖ 0x00 ‖ body`.
fn signed_message(body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(INFO_SIGNATURE_DOMAIN.len() + 1 + body.len());
    m.extend_from_slice(INFO_SIGNATURE_DOMAIN);
    m.push(0);
    m.extend_from_slice(body);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::armour::armour;

    fn alice() -> Identity {
        Identity::from_parts([7; 32], "alice", "Alice's laptop", UnixTime::from_millis(1234))
            .unwrap()
    }

    #[test]
    fn round_trip() {
        let a = alice();
        let text = IdentityInfo::export(&a);
        assert!(text.starts_with("-----BEGIN PEERGROUP IDENTITY INFO-----\nPeer-Name: "));
        let info = IdentityInfo::parse(&text).unwrap();
        assert_eq!(info, IdentityInfo::of(&a));
        assert_eq!(info.created(), UnixTime::from_millis(1234));
        // deterministic
        assert_eq!(text, IdentityInfo::export(&a));
    }

    #[test]
    fn empty_friendly_name_has_no_header() {
        let a = Identity::from_seed([8; 32], "x", "").unwrap();
        let text = IdentityInfo::export(&a);
        assert!(!text.contains("Friendly-Name"));
        assert_eq!(IdentityInfo::parse(&text).unwrap().friendly_name(), "");
    }

    #[test]
    fn every_byte_flip_is_caught() {
        let bin = IdentityInfo::export_binary(&alice());
        for i in 0..bin.len() {
            let mut b = bin.clone();
            b[i] ^= 0x01;
            let err = IdentityInfo::parse_binary(&b).unwrap_err();
            assert!(
                matches!(
                    err,
                    IdentityError::SignatureInvalid
                        | IdentityError::UnsupportedVersion { .. }
                        | IdentityError::Truncated { .. }
                        | IdentityError::Malformed { .. }
                ),
                "byte {i}: {err}"
            );
        }
    }

    #[test]
    fn names_each_failure() {
        let bin = IdentityInfo::export_binary(&alice());
        for n in 0..bin.len() {
            assert!(matches!(
                IdentityInfo::parse_binary(&bin[..n]),
                Err(IdentityError::Truncated { .. })
            ));
        }
        let mut v2 = bin.clone();
        v2[1] = 2;
        assert!(matches!(
            IdentityInfo::parse_binary(&v2),
            Err(IdentityError::UnsupportedVersion { version: 2, .. })
        ));
        let mut long = bin.clone();
        long.push(0);
        assert!(matches!(IdentityInfo::parse_binary(&long), Err(IdentityError::Malformed { .. })));

        let text = IdentityInfo::export(&alice());
        let wrong_friendly =
            text.replace("Friendly-Name: Alice's laptop", "Friendly-Name: Mallory");
        assert!(matches!(
            IdentityInfo::parse(&wrong_friendly),
            Err(IdentityError::HeaderMismatch { header: FRIENDLY_NAME_HEADER, .. })
        ));
        let other = Identity::from_seed([9; 32], "alice", "").unwrap();
        let wrong_name =
            text.replace(&alice().peer_name().to_string(), &other.peer_name().to_string());
        assert!(matches!(
            IdentityInfo::parse(&wrong_name),
            Err(IdentityError::HeaderMismatch { header: PEER_NAME_HEADER, .. })
        ));
        assert!(matches!(IdentityInfo::parse("hello"), Err(IdentityError::NotArmoured { .. })));
    }

    #[test]
    fn invalid_name_in_signed_body_is_refused() {
        // a correctly signed body whose classifier breaks the rules
        let a = alice();
        let mut w = Writer(Vec::new());
        w.u16(INFO_VERSION);
        w.bytes(&a.public_key());
        w.u64(0);
        w.str("bad\u{7}name");
        w.str("");
        let sig = a.sign(&signed_message(&w.0));
        w.bytes(&sig);
        let text = armour(KIND, &[], &w.0);
        assert!(matches!(IdentityInfo::parse(&text), Err(IdentityError::InvalidClassifier(_))));
    }

    proptest::proptest! {
        #[test]
        fn parse_binary_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = IdentityInfo::parse_binary(&bytes);
        }
    }
}
