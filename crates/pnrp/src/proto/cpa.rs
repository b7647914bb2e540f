//! Certified Peer Addresses (`proto-specs/pnrp.md` §3).
//!
//! A CPA says "the name `authority.classifier` is served at these endpoints until
//! `not_after`", signed by the key the authority is the hash of (or by a key that key
//! delegated to). It is the only thing a registration stores in the DHT and the only
//! thing a resolve returns, so nothing a node relays can be trusted unless its CPA checks
//! out here.
//!
//! * [`CpaBody`] is the content; its postcard encoding is what gets signed.
//! * [`SignedCpa`] is what travels: the **exact body bytes** and an Ed25519 signature over
//!   `"peergroup/pnrp/cpa/v1" ‖ 0x00 ‖ body`. Receivers verify those bytes and decode them;
//!   nothing is ever re-encoded to be verified, so two encoders can never disagree about
//!   what was signed.
//! * [`Cpa`] is a signed CPA that passed [`SignedCpa::verify`]: every limit, the expiry,
//!   the authority (or the delegation, through a pluggable [`DelegationValidator`]) and
//!   the signature. Unsecured names (`0.…`) pass with [`Cpa::is_unsecured`] set: anyone
//!   can sign them, so they prove integrity but not ownership.
//! * A CPA with `revoked = true` is a signed unregistration: it replaces the registration
//!   with the same signer and service location and blocks replays of older versions
//!   until its own `not_after`.
//!
//! Checks run cheapest first (length, decode, limits, expiry, authority) so that the one
//! expensive step, the signature, is only paid for CPAs that could be valid.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use peergroup_base::id::ed25519_spki;
use peergroup_base::{Authority, NodeId, P2pId, PeerName, ServiceLocation, UnixTime};
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use serde::{Deserialize, Serialize};

use crate::proto::key::Key;

/// The CPA body format this code writes and reads.
pub const CPA_FORMAT: u8 = 1;
/// Domain separator of CPA signatures.
pub const CPA_SIGNATURE_DOMAIN: &[u8] = b"peergroup/pnrp/cpa/v1";
/// Most endpoints a CPA may list ([MS-PNRP] `PNRP_MAX_ENDPOINT_ADDRESSES`).
pub const MAX_ENDPOINTS: usize = 10;
/// Longest comment in Unicode scalar values: "< 40 characters" ([MS-PNRP] 1.3.1.3).
pub const MAX_COMMENT_CHARS: usize = 39;
/// Largest payload in bytes ([MS-PNRP] `PNRP_MAX_EXTENDED_PAYLOAD_BYTES`).
pub const MAX_PAYLOAD_BYTES: usize = 4096;
/// Largest delegation proof (certificate chain) in bytes: room for a chain of the group
/// layer's 24 links of ~300 bytes each.
pub const MAX_DELEGATION_BYTES: usize = 8192;
/// Largest encoded body: every field at its limit fits with room to spare.
pub const MAX_CPA_BODY_BYTES: usize = 16 * 1024;
/// Shortest lifetime a registrant may give a CPA ([MS-PNRP] 2.2.3.1: 12 hours).
pub const MIN_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Longest lifetime a CPA may have ([MS-PNRP] 2.2.3.1: one week).
pub const MAX_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// Clock difference tolerated between a registrant and a receiver when checking that
/// `not_after` is at most [`MAX_LIFETIME`] ahead: 10 minutes.
pub const CLOCK_SKEW: Duration = Duration::from_secs(600);

/// The signed content of a CPA. Field order is the wire order (`proto-specs/pnrp.md` §3.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpaBody {
    /// Format version, [`CPA_FORMAT`].
    pub format: u8,
    /// The registered name.
    pub name: PeerName,
    /// The instance's service location: address hint ‖ 64-bit suffix.
    pub location: ServiceLocation,
    /// Version of this instance: higher replaces lower (milliseconds since the epoch at
    /// signing, kept increasing by the registrant).
    pub sequence: u64,
    /// The CPA is invalid from this time on.
    pub not_after: UnixTime,
    /// `true` for a revocation (a signed unregistration).
    pub revoked: bool,
    /// Where the service listens: 1..=10 endpoints (none in a revocation).
    pub endpoints: Vec<SocketAddr>,
    /// Free text, fewer than 40 characters.
    pub comment: String,
    /// Application payload, at most 4 KiB.
    #[serde(with = "serde_bytes")]
    pub payload: Option<Vec<u8>>,
    /// The signer's raw Ed25519 public key.
    #[serde(with = "serde_bytes")]
    pub signer: [u8; 32],
    /// Proof that the name's owner delegated to `signer` (opaque here; checked by a
    /// [`DelegationValidator`]).
    #[serde(with = "serde_bytes")]
    pub delegation: Option<Vec<u8>>,
}

