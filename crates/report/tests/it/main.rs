//! The report and the receipts rendered from fixture results: snapshots, charts, and a real
//! browser. One test binary.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod browser;
mod charts;
mod receipt;
mod report;
