//! Set reconciliation whose cost is proportional to the difference, not to the set size.
//!
//! Two replicas each hold a set of items named by 32-byte [`Digest`]s. A [`Session`] on
//! each side exchanges a few messages and ends with the symmetric difference split by side
//! ([`Outcome`]): the digests this side has and the peer lacks, and the digests the peer
//! has and this side lacks. The graph layer then transfers those records. This crate is
//! sans-IO — bytes in, bytes out, no clock, no randomness of its own — and is specified in
//! `proto-specs/reconcile.md`, which an independent implementation can follow alone.
//!
//! # The algorithm
//!
//! **Keys.** Each attempt has a 16-byte salt chosen by the initiator. Every digest is
//! hashed with SipHash-2-4-128 under the salt into a 64-bit *key* and a 64-bit *term*. The
//! coded symbols carry keys, not digests, which makes them 17 bytes instead of 41; the sum
//! of all terms is the set's *fingerprint*. Two digests may share a key (probability about
//! `n²/2^65`): on the same side this is seen at once and a new salt is used; across sides
//! the two items cancel out of the coded symbols and go unseen — but the final fingerprint
//! check (`fingerprint(A) − Σ A-only terms = fingerprint(B) − Σ B-only terms`, both being
//! the fingerprint of the intersection) fails, and the session restarts with a new salt.
//!
//! **Rateless IBLT** (Yang, Gilad and Alizadeh, SIGCOMM 2024). A coded symbol is the XOR
//! of the keys mapped to it, the XOR of their checksums, and their count mod 256: 17 bytes.
//! Every item maps to symbol 0 and then to a sparse pseudo-random sequence of later
//! symbols, with density about `1/(1 + i/2)` at index `i`, drawn by skip sampling from the
//! key (spec §4.2). Subtracting the peer's symbols from ours gives the symbols of the
//! symmetric difference; a symbol holding one item is *pure* and peels off, uncovering
//! more. A difference of `d` items decodes from about `1.38·d` symbols for large `d` (about
//! `1.5–2.6·d` for a few dozen), whatever the set sizes, and any prefix of the endless
//! symbol stream is usable. The encoder remembers where each item's sequence stands, so
//! the first `m` symbols of an `n`-item set cost `O(n log m)` however they are batched.
//!
//! **Flights.**
//! 1. The initiator's `Hello` carries its set size, fingerprint, a 512-byte *difference
//!    sketch* and the first 24 coded symbols (the *probe*): about 960 bytes. A set of at
//!    most 115 items sends its keys instead.
//! 2. The responder subtracts its own first 24 symbols. If the probe decodes (a difference
//!    of up to ~9 items does, 95% of the time), it replies at once with `Decoded`: the keys
//!    of the initiator's items it lacks and the digests of its own items the initiator
//!    lacks. Otherwise it estimates `d` from the two sketches (16 levels of 256 one-bit
//!    parity buckets; a maximum-likelihood estimate within about 8%) and sends
//!    `1.6·d̂ + 32` of its own symbols, in as many messages as the size limit needs, all at
//!    once (pipelined). When a whole key list is cheaper (the difference is a large part
//!    of a set) it sends its keys, or asks for the initiator's.
//! 3. The initiator decodes. If the symbols fell short (about 2% of sessions) it asks for
//!    half as many again; otherwise it sends `Decoded`.
//! 4. The side that received `Decoded` maps the keys to its digests, checks the
//!    fingerprints and answers with those digests; the decoder checks that they hash to the
//!    keys it asked for, and the fingerprints again.
//!
//! So identical sets cost one round trip and under a kilobyte, a difference of 1 costs 1.5
//! round trips and about a kilobyte, and a large difference two round trips (three when the
//! estimate fell short) and about 64 bytes per differing item: 1.62 symbols (27.5 bytes),
//! the digest itself in one direction (32) and a key for half of them (4). Measured figures
//! are in `proto-specs/reconcile.md` §9.
//!
//! # Design decisions
//! * **Keys, not digests, in symbols.** A 32-byte sum would make symbols 41 bytes and
//!   spare the final exchange of digests, but the digests of differing items have to cross
//!   once anyway (the peer needs them), so 8-byte keys plus that exchange cost less
//!   (~64 instead of ~86 bytes per item) at the price of half a round trip when the
//!   decoder lacks some of the confirmer's digests.
//! * **A sketch instead of doubling.** Without an estimate, a rateless stream either costs
//!   a round trip per doubling or over-sends; 512 bytes of sketch let one batch, sized to
//!   the estimate, succeed ~98% of the time.
//! * **A probe in the `Hello`.** 408 bytes settle small differences (the common case of a
//!   reconnect) within the first round trip.
//! * **Count modulo 256.** Purity needs the count only to be ±1, which is unambiguous mod
//!   256 (the checksum rejects the rest), so one byte is enough.
//! * **A checked, restartable protocol** instead of wider keys: 64-bit keys collide rarely
//!   (`~n²/2^64`), the fingerprint check catches every consequence, and a restart costs
//!   one more exchange in those rare cases.
//!
//! # Limits
//! Every message is at most the smaller of both sides' [`Config::max_message_bytes`] (60 KiB
//! by default; the `Hello` at most [`MIN_MESSAGE_BYTES`]). Decoding refuses longer input
//! before parsing it, every list is announced by a count that is checked against the
//! state (set sizes, [`Config::max_symbols`], [`Config::max_set_len`]), and nothing
//! reachable from input panics.
//!
//! # Use
//! See [`Session`] for the driver contract and an example, and `bench::drive` (feature
//! `sim`) for an in-memory driver.
//!
//! # Features
//!
//! | Feature | Default | What it adds | What it pulls in |
//! |---|---|---|---|
//! | `sim` | no | `bench`: the in-memory driver of two sessions and the sync benchmark behind `p2p sim sync` (it reads the wall clock) | nothing more |
//!
//! The crate has no driver of its own, so no `net` feature: the graph layer carries its
//! messages. Without features it is the sans-IO protocol alone (serde, postcard,
//! thiserror). An application never needs `sim`; the tests, the benchmarks and `p2p sim`
//! turn it on.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "sim")]
pub mod bench;
mod config;
mod digest;
mod error;
mod hash;
mod mapping;
pub mod message;
mod plan;
mod riblt;
mod session;
mod sketch;
mod table;

