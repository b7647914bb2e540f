//! Certificate chains (`group.md` §3.2–3.3): a flat, hash-linked list `GRC → GMC … →
//! leaf`, and their verification with a cache of verified certificates.
//!
//! Encoding: `count: u8` (1 ..= 25) then each certificate as `u16` BE length ‖ bytes,
//! root first. A chain is a list, not a nest: each certificate names its issuer by id, so
//! a chain shared by a thousand members is the same bytes a thousand times, and its
//! signatures are verified once per node ([`CertCache`]).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use peergroup_base::{PeerName, UnixTime};

use crate::cert::{Cert, CertId, CertKind, MAX_CERT_BYTES, Role};
use crate::error::{ChainError, DecodeError};
use crate::wire::{Reader, Writer, sha256};

/// Most issuers in a chain (`PEER_E_CHAIN_TOO_LONG`, as Windows).
pub const MAX_ISSUERS: usize = 24;
/// Most certificates in a chain: the issuers and the leaf.
pub const MAX_CHAIN_CERTS: usize = MAX_ISSUERS + 1;
/// Largest chain encoding accepted, bytes.
pub const MAX_CHAIN_BYTES: usize = 1 + MAX_CHAIN_CERTS * (2 + MAX_CERT_BYTES);

/// A decoded chain; not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    certs: Vec<Cert>,
}

impl Chain {
    /// A chain of these certificates, root first (no check; see [`Chain::verify`]).
    pub fn from_certs(certs: Vec<Cert>) -> Chain {
        Chain { certs }
    }

    /// Decodes a chain: size, count (1 ..= 25), then each certificate.
    pub fn decode(bytes: &[u8]) -> Result<Chain, DecodeError> {
        if bytes.len() > MAX_CHAIN_BYTES {
            return Err(DecodeError::TooLarge {
                what: "chain",
                len: bytes.len(),
                max: MAX_CHAIN_BYTES,
            });
        }
        let mut r = Reader::new(bytes);
        let count = usize::from(r.u8("certificate count")?);
        if count == 0 {
            return Err(DecodeError::ChainEmpty);
        }
        if count > MAX_CHAIN_CERTS {
            return Err(DecodeError::ChainTooLong { certs: count, max_issuers: MAX_ISSUERS });
        }
        let mut certs = Vec::with_capacity(count);
        for _ in 0..count {
            certs.push(Cert::decode(r.var("certificate")?)?);
        }
        r.finish()?;
        Ok(Chain { certs })
    }

