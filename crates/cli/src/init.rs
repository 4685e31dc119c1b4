//! `backbone init DIR`: an empty initiative workspace, with commented declarations to fill
//! in and the secret key for pseudonymisation.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

const FILES: &[(&str, &str)] = &[
    (
        "pipelines/initiative.toml",
        include_str!("init/initiative.toml"),
    ),
    (
        "pipelines/indicators/indicators.toml",
        include_str!("init/indicators.toml"),
    ),
    (
        "data-schemas/service_records.json",
        include_str!("init/service_records.json"),
    ),
];

/// Writes embedded files under `dir`, making their folders.
pub(crate) fn write_files(dir: &Path, files: &[(&str, &str)]) -> Result<()> {
    for (rel, text) in files {
        let p = dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

pub(crate) fn run(dir: &Path) -> Result<ExitCode> {
    for (rel, _) in FILES {
        if dir.join(rel).exists() {
            anyhow::bail!(
                "{} already exists; `backbone init` never overwrites a workspace",
                dir.join(rel).display()
            );
        }
    }
    write_files(dir, FILES)?;
    for d in [
        "inbox",
        "outbox",
        "pipelines/profiles",
        "pipelines/reference",
    ] {
        std::fs::create_dir_all(dir.join(d))
            .with_context(|| format!("creating {}", dir.join(d).display()))?;
    }
    // The key is made now, owner-only, and never shown.
    backbone_workspace::secret_key(&backbone_workspace::Layout::new(dir))?;
    println!("a new initiative workspace in {}:", dir.display());
    println!("  pipelines/initiative.toml        partners, who owes what by when, threshold");
    println!("  pipelines/indicators/*.toml      the agreed indicators");
    println!("  data-schemas/*.json              what a partner's file must hold");
    println!("  inbox/<partner>/                 where partners' files arrive");
    println!(
        "  .backbone/secret.key             pseudonymisation key (owner-only; back it up, never share it)"
    );
    println!(
        "everything backbone writes here is the owner's alone: folders 0700, files 0600 (raw \
         partner files hold personal data); share reports and the store on purpose"
    );
    println!(
        "next: edit the declarations, then `backbone check --workspace {}`",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}
