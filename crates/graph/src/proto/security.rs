//! The security provider hook ([MS-PPGRH] 1.3.4, 3.1.7.27–28; `graph.md` §7.5).
//!
//! The graph layer moves records and keeps connections; it does not know who may write
//! what. A [`SecurityProvider`] — the grouping layer, in a group — decides:
//!
//! * whether a record that arrived is valid ([`Validation`]): accepted, rejected with a
//!   reason, or *deferred* (not decidable yet — typically its author's membership record
//!   has not arrived). Deferred records are kept and validated again on
//!   [`Command::RetryDeferred`](crate::proto::Command::RetryDeferred);
//! * the security data of a record this node writes (its signature);
//! * whether a peer may connect ([`Admission`]);
//! * which record types are *security records*, synchronised before all others.
//!
//! [`TestProvider`] is a provider for tests and simulations: it accepts everything unless
//! given rules, and can sign records with a keyed hash that it checks on arrival.

use std::collections::BTreeSet;

use peergroup_base::{NodeId, PeerAddr, PeerName, UnixTime};

use crate::id::{GraphId, RecordType};
use crate::proto::message::LinkKind;
use crate::record::Record;

/// A provider's verdict on a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    /// Valid: store and flood it.
    Accept,
    /// Invalid: drop it; the reason is reported in an event.
    Reject(String),
    /// Not decidable yet: keep it aside and ask again on `RetryDeferred`.
    Defer,
}

/// A provider's verdict on a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// The peer may connect.
    Allow,
    /// The peer is refused; the reason is reported in an event.
    Deny(String),
}

/// What a provider knows about a peer asking to connect (or answering our `Connect`).
#[derive(Debug, Clone, Copy)]
pub struct PeerInfo<'a> {
    /// The peer's authenticated node id and address.
    pub addr: &'a PeerAddr,
    /// The peer name it claims (the grouping layer checks it against the peer's
    /// credentials).
    pub peer: &'a PeerName,
    /// The connection asked for.
    pub kind: LinkKind,
}

/// Why a provider could not sign a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct SigningError {
    /// What went wrong.
    pub reason: String,
}

/// Record security and connection admission, supplied by the layer above the graph.
pub trait SecurityProvider {
    /// Validates a record that arrived from a peer (flooded or synchronised). `now` is
    /// the wall-clock time.
    fn validate(&mut self, graph: &GraphId, record: &Record, now: UnixTime) -> Validation;

    /// The security data of a record this node wrote (its signature). `record` carries no
    /// security data; sign [`Record::signing_bytes`].
    fn secure(
        &mut self,
        graph: &GraphId,
        record: &Record,
        now: UnixTime,
    ) -> Result<Vec<u8>, SigningError>;

    /// Whether `peer` may connect (asked on both ends of every connection).
    fn admit(&mut self, graph: &GraphId, peer: &PeerInfo<'_>, now: UnixTime) -> Admission;

    /// The security record types (membership, revocations, group properties): they are
    /// synchronised before every other record. Default: none.
    fn security_record_types(&self) -> &[RecordType] {
        &[]
    }
}

/// What a [`TestProvider`] does with records of one type.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TypeRule {
    Reject(String),
    Defer,
}

/// A configurable provider for tests and simulations.
///
/// By default it accepts every record and admits every peer, and leaves security data
/// empty. Builders add rules:
///
/// ```
/// use peergroup_graph::RecordType;
/// use peergroup_graph::proto::TestProvider;
///
/// let membership = RecordType::from_u128(0x0100_0000);
/// let chat = RecordType::from_u128(0x42);
/// let provider = TestProvider::new()
///     .with_security_types(vec![membership])
///     .defer_type(chat)       // until `release_type(chat)`
///     .signing(b"group-key"); // keyed-hash "signatures", checked on arrival
/// assert_eq!(provider.validations(), 0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct TestProvider {
    security_types: Vec<RecordType>,
    type_rules: Vec<(RecordType, TypeRule)>,
    denied: BTreeSet<NodeId>,
    key: Option<Vec<u8>>,
    validations: u64,
}

impl TestProvider {
    /// A provider that accepts everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares the security record types.
    pub fn with_security_types(mut self, types: Vec<RecordType>) -> Self {
        self.security_types = types;
        self
    }

    /// Rejects every record of `t` with `reason`.
    pub fn reject_type(mut self, t: RecordType, reason: &str) -> Self {
        self.type_rules.push((t, TypeRule::Reject(reason.to_owned())));
        self
    }

    /// Defers every record of `t` until [`TestProvider::release_type`].
    pub fn defer_type(mut self, t: RecordType) -> Self {
        self.type_rules.push((t, TypeRule::Defer));
        self
    }

    /// Removes the rules for `t`: its records are accepted from now on.
    pub fn release_type(&mut self, t: RecordType) {
        self.type_rules.retain(|(rt, _)| *rt != t);
    }

    /// Refuses connections with this node.
    pub fn deny_node(mut self, node: NodeId) -> Self {
        self.denied.insert(node);
        self
    }

    /// Signs records with a keyed hash — SHA-256(key ‖ signed bytes), 16 bytes — and
    /// rejects arriving records whose security data is not that hash. Not a signature
    /// scheme (anyone with the key can forge); a stand-in that makes tampering visible.
    pub fn signing(mut self, key: &[u8]) -> Self {
        self.key = Some(key.to_vec());
        self
    }

    /// Records validated so far.
    pub fn validations(&self) -> u64 {
        self.validations
    }

    fn tag(key: &[u8], graph: &GraphId, record: &Record) -> Vec<u8> {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(key);
        ctx.update(&record.signing_bytes(graph));
        ctx.finish().as_ref()[..16].to_vec()
    }
}

impl SecurityProvider for TestProvider {
    fn validate(&mut self, graph: &GraphId, record: &Record, _now: UnixTime) -> Validation {
        self.validations += 1;
        if let Some((_, rule)) = self.type_rules.iter().find(|(t, _)| *t == record.record_type()) {
            return match rule {
                TypeRule::Reject(reason) => Validation::Reject(reason.clone()),
                TypeRule::Defer => Validation::Defer,
            };
        }
        if let Some(key) = &self.key
            && record.security_data() != Self::tag(key, graph, record).as_slice()
        {
            return Validation::Reject("bad test signature".into());
        }
        Validation::Accept
    }

    fn secure(
        &mut self,
        graph: &GraphId,
        record: &Record,
        _now: UnixTime,
    ) -> Result<Vec<u8>, SigningError> {
        Ok(match &self.key {
            Some(key) => Self::tag(key, graph, record),
            None => Vec::new(),
        })
    }

    fn admit(&mut self, _graph: &GraphId, peer: &PeerInfo<'_>, _now: UnixTime) -> Admission {
        if self.denied.contains(&peer.addr.node) {
            Admission::Deny("node denied by the test provider".into())
        } else {
            Admission::Allow
        }
    }

    fn security_record_types(&self) -> &[RecordType] {
        &self.security_types
    }
}
