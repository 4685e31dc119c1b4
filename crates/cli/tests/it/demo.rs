//! The README's first command: `backbone demo` on a fresh directory, a year of the example
//! initiative through the nightly run.

use std::process::Command;

#[test]
fn demo_runs_a_year_and_ends_with_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("demo");
    let o = Command::new(env!("CARGO_BIN_EXE_backbone"))
        .arg("demo")
        .arg(&ws)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("139 files,"), "{out}");
    assert!(out.contains("reports/latest/index.html"), "{out}");

    // The report, in Hebrew and English, with the initiative's indicators.
    let he = std::fs::read_to_string(ws.join("reports/latest/index.html")).unwrap();
    assert!(he.contains("dir=\"rtl\""));
    assert!(he.contains("השותפות הלאומית לצמצום אלימות במשפחה"));
    assert!(he.contains("2024-12"), "the last month reported");
    let en = std::fs::read_to_string(ws.join("reports/latest/en/index.html")).unwrap();
    for id in [
        "people_reached",
        "referrals",
        "contact_within_week",
        "repeat_referrals",
        "improved",
        "reached_per_1000",
    ] {
        assert!(
            en.contains(&format!("id=\"{id}\"")),
            "{id} missing from the report"
        );
    }
    // And in Arabic, the initiative's third language: right to left, Arabic words, the
    // breakdowns' values by their Arabic labels (the store keeps the codes).
    let ar = std::fs::read_to_string(ws.join("reports/latest/ar/index.html")).unwrap();
    assert!(ar.contains("<html lang=\"ar\" dir=\"rtl\">"));
    assert!(ar.contains("الشراكة الوطنية للحد من العنف في العائلة"));
    assert!(ar.contains("بطاقة الأداء") && ar.contains("نساء") && ar.contains("الشمال"));
    assert!(en.contains("Women") && en.contains("Counselling"));
    // The northern health fund reads Arabic: its receipts are in Arabic.
    let receipt = std::fs::read_to_string(
        ws.join("outbox/health_fund_north/health_fund_north_2024-03.csv.receipt.txt"),
    )
    .unwrap();
    assert!(receipt.contains("إيصال تقديم بياناتكم"), "{receipt}");
    assert!(receipt.contains("صندوق المرضى — لواء الشمال"), "{receipt}");
    assert!(ws.join("reports/latest/results.xlsx").exists());
    assert!(ws.join("reports/latest/summary.md").exists());
    assert!(
        ws.join("reports/latest/charts/people_reached-trend.png")
            .exists()
    );

    // The story the demo tells: the silent partner is missing every month, the late one is
    // late, the partner with many errors gets receipts that list them, the June
    // resubmission replaces the first file.
    let completeness = std::fs::read_to_string(ws.join("results/completeness.csv")).unwrap();
    let status = |partner: &str, period: &str| {
        completeness
            .lines()
            .find(|l| l.starts_with(&format!("{partner},service_records,{period},")))
            .and_then(|l| l.split(',').nth(4).map(str::to_owned))
            .unwrap_or_default()
    };
    assert_eq!(status("crisis_center", "2024-03"), "missing");
    assert_eq!(status("police", "2024-03"), "late");
    assert_eq!(status("clinic", "2024-03"), "on_time");
    let receipt = std::fs::read_to_string(
        ws.join("outbox/municipality/municipality_2024-05.csv.receipt.txt"),
    )
    .unwrap();
    assert!(receipt.contains("מה לתקן"), "{receipt}");
    let corrected = std::fs::read_to_string(
        ws.join("outbox/welfare/welfare_2024-06_corrected.xlsx.receipt.txt"),
    )
    .unwrap();
    assert!(corrected.contains("מחליף את ההגשה הקודמת"), "{corrected}");
    let english =
        std::fs::read_to_string(ws.join("outbox/legal_aid/legal_aid_2024-05.xlsx.receipt.txt"))
            .unwrap();
    assert!(
        english.starts_with("Receipt for your data submission"),
        "{english}"
    );
    // The clinic's September minutes, typed in hours: every row valid, the month's mean far
    // outside the clinic's other months, in the quality table and on its page.
    let quality = std::fs::read_to_string(ws.join("results/quality.csv")).unwrap();
    let flagged: Vec<&str> = quality
        .lines()
        .filter(|l| l.contains("\"minutes="))
        .collect();
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    assert!(flagged[0].starts_with("clinic,service_records,2024-09,"));
    let page = std::fs::read_to_string(ws.join("reports/latest/en/partners/clinic.html")).unwrap();
    assert!(
        page.contains("minutes: mean 1.49 (usually "),
        "the clinic's page"
    );
    // The ministry's half-yearly workbook: quarter sheets read wide, the one figure typed
    // as words pointed at in its own sheet, the regions' quarters summed, Tel Aviv's small
    // figures suppressed.
    let ministry =
        std::fs::read_to_string(ws.join("outbox/ministry/ministry_2024-H1.xlsx.receipt.txt"))
            .unwrap();
    assert!(
        ministry.contains("הטבלה נקראה כפי שסידרתם אותה"),
        "{ministry}"
    );
    assert!(ministry.contains("רבעון 2 2024!C8"), "{ministry}");
    assert!(
        en.contains("id=\"ministry_referrals\""),
        "the ministry's indicator"
    );
    let indicators = std::fs::read_to_string(ws.join("results/indicators.csv")).unwrap();
    let ministry_rows: Vec<&str> = indicators
        .lines()
        .filter(|l| l.starts_with("ministry_referrals,"))
        .collect();
    assert!(
        ministry_rows.iter().any(|l| l.contains("2024-Q4")),
        "{ministry_rows:?}"
    );
    assert!(
        ministry_rows
            .iter()
            .filter(|l| l.contains("region=תל אביב"))
            .all(|l| l.contains("true")),
        "Tel Aviv's small quarters are suppressed: {ministry_rows:?}"
    );
    // The shelter's new system renames its minutes column in July: read as before, and the
    // receipt says so; in October a notes column appears, which the receipt names.
    let july =
        std::fs::read_to_string(ws.join("outbox/shelter/shelter_2024-07.csv.receipt.txt")).unwrap();
    assert!(
        july.contains("העמודה \"דקות\" נקראת עכשיו \"משך הטיפול (דקות)\""),
        "{july}"
    );
    let october =
        std::fs::read_to_string(ws.join("outbox/shelter/shelter_2024-10.csv.receipt.txt")).unwrap();
    assert!(october.contains("עמודה חדשה \"הערות\""), "{october}");
    // The night's summary says it to the data manager.
    let night = std::fs::read_to_string(ws.join("runs/2024-08-07T220000Z.json")).unwrap();
    assert!(
        night.contains(r#"column \"דקות\" is now \"משך הטיפול (דקות)\": read as minutes"#),
        "{night}"
    );
    // The shelter's page in the report says its minutes are read under the new name.
    let shelter_page =
        std::fs::read_to_string(ws.join("reports/latest/en/partners/shelter.html")).unwrap();
    assert!(
        shelter_page.contains("Changes in the latest file")
            && shelter_page.contains("is read as minutes since it was renamed"),
        "the shelter's page"
    );
    // August's file has July's header: minutes are still read under the new name.
    let august =
        std::fs::read_to_string(ws.join("outbox/shelter/shelter_2024-08.csv.receipt.txt")).unwrap();
    assert!(!august.contains("עמודה חסרה"), "{august}");
    // The profile change it asks for, until the data manager makes it.
    let from_drift = Command::new(env!("CARGO_BIN_EXE_backbone"))
        .args(["profile", "draft", "--from-drift", "--partner", "shelter"])
        .args(["--schema", "service_records", "--workspace"])
        .arg(&ws)
        .output()
        .unwrap();
    let proposed = String::from_utf8_lossy(&from_drift.stdout);
    assert!(
        from_drift.status.success()
            && proposed.contains("[fields.minutes]")
            && proposed.contains("aliases = [\"משך הטיפול (דקות)\"]"),
        "{proposed}"
    );
    let reminders = std::fs::read_to_string(ws.join("reminders.csv")).unwrap();
    assert!(reminders.contains("crisis_center") && reminders.contains("info@crisis.example.org"));

    // Every file that arrived was processed; none was lost.
    let processed: usize = std::fs::read_dir(ws.join("processed"))
        .unwrap()
        .map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count())
        .sum();
    assert_eq!(processed, 139);

    // What the committee receives gives no suppressed count away.
    crate::audit::demo_report_gives_nothing_away(&ws);

    // DuckDB, running `backbone sql` through its Delta reader, finds every published value.
    crate::sql::duckdb_agrees_with_metrics(&ws);

    // An edition each quarter. Edition 3 tells the committee that Q2 moved after the welfare
    // department's corrected June file (a week after edition 2); the latest report (edition
    // 4) lists what moved since edition 3; every edition reads as published.
    for n in 1..=4 {
        assert!(
            ws.join(format!("editions/{n}/edition.json")).is_file(),
            "edition {n}"
        );
    }
    let third = std::fs::read_to_string(ws.join("editions/3/en/index.html")).unwrap();
    assert!(
        third.contains("Values published in edition 2 (2024-07-12) that have changed since"),
        "{third}"
    );
    let q2 = third
        .lines()
        .find(|l| l.starts_with("<li>Referrals, 2024-Q2: revised from "))
        .unwrap_or_else(|| panic!("no Q2 referrals revision in edition 3"));
    assert!(
        q2.contains(
            "corrected file for 2024-06 (welfare_2024-06_corrected.xlsx, received 2024-07-14)"
        ),
        "{q2}"
    );
    let latest = std::fs::read_to_string(ws.join("reports/latest/en/index.html")).unwrap();
    assert!(
        latest.contains("Values published in edition 3 (2024-10-12) that have changed since"),
        "the latest report lists the revisions since the last edition before it"
    );
    assert!(latest.contains("id=\"triangle\""), "the revisions triangle");
    let verify = Command::new(env!("CARGO_BIN_EXE_backbone"))
        .args(["editions", "--verify", "--workspace"])
        .arg(&ws)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(verify.status.success(), "{said}");
    assert_eq!(said.matches("reads as published").count(), 4, "{said}");

    // The nightly run on the finished year has nothing to do.
    let again = Command::new(env!("CARGO_BIN_EXE_backbone"))
        .args(["run", "--workspace"])
        .arg(&ws)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.status.success() && said.contains("store unchanged"),
        "{said}"
    );
}
