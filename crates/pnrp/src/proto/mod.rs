//! The sans-IO PNRP core (`proto-specs/pnrp.md`).
//!
//! # What flows where
//!
//! Every node runs one [`Pnrp`] state, with one routing table and one CPA store per
//! [`Cloud`] (Global, LinkLocal). A driver — the QUIC actor on a real network, the
//! simulator in tests — hands it inputs ([`peergroup_base::Input`]) and carries out its
//! outputs; the core reads no clock and does no I/O, and draws randomness (transaction
//! ids, refresh targets, jitter) from its own seeded RNG.
//!
//! * **Joining** (§5.4): a node with seeds (Global) or a discovered peer (LinkLocal,
//!   [`Command::AddPeer`]) looks up its own id. Every node that answers enters its table,
//!   and every node asked learns of it. It then refreshes each sparse bucket farther than
//!   its closest neighbour. Contacts it only heard of enter the table after a
//!   return-routability ping, at most 5 per bucket per referring node and (Global) 2 per
//!   /24 or /48. The cloud is then [`CloudState::Active`]. No table is ever pre-filled.
//! * **Registering** (§6): [`Command::Register`] signs a [`cpa::Cpa`] and stores it at the
//!   r = 20 nodes closest to the name's key ([`Key::of_name`]). Upkeep rounds re-check and
//!   re-store at an interval that adapts to churn; the CPA is re-signed at half its
//!   lifetime; [`Command::Unregister`] stores a signed revocation. A replica hands its CPAs
//!   over to a newly joined node closer to their key, if the replica is the closest node
//!   it knows.
//! * **Resolving** (§8): [`Command::Resolve`] runs a name lookup (§7: α = 3 requests in
//!   flight per path, optional disjoint paths, replica-aware pacing); each answer brings
//!   closer nodes and any CPAs held for the name. Every CPA is verified (limits, expiry,
//!   authority or delegation, signature, and that it is for the name asked), instances
//!   stream out as [`Event::ResolveInstance`], and [`Event::ResolveDone`] ends it with an
//!   outcome and its cost (hops, requests, bytes).
//! * **Maintenance** (§5.5): a periodic tick sweeps expired CPAs, refreshes buckets, pings
//!   the quietest contact, and re-joins a cloud whose table emptied.
//!
//! # Bounded state
//!
//! Whatever peers send, a node keeps at most: `k` contacts per bucket plus 4 replacements,
//! `max_requests` requests and `max_lookups` lookups in flight per cloud (each lookup at
//! most 256 requests), `rr_queue` contacts awaiting a reachability check, the
//! [`store::StoreLimits`] of CPAs, 64 bootstrap peers and a bounded number of pending
//! resolves and registrations. Responses that match no request are counted and dropped;
//! every message is checked against its limits ([`Message::check`]) before anything else.
//!
//! # The driver contract
//!
//! As for every core ([`peergroup_base::sansio`]): deliver `Start` first; deliver each
//! timer at or after its instant; `from` of a received message must be authenticated (the
//! TLS-proven key); report unreachable peers as `PeerDown`. Persist
//! [`Pnrp::routing_cache`] now and then and hand it back as [`Command::AddPeer`] after a
//! restart; feed LAN discovery results the same way.

#[cfg(feature = "sim")]
pub mod adversary;
pub mod api;
mod cloud;
pub mod config;
mod counters;
pub mod cpa;
pub mod key;
mod lookup;
pub mod message;
mod node;
mod register;
mod resolve;
pub mod store;
pub mod table;

#[cfg(feature = "sim")]
pub use adversary::{Adversary, NameOracle};
pub use api::{
    CloudInfo, CloudState, Command, Event, Instance, RegisterError, RegisterRequest,
    RegistrationId, ResolveId, ResolveOutcome, ResolveRequest, ResolveStats, TableEntry, Timer,
};
pub use config::Config;
pub use counters::Counters;
#[cfg(feature = "sim")]
pub use cpa::SharedVerdicts;
pub use cpa::{
    Cpa, CpaBody, CpaDigest, CpaError, CpaSigner, DelegationError, DelegationValidator, InstanceId,
    SignedCpa, SimpleDelegation,
};
pub use key::{Distance, Key};
pub use message::{Body, Cloud, Message, MessageError, Reason, StoreStatus};
pub use node::Pnrp;
pub use register::{LOCATION_DOMAIN, service_location};
