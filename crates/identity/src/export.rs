//! Password-protected export of a full identity, private key included
//! (`proto-specs/identity.md` §7).
//!
//! The counterpart of `PeerIdentityExport`/`PeerIdentityImport`: move an identity between
//! machines or keep a backup. The private seed is encrypted with ChaCha20-Poly1305 under a
//! key stretched from the password with PBKDF2-HMAC-SHA256 (both from ring).
//!
//! # Key derivation
//!
//! ```text
//! master = PBKDF2-HMAC-SHA256(NFC(password) as UTF-8, salt, iterations, 32 bytes)
//! key    = HMAC-SHA256(master, "peergroup identity-export v1 encryption key")
//! check  = HMAC-SHA256(master, "peergroup identity-export v1 password check")
//! ```
//!
//! `check` is stored in the file so that a wrong password is told apart from a damaged
//! file. It gives an attacker nothing the ciphertext does not already give (either one
//! confirms a guess, both only after the full PBKDF2 work), and it reveals nothing about
//! `key`, which is an independent HMAC output.
//!
//! # Binary layout (version 1)
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 2 | format version, `u16` BE = 1 |
//! | 2 | 4 | total length of this binary including the checksum, `u32` BE |
//! | 6 | 4 | PBKDF2 iteration count, `u32` BE |
//! | 10 | 16 | salt (random) |
//! | 26 | 12 | ChaCha20-Poly1305 nonce (random) |
//! | 38 | 32 | password check |
//! | 70 | c + 16 | ciphertext ‖ Poly1305 tag; associated data = bytes 0..70 |
//! | 86 + c | 32 | SHA-256 of every preceding byte (unkeyed checksum) |
//!
//! The plaintext is `seed (32) ‖ created u64 BE ms ‖ u16 BE len ‖ classifier UTF-8 ‖
//! u16 BE len ‖ friendly name UTF-8`.
//!
//! # Checks on import, each with its own error
//!
//! 1. size, armour, base64 ([`IdentityError::InputTooLarge`], [`IdentityError::NotArmoured`]
//!    — or [`IdentityError::NoPrivateKey`] for an identity info —,
//!    [`IdentityError::BadBase64`]);
//! 2. version, then the total-length field against the bytes present
//!    ([`IdentityError::UnsupportedVersion`], [`IdentityError::Truncated`]);
//! 3. the checksum ([`IdentityError::ChecksumMismatch`]: accidental damage);
//! 4. the iteration count range, before any PBKDF2 work
//!    ([`IdentityError::IterationsOutOfRange`]: an attacker-made file cannot cost more than
//!    [`MAX_ITERATIONS`]);
//! 5. the password check ([`IdentityError::WrongPassword`]);
//! 6. the AEAD tag ([`IdentityError::Tampered`]: someone changed the file *and* fixed the
//!    checksum);
//! 7. the plaintext layout and name rules, then the armour's `Peer-Name` header.
//!
//! Derived keys, the master secret and the plaintext are wiped after use ([`zeroize`]);
//! ring's internal AEAD key schedule is not under our control.
//!
//! ```
//! use peergroup_identity::{ExportOptions, Identity, export_identity, import_identity};
//! let alice = Identity::generate("alice", "Alice")?;
//! let opts = ExportOptions::with_iterations(peergroup_identity::export::MIN_ITERATIONS);
//! let text = export_identity(&alice, "correct horse", &opts)?;
//! let back = import_identity(&text, "correct horse")?;
//! assert_eq!(back.peer_name(), alice.peer_name());
//! assert!(import_identity(&text, "wrong").unwrap_err().is_wrong_password());
//! # Ok::<(), peergroup_identity::IdentityError>(())
//! ```

use std::num::NonZeroU32;

use peergroup_base::{PeerName, UnixTime};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use ring::digest::{SHA256, digest};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::armour::{self, DocumentKind};
use crate::encoding::{Reader, Writer};
use crate::info::PEER_NAME_HEADER;
use crate::{Identity, IdentityError};

/// Format version written and read.
pub const EXPORT_VERSION: u16 = 1;

/// Default PBKDF2-HMAC-SHA256 iteration count: 600,000, the OWASP Password Storage Cheat
/// Sheet recommendation (2023) for PBKDF2-HMAC-SHA256.
pub const DEFAULT_ITERATIONS: u32 = 600_000;

