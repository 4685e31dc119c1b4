//! The committee report as PDF, printed by a headless Chromium when one is installed, with
//! Chromium's own sandbox on. Chromium refuses its sandbox to root, so when backbone runs as
//! root (cron on a small server often does) Chromium is started as `nobody` through `setpriv`
//! (util-linux), in a folder of its own holding a copy of the (self-contained) report; the PDF
//! is copied back. It is never started with `--no-sandbox`.

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
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
];

/// The account Chromium runs as when backbone runs as root.
const NOBODY: u32 = 65_534;

/// Prints `html` to `pdf` with `chromium`.
pub fn print_pdf(chromium: &Path, html: &Path, pdf: &Path) -> Result<(), ReportError> {
    use std::os::unix::fs::MetadataExt;
    let work = tempfile_dir()?;
    let result = (|| {
        // The folder's owner is this process's effective user.
        let root = std::fs::metadata(&work)
            .map_err(|e| ReportError::io(&work, &e))?
            .uid()
            == 0;
        let page = work.join("report.html");
        std::fs::copy(html, &page).map_err(|e| ReportError::io(html, &e))?;
        let printed = work.join("report.pdf");
        let profile = work.join("profile");
        let mut cmd = if root {
            for p in [&work, &page] {
                std::os::unix::fs::chown(p, Some(NOBODY), Some(NOBODY))
                    .map_err(|e| ReportError::io(p, &e))?;
            }
            let mut cmd = Command::new("setpriv");
            cmd.args([
                "--reuid",
                &NOBODY.to_string(),
                "--regid",
                &NOBODY.to_string(),
            ])
            .arg("--clear-groups")
            .arg(chromium);
            cmd
        } else {
            Command::new(chromium)
        };
        let output = cmd
            .env("HOME", &work)
            .args(QUIET_FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("--no-pdf-header-footer")
            .arg(format!("--print-to-pdf={}", printed.display()))
            .arg(format!("file://{}", page.display()))
            .output()
            .map_err(|e| {
                ReportError::Pdf(if root {
                    format!("running Chromium as nobody through setpriv (util-linux): {e}")
                } else {
                    format!("running {}: {e}", chromium.display())
                })
            })?;
        let ok = std::fs::metadata(&printed).is_ok_and(|m| m.len() > 0);
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
        std::fs::copy(&printed, pdf).map_err(|e| ReportError::io(pdf, &e))?;
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&work);
    result
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

#[cfg(test)]
mod tests {
    /// Issue 18, finding 9: Chromium keeps its sandbox (as root, it runs as nobody instead).
    #[test]
    fn chromium_is_never_told_to_drop_its_sandbox() {
        assert!(!super::QUIET_FLAGS.iter().any(|f| f.contains("sandbox")));
    }
}
