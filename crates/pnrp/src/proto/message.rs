//! PNRP messages (`proto-specs/pnrp.md` §4).
//!
//! Every message is a [`Message`]: the [`Cloud`] it belongs to and a [`Body`]. Requests
//! carry a random 64-bit transaction id that the response echoes; a response whose
//! `(sender, txid)` matches no request in flight is unsolicited and ignored.
//!
//! | request | response | purpose |
//! |---|---|---|
//! | `Ping` | `Pong` | liveness, and the return-routability check before a contact enters a routing table |
//! | `FindNode` | `Nodes` | one step of an iterative lookup of a position (bootstrap, refresh) |
//! | `FindName` | `Found` | one step of a lookup of a name: closer nodes, the CPAs held for the name, and whether a probed instance is held |
//! | `Store` | `StoreAck` | store a CPA (registration, republish, hand-over, revocation) |
//!
//! Every list and byte field has a limit ([`Message::check`]). Decoders call it right
//! after postcard decoding ([`Message::decode`]); the core calls it again on every
//! received message, so a peer that builds messages in memory (the simulator's
//! adversaries) cannot bypass it either.

use peergroup_base::codec::{CodecError, FrameCodec, HEADER_LEN};
use peergroup_base::{P2pId, PeerAddr, ServiceLocation};
use serde::{Deserialize, Serialize};

use crate::proto::cpa::{InstanceId, MAX_CPA_BODY_BYTES, SignedCpa};
use crate::proto::key::Key;

/// Most contacts a `FindNode`/`FindName` may ask for and a `Nodes`/`Found` may carry
/// (the bucket size k of Kademlia §2.2).
pub const MAX_CONTACTS: usize = 20;
/// Most CPAs a `Found` may carry and a resolve may ask for ([MS-PNRP]-style API limit).
pub const MAX_RESULTS: usize = 64;
/// Most bytes of CPA bodies in one `Found`, so that a response stays far below the 1 MiB
/// frame limit whatever the payloads: 256 KiB.
pub const MAX_FOUND_CPA_BYTES: usize = 256 * 1024;

/// A PNRP cloud: a set of nodes that resolve among themselves ([MS-PNRP] 1.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Cloud {
    /// The Internet-wide cloud; bootstraps from seeds and a persisted cache.
    Global,
    /// The cloud of one link; bootstraps from peers found by LAN multicast discovery.
    LinkLocal,
}

impl Cloud {
    /// Both clouds.
    pub const ALL: [Cloud; 2] = [Cloud::Global, Cloud::LinkLocal];

    /// 0 for Global, 1 for LinkLocal.
    pub fn index(self) -> usize {
        match self {
            Cloud::Global => 0,
            Cloud::LinkLocal => 1,
        }
    }
}

/// Why a lookup request was sent ([MS-PNRP] 2.2.2.8 ReasonCode); informational, it
/// changes nothing in how the request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Reason {
    /// A resolve asked by an application.
    Resolve,
    /// Registration, republish or unregistration.
    Registration,
    /// Bootstrap, bucket refresh and other table maintenance.
    Maintenance,
}

/// A PNRP message: its cloud and its body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The cloud the message belongs to; a node answers from that cloud's table and store.
    pub cloud: Cloud,
    /// The content.
    pub body: Body,
}

