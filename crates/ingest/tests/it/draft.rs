//! `profile draft`: from no profile, each file of the example inbox gets a profile under which
//! it validates as it does with the hand-written one (or with none, where none is needed).

use std::path::{Path, PathBuf};

use backbone_ingest::{Limits, Options, ValidationReport, draft_profile, validate_file};
use backbone_schema::{Profile, TableSchema};

fn repo() -> PathBuf {
    backbone_testkit::crate_dir().join("../..")
}

fn validate(path: &Path, schema: &TableSchema, profile: Option<Profile>) -> ValidationReport {
    let merged = match &profile {
        Some(p) => schema.with_profile(p, "profile").unwrap(),
        None => schema.clone(),
    };
    let options = Options {
        profile,
        ..Options::default()
    };
    validate_file(path, &merged, &options).unwrap()
}

fn counts(r: &ValidationReport) -> (u64, u64, u64, u64) {
    (
        r.stats.rows,
        r.stats.accepted,
        r.stats.rejected,
        r.stats.errors,
    )
}

#[test]
fn a_draft_reads_each_example_file_as_its_hand_written_profile_does() {
    let root = repo();
    let inbox = root.join("pipelines/example-inbox");
    let mut seen = 0;
    for partner in std::fs::read_dir(&inbox).unwrap() {
        let partner = partner.unwrap().path();
        let id = partner.file_name().unwrap().to_string_lossy().into_owned();
        for file in std::fs::read_dir(&partner).unwrap() {
            let file = file.unwrap().path();
            let hand = root.join(format!("pipelines/profiles/{id}.toml"));
            let hand = hand.is_file().then(|| Profile::load(&hand).unwrap());
            let schema_name = hand
                .as_ref()
                .and_then(|p| p.schema.clone())
                .unwrap_or_else(|| "service_records".to_owned());
            let schema =
                TableSchema::load(&root.join(format!("data-schemas/{schema_name}.json"))).unwrap();
            let expected = validate(&file, &schema, hand);
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            let draft =
                draft_profile(&file, &name, &schema, Some(&id), &Limits::default()).unwrap();
            if id == "ministry" || id == "hotline" {
                // A workbook of quarter sheets with months across; a semicolon file under a
                // title line, with decimal commas and v/x for yes/no.
                insta::assert_snapshot!(format!("draft_{id}"), draft.toml);
            }
            let profile = Profile::from_toml(&draft.toml, "draft")
                .unwrap_or_else(|e| panic!("{name}: {e}\n{}", draft.toml));
            let got = validate(&file, &schema, Some(profile));
            assert_eq!(
                counts(&got),
                counts(&expected),
                "{name}: the draft reads it otherwise\n--- draft\n{}\n--- with the draft\n{}\n--- expected\n{}",
                draft.toml,
                got.to_text(),
                expected.to_text()
            );
            seen += 1;
        }
    }
    assert!(seen >= 7, "{seen} example files");
}

#[test]
fn a_draft_finds_renamed_columns_ids_and_unknown_spellings() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("new_partner.csv");
    // Few headers are a name or alias of the schema's: ת"ז is ת.ז. spelt otherwise, "מזהה"
    // is found by its 9-digit values, "מגדר" by its נ/ז, "שיפור" is a word of "חל שיפור"
    // and its v/x are yes and no; "נק" and "זכ" are the partner's own abbreviations; the first
    // contact dates are month first (a 13 in the middle).
    std::fs::write(
        &file,
        "מס רשומה,מזהה,תאריך ההפניה,תאריך מגע,מגדר,גיל,אזור,סוג שירות,דקות,שיפור\n\
         A01-0001,012345678,13/01/2024,01/13/2024,נ,34,חיפה,ייעוץ,45,v\n\
         A01-0002,223456789,02/02/2024,02/03/2024,ז,51,צפון,ייעוץ,30,x\n\
         A01-0003,323456789,03/02/2024,02/04/2024,נק,40,דרום,מקלט,20,v\n\
         A01-0004,423456789,04/02/2024,02/05/2024,זכ,29,מרכז,מקלט,25,x\n",
    )
    .unwrap();
    let schema = TableSchema::load(&repo().join("data-schemas/service_records.json")).unwrap();
    let draft = draft_profile(
        &file,
        "new_partner.csv",
        &schema,
        Some("new"),
        &Limits::default(),
    )
    .unwrap();
    insta::assert_snapshot!("draft_new_partner", draft.toml);
    let profile = Profile::from_toml(&draft.toml, "draft").unwrap();
    let report = validate(&file, &schema, Some(profile));
    assert_eq!(counts(&report), (4, 4, 0, 0), "{}", report.to_text());
}