#[doc(hidden)]
pub use config::TestHooks;
pub use config::{Config, MAX_MESSAGE_BYTES, MIN_MESSAGE_BYTES};
pub use digest::{Digest, DigestSet};
pub use error::Error;
pub use session::{Outcome, Role, Session, Stats};

/// Spec-level primitives, exposed so tests can check them against the test vectors of
/// `proto-specs/reconcile.md`. Not needed to use a [`Session`].
#[doc(hidden)]
pub mod spec {
    use crate::mapping::IndexMapping;
    use crate::riblt::Encoder;

    /// `(key, term)` of a digest under a salt (§3.1).
    pub fn item_hash(salt: &[u8; 16], digest: &[u8; 32]) -> (u64, u64) {
        let h = crate::hash::ItemHash::of(salt, digest);
        (h.key, h.term)
    }

    /// The checksum of a key (§3.2).
    pub fn checksum(key: u64) -> u64 {
        crate::hash::checksum(key)
    }

    /// The first `count` indices a key maps to (§4.2), stopping early if it is exhausted.
    pub fn indices(key: u64, count: usize) -> Vec<u64> {
        let mut m = IndexMapping::new(key);
        let mut out = Vec::new();
        while out.len() < count && m.index() != crate::mapping::EXHAUSTED {
            out.push(m.index());
            m.advance();
        }
        out
    }

    /// The first `count` coded symbols of a set of keys, encoded as on the wire (§4.1).
    pub fn symbols(keys: &[u64], count: usize) -> Vec<u8> {
        let mut e = Encoder::new(keys.iter().copied());
        e.produce(count)
            .into_iter()
            .flat_map(|c| {
                let mut b = Vec::with_capacity(17);
                b.extend_from_slice(&c.sum.to_be_bytes());
                b.extend_from_slice(&c.checksum.to_be_bytes());
                b.push(c.count);
                b
            })
            .collect()
    }

    /// The encoded difference sketch of a set of digests under a salt (§5.1).
    pub fn sketch(salt: &[u8; 16], digests: &[[u8; 32]]) -> Vec<u8> {
        let mut s = crate::sketch::Sketch::default();
        for d in digests {
            s.toggle(crate::hash::ItemHash::of(salt, d).term);
        }
        s.as_bytes().to_vec()
    }
}