    /// The encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(
            1 + self.certs.iter().map(|c| 2 + c.encoded.len()).sum::<usize>(),
        );
        w.u8(self.certs.len().min(255) as u8);
        for c in &self.certs {
            w.var(&c.encoded);
        }
        w.0
    }

    /// The certificates, root first.
    pub fn certs(&self) -> &[Cert] {
        &self.certs
    }

    /// The last certificate.
    pub fn leaf(&self) -> Option<&Cert> {
        self.certs.last()
    }

    /// The chain extended by `cert` (issued by this chain's leaf).
    pub fn extended(&self, cert: Cert) -> Chain {
        let mut certs = self.certs.clone();
        certs.push(cert);
        Chain { certs }
    }

    /// Verifies every rule of `group.md` §3.3, in order, for each certificate: position
    /// (root first, no other root), same group as the root, hash link to the previous
    /// certificate, no repeated subject key, not-before ≤ not-after, validity inside the
    /// issuer's, role issuable by the issuer's role, the signature under the issuer's
    /// subject key (skipped when `cache` already verified that certificate), and — when
    /// `now` is given — the validity at `now`. Length was checked by decoding.
    pub fn verify(
        &self,
        cache: &mut CertCache,
        now: Option<UnixTime>,
    ) -> Result<VerifiedChain, ChainError> {
        let Some(root) = self.certs.first() else {
            return Err(DecodeError::ChainEmpty.into());
        };
        if self.certs.len() > MAX_CHAIN_CERTS {
            return Err(DecodeError::ChainTooLong {
                certs: self.certs.len(),
                max_issuers: MAX_ISSUERS,
            }
            .into());
        }
        if root.kind != CertKind::Root {
            return Err(ChainError::NotARoot);
        }
        let mut keys: HashSet<[u8; 32]> = HashSet::with_capacity(self.certs.len());
        for (index, cert) in self.certs.iter().enumerate() {
            if cert.not_before > cert.not_after {
                return Err(ChainError::InvalidValidity { index });
            }
            if index > 0 {
                let parent = &self.certs[index - 1];
                if cert.kind == CertKind::Root {
                    return Err(ChainError::UnexpectedRoot { index });
                }
                if cert.group_key != root.group_key
                    || cert.group_classifier != root.group_classifier
                {
                    return Err(ChainError::MixedGroups { index });
                }
                if cert.issuer != parent.id {
                    return Err(ChainError::BrokenLink { index });
                }
                if cert.not_after > parent.not_after {
                    return Err(ChainError::OutlivesIssuer { index });
                }
                if cert.not_before < parent.not_before {
                    return Err(ChainError::StartsBeforeIssuer { index });
                }
                if !parent.role.may_issue(cert.role) {
                    return Err(ChainError::RoleNotIssuable {
                        index,
                        issuer: parent.role,
                        role: cert.role,
                    });
                }
            }
            if !keys.insert(cert.subject_key) {
                return Err(ChainError::CircularChain { index });
            }
            let issuer_key =
                if index == 0 { &root.group_key } else { &self.certs[index - 1].subject_key };
            if !cache.check(cert, issuer_key) {
                return Err(ChainError::SignatureInvalid { index });
            }
            if let Some(now) = now {
                if now < cert.not_before {
                    return Err(ChainError::NotYetValid { index, not_before: cert.not_before });
                }
                if now >= cert.not_after {
                    return Err(ChainError::Expired { index, not_after: cert.not_after });
                }
            }
        }
        Ok(VerifiedChain { chain: Arc::new(self.clone()) })
    }
}

/// A chain whose every rule and signature was verified. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedChain {
    chain: Arc<Chain>,
}

impl VerifiedChain {
    /// A chain taken as verified without checking it: for simulated hostile nodes, which
    /// must be able to present chains that do not verify.
    #[cfg(feature = "sim")]
    pub(crate) fn unchecked(chain: Chain) -> VerifiedChain {
        VerifiedChain { chain: Arc::new(chain) }
    }

    /// The chain.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }
    /// The certificates, root first.
    pub fn certs(&self) -> &[Cert] {
        &self.chain.certs
    }
    /// The leaf certificate.
    pub fn leaf(&self) -> &Cert {
        // Invariant: a verified chain has at least its root.
        &self.chain.certs[self.chain.certs.len() - 1]
    }
    /// The root certificate.
    pub fn root(&self) -> &Cert {
        &self.chain.certs[0]
    }
    /// The group's peer name.
    pub fn group_name(&self) -> PeerName {
        self.root().group_name()
    }
    /// The group key.
    pub fn group_key(&self) -> &[u8; 32] {
        &self.root().group_key
    }
    /// The leaf's role.
    pub fn role(&self) -> Role {
        self.leaf().role
    }
    /// The certificate ids, root first.
    pub fn ids(&self) -> impl Iterator<Item = CertId> + '_ {
        self.chain.certs.iter().map(|c| c.id)
    }
    /// Depth of the leaf: 0 for a root, 1 for a GMC the root issued, …
    pub fn depth(&self) -> usize {
        self.chain.certs.len() - 1
    }
    /// Checks the leaf's key.
    pub fn expect_leaf(&self, key: &[u8; 32]) -> Result<(), ChainError> {
        if &self.leaf().subject_key == key { Ok(()) } else { Err(ChainError::LeafMismatch) }
    }
}

