//! Records: the unit of replication of a graph (`proto-specs/graph.md` §2–§4).
//!
//! A [`Record`] has a type and an id (UUIDs), a version (1 at creation, +1 per update), a
//! creator and a last modifier (peer names), creation and last-modification times as
//! [`Hlc`] timestamps, an expiration ([`UnixTime`]), typed [`Attribute`]s, a payload, a
//! deleted flag (a deleted record is a *tombstone*: kept, without payload or attributes,
//! until it expires) and opaque *security data* that the grouping layer fills with a
//! signature.
//!
//! # Encoding and signatures
//!
//! A record travels and is stored as one byte string, its *encoding*:
//!
//! ```text
//! record   = postcard struct { body: bytes, security: bytes }
//! body     = postcard(RecordBody)          every field but the security data
//! signed   = "peergroup/graph/record/v1" ‖ 0x00 ‖ postcard(graph id: string) ‖ body
//! digest   = SHA-256("peergroup/graph/record-digest/v1" ‖ 0x00 ‖ record)
//! ```
//!
//! A `Record` keeps the exact bytes it was decoded from (or built as) next to the decoded
//! fields, so a signature is always checked over the bytes that arrived
//! ([`Record::signing_bytes`]) and never over a re-encoding. Decoding refuses any input that
//! is not the canonical encoding of what it decodes to ([`GraphError::NonCanonicalRecord`]),
//! so equal records have equal bytes and equal digests on every replica.
//!
//! # Validity
//!
//! A `Record` value is always valid: the only ways to get one are [`RecordBuilder::build`],
//! [`Record::update`] / [`Record::tombstone`] (which also apply the update rules of
//! [MS-PPGRH] 3.1.7.8, [`check_update`]) and [`Record::decode`]. Each checks the
//! [`RecordLimits`] of the graph and the rules of `proto-specs/graph.md` §3.1.
//!
//! # Conflicts
//!
//! Two versions of one record are ordered by [`Record::conflict_cmp`], a total order
//! (deleted, expiration, version, last modifier, modification time, security data, body) in
//! which every version that follows the update rules beats its predecessor. Every replica
//! keeps the greatest version it has seen ([`merge`]), so replicas that have seen the same
//! versions hold the same record, whatever the order of arrival.
//!
//! Records are cheap to clone (the contents are shared).

mod attribute;
mod builder;
mod limits;
mod merge;

use std::cmp::Ordering;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use peergroup_base::{PeerName, UnixTime};
use serde::{Deserialize, Serialize};

pub(crate) use attribute::is_name_byte as attribute_name_byte;
pub use attribute::{Attribute, AttributeName, AttributeValue, MAX_ATTRIBUTE_NAME_LEN};
pub use builder::RecordBuilder;
pub use limits::{
    ABSOLUTE_MAX_RECORD_SIZE, DEFAULT_MAX_RECORD_SIZE, MIN_MAX_RECORD_SIZE, RecordLimits,
};
pub use merge::{check_update, merge};

use crate::error::GraphError;
use crate::hlc::Hlc;
use crate::id::{GraphId, RecordId, RecordType};

/// The record body format this code writes and reads (the first byte of every body).
pub const RECORD_FORMAT: u8 = 1;

/// Domain separator of the bytes a record signature covers (`graph.md` §2.3).
pub const SIGNATURE_DOMAIN: &[u8] = b"peergroup/graph/record/v1\0";

/// Domain separator of the record digest (`graph.md` §2.4).
pub const DIGEST_DOMAIN: &[u8] = b"peergroup/graph/record-digest/v1\0";

/// The decoded body: every field but the security data, in wire order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Body {
    format: u8,
    record_type: RecordType,
    id: RecordId,
    version: u32,
    deleted: bool,
    creator: PeerName,
    last_modifier: PeerName,
    created: Hlc,
    modified: Hlc,
    expires: UnixTime,
    attributes: Vec<Attribute>,
    #[serde(with = "serde_bytes")]
    payload: Vec<u8>,
}

struct Inner {
    body: Body,
    /// The record's encoding: envelope with body and security data.
    encoded: Vec<u8>,
    body_range: Range<usize>,
    security_range: Range<usize>,
    attribute_bytes: usize,
    digest: RecordDigest,
}

