//! The few operating-system facilities that std lacks, each behind a safe function that
//! works (or says it cannot) on Linux, macOS and Windows.
//!
//! * [`peak_rss_bytes`]: the process's peak resident memory (`getrusage` on Unix,
//!   `GetProcessMemoryInfo` on Windows).
//! * [`restrict_to_owner`], [`is_owner_only`] and [`owner_only_violation`]: files and
//!   directories that only their owner can read (mode bits on Unix, an explicit, protected
//!   access-control list on Windows); [`runs_under_wine`], where Windows ACLs are not kept.
//!
//! This is the one crate of ours that contains `unsafe`: FFI calls that no maintained crate
//! wraps safely, one module per OS family, each call with its safety argument. Every other
//! crate forbids `unsafe_code`.
#![deny(unsafe_code)]
#![deny(missing_docs)]

#[cfg(any(windows, test))]
mod acl;
mod memory;
mod private;

pub use memory::peak_rss_bytes;
pub use private::{is_owner_only, owner_only_violation, restrict_to_owner, runs_under_wine};
