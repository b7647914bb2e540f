//! [`RecordBuilder`]: how records are made locally.

use std::collections::BTreeMap;

use peergroup_base::{PeerName, UnixTime};

use crate::error::GraphError;
use crate::hlc::Hlc;
use crate::id::{RecordId, RecordType};
use crate::record::{
    Attribute, AttributeName, AttributeValue, Body, RECORD_FORMAT, Record, RecordLimits,
    check_update,
};

/// Builds a new record (version 1) or, from [`Record::update`], the next version of one.
///
/// ```
/// use peergroup_base::{PeerName, UnixTime};
/// use peergroup_graph::hlc::{HlcClock, HlcConfig};
/// use peergroup_graph::record::{RecordBuilder, RecordLimits};
/// use peergroup_graph::{RecordId, RecordType};
///
/// let limits = RecordLimits::default();
/// let me: PeerName = "0.alice".parse()?;
/// let mut clock = HlcClock::new(1, HlcConfig::default());
/// let now = UnixTime::from_secs(1_800_000_000);
/// let kind = RecordType::from_u128(0x42);
/// let rec = RecordBuilder::new(kind, RecordId::random([7; 16]), me.clone(), clock.now(now),
///         now.saturating_add(std::time::Duration::from_secs(3600)))
///     .attribute("color", "red")
///     .payload(b"hello".to_vec())
///     .build(&limits)?;
/// let v2 = rec.update(me, clock.now(now)).attribute("size", 3).build(&limits)?;
/// assert_eq!(v2.version(), 2);
/// assert_eq!(v2.attributes().len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct RecordBuilder {
    record_type: RecordType,
    id: RecordId,
    version: Option<u32>,
    deleted: bool,
    creator: PeerName,
    last_modifier: PeerName,
    created: Hlc,
    modified: Hlc,
    expires: UnixTime,
    attributes: BTreeMap<String, AttributeValue>,
    payload: Vec<u8>,
    security: Vec<u8>,
    predecessor: Option<Record>,
}

impl RecordBuilder {
    /// The builder of [`Record::update`].
    pub(super) fn next_version_of(r: &Record, modifier: PeerName, modified: Hlc) -> Self {
        let b = &r.0.body;
        RecordBuilder {
            record_type: b.record_type,
            id: b.id,
            version: b.version.checked_add(1),
            deleted: false,
            creator: b.creator.clone(),
            last_modifier: modifier,
            created: b.created,
            modified,
            expires: b.expires,
            attributes: b
                .attributes
                .iter()
                .map(|a| (a.name.as_str().to_owned(), a.value.clone()))
                .collect(),
            payload: b.payload.clone(),
            security: Vec::new(),
            predecessor: Some(r.clone()),
        }
    }

    /// Version 1 of a record created by `creator` at `created`, expiring at `expires`.
    pub fn new(
        record_type: RecordType,
        id: RecordId,
        creator: PeerName,
        created: Hlc,
        expires: UnixTime,
    ) -> Self {
        RecordBuilder {
            record_type,
            id,
            version: Some(1),
            deleted: false,
            last_modifier: creator.clone(),
            creator,
            created,
            modified: created,
            expires,
            attributes: BTreeMap::new(),
            payload: Vec::new(),
            security: Vec::new(),
            predecessor: None,
        }
    }

    /// Sets the payload.
    pub fn payload(mut self, payload: Vec<u8>) -> Self {
        self.payload = payload;
        self
    }

    /// Sets (or replaces) the attribute `name`; the name is checked by `build`.
    pub fn attribute(mut self, name: &str, value: impl Into<AttributeValue>) -> Self {
        self.attributes.insert(name.to_owned(), value.into());
        self
    }

    /// Removes the attribute `name`, if set.
    pub fn remove_attribute(mut self, name: &str) -> Self {
        self.attributes.remove(name);
        self
    }

    /// Removes every attribute.
    pub fn clear_attributes(mut self) -> Self {
        self.attributes.clear();
        self
    }

    /// Sets the expiration.
    pub fn expires(mut self, expires: UnixTime) -> Self {
        self.expires = expires;
        self
    }

    /// Sets the version (a new record starts at 1, an update at its predecessor's + 1).
    pub fn version(mut self, version: u32) -> Self {
        self.version = Some(version);
        self
    }

    /// Sets the last modifier and the modification time.
    pub fn modified(mut self, modifier: PeerName, at: Hlc) -> Self {
        self.last_modifier = modifier;
        self.modified = at;
        self
    }

    /// Sets the deleted flag (a tombstone must have no payload and no attributes).
    pub fn deleted(mut self, deleted: bool) -> Self {
        self.deleted = deleted;
        self
    }

    /// Forgets the predecessor of an update: `build` then checks only the record's own
    /// validity, not the update rules. For records that model another writer — for
    /// example a peer that breaks the rules, in tests and simulations.
    pub fn detach(mut self) -> Self {
        self.predecessor = None;
        self
    }

    /// Sets the security data (normally added after signing, with
    /// [`Record::with_security_data`]).
    pub fn security_data(mut self, security: Vec<u8>) -> Self {
        self.security = security;
        self
    }

    /// Checks and encodes the record; for an update, also checks the update rules against
    /// the predecessor ([`check_update`]).
    pub fn build(self, limits: &RecordLimits) -> Result<Record, GraphError> {
        let version = match (self.version, &self.predecessor) {
            (Some(v), _) => v,
            (None, Some(p)) => {
                return Err(GraphError::InvalidRecordVersion {
                    version: p.version(),
                    reason: "the version counter is exhausted",
                });
            }
            // Invariant: `version` is only `None` for an update of a record at u32::MAX.
            (None, None) => {
                return Err(GraphError::InvalidRecordVersion {
                    version: u32::MAX,
                    reason: "the version counter is exhausted",
                });
            }
        };
        let mut attributes = Vec::with_capacity(self.attributes.len());
        for (name, value) in self.attributes {
            attributes.push(Attribute { name: AttributeName::new(&name)?, value });
        }
        let body = Body {
            format: RECORD_FORMAT,
            record_type: self.record_type,
            id: self.id,
            version,
            deleted: self.deleted,
            creator: self.creator,
            last_modifier: self.last_modifier,
            created: self.created,
            modified: self.modified,
            expires: self.expires,
            attributes,
            payload: self.payload,
        };
        let record = Record::assemble(body, &self.security, limits)?;
        if let Some(p) = &self.predecessor {
            check_update(p, &record)?;
        }
        Ok(record)
    }
}
