//! What backbone's tests share, and nothing heavy: a dev-dependency of every crate that has
//! tests, depending on no other crate of the workspace.
//!
//! - [`root`]: the repository's root, for fixtures and the example's declarations.
//! - [`run`] and [`text`]: the `backbone` binary on a workspace, with the clock set.
//! - [`outside_tool`]: the one convention for a test that needs a program the project does
//!   not build (Chromium, ChromeDriver, frictionless-py, Python's deltalake or duckdb): on a
//!   developer's machine without it, the test says `SKIPPED` and why, and passes; under CI
//!   (`CI` set, as CI runs `.ci/run`, which installs them all) a missing tool fails the test.
//! - [`CHROMIUM_FLAGS`]: how the tests start a headless Chromium on these machines.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository's root: two folders up from the crate under test, as cargo names it when it
/// runs the test (`CARGO_MANIFEST_DIR` at run time). This crate's own folder at compile time is
/// only the fallback: a build cache shared by two clones (CI's and the developer's) can hold a
/// testkit compiled in the other clone, whose path is then baked in.
pub fn root() -> PathBuf {
    crate_dir().join("../..")
}

/// The folder of the crate under test, as cargo names it when it runs the test (see [`root`]).
pub fn crate_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

/// A fixture partner file under `tests/fixtures/files/`.
pub fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/files").join(name)
}

/// Runs `BIN ARGS --workspace WS` with `BACKBONE_CLOCK` set to `clock` and no standard input.
///
/// # Panics
/// When the binary cannot be started (a test failure).
pub fn run(bin: &Path, ws: &Path, args: &[&str], clock: &str) -> Output {
    let o = match Command::new(bin)
        .args(args)
        .arg("--workspace")
        .arg(ws)
        .env("BACKBONE_CLOCK", clock)
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!("cannot run {}: {e}", bin.display()),
    };
    let stderr = String::from_utf8_lossy(&o.stderr);
    if let Some(line) = library_warning(&stderr) {
        panic!(
            "`backbone {}` printed a library's warning:\n{line}",
            args.join(" ")
        );
    }
    o
}

/// The first line of `stderr` that is a warning or error logged by a library rather than by
/// backbone (`… WARN deltalake_core::…: …`): it reaches the data manager on every command
/// that meets it, and says nothing they can act on.
pub fn library_warning(stderr: &str) -> Option<&str> {
    stderr.lines().find(|line| {
        [" WARN ", " ERROR "].iter().any(|level| {
            // `<timestamp>  WARN <target>: <message>`, as the CLI's tracing writes it.
            line.split_once(level).is_some_and(|(time, rest)| {
                let target = rest.split(": ").next().unwrap_or_default();
                time.starts_with(|c: char| c.is_ascii_digit())
                    && rest.contains(": ")
                    && !target.is_empty()
                    && !target.contains(' ')
                    && !target.starts_with("backbone")
            })
        })
    })
}

/// Standard output and error together.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A file in a folder of its own, both removed when dropped (tests must not fill /tmp).
pub struct TempFile {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for TempFile {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TempFile {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// Writes `bytes` to a new temporary file called `name`.
///
/// # Panics
/// When the temporary folder cannot be made or written (a test failure).
pub fn temp_file(name: &str, bytes: &[u8]) -> TempFile {
    let dir = match tempfile::Builder::new().prefix("backbone-test-").tempdir() {
        Ok(d) => d,
        Err(e) => panic!("no temporary folder: {e}"),
    };
    let path = dir.path().join(name);
    if let Err(e) = std::fs::write(&path, bytes) {
        panic!("writing {}: {e}", path.display());
    }
    TempFile { path, _dir: dir }
}

/// Whether this is CI, where every outside tool must be there.
pub fn under_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// `found`, or: under CI, a failure saying that `.ci/run` installs `what`; elsewhere `None`
/// after a visible `SKIPPED` line (`cargo test -- --nocapture` shows it; so does the test's
/// output when it fails for another reason).
///
/// # Panics
/// Under CI when `found` is `None`.
pub fn outside_tool<T>(what: &str, how: &str, found: Option<T>) -> Option<T> {
    if found.is_some() {
        return found;
    }
    assert!(
        !under_ci(),
        "{what} is missing, and this is CI: .ci/run installs it ({how})"
    );
    eprintln!("SKIPPED: {what} is missing ({how}); .ci/run installs it");
    None
}

/// An executable named by the environment variable `var`, else `default` on the `PATH`, if
/// it runs (`--version` answers).
pub fn program(var: &str, default: &str) -> Option<PathBuf> {
    let exe = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
    Command::new(&exe)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()
        .filter(std::process::ExitStatus::success)
        .map(|_| exe)
}

/// How the tests start Chromium: headless, as root on a machine with no GPU, no network
/// beyond loopback (without the background-networking flags it tries Google's hosts at every
/// start), and a fresh profile each time.
pub const CHROMIUM_FLAGS: [&str; 9] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_that_is_there_is_given_back() {
        assert_eq!(outside_tool("x", "y", Some(3)), Some(3));
        assert!(root().join("Cargo.toml").is_file());
        assert!(program("BACKBONE_TESTKIT_NO_SUCH_VAR", "/no/such/program").is_none());
    }

    #[test]
    fn a_library_warning_is_found_and_backbones_own_are_not() {
        let delta = "2026-12-05T10:23:09.284628Z  WARN deltalake_core::kernel::snapshot::stats_projection: stats schema lacks a complete min/max field pair";
        assert_eq!(library_warning(&format!("ok\n{delta}\n")), Some(delta));
        let own = "2026-12-05T10:23:09Z  WARN backbone_pipeline::night: a file was held";
        assert_eq!(library_warning(own), None);
        assert_eq!(library_warning("rejected: 3 rows WARN nothing"), None);
        assert_eq!(library_warning(""), None);
    }
}