/// A CPA as it travels: the exact encoded body and the signature over it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedCpa {
    /// postcard encoding of a [`CpaBody`], at most [`MAX_CPA_BODY_BYTES`].
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
    /// Ed25519 signature over `"peergroup/pnrp/cpa/v1" ‖ 0x00 ‖ body`.
    #[serde(with = "serde_bytes")]
    pub signature: [u8; 64],
}

impl fmt::Debug for SignedCpa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignedCpa({} bytes, digest {})", self.body.len(), self.digest())
    }
}

/// A 128-bit digest of a signed CPA: the first 16 bytes of SHA-256(body ‖ signature).
/// Names one exact CPA (for caches, deduplication and the simulator's ground truth).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CpaDigest(pub [u8; 16]);

impl fmt::Display for CpaDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for CpaDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CpaDigest({self})")
    }
}

/// Why a CPA was refused. Each variant names the check that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CpaError {
    /// The body is longer than [`MAX_CPA_BODY_BYTES`] (checked before decoding).
    #[error("cpa body is {len} bytes, more than the {max} allowed")]
    BodyTooLarge {
        /// Body length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The body is not a valid postcard encoding of a [`CpaBody`].
    #[error("malformed cpa body: {0}")]
    Malformed(String),
    /// Bytes follow the encoded body.
    #[error("{0} trailing bytes after the cpa body")]
    TrailingBytes(usize),
    /// The format byte is not [`CPA_FORMAT`].
    #[error("unsupported cpa format {got} (this peer reads {CPA_FORMAT})")]
    UnsupportedFormat {
        /// The format found.
        got: u8,
    },
    /// A registration lists no endpoint.
    #[error("cpa lists no endpoint (a registration needs 1 to {MAX_ENDPOINTS})")]
    NoEndpoints,
    /// More than [`MAX_ENDPOINTS`] endpoints.
    #[error("cpa lists {count} endpoints, more than the {MAX_ENDPOINTS} allowed")]
    TooManyEndpoints {
        /// Endpoints listed.
        count: usize,
    },
    /// An endpoint has port 0 or an unspecified, multicast or broadcast address.
    #[error("cpa endpoint {endpoint} is not a usable unicast address")]
    InvalidEndpoint {
        /// The endpoint.
        endpoint: SocketAddr,
    },
    /// A revocation lists endpoints or carries a payload.
    #[error("a revocation cpa carries endpoints or a payload")]
    ContentOnRevocation,
    /// The comment has 40 characters or more.
    #[error("cpa comment has {chars} characters, at most {MAX_COMMENT_CHARS} are allowed")]
    CommentTooLong {
        /// Length in Unicode scalar values.
        chars: usize,
    },
    /// The comment contains a control character.
    #[error("cpa comment contains control character U+{code:04X}")]
    CommentControlCharacter {
        /// The code point.
        code: u32,
    },
    /// The payload is larger than [`MAX_PAYLOAD_BYTES`].
    #[error("cpa payload is {len} bytes, more than the {MAX_PAYLOAD_BYTES} allowed")]
    PayloadTooLarge {
        /// Payload length.
        len: usize,
    },
    /// The delegation proof is larger than [`MAX_DELEGATION_BYTES`].
    #[error("cpa delegation proof is {len} bytes, more than the {MAX_DELEGATION_BYTES} allowed")]
    DelegationTooLarge {
        /// Proof length.
        len: usize,
    },
    /// `not_after` has passed.
    #[error("cpa expired at {not_after} (now {now})")]
    Expired {
        /// The CPA's expiry.
        not_after: UnixTime,
        /// The time of the check.
        now: UnixTime,
    },
    /// A new CPA would live less than [`MIN_LIFETIME`] (checked when signing).
    #[error("cpa lifetime until {not_after} is shorter than 12 hours from {now}")]
    LifetimeTooShort {
        /// The requested expiry.
        not_after: UnixTime,
        /// Signing time.
        now: UnixTime,
    },
    /// `not_after` is more than [`MAX_LIFETIME`] (plus [`CLOCK_SKEW`] for receivers) ahead.
    #[error("cpa expiry {not_after} is more than 7 days after {now}")]
    LifetimeTooLong {
        /// The CPA's expiry.
        not_after: UnixTime,
        /// The time of the check.
        now: UnixTime,
    },
    /// The name is secure, its authority is not the hash of the signing key, and the CPA
    /// carries no delegation.
    #[error("cpa for {name} is signed by a key whose authority is {signer_authority}")]
    WrongAuthority {
        /// The name claimed.
        name: PeerName,
        /// The authority the signing key would have.
        signer_authority: Authority,
    },
    /// The CPA carries a delegation but this node has no [`DelegationValidator`].
    #[error("cpa for {name} is delegated but no delegation validator is configured")]
    DelegationUnsupported {
        /// The name claimed.
        name: PeerName,
    },
    /// The [`DelegationValidator`] refused the delegation.
    #[error("cpa delegation refused: {0}")]
    DelegationRefused(#[from] DelegationError),
    /// The Ed25519 signature does not verify over the body.
    #[error("cpa signature does not verify")]
    SignatureInvalid,
    /// The CPA is valid but for another name than the one asked for.
    #[error("cpa is for p2p id {got}, expected {expected}")]
    NameMismatch {
        /// The P2P ID asked for.
        expected: P2pId,
        /// The P2P ID of the CPA's name.
        got: P2pId,
    },
}

impl CpaError {
    /// `true` if the failure proves the sender forged or altered the CPA (bad signature,
    /// wrong authority, refused delegation): honest nodes check CPAs before they store or
    /// serve them, so they never relay one of these.
    pub fn is_forgery(&self) -> bool {
        matches!(
            self,
            CpaError::SignatureInvalid
                | CpaError::WrongAuthority { .. }
                | CpaError::DelegationRefused(_)
        )
    }

    /// `true` for [`CpaError::Expired`].
    pub fn is_expired(&self) -> bool {
        matches!(self, CpaError::Expired { .. })
    }
}

/// Why a [`DelegationValidator`] refused a delegation proof.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DelegationError {
    /// The proof does not decode.
    #[error("malformed delegation proof: {0}")]
    Malformed(String),
    /// The chain's root key does not hash to the name's authority.
    #[error("delegation root key does not hash to the name's authority")]
    RootAuthorityMismatch,
    /// The chain delegates to another key than the CPA's signer.
    #[error("delegation is for another key than the cpa signer")]
    WrongDelegate,
    /// The chain does not cover this name (classifier).
    #[error("delegation does not cover this name")]
    NameNotDelegated,
    /// A link of the chain has expired.
    #[error("delegation expired at {0}")]
    Expired(UnixTime),
    /// A signature in the chain does not verify.
    #[error("delegation signature does not verify")]
    SignatureInvalid,
    /// Any other reason given by the validator.
    #[error("{0}")]
    Other(String),
}

