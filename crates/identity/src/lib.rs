//! Peer identities (DESIGN.md §3, `proto-specs/identity.md`).
//!
//! An [`Identity`] is an Ed25519 key pair (ring) with a classifier and a friendly name. Its
//! peer name is `authority.classifier`, the authority being the first 20 bytes of SHA-256
//! over the key's `SubjectPublicKeyInfo`. Its self-signed X.509 certificate ([`cert`]) is
//! the TLS certificate of every QUIC connection the identity makes or accepts.
//!
//! Around the identity itself:
//!
//! * [`info`]: the *identity info*, a public, self-signed, text-armoured document that an
//!   invitee hands to an inviter (spec §6).
//! * [`export`]: the full identity, private key included, encrypted under a password
//!   (PBKDF2-HMAC-SHA256 + ChaCha20-Poly1305, spec §7).
//! * [`store`]: the on-disk identity store in the per-user data directory of [`datadir`]
//!   (spec §8).
//!
//! Every decoder here takes bytes from files or users: none of them panics on any input,
//! and each failure is a distinct [`IdentityError`] variant named after the failed check.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod armour;
pub mod cert;
pub mod datadir;
mod encoding;
pub mod export;
mod identity;
pub mod info;
pub mod store;
mod verify;

use std::path::PathBuf;

use peergroup_base::PeerName;

pub use armour::{DocumentKind, MAX_DOCUMENT_BYTES};

/// Armours a document of `kind` (for layers above: the group invitation): the `BEGIN`
/// line, `Name: value` headers, an empty line, base64 at 64 columns, the `END` line.
pub fn armour_document(kind: DocumentKind, headers: &[(&str, &str)], binary: &[u8]) -> String {
    armour::armour(kind, headers, binary)
}

/// The headers of an armoured document, `(name, value)` in order.
pub type ArmourHeaders = Vec<(String, String)>;

