//! Rateless invertible Bloom lookup tables: coded symbols, the incremental encoder and the
//! peeling decoder (`proto-specs/reconcile.md` §4).
//!
//! A coded symbol (a [`Cell`]) holds, over the items mapped to it, the XOR of their keys,
//! the XOR of their key checksums and their number modulo 256. The sender's symbol minus
//! the receiver's symbol at the same index is the symbol of the *symmetric difference*:
//! items on both sides cancel. A difference symbol holding exactly one item is *pure*: its
//! count is +1 (the item is the peer's) or −1 (ours) and its checksum equals the checksum
//! of its key sum. Peeling a pure symbol yields an item, which is then removed from every
//! other symbol it maps to, which makes more symbols pure. Every item maps to symbol 0,
//! so the difference is fully decoded exactly when symbol 0 becomes empty.
//!
//! The [`Encoder`] keeps each item's position in its index sequence, so producing the next
//! `k` symbols costs one pass over the items plus the additions themselves; the first `m`
//! symbols of an `n`-item set cost `O(n log m)` in total however they are batched.

use std::collections::HashSet;

use crate::hash::checksum;
use crate::mapping::IndexMapping;

/// One coded symbol: key sum, checksum sum and count, as in §4.1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Cell {
    /// XOR of the keys of the items mapped here.
    pub(crate) sum: u64,
    /// XOR of `checksum(key)` of the items mapped here.
    pub(crate) checksum: u64,
    /// Number of items mapped here, modulo 256.
    pub(crate) count: u8,
}

impl Cell {
    /// The symbol with no item.
    pub(crate) const EMPTY: Self = Self { sum: 0, checksum: 0, count: 0 };

    #[inline(always)]
    fn add(&mut self, key: u64, chk: u64) {
        self.sum ^= key;
        self.checksum ^= chk;
        self.count = self.count.wrapping_add(1);
    }

    #[inline(always)]
    fn sub(&mut self, key: u64, chk: u64) {
        self.sum ^= key;
        self.checksum ^= chk;
        self.count = self.count.wrapping_sub(1);
    }

    /// `self − other`: the difference symbol.
    #[inline]
    pub(crate) fn minus(self, other: Self) -> Self {
        Self {
            sum: self.sum ^ other.sum,
            checksum: self.checksum ^ other.checksum,
            count: self.count.wrapping_sub(other.count),
        }
    }

    /// Whether the symbol holds no item.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        *self == Self::EMPTY
    }
}

/// Which side of the difference an item is on, seen from the decoding side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The peer has the item and we lack it (count +1 in `remote − local`).
    Remote,
    /// We have the item and the peer lacks it (count −1).
    Local,
}

#[derive(Debug, Clone, Copy)]
struct EncoderItem {
    key: u64,
    checksum: u64,
    mapping: IndexMapping,
}

/// Produces the coded symbols of one set, in batches of consecutive indices.
#[derive(Debug, Clone)]
pub(crate) struct Encoder {
    items: Vec<EncoderItem>,
    produced: u64,
}

impl Encoder {
    /// An encoder over the items with these keys.
    pub(crate) fn new(keys: impl IntoIterator<Item = u64>) -> Self {
        let items = keys
            .into_iter()
            .map(|key| EncoderItem {
                key,
                checksum: checksum(key),
                mapping: IndexMapping::new(key),
            })
            .collect();
        Self { items, produced: 0 }
    }

    /// Produces the next `count` symbols, indices `produced .. produced + count`.
    pub(crate) fn produce(&mut self, count: usize) -> Vec<Cell> {
        let first = self.produced;
        let end = first + count as u64;
        let mut cells = vec![Cell::EMPTY; count];
        // Items are walked four at a time, round-robin: each item's index sequence is a
        // dependent chain of ~45 cycles per step, and interleaving independent chains lets
        // the CPU overlap them (about 25% faster than one item at a time).
        for group in self.items.chunks_mut(4) {
            loop {
                let mut active = false;
                for item in group.iter_mut() {
                    let index = item.mapping.index();
                    if index < end {
                        // In range: `first <= index < end` because every earlier index was
                        // consumed by an earlier call, and `end - first == count`.
                        cells[(index - first) as usize].add(item.key, item.checksum);
                        item.mapping.advance();
                        active = true;
                    }
                }
                if !active {
                    break;
                }
            }
        }
        self.produced = end;
        cells
    }
}

#[derive(Debug, Clone, Copy)]
struct Peeled {
    key: u64,
    checksum: u64,
    side: Side,
    mapping: IndexMapping,
}

/// The peeling decoder over the difference symbols `remote − local`.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    cells: Vec<Cell>,
    peeled: Vec<Peeled>,
    peeled_keys: HashSet<u64>,
    queue: Vec<usize>,
}

impl Decoder {
    /// How many difference symbols the decoder holds.
    pub(crate) fn len(&self) -> u64 {
        self.cells.len() as u64
    }

