//! Peer identities (DESIGN.md §3, `proto-specs/identity.md`).
//!
//! An [`Identity`] is an Ed25519 key pair (ring) with a classifier and a friendly name. Its
//! peer name is `authority.classifier`, the authority being the first 20 bytes of SHA-256
//! over the key's `SubjectPublicKeyInfo`. Its self-signed X.509 certificate ([`cert`]) is
//! the TLS certificate of every QUIC connection the identity makes or accepts.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cert;
mod identity;

pub use cert::{CertError, CertUsage, CertifiedPeer, verify_certificate};
pub use identity::{Identity, MAX_FRIENDLY_NAME_CHARS, validate_friendly_name, verify_signature};

/// Errors of the identity layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The classifier breaks a peer-name rule.
    #[error("invalid classifier: {0}")]
    InvalidClassifier(#[from] peergroup_base::NameError),
    /// The friendly name breaks a rule.
    #[error("invalid friendly name: {0}")]
    InvalidFriendlyName(String),
    /// A cryptographic primitive failed.
    #[error("cryptographic failure: {0}")]
    Crypto(&'static str),
    /// Building or checking a certificate failed.
    #[error(transparent)]
    Certificate(#[from] CertError),
}
