//! Password groups (`group.md` §13): a joiner who knows the group password gets a GMC
//! from an online administrator or inviting member, the **verifier**, without any
//! password-equivalent secret ever leaving the verifier.
//!
//! * [`PasswordSetup`] (verifier side): made by the member who sets the password, by
//!   running OPAQUE registration (RFC 9807) locally with both roles. It holds the OPAQUE
//!   server setup and registration record — not password-equivalent: a thief must still run
//!   an offline dictionary attack, each guess costing one Argon2id — the role joiners get,
//!   the validity of their certificates and the failure counter. It is kept by its holder
//!   only (an owner-only file, [`PasswordSetup::save`]) and never put in a record, so
//!   ordinary members never receive verifier material.
//! * [`PasswordInvitation`]: armoured text with the group peer name, friendly name and
//!   cloud. Nothing in it is secret; the password travels separately.
//! * The exchange, four messages ([`PasswordMessage`]) on a connection whose TLS identities
//!   are authenticated:
//!
//!   ```text
//!   joiner                                   verifier
//!   JoinStart { group, joiner key, classifier, KE1 } ──▶  checks, throttling, charge
//!                  ◀── JoinChallenge { ksf, KE2 }
//!   JoinFinish { KE3 }  (or JoinAbort)  ──▶  refund on success
//!                  ◀── JoinAccepted { chain } | JoinRefused { code, retry after }
//!   ```
//!
//!   The OPAQUE `context` holds the connection's TLS exporter value (label
//!   [`EXPORTER_LABEL`]), the group peer name and the joiner's key and classifier, so a
//!   transcript is worthless on another connection or for another identity.
//! * [`JoinerExchange`] and [`VerifierExchange`] are the two sans-IO state machines:
//!   bytes in, an outcome out ([`JoinerOutcome`], [`VerifierOutcome`]). The driver passes
//!   the exporter, the peer's authenticated [`NodeId`](peergroup_base::NodeId), the source
//!   address, `now` and a random generator; nothing here reads a clock or a socket.
//! * [`PasswordVerifier`]: the verifier's state across connections — the setup and the
//!   throttling (§13.6): exponential backoff per joiner identity and per source address,
//!   and a hard lock after [`MAX_FAILURES`] failures until a new password is set. Every
//!   attempt is charged as a failure when the challenge is sent (the joiner can test its
//!   guess offline from then on) and refunded only when the joiner proves the password.
//!
//! Randomness: the OPAQUE library takes a `rand_core` 0.6 generator ([`RngCore`] +
//! [`CryptoRng`]); [`SystemRng`] is the operating system's, through `ring`.

mod exchange;
mod messages;
mod setup;
mod throttle;

use std::time::Duration;

use opaque_ke::argon2::{Algorithm, Argon2, Params, Version};
use opaque_ke::ciphersuite::CipherSuite;
use peergroup_base::{Classifier, PeerName};
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use crate::error::PasswordError;
use crate::wire::Writer;

pub use exchange::{JoinerExchange, JoinerOutcome, VerifierExchange, VerifierOutcome};
pub use messages::{
    FRIENDLY_NAME_HEADER, GROUP_HEADER, JoinRefusal, KE1_BYTES, KE2_BYTES, KE3_BYTES,
    MAX_PASSWORD_INVITATION_BYTES, MAX_PASSWORD_MESSAGE_BYTES, PasswordInvitation, PasswordMessage,
};
pub use opaque_ke::rand::{CryptoRng, Error as RngError, RngCore};
pub use setup::{MAX_SETUP_FILE_BYTES, PasswordOptions, PasswordSetup};
pub use throttle::{FORGET_AFTER, MAX_THROTTLE_ENTRIES, PasswordVerifier, backoff_delay};

