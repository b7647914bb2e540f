//! Item digests and the local set a session reconciles.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// The 32-byte identity of one item (the graph layer hashes a record's id, version and
/// modifier into it). Any 32 bytes are a valid digest; order is bytewise.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
pub struct Digest([u8; 32]);

impl Digest {
    /// The digest with these bytes.
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The digest's bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl From<[u8; 32]> for Digest {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A set of digests: sorted, without duplicates, cheap to clone (shared).
///
/// ```
/// use peergroup_reconcile::{Digest, DigestSet};
///
/// let set: DigestSet = [[3u8; 32], [1; 32], [3; 32]].into_iter().map(Digest::new).collect();
/// assert_eq!(set.len(), 2);
/// assert!(set.contains(&Digest::new([1; 32])));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DigestSet {
    digests: Arc<[Digest]>,
}

impl DigestSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// A set from digests already sorted in strictly ascending order (checked, `O(n)`,
    /// no copy beyond the conversion into shared storage).
    ///
    /// # Errors
    /// [`Error::NotSorted`] if two neighbours are out of order or equal.
    pub fn from_sorted(digests: Vec<Digest>) -> Result<Self, Error> {
        if let Some(at) = digests.windows(2).position(|w| w[0] >= w[1]) {
            return Err(Error::NotSorted { index: at + 1 });
        }
        Ok(Self { digests: digests.into() })
    }

    /// A set from digests in any order, with duplicates removed.
    pub fn from_unsorted(mut digests: Vec<Digest>) -> Self {
        digests.sort_unstable();
        digests.dedup();
        Self { digests: digests.into() }
    }

    /// How many digests the set holds.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether the set holds `digest` (binary search).
    pub fn contains(&self, digest: &Digest) -> bool {
        self.digests.binary_search(digest).is_ok()
    }

    /// The digests in ascending order.
    pub fn as_slice(&self) -> &[Digest] {
        &self.digests
    }

    /// Iterates the digests in ascending order.
    pub fn iter(&self) -> std::slice::Iter<'_, Digest> {
        self.digests.iter()
    }
}

impl fmt::Debug for DigestSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DigestSet({} digests)", self.len())
    }
}

impl FromIterator<Digest> for DigestSet {
    fn from_iter<T: IntoIterator<Item = Digest>>(iter: T) -> Self {
        Self::from_unsorted(iter.into_iter().collect())
    }
}

impl<'a> IntoIterator for &'a DigestSet {
    type Item = &'a Digest;
    type IntoIter = std::slice::Iter<'a, Digest>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_sorted_checks_order() {
        let a = Digest::new([1; 32]);
        let b = Digest::new([2; 32]);
        assert!(DigestSet::from_sorted(vec![a, b]).is_ok());
        assert!(matches!(DigestSet::from_sorted(vec![b, a]), Err(Error::NotSorted { index: 1 })));
        assert!(matches!(DigestSet::from_sorted(vec![a, a]), Err(Error::NotSorted { index: 1 })));
    }

    #[test]
    fn displays_hex() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0xab;
        bytes[31] = 0x01;
        let s = Digest::new(bytes).to_string();
        assert!(s.starts_with("ab00") && s.ends_with("0001") && s.len() == 64);
    }
}
