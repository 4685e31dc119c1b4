//! Disclosure control on random tables and random initiatives: suppression's own properties,
//! and the attacker's check on what the stage publishes.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod initiatives;
mod suppression;
