//! Participants in PNRP (`group.md` §14): how members find each other.
//!
//! Every member that connects registers the name `<group authority>.participant` — the
//! group key's authority, so the name belongs to the group, not to any member — signed by
//! its own identity key, with its membership chain as the delegation proof. PNRP nodes
//! check that proof with [`ParticipantDelegation`], this module's
//! [`DelegationValidator`]: the chain must verify (every rule of §3.3, at the time of the
//! check), its root's group key must hash to the name's authority, its leaf key must be
//! the registration's signer, and the classifier must be `participant`. So anyone can
//! resolve a group's participants, and only a member can register as one. (A PNRP node
//! that is not in the group knows nothing of its revocations; a revoked member's
//! registration lives until it expires, and the group's own admission refuses it.)

use std::sync::Mutex;

use peergroup_base::{Classifier, NodeId, PeerName, UnixTime};
use peergroup_pnrp::proto::{DelegationError, DelegationValidator};

use crate::chain::{CertCache, Chain};
use crate::error::{ChainError, DecodeError};

/// The classifier of participant names.
pub const PARTICIPANT_CLASSIFIER: &str = "participant";

/// `<group authority>.participant` for the group with this peer name. (The classifier is
/// a constant that always passes the name rules; the error cannot happen in practice.)
pub fn participant_name(group: &PeerName) -> Result<PeerName, crate::GroupError> {
    let classifier = Classifier::new(PARTICIPANT_CLASSIFIER)
        .map_err(|e| crate::GroupError::InvalidArgument(format!("participant classifier: {e}")))?;
    Ok(PeerName::new(*group.authority(), classifier))
}

/// The [`DelegationValidator`] of participant registrations (see the module docs). Keeps
/// a certificate cache, so a chain shared by many members costs its signatures once.
#[derive(Debug, Default)]
pub struct ParticipantDelegation {
    cache: Mutex<CertCache>,
}

impl ParticipantDelegation {
    /// A validator with an empty cache.
    pub fn new() -> Self {
        Self::default()
    }
}

impl DelegationValidator for ParticipantDelegation {
    fn validate(
        &self,
        name: &PeerName,
        signer: &[u8; 32],
        chain: &[u8],
        now: UnixTime,
    ) -> Result<(), DelegationError> {
        if name.classifier().as_str() != PARTICIPANT_CLASSIFIER {
            return Err(DelegationError::NameNotDelegated);
        }
        let chain = Chain::decode(chain)
            .map_err(|e: DecodeError| DelegationError::Malformed(e.to_string()))?;
        let root = chain.certs().first().ok_or(DelegationError::Malformed("empty chain".into()))?;
        if NodeId::from_ed25519(root.group_key()).authority() != *name.authority() {
            return Err(DelegationError::RootAuthorityMismatch);
        }
        if chain.leaf().map(|c| c.subject_key()) != Some(signer) {
            return Err(DelegationError::WrongDelegate);
        }
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match chain.verify(&mut cache, Some(now)) {
            Ok(_) => Ok(()),
            Err(ChainError::Expired { not_after, .. }) => Err(DelegationError::Expired(not_after)),
            Err(ChainError::SignatureInvalid { .. }) => Err(DelegationError::SignatureInvalid),
            Err(e) => Err(DelegationError::Other(e.to_string())),
        }
    }
}
