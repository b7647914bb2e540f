//! The explicit binary encoding of identity documents (`proto-specs/identity.md` §6.1).
//!
//! Integers are fixed-width big-endian; strings are a `u16` big-endian byte length followed
//! by that many bytes of UTF-8. Nothing else: an independent implementation needs no
//! serialisation library.

use crate::{DocumentKind, IdentityError};

/// Appends big-endian integers and length-prefixed strings.
pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    pub(crate) fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }

    /// A `u16`-length-prefixed string. Callers only pass validated classifiers (≤ 596 bytes)
    /// and friendly names (≤ 1020 bytes), so the length always fits; longer input would be
    /// a broken invariant, and is cut at the last whole character below 65536 bytes rather
    /// than written with a wrong length.
    pub(crate) fn str(&mut self, s: &str) {
        let mut end = s.len().min(usize::from(u16::MAX));
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        let s = &s[..end];
        self.u16(u16::try_from(s.len()).unwrap_or(0));
        self.0.extend_from_slice(s.as_bytes());
    }
}

/// Reads fields in order; running out of bytes is [`IdentityError::Truncated`].
pub(crate) struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
    kind: DocumentKind,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a [u8], kind: DocumentKind) -> Self {
        Reader { input, pos: 0, kind }
    }

    /// Bytes consumed so far.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub(crate) fn remaining(&self) -> &'a [u8] {
        self.input.get(self.pos..).unwrap_or_default()
    }

    pub(crate) fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], IdentityError> {
        let end = self.pos.checked_add(n);
        match end.and_then(|end| self.input.get(self.pos..end)) {
            Some(b) => {
                self.pos += n;
                Ok(b)
            }
            None => Err(IdentityError::Truncated {
                kind: self.kind,
                reason: format!(
                    "{field} needs {n} bytes at offset {}, only {} left",
                    self.pos,
                    self.input.len().saturating_sub(self.pos)
                ),
            }),
        }
    }

    pub(crate) fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], IdentityError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(crate) fn u16(&mut self, field: &str) -> Result<u16, IdentityError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u32(&mut self, field: &str) -> Result<u32, IdentityError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u64(&mut self, field: &str) -> Result<u64, IdentityError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// A `u16`-length-prefixed UTF-8 string.
    pub(crate) fn str(&mut self, field: &str) -> Result<&'a str, IdentityError> {
        let len = self.u16(field)?;
        let bytes = self.take(usize::from(len), field)?;
        std::str::from_utf8(bytes).map_err(|e| IdentityError::Malformed {
            kind: self.kind,
            reason: format!("{field} is not valid UTF-8 ({e})"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let mut w = Writer(Vec::new());
        w.u16(1);
        w.u32(2);
        w.u64(3);
        w.str("héllo");
        let mut r = Reader::new(&w.0, DocumentKind::IdentityInfo);
        assert_eq!(r.u16("a").unwrap(), 1);
        assert_eq!(r.u32("b").unwrap(), 2);
        assert_eq!(r.u64("c").unwrap(), 3);
        assert_eq!(r.str("d").unwrap(), "héllo");
        assert!(r.remaining().is_empty());
        assert_eq!(r.position(), w.0.len());
        let mut r = Reader::new(&w.0[..w.0.len() - 1], DocumentKind::IdentityInfo);
        r.take(14, "x").unwrap();
        assert!(matches!(r.str("d"), Err(IdentityError::Truncated { .. })));
        let bad = [0u8, 2, 0xff, 0xfe];
        assert!(matches!(
            Reader::new(&bad, DocumentKind::IdentityInfo).str("s"),
            Err(IdentityError::Malformed { .. })
        ));
    }
}
