//! Ed25519 signature verification, alone or in batches, by one rule (identity.md §1.1).
//!
//! Every signature in the stack is checked by ZIP-215's rules: `s` MUST be canonical
//! (below the group order ℓ), `A` and `R` MUST decode to curve points (non-canonical
//! encodings of `y` are accepted), and the **cofactored** equation
//! `[8][s]B = [8]R + [8][k]A` with `k = SHA-512(R ‖ A ‖ M)` over the bytes as sent MUST
//! hold. Unlike the cofactorless check (ring's, RFC 8032 §5.1.7 without the factor 8),
//! this rule gives the same verdict whether a signature is checked alone or in a batch, so
//! two peers that verify the same record differently can never disagree about it.
//!
//! A batch ([`verify_signatures`]) is checked with one multi-scalar multiplication; the
//! terms of one signer are coalesced, so a batch from one publisher costs about a fifth of
//! checking its signatures one by one. A batch that fails is checked again one by one, so
//! every verdict is exactly [`verify_signature`]'s.

use ed25519_zebra::batch::{Item, Verifier};
use ed25519_zebra::{Signature, VerificationKey, VerificationKeyBytes};
use rand_core_06::{CryptoRng, RngCore};
use ring::rand::{SecureRandom, SystemRandom};

/// Verifies an Ed25519 signature by a raw public key (ZIP-215's rules, see the module
/// documentation).
pub fn verify_signature(public_key: &[u8; 32], msg: &[u8], signature: &[u8; 64]) -> bool {
    VerificationKey::try_from(*public_key)
        .and_then(|key| key.verify(&Signature::from_bytes(signature), msg))
        .is_ok()
}

/// Verifies many signatures `(public key, message, signature)` at once; one verdict per
/// item, in order, each exactly what [`verify_signature`] gives for it.
///
/// Fewer than [`BATCH_MIN`] items are checked one by one. The batch's random coefficients
/// come from the operating system, so a signer cannot choose signatures that pass only in
/// a batch.
pub fn verify_signatures<M: AsRef<[u8]>>(items: &[([u8; 32], M, [u8; 64])]) -> Vec<bool> {
    if items.len() < BATCH_MIN {
        return items
            .iter()
            .map(|(key, msg, sig)| verify_signature(key, msg.as_ref(), sig))
            .collect();
    }
    let queued: Vec<Item> = items
        .iter()
        .map(|(key, msg, sig)| {
            Item::from((VerificationKeyBytes::from(*key), Signature::from_bytes(sig), msg.as_ref()))
        })
        .collect();
    let mut batch = Verifier::new();
    for item in &queued {
        batch.queue(item.clone());
    }
    let mut coefficients = OsCoefficients::new();
    let passed = batch.verify(&mut coefficients).is_ok();
    if passed && !coefficients.failed {
        vec![true; items.len()]
    } else {
        // Some signature is bad, or the coefficients were not random (the system
        // generator failed, so the batch proves nothing): check each one alone.
        queued.into_iter().map(|item| item.verify_single().is_ok()).collect()
    }
}

/// Fewest signatures [`verify_signatures`] checks as a batch (below it, one by one costs
/// about the same).
pub const BATCH_MIN: usize = 4;

/// The batch verifier's random 128-bit coefficients, from the operating system's
/// generator, fetched [`OsCoefficients::CHUNK`] bytes at a time.
///
/// If the system generator fails, `failed` is set and the batch's verdict is not used.
struct OsCoefficients {
    rng: SystemRandom,
    buf: [u8; Self::CHUNK],
    used: usize,
    failed: bool,
}

impl OsCoefficients {
    const CHUNK: usize = 1024;

    fn new() -> Self {
        Self { rng: SystemRandom::new(), buf: [0; Self::CHUNK], used: Self::CHUNK, failed: false }
    }
}

impl RngCore for OsCoefficients {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest {
            if self.used == Self::CHUNK {
                if self.rng.fill(&mut self.buf).is_err() {
                    self.failed = true;
                }
                self.used = 0;
            }
            *byte = self.buf[self.used];
            self.used += 1;
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core_06::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for OsCoefficients {}

#[cfg(test)]
mod tests {
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
    use curve25519_dalek::scalar::Scalar;
    use sha2::{Digest, Sha512};

