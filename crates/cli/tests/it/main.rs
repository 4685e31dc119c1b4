//! The `backbone` binary end to end, on temporary workspaces. One test binary with a module
//! per area: every test binary of this crate links polars and deltalake, so each extra binary
//! cost a link of its own on every change.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod audit;
mod common;
mod corpora;
mod crash;
mod demo;
mod hostile;
mod lifecycle;
mod metrics;
mod recompute;
mod run;
mod serve;
mod snapshots;
mod sql;
mod store;
mod validate;
