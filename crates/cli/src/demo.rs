//! `backbone demo`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

pub(crate) fn run(_dir: &Path) -> Result<ExitCode> {
    anyhow::bail!("not yet")
}
