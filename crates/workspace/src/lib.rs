//! A backbone workspace as one typed value, for every crate that must stay light (no polars,
//! no deltalake): the portal, the report, the CLI's own commands.
//!
//! - [`Layout`]: which folder holds what, every path named once.
//! - [`Declarations`]: schemas, indicators, the initiative, and their fingerprint.
//! - [`Period`]: parse, label, order, step and contain reporting periods.
//! - [`place`]: the one placement rule (a partner's file → its table and period, or a
//!   [`Refusal`] in the partner's words), used by `ingest`, `run` and the portal alike.
//! - [`clock`]: now, or the set clock (`BACKBONE_CLOCK`).
//! - [`secret_key`], [`rotation_keys`]: the pseudonymisation key and its rotations.
//! - [`RunLock`]: one night at a time, on an OS file lock, with a typed "a run is in
//!   progress" error.
//! - [`tables`]: the shared files' rows (results, completeness, quality, run summaries),
//!   written and read back through the same types, by column name.

pub mod clock;
mod declarations;
pub mod definitions;
mod error;
mod layout;
mod lock;
mod period;
mod placement;
mod secret;
pub mod tables;

pub use declarations::{Declarations, resolve_schema, with_profile};
pub use error::WorkspaceError;
pub use layout::Layout;
pub use lock::RunLock;
pub use period::{Period, adverb, sort_labels};
pub use placement::{Placement, Refusal, Request, is_partner_id, place};
pub use secret::{owner_only, rotation_keys, secret_key, write_private};