/// Smallest iteration count written or accepted (the 2017 NIST SP 800-132 floor is 1,000;
/// we ask for far more, since an export file may be stolen and attacked offline).
pub const MIN_ITERATIONS: u32 = 100_000;

/// Largest iteration count written or accepted: bounds the CPU time a file made by an
/// attacker can cost on import (about ten seconds on a 2024 laptop).
pub const MAX_ITERATIONS: u32 = 10_000_000;

/// Salt length in bytes.
pub const SALT_LEN: usize = 16;

/// Nonce length in bytes (ChaCha20-Poly1305, RFC 8439).
pub const NONCE_LEN: usize = 12;

/// Length of the header that is the AEAD associated data.
pub const HEADER_LEN: usize = 70;

/// HMAC label deriving the encryption key from the PBKDF2 output.
pub const KEY_LABEL: &[u8] = b"peergroup identity-export v1 encryption key";

/// HMAC label deriving the stored password check from the PBKDF2 output.
pub const CHECK_LABEL: &[u8] = b"peergroup identity-export v1 password check";

const KIND: DocumentKind = DocumentKind::IdentityExport;
const TAG_LEN: usize = 16;
const CHECKSUM_LEN: usize = 32;
/// seed + created + two empty-string length prefixes (a classifier is never empty, but the
/// layout check does not need to know that).
const MIN_PLAINTEXT_LEN: usize = 32 + 8 + 2 + 2;
const MIN_TOTAL_LEN: usize = HEADER_LEN + MIN_PLAINTEXT_LEN + TAG_LEN + CHECKSUM_LEN;

/// Options for [`export_identity`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExportOptions {
    /// PBKDF2 iteration count. Default [`DEFAULT_ITERATIONS`] (600,000, OWASP 2023);
    /// must be within [`MIN_ITERATIONS`]..=[`MAX_ITERATIONS`]. Stored in the file, so
    /// import needs no option.
    pub iterations: u32,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions { iterations: DEFAULT_ITERATIONS }
    }
}

impl ExportOptions {
    /// The default options with another iteration count.
    pub fn with_iterations(iterations: u32) -> Self {
        ExportOptions { iterations }
    }
}

/// Exports `identity` encrypted under `password`, with a fresh random salt and nonce.
///
/// Refuses an empty password and an iteration count outside the accepted range.
pub fn export_identity(
    identity: &Identity,
    password: &str,
    options: &ExportOptions,
) -> Result<String, IdentityError> {
    let rng = SystemRandom::new();
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut salt).map_err(|_| IdentityError::Crypto("the system random generator failed"))?;
    rng.fill(&mut nonce)
        .map_err(|_| IdentityError::Crypto("the system random generator failed"))?;
    export_identity_with_salt_and_nonce(identity, password, options, salt, nonce)
}

/// [`export_identity`] with a caller-chosen salt and nonce, for test vectors.
///
/// **Never reuse** a salt and nonce pair with the same password for two different exports:
/// ChaCha20-Poly1305 under a repeated key and nonce leaks the plaintexts' XOR and allows
/// forgeries. Everything but test vectors should call [`export_identity`].
pub fn export_identity_with_salt_and_nonce(
    identity: &Identity,
    password: &str,
    options: &ExportOptions,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
) -> Result<String, IdentityError> {
    let iterations = checked_iterations(options.iterations)?;
    let keys = derive_keys(password, &salt, iterations)?;

    let mut p = Writer(Vec::with_capacity(128));
    p.bytes(&identity.seed()[..]);
    p.u64(identity.created().as_millis());
    p.str(identity.peer_name().classifier().as_str());
    p.str(identity.friendly_name());
    // Sealed in place: this buffer holds the plaintext, then the ciphertext; wiped on drop.
    let mut sealed = Zeroizing::new(p.0);

    let total = HEADER_LEN + sealed.len() + TAG_LEN + CHECKSUM_LEN;
    let mut out = Writer(Vec::with_capacity(total));
    out.u16(EXPORT_VERSION);
    // Invariant: plaintext is at most 32 + 8 + 2 + 596 + 2 + 1020 bytes, far below 2^32.
    out.u32(u32::try_from(total).unwrap_or(u32::MAX));
    out.u32(iterations.get());
    out.bytes(&salt);
    out.bytes(&nonce);
    out.bytes(&keys.check);
    let header: [u8; HEADER_LEN] = out.0[..].try_into().map_err(|_| {
        IdentityError::Crypto("export header has the wrong length (broken invariant)")
    })?;

    aead_key(&keys.key)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&header[..]),
            &mut *sealed,
        )
        .map_err(|_| IdentityError::Crypto("ChaCha20-Poly1305 sealing failed"))?;
    out.bytes(&sealed);
    let checksum = digest(&SHA256, &out.0);
    out.bytes(checksum.as_ref());

    let name = identity.peer_name().to_string();
    Ok(armour::armour(KIND, &[(PEER_NAME_HEADER, &name)], &out.0))
}