/// Reads an armoured document of `kind`: its headers and binary body. Size-limited to
/// [`MAX_DOCUMENT_BYTES`]; never panics.
pub fn dearmour_document(
    kind: DocumentKind,
    text: &str,
) -> Result<(ArmourHeaders, Vec<u8>), IdentityError> {
    let a = armour::dearmour(kind, text)?;
    Ok((a.headers, a.binary))
}
pub use cert::{CertError, CertUsage, CertifiedPeer, verify_certificate};
pub use datadir::default_data_dir;
pub use export::{EncryptedIdentity, ExportOptions, export_identity, import_identity};
pub use identity::{Identity, MAX_FRIENDLY_NAME_CHARS, validate_friendly_name};
pub use info::IdentityInfo;
pub use store::IdentityStore;
pub use verify::{BATCH_MIN, verify_signature, verify_signatures};

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

    // --- text documents (identity info and identity export) ---
    /// The document is longer than [`MAX_DOCUMENT_BYTES`]; checked before anything else.
    #[error("{kind} document is {len} bytes, more than the {max} accepted")]
    InputTooLarge {
        /// Which document was expected.
        kind: DocumentKind,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The text has no `-----BEGIN …-----` line of the expected kind.
    #[error("not a {kind} document: no '{begin}' line", begin = kind.begin_line())]
    NotArmoured {
        /// Which document was expected.
        kind: DocumentKind,
    },
    /// A full identity was expected but the text is an identity info, which only holds the
    /// public key.
    #[error(
        "this is an identity info document: it holds only the public key, not the private key, \
         so it cannot be imported as an identity (import needs a password-protected identity \
         export)"
    )]
    NoPrivateKey,
    /// The armoured body is not valid base64.
    #[error("{kind} document has invalid base64: {reason}")]
    BadBase64 {
        /// Which document.
        kind: DocumentKind,
        /// What the decoder said.
        reason: String,
    },
    /// The document ends early: no END line, or fewer bytes than its fields need.
    #[error("{kind} document is truncated: {reason}")]
    Truncated {
        /// Which document.
        kind: DocumentKind,
        /// What is missing.
        reason: String,
    },
    /// The document breaks a layout rule other than length (trailing bytes, bad UTF-8, …).
    #[error("{kind} document is malformed: {reason}")]
    Malformed {
        /// Which document.
        kind: DocumentKind,
        /// Which rule it broke.
        reason: String,
    },
    /// The format version is not one this code reads.
    #[error("{kind} document has format version {version}, this program reads version 1")]
    UnsupportedVersion {
        /// Which document.
        kind: DocumentKind,
        /// The version found.
        version: u16,
    },
    /// The identity info's Ed25519 self-signature does not verify.
    #[error("identity info signature does not verify: the document was altered or forged")]
    SignatureInvalid,
    /// An informational armour header disagrees with the signed or encrypted body.
    #[error("{header} header {header_value:?} does not match the document body ({body_value:?})")]
    HeaderMismatch {
        /// The header name.
        header: &'static str,
        /// What the header says.
        header_value: String,
        /// What the body says.
        body_value: String,
    },

    // --- password-protected export ---
    /// An empty password was given.
    #[error("the password is empty")]
    EmptyPassword,
    /// The PBKDF2 iteration count is outside the accepted range.
    #[error(
        "PBKDF2 iteration count {iterations} is outside the accepted range {min}..={max}",
        min = export::MIN_ITERATIONS,
        max = export::MAX_ITERATIONS
    )]
    IterationsOutOfRange {
        /// The count asked for or found in the file.
        iterations: u32,
    },
    /// The export's SHA-256 checksum does not match: the file was damaged or edited.
    #[error("identity export is corrupted: its checksum does not match (the file was damaged)")]
    ChecksumMismatch,
    /// The password check value does not match: wrong password.
    #[error("wrong password for this identity export")]
    WrongPassword,
    /// Authenticated decryption failed although the checksum and the password check passed:
    /// someone changed the file and recomputed its checksum.
    #[error(
        "identity export failed authenticated decryption although the password is right: \
         the file was tampered with"
    )]
    Tampered,

    // --- data directory and store ---
    /// The operating system reports no per-user data directory (set one explicitly).
    #[error("cannot find the per-user data directory; set PEERGROUP_DATA_DIR or --data-dir")]
    NoDataDir,
    /// A file-system operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`read`, `create`, `rename`, …).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A store file is larger than the store reads.
    #[error("{} is {len} bytes, more than the {max} an identity file may have", path.display())]
    FileTooLarge {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// A store file is not a valid identity file.
    #[error("{} is not a valid identity file: {reason}", path.display())]
    CorruptFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No stored identity matches.
    #[error("no identity matches {query:?}")]
    NotFound {
        /// What was looked up.
        query: String,
    },
    /// A short lookup matches more than one stored identity.
    #[error(
        "{query:?} matches {} identities ({}); give the full peer name",
        matches.len(),
        matches.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    Ambiguous {
        /// What was looked up.
        query: String,
        /// Every identity it matches.
        matches: Vec<PeerName>,
    },
    /// The store already holds an identity with this key.
    #[error("identity {peer_name} already exists in {}", path.display())]
    AlreadyExists {
        /// The stored identity's name.
        peer_name: PeerName,
        /// Its directory.
        path: PathBuf,
    },
}

impl IdentityError {
    /// `true` if a lookup found nothing.
    pub fn is_not_found(&self) -> bool {
        matches!(self, IdentityError::NotFound { .. })
    }

    /// `true` if a short lookup matched several identities.
    pub fn is_ambiguous(&self) -> bool {
        matches!(self, IdentityError::Ambiguous { .. })
    }

    /// `true` if the identity is already stored.
    pub fn is_already_exists(&self) -> bool {
        matches!(self, IdentityError::AlreadyExists { .. })
    }

    /// `true` if an export was opened with the wrong password.
    pub fn is_wrong_password(&self) -> bool {
        matches!(self, IdentityError::WrongPassword)
    }

    /// `true` if a document or file failed an integrity check (checksum, AEAD tag,
    /// signature, header) rather than a format or I/O check.
    pub fn is_integrity_failure(&self) -> bool {
        matches!(
            self,
            IdentityError::ChecksumMismatch
                | IdentityError::Tampered
                | IdentityError::SignatureInvalid
                | IdentityError::HeaderMismatch { .. }
        )
    }
}
