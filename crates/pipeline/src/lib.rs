//! The night, as a library: what `backbone run`, `backbone ingest`, `backbone metrics`,
//! `backbone report` and the portal's "ingest at once" do, so the CLI holds none of it.
//!
//! - [`ingest_file`]: one file into the store (placed by the workspace's one rule, archived,
//!   validated from the archived copy, pseudonymised, one Delta commit).
//! - [`plan`]: what waits in the inbox and where each file goes.
//! - [`night`]: the whole night under the [`backbone_workspace::RunLock`]: ingest, receipts,
//!   results, report, reminders, summary.
//! - [`results::compute`]: the results tables of one store version.
//! - [`publish`]: the report put in place, and the retention of its dated copies.
//! - [`receipts`]: what a partner reads about each file.
//! - [`runner`]: the portal's hook.
//! - [`audit`]: the attacker's check on a published report folder.
//! - [`erase`]: one person leaves the workspace (`backbone erase`).
//! - [`rekey`]: every pseudonym rewritten under a new key (`backbone rekey`).
//! - [`retention`]: compaction and the initiative's `[retention]` (`optimize`, `vacuum`).

pub mod audit;
pub mod erase;
mod error;
mod ingest;
mod night;
mod plan;
pub mod publish;
pub mod receipts;
pub mod rekey;
pub mod reminders;
pub mod results;
pub mod retention;
mod runner;

pub use error::PipelineError;
pub use ingest::{IngestRequest, Ingested, ingest_file, open_store, pseudonymiser};
pub use night::{NightOptions, night, summary_text};
pub use plan::{Planned, plan};
pub use runner::runner;