/// Decrypts an exported identity: [`EncryptedIdentity::parse`] then
/// [`EncryptedIdentity::decrypt`].
pub fn import_identity(text: &str, password: &str) -> Result<Identity, IdentityError> {
    EncryptedIdentity::parse(text)?.decrypt(password)
}

/// An identity export whose layout and checksum were checked, not yet decrypted.
///
/// Lets a tool report a truncated or damaged file before it asks for a password.
#[derive(Debug, Clone)]
pub struct EncryptedIdentity {
    binary: Vec<u8>,
    iterations: NonZeroU32,
    peer_name_header: Option<String>,
}

impl EncryptedIdentity {
    /// Parses an armoured export and runs every check that needs no password (steps 1–4
    /// of the module documentation).
    pub fn parse(text: &str) -> Result<Self, IdentityError> {
        let armoured = match armour::dearmour(KIND, text) {
            Err(IdentityError::NotArmoured { .. })
                if DocumentKind::detect(text) == Some(DocumentKind::IdentityInfo) =>
            {
                return Err(IdentityError::NoPrivateKey);
            }
            other => other?,
        };
        let peer_name_header = armoured.header(PEER_NAME_HEADER).map(str::to_owned);
        let binary = armoured.binary;
        let mut r = Reader::new(&binary, KIND);
        let version = r.u16("format version")?;
        if version != EXPORT_VERSION {
            return Err(IdentityError::UnsupportedVersion { kind: KIND, version });
        }
        let total = usize::try_from(r.u32("total length")?).unwrap_or(usize::MAX);
        if total < MIN_TOTAL_LEN {
            return Err(IdentityError::Malformed {
                kind: KIND,
                reason: format!("total length field {total} is below the minimum {MIN_TOTAL_LEN}"),
            });
        }
        if binary.len() < total {
            return Err(IdentityError::Truncated {
                kind: KIND,
                reason: format!("{} of {total} bytes present", binary.len()),
            });
        }
        if binary.len() > total {
            return Err(IdentityError::Malformed {
                kind: KIND,
                reason: format!("{} bytes after the checksum", binary.len() - total),
            });
        }
        let (body, checksum) = binary.split_at(total - CHECKSUM_LEN);
        if digest(&SHA256, body).as_ref() != checksum {
            return Err(IdentityError::ChecksumMismatch);
        }
        let iterations = checked_iterations(r.u32("iteration count")?)?;
        Ok(EncryptedIdentity { peer_name_header, binary, iterations })
    }

    /// The PBKDF2 iteration count the file asks for.
    pub fn iterations(&self) -> u32 {
        self.iterations.get()
    }

    /// The unauthenticated `Peer-Name` header, if any (checked by [`Self::decrypt`]).
    pub fn peer_name_hint(&self) -> Option<&str> {
        self.peer_name_header.as_deref()
    }

