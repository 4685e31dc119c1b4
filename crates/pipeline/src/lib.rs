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

pub mod approval;
pub mod audit;
pub mod editions;
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
pub use ingest::{
    IngestRequest, Ingested, ingest_file, known_header, known_headers, open_store, pseudonymiser,
    workspace_schemas,
};
pub use night::{NightOptions, night, summary_text};
pub use plan::{Planned, plan};
pub use runner::runner;

/// Takes the run lock for work other than the night (`doing`: what the holder file says it
/// is doing), so that an erasure or a key rotation never runs beside a night or the portal's
/// ingests.
pub(crate) fn hold_run_lock(
    layout: &backbone_workspace::Layout,
    doing: &str,
) -> Result<backbone_workspace::RunLock, PipelineError> {
    Ok(backbone_workspace::RunLock::take(
        layout,
        &format!(
            "process {}, {doing}, started {}",
            std::process::id(),
            backbone_workspace::clock::now_rfc3339()
        ),
    )?)
}

/// After the store changed outside the night: the results and the report computed again,
/// when there were results (their one line), so nothing published holds what was removed.
pub(crate) fn recompute_published(
    layout: &backbone_workspace::Layout,
    decl: &backbone_workspace::Declarations,
) -> Result<Option<String>, PipelineError> {
    if !layout
        .results()
        .join(backbone_workspace::tables::files::INDICATORS_CSV)
        .exists()
    {
        return Ok(None);
    }
    let computed = results::compute(layout, None, None, false)?;
    publish::render_latest(layout, decl)?;
    Ok(Some(computed.line))
}
