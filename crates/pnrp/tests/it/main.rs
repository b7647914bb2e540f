//! The integration tests of `peergroup-pnrp`, in one test binary (one link of quinn,
//! rustls and tokio instead of one per file). Each module is one behaviour; libtest names
//! its tests `<module>::<test>`.
//!
//! * Simulator tests of the sans-IO core, on a small cloud built by honest bootstrap
//!   (helpers in `common`).
//! * Scenario runs of `pnrp::scenario` (`adversaries_cannot_forge`, `churn_…`,
//!   `scenario_report`).
//! * Loopback-QUIC tests of the driver (`net_*`, helpers in `net_support`; feature `net`).
//! * The spec's test vectors and codec property tests.

mod common;
#[cfg(feature = "net")]
mod net_support;

mod adversaries_cannot_forge;
mod alone_node_first_contact;
mod bad_input_is_rejected;
mod bootstrap_builds_tables;
mod churn_keeps_names_resolvable;
mod cpa_encoding_properties;
mod expiry_and_republish;
mod link_local_cloud;
mod many_instances_of_one_name;
#[cfg(feature = "net")]
mod net_bad_input;
#[cfg(feature = "net")]
mod net_lan_discovery;
#[cfg(feature = "net")]
mod net_register_resolve;
#[cfg(feature = "net")]
mod net_resolve_outcomes;
#[cfg(feature = "net")]
mod net_routing_cache;
mod partition_and_heal;
mod register_and_resolve;
mod resolve_outcomes;
mod scenario_report;
mod spec_vectors;
mod state_stays_bounded;
mod unregister_revokes;
