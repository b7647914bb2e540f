//! Peer names: `authority.classifier` (`proto-specs/identity.md` §2).
//!
//! * The **authority** is either `0` (an *unsecured* name: anyone may use it, it proves
//!   nothing) or 40 lowercase hex digits: the first 20 bytes of SHA-256 over the owner's
//!   public key as a DER `SubjectPublicKeyInfo` (a *secure* name).
//! * The **classifier** is 1..=149 Unicode scalar values after NFC normalisation, with no
//!   NUL or other control character. It is case-sensitive and may contain dots; the name
//!   splits at its first dot.
//!
//! A [`PeerName`] value is always valid: the only ways to get one are [`PeerName::parse`]
//! (and `FromStr`/serde, which call it) and constructors that take already-valid parts.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use unicode_normalization::UnicodeNormalization;

use crate::id::Authority;

/// Maximum classifier length in Unicode scalar values, after NFC normalisation
/// ([MS-PNRP] 2.2.4: 149 characters plus a terminator).
pub const MAX_CLASSIFIER_CHARS: usize = 149;

/// Longest input [`PeerName::parse`] and [`Classifier::new`] look at, in bytes. A valid name
/// is at most 41 + 149 × 4 = 637 bytes in NFC; the headroom allows decomposed (non-NFC)
/// input. Longer input is refused before any normalisation work.
pub const MAX_NAME_INPUT_BYTES: usize = 2048;

/// Why a string is not a valid peer name or classifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The input was empty.
    #[error("peer name is empty")]
    Empty,
    /// The input is longer than [`MAX_NAME_INPUT_BYTES`].
    #[error("peer name input is {len} bytes, more than the {MAX_NAME_INPUT_BYTES} accepted")]
    InputTooLong {
        /// Input length in bytes.
        len: usize,
    },
    /// No `.` separates authority and classifier.
    #[error(
        "peer name has no '.' between authority and classifier (expected authority.classifier)"
    )]
    MissingDot,
    /// The authority is not `0` and not 40 lowercase hex digits.
    #[error("bad authority {authority:?}: {reason}")]
    BadAuthority {
        /// The authority as given (truncated to 64 bytes).
        authority: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// The classifier is empty.
    #[error("classifier is empty (it needs 1 to {MAX_CLASSIFIER_CHARS} characters)")]
    EmptyClassifier,
    /// The classifier has more than [`MAX_CLASSIFIER_CHARS`] characters.
    #[error("classifier has {chars} characters, more than the {MAX_CLASSIFIER_CHARS} allowed")]
    ClassifierTooLong {
        /// Length in Unicode scalar values after NFC normalisation.
        chars: usize,
    },
    /// The classifier contains NUL or another control character.
    #[error("classifier contains control character U+{code:04X} at character {position}")]
    ControlCharacter {
        /// The offending code point.
        code: u32,
        /// Its 0-based position in the (normalised) classifier, in characters.
        position: usize,
    },
    /// An encoded name (on the wire, in a certificate or in signed bytes) whose classifier
    /// is not in NFC. Encoded forms carry the one NFC spelling (`identity.md` §2); only text
    /// typed by a user is normalised.
    #[error("peer name is not in NFC (encoded names must be normalised)")]
    NotNormalized,
}

/// A classifier: 1..=149 Unicode scalar values in NFC, no control characters.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Classifier(String);

impl Classifier {
    /// Validates and NFC-normalises a classifier.
    pub fn new(s: &str) -> Result<Self, NameError> {
        if s.len() > MAX_NAME_INPUT_BYTES {
            return Err(NameError::InputTooLong { len: s.len() });
        }
        if s.is_empty() {
            return Err(NameError::EmptyClassifier);
        }
        // ASCII is its own NFC: skip the normaliser (the common case, and a hot path of
        // every record and certificate decode).
        let normalised: String = if s.is_ascii() { s.to_owned() } else { s.nfc().collect() };
        let mut chars = 0usize;
        for (position, c) in normalised.chars().enumerate() {
            if c.is_control() {
                return Err(NameError::ControlCharacter { code: c as u32, position });
            }
            chars += 1;
        }
        if chars > MAX_CLASSIFIER_CHARS {
            return Err(NameError::ClassifierTooLong { chars });
        }
        Ok(Classifier(normalised))
    }

    /// The classifier text (NFC).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Classifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Classifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A peer name `authority.classifier`; always valid.
///
/// ```
/// use peergroup_base::PeerName;
/// let name: PeerName = "0.MyApplication".parse()?;
/// assert!(!name.is_secure());
/// assert_eq!(name.classifier().as_str(), "MyApplication");
/// # Ok::<(), peergroup_base::NameError>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerName {
    authority: Authority,
    classifier: Classifier,
}

impl PeerName {
    /// Parses `authority.classifier`, normalising the classifier to NFC.
    pub fn parse(s: &str) -> Result<Self, NameError> {
        if s.len() > MAX_NAME_INPUT_BYTES {
            return Err(NameError::InputTooLong { len: s.len() });
        }
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        let (authority, classifier) = s.split_once('.').ok_or(NameError::MissingDot)?;
        let authority = Authority::parse(authority)?;
        let classifier = Classifier::new(classifier)?;
        Ok(PeerName { authority, classifier })
    }