/// Signature verification with optional memoisation shared between simulated nodes.
///
/// Every call counts as one verification (the figure reports what a real node would
/// do). The memo exists for the simulator only: a thousand simulated nodes verify the
/// same signatures, and the scenario's wall time would be the CPU cost of one node times
/// a thousand. The CPU cost itself is measured by `cargo bench --bench group`.
#[derive(Debug, Clone, Default)]
pub struct Verifier {
    /// Signature verifications asked for.
    pub verifications: u64,
    memo: Option<SignatureMemo>,
}

/// A memo of signature verdicts shared by simulated nodes (see [`Verifier`]).
#[derive(Debug, Clone, Default)]
pub struct SignatureMemo(Arc<Mutex<HashMap<[u8; 32], bool>>>);

impl SignatureMemo {
    /// An empty memo.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Verifier {
    /// A verifier that checks every signature.
    pub fn new() -> Self {
        Self::default()
    }

    /// A verifier that memoises verdicts in `memo` (simulation only).
    pub fn with_memo(memo: SignatureMemo) -> Self {
        Verifier { verifications: 0, memo: Some(memo) }
    }

    /// Whether verdicts are memoised (simulation): batch verification is then pointless.
    pub(crate) fn is_memoising(&self) -> bool {
        self.memo.is_some()
    }

    /// Whether `signature` by `key` over `msg` is valid.
    pub fn verify(&mut self, key: &[u8; 32], msg: &[u8], signature: &[u8; 64]) -> bool {
        self.verifications += 1;
        match &self.memo {
            None => peergroup_identity::verify_signature(key, msg, signature),
            Some(memo) => {
                let k = sha256(&[key, signature, msg]);
                if let Some(v) = memo.0.lock().ok().and_then(|m| m.get(&k).copied()) {
                    return v;
                }
                let v = peergroup_identity::verify_signature(key, msg, signature);
                if let Ok(mut m) = memo.0.lock() {
                    m.insert(k, v);
                }
                v
            }
        }
    }
}

/// Verifies many independent signatures, in batches spread over the machine's cores.
///
/// Returns one verdict per item, in order, each exactly what
/// [`peergroup_identity::verify_signature`] gives. Each thread checks its share as one
/// batch ([`peergroup_identity::verify_signatures`]). Below [`PARALLEL_MIN`] items, or on
/// a single core, the calling thread checks them all. Threads are scoped: nothing outlives
/// the call.
pub fn verify_batch(items: &[([u8; 32], Vec<u8>, [u8; 64])]) -> Vec<bool> {
    let threads = parallelism();
    if threads < 2 || items.len() < PARALLEL_MIN {
        return peergroup_identity::verify_signatures(items);
    }
    let per = items.len().div_ceil(threads);
    let mut out = vec![false; items.len()];
    std::thread::scope(|scope| {
        for (chunk, verdicts) in items.chunks(per).zip(out.chunks_mut(per)) {
            scope.spawn(move || {
                verdicts.copy_from_slice(&peergroup_identity::verify_signatures(chunk));
            });
        }
    });
    out
}

/// Signs each of `msgs` with `identity`, over the machine's cores when there are enough
/// messages ([`PARALLEL_MIN`]); the signatures in order.
pub fn sign_batch(identity: &peergroup_identity::Identity, msgs: &[&[u8]]) -> Vec<[u8; 64]> {
    let threads = parallelism();
    if threads < 2 || msgs.len() < PARALLEL_MIN {
        return msgs.iter().map(|m| identity.sign(m)).collect();
    }
    let per = msgs.len().div_ceil(threads);
    let mut out = vec![[0u8; 64]; msgs.len()];
    std::thread::scope(|scope| {
        for (chunk, sigs) in msgs.chunks(per).zip(out.chunks_mut(per)) {
            scope.spawn(move || {
                for (m, s) in chunk.iter().zip(sigs.iter_mut()) {
                    *s = identity.sign(m);
                }
            });
        }
    });
    out
}

