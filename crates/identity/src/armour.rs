//! Text armour shared by the identity info and the identity export
//! (`proto-specs/identity.md` §6.3).
//!
//! ```text
//! -----BEGIN PEERGROUP IDENTITY INFO-----
//! Peer-Name: 3c9f….alice
//! Friendly-Name: Alice's laptop
//!
//! AAEXMk2m…   (standard base64 with padding, 64 columns)
//! -----END PEERGROUP IDENTITY INFO-----
//! ```
//!
//! Lines end with LF; CRLF is accepted. Text before the BEGIN line and after the END line is
//! ignored (so a document pasted into a mail survives). Header lines are `Name: value`;
//! they are informational, and each format says which ones its parser checks against the
//! body. Base64 never contains `:`, so a line with a colon is a header and any other
//! non-empty line is base64.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::IdentityError;

/// Longest document text the parsers accept, in bytes; checked before any other work.
/// The largest valid export is about 2.4 KiB of text.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024;

/// Base64 columns per line.
const COLUMNS: usize = 64;

/// The armoured document kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DocumentKind {
    /// Public identity info (spec §6).
    IdentityInfo,
    /// Password-protected full identity (spec §7).
    IdentityExport,
    /// A group invitation (`proto-specs/group.md` §7), armoured by the grouping layer.
    GroupInvitation,
    /// A password-group invitation (`proto-specs/group.md` §13.2): no credentials, only
    /// the group's name, friendly name and cloud; armoured by the grouping layer.
    GroupPasswordInvitation,
}

impl DocumentKind {
    /// The label between `BEGIN`/`END` and the dashes.
    pub fn label(self) -> &'static str {
        match self {
            DocumentKind::IdentityInfo => "PEERGROUP IDENTITY INFO",
            DocumentKind::IdentityExport => "PEERGROUP IDENTITY",
            DocumentKind::GroupInvitation => "PEERGROUP GROUP INVITATION",
            DocumentKind::GroupPasswordInvitation => "PEERGROUP GROUP PASSWORD INVITATION",
        }
    }

    /// `-----BEGIN <label>-----`.
    pub fn begin_line(self) -> String {
        format!("-----BEGIN {}-----", self.label())
    }

    /// `-----END <label>-----`.
    pub fn end_line(self) -> String {
        format!("-----END {}-----", self.label())
    }

    /// Which kind of document `text` holds: the kind of its first BEGIN line, if any.
    ///
    /// ```
    /// use peergroup_identity::DocumentKind;
    /// let text = "hello\n-----BEGIN PEERGROUP IDENTITY-----\n…";
    /// assert_eq!(DocumentKind::detect(text), Some(DocumentKind::IdentityExport));
    /// assert_eq!(DocumentKind::detect("nothing"), None);
    /// ```
    pub fn detect(text: &str) -> Option<DocumentKind> {
        let text = text.get(..MAX_DOCUMENT_BYTES).unwrap_or(text);
        let info = DocumentKind::IdentityInfo.begin_line();
        let export = DocumentKind::IdentityExport.begin_line();
        let invitation = DocumentKind::GroupInvitation.begin_line();
        let password_invitation = DocumentKind::GroupPasswordInvitation.begin_line();
        text.lines().map(str::trim).find_map(|line| {
            if line == info {
                Some(DocumentKind::IdentityInfo)
            } else if line == export {
                Some(DocumentKind::IdentityExport)
            } else if line == invitation {
                Some(DocumentKind::GroupInvitation)
            } else if line == password_invitation {
                Some(DocumentKind::GroupPasswordInvitation)
            } else {
                None
            }
        })
    }
}

impl fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DocumentKind::IdentityInfo => "identity info",
            DocumentKind::IdentityExport => "identity export",
            DocumentKind::GroupInvitation => "group invitation",
            DocumentKind::GroupPasswordInvitation => "group password invitation",
        })
    }
}

/// A de-armoured document.
#[derive(Debug)]
pub(crate) struct Armoured {
    /// `(name, value)` header pairs in order, both trimmed.
    pub(crate) headers: Vec<(String, String)>,
    /// The decoded binary.
    pub(crate) binary: Vec<u8>,
}

impl Armoured {
    /// The value of header `name` (ASCII case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Armours `binary` with the given headers. Header values must not contain line breaks
/// (callers pass peer names and validated friendly names, which have no control
/// characters).
pub(crate) fn armour(kind: DocumentKind, headers: &[(&str, &str)], binary: &[u8]) -> String {
    let mut out = kind.begin_line();
    out.push('\n');
    for (name, value) in headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push('\n');
    }
    out.push('\n');
    let b64 = STANDARD.encode(binary);
    // base64 output is ASCII, so every 64-byte chunk is valid UTF-8.
    for chunk in b64.as_bytes().chunks(COLUMNS) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&kind.end_line());
    out.push('\n');
    out
}

