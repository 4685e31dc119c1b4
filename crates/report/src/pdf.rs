//! The committee report as PDF, printed by a headless Chromium when one is installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::ReportError;

/// The Chromium to print with: `BACKBONE_CHROMIUM`, else the first of `chromium`,
/// `chromium-browser`, `google-chrome` on the `PATH`.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BACKBONE_CHROMIUM") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// The flags that keep a headless Chromium from reaching for the network or a profile.
pub(crate) const QUIET_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
];

/// Prints `html` to `pdf` with `chromium`.
pub fn print_pdf(chromium: &Path, html: &Path, pdf: &Path) -> Result<(), ReportError> {
    let profile = tempfile_dir()?;
    let html = std::fs::canonicalize(html).map_err(|e| ReportError::io(html, &e))?;
    let output = Command::new(chromium)
        .args(QUIET_FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--no-pdf-header-footer")
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .map_err(|e| ReportError::Pdf(format!("running {}: {e}", chromium.display())))?;
    let _ = std::fs::remove_dir_all(&profile);
    let ok = std::fs::metadata(pdf).is_ok_and(|m| m.len() > 0);
    if !output.status.success() || !ok {
        return Err(ReportError::Pdf(format!(
            "{} exited with {}: {}",
            chromium.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        )));
    }
    Ok(())
}

/// A fresh, empty profile folder for one Chromium run.
fn tempfile_dir() -> Result<PathBuf, ReportError> {
    let dir = std::env::temp_dir().join(format!(
        "backbone-chromium-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| ReportError::io(&dir, &e))?;
    Ok(dir)
}