    /// Parses the encoded form of a name (wire, certificates, signed bytes): like
    /// [`parse`](Self::parse), but a classifier that is not already in NFC is refused with
    /// [`NameError::NotNormalized`] instead of normalised, so that signed bytes and the
    /// name they carry always agree (`identity.md` §2).
    pub fn parse_encoded(s: &str) -> Result<Self, NameError> {
        let name = PeerName::parse(s)?;
        // The authority part is already canonical (lowercase hex or `0`), so the text form
        // equals the input exactly when the classifier was in NFC.
        if name.to_string() != s {
            return Err(NameError::NotNormalized);
        }
        Ok(name)
    }

    /// A name from valid parts.
    pub fn new(authority: Authority, classifier: Classifier) -> Self {
        PeerName { authority, classifier }
    }

    /// The authority part.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The classifier part.
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    /// `true` for a secure name (authority bound to a key), `false` for `0.…`.
    pub fn is_secure(&self) -> bool {
        self.authority.is_secure()
    }

    /// The P2P ID of this name ([`crate::P2pId::of`]).
    pub fn p2p_id(&self) -> crate::P2pId {
        crate::P2pId::of(self)
    }
}

impl fmt::Display for PeerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.authority, self.classifier)
    }
}

impl fmt::Debug for PeerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerName({self})")
    }
}

impl FromStr for PeerName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        PeerName::parse(s)
    }
}

impl Serialize for PeerName {
    /// On the wire a peer name is its text form (`proto-specs/wire.md` §3).
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PeerName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        PeerName::parse_encoded(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "6520c005a1b2c3d4e5f60718293a4b5c6d7e8f90";

    #[test]
    fn parses_secure_and_unsecured() {
        let n = PeerName::parse(&format!("{A}.JohnDoe")).unwrap();
        assert!(n.is_secure());
        assert_eq!(n.to_string(), format!("{A}.JohnDoe"));
        let u = PeerName::parse("0.MyApplication").unwrap();
        assert!(!u.is_secure());
        // the name splits at the first dot; the classifier may contain dots
        let d = PeerName::parse("0.a.b.c").unwrap();
        assert_eq!(d.classifier().as_str(), "a.b.c");
    }

    #[test]
    fn names_the_broken_rule() {
        assert_eq!(PeerName::parse(""), Err(NameError::Empty));
        assert_eq!(PeerName::parse("0"), Err(NameError::MissingDot));
        assert_eq!(PeerName::parse("0."), Err(NameError::EmptyClassifier));
        assert!(matches!(
            PeerName::parse(&format!("{}.x", A.to_uppercase())),
            Err(NameError::BadAuthority { reason, .. }) if reason.contains("lowercase")
        ));
        assert!(matches!(PeerName::parse("abc.x"), Err(NameError::BadAuthority { .. })));
        assert!(matches!(PeerName::parse(".x"), Err(NameError::BadAuthority { .. })));
        assert_eq!(
            PeerName::parse(&format!("0.{}", "x".repeat(150))),
            Err(NameError::ClassifierTooLong { chars: 150 })
        );
        assert!(PeerName::parse(&format!("0.{}", "é".repeat(149))).is_ok());
        assert_eq!(
            PeerName::parse("0.a\u{0}b"),
            Err(NameError::ControlCharacter { code: 0, position: 1 })
        );
        assert!(matches!(
            PeerName::parse(&"x".repeat(5000)),
            Err(NameError::InputTooLong { len: 5000 })
        ));
    }

    #[test]
    fn normalises_to_nfc() {
        let composed = PeerName::parse("0.caf\u{e9}").unwrap();
        let decomposed = PeerName::parse("0.cafe\u{301}").unwrap();
        assert_eq!(composed, decomposed);
        assert_eq!(composed.p2p_id(), decomposed.p2p_id());
    }

    #[test]
    fn serde_round_trip_validates() {
        let n = PeerName::parse("0.hello").unwrap();
        let bytes = postcard::to_allocvec(&n).unwrap();
        assert_eq!(postcard::from_bytes::<PeerName>(&bytes).unwrap(), n);
        let bad = postcard::to_allocvec("0.a\u{7}").unwrap();
        assert!(postcard::from_bytes::<PeerName>(&bad).is_err());
        // an encoded name that is not in NFC is refused, not normalised (wire.md §4)
        let decomposed = postcard::to_allocvec("0.cafe\u{301}").unwrap();
        assert!(postcard::from_bytes::<PeerName>(&decomposed).is_err());
        assert_eq!(PeerName::parse_encoded("0.cafe\u{301}"), Err(NameError::NotNormalized));
        assert!(PeerName::parse_encoded("0.caf\u{e9}").is_ok());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,300}") {
            let _ = PeerName::parse(&s);
        }

        #[test]
        fn display_parse_round_trip(c in "[^\\p{Cc}]{1,149}") {
            if let Ok(n) = PeerName::parse(&format!("0.{c}")) {
                proptest::prop_assert_eq!(PeerName::parse(&n.to_string()).unwrap(), n);
            }
        }
    }
}
