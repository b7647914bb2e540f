//! The integration tests of `peergroup-reconcile`, in one test binary so that the suite links
//! once; each module was a test binary of its own. One module alone:
//! `cargo test -p peergroup-reconcile --test it -- bad_input_is_refused::`.

mod bad_input_is_refused;
mod reconcile_finds_exact_difference;
mod spec_vectors;
