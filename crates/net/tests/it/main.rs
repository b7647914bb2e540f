//! The integration tests of `peergroup-net`, in one test binary so that the suite links
//! once; each module was a test binary of its own. One module alone:
//! `cargo test -p peergroup-net --test it -- alerts::`.

mod alerts;
mod driver;
mod limits;
mod loopback;