/// Checks delegated registrations: that `chain` proves the owner of `name`'s authority
/// allowed `signer` to register `name` at time `now`.
///
/// An implementation MUST check that the chain's root key hashes to `name.authority()`.
/// The grouping layer plugs in its GMC chains here (a member registers
/// `<group authority>.participant` with its own key and its membership chain).
pub trait DelegationValidator: Send + Sync + fmt::Debug {
    /// `Ok(())` if the delegation holds.
    fn validate(
        &self,
        name: &PeerName,
        signer: &[u8; 32],
        chain: &[u8],
        now: UnixTime,
    ) -> Result<(), DelegationError>;
}

/// A CPA that passed every check of [`SignedCpa::verify`] at some time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cpa {
    signed: SignedCpa,
    body: CpaBody,
    p2p: P2pId,
    digest: CpaDigest,
}

impl Cpa {
    /// The signed form (what is stored and sent).
    pub fn signed(&self) -> &SignedCpa {
        &self.signed
    }

    /// The decoded body.
    pub fn body(&self) -> &CpaBody {
        &self.body
    }

    /// The P2P ID of the name.
    pub fn p2p_id(&self) -> P2pId {
        self.p2p
    }

    /// The DHT key of the name.
    pub fn key(&self) -> Key {
        Key::of_name(&self.p2p)
    }

    /// The digest of the signed bytes.
    pub fn digest(&self) -> CpaDigest {
        self.digest
    }

    /// `true` for an unsecured name (`0.…`): the signature proves integrity, not ownership.
    pub fn is_unsecured(&self) -> bool {
        !self.body.name.is_secure()
    }

