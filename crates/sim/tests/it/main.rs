//! The integration tests of `peergroup-sim`, in one test binary so that the suite links
//! once; each module was a test binary of its own. One module alone:
//! `cargo test -p peergroup-sim --test it -- conservation::`.

mod common;
mod conservation;
mod crash_restart_and_churn;
mod determinism;
mod flood_loss_and_duplication;
mod invariant_violation;
mod partition_and_heal;
mod reordering_and_disconnect;
mod wrong_node_id;
