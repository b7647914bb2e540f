//! Connection admission (`group.md` §8): how two nodes prove membership to each other
//! after the QUIC handshake, before any record flows.
//!
//! Each side sends one [`Hello`]: its chain and an Ed25519 signature by its identity key
//! over `"peergroup group-admission v1" ‖ 0x00 ‖ group peer name (u16 ‖ UTF-8) ‖ exporter`,
//! where `exporter` is 32 bytes of TLS keying material exported from this connection
//! (RFC 8446 §7.5, label `"EXPORTER-peergroup-group-admission"`, empty context). The
//! receiver checks, in order: the chain (every rule of §3.3, at the current time); the
//! group; the leaf key against the connection's authenticated identity key; the binding
//! signature; revocations. A failure is answered with [`Refusal`] (the reason code) and the
//! connection's group traffic ends. Binding the proof to the exporter means a proof
//! captured on one connection is worthless on any other.

use peergroup_base::{NodeId, PeerName, UnixTime};

use crate::chain::{Chain, MAX_CHAIN_BYTES, VerifiedChain};
use crate::error::{ChainError, DecodeError, GroupError};
use crate::security::GroupSecurity;
use crate::wire::{Reader, Writer, signed_message};

/// Domain of the binding signature.
pub const ADMISSION_DOMAIN: &[u8] = b"peergroup group-admission v1";
/// The TLS exporter label.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-peergroup-group-admission";
/// Largest hello accepted.
pub const MAX_HELLO_BYTES: usize = 1 + 2 + 700 + 4 + MAX_CHAIN_BYTES + 64;

/// The bytes a hello's binding signature covers.
pub fn binding_message(group: &PeerName, exporter: &[u8; 32]) -> Vec<u8> {
    let mut w = Writer::with_capacity(128);
    w.var(group.to_string().as_bytes());
    w.bytes(exporter);
    signed_message(ADMISSION_DOMAIN, &w.0)
}

/// One side's membership proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// The group it claims.
    pub group: PeerName,
    /// Its chain.
    pub chain: Chain,
    /// Its identity key's signature over [`binding_message`].
    pub binding: [u8; 64],
}

impl Hello {
    /// The encoding: `version: u8 = 1` ‖ group (`u16` ‖ UTF-8) ‖ chain (`u32` ‖ chain) ‖
    /// binding (64).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(800);
        w.u8(1);
        w.var(self.group.to_string().as_bytes());
        w.var32(&self.chain.encode());
        w.bytes(&self.binding);
        w.0
    }

    /// Decodes a hello (structure only).
    pub fn decode(b: &[u8]) -> Result<Hello, DecodeError> {
        if b.len() > MAX_HELLO_BYTES {
            return Err(DecodeError::TooLarge {
                what: "hello",
                len: b.len(),
                max: MAX_HELLO_BYTES,
            });
        }
        let mut r = Reader::new(b);
        let v = r.u8("version")?;
        if v != 1 {
            return Err(DecodeError::UnsupportedVersion { what: "hello", got: v });
        }
        let g = r.str("group", 700)?;
        let group = PeerName::parse(g)
            .map_err(|reason| DecodeError::InvalidClassifier { field: "group", reason })?;
        if group.to_string() != g {
            return Err(DecodeError::NotNfc { field: "group" });
        }
        let chain = Chain::decode(r.var32("chain", MAX_CHAIN_BYTES)?)?;
        let binding = r.array("binding")?;
        r.finish()?;
        Ok(Hello { group, chain, binding })
    }

    /// Checks a peer's hello (see the module docs). `peer` is the node id the connection
    /// authenticated (SHA-256 of the TLS key's SPKI); `exporter` the connection's exported
    /// value.
    pub fn verify(
        &self,
        security: &mut GroupSecurity,
        peer: NodeId,
        exporter: &[u8; 32],
        now: UnixTime,
    ) -> Result<VerifiedChain, GroupError> {
        if &self.group != security.group_name() {
            return Err(ChainError::WrongGroup {
                expected: security.group_name().clone(),
                got: self.group.clone(),
            }
            .into());
        }
        let Some(leaf_key) = self.chain.leaf().map(|c| *c.subject_key()) else {
            return Err(DecodeError::ChainEmpty.into());
        };
        if NodeId::from_ed25519(&leaf_key) != peer {
            return Err(GroupError::LeafNotPeer);
        }
        let msg = binding_message(&self.group, exporter);
        if !peergroup_identity::verify_signature(&leaf_key, &msg, &self.binding) {
            return Err(GroupError::BindingInvalid);
        }
        security.admit_chain(&self.chain, peer, now)
    }

    /// [`verify`](Self::verify) for a peer that may have several live connections with
    /// this node (both dialled at once): the binding must hold for one of `exporters`,
    /// the values of the connections between the two authenticated ends (`group.md`
    /// §8.3). With none matching, the error is the one for a bad binding.
    pub fn verify_any(
        &self,
        security: &mut GroupSecurity,
        peer: NodeId,
        exporters: &[[u8; 32]],
        now: UnixTime,
    ) -> Result<VerifiedChain, GroupError> {
        let leaf_key = self.chain.leaf().map(|c| *c.subject_key());
        let chosen = exporters
            .iter()
            .find(|e| {
                leaf_key.is_some_and(|k| {
                    peergroup_identity::verify_signature(
                        &k,
                        &binding_message(&self.group, e),
                        &self.binding,
                    )
                })
            })
            .copied()
            .unwrap_or([0; 32]);
        self.verify(security, peer, &chosen, now)
    }

    /// The hello of the local member for a connection with this exporter value.
    pub fn of(local: &crate::group::LocalMember, exporter: &[u8; 32]) -> Hello {
        let group = local.chain.group_name();
        let binding = local.identity.sign(&binding_message(&group, exporter));
        Hello { group, chain: local.chain.chain().clone(), binding }
    }
}

