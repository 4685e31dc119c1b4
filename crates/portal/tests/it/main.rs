//! The portal over HTTP on loopback: partners and the data manager, hostile clients, and a
//! real browser. One test binary with a module per area (each binary links deltalake).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod browser;
mod common;
mod hostile;
mod portal;
