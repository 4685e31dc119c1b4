//! Partner files through the reader and the validator: real-looking fixtures (snapshots of
//! both reports), frictionless-py's verdicts, hostile files, and properties. One test binary.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod conformance;
mod corpora;
mod draft;
mod fixtures;
mod formats;
mod hostile;
mod properties;