    /// `true` if signed by a delegate rather than the name's owner.
    pub fn is_delegated(&self) -> bool {
        self.body.name.is_secure() && self.body.delegation.is_some()
    }

    /// The instance this CPA is a version of: (signer, service location).
    pub fn instance(&self) -> InstanceId {
        InstanceId { signer: self.body.signer, location: self.body.location }
    }

    /// `true` if expired at `now`.
    pub fn is_expired(&self, now: UnixTime) -> bool {
        self.body.not_after <= now
    }
}

/// What identifies one registration of a name: who signs it and its service location.
/// Versions of an instance replace each other by sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InstanceId {
    /// The signer's public key.
    #[serde(with = "serde_bytes")]
    pub signer: [u8; 32],
    /// The service location.
    pub location: ServiceLocation,
}

impl SignedCpa {
    /// The digest of these exact bytes.
    pub fn digest(&self) -> CpaDigest {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(&self.body);
        ctx.update(&self.signature);
        let d = ctx.finish();
        let mut out = [0u8; 16];
        out.copy_from_slice(&d.as_ref()[..16]);
        CpaDigest(out)
    }

    /// Checks everything at time `now`: size, encoding, format, limits, expiry, authority
    /// or delegation, signature. `validator` checks delegated CPAs; without one they are
    /// refused with [`CpaError::DelegationUnsupported`].
    pub fn verify(
        &self,
        now: UnixTime,
        validator: Option<&dyn DelegationValidator>,
    ) -> Result<Cpa, CpaError> {
        self.verify_inner(now, validator, &mut |key, msg, sig| verify_ed25519(key, msg, sig))
    }

    /// Every check of [`verify`](Self::verify) except the signature: for a CPA this node
    /// has just signed itself.
    pub(crate) fn verify_own(
        &self,
        now: UnixTime,
        validator: Option<&dyn DelegationValidator>,
    ) -> Result<Cpa, CpaError> {
        self.verify_inner(now, validator, &mut |_, _, _| true)
    }

    /// [`verify`](Self::verify) with a cache of signatures already checked.
    pub fn verify_cached(
        &self,
        now: UnixTime,
        validator: Option<&dyn DelegationValidator>,
        cache: &mut VerifyCache,
    ) -> Result<Cpa, CpaError> {
        let digest = self.digest();
        let known = cache.get(&digest);
        let mut checked = None;
        let result = self.verify_with_digest(now, validator, digest, &mut |key, msg, sig| {
            if let Some(ok) = known {
                cache.hits += 1;
                return ok;
            }
            let ok = cache.verify_ed25519(digest, key, msg, sig);
            cache.misses += 1;
            checked = Some(ok);
            ok
        });
        if let Some(ok) = checked {
            cache.insert(digest, ok);
        }
        result
    }

    fn verify_inner(
        &self,
        now: UnixTime,
        validator: Option<&dyn DelegationValidator>,
        sig_ok: &mut SignatureCheck<'_>,
    ) -> Result<Cpa, CpaError> {
        self.verify_with_digest(now, validator, self.digest(), sig_ok)
    }

    fn verify_with_digest(
        &self,
        now: UnixTime,
        validator: Option<&dyn DelegationValidator>,
        digest: CpaDigest,
        sig_ok: &mut SignatureCheck<'_>,
    ) -> Result<Cpa, CpaError> {
        let body = decode_body(&self.body)?;
        body.check_limits()?;
        if body.not_after <= now {
            return Err(CpaError::Expired { not_after: body.not_after, now });
        }
        if body.not_after > now.saturating_add(MAX_LIFETIME + CLOCK_SKEW) {
            return Err(CpaError::LifetimeTooLong { not_after: body.not_after, now });
        }
        body.check_authority(now, validator)?;
        let msg = signature_input(&self.body);
        if !sig_ok(&body.signer, &msg, &self.signature) {
            return Err(CpaError::SignatureInvalid);
        }
        let p2p = body.name.p2p_id();
        Ok(Cpa { signed: self.clone(), body, p2p, digest })
    }
}

/// Checks an Ed25519 signature: (public key, message, signature) → valid.
type SignatureCheck<'a> = dyn FnMut(&[u8; 32], &[u8], &[u8; 64]) -> bool + 'a;

