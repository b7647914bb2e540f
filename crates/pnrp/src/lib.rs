//! PNRP: secure peer-name registration and resolution (DESIGN.md §5,
//! `proto-specs/pnrp.md`).
//!
//! A peer registers a name (`authority.classifier`) with a signed Certified Peer Address
//! (CPA) listing where it can be reached; anyone in the same cloud resolves the name to
//! those endpoints. Names live in a Kademlia-style DHT whose node ids are hashes of node
//! keys; CPAs are stored at the nodes closest to the name's key and verified by whoever
//! receives them, so no node has to be trusted with anything but availability.
//!
//! * [`proto`]: the sans-IO protocol core ([`proto::Pnrp`]) — CPAs, messages, the routing
//!   table, the store, lookups, registration and resolution. No tokio, no clock.
//! * [`scenario`]: builds a simulated cloud of N nodes on [`peergroup_sim::Sim`], with
//!   honest bootstrap through seeds, registrations, resolves, churn and adversaries, and
//!   reports success, hops, messages and cost ([`scenario::run`]).
//! * [`net`]: the driver — the core on the shared QUIC endpoint, with the application API
//!   ([`net::Pnrp`]: register, resolve, streaming resolve, cloud info), the routing cache
//!   and LAN discovery.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod net;
pub mod proto;
pub mod scenario;