/// A record of a graph; always valid, cheap to clone. See the [module docs](self).
#[derive(Clone)]
pub struct Record(Arc<Inner>);

/// A record's position in sync order: `(last-modified time, id)`.
///
/// Stores iterate records in this order ([`RecordStore::sync_entries`]); in keys it is 36
/// bytes, `Hlc::to_bytes ‖ id`, whose byte order equals this order.
///
/// [`RecordStore::sync_entries`]: crate::store::RecordStore::sync_entries
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SyncKey {
    /// The record's last-modified time.
    pub modified: Hlc,
    /// The record's id.
    pub id: RecordId,
}

impl SyncKey {
    /// Encoded length.
    pub const LEN: usize = 36;
    /// The smallest key.
    pub const MIN: SyncKey = SyncKey { modified: Hlc::ZERO, id: RecordId::NIL };
    /// The largest key.
    pub const MAX: SyncKey = SyncKey { modified: Hlc::MAX, id: RecordId::from_bytes([0xff; 16]) };

    /// `modified.to_bytes() ‖ id`.
    pub fn to_bytes(&self) -> [u8; 36] {
        let mut out = [0u8; 36];
        out[..20].copy_from_slice(&self.modified.to_bytes());
        out[20..].copy_from_slice(self.id.as_bytes());
        out
    }

    /// The inverse of [`SyncKey::to_bytes`].
    pub fn from_bytes(b: &[u8; 36]) -> Self {
        let mut hlc = [0u8; 20];
        let mut id = [0u8; 16];
        hlc.copy_from_slice(&b[..20]);
        id.copy_from_slice(&b[20..]);
        SyncKey { modified: Hlc::from_bytes(&hlc), id: RecordId::from_bytes(id) }
    }
}

/// SHA-256 over a record's whole encoding (`graph.md` §2.4): equal digests mean equal
/// records, security data included. Replicas compare digests to find differing records
/// without exchanging them.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordDigest(pub [u8; 32]);

impl RecordDigest {
    /// The digest of an encoding.
    pub fn of_encoding(encoded: &[u8]) -> Self {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(DIGEST_DOMAIN);
        ctx.update(encoded);
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        RecordDigest(out)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for RecordDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordDigest({}…)", hex::encode(&self.0[..8]))
    }
}

impl fmt::Display for RecordDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

// --- envelope: postcard struct { body: bytes, security: bytes }, written by hand so the
// --- decoder knows where the body lies in the input.