/// The threads [`verify_batch`] uses: the machine's cores, at most 16.
pub fn parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(MAX_THREADS)
}

/// Fewest signatures [`verify_batch`] spreads over threads (fewer cost less than a thread).
pub const PARALLEL_MIN: usize = 64;
/// Most threads [`verify_batch`] uses.
const MAX_THREADS: usize = 16;

/// The certificates a node has verified, by id (bounded; cleared when full).
///
/// A certificate's id covers its issuer's id, so "this certificate's signature verifies
/// under the key of the certificate with id `issuer`" is a fact about the id alone:
/// verifying it once per node is enough.
#[derive(Debug, Clone)]
pub struct CertCache {
    verified: HashSet<CertId>,
    capacity: usize,
    /// Certificate checks answered from the cache.
    pub hits: u64,
    /// The signature verifier.
    pub verifier: Verifier,
}

impl Default for CertCache {
    fn default() -> Self {
        Self::new(Verifier::new())
    }
}

impl CertCache {
    /// Default capacity: 100,000 certificates (about 3 MB).
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// An empty cache.
    pub fn new(verifier: Verifier) -> Self {
        CertCache { verified: HashSet::new(), capacity: Self::DEFAULT_CAPACITY, hits: 0, verifier }
    }

    /// Signature verifications made.
    pub fn verifications(&self) -> u64 {
        self.verifier.verifications
    }

    /// Certificates held.
    pub fn len(&self) -> usize {
        self.verified.len()
    }

    /// `true` if empty.
    pub fn is_empty(&self) -> bool {
        self.verified.is_empty()
    }

    /// Verifies, in parallel, the signatures of every certificate of `chains` not yet in
    /// the cache, and caches those that verify: the batch a new node receives when it
    /// joins (thousands of membership records) then costs its signatures spread over the
    /// cores instead of one by one. Only signatures are checked here; [`Chain::verify`]
    /// still checks every rule, and answers the signatures from the cache. A certificate
    /// is taken only where it links to the one before it (`issuer` = the previous
    /// certificate's id), so the cached fact "verifies under its issuer's key" is exact.
    /// With a memoising [`Verifier`] (simulation) it does nothing.
    pub fn prewarm<'a>(&mut self, chains: impl IntoIterator<Item = &'a Chain>) {
        if self.verifier.memo.is_some() {
            return;
        }
        let mut seen = HashSet::new();
        let mut ids = Vec::new();
        let mut items = Vec::new();
        for chain in chains {
            let Some(root) = chain.certs.first() else { continue };
            for (index, cert) in chain.certs.iter().enumerate() {
                let issuer_key = if index == 0 {
                    &root.group_key
                } else {
                    let parent = &chain.certs[index - 1];
                    if cert.issuer != parent.id {
                        break;
                    }
                    &parent.subject_key
                };
                if self.verified.contains(&cert.id) || !seen.insert(cert.id) {
                    continue;
                }
                ids.push(cert.id);
                items.push((*issuer_key, cert.signed_bytes(), cert.signature));
            }
        }
        if items.is_empty() {
            return;
        }
        self.verifier.verifications += items.len() as u64;
        for (id, ok) in ids.into_iter().zip(verify_batch(&items)) {
            if ok {
                if self.verified.len() >= self.capacity {
                    self.verified.clear();
                }
                self.verified.insert(id);
            }
        }
    }

    fn check(&mut self, cert: &Cert, issuer_key: &[u8; 32]) -> bool {
        if self.verified.contains(&cert.id) {
            self.hits += 1;
            return true;
        }
        let ok = self.verifier.verify(issuer_key, &cert.signed_bytes(), &cert.signature);
        if ok {
            if self.verified.len() >= self.capacity {
                self.verified.clear();
            }
            self.verified.insert(cert.id);
        }
        ok
    }
}