    /// Decrypts with `password` (steps 5–7 of the module documentation).
    pub fn decrypt(&self, password: &str) -> Result<Identity, IdentityError> {
        let mut r = Reader::new(&self.binary, KIND);
        r.take(10, "version, length and iteration count")?;
        let salt: [u8; SALT_LEN] = r.array("salt")?;
        let nonce: [u8; NONCE_LEN] = r.array("nonce")?;
        let check: [u8; 32] = r.array("password check")?;
        let header = self.binary.get(..HEADER_LEN).unwrap_or_default();
        let sealed_end = self.binary.len() - CHECKSUM_LEN;
        let sealed = self.binary.get(HEADER_LEN..sealed_end).unwrap_or_default();

        let keys = derive_keys(password, &salt, self.iterations)?;
        hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, &keys.master[..]), CHECK_LABEL, &check)
            .map_err(|_| IdentityError::WrongPassword)?;

        let mut buf = Zeroizing::new(sealed.to_vec());
        let plaintext = aead_key(&keys.key)?
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(header), &mut buf)
            .map_err(|_| IdentityError::Tampered)?;

        let mut p = Reader::new(plaintext, KIND);
        let seed = Zeroizing::new(p.array::<32>("seed")?);
        let created = UnixTime::from_millis(p.u64("creation time")?);
        let classifier = p.str("classifier")?;
        let friendly_name = p.str("friendly name")?;
        if !p.remaining().is_empty() {
            return Err(IdentityError::Malformed {
                kind: KIND,
                reason: format!("{} bytes after the plaintext fields", p.remaining().len()),
            });
        }
        let identity = Identity::from_parts(*seed, classifier, friendly_name, created)?;
        if identity.peer_name().classifier().as_str() != classifier {
            return Err(IdentityError::Malformed {
                kind: KIND,
                reason: "classifier is not in Unicode NFC".into(),
            });
        }
        if let Some(header) = &self.peer_name_header
            && PeerName::parse(header).ok().as_ref() != Some(identity.peer_name())
        {
            return Err(IdentityError::HeaderMismatch {
                header: PEER_NAME_HEADER,
                header_value: header.clone(),
                body_value: identity.peer_name().to_string(),
            });
        }
        Ok(identity)
    }
}

fn checked_iterations(iterations: u32) -> Result<NonZeroU32, IdentityError> {
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
        return Err(IdentityError::IterationsOutOfRange { iterations });
    }
    NonZeroU32::new(iterations).ok_or(IdentityError::IterationsOutOfRange { iterations })
}

struct DerivedKeys {
    master: Zeroizing<[u8; 32]>,
    key: Zeroizing<[u8; 32]>,
    check: [u8; 32],
}

fn derive_keys(
    password: &str,
    salt: &[u8; SALT_LEN],
    iterations: NonZeroU32,
) -> Result<DerivedKeys, IdentityError> {
    if password.is_empty() {
        return Err(IdentityError::EmptyPassword);
    }
    let password = Zeroizing::new(nfc(password));
    let mut master = Zeroizing::new([0u8; 32]);
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        password.as_bytes(),
        &mut master[..],
    );
    let mac = hmac::Key::new(hmac::HMAC_SHA256, &master[..]);
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(hmac::sign(&mac, KEY_LABEL).as_ref());
    let mut check = [0u8; 32];
    check.copy_from_slice(hmac::sign(&mac, CHECK_LABEL).as_ref());
    Ok(DerivedKeys { master, key, check })
}

fn aead_key(key: &[u8; 32]) -> Result<LessSafeKey, IdentityError> {
    UnboundKey::new(&CHACHA20_POLY1305, key)
        .map(LessSafeKey::new)
        .map_err(|_| IdentityError::Crypto("ChaCha20-Poly1305 key setup failed"))
}