fn push_varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        // low 7 bits with the continuation bit; truncation to u8 is the intent
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Reads a varint at `*pos`; `None` if truncated or wider than 64 bits.
fn read_varint(input: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *input.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn read_bytes_field(input: &[u8], pos: &mut usize) -> Result<Range<usize>, GraphError> {
    let malformed = |reason: &str| GraphError::MalformedRecord { reason: reason.to_owned() };
    let len = read_varint(input, pos).ok_or_else(|| malformed("truncated length field"))?;
    let len = usize::try_from(len).map_err(|_| malformed("length field out of range"))?;
    let start = *pos;
    let end = start.checked_add(len).filter(|&e| e <= input.len());
    let end = end.ok_or_else(|| malformed("length field runs past the end of the input"))?;
    *pos = end;
    Ok(start..end)
}

fn encode_envelope(body: &[u8], security: &[u8]) -> (Vec<u8>, Range<usize>, Range<usize>) {
    let mut out = Vec::with_capacity(
        varint_len(body.len()) + body.len() + varint_len(security.len()) + security.len(),
    );
    push_varint(&mut out, body.len());
    let b0 = out.len();
    out.extend_from_slice(body);
    let b1 = out.len();
    push_varint(&mut out, security.len());
    let s0 = out.len();
    out.extend_from_slice(security);
    let s1 = out.len();
    (out, b0..b1, s0..s1)
}

impl Record {
    /// Builds, checks and encodes a record.
    fn assemble(body: Body, security: &[u8], limits: &RecordLimits) -> Result<Record, GraphError> {
        let attribute_bytes = check_body(&body)?;
        let body_bytes = postcard::to_allocvec(&body)
            .map_err(|e| GraphError::MalformedRecord { reason: format!("cannot encode: {e}") })?;
        let (encoded, body_range, security_range) = encode_envelope(&body_bytes, security);
        limits
            .check(encoded.len(), body.attributes.len(), attribute_bytes, security.len())
            .map_err(|r| r.into_error(body.id, body.expires))?;
        let digest = RecordDigest::of_encoding(&encoded);
        Ok(Record(Arc::new(Inner {
            body,
            encoded,
            body_range,
            security_range,
            attribute_bytes,
            digest,
        })))
    }

    /// Decodes a record received from the network or read from disk, checking every rule
    /// of `graph.md` §3.1 and the graph's `limits`. The input's length is checked against
    /// the maximum record size before anything is decoded.
    pub fn decode(input: &[u8], limits: &RecordLimits) -> Result<Record, GraphError> {
        Self::decode_checked(input, limits, true)
    }

    /// Decodes a record that a store wrote, which [`Record::decode`] accepted before it was
    /// stored: every rule is checked except that the body re-encodes to itself, the one
    /// check that costs an encoding. The digest is of `input` as it is, so a record read
    /// back is byte for byte the one stored.
    pub(crate) fn decode_stored(input: &[u8], limits: &RecordLimits) -> Result<Record, GraphError> {
        Self::decode_checked(input, limits, false)
    }

    fn decode_checked(
        input: &[u8],
        limits: &RecordLimits,
        canonical: bool,
    ) -> Result<Record, GraphError> {
        if input.len() > limits.max_record_size() as usize {
            return Err(GraphError::MaxRecordSizeExceeded {
                size: input.len(),
                max: limits.max_record_size(),
            });
        }
        let mut pos = 0;
        let body_range = read_bytes_field(input, &mut pos)?;
        let security_range = read_bytes_field(input, &mut pos)?;
        if pos != input.len() {
            return Err(GraphError::MalformedRecord {
                reason: format!("{} trailing bytes after the record", input.len() - pos),
            });
        }
        let body_bytes = &input[body_range.clone()];
        // The format byte comes first, so an unknown format is reported as such rather
        // than as whatever the rest fails to decode as.
        match body_bytes.first() {
            Some(&RECORD_FORMAT) => {}
            Some(&format) => return Err(GraphError::UnsupportedRecordFormat { format }),
            None => return Err(GraphError::MalformedRecord { reason: "empty body".into() }),
        }
        let (body, rest) = postcard::take_from_bytes::<Body>(body_bytes)
            .map_err(|e| GraphError::MalformedRecord { reason: e.to_string() })?;
        if !rest.is_empty() {
            return Err(GraphError::MalformedRecord {
                reason: format!("{} trailing bytes after the record body", rest.len()),
            });
        }
        let attribute_bytes = check_body(&body)?;
        limits
            .check(input.len(), body.attributes.len(), attribute_bytes, security_range.len())
            .map_err(|r| r.into_error(body.id, body.expires))?;
        // Canonical: the envelope's varints are minimal and the body re-encodes to itself.
        let canonical_envelope = body_range.start == varint_len(body_range.len())
            && security_range.start == body_range.end + varint_len(security_range.len());
        if !canonical_envelope {
            return Err(GraphError::NonCanonicalRecord);
        }
        if canonical {
            let reencoded = postcard::to_allocvec(&body).map_err(|e| {
                GraphError::MalformedRecord { reason: format!("cannot encode: {e}") }
            })?;
            if reencoded != body_bytes {
                return Err(GraphError::NonCanonicalRecord);
            }
        }
        Ok(Record(Arc::new(Inner {
            body,
            encoded: input.to_vec(),
            body_range,
            security_range,
            attribute_bytes,
            digest: RecordDigest::of_encoding(input),
        })))
    }

    /// The record's encoding (what goes on the wire and to disk).
    pub fn encoded(&self) -> &[u8] {
        &self.0.encoded
    }

    /// Length of [`Record::encoded`]; what the maximum record size limits.
    pub fn encoded_len(&self) -> usize {
        self.0.encoded.len()
    }

    /// The encoded body: every field but the security data, as received.
    pub fn body_bytes(&self) -> &[u8] {
        &self.0.encoded[self.0.body_range.clone()]
    }

    /// The exact bytes a record signature covers (`graph.md` §2.3):
    /// `"peergroup/graph/record/v1" ‖ 0x00 ‖ postcard(graph id) ‖ body`. Binding the graph id
    /// stops a record signed for one graph from being accepted in another.
    pub fn signing_bytes(&self, graph: &GraphId) -> Vec<u8> {
        let body = self.body_bytes();
        let g = graph.as_str().as_bytes();
        let mut out = Vec::with_capacity(SIGNATURE_DOMAIN.len() + 3 + g.len() + body.len());
        out.extend_from_slice(SIGNATURE_DOMAIN);
        push_varint(&mut out, g.len());
        out.extend_from_slice(g);
        out.extend_from_slice(body);
        out
    }

    /// The record with different security data (typically a signature over
    /// [`Record::signing_bytes`]); the body bytes are unchanged.
    pub fn with_security_data(
        &self,
        security: &[u8],
        limits: &RecordLimits,
    ) -> Result<Record, GraphError> {
        let (encoded, body_range, security_range) = encode_envelope(self.body_bytes(), security);
        let b = &self.0.body;
        limits
            .check(encoded.len(), b.attributes.len(), self.0.attribute_bytes, security.len())
            .map_err(|r| r.into_error(b.id, b.expires))?;
        let digest = RecordDigest::of_encoding(&encoded);
        Ok(Record(Arc::new(Inner {
            body: b.clone(),
            encoded,
            body_range,
            security_range,
            attribute_bytes: self.0.attribute_bytes,
            digest,
        })))
    }

    /// The record type.
    pub fn record_type(&self) -> RecordType {
        self.0.body.record_type
    }

    /// The record id.
    pub fn id(&self) -> RecordId {
        self.0.body.id
    }

    /// The version: 1 at creation, +1 per update.
    pub fn version(&self) -> u32 {
        self.0.body.version
    }

    /// `true` for a tombstone.
    pub fn is_deleted(&self) -> bool {
        self.0.body.deleted
    }

    /// Who created the record.
    pub fn creator(&self) -> &PeerName {
        &self.0.body.creator
    }

    /// Who wrote this version (the creator for version 1).
    pub fn last_modifier(&self) -> &PeerName {
        &self.0.body.last_modifier
    }

    /// When the record was created.
    pub fn created(&self) -> Hlc {
        self.0.body.created
    }

    /// When this version was written.
    pub fn modified(&self) -> Hlc {
        self.0.body.modified
    }

    /// When the record expires; from then on it is neither returned nor sent, and is
    /// purged.
    pub fn expires(&self) -> UnixTime {
        self.0.body.expires
    }

    /// `true` if the record has expired at `now` (`expires <= now`).
    pub fn is_expired(&self, now: UnixTime) -> bool {
        self.0.body.expires <= now
    }

    /// The attributes, in increasing name order.
    pub fn attributes(&self) -> &[Attribute] {
        &self.0.body.attributes
    }

    /// The value of the attribute `name`, if present.
    pub fn attribute(&self, name: &str) -> Option<&AttributeValue> {
        let attrs = &self.0.body.attributes;
        attrs.binary_search_by(|a| a.name.as_str().cmp(name)).ok().map(|i| &attrs[i].value)
    }

    /// Total attribute size ([`Attribute::size`] summed).
    pub fn attribute_bytes(&self) -> usize {
        self.0.attribute_bytes
    }

    /// The payload.
    pub fn payload(&self) -> &[u8] {
        &self.0.body.payload
    }

    /// The security data (opaque to this layer).
    pub fn security_data(&self) -> &[u8] {
        &self.0.encoded[self.0.security_range.clone()]
    }

    /// The digest of the encoding ([`RecordDigest`]).
    pub fn digest(&self) -> RecordDigest {
        self.0.digest
    }

    /// The record's position in sync order.
    pub fn sync_key(&self) -> SyncKey {
        SyncKey { modified: self.modified(), id: self.id() }
    }

    /// Checks this record against another graph's (or store's) limits.
    pub fn check_limits(&self, limits: &RecordLimits) -> Result<(), crate::error::Rejection> {
        limits.check(
            self.encoded_len(),
            self.0.body.attributes.len(),
            self.0.attribute_bytes,
            self.0.security_range.len(),
        )
    }

    /// The total conflict order between two versions of one record (`graph.md` §3.3): the
    /// greater one wins on every replica. Compares, in turn: the deleted flag (a tombstone
    /// beats a live record: no update after delete), the expiration (later wins: the
    /// expiration never moves earlier), the version (higher wins), the last modifier's
    /// name (its UTF-8 text, byte-wise; higher wins), the modification time (later wins),
    /// the security data (longer wins, then byte-wise higher), and finally the body bytes
    /// (byte-wise). `Equal` means the two are the same record, byte for byte.
    pub fn conflict_cmp(&self, other: &Record) -> Ordering {
        let (a, b) = (&self.0.body, &other.0.body);
        a.deleted
            .cmp(&b.deleted)
            .then(a.expires.cmp(&b.expires))
            .then(a.version.cmp(&b.version))
            .then_with(|| {
                if a.last_modifier == b.last_modifier {
                    Ordering::Equal
                } else {
                    a.last_modifier.to_string().cmp(&b.last_modifier.to_string())
                }
            })
            .then(a.modified.cmp(&b.modified))
            .then_with(|| {
                let (sa, sb) = (self.security_data(), other.security_data());
                sa.len().cmp(&sb.len()).then_with(|| sa.cmp(sb))
            })
            .then_with(|| self.body_bytes().cmp(other.body_bytes()))
    }

    /// A builder for the next version of this record, written by `modifier` at `modified`:
    /// version + 1, same type, id, creator and creation time, and (until changed) the same
    /// expiration, attributes and payload; no security data. Its `build` also applies the
    /// update rules ([`check_update`]) against this record.
    pub fn update(&self, modifier: PeerName, modified: Hlc) -> RecordBuilder {
        RecordBuilder::next_version_of(self, modifier, modified)
    }

    /// The tombstone that deletes this record: the next version, deleted, without payload
    /// or attributes, keeping the expiration (a tombstone lives as long as the record
    /// would have, [MS-PPGRH] 3.1.4.4). Fails with [`GraphError::RecordDeleted`] if this
    /// record is already a tombstone.
    pub fn tombstone(
        &self,
        modifier: PeerName,
        modified: Hlc,
        limits: &RecordLimits,
    ) -> Result<Record, GraphError> {
        let b =
            self.update(modifier, modified).deleted(true).clear_attributes().payload(Vec::new());
        b.build(limits)
    }
}

/// The limit-independent rules of `graph.md` §3.1; returns the total attribute size.
fn check_body(b: &Body) -> Result<usize, GraphError> {
    if b.format != RECORD_FORMAT {
        return Err(GraphError::UnsupportedRecordFormat { format: b.format });
    }
    if b.version == 0 {
        return Err(GraphError::InvalidRecordVersion { version: 0, reason: "versions start at 1" });
    }
    if b.modified < b.created {
        return Err(GraphError::ModifiedBeforeCreated { created: b.created, modified: b.modified });
    }
    if b.version == 1 && (b.modified != b.created || b.last_modifier != b.creator) {
        return Err(GraphError::InconsistentFirstVersion);
    }
    if b.expires <= b.modified.wall() {
        return Err(GraphError::InvalidRecordExpiration {
            expires: b.expires,
            reason: "a record must expire after it was last modified",
        });
    }
    if b.deleted && (!b.payload.is_empty() || !b.attributes.is_empty()) {
        return Err(GraphError::TombstoneNotEmpty);
    }
    let mut size = 0usize;
    for (i, a) in b.attributes.iter().enumerate() {
        if i > 0 {
            let prev = &b.attributes[i - 1].name;
            match prev.as_str().cmp(a.name.as_str()) {
                Ordering::Less => {}
                Ordering::Equal => {
                    return Err(GraphError::DuplicateAttribute { name: a.name.to_string() });
                }
                Ordering::Greater => {
                    return Err(GraphError::AttributesOutOfOrder { name: a.name.to_string() });
                }
            }
        }
        size = size.saturating_add(a.size());
    }
    Ok(size)
}

impl PartialEq for Record {
    /// Byte equality of the encodings.
    fn eq(&self, other: &Record) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.encoded == other.0.encoded
    }
}

