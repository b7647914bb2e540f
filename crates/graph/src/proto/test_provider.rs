//! [`TestProvider`]: a configurable [`SecurityProvider`] for tests and simulations
//! (feature `sim`). An application supplies its own provider (the grouping layer's
//! `GroupSecurity` in a group); this one accepts everything unless given rules.

use std::collections::BTreeSet;

use peergroup_base::NodeId;

use crate::id::{GraphId, RecordType};
use crate::proto::security::{
    Admission, PeerInfo, ProviderContext, ProviderRejection, SecurityProvider, SigningError,
    Validation,
};
use crate::record::Record;

/// What a [`TestProvider`] does with records of one type.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TypeRule {
    Reject(ProviderRejection),
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
        self.type_rules.push((t, TypeRule::Reject(ProviderRejection::message(reason))));
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
    fn validate(&mut self, cx: &ProviderContext<'_>, record: &Record) -> Validation {
        let graph = cx.graph;
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
            return Validation::Reject(ProviderRejection::message("bad test signature"));
        }
        Validation::Accept
    }

    fn secure(
        &mut self,
        cx: &ProviderContext<'_>,
        record: &Record,
    ) -> Result<Vec<u8>, SigningError> {
        Ok(match &self.key {
            Some(key) => Self::tag(key, cx.graph, record),
            None => Vec::new(),
        })
    }

    fn admit(&mut self, _cx: &ProviderContext<'_>, peer: &PeerInfo<'_>) -> Admission {
        if self.denied.contains(&peer.addr.node) {
            Admission::Deny(ProviderRejection::message("node denied by the test provider"))
        } else {
            Admission::Allow
        }
    }

    fn security_record_types(&self) -> &[RecordType] {
        &self.security_types
    }
}