/// The TLS exporter label of the password join (RFC 8446 §7.5; empty context, 32 bytes).
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-peergroup-group-password";
/// Domain of the OPAQUE context.
pub const CONTEXT_DOMAIN: &[u8] = b"peergroup group-password v1";
/// Domain of the OPAQUE server identifier.
pub const SERVER_ID_DOMAIN: &[u8] = b"peergroup group-password v1 verifier";
/// Domain of the OPAQUE client identifier.
pub const CLIENT_ID_DOMAIN: &[u8] = b"peergroup group-password v1 joiner";
/// Failures counted against one password before it locks.
pub const MAX_FAILURES: u32 = 10;
/// Longest password, bytes of UTF-8 after NFC normalisation.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Key-stretching function code 1: Argon2id (v1.3), 19,456 KiB, 2 passes, 1 lane — the
/// OWASP password-storage recommendation; a whole join, stretching included, takes about
/// 90 ms in release builds on the reference machine (§13.8). The only code version 1
/// defines.
pub const KSF_ARGON2ID_19M_T2: u8 = 1;
/// Argon2id memory of [`KSF_ARGON2ID_19M_T2`], KiB.
pub const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
/// Argon2id passes of [`KSF_ARGON2ID_19M_T2`].
pub const ARGON2_PASSES: u32 = 2;
/// Argon2id lanes of [`KSF_ARGON2ID_19M_T2`].
pub const ARGON2_LANES: u32 = 1;
/// Default validity of a GMC issued to a password joiner: 365 days (cut to the
/// verifier's own certificate).
pub const DEFAULT_PASSWORD_VALIDITY: Duration = crate::group::DEFAULT_INVITATION_VALIDITY;

/// The OPAQUE cipher suite: ristretto255 OPRF and 3DH with SHA-512, Argon2id stretching
/// (RFC 9807 §7, the first recommended configuration with a memory-hard KSF).
pub(crate) struct Suite;

impl CipherSuite for Suite {
    type OprfCs = opaque_ke::Ristretto255;
    type KeyExchange = opaque_ke::TripleDh<opaque_ke::Ristretto255, sha2::Sha512>;
    type Ksf = Argon2<'static>;
}

/// The Argon2 instance of a key-stretching code.
pub(crate) fn ksf(code: u8) -> Result<Argon2<'static>, PasswordError> {
    if code != KSF_ARGON2ID_19M_T2 {
        return Err(PasswordError::UnsupportedKsf(code));
    }
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, None)
        .map_err(|_| PasswordError::Crypto("argon2 parameters"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The password as OPAQUE sees it: UTF-8 of its NFC form, 1 to 1,024 bytes.
pub(crate) fn password_bytes(password: &str) -> Result<Zeroizing<Vec<u8>>, PasswordError> {
    let nfc: Zeroizing<String> = Zeroizing::new(password.nfc().collect());
    if nfc.is_empty() || nfc.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::InvalidPassword);
    }
    Ok(Zeroizing::new(nfc.as_bytes().to_vec()))
}

/// `domain ‖ 0x00 ‖ group peer name (UTF-8)`: the OPAQUE identifiers (§13.4). They are the
/// same for every joiner, because the registration record is made once, before any joiner
/// is known; the joiner's identity is bound through the context.
pub(crate) fn identifier(domain: &[u8], group: &PeerName) -> Vec<u8> {
    let mut v = domain.to_vec();
    v.push(0);
    v.extend_from_slice(group.to_string().as_bytes());
    v
}

/// The OPAQUE context (§13.4): `"peergroup group-password v1" ‖ 0x00 ‖ group (str16) ‖
/// joiner key [32] ‖ joiner classifier (str16) ‖ exporter [32]`.
pub fn context(
    group: &PeerName,
    joiner_key: &[u8; 32],
    joiner_classifier: &Classifier,
    exporter: &[u8; 32],
) -> Vec<u8> {
    let mut w = Writer::with_capacity(256);
    w.bytes(CONTEXT_DOMAIN);
    w.u8(0);
    w.var(group.to_string().as_bytes());
    w.bytes(joiner_key);
    w.var(joiner_classifier.as_str().as_bytes());
    w.bytes(exporter);
    w.0
}

/// The operating system's random generator (through `ring`), for drivers.
#[derive(Debug)]
pub struct SystemRng(ring::rand::SystemRandom);

impl SystemRng {
    /// The generator.
    pub fn new() -> Self {
        SystemRng(ring::rand::SystemRandom::new())
    }
}

impl Default for SystemRng {
    fn default() -> Self {
        Self::new()
    }
}

impl RngCore for SystemRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        // ring's generator fails only if the operating system's does, which leaves no
        // safe way to go on: a key drawn from a broken generator must never be used.
        if ring::rand::SecureRandom::fill(&self.0, dest).is_err() {
            panic!("the operating system's random generator failed");
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), opaque_ke::rand::Error> {
        ring::rand::SecureRandom::fill(&self.0, dest).map_err(|_| {
            opaque_ke::rand::Error::from(
                std::num::NonZeroU32::new(opaque_ke::rand::Error::CUSTOM_START)
                    .unwrap_or(std::num::NonZeroU32::MIN),
            )
        })
    }
}

impl CryptoRng for SystemRng {}