fn nfc(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    s.nfc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Identity {
        Identity::from_parts([7; 32], "alice", "Alice", UnixTime::from_millis(99)).unwrap()
    }

    fn opts() -> ExportOptions {
        ExportOptions::with_iterations(MIN_ITERATIONS)
    }

    /// Re-armours a binary with a fixed checksum, as a deliberate attacker would.
    fn rearmour(mut bin: Vec<u8>, fix_checksum: bool) -> String {
        if fix_checksum {
            let n = bin.len() - CHECKSUM_LEN;
            let sum = digest(&SHA256, &bin[..n]);
            bin[n..].copy_from_slice(sum.as_ref());
        }
        armour::armour(KIND, &[], &bin)
    }

    fn binary_of(text: &str) -> Vec<u8> {
        armour::dearmour(KIND, text).unwrap().binary
    }

    #[test]
    fn round_trip() {
        let a = alice();
        let text = export_identity(&a, "pässword", &opts()).unwrap();
        let b = import_identity(&text, "pässword").unwrap();
        assert_eq!(b.peer_name(), a.peer_name());
        assert_eq!(b.friendly_name(), "Alice");
        assert_eq!(b.created(), a.created());
        assert_eq!(*b.seed(), *a.seed());
        // passwords are compared after NFC normalisation
        assert!(import_identity(&text, "pa\u{308}ssword").is_ok());
        // fresh salt and nonce every time
        assert_ne!(text, export_identity(&a, "pässword", &opts()).unwrap());
    }

    #[test]
    fn wrong_truncated_and_tampered_are_distinct() {
        let text = export_identity(&alice(), "pw", &opts()).unwrap();
        assert!(matches!(import_identity(&text, "pW"), Err(IdentityError::WrongPassword)));

        // truncated text: the END line is gone
        let cut = &text[..text.len() / 2];
        assert!(matches!(import_identity(cut, "pw"), Err(IdentityError::Truncated { .. })));
        // truncated binary, re-armoured
        let bin = binary_of(&text);
        for n in [1, 5, 6, 70, bin.len() - 1] {
            let err = import_identity(&rearmour(bin[..n].to_vec(), false), "pw").unwrap_err();
            assert!(matches!(err, IdentityError::Truncated { .. }), "{n}: {err}");
        }

        // any flipped byte: checksum mismatch (accidental damage)
        for i in 6..bin.len() {
            let mut b = bin.clone();
            b[i] ^= 0x20;
            let err = import_identity(&rearmour(b, false), "pw").unwrap_err();
            assert!(matches!(err, IdentityError::ChecksumMismatch), "{i}: {err}");
        }

        // deliberate change of header or ciphertext with a fixed checksum: tampered
        for i in [10, 26, HEADER_LEN, HEADER_LEN + 5, bin.len() - CHECKSUM_LEN - 1] {
            let mut b = bin.clone();
            b[i] ^= 0x01;
            let err = import_identity(&rearmour(b, true), "pw").unwrap_err();
            // the salt feeds PBKDF2, so changing it looks like a wrong password
            if (10..26).contains(&i) {
                assert!(matches!(err, IdentityError::WrongPassword), "{i}: {err}");
            } else {
                assert!(matches!(err, IdentityError::Tampered), "{i}: {err}");
            }
        }
    }

    #[test]
    fn header_rules() {
        let text = export_identity(&alice(), "pw", &opts()).unwrap();
        let bin = binary_of(&text);
        let mut v2 = bin.clone();
        v2[1] = 2;
        assert!(matches!(
            import_identity(&rearmour(v2, true), "pw"),
            Err(IdentityError::UnsupportedVersion { version: 2, .. })
        ));
        let mut many = bin.clone();
        many[6..10].copy_from_slice(&(MAX_ITERATIONS + 1).to_be_bytes());
        assert!(matches!(
            import_identity(&rearmour(many, true), "pw"),
            Err(IdentityError::IterationsOutOfRange { .. })
        ));
        let mut long = bin.clone();
        long.push(0);
        assert!(matches!(
            import_identity(&rearmour(long, false), "pw"),
            Err(IdentityError::Malformed { .. })
        ));
        let other = Identity::from_seed([1; 32], "alice", "").unwrap();
        let wrong = text.replace(&alice().peer_name().to_string(), &other.peer_name().to_string());
        assert!(matches!(import_identity(&wrong, "pw"), Err(IdentityError::HeaderMismatch { .. })));
    }

    #[test]
    fn refuses_bad_options_and_info_documents() {
        assert!(matches!(
            export_identity(&alice(), "", &opts()),
            Err(IdentityError::EmptyPassword)
        ));
        assert!(matches!(
            export_identity(&alice(), "pw", &ExportOptions::with_iterations(MIN_ITERATIONS - 1)),
            Err(IdentityError::IterationsOutOfRange { .. })
        ));
        let text = export_identity(&alice(), "pw", &opts()).unwrap();
        assert!(matches!(import_identity(&text, ""), Err(IdentityError::EmptyPassword)));
        let info = crate::IdentityInfo::export(&alice());
        assert!(matches!(import_identity(&info, "pw"), Err(IdentityError::NoPrivateKey)));
        assert!(matches!(import_identity("x", "pw"), Err(IdentityError::NotArmoured { .. })));
        assert_eq!(ExportOptions::default().iterations, DEFAULT_ITERATIONS);
    }

    #[test]
    fn parse_reports_before_password() {
        let text = export_identity(&alice(), "pw", &opts()).unwrap();
        let enc = EncryptedIdentity::parse(&text).unwrap();
        assert_eq!(enc.iterations(), MIN_ITERATIONS);
        assert_eq!(enc.peer_name_hint(), Some(alice().peer_name().to_string().as_str()));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = EncryptedIdentity::parse(&armour::armour(KIND, &[], &bytes));
        }
    }
}
