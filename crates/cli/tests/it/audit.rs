//! `backbone audit` on the demo's published report (called from the demo's test, which has
//! run the year): nothing recoverable, no data manager's table published; and on a tampered
//! copy, the planted leak and the misplaced table are found.

use std::path::Path;
use std::process::Command;

fn audit(ws: &Path, report: Option<&Path>) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_backbone"));
    cmd.arg("audit").arg("--workspace").arg(ws);
    if let Some(r) = report {
        cmd.arg("--report").arg(r);
    }
    let o = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code().unwrap_or(-1), text)
}

/// The demo's report, as the committee gets it.
pub fn demo_report_gives_nothing_away(ws: &Path) {
    let latest = ws.join("reports/latest");
    assert!(
        !latest.join("quality.csv").exists(),
        "quality.csv is the data manager's"
    );
    assert!(!latest.join("en/quality.csv").exists());
    let (code, out) = audit(ws, None);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("nothing recoverable"), "{out}");
    assert!(
        out.contains("read ") && out.contains("en/indicators.csv"),
        "{out}"
    );

    // A tampered copy: referrals by partner in one quarter rewritten so that one hidden
    // partner is the total less the others, 2; and quality.csv beside it.
    let tampered = ws.join("tampered");
    std::fs::create_dir_all(&tampered).unwrap();
    let text = std::fs::read_to_string(latest.join("indicators.csv")).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let header = lines[0].clone();
    let total_of = |period: &str, lines: &[String]| -> Option<f64> {
        lines.iter().find_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0] == "referrals" && f[1] == period && f[2].is_empty() && f[6] == "false")
                .then(|| f[3].parse().ok())
                .flatten()
        })
    };
    let period = "2024-Q3";
    let total = total_of(period, &lines).expect("referrals 2024-Q3 published");
    // The first partner hidden, the second total − 2, the others 0.
    let mut seen = 0;
    for l in lines.iter_mut() {
        let mut f: Vec<String> = l.split(',').map(str::to_owned).collect();
        if f[0] == "referrals" && f[1] == period && f[2].starts_with("partner=") {
            let value = match seen {
                0 => String::new(),
                1 => format!("{}", total - 2.0),
                _ => "0".to_owned(),
            };
            f[3] = value.clone();
            f[4] = value;
            f[6] = (seen == 0).to_string();
            *l = f.join(",");
            seen += 1;
        }
    }
    assert!(seen >= 3, "referrals {period} by partner");
    assert_eq!(lines[0], header);
    std::fs::write(tampered.join("indicators.csv"), lines.join("\n") + "\n").unwrap();
    std::fs::copy(ws.join("results/quality.csv"), tampered.join("quality.csv")).unwrap();
    let (code, out) = audit(ws, Some(&tampered));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("DISCLOSED rows of service_records by referral_date · 2024-Q3 · partner=")
            && out.contains("exactly 2"),
        "{out}"
    );
    assert!(
        out.contains("NOT FOR PUBLICATION") && out.contains("quality.csv"),
        "{out}"
    );
}