/// The bytes an Ed25519 signature of a CPA covers: `"peergroup/pnrp/cpa/v1" ‖ 0x00 ‖ body`.
pub fn signature_input(body: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(CPA_SIGNATURE_DOMAIN.len() + 1 + body.len());
    msg.extend_from_slice(CPA_SIGNATURE_DOMAIN);
    msg.push(0);
    msg.extend_from_slice(body);
    msg
}

/// The rule of `identity.md` §1.1 (ZIP-215), the one every signature in the stack is
/// checked by.
fn verify_ed25519(key: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    peergroup_identity::verify_signature(key, msg, sig)
}

fn decode_body(bytes: &[u8]) -> Result<CpaBody, CpaError> {
    if bytes.len() > MAX_CPA_BODY_BYTES {
        return Err(CpaError::BodyTooLarge { len: bytes.len(), max: MAX_CPA_BODY_BYTES });
    }
    // The format byte comes first; refuse other formats before trying to decode them.
    if let Some(&format) = bytes.first()
        && format != CPA_FORMAT
    {
        return Err(CpaError::UnsupportedFormat { got: format });
    }
    let (body, rest) = postcard::take_from_bytes::<CpaBody>(bytes)
        .map_err(|e| CpaError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CpaError::TrailingBytes(rest.len()));
    }
    Ok(body)
}

impl CpaBody {
    /// Checks every size and content limit (not time, authority or signature).
    pub fn check_limits(&self) -> Result<(), CpaError> {
        if self.format != CPA_FORMAT {
            return Err(CpaError::UnsupportedFormat { got: self.format });
        }
        if self.revoked {
            if !self.endpoints.is_empty() || self.payload.is_some() {
                return Err(CpaError::ContentOnRevocation);
            }
        } else if self.endpoints.is_empty() {
            return Err(CpaError::NoEndpoints);
        }
        if self.endpoints.len() > MAX_ENDPOINTS {
            return Err(CpaError::TooManyEndpoints { count: self.endpoints.len() });
        }
        if let Some(&endpoint) = self.endpoints.iter().find(|e| !usable_endpoint(e)) {
            return Err(CpaError::InvalidEndpoint { endpoint });
        }
        let chars = self.comment.chars().count();
        if chars > MAX_COMMENT_CHARS {
            return Err(CpaError::CommentTooLong { chars });
        }
        if let Some(c) = self.comment.chars().find(|c| c.is_control()) {
            return Err(CpaError::CommentControlCharacter { code: c as u32 });
        }
        if let Some(p) = &self.payload
            && p.len() > MAX_PAYLOAD_BYTES
        {
            return Err(CpaError::PayloadTooLarge { len: p.len() });
        }
        if let Some(d) = &self.delegation
            && d.len() > MAX_DELEGATION_BYTES
        {
            return Err(CpaError::DelegationTooLarge { len: d.len() });
        }
        Ok(())
    }

    fn check_authority(
        &self,
        now: UnixTime,
        validator: Option<&dyn DelegationValidator>,
    ) -> Result<(), CpaError> {
        let name_authority = *self.name.authority();
        if !name_authority.is_secure() {
            return Ok(()); // unsecured: anyone may sign; flagged by Cpa::is_unsecured
        }
        let signer_authority = NodeId::from_ed25519(&self.signer).authority();
        if signer_authority == name_authority {
            return Ok(());
        }
        match &self.delegation {
            None => Err(CpaError::WrongAuthority { name: self.name.clone(), signer_authority }),
            Some(chain) => match validator {
                None => Err(CpaError::DelegationUnsupported { name: self.name.clone() }),
                Some(v) => Ok(v.validate(&self.name, &self.signer, chain, now)?),
            },
        }
    }

    /// Encodes and signs this body with `signer`, after checking every limit and that the
    /// lifetime from `now` lies within 12 hours … 7 days.
    ///
    /// The signer must be the one named in `self.signer`.
    pub fn sign(&self, signer: &CpaSigner, now: UnixTime) -> Result<SignedCpa, CpaError> {
        self.check_limits()?;
        if self.not_after < now.saturating_add(MIN_LIFETIME) {
            return Err(CpaError::LifetimeTooShort { not_after: self.not_after, now });
        }
        if self.not_after > now.saturating_add(MAX_LIFETIME) {
            return Err(CpaError::LifetimeTooLong { not_after: self.not_after, now });
        }
        Ok(self.sign_unchecked(signer))
    }

