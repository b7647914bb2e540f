//! Identifiers of graphs and records.
//!
//! * [`RecordType`] and [`RecordId`] are 16-byte UUIDs, as in [MS-PPGRH] 2.2.1.9. On the
//!   wire and on disk they are their 16 raw bytes; as text they are the hyphenated
//!   lowercase UUID form (`6c796768-7732-406b-bc6e-5e9c0d864580`), and parsing also accepts
//!   upper case and the Windows `{…}` braces.
//! * [`GraphId`] names a graph (the grouping layer uses the group's peer name). It is not
//!   stored in records; it is bound into every record signature instead
//!   (`proto-specs/graph.md` §2.3), so a record cannot be replayed into another graph.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{GraphError, truncate_for_error};

fn fmt_uuid(bytes: &[u8; 16], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let h = hex::encode(bytes);
    write!(f, "{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

fn parse_uuid(s: &str) -> Result<[u8; 16], GraphError> {
    let bad = || GraphError::InvalidUuid { input: truncate_for_error(s) };
    let inner = match s.strip_prefix('{') {
        Some(rest) => rest.strip_suffix('}').ok_or_else(bad)?,
        None => s,
    };
    let bytes = inner.as_bytes();
    if bytes.len() != 36 {
        return Err(bad());
    }
    let mut hex_digits = [0u8; 32];
    let mut n = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            if b != b'-' {
                return Err(bad());
            }
        } else {
            // 32 non-hyphen positions out of 36: n stays below 32
            hex_digits[n] = b;
            n += 1;
        }
    }
    let mut out = [0u8; 16];
    hex::decode_to_slice(hex_digits, &mut out).map_err(|_| bad())?;
    Ok(out)
}

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
        pub struct $name([u8; 16]);

        impl $name {
            /// The all-zero id.
            pub const NIL: $name = $name([0; 16]);

            /// The id with these 16 bytes (UUID byte order, as written in text form).
            pub const fn from_bytes(bytes: [u8; 16]) -> Self {
                $name(bytes)
            }

            /// The id from a `u128` in big-endian order, so that
            /// `from_u128(0x6c796768_7732_406b_bc6e_5e9c0d864580)` is
            /// `6c796768-7732-406b-bc6e-5e9c0d864580`.
            pub const fn from_u128(v: u128) -> Self {
                $name(v.to_be_bytes())
            }

            /// A random (version 4) UUID from 16 random bytes supplied by the caller: the
            /// version and variant bits are set as RFC 9562 §5.4 requires. Protocol cores
            /// pass bytes from their seeded RNG; drivers from the OS.
            pub const fn random(mut bytes: [u8; 16]) -> Self {
                bytes[6] = (bytes[6] & 0x0f) | 0x40;
                bytes[8] = (bytes[8] & 0x3f) | 0x80;
                $name(bytes)
            }

            /// The 16 bytes.
            pub const fn as_bytes(&self) -> &[u8; 16] {
                &self.0
            }

            /// Parses the hyphenated UUID form, optionally in `{}` braces, either case.
            pub fn parse(s: &str) -> Result<Self, GraphError> {
                parse_uuid(s).map($name)
            }
        }

        impl fmt::Display for $name {
            /// Hyphenated lowercase UUID.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt_uuid(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "("))?;
                fmt_uuid(&self.0, f)?;
                f.write_str(")")
            }
        }

        impl FromStr for $name {
            type Err = GraphError;
            fn from_str(s: &str) -> Result<Self, GraphError> {
                $name::parse(s)
            }
        }
    };
}

uuid_id!(
    /// The type of a record: a UUID chosen by the application (or reserved by a layer).
    RecordType
);

uuid_id!(
    /// The identity of a record within a graph: a UUID, fixed for the record's life.
    RecordId
);

/// Longest graph id in Unicode scalar values ([MS-PPGRH] 2.2.2: 256 characters).
pub const MAX_GRAPH_ID_CHARS: usize = 256;

/// The name of a graph: 1..=256 Unicode scalar values, no control characters.
///
/// Always valid: built only by [`GraphId::new`] (and `FromStr`/serde, which call it).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GraphId(String);

impl GraphId {
    /// Validates a graph id.
    pub fn new(s: &str) -> Result<Self, GraphError> {
        if s.is_empty() {
            return Err(GraphError::InvalidGraphId { reason: "it is empty" });
        }
        if s.len() > MAX_GRAPH_ID_CHARS * 4 || s.chars().count() > MAX_GRAPH_ID_CHARS {
            return Err(GraphError::InvalidGraphId { reason: "it is longer than 256 characters" });
        }
        if s.chars().any(char::is_control) {
            return Err(GraphError::InvalidGraphId { reason: "it contains a control character" });
        }
        Ok(GraphId(s.to_owned()))
    }

    /// The id's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GraphId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for GraphId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GraphId({:?})", self.0)
    }
}

impl FromStr for GraphId {
    type Err = GraphError;
    fn from_str(s: &str) -> Result<Self, GraphError> {
        GraphId::new(s)
    }
}

impl Serialize for GraphId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for GraphId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        GraphId::new(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_text_round_trip() {
        let t = RecordType::from_u128(0x6c796768_7732_406b_bc6e_5e9c0d864580);
        assert_eq!(t.to_string(), "6c796768-7732-406b-bc6e-5e9c0d864580");
        assert_eq!(RecordType::parse("{6C796768-7732-406B-BC6E-5E9C0D864580}").unwrap(), t);
        assert_eq!("6c796768-7732-406b-bc6e-5e9c0d864580".parse::<RecordType>().unwrap(), t);
        for bad in [
            "",
            "6c796768",
            "6c796768-7732-406b-bc6e-5e9c0d86458",
            "{6c796768-7732-406b-bc6e-5e9c0d864580",
            "6c796768_7732-406b-bc6e-5e9c0d864580",
            "gc796768-7732-406b-bc6e-5e9c0d864580",
            "6c796768-7732-406b-bc6e-5e9c0d86458é",
        ] {
            assert!(matches!(RecordId::parse(bad), Err(GraphError::InvalidUuid { .. })), "{bad}");
        }
    }

    #[test]
    fn random_sets_version_and_variant() {
        let id = RecordId::random([0xff; 16]);
        assert_eq!(id.to_string(), "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let id = RecordId::random([0; 16]);
        assert_eq!(id.to_string(), "00000000-0000-4000-8000-000000000000");
    }

    #[test]
    fn graph_id_rules() {
        assert!(GraphId::new("0.MyGraph").is_ok());
        assert!(GraphId::new(&"é".repeat(256)).is_ok());
        assert!(GraphId::new(&"é".repeat(257)).is_err());
        assert!(GraphId::new("").is_err());
        assert!(GraphId::new("a\nb").is_err());
        let g = GraphId::new("g").unwrap();
        let bytes = postcard::to_allocvec(&g).unwrap();
        assert_eq!(bytes, [1, b'g']);
        assert_eq!(postcard::from_bytes::<GraphId>(&bytes).unwrap(), g);
        assert!(postcard::from_bytes::<GraphId>(&[0]).is_err());
    }
}