/// Finds and decodes the first document of `kind` in `text`.
///
/// Checks, in order: size, BEGIN line, header syntax, END line, base64.
pub(crate) fn dearmour(kind: DocumentKind, text: &str) -> Result<Armoured, IdentityError> {
    if text.len() > MAX_DOCUMENT_BYTES {
        return Err(IdentityError::InputTooLarge {
            kind,
            len: text.len(),
            max: MAX_DOCUMENT_BYTES,
        });
    }
    let begin = kind.begin_line();
    let end = kind.end_line();
    let mut lines = text.lines().map(str::trim);
    if !lines.any(|l| l == begin) {
        return Err(IdentityError::NotArmoured { kind });
    }
    let malformed = |reason: String| IdentityError::Malformed { kind, reason };
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut b64 = String::new();
    let mut ended = false;
    for line in lines {
        if line == end {
            ended = true;
            break;
        }
        if line.is_empty() {
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            if !b64.is_empty() {
                return Err(malformed(format!("header line {name:?} after the base64 body")));
            }
            let name = name.trim();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(malformed(format!("bad header name {name:?}")));
            }
            if headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name)) {
                return Err(malformed(format!("header {name:?} appears twice")));
            }
            headers.push((name.to_owned(), value.trim().to_owned()));
        } else if line.starts_with("-----") {
            if end.starts_with(line) {
                return Err(IdentityError::Truncated {
                    kind,
                    reason: "the END line is cut".into(),
                });
            }
            return Err(malformed(format!("unexpected armour line {line:?}")));
        } else {
            b64.push_str(line);
        }
    }
    if !ended {
        return Err(IdentityError::Truncated { kind, reason: format!("no '{end}' line") });
    }
    if b64.is_empty() {
        return Err(IdentityError::Truncated { kind, reason: "no base64 body".into() });
    }
    let binary = STANDARD
        .decode(b64.as_bytes())
        .map_err(|e| IdentityError::BadBase64 { kind, reason: e.to_string() })?;
    Ok(Armoured { headers, binary })
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: DocumentKind = DocumentKind::IdentityInfo;

    #[test]
    fn round_trip_with_headers_and_wrapping() {
        let binary: Vec<u8> = (0..=255).collect();
        let text = armour(K, &[("Peer-Name", "0.x"), ("Friendly-Name", "A: b")], &binary);
        assert!(text.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
        let a =
            dearmour(K, &format!("junk before\r\n{}\r\njunk after", text.replace('\n', "\r\n")))
                .unwrap();
        assert_eq!(a.binary, binary);
        assert_eq!(a.header("peer-name"), Some("0.x"));
        assert_eq!(a.header("Friendly-Name"), Some("A: b"));
        assert_eq!(a.header("Other"), None);
    }

    #[test]
    fn names_each_failure() {
        let text = armour(K, &[], b"abc");
        assert!(matches!(
            dearmour(DocumentKind::IdentityExport, &text),
            Err(IdentityError::NotArmoured { .. })
        ));
        assert!(matches!(dearmour(K, "plain text"), Err(IdentityError::NotArmoured { .. })));
        let cut = &text[..text.len() - 10];
        assert!(matches!(dearmour(K, cut), Err(IdentityError::Truncated { .. })));
        let bad = text.replace("YWJj", "YW!j");
        assert!(matches!(dearmour(K, &bad), Err(IdentityError::BadBase64 { .. })));
        let big = "x".repeat(MAX_DOCUMENT_BYTES + 1);
        assert!(matches!(dearmour(K, &big), Err(IdentityError::InputTooLarge { .. })));
        let dup = armour(K, &[("A", "1"), ("a", "2")], b"abc");
        assert!(matches!(dearmour(K, &dup), Err(IdentityError::Malformed { .. })));
        let empty = format!("{}\n{}\n", K.begin_line(), K.end_line());
        assert!(matches!(dearmour(K, &empty), Err(IdentityError::Truncated { .. })));
    }

    #[test]
    fn detects_kind() {
        assert_eq!(DocumentKind::detect(&armour(K, &[], b"x")), Some(K));
        assert_eq!(
            DocumentKind::detect(&armour(DocumentKind::IdentityExport, &[], b"x")),
            Some(DocumentKind::IdentityExport)
        );
    }

    proptest::proptest! {
        #[test]
        fn dearmour_never_panics(s in "\\PC{0,400}") {
            let _ = dearmour(K, &format!("{}\n{s}\n{}", K.begin_line(), K.end_line()));
            let _ = dearmour(K, &s);
        }
    }
}