    /// Adds the next difference symbols (indices `len() ..`), then peels what it can.
    ///
    /// `is_local(key)` tells whether our own set has an item with that key: a symbol that
    /// looks pure is peeled only if it agrees (a +1 item must be absent here, a −1 item
    /// present), and only if its key maps to the symbol's index.
    pub(crate) fn extend(
        &mut self,
        diff: impl IntoIterator<Item = Cell>,
        is_local: impl Fn(u64) -> bool,
    ) {
        let start = self.cells.len();
        self.cells.extend(diff);
        let end = self.cells.len() as u64;
        // Items peeled earlier are removed from the new symbols too.
        for p in &mut self.peeled {
            while p.mapping.index() < end {
                let index = p.mapping.index() as usize;
                remove(&mut self.cells[index], p.key, p.checksum, p.side);
                p.mapping.advance();
            }
        }
        self.queue.extend(start..self.cells.len());
        self.peel(is_local);
    }

    fn peel(&mut self, is_local: impl Fn(u64) -> bool) {
        let end = self.cells.len() as u64;
        while let Some(index) = self.queue.pop() {
            let cell = self.cells[index];
            let side = match cell.count {
                1 => Side::Remote,
                255 => Side::Local,
                _ => continue,
            };
            let key = cell.sum;
            let chk = checksum(key);
            if chk != cell.checksum
                || (side == Side::Local) != is_local(key)
                || self.peeled_keys.contains(&key)
                || !IndexMapping::contains(key, index as u64)
            {
                continue;
            }
            let mut mapping = IndexMapping::new(key);
            while mapping.index() < end {
                let i = mapping.index() as usize;
                remove(&mut self.cells[i], key, chk, side);
                self.queue.push(i);
                mapping.advance();
            }
            self.peeled_keys.insert(key);
            self.peeled.push(Peeled { key, checksum: chk, side, mapping });
        }
    }

    /// Whether the whole difference is decoded: every symbol is empty (and there is at
    /// least one, symbol 0, which every item maps to).
    pub(crate) fn is_decoded(&self) -> bool {
        !self.cells.is_empty() && self.cells.iter().all(Cell::is_empty)
    }

    /// The keys peeled so far: (the peer's items we lack, our items the peer lacks).
    pub(crate) fn keys(&self) -> (Vec<u64>, Vec<u64>) {
        let mut remote = Vec::new();
        let mut local = Vec::new();
        for p in &self.peeled {
            match p.side {
                Side::Remote => remote.push(p.key),
                Side::Local => local.push(p.key),
            }
        }
        (remote, local)
    }
}

/// Removes a peeled item from a difference symbol: the inverse of how it got there.
#[inline]
fn remove(cell: &mut Cell, key: u64, chk: u64, side: Side) {
    match side {
        Side::Remote => cell.sub(key, chk),
        Side::Local => cell.add(key, chk),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::mix64;

    fn keys(range: std::ops::Range<u64>, salt: u64) -> Vec<u64> {
        range.map(|i| mix64(i ^ salt)).collect()
    }

    /// Decodes `a` (remote) against `b` (local) in batches; returns the symbols used.
    fn reconcile(a: &[u64], b: &[u64], batch: usize) -> (usize, Vec<u64>, Vec<u64>) {
        let mut ea = Encoder::new(a.iter().copied());
        let mut eb = Encoder::new(b.iter().copied());
        let local: HashSet<u64> = b.iter().copied().collect();
        let mut dec = Decoder::default();
        while !dec.is_decoded() {
            assert!(dec.len() < 100_000, "does not decode");
            let ra = ea.produce(batch);
            let rb = eb.produce(batch);
            dec.extend(ra.into_iter().zip(rb).map(|(x, y)| x.minus(y)), |k| local.contains(&k));
        }
        let (mut remote, mut localonly) = dec.keys();
        remote.sort_unstable();
        localonly.sort_unstable();
        (dec.len() as usize, remote, localonly)
    }

    #[test]
    fn decodes_symmetric_difference() {
        let shared = keys(0..2000, 1);
        let only_a = keys(5000..5060, 1);
        let only_b = keys(9000..9040, 1);
        let a: Vec<u64> = shared.iter().chain(&only_a).copied().collect();
        let b: Vec<u64> = shared.iter().chain(&only_b).copied().collect();
        let (used, mut remote, mut local) = reconcile(&a, &b, 7);
        let (mut wa, mut wb) = (only_a.clone(), only_b.clone());
        wa.sort_unstable();
        wb.sort_unstable();
        remote.sort_unstable();
        local.sort_unstable();
        assert_eq!(remote, wa);
        assert_eq!(local, wb);
        assert!(used < 400, "used {used} symbols for 100 differences");
    }

    #[test]
    fn identical_sets_decode_at_once() {
        let a = keys(0..500, 9);
        let (used, remote, local) = reconcile(&a, &a, 1);
        assert_eq!((used, remote.len(), local.len()), (1, 0, 0));
    }

    #[test]
    fn one_difference_needs_one_symbol() {
        let a = keys(0..500, 3);
        let b = keys(0..499, 3);
        let (used, remote, local) = reconcile(&a, &b, 1);
        assert_eq!((used, remote, local.len()), (1, vec![a[499]], 0));
    }

    #[test]
    fn batches_do_not_change_symbols() {
        let a = keys(0..300, 5);
        let mut one = Encoder::new(a.iter().copied());
        let all = one.produce(64);
        let mut parts = Encoder::new(a.iter().copied());
        let mut pieces = Vec::new();
        for n in [1, 3, 10, 50] {
            pieces.extend(parts.produce(n));
        }
        assert_eq!(all[..], pieces[..64]);
    }
}
