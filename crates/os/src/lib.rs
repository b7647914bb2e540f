//! The few operating-system facilities that std lacks, each behind a safe function that
//! works (or says it cannot) on Linux, macOS and Windows.
//!
//! * [`peak_rss_bytes`]: the process's peak resident memory (`getrusage` on Unix,
//!   `GetProcessMemoryInfo` on Windows).
//!
//! This is the one crate of ours that contains `unsafe`: FFI calls that no maintained crate
//! wraps safely, one module per OS family, each call with its safety argument. Every other
//! crate forbids `unsafe_code`.
#![deny(unsafe_code)]
#![deny(missing_docs)]

mod memory;

pub use memory::peak_rss_bytes;
