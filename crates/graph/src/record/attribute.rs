//! Typed record attributes: the searchable part of a record.
//!
//! An attribute is a name (1..=40 ASCII letters, digits, `_`, `-` or `.`; [MS-PPGRH]
//! 2.2.3.5 allows 40 alphanumerics) and a typed value. A record holds each name at most
//! once, in strictly increasing byte order of the names — the canonical form, so one set
//! of attributes has exactly one encoding.

use std::fmt;

use peergroup_base::UnixTime;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{GraphError, truncate_for_error};

/// Longest attribute name in bytes ([MS-PPGRH] 2.2.3.5).
pub const MAX_ATTRIBUTE_NAME_LEN: usize = 40;

/// A valid attribute name.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttributeName(String);

impl AttributeName {
    /// Validates a name: 1..=40 bytes of ASCII letters, digits, `_`, `-`, `.`.
    pub fn new(name: &str) -> Result<Self, GraphError> {
        check_name(name)?;
        Ok(AttributeName(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `true` for the bytes an attribute name may contain.
pub(crate) fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

fn check_name(name: &str) -> Result<(), GraphError> {
    let bad = |reason| GraphError::InvalidAttributeName { name: truncate_for_error(name), reason };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.len() > MAX_ATTRIBUTE_NAME_LEN {
        return Err(bad("it is longer than 40 characters"));
    }
    if !name.bytes().all(is_name_byte) {
        return Err(bad("only ASCII letters, digits, '_', '-' and '.' are allowed"));
    }
    Ok(())
}

impl fmt::Display for AttributeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AttributeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Serialize for AttributeName {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for AttributeName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        AttributeName::new(&s).map_err(serde::de::Error::custom)
    }
}

/// The value of an attribute. Encoded as a postcard enum: 0 string, 1 int (zigzag varint),
/// 2 date (`UnixTime`, u64 ms varint), 3 bytes.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AttributeValue {
    /// UTF-8 text.
    String(String),
    /// A signed 64-bit integer.
    Int(i64),
    /// A point in time.
    Date(UnixTime),
    /// Opaque bytes.
    Bytes(#[serde(with = "serde_bytes")] Vec<u8>),
}

impl AttributeValue {
    /// The type's name as the search language writes it: `string`, `int`, `date`, `bytes`.
    pub fn type_name(&self) -> &'static str {
        match self {
            AttributeValue::String(_) => "string",
            AttributeValue::Int(_) => "int",
            AttributeValue::Date(_) => "date",
            AttributeValue::Bytes(_) => "bytes",
        }
    }

    /// Bytes the value counts against the attribute size limit: the text or byte length,
    /// 8 for an int or a date.
    pub fn data_len(&self) -> usize {
        match self {
            AttributeValue::String(s) => s.len(),
            AttributeValue::Bytes(b) => b.len(),
            AttributeValue::Int(_) | AttributeValue::Date(_) => 8,
        }
    }
}

impl fmt::Debug for AttributeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttributeValue::String(s) => write!(f, "{s:?}"),
            AttributeValue::Int(i) => write!(f, "{i}"),
            AttributeValue::Date(d) => write!(f, "{d}"),
            AttributeValue::Bytes(b) => write!(f, "0x{}", hex::encode(b)),
        }
    }
}

impl From<&str> for AttributeValue {
    fn from(s: &str) -> Self {
        AttributeValue::String(s.to_owned())
    }
}

impl From<String> for AttributeValue {
    fn from(s: String) -> Self {
        AttributeValue::String(s)
    }
}

impl From<i64> for AttributeValue {
    fn from(i: i64) -> Self {
        AttributeValue::Int(i)
    }
}

impl From<UnixTime> for AttributeValue {
    fn from(t: UnixTime) -> Self {
        AttributeValue::Date(t)
    }
}

impl From<Vec<u8>> for AttributeValue {
    fn from(b: Vec<u8>) -> Self {
        AttributeValue::Bytes(b)
    }
}

/// One attribute: a name and a typed value.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Attribute {
    /// The name.
    pub name: AttributeName,
    /// The value.
    pub value: AttributeValue,
}

impl Attribute {
    /// Bytes the attribute counts against the attribute size limit: name plus
    /// [`AttributeValue::data_len`].
    pub fn size(&self) -> usize {
        self.name.0.len() + self.value.data_len()
    }
}

impl fmt::Debug for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}", self.name, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules() {
        for ok in ["a", "Color", "x-y_z.1", &"n".repeat(40), "2026"] {
            assert!(AttributeName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", &"n".repeat(41), "a b", "é", "a=b", "@id", "a\"b"] {
            assert!(
                matches!(AttributeName::new(bad), Err(GraphError::InvalidAttributeName { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn value_encoding() {
        let enc = |v: &AttributeValue| postcard::to_allocvec(v).unwrap();
        assert_eq!(enc(&AttributeValue::String("hi".into())), [0, 2, b'h', b'i']);
        assert_eq!(enc(&AttributeValue::Int(-1)), [1, 1]);
        assert_eq!(enc(&AttributeValue::Date(UnixTime::from_millis(300))), [2, 0xac, 0x02]);
        assert_eq!(enc(&AttributeValue::Bytes(vec![9])), [3, 1, 9]);
        let bad_name = postcard::to_allocvec(&("a b", AttributeValue::Int(1))).unwrap();
        assert!(postcard::from_bytes::<Attribute>(&bad_name).is_err());
    }
}
