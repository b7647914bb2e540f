//! Foundations shared by every peergroup layer.
//!
//! * [`name`]: [`PeerName`] (`authority.classifier`), parsed once and always valid.
//! * [`id`]: [`NodeId`], [`P2pId`], [`ServiceLocation`] and [`PnrpId`] with the derivations
//!   of `proto-specs/identity.md`.
//! * [`time`]: the protocol clock ([`Instant`], a monotonic virtual time) and wall-clock
//!   [`UnixTime`]; protocol cores receive both as arguments and never read a clock.
//! * [`codec`]: the frame codec `u32 length ‖ version ‖ postcard(message)` of
//!   `proto-specs/wire.md`.
//! * [`sansio`]: the input/output shape every protocol core implements and every driver
//!   (tokio actor or simulator) runs.
//! * [`fsutil`]: atomic, durable file writes (temporary file, fsync, rename, directory
//!   fsync) for the drivers and stores that keep files.
//! * [`spec_vectors`]: the parser of the specs' `vector` blocks, for tests.
//!
//! This crate depends on nothing else of ours. Only [`fsutil`] touches the file system
//! (when a driver or store calls it); everything else is pure computation that protocol
//! cores may use.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod codec;
pub mod fsutil;
pub mod id;
pub mod name;
pub mod sansio;
pub mod time;

pub use codec::{CodecError, FrameCodec};
pub use id::{Authority, NodeId, P2pId, PnrpId, ServiceLocation};
pub use name::{Classifier, NameError, PeerName};
pub use sansio::{Input, Now, Outbox, Output, PeerAddr, Protocol};
pub use time::{Instant, UnixTime};

/// Spec test-vector helpers: parses the `key: value` blocks that `proto-specs/*.md` use.
///
/// A vector block is a fenced code block whose info string is `vector`; each line is
/// `key: value`. Tests in every crate use this to check the spec's vectors against the code,
/// so the specs and the code cannot drift apart.
pub mod spec_vectors {
    /// One `vector` block: its `key: value` pairs in order.
    pub type Vector = Vec<(String, String)>;

    /// Extracts every fenced block tagged `vector` from a Markdown document.
    pub fn parse(markdown: &str) -> Vec<Vector> {
        let mut out = Vec::new();
        let mut current: Option<Vector> = None;
        for line in markdown.lines() {
            let trimmed = line.trim();
            match &mut current {
                None if trimmed == "```vector" => current = Some(Vec::new()),
                None => {}
                Some(_) if trimmed == "```" => {
                    if let Some(v) = current.take() {
                        out.push(v);
                    }
                }
                Some(v) => {
                    if let Some((k, val)) = trimmed.split_once(':') {
                        v.push((k.trim().to_owned(), val.trim().to_owned()));
                    }
                }
            }
        }
        out
    }

    /// The value of `key` in a vector; `None` if absent.
    pub fn get<'a>(v: &'a Vector, key: &str) -> Option<&'a str> {
        v.iter().find(|(k, _)| k == key).map(|(_, val)| val.as_str())
    }
}
