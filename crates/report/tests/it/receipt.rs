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
        },
        partner: match lang {
            Lang::He => "מרפאה".into(),
            Lang::En => "Clinic".into(),
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
    // What a valid value looks like is in Hebrew on the Hebrew receipt, English on the other.
    for english in ["one of ", "such as", "written like", "type is"] {
        assert!(!he.text.contains(english), "{english} in\n{}", he.text);
        assert!(!he.html.contains(english), "{english} in the HTML");
    }
    assert!(en.text.contains("A valid value"), "{}", en.text);
}