impl Eq for Record {}

impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0.body;
        f.debug_struct("Record")
            .field("id", &b.id)
            .field("type", &b.record_type)
            .field("version", &b.version)
            .field("deleted", &b.deleted)
            .field("creator", &b.creator)
            .field("last_modifier", &b.last_modifier)
            .field("created", &b.created)
            .field("modified", &b.modified)
            .field("expires", &b.expires)
            .field("attributes", &b.attributes)
            .field("payload_len", &b.payload.len())
            .field("security_len", &self.0.security_range.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> PeerName {
        PeerName::parse(s).unwrap()
    }

    fn t(ms: u64) -> Hlc {
        Hlc::new(UnixTime::from_millis(ms), 0, 1)
    }

    fn base() -> RecordBuilder {
        RecordBuilder::new(
            RecordType::from_u128(1),
            RecordId::from_u128(2),
            name("0.alice"),
            t(1_000),
            UnixTime::from_millis(10_000),
        )
    }

    #[test]
    fn envelope_is_postcard() {
        #[derive(Serialize)]
        struct Env<'a> {
            #[serde(with = "serde_bytes")]
            body: &'a [u8],
            #[serde(with = "serde_bytes")]
            security: &'a [u8],
        }
        for (bl, sl) in [(0, 0), (1, 200), (300, 5), (20_000, 0)] {
            let body = vec![7u8; bl];
            let sec = vec![9u8; sl];
            let (mine, b, s) = encode_envelope(&body, &sec);
            assert_eq!(mine, postcard::to_allocvec(&Env { body: &body, security: &sec }).unwrap());
            assert_eq!(&mine[b], &body[..]);
            assert_eq!(&mine[s], &sec[..]);
        }
    }

    #[test]
    fn round_trip_and_accessors() {
        let limits = RecordLimits::default();
        let r = base()
            .attribute("b", 5)
            .attribute("a", "x")
            .payload(vec![1, 2, 3])
            .security_data(vec![0xee; 4])
            .build(&limits)
            .unwrap();
        let d = Record::decode(r.encoded(), &limits).unwrap();
        assert_eq!(d, r);
        assert_eq!(d.digest(), r.digest());
        assert_eq!(d.attributes()[0].name.as_str(), "a");
        assert_eq!(d.attribute("b"), Some(&AttributeValue::Int(5)));
        assert_eq!(d.attribute("c"), None);
        assert_eq!(d.security_data(), [0xee; 4]);
        assert_eq!(d.payload(), [1, 2, 3]);
        assert_eq!(d.attribute_bytes(), 1 + 1 + 1 + 8);
        assert_eq!(d.last_modifier(), d.creator());
    }

    #[test]
    fn security_data_does_not_change_the_signed_bytes() {
        let limits = RecordLimits::default();
        let g = GraphId::new("0.g").unwrap();
        let r = base().build(&limits).unwrap();
        let s = r.with_security_data(&[1; 64], &limits).unwrap();
        assert_eq!(r.signing_bytes(&g), s.signing_bytes(&g));
        assert_ne!(r.digest(), s.digest());
        assert!(r.signing_bytes(&g).starts_with(b"peergroup/graph/record/v1\0\x030.g\x01"));
        assert_ne!(r.signing_bytes(&g), r.signing_bytes(&GraphId::new("0.h").unwrap()));
    }

    #[test]
    fn validity_rules() {
        let limits = RecordLimits::default();
        let e = |b: RecordBuilder| b.build(&limits).unwrap_err();
        assert!(matches!(
            e(base().expires(UnixTime::from_millis(1_000))),
            GraphError::InvalidRecordExpiration { .. }
        ));
        assert!(matches!(
            e(base().attribute("bad name", 1)),
            GraphError::InvalidAttributeName { .. }
        ));
        let mut many = base();
        for i in 0..65 {
            many = many.attribute(&format!("a{i}"), i);
        }
        assert!(matches!(e(many), GraphError::TooManyAttributes { count: 65, max: 64 }));
        assert!(matches!(
            e(base().attribute("big", "x".repeat(70_000))),
            GraphError::AttributesTooLarge { .. }
        ));
        assert!(matches!(
            e(base().payload(vec![0; 1 << 20])),
            GraphError::MaxRecordSizeExceeded { max: 1_048_576, .. }
        ));
        assert!(matches!(
            e(base().security_data(vec![0; 70_000])),
            GraphError::SecurityDataTooLarge { .. }
        ));
        // version 1 must be unmodified
        assert!(matches!(
            e(base().modified(name("0.alice"), t(2_000))),
            GraphError::InconsistentFirstVersion
        ));
        assert!(matches!(
            e(base().modified(name("0.bob"), t(1_000))),
            GraphError::InconsistentFirstVersion
        ));
        // modified before created
        assert!(matches!(
            e(base().version(2).modified(name("0.alice"), t(500))),
            GraphError::ModifiedBeforeCreated { .. }
        ));
        assert!(matches!(
            e(base().version(0)),
            GraphError::InvalidRecordVersion { version: 0, .. }
        ));
        let b = base().payload(vec![1]).deleted(true).version(2);
        assert!(matches!(e(b), GraphError::TombstoneNotEmpty));
    }

    #[test]
    fn decode_rejects_bad_input_with_specific_errors() {
        let limits = RecordLimits::default();
        let r = base().attribute("a", 1).build(&limits).unwrap();
        let enc = r.encoded().to_vec();
        // trailing byte
        let mut x = enc.clone();
        x.push(0);
        assert!(matches!(Record::decode(&x, &limits), Err(GraphError::MalformedRecord { .. })));
        // truncated
        for cut in 0..enc.len() {
            assert!(Record::decode(&enc[..cut], &limits).is_err(), "cut {cut}");
        }
        // unknown format
        let mut x = enc.clone();
        x[1] = 2;
        assert!(matches!(
            Record::decode(&x, &limits),
            Err(GraphError::UnsupportedRecordFormat { format: 2 })
        ));
        // non-minimal varint for the body length
        let mut x = vec![(enc[0] & 0x7f) | 0x80, 0x00];
        x.extend_from_slice(&enc[1..]);
        assert!(matches!(Record::decode(&x, &limits), Err(GraphError::NonCanonicalRecord)));
        // oversize input refused before decoding
        let small = RecordLimits::default().with_max_record_size(1024).unwrap();
        assert!(matches!(
            Record::decode(&vec![0u8; 2000], &small),
            Err(GraphError::MaxRecordSizeExceeded { size: 2000, max: 1024 })
        ));
    }

    #[test]
    fn update_and_tombstone() {
        let limits = RecordLimits::default();
        let r = base().attribute("a", 1).payload(vec![1]).build(&limits).unwrap();
        let u = r.update(name("0.bob"), t(2_000)).payload(vec![2]).build(&limits).unwrap();
        assert_eq!((u.version(), u.last_modifier().to_string().as_str()), (2, "0.bob"));
        assert_eq!(u.created(), r.created());
        assert_eq!(u.attribute("a"), Some(&AttributeValue::Int(1)));
        assert!(u.conflict_cmp(&r).is_gt());
        let d = u.tombstone(name("0.alice"), t(3_000), &limits).unwrap();
        assert!(d.is_deleted() && d.payload().is_empty() && d.attributes().is_empty());
        assert_eq!((d.version(), d.expires()), (3, u.expires()));
        assert!(matches!(
            d.tombstone(name("0.alice"), t(4_000), &limits),
            Err(GraphError::RecordDeleted { .. })
        ));
        assert!(matches!(
            r.update(name("0.bob"), t(2_000)).expires(UnixTime::from_millis(9_000)).build(&limits),
            Err(GraphError::InvalidRecordExpiration { .. })
        ));
        assert!(matches!(
            r.update(name("0.bob"), t(1_000)).build(&limits),
            Err(GraphError::ModifiedNotAfterPredecessor { .. })
        ));
    }
}