#[test]
fn drift_a_plain_rename_is_read_the_rest_is_said() {
    use backbone_ingest::{KnownHeader, add_spellings, header_drift, profile_change, read_file};
    let dir = tempfile::tempdir().unwrap();
    let schema = TableSchema::load(&repo().join("data-schemas/service_records.json")).unwrap();
    let header = [
        "מספר רשומה",
        "תעודת זהות",
        "תאריך הפניה",
        "מין",
        "אזור",
        "סוג שירות",
        "דקות",
    ];
    let known = KnownHeader {
        submission: "clinic-service_records-2024-05-000000000000".into(),
        labels: header.iter().map(|s| (*s).to_owned()).collect(),
        field_columns: [
            ("record_id", "מספר רשומה"),
            ("person_id", "תעודת זהות"),
            ("referral_date", "תאריך הפניה"),
            ("gender", "מין"),
            ("region", "אזור"),
            ("service_type", "סוג שירות"),
            ("minutes", "דקות"),
        ]
        .iter()
        .map(|(f, l)| ((*f).to_owned(), (*l).to_owned()))
        .collect(),
        ..KnownHeader::default()
    };
    // June's file: "דקות" is now "משך (דקות)" in the same place, "אזור" moved to the end, a
    // "הערות" column is new, and "נ/ב" is a spelling nobody knew.
    let file = dir.path().join("clinic_2024-06.csv");
    std::fs::write(
        &file,
        "מספר רשומה,תעודת זהות,תאריך הפניה,מין,סוג שירות,משך (דקות),הערות,אזור\n\
         C01-0001,012345678,03/06/2024,נ,ייעוץ,45,,חיפה\n\
         C01-0002,223456789,04/06/2024,נ/ב,ייעוץ,30,שיחה,צפון\n",
    )
    .unwrap();
    let mut read_as = schema.clone();
    let options = Options::default();
    let mut drift =
        header_drift(&file, "clinic_2024-06.csv", &mut read_as, &options, &known).unwrap();
    let report = read_file(&file, &read_as, &options, &mut backbone_ingest::Discard).unwrap();
    add_spellings(&mut drift, &report, &known);
    // The renamed minutes column is read as minutes: no row is lost to it.
    assert_eq!(
        report
            .source
            .field_columns
            .get("minutes")
            .map(String::as_str),
        Some("משך (דקות)")
    );
    assert_eq!(
        (report.stats.accepted, report.stats.rejected),
        (1, 1),
        "{}",
        report.to_text()
    );
    insta::assert_snapshot!("drift_lines", drift.lines().join("\n"));
    let after = KnownHeader::after(Some(&known), "june".into(), &report, drift.clone());
    insta::assert_snapshot!("drift_profile_change", profile_change(&after, &schema));
    // July's file has June's header: the rename is read again, and is no longer news; the
    // profile change still proposes it until the profile has it.
    let mut july_schema = schema.clone();
    let again = header_drift(
        &file,
        "clinic_2024-07.csv",
        &mut july_schema,
        &options,
        &after,
    )
    .unwrap();
    assert!(
        again.renamed.is_empty() && again.added.is_empty(),
        "{again:?}"
    );
    let july = read_file(&file, &july_schema, &options, &mut backbone_ingest::Discard).unwrap();
    assert_eq!(
        july.source.field_columns.get("minutes").map(String::as_str),
        Some("משך (דקות)")
    );
    let mut again = again;
    add_spellings(&mut again, &july, &after);
    assert!(again.new_spellings.is_empty(), "{again:?}");
    assert!(profile_change(&after, &schema).contains("aliases = [\"משך (דקות)\"]"));
    // Without the drift, the same file loses its minutes (the column is not found).
    let plain = validate(&file, &schema, None);
    assert!(!plain.source.field_columns.contains_key("minutes"));
}

/// The layouts of part 2, drafted from nothing: each fixture validates under its draft as
/// under its hand-written profile.
#[test]
fn a_draft_finds_each_layout_the_hand_written_profiles_declare() {
    let fixtures = repo().join("tests/fixtures");
    for (file, profile, schema) in [
        ("ministry_wide.xlsx", "ministry", "referrals_by_region"),
        ("ministrylo_wide.ods", "ministrylo", "referrals_by_region"),
        (
            "ministryquarter.ods",
            "ministryquarter",
            "referrals_by_region",
        ),
        (
            "ministrysheets.xlsx",
            "ministrysheets",
            "referrals_by_region",
        ),
        ("monthly_sheets.ods", "monthly", "referrals_by_region"),
    ] {
        let path = fixtures.join("files").join(file);
        let schema = TableSchema::load(&fixtures.join(format!("schemas/{schema}.json"))).unwrap();
        let hand = Profile::load(&fixtures.join(format!("profiles/{profile}.toml"))).unwrap();
        let expected = validate(&path, &schema, Some(hand));
        let draft = draft_profile(&path, file, &schema, None, &Limits::default()).unwrap();
        let drafted = Profile::from_toml(&draft.toml, "draft")
            .unwrap_or_else(|e| panic!("{file}: {e}\n{}", draft.toml));
        let got = validate(&path, &schema, Some(drafted));
        assert_eq!(
            counts(&got),
            counts(&expected),
            "{file}\n--- draft\n{}\n--- with the draft\n{}\n--- expected\n{}",
            draft.toml,
            got.to_text(),
            expected.to_text()
        );
    }
}