    /// Encodes and signs without checking anything (for tests of receivers, and the
    /// simulator's adversaries). The result may well be refused by [`SignedCpa::verify`].
    pub fn sign_unchecked(&self, signer: &CpaSigner) -> SignedCpa {
        // Invariant: every field of CpaBody is serialisable (no maps, no unsized
        // sequences), so postcard encoding into a Vec cannot fail.
        #[allow(clippy::expect_used)]
        let body = postcard::to_allocvec(self).expect("cpa body encodes");
        let signature = signer.sign(&signature_input(&body));
        SignedCpa { body, signature }
    }
}

/// Whether `e` may appear in a CPA or a contact list (`pnrp.md` §3.1): a unicast address
/// a peer elsewhere can dial. Port 0, the unspecified addresses, multicast, IPv4's limited
/// broadcast `255.255.255.255` (the only broadcast address recognisable without the
/// sender's netmask) and IPv6 link-local `fe80::/10` (unusable without a scope id, which the
/// wire form cannot carry) are not. Loopback and IPv4 link-local are allowed.
pub(crate) fn usable_endpoint(e: &SocketAddr) -> bool {
    if e.port() == 0 {
        return false;
    }
    match e.ip() {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast() || v6.is_unicast_link_local()),
    }
}

/// A key that signs CPAs: an Ed25519 key pair and, for a delegate, the proof of its
/// delegation. Cheap to clone.
#[derive(Clone)]
pub struct CpaSigner {
    key: Arc<Ed25519KeyPair>,
    public: [u8; 32],
    delegation: Option<Arc<Vec<u8>>>,
}

impl fmt::Debug for CpaSigner {
    /// Never prints key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CpaSigner")
            .field("authority", &self.authority())
            .field("delegated", &self.delegation.is_some())
            .finish()
    }
}

impl CpaSigner {
    /// A signer from a 32-byte Ed25519 seed (`proto-specs/identity.md` §1): the same key
    /// an identity with that seed has.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        // Invariant: ring accepts every 32-byte Ed25519 seed (identity.md §1 relies on it).
        #[allow(clippy::expect_used)]
        let key = Ed25519KeyPair::from_seed_unchecked(seed).expect("every 32-byte seed is valid");
        let mut public = [0u8; 32];
        public.copy_from_slice(key.public_key().as_ref());
        CpaSigner { key: Arc::new(key), public, delegation: None }
    }

    /// The signer of an identity's own names.
    pub fn from_identity(identity: &peergroup_identity::Identity) -> Self {
        Self::from_seed(&identity.seed())
    }

    /// The same key, presenting `proof` to register names it was delegated.
    pub fn with_delegation(mut self, proof: Vec<u8>) -> Self {
        self.delegation = Some(Arc::new(proof));
        self
    }

    /// The raw public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// The node id of the key (SHA-256 of its SPKI).
    pub fn node_id(&self) -> NodeId {
        NodeId::from_spki_der(&ed25519_spki(&self.public))
    }

    /// The secure authority of the key.
    pub fn authority(&self) -> Authority {
        self.node_id().authority()
    }

    /// The delegation proof, if any.
    pub fn delegation(&self) -> Option<&[u8]> {
        self.delegation.as_deref().map(Vec::as_slice)
    }

    /// Signs `msg`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(self.key.sign(msg).as_ref());
        out
    }
}

/// A small cache of signature checks, keyed by [`CpaDigest`] (which covers the body, so
/// the signer, and the signature). Bounded; evicts the oldest entry first.
///
/// One cache per node: results are never shared between nodes (except, in a simulation,
/// through [`SharedVerdicts`], which changes no result and no count).
#[derive(Debug, Default, Clone)]
pub struct VerifyCache {
    capacity: usize,
    entries: std::collections::VecDeque<(CpaDigest, bool)>,
    /// Signature checks answered from the cache.
    pub hits: u64,
    /// Signature checks actually run.
    pub misses: u64,
    #[cfg(feature = "sim")]
    shared: Option<SharedVerdicts>,
}

/// The Ed25519 verdicts of every node of one simulation, by [`CpaDigest`] (feature `sim`).
///
/// A signature check is a pure function of the signed bytes, which the digest names, so
/// thousands of simulated replicas checking the same CPA need to run it once. A node that
/// shares verdicts behaves and counts exactly as one that does not: its own
/// [`VerifyCache`] still decides what is a hit and what is a check ([`VerifyCache::misses`]);
/// only the Ed25519 arithmetic behind a check is done once per distinct CPA per process.
/// Holds at most [`SharedVerdicts::CAPACITY`] verdicts; beyond, checks simply run.
#[cfg(feature = "sim")]
#[derive(Debug, Clone, Default)]
pub struct SharedVerdicts(std::sync::Arc<std::sync::Mutex<rustc_hash::FxHashMap<CpaDigest, bool>>>);

