//! Peer grouping: the security layer of a group (`proto-specs/group.md`).
//!
//! A group is a graph (`peergroup-graph`) with a security system on top, as Windows'
//! PeerGroup was:
//!
//! * [`group`]: creating a group — a new Ed25519 group key, the group root certificate
//!   (GRC) signed by it, the creator's membership certificate (GMC, administrator), the
//!   group-properties record signed by the group key; the group key file.
//! * [`cert`], [`chain`]: certificates in one compact signed format and flat,
//!   hash-linked chains `GRC → GMC … → leaf` (at most 24 issuers), verified rule by rule,
//!   each certificate's signature once per node.
//! * [`records`]: the reserved records (properties, membership, revocation) and the
//!   security data of every record.
//! * [`security`]: [`GroupSecurity`], the graph's security provider — signatures, roles,
//!   validity, deferral, revocation and the racing-revocation rule.
//! * [`invitation`]: invitations for an invitee's identity info, armoured as text.
//! * [`admission`]: the membership proof two nodes exchange, bound to their TLS session,
//!   before any record flows.
//! * [`password`]: password groups — the password invitation, the verifier's OPAQUE
//!   setup, and the joiner's and verifier's state machines of the password join.
//! * [`node`]: [`GroupNode`], the sans-IO core of a group member: the graph core plus
//!   admission, member events and credential renewal.
//!
//! Everything above is sans-IO: no tokio, no sockets, no clocks; time is an argument.
//!
//! # Features
//!
//! | Feature | Default | What it adds | What it pulls in |
//! |---|---|---|---|
//! | `net` | yes | `net`: groups on the network (`net::Group`), on the graph's and PNRP's drivers, participants registered in PNRP | `peergroup-net` (quinn, rustls), `peergroup-pnrp` and `peergroup-graph` with their `net` features, tokio, tracing, futures-core, serde_json, postcard |
//! | `sim` | no | `scenario`: the simulated group behind `p2p sim group` | `peergroup-sim`, `peergroup-os`, rand, rand_chacha, serde_json |
//!
//! Without default features (`cargo check -p peergroup-group --no-default-features`, which
//! CI runs) the crate is the sans-IO security layer alone, on the graph's sans-IO core. An
//! application never needs `sim`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admission;
pub mod cert;
pub mod chain;
pub mod error;
pub mod group;
pub mod invitation;
#[cfg(feature = "net")]
pub mod net;
pub mod node;
pub mod password;
pub mod records;
#[cfg(feature = "sim")]
pub mod scenario;
pub mod security;
mod wire;

pub use cert::{Cert, CertId, CertKind, Role};
pub use chain::{CertCache, Chain, SignatureMemo, VerifiedChain, Verifier};
pub use error::{ChainError, DecodeError, GroupError, PasswordError};
pub use group::{CreateOptions, GroupKey, LocalMember, NewGroup, create_group};
pub use invitation::Invitation;
pub use node::{GroupNode, MemberInfo};
pub use password::{PasswordInvitation, PasswordSetup, PasswordVerifier};
pub use records::{GroupProperties, Revocation, RevocationReason, SecurityData};
pub use security::{GroupSecurity, MemberChange, SecurityConfig};
