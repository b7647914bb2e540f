//! The [`Identity`] type: an Ed25519 key pair with a classifier and a friendly name.

use std::fmt;

use peergroup_base::{Classifier, NodeId, PeerName, UnixTime};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use zeroize::Zeroizing;

use crate::IdentityError;
use crate::cert::make_certificate;

/// Longest friendly name, in Unicode scalar values (the Windows API's limit of 256 UTF-16
/// units, rounded to a count that never splits a character).
pub const MAX_FRIENDLY_NAME_CHARS: usize = 255;

/// The PKCS#8 v1 prefix (RFC 8410 §7) of an Ed25519 private key; followed by the 32-byte
/// seed it is the whole document that ring, rcgen and rustls accept.
const PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Checks a friendly name: at most [`MAX_FRIENDLY_NAME_CHARS`] characters, no control
/// characters. Empty is allowed (tools then show the classifier).
pub fn validate_friendly_name(name: &str) -> Result<(), IdentityError> {
    if name.len() > MAX_FRIENDLY_NAME_CHARS * 4 || name.chars().count() > MAX_FRIENDLY_NAME_CHARS {
        return Err(IdentityError::InvalidFriendlyName(format!(
            "longer than {MAX_FRIENDLY_NAME_CHARS} characters"
        )));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(IdentityError::InvalidFriendlyName(format!(
            "contains control character U+{:04X}",
            c as u32
        )));
    }
    Ok(())
}

/// A peer identity: an Ed25519 key pair, its secure peer name
/// (`authority(key).classifier`), a friendly name and a self-signed identity certificate.
///
/// ```
/// use peergroup_identity::Identity;
/// let alice = Identity::generate("alice", "Alice's laptop")?;
/// assert!(alice.peer_name().is_secure());
/// assert_eq!(alice.peer_name().classifier().as_str(), "alice");
/// let sig = alice.sign(b"hello");
/// assert!(peergroup_identity::verify_signature(&alice.public_key(), b"hello", &sig));
/// # Ok::<(), peergroup_identity::IdentityError>(())
/// ```
pub struct Identity {
    seed: Zeroizing<[u8; 32]>,
    key: Ed25519KeyPair,
    public_key: [u8; 32],
    node_id: NodeId,
    peer_name: PeerName,
    friendly_name: String,
    created: UnixTime,
    certificate: Vec<u8>,
}

impl Identity {
    /// Creates a new identity with a key from the operating system's RNG.
    #[allow(clippy::disallowed_methods)] // creation time of a new identity: the wall clock
    pub fn generate(classifier: &str, friendly_name: &str) -> Result<Self, IdentityError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(&mut seed[..])
            .map_err(|_| IdentityError::Crypto("the system random generator failed"))?;
        Self::build(seed, classifier, friendly_name, UnixTime::now())
    }

    /// Creates an identity from a 32-byte Ed25519 seed (deterministic: for simulations and
    /// test vectors). The creation time is the Unix epoch.
    pub fn from_seed(
        seed: [u8; 32],
        classifier: &str,
        friendly_name: &str,
    ) -> Result<Self, IdentityError> {
        Self::build(Zeroizing::new(seed), classifier, friendly_name, UnixTime::EPOCH)
    }

    /// Rebuilds a stored identity from its parts.
    pub fn from_parts(
        seed: [u8; 32],
        classifier: &str,
        friendly_name: &str,
        created: UnixTime,
    ) -> Result<Self, IdentityError> {
        Self::build(Zeroizing::new(seed), classifier, friendly_name, created)
    }

    fn build(
        seed: Zeroizing<[u8; 32]>,
        classifier: &str,
        friendly_name: &str,
        created: UnixTime,
    ) -> Result<Self, IdentityError> {
        let classifier = Classifier::new(classifier)?;
        validate_friendly_name(friendly_name)?;
        let key = Ed25519KeyPair::from_seed_unchecked(&seed[..])
            .map_err(|_| IdentityError::Crypto("invalid Ed25519 seed"))?;
        let mut public_key = [0u8; 32];
        public_key.copy_from_slice(key.public_key().as_ref());
        let node_id = NodeId::from_ed25519(&public_key);
        let peer_name = PeerName::new(node_id.authority(), classifier);
        let pkcs8 = pkcs8_of_seed(&seed);
        let certificate = make_certificate(&pkcs8, &peer_name, &node_id)?;
        Ok(Identity {
            seed,
            key,
            public_key,
            node_id,
            peer_name,
            friendly_name: friendly_name.to_owned(),
            created,
            certificate,
        })
    }

    /// The secure peer name `authority.classifier`.
    pub fn peer_name(&self) -> &PeerName {
        &self.peer_name
    }

    /// The node id (SHA-256 of the key's SPKI); its first 20 bytes are the authority.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The raw Ed25519 public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public_key
    }

    /// The friendly name (free text for people; may be empty).
    pub fn friendly_name(&self) -> &str {
        &self.friendly_name
    }

    /// Replaces the friendly name.
    pub fn set_friendly_name(&mut self, name: &str) -> Result<(), IdentityError> {
        validate_friendly_name(name)?;
        self.friendly_name = name.to_owned();
        Ok(())
    }

    /// When the identity was created.
    pub fn created(&self) -> UnixTime {
        self.created
    }

    /// The self-signed identity certificate (DER).
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate
    }

    /// The private key as a PKCS#8 v1 document (for rustls). Wiped when dropped.
    pub fn pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        pkcs8_of_seed(&self.seed)
    }

    /// The 32-byte private seed. Wiped when dropped. Handle with care.
    pub fn seed(&self) -> Zeroizing<[u8; 32]> {
        self.seed.clone()
    }

    /// Signs `msg` with the identity key (Ed25519, deterministic).
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.key.sign(msg).as_ref());
        out
    }
}