    use super::*;
    use crate::Identity;

    fn signed(n: usize) -> Vec<([u8; 32], Vec<u8>, [u8; 64])> {
        let ids: Vec<Identity> =
            (0..3u8).map(|i| Identity::from_seed([i + 1; 32], "batch", "").unwrap()).collect();
        (0..n)
            .map(|i| {
                let id = &ids[i % 3];
                let msg = format!("record {i}").into_bytes();
                (id.public_key(), msg.clone(), id.sign(&msg))
            })
            .collect()
    }

    #[test]
    fn a_batch_gives_each_signature_its_own_verdict() {
        for n in [0, 1, BATCH_MIN - 1, BATCH_MIN, 64, 257] {
            let mut items = signed(n);
            assert_eq!(verify_signatures(&items), vec![true; n], "{n} good signatures");
            if n == 0 {
                continue;
            }
            // One bad signature, one wrong message and one wrong key: only they fail.
            let bad = [0, n / 2, n - 1];
            items[bad[0]].2[5] ^= 1;
            items[bad[1]].1.push(b'!');
            items[bad[2]].0 = Identity::from_seed([9; 32], "x", "").unwrap().public_key();
            let want: Vec<bool> = (0..n).map(|i| !bad.contains(&i)).collect();
            assert_eq!(verify_signatures(&items), want, "{n} signatures, some bad");
            let alone: Vec<bool> =
                items.iter().map(|(k, m, s)| verify_signature(k, m, s)).collect();
            assert_eq!(alone, want);
        }
    }

    /// The signature of `msg` by `seed` whose `R` carries an 8-torsion component: valid by
    /// the cofactored rule (identity.md §1.1), refused by a cofactorless check.
    pub(crate) fn torsion_signature(seed: &[u8; 32], msg: &[u8]) -> ([u8; 32], [u8; 64]) {
        let h = Sha512::digest(seed);
        let mut a_bytes = [0u8; 32];
        a_bytes.copy_from_slice(&h[..32]);
        a_bytes[0] &= 248;
        a_bytes[31] &= 127;
        a_bytes[31] |= 64;
        let a = Scalar::from_bytes_mod_order(a_bytes);
        let public = (ED25519_BASEPOINT_POINT * a).compress().to_bytes();
        let r = Scalar::from_hash(Sha512::new().chain_update(&h[32..]).chain_update(msg));
        let big_r = (ED25519_BASEPOINT_POINT * r + EIGHT_TORSION[1]).compress().to_bytes();
        let k = Scalar::from_hash(
            Sha512::new().chain_update(big_r).chain_update(public).chain_update(msg),
        );
        let s = r + k * a;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&big_r);
        sig[32..].copy_from_slice(s.as_bytes());
        (public, sig)
    }

    #[test]
    fn a_signature_with_a_torsion_component_verifies_alone_and_in_a_batch() {
        let seed = [7u8; 32];
        let msg = b"peergroup: a cofactored check";
        let (public, sig) = torsion_signature(&seed, msg);
        assert_eq!(public, Identity::from_seed(seed, "t", "").unwrap().public_key());
        // ring's cofactorless check refuses it; the rule of identity.md §1.1 accepts it,
        // alone and in a batch: one verdict either way.
        assert!(
            ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, &public)
                .verify(msg, &sig)
                .is_err()
        );
        assert!(verify_signature(&public, msg, &sig));
        let mut items = signed(16);
        items[3] = (public, msg.to_vec(), sig);
        assert_eq!(verify_signatures(&items), vec![true; 16]);
    }

    #[test]
    fn a_non_canonical_s_is_refused() {
        /// ℓ, the order of the base point, little-endian.
        const ELL: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut items = signed(8);
        // s + ℓ: the same value modulo ℓ, but not canonical (s < ℓ < 2²⁵³, so it fits).
        let mut carry = 0u16;
        for (byte, l) in items[2].2[32..].iter_mut().zip(ELL) {
            let v = u16::from(*byte) + u16::from(l) + carry;
            *byte = v as u8;
            carry = v >> 8;
        }
        assert_eq!(carry, 0);
        let verdicts = verify_signatures(&items);
        let want: Vec<bool> = (0..8).map(|i| i != 2).collect();
        assert_eq!(verdicts, want);
    }
}