/// The message bodies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// Are you there? Answered with `Pong` echoing the nonce.
    Ping {
        /// Random; echoed.
        nonce: u64,
    },
    /// Answer to `Ping`.
    Pong {
        /// The ping's nonce.
        nonce: u64,
    },
    /// Which nodes do you know closest to `target`?
    FindNode {
        /// Transaction id, echoed.
        txid: u64,
        /// The position looked up.
        target: Key,
        /// How many contacts to return, 1..=20.
        count: u8,
        /// Why.
        reason: Reason,
    },
    /// Answer to `FindNode`: up to `count` contacts, closest first.
    Nodes {
        /// The request's transaction id.
        txid: u64,
        /// Contacts, at most 20.
        nodes: Vec<PeerAddr>,
    },
    /// Which nodes do you know closest to the key of `p2p`, and which CPAs do you hold
    /// for it?
    FindName {
        /// Transaction id, echoed.
        txid: u64,
        /// The P2P ID of the name; its DHT key is `Key::of_name(p2p)`.
        p2p: P2pId,
        /// How many contacts to return, 1..=20.
        count: u8,
        /// How many CPAs to return at most, 0..=64 (0: contacts only).
        max_results: u8,
        /// Rank the CPAs by XOR distance of their service location to this hint.
        hint: Option<ServiceLocation>,
        /// Also say which version of this instance you hold (registration upkeep).
        /// (Boxed only to keep the message type small; the encoding is the same.)
        probe: Option<Box<InstanceId>>,
        /// Why.
        reason: Reason,
    },
    /// Answer to `FindName`.
    Found {
        /// The request's transaction id.
        txid: u64,
        /// Contacts closest to the key, at most 20.
        nodes: Vec<PeerAddr>,
        /// Valid, unexpired CPAs held for the name (revocations excluded), at most 64 and
        /// 256 KiB of bodies.
        cpas: Vec<SignedCpa>,
        /// The sequence of the probed instance held here (a revocation counts), if any.
        holds: Option<u64>,
    },
    /// Please store this CPA (or revocation).
    Store {
        /// Transaction id, echoed.
        txid: u64,
        /// The CPA.
        cpa: SignedCpa,
    },
    /// Answer to `Store`.
    StoreAck {
        /// The request's transaction id.
        txid: u64,
        /// What happened.
        status: StoreStatus,
    },
}

/// The outcome of a `Store`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoreStatus {
    /// Stored (new instance or newer version).
    Stored,
    /// This version or a newer one was already held.
    AlreadyCurrent,
    /// The CPA failed validation.
    Invalid,
    /// The store is full of keys closer to this node.
    Full,
}

/// Why a message was refused before being acted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MessageError {
    /// The frame or its postcard body is invalid.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A request asks for 0 or more than [`MAX_CONTACTS`] contacts.
    #[error("request asks for {count} contacts (1 to {MAX_CONTACTS} allowed)")]
    BadContactCount {
        /// The count asked for.
        count: u8,
    },
    /// A request asks for more than [`MAX_RESULTS`] CPAs.
    #[error("request asks for {count} cpas (at most {MAX_RESULTS})")]
    TooManyResultsAsked {
        /// The count asked for.
        count: u8,
    },
    /// A response carries more than [`MAX_CONTACTS`] contacts.
    #[error("response carries {count} contacts (at most {MAX_CONTACTS})")]
    TooManyContacts {
        /// Contacts carried.
        count: usize,
    },
    /// A response carries more than [`MAX_RESULTS`] CPAs.
    #[error("response carries {count} cpas (at most {MAX_RESULTS})")]
    TooManyCpas {
        /// CPAs carried.
        count: usize,
    },
    /// A CPA body is longer than [`MAX_CPA_BODY_BYTES`].
    #[error("cpa body of {len} bytes exceeds {MAX_CPA_BODY_BYTES}")]
    CpaTooLarge {
        /// Body length.
        len: usize,
    },
    /// The CPAs of one response exceed [`MAX_FOUND_CPA_BYTES`] together.
    #[error("response carries {len} bytes of cpas (at most {MAX_FOUND_CPA_BYTES})")]
    TooManyCpaBytes {
        /// Total body bytes.
        len: usize,
    },
}

