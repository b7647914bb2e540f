//! The wire messages (`proto-specs/reconcile.md` §7) and their bounded decoding.
//!
//! Every message is one postcard-encoded [`Message`]. Fixed-width integers that are
//! random-looking (keys, key sums, checksums, fingerprints) travel as big-endian byte
//! arrays; counts and indices as postcard varints. [`Message::decode`] refuses input longer
//! than the receiver's limit before parsing, and bytes left over after the message; every
//! list is bounded by the message length (each element takes at least one byte), and the
//! session checks every count against its state and limits.
//!
//! These types are the version-1 wire format itself, so they are not `#[non_exhaustive]`:
//! a change here is a new protocol version.

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use crate::digest::Digest;
use crate::error::Error;
use crate::riblt::Cell;

/// The protocol version of this implementation (`Hello::version`).
pub const PROTOCOL_VERSION: u8 = 1;

/// Encoded size of one [`Symbol`].
pub const SYMBOL_BYTES: usize = 17;
/// Encoded size of one [`Key`].
pub const KEY_BYTES: usize = 8;
/// Encoded size of one [`Digest`].
pub const DIGEST_BYTES: usize = 32;
/// Upper bound on the bytes a list message spends besides its elements: the variant index,
/// a start index (varint, ≤ 10 bytes) and the list length (varint, ≤ 5 bytes).
pub(crate) const LIST_OVERHEAD: usize = 16;

/// One reconciliation message (§7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Initiator → responder: opens an attempt (§7.1).
    Hello(Hello),
    /// Responder → initiator: the responder's parameters, first message of its first
    /// flight (§7.2).
    Reply(Reply),
    /// Responder → initiator: a key collision or a failed fingerprint check; send a new
    /// `Hello` with a fresh salt (§8.3).
    Restart,
    /// `count` coded symbols of the sender's set follow in [`Message::Symbols`] messages,
    /// continuing at the next index (§7.3).
    SymbolsFollow {
        /// Number of symbols announced (≥ 1).
        count: u64,
    },
    /// The sender's whole key list follows in [`Message::Keys`] messages, ascending
    /// (§7.4). `count` equals the sender's announced set size.
    KeysFollow {
        /// Number of keys announced.
        count: u64,
    },
    /// Initiator → responder: the symbols so far did not decode; send `count` more (§7.5).
    RequestSymbols {
        /// Number of further symbols asked for (≥ 1).
        count: u64,
    },
    /// Asks the peer for its whole key list (§7.5).
    RequestKeys,
    /// The sender decoded the difference (§7.6). `yours` keys of the receiver's items
    /// that the sender lacks follow in [`Message::Keys`] messages (ascending), then `mine`
    /// digests of the sender's items that the receiver lacks in [`Message::Digests`]
    /// messages (ascending).
    Decoded {
        /// Items the receiver has and the sender lacks.
        yours: u64,
        /// Items the sender has and the receiver lacks.
        mine: u64,
    },
    /// A batch of coded symbols with consecutive indices starting at `first`.
    Symbols {
        /// Index of the first symbol.
        first: u64,
        /// The symbols (≥ 1).
        symbols: Vec<Symbol>,
    },
    /// A batch of keys (≥ 1).
    Keys(Vec<Key>),
    /// A batch of digests (≥ 1).
    Digests(Vec<Digest>),
}

/// The first message of an attempt (§7.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Protocol version, [`PROTOCOL_VERSION`].
    pub version: u8,
    /// Attempt number, increasing with every restart of the session.
    pub attempt: u8,
    /// The SipHash key for this attempt (§3.1).
    pub salt: [u8; 16],
    /// Largest message the initiator accepts.
    pub max_message_bytes: u32,
    /// Size of the initiator's set.
    pub items: u64,
    /// The initiator's set fingerprint (§3.3).
    pub fingerprint: Fingerprint,
    /// What the initiator leads with.
    pub opening: Opening,
}

/// How the initiator opens (§7.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Opening {
    /// A difference sketch (§5) and the first coded symbols (indices `0..`) of the set.
    Sketch {
        /// The encoded sketch, exactly 512 bytes.
        sketch: ByteBuf,
        /// The probe: symbols `0 .. probe.len()`.
        probe: Vec<Symbol>,
    },
    /// The whole key list, ascending (for small sets); its length equals `items`.
    Keys(Vec<Key>),
}

/// The responder's parameters (§7.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// Largest message the responder accepts.
    pub max_message_bytes: u32,
    /// Size of the responder's set.
    pub items: u64,
    /// The responder's set fingerprint.
    pub fingerprint: Fingerprint,
}

/// A set fingerprint on the wire: the 64-bit sum, big-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint(pub [u8; 8]);

