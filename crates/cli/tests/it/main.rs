//! The integration tests of `peergroup-cli`, in one test binary so that the suite links
//! once; each module was a test binary of its own. One module alone:
//! `cargo test -p peergroup-cli --test it -- demo::`.

mod demo;
mod group_multihost;
mod idmgr_round_trip;
mod pnrp_multiprocess;
mod sim_commands;
