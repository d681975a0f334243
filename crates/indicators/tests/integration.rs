//! Every integration test of this crate, one module per file, in one test binary: each
//! binary links the whole dependency tree, so one per file made a build from nothing
//! link it dozens of times (`autotests = false` in Cargo.toml).

// Tests may panic: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod differential;
mod hand;