/// Why a peer was refused admission (sent in the refusal; `group.md` §8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// 1: the chain is malformed or fails a rule.
    InvalidChain,
    /// 2: another group.
    WrongGroup,
    /// 3: a certificate expired or is not valid yet.
    Expired,
    /// 4: a certificate of the chain is revoked.
    Revoked,
    /// 5: the leaf is not the connection's identity.
    NotThePeer,
    /// 6: the binding signature does not verify.
    BadBinding,
    /// 7: no proof was sent in time, or another message came first.
    NoProof,
}

impl Refusal {
    /// The wire code.
    pub fn code(self) -> u8 {
        match self {
            Refusal::InvalidChain => 1,
            Refusal::WrongGroup => 2,
            Refusal::Expired => 3,
            Refusal::Revoked => 4,
            Refusal::NotThePeer => 5,
            Refusal::BadBinding => 6,
            Refusal::NoProof => 7,
        }
    }

    /// From a wire code (unknown codes read as `InvalidChain`).
    pub fn from_code(c: u8) -> Refusal {
        match c {
            2 => Refusal::WrongGroup,
            3 => Refusal::Expired,
            4 => Refusal::Revoked,
            5 => Refusal::NotThePeer,
            6 => Refusal::BadBinding,
            7 => Refusal::NoProof,
            _ => Refusal::InvalidChain,
        }
    }

    /// The refusal for a verification error.
    pub fn of(e: &GroupError) -> Refusal {
        match e {
            GroupError::Chain(ChainError::WrongGroup { .. } | ChainError::MixedGroups { .. }) => {
                Refusal::WrongGroup
            }
            GroupError::Chain(ChainError::Expired { .. } | ChainError::NotYetValid { .. }) => {
                Refusal::Expired
            }
            GroupError::Revoked { .. } | GroupError::RevokedWrite { .. } => Refusal::Revoked,
            GroupError::LeafNotPeer => Refusal::NotThePeer,
            GroupError::BindingInvalid => Refusal::BadBinding,
            _ => Refusal::InvalidChain,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::InvalidChain => "invalid membership chain",
            Refusal::WrongGroup => "member of another group",
            Refusal::Expired => "membership expired or not yet valid",
            Refusal::Revoked => "membership revoked",
            Refusal::NotThePeer => "the chain is not for this connection's identity",
            Refusal::BadBinding => "the proof is not bound to this connection",
            Refusal::NoProof => "no membership proof",
        })
    }
}