impl From<u64> for Fingerprint {
    fn from(v: u64) -> Self {
        Self(v.to_be_bytes())
    }
}

impl From<Fingerprint> for u64 {
    fn from(f: Fingerprint) -> Self {
        u64::from_be_bytes(f.0)
    }
}

/// A 64-bit item key on the wire, big-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key(pub [u8; 8]);

impl From<u64> for Key {
    fn from(v: u64) -> Self {
        Self(v.to_be_bytes())
    }
}

impl From<Key> for u64 {
    fn from(k: Key) -> Self {
        u64::from_be_bytes(k.0)
    }
}

/// One coded symbol on the wire (§4.1): key sum, checksum sum (both big-endian) and the
/// count modulo 256.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Symbol {
    /// XOR of the keys mapped to the symbol.
    pub sum: [u8; 8],
    /// XOR of the checksums of those keys.
    pub checksum: [u8; 8],
    /// Number of those keys, modulo 256.
    pub count: u8,
}

impl From<Cell> for Symbol {
    fn from(c: Cell) -> Self {
        Self { sum: c.sum.to_be_bytes(), checksum: c.checksum.to_be_bytes(), count: c.count }
    }
}

impl From<Symbol> for Cell {
    fn from(s: Symbol) -> Self {
        Self {
            sum: u64::from_be_bytes(s.sum),
            checksum: u64::from_be_bytes(s.checksum),
            count: s.count,
        }
    }
}

impl Message {
    /// Encodes the message (postcard).
    pub fn encode(&self) -> Vec<u8> {
        // Invariant: serialising these plain structs into a Vec cannot fail (postcard only
        // fails on sequences of unknown length or a full fixed-size buffer).
        #[allow(clippy::expect_used)] // the invariant above
        let bytes =
            postcard::to_stdvec(self).expect("postcard serialisation into a Vec cannot fail");
        bytes
    }

    /// Decodes one message, refusing input longer than `max_len` before parsing it and
    /// bytes left over after it.
    ///
    /// # Errors
    /// [`Error::MessageTooLarge`], [`Error::Malformed`] or [`Error::TrailingBytes`].
    pub fn decode(bytes: &[u8], max_len: usize) -> Result<Self, Error> {
        if bytes.len() > max_len {
            return Err(Error::MessageTooLarge { len: bytes.len(), max: max_len });
        }
        let (msg, rest) = postcard::take_from_bytes::<Message>(bytes)
            .map_err(|e| Error::Malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(Error::TrailingBytes(rest.len()));
        }
        Ok(msg)
    }

    /// The message's name, for errors and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Hello(_) => "Hello",
            Self::Reply(_) => "Reply",
            Self::Restart => "Restart",
            Self::SymbolsFollow { .. } => "SymbolsFollow",
            Self::KeysFollow { .. } => "KeysFollow",
            Self::RequestSymbols { .. } => "RequestSymbols",
            Self::RequestKeys => "RequestKeys",
            Self::Decoded { .. } => "Decoded",
            Self::Symbols { .. } => "Symbols",
            Self::Keys(_) => "Keys",
            Self::Digests(_) => "Digests",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_sizes_are_fixed() {
        let s = Message::Symbols {
            first: 0,
            symbols: vec![Symbol { sum: [1; 8], checksum: [2; 8], count: 3 }; 10],
        };
        assert_eq!(s.encode().len(), 1 + 1 + 1 + 10 * SYMBOL_BYTES);
        assert_eq!(Message::Keys(vec![Key([7; 8]); 5]).encode().len(), 2 + 5 * KEY_BYTES);
        assert_eq!(
            Message::Digests(vec![Digest::new([9; 32]); 3]).encode().len(),
            2 + 3 * DIGEST_BYTES
        );
    }

    #[test]
    fn decode_refuses_oversize_and_trailing() {
        let m = Message::RequestKeys.encode();
        assert_eq!(Message::decode(&m, 10).unwrap(), Message::RequestKeys);
        let mut longer = m.clone();
        longer.push(0);
        assert_eq!(Message::decode(&longer, 10), Err(Error::TrailingBytes(1)));
        assert!(matches!(Message::decode(&[0; 11], 10), Err(Error::MessageTooLarge { .. })));
        assert!(matches!(Message::decode(&[], 10), Err(Error::Malformed(_))));
        assert!(matches!(Message::decode(&[200], 10), Err(Error::Malformed(_))));
    }

    #[test]
    fn huge_declared_lengths_fail_cleanly() {
        // Keys with a declared length of 2^32 - 1 and no elements.
        let bytes = [9, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(matches!(Message::decode(&bytes, 100), Err(Error::Malformed(_))));
    }
}
