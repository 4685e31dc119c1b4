//! Files built to exhaust the reader, through `backbone validate` (issue 18, finding 1): each
//! is answered within 60 s, by a process whose peak memory stays under 512 MB; and the reading
//! child's own bounds, when a file passes every budget yet needs more than the child may use.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Runs the binary and waits for it with `wait4`, which gives that child's own peak memory
/// (and reaps it: clippy cannot see that).
#[allow(clippy::zombie_processes)]
fn measured(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> (i32, String, u64, Duration) {
    let started = Instant::now();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_backbone"));
    cmd.args(args)
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = i32::try_from(child.id()).unwrap();
    // Both pipes are small here (a report of one error); read after the process ends.
    let mut status = 0;
    // SAFETY: `wait4` on the child just started, with valid pointers to locals.
    #[allow(unsafe_code)]
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        let _ = libc::wait4(pid, &mut status, 0, &mut usage);
        usage
    };
    let took = started.elapsed();
    let mut said = String::new();
    if let Some(mut out) = child.stdout {
        let _ = std::io::Read::read_to_string(&mut out, &mut said);
    }
    if let Some(mut err) = child.stderr {
        let _ = std::io::Read::read_to_string(&mut err, &mut said);
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    // ru_maxrss is in KiB on Linux.
    (
        code,
        said,
        u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024,
        took,
    )
}

fn schema() -> std::path::PathBuf {
    backbone_testkit::root().join("tests/fixtures/schemas/service_records.json")
}

fn validate(file: &Path, env: &[(&str, &str)]) -> (i32, String, u64, Duration) {
    let schema = schema();
    measured(
        &[
            "validate".as_ref(),
            file.as_os_str(),
            "--schema".as_ref(),
            schema.as_os_str(),
        ],
        env,
    )
}

#[test]
fn hostile_spreadsheets_are_answered_quickly_within_512_mb() {
    let dir = backbone_testkit::root().join("tests/fixtures/hostile");
    for (name, said) in [
        ("repeated.ods", "expand to 99942400 cells"),
        ("declared_strings.xlsx", "2000000000 shared strings"),
        ("deep.ods", "nested deeper"),
        ("far.xls", "expand to 16777216 cells"),
    ] {
        let (code, out, peak, took) = validate(&dir.join(name), &[]);
        assert_eq!(code, 2, "{name}: {out}");
        assert!(out.contains(said), "{name}: {out}");
        assert!(peak < 512 << 20, "{name}: peak {} MiB", peak >> 20);
        assert!(took < Duration::from_secs(60), "{name}: {took:?}");
    }
}

/// A workbook read by a child given less memory than it needs, or less time: the child ends,
/// and the answer says why, at once, instead of this process growing or waiting.
#[test]
fn a_workbook_the_reading_child_cannot_hold_is_refused_in_words() {
    let file = backbone_testkit::fixture("health_fund.ods");
    let (code, out, _, _) = validate(&file, &[]);
    assert!(code == 0 || code == 1, "{out}");
    // With 1 MiB the child cannot start its reading threads: it ends (or stalls and is ended
    // at the deadline); either way the answer is a refusal in words, within the deadline.
    let (code, out, _, took) = validate(
        &file,
        &[
            ("BACKBONE_READ_MEMORY_MB", "1"),
            ("BACKBONE_READ_SECONDS", "5"),
        ],
    );
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("needs more than 1 MiB of memory") || out.contains("took more than 5 s"),
        "{out}"
    );
    assert!(took < Duration::from_secs(15), "{took:?}");
    let (code, out, _, _) = validate(&file, &[("BACKBONE_READ_SECONDS", "0")]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("took more than 0 s"), "{out}");
}
