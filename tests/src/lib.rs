//! Cross-crate integration tests of peergroup live in `tests/tests/*.rs`, one file per
//! behaviour (e.g. `identity_moves_between_machines.rs`). This library is empty.
#![forbid(unsafe_code)]
