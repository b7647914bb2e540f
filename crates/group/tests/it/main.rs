//! The integration tests of `peergroup-group`, in one test binary so that the suite links
//! once; each module was a test binary of its own. One module alone:
//! `cargo test -p peergroup-group --test it -- chain_rules::`. The QUIC tests need the
//! `net` feature (on by default), the scale scenario `sim` (on for tests: the crate
//! dev-depends on itself with it).

mod chain_rules;
mod common;
#[cfg(feature = "net")]
mod net_group;
mod node_sim;
mod password;
mod security_rules;
#[cfg(feature = "sim")]
mod sim_group_scenario;
mod spec_vectors;