#[cfg(feature = "sim")]
impl SharedVerdicts {
    /// Most verdicts kept (about 40 bytes each).
    pub const CAPACITY: usize = 1 << 22;

    /// An empty set of verdicts, to hand to every node of one simulation.
    pub fn new() -> Self {
        Self::default()
    }

    fn verify(&self, digest: CpaDigest, key: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
        if let Ok(map) = self.0.lock()
            && let Some(&ok) = map.get(&digest)
        {
            return ok;
        }
        let ok = verify_ed25519(key, msg, sig);
        if let Ok(mut map) = self.0.lock()
            && map.len() < Self::CAPACITY
        {
            map.insert(digest, ok);
        }
        ok
    }
}

impl VerifyCache {
    /// A cache holding up to `capacity` results.
    pub fn new(capacity: usize) -> Self {
        VerifyCache { capacity, entries: std::collections::VecDeque::new(), ..Self::default() }
    }

    /// Makes this cache's checks use the verdicts of `shared` (feature `sim`).
    #[cfg(feature = "sim")]
    pub fn share(&mut self, shared: SharedVerdicts) {
        self.shared = Some(shared);
    }

    /// Runs the Ed25519 check of the CPA `digest` names.
    fn verify_ed25519(
        &self,
        digest: CpaDigest,
        key: &[u8; 32],
        msg: &[u8],
        sig: &[u8; 64],
    ) -> bool {
        #[cfg(feature = "sim")]
        if let Some(shared) = &self.shared {
            return shared.verify(digest, key, msg, sig);
        }
        let _ = digest;
        verify_ed25519(key, msg, sig)
    }

    fn get(&self, d: &CpaDigest) -> Option<bool> {
        self.entries.iter().rev().find(|(k, _)| k == d).map(|&(_, ok)| ok)
    }

    fn insert(&mut self, d: CpaDigest, ok: bool) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back((d, ok));
    }
}

/// Domain separator of the [`SimpleDelegation`] proof signature.
pub const SIMPLE_DELEGATION_DOMAIN: &[u8] = b"peergroup/pnrp/simple-delegation/v1";

/// The signed content of a [`SimpleDelegation`] proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimpleDelegationBody {
    /// The owner's raw Ed25519 key (its authority is the name's).
    #[serde(with = "serde_bytes")]
    pub owner: [u8; 32],
    /// The delegate's raw Ed25519 key (the CPA signer).
    #[serde(with = "serde_bytes")]
    pub delegate: [u8; 32],
    /// The one name delegated.
    pub name: PeerName,
    /// The delegation is invalid from this time on.
    pub not_after: UnixTime,
}

/// A one-link delegation proof and its validator: the owner signs
/// `"peergroup/pnrp/simple-delegation/v1" ‖ 0x00 ‖ postcard(SimpleDelegationBody)`.
///
/// The proof bytes are `postcard((body bytes, signature))`. It exists to test and
/// demonstrate delegated registration; the grouping layer validates its own GMC chains.
#[derive(Debug, Clone, Copy, Default)]
pub struct SimpleDelegation;

#[derive(Serialize, Deserialize)]
struct SimpleDelegationProof {
    #[serde(with = "serde_bytes")]
    body: Vec<u8>,
    #[serde(with = "serde_bytes")]
    signature: [u8; 64],
}

impl SimpleDelegation {
    /// Issues a proof by which `owner` lets `delegate` register `name` until `not_after`.
    pub fn issue(
        owner: &CpaSigner,
        delegate: &[u8; 32],
        name: &PeerName,
        not_after: UnixTime,
    ) -> Vec<u8> {
        let body = SimpleDelegationBody {
            owner: owner.public_key(),
            delegate: *delegate,
            name: name.clone(),
            not_after,
        };
        // Invariant: the body has only serialisable fields; encoding into a Vec cannot fail.
        #[allow(clippy::expect_used)]
        let body = postcard::to_allocvec(&body).expect("delegation body encodes");
        let mut msg = SIMPLE_DELEGATION_DOMAIN.to_vec();
        msg.push(0);
        msg.extend_from_slice(&body);
        let signature = owner.sign(&msg);
        // Invariant: as above, a struct of byte strings always encodes.
        #[allow(clippy::expect_used)]
        postcard::to_allocvec(&SimpleDelegationProof { body, signature }).expect("proof encodes")
    }
}

