//! `backbone optimize` and `backbone vacuum`: the store's life cycle (the pipeline crate's
//! `retention` does the work).

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use backbone_pipeline::retention;
use backbone_workspace::Layout;

pub(crate) fn optimize(workspace: &Path) -> Result<ExitCode> {
    let store = backbone_pipeline::open_store(&Layout::new(workspace))?;
    let done = retention::optimize(&store, 2)?;
    println!("{}", retention::compacted_text(&done));
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn vacuum(workspace: &Path, dry_run: bool) -> Result<ExitCode> {
    let done = retention::vacuum(&Layout::new(workspace), dry_run)?;
    println!("{}", done.text());
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn erase(workspace: &Path, schema: &str, id: &str) -> Result<ExitCode> {
    let done = backbone_pipeline::erase::erase(&Layout::new(workspace), schema, id)?;
    println!("{}", backbone_pipeline::erase::erased_text(&done));
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn rekey(workspace: &Path) -> Result<ExitCode> {
    let done = backbone_pipeline::rekey::rekey(&Layout::new(workspace))?;
    println!("{}", backbone_pipeline::rekey::rekey_text(&done));
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn close(workspace: &Path, period: &str, reopen: bool) -> Result<ExitCode> {
    let said = backbone_pipeline::approval::close(
        &Layout::new(workspace),
        period,
        reopen,
        &backbone_workspace::clock::now_rfc3339(),
    )?;
    println!("{said}");
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn publish(workspace: &Path, period: Option<&str>) -> Result<ExitCode> {
    let done = backbone_pipeline::editions::publish(&Layout::new(workspace), period)?;
    let e = &done.edition;
    println!(
        "edition {} published for {} ({} files, store version {}) in {}",
        e.number,
        if e.period.is_empty() {
            "—"
        } else {
            &e.period
        },
        e.files.len(),
        e.store_version,
        done.dir.display()
    );
    if e.number > 1 {
        println!(
            "{} published value(s) revised since edition {} (listed in its revisions.csv and its report)",
            done.revisions,
            e.number - 1
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn editions(workspace: &Path, verify: bool) -> Result<ExitCode> {
    let layout = Layout::new(workspace);
    let list = backbone_pipeline::editions::editions(&layout)?;
    if list.is_empty() {
        println!("no edition published yet (`backbone publish`)");
        return Ok(ExitCode::SUCCESS);
    }
    let mut bad = 0;
    for e in &list {
        print!(
            "edition {:>3}  {:<8}  published {}  store {}  {} files",
            e.number,
            e.period,
            e.day(),
            e.store_version,
            e.files.len()
        );
        if verify {
            let wrong = backbone_pipeline::editions::verify(&layout, e)?;
            if wrong.is_empty() {
                println!("  reads as published");
            } else {
                bad += 1;
                println!("  DOES NOT read as published:");
                for w in wrong {
                    println!("    {w}");
                }
            }
        } else {
            println!();
        }
    }
    Ok(if bad > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub(crate) fn approve(workspace: &Path, id: &str) -> Result<ExitCode> {
    let done = backbone_pipeline::approval::approve(
        &Layout::new(workspace),
        id,
        crate::isolation(workspace),
    )?;
    match &done.ingested {
        backbone_pipeline::Ingested::Stored {
            submission,
            version,
            replaces,
            ..
        } => {
            println!(
                "{id} applied: {} rows kept, {} rejected, table version {version}{}",
                submission.rows_accepted,
                submission.rows_rejected,
                replaces
                    .as_ref()
                    .map_or_else(String::new, |r| format!(", replacing {r}"))
            );
        }
        backbone_pipeline::Ingested::Duplicate(s) => {
            println!(
                "{id}: the same bytes are already stored as {}; nothing to apply",
                s.id
            );
        }
        other => println!("{id}: {other:?}"),
    }
    if let Some(r) = &done.receipt {
        println!("receipt: {r}");
    }
    if let Some(m) = &done.metrics {
        println!("{m}");
    }
    Ok(ExitCode::SUCCESS)
}
