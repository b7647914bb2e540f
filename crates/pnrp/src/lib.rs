//! Work in progress: see the open issues.
#![forbid(unsafe_code)]