impl Clone for Identity {
    fn clone(&self) -> Self {
        // Invariant: the seed was accepted by `from_seed_unchecked` when `self` was built, and
        // ring's Ed25519 seed parsing accepts every 32-byte seed.
        #[allow(clippy::expect_used)]
        let key = Ed25519KeyPair::from_seed_unchecked(&self.seed[..])
            .expect("seed accepted when the identity was built");
        Identity {
            seed: self.seed.clone(),
            key,
            public_key: self.public_key,
            node_id: self.node_id,
            peer_name: self.peer_name.clone(),
            friendly_name: self.friendly_name.clone(),
            created: self.created,
            certificate: self.certificate.clone(),
        }
    }
}

impl fmt::Debug for Identity {
    /// Never prints key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("peer_name", &self.peer_name)
            .field("friendly_name", &self.friendly_name)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

fn pkcs8_of_seed(seed: &[u8; 32]) -> Zeroizing<Vec<u8>> {
    let mut v = Zeroizing::new(Vec::with_capacity(48));
    v.extend_from_slice(&PKCS8_V1_PREFIX);
    v.extend_from_slice(seed);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify_signature;

    #[test]
    fn seeded_identity_is_deterministic() {
        let a = Identity::from_seed([9; 32], "bob", "Bob").unwrap();
        let b = Identity::from_seed([9; 32], "bob", "other").unwrap();
        assert_eq!(a.peer_name(), b.peer_name());
        assert_eq!(a.node_id(), b.node_id());
        assert_eq!(a.sign(b"m"), b.sign(b"m"));
        let c = a.clone();
        assert_eq!(c.sign(b"m"), a.sign(b"m"));
    }

    #[test]
    fn rejects_bad_names() {
        assert!(matches!(Identity::generate("", "x"), Err(IdentityError::InvalidClassifier(_))));
        assert!(matches!(
            Identity::generate("ok", "a\nb"),
            Err(IdentityError::InvalidFriendlyName(_))
        ));
        assert!(matches!(
            Identity::generate("ok", &"x".repeat(256)),
            Err(IdentityError::InvalidFriendlyName(_))
        ));
    }

    #[test]
    fn signatures_verify() {
        let a = Identity::generate("a", "").unwrap();
        let sig = a.sign(b"payload");
        assert!(verify_signature(&a.public_key(), b"payload", &sig));
        assert!(!verify_signature(&a.public_key(), b"payloaD", &sig));
    }
}
