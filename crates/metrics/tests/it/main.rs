//! The indicators computed from real stores. One test binary (it links polars and deltalake).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod indicators;