impl DelegationValidator for SimpleDelegation {
    fn validate(
        &self,
        name: &PeerName,
        signer: &[u8; 32],
        chain: &[u8],
        now: UnixTime,
    ) -> Result<(), DelegationError> {
        let malformed = |e: postcard::Error| DelegationError::Malformed(e.to_string());
        let proof: SimpleDelegationProof = postcard::from_bytes(chain).map_err(malformed)?;
        let body: SimpleDelegationBody = postcard::from_bytes(&proof.body).map_err(malformed)?;
        if NodeId::from_ed25519(&body.owner).authority() != *name.authority() {
            return Err(DelegationError::RootAuthorityMismatch);
        }
        if body.delegate != *signer {
            return Err(DelegationError::WrongDelegate);
        }
        if body.name != *name {
            return Err(DelegationError::NameNotDelegated);
        }
        if body.not_after <= now {
            return Err(DelegationError::Expired(body.not_after));
        }
        let mut msg = SIMPLE_DELEGATION_DOMAIN.to_vec();
        msg.push(0);
        msg.extend_from_slice(&proof.body);
        if !verify_ed25519(&body.owner, &msg, &proof.signature) {
            return Err(DelegationError::SignatureInvalid);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: UnixTime = UnixTime::from_secs(1_767_225_600);

    fn body(signer: &CpaSigner) -> CpaBody {
        CpaBody {
            format: CPA_FORMAT,
            name: PeerName::new(
                signer.authority(),
                peergroup_base::Classifier::new("svc").unwrap(),
            ),
            location: ServiceLocation::new(1, 2),
            sequence: 1,
            not_after: NOW.saturating_add(Duration::from_secs(86_400)),
            revoked: false,
            endpoints: vec!["192.0.2.1:4000".parse().unwrap()],
            comment: "hello".into(),
            payload: Some(vec![1, 2, 3]),
            signer: signer.public_key(),
            delegation: None,
        }
    }

    #[test]
    fn sign_and_verify() {
        let s = CpaSigner::from_seed(&[1; 32]);
        let signed = body(&s).sign(&s, NOW).unwrap();
        let cpa = signed.verify(NOW, None).unwrap();
        assert!(!cpa.is_unsecured());
        assert_eq!(cpa.body().comment, "hello");
        let mut cache = VerifyCache::new(4);
        signed.verify_cached(NOW, None, &mut cache).unwrap();
        signed.verify_cached(NOW, None, &mut cache).unwrap();
        assert_eq!(cache.hits, 1);
    }

    #[test]
    fn tampered_body_fails_signature() {
        let s = CpaSigner::from_seed(&[1; 32]);
        let mut signed = body(&s).sign(&s, NOW).unwrap();
        let at = signed.body.windows(5).position(|w| w == b"hello").unwrap();
        signed.body[at] ^= 1; // "hello" becomes "iello": still a valid body
        assert_eq!(signed.verify(NOW, None).unwrap_err(), CpaError::SignatureInvalid);
    }

    #[test]
    fn delegation_through_validator() {
        let owner = CpaSigner::from_seed(&[1; 32]);
        let member = CpaSigner::from_seed(&[2; 32]);
        let mut b = body(&owner);
        b.signer = member.public_key();
        let proof = SimpleDelegation::issue(
            &owner,
            &member.public_key(),
            &b.name,
            NOW.saturating_add(MAX_LIFETIME),
        );
        b.delegation = Some(proof);
        let signed = b.sign(&member, NOW).unwrap();
        assert!(matches!(signed.verify(NOW, None), Err(CpaError::DelegationUnsupported { .. })));
        let cpa = signed.verify(NOW, Some(&SimpleDelegation)).unwrap();
        assert!(cpa.is_delegated());
        // the proof is bound to the delegate
        let other = CpaSigner::from_seed(&[3; 32]);
        let mut b2 = b.clone();
        b2.signer = other.public_key();
        let signed = b2.sign(&other, NOW).unwrap();
        assert_eq!(
            signed.verify(NOW, Some(&SimpleDelegation)).unwrap_err(),
            CpaError::DelegationRefused(DelegationError::WrongDelegate)
        );
    }
}
