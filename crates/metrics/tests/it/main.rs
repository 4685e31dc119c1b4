//! The indicators computed from real stores, and disclosure control on random tables. One
//! test binary (each links polars and deltalake).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod indicators;
mod suppression;