impl Message {
    /// Checks every limit of §4.
    pub fn check(&self) -> Result<(), MessageError> {
        match &self.body {
            Body::Ping { .. } | Body::Pong { .. } | Body::StoreAck { .. } => Ok(()),
            Body::FindNode { count, .. } => check_count(*count),
            Body::FindName { count, max_results, .. } => {
                check_count(*count)?;
                if usize::from(*max_results) > MAX_RESULTS {
                    return Err(MessageError::TooManyResultsAsked { count: *max_results });
                }
                Ok(())
            }
            Body::Nodes { nodes, .. } => check_contacts(nodes),
            Body::Found { nodes, cpas, .. } => {
                check_contacts(nodes)?;
                if cpas.len() > MAX_RESULTS {
                    return Err(MessageError::TooManyCpas { count: cpas.len() });
                }
                let mut total = 0usize;
                for c in cpas {
                    check_cpa_len(c)?;
                    total += c.body.len();
                }
                if total > MAX_FOUND_CPA_BYTES {
                    return Err(MessageError::TooManyCpaBytes { len: total });
                }
                Ok(())
            }
            Body::Store { cpa, .. } => check_cpa_len(cpa),
        }
    }

    /// Encodes as one frame (`wire.md` §2).
    pub fn encode(&self, codec: &FrameCodec) -> Result<Vec<u8>, MessageError> {
        Ok(codec.encode(self)?)
    }

    /// Decodes one complete frame and checks its limits. Trailing bytes after the frame
    /// are an error.
    pub fn decode(codec: &FrameCodec, frame: &[u8]) -> Result<Message, MessageError> {
        match codec.decode::<Message>(frame)? {
            Some((msg, used)) if used == frame.len() => {
                msg.check()?;
                Ok(msg)
            }
            Some((_, used)) => Err(CodecError::TrailingBytes(frame.len() - used).into()),
            None => Err(CodecError::Malformed("incomplete frame".into()).into()),
        }
    }

    /// Size on the wire: frame header plus postcard body.
    pub fn wire_len(&self) -> usize {
        HEADER_LEN + peergroup_base::codec::body_len(self).unwrap_or(0)
    }

    /// The transaction id of a request or response (the nonce of a ping or pong).
    pub fn txid(&self) -> u64 {
        match &self.body {
            Body::Ping { nonce } | Body::Pong { nonce } => *nonce,
            Body::FindNode { txid, .. }
            | Body::Nodes { txid, .. }
            | Body::FindName { txid, .. }
            | Body::Found { txid, .. }
            | Body::Store { txid, .. }
            | Body::StoreAck { txid, .. } => *txid,
        }
    }
}

fn check_count(count: u8) -> Result<(), MessageError> {
    if count == 0 || usize::from(count) > MAX_CONTACTS {
        return Err(MessageError::BadContactCount { count });
    }
    Ok(())
}

fn check_contacts(nodes: &[PeerAddr]) -> Result<(), MessageError> {
    if nodes.len() > MAX_CONTACTS {
        return Err(MessageError::TooManyContacts { count: nodes.len() });
    }
    Ok(())
}

fn check_cpa_len(c: &SignedCpa) -> Result<(), MessageError> {
    if c.body.len() > MAX_CPA_BODY_BYTES {
        return Err(MessageError::CpaTooLarge { len: c.body.len() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_limits() {
        let codec = FrameCodec::default();
        let m = Message {
            cloud: Cloud::Global,
            body: Body::FindNode {
                txid: 7,
                target: Key([1; 32]),
                count: 20,
                reason: Reason::Resolve,
            },
        };
        let frame = m.encode(&codec).unwrap();
        assert_eq!(Message::decode(&codec, &frame).unwrap(), m);
        assert_eq!(m.wire_len(), frame.len());
        let bad = Message {
            cloud: Cloud::Global,
            body: Body::FindNode {
                txid: 7,
                target: Key([1; 32]),
                count: 21,
                reason: Reason::Resolve,
            },
        };
        let frame = bad.encode(&codec).unwrap();
        assert_eq!(
            Message::decode(&codec, &frame).unwrap_err(),
            MessageError::BadContactCount { count: 21 }
        );
    }
}
