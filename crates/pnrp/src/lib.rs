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
//! * `net` (feature `net`, on by default): the driver — the core on the shared QUIC
//!   endpoint, with the application API (`net::Pnrp`: register, resolve, streaming resolve,
//!   cloud info), the routing cache and LAN discovery.
//! * `scenario` (feature `sim`): builds a simulated cloud of N nodes on the simulator
//!   (`peergroup_sim::Sim`), with honest bootstrap through seeds, registrations, resolves,
//!   churn and adversaries, and reports success, hops, messages and cost (`scenario::run`).
//!
//! # Features
//!
//! | Feature | Default | What it adds | What it pulls in |
//! |---|---|---|---|
//! | `net` | yes | `net`: the driver, `net::Pnrp`, the routing cache, LAN discovery | `peergroup-net` (quinn, rustls), tokio, socket2, tracing, futures-core, serde_json |
//! | `sim` | no | `scenario`; `proto::adversary` (lying nodes) and `Pnrp::with_adversary` | `peergroup-sim`, `peergroup-os` |
//!
//! Without default features the crate is the sans-IO core
//! (`cargo check -p peergroup-pnrp --no-default-features`, which CI runs): no tokio, no
//! QUIC, no sockets. Without `sim` the core has no adversary hook at all, so an honest node
//! pays nothing for it; with `sim` an honest node behaves exactly as without. An application
//! never needs `sim`; the tests, the benchmarks and `p2p sim` turn it on.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "net")]
pub mod net;
pub mod proto;
#[cfg(feature = "sim")]
pub mod scenario;
