//! Receipts are what a partner reads to fix a file: snapshots of the plain-text receipt, in
//! Hebrew and in English, of a real fixture with type and value errors.

use std::path::PathBuf;

use backbone_ingest::{Options, validate_file};
use backbone_report::{Lang, ReceiptInfo, receipt};
use backbone_schema::TableSchema;

fn fixtures() -> PathBuf {
    backbone_testkit::crate_dir().join("../../tests/fixtures")
}

fn info(lang: Lang) -> ReceiptInfo {
    ReceiptInfo {
        initiative: match lang {
            Lang::He => "השותפות הלאומית".into(),
            Lang::En => "The national partnership".into(),
            Lang::Ar => "الشراكة الوطنية".into(),
        },
        partner: match lang {
            Lang::He => "מרפאה".into(),
            Lang::En => "Clinic".into(),
            Lang::Ar => "العيادة".into(),
        },
        file: "clinic_windows1255.csv".into(),
        schema: "service_records".into(),
        period: "2024-03".into(),
        received: "2024-04-07T22:00:00Z".into(),
        submission: "clinic-service_records-2024-03-0123456789ab".into(),
        ..ReceiptInfo::default()
    }
}

#[test]
fn a_receipt_says_which_cells_to_fix_in_the_partners_language() {
    let dir = fixtures();
    let schema = TableSchema::load(&dir.join("schemas/service_records.json")).unwrap();
    let options = Options {
        display_name: Some("clinic_windows1255.csv".into()),
        ..Options::default()
    };
    let report =
        validate_file(&dir.join("files/clinic_windows1255.csv"), &schema, &options).unwrap();
    assert!(!report.errors.is_empty(), "the fixture has errors to fix");
    let he = receipt(&report, &info(Lang::He), Lang::He).unwrap();
    let en = receipt(&report, &info(Lang::En), Lang::En).unwrap();
    insta::assert_snapshot!("receipt_he_txt", he.text);
    insta::assert_snapshot!("receipt_en_txt", en.text);
    let ar = receipt(&report, &info(Lang::Ar), Lang::Ar).unwrap();
    insta::assert_snapshot!("receipt_ar_txt", ar.text);
    assert!(ar.html.contains("dir=\"rtl\"") && ar.html.contains("lang=\"ar\""));
    // What a valid value looks like is in Hebrew on the Hebrew receipt, English on the other.
    for english in ["one of ", "such as", "written like", "type is"] {
        assert!(!he.text.contains(english), "{english} in\n{}", he.text);
        assert!(!he.html.contains(english), "{english} in the HTML");
        assert!(!ar.text.contains(english), "{english} in\n{}", ar.text);
    }
    assert!(en.text.contains("A valid value"), "{}", en.text);
    // Each problem's title and what a valid value looks like, in Arabic.
    assert!(ar.text.contains("قيمة صحيحة"), "{}", ar.text);
    assert!(ar.text.contains("نوع قيمة خاطئ"), "{}", ar.text);
}

#[test]
fn a_wide_sheets_receipt_points_at_the_partners_cells_and_says_how_it_was_read() {
    let dir = fixtures();
    let schema = TableSchema::load(&dir.join("schemas/referrals_by_region.json")).unwrap();
    let profile = backbone_schema::Profile::load(&dir.join("profiles/ministry.toml")).unwrap();
    let schema = schema.with_profile(&profile, "ministry.toml").unwrap();
    let options = Options {
        display_name: Some("ministry_wide.xlsx".into()),
        profile: Some(profile),
        ..Options::default()
    };
    let report = validate_file(&dir.join("files/ministry_wide.xlsx"), &schema, &options).unwrap();
    let mut he_info = info(Lang::He);
    he_info.partner = "משרד הרווחה".into();
    he_info.file = "ministry_wide.xlsx".into();
    he_info.schema = "referrals_by_region".into();
    let he = receipt(&report, &he_info, Lang::He).unwrap();
    insta::assert_snapshot!("receipt_wide_he_txt", he.text);
    // The bad figure is named by the cell the partner sees, and the totals note is there.
    assert!(he.text.contains("D7"), "{}", he.text);
    assert!(he.text.contains("H6"), "{}", he.text);
    assert!(he.html.contains("6 עמודות של נתונים"), "{}", he.html);
}
