//! Indicators on a small store whose every value was computed by hand.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
};
use backbone_metrics::{AsOf, Declarations, ValueRow};
use backbone_store::{Store, Submission};

fn root() -> PathBuf {
    backbone_testkit::crate_dir().join("../..")
}

fn days(date: &str) -> i32 {
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
    (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32
}

/// (person, referral, first contact, gender, age, region, service, improved)
type Row<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    &'a str,
    i64,
    &'a str,
    &'a str,
    Option<bool>,
);

fn batch(schema: &backbone_schema::TableSchema, rows: &[Row]) -> RecordBatch {
    let arrow = backbone_ingest::arrow_schema(schema);
    let n = rows.len();
    let columns: Vec<ArrayRef> = arrow
        .fields()
        .iter()
        .map(|f| -> ArrayRef {
            match f.name().as_str() {
                "record_id" => Arc::new(StringArray::from_iter_values(
                    (0..n).map(|i| format!("A{:02}-{:04}", i % 100, i)),
                )),
                "person_id" => Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                "referral_date" => Arc::new(Date32Array::from_iter_values(
                    rows.iter().map(|r| days(r.1)),
                )),
                "first_contact_date" => {
                    Arc::new(Date32Array::from_iter(rows.iter().map(|r| r.2.map(days))))
                }
                "gender" => Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.3))),
                "age" => Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.4))),
                "region" => Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.5))),
                "service_type" => Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.6))),
                "minutes" => Arc::new(Float64Array::from_iter_values(rows.iter().map(|_| 30.0))),
                "outcome_improved" => Arc::new(BooleanArray::from(
                    rows.iter().map(|r| r.7).collect::<Vec<_>>(),
                )),
                "_row_number" => {
                    Arc::new(Int64Array::from_iter_values((0..n as i64).map(|i| i + 2)))
                }
                other => panic!("unexpected column {other}"),
            }
        })
        .collect();
    RecordBatch::try_new(arrow, columns).unwrap()
}

fn submit(
    store: &Store,
    schema: &backbone_schema::TableSchema,
    partner: &str,
    period: &str,
    tag: &str,
    rows: &[Row],
) -> u64 {
    let sha = format!("{tag:0>64}");
    let s = Submission {
        id: format!("{partner}-service_records-{period}-{}", &sha[..12]),
        partner: partner.into(),
        schema: "service_records".into(),
        period: period.into(),
        file_name: format!("{partner}-{period}.csv"),
        sha256: sha,
        received: received_after(period),
        rows_read: rows.len() as u64,
        rows_accepted: rows.len() as u64,
        rows_rejected: 0,
        rows_with_warnings: 0,
        verdict: "accepted".into(),
        supersedes: None,
        table_version: None,
    };
    match store
        .commit(
            s,
            &backbone_ingest::arrow_schema(schema),
            vec![batch(schema, rows)],
        )
        .unwrap()
    {
        backbone_store::Committed::Version(v) => v,
        backbone_store::Committed::Duplicate(_) => panic!("duplicate"),
    }
}

/// Five days into the month after the period (`2024-01` → `2024-02-05`): on time.
fn received_after(period: &str) -> String {
    let (y, m) = period.split_once('-').unwrap();
    let (y, m): (i32, u32) = (y.parse().unwrap(), m.parse().unwrap());
    let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    format!("{y:04}-{m:02}-05T10:00:00Z")
}

/// A workspace with the example's declarations and a hand-made store.
fn workspace(threshold: u64) -> tempfile::TempDir {
    let ws = tempfile::tempdir().unwrap();
    let p = ws.path();
    std::fs::create_dir_all(p.join("data-schemas")).unwrap();
    std::fs::create_dir_all(p.join("pipelines/indicators")).unwrap();
    for s in [
        "service_records",
        "population",
        "backbone_activity",
        "referrals_by_region",
    ] {
        std::fs::copy(
            root().join(format!("data-schemas/{s}.json")),
            p.join(format!("data-schemas/{s}.json")),
        )
        .unwrap();
    }
    std::fs::copy(
        root().join("pipelines/indicators/service.toml"),
        p.join("pipelines/indicators/service.toml"),
    )
    .unwrap();
    let initiative = std::fs::read_to_string(root().join("pipelines/initiative.toml"))
        .unwrap()
        .replace("threshold = 10", &format!("threshold = {threshold}"));
    std::fs::write(p.join("pipelines/initiative.toml"), initiative).unwrap();
    ws
}

fn population(store: &Store) {
    let schema =
        backbone_schema::TableSchema::load(&root().join("data-schemas/population.json")).unwrap();
    let arrow = backbone_ingest::arrow_schema(&schema);
    let regions = ["צפון", "חיפה"];
    let b = RecordBatch::try_new(
        arrow.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(regions)),
            Arc::new(Int64Array::from(vec![2024, 2024])),
            Arc::new(Int64Array::from(vec![1_000_000, 500_000])),
            Arc::new(Int64Array::from(vec![2, 3])),
        ],
    )
    .unwrap();
    let s = Submission {
        id: "cbs-population-2024-x".into(),
        partner: "cbs".into(),
        schema: "population".into(),
        period: "2024".into(),
        file_name: "population.csv".into(),
        sha256: format!("{:0>64}", "p"),
        received: "2024-01-01T00:00:00Z".into(),
        rows_read: 2,
        rows_accepted: 2,
        rows_rejected: 0,
        rows_with_warnings: 0,
        verdict: "accepted".into(),
        supersedes: None,
        table_version: None,
    };
    store.commit(s, &arrow, vec![b]).unwrap();
}

const CLINIC_JAN: &[Row] = &[
    (
        "p1",
        "2024-01-05",
        Some("2024-01-07"),
        "female",
        30,
        "צפון",
        "counseling",
        Some(true),
    ),
    (
        "p2",
        "2024-01-10",
        Some("2024-01-30"),
        "male",
        50,
        "צפון",
        "shelter",
        Some(false),
    ),
];
const CLINIC_FEB: &[Row] = &[(
    "p1",
    "2024-02-03",
    None,
    "female",
    30,
    "צפון",
    "counseling",
    None,
)];
const WELFARE_JAN: &[Row] = &[
    (
        "p1",
        "2024-01-20",
        Some("2024-01-21"),
        "female",
        30,
        "חיפה",
        "legal_aid",
        Some(true),
    ),
    (
        "p3",
        "2024-03-01",
        Some("2024-03-02"),
        "other",
        70,
        "חיפה",
        "counseling",
        Some(true),
    ),
];

fn find<'a>(rows: &'a [ValueRow], indicator: &str, period: &str, breakdown: &str) -> &'a ValueRow {
    rows.iter()
        .find(|r| r.indicator == indicator && r.period == period && r.breakdown == breakdown)
        .unwrap_or_else(|| panic!("no {indicator} {period} [{breakdown}]"))
}

fn value(rows: &[ValueRow], indicator: &str, period: &str, breakdown: &str) -> f64 {
    find(rows, indicator, period, breakdown).value.unwrap()
}

#[test]
fn every_kind_grain_filter_and_breakdown_by_hand() {
    let ws = workspace(1);
    let decl = Declarations::load(&backbone_workspace::Layout::new(ws.path())).unwrap();
    assert!(decl.check().is_empty(), "{:?}", decl.check());
    let store = Store::open(&ws.path().join("store")).unwrap();
    let schema = &decl.schemas["service_records"];
    submit(&store, schema, "clinic", "2024-01", "a", CLINIC_JAN);
    submit(&store, schema, "clinic", "2024-02", "b", CLINIC_FEB);
    submit(&store, schema, "welfare", "2024-01", "c", WELFARE_JAN);
    population(&store);
    let r = backbone_metrics::compute(&store, &decl, &AsOf::default()).unwrap();
    let rows = &r.rows;

    // count and distinct count: p1 is at two partners and counts once in the total.
    assert_eq!(value(rows, "referrals", "2024-Q1", ""), 5.0);
    assert_eq!(value(rows, "people_reached", "2024-Q1", ""), 3.0);
    assert_eq!(
        value(rows, "people_reached", "2024-Q1", "partner=clinic"),
        2.0
    );
    assert_eq!(
        value(rows, "people_reached", "2024-Q1", "partner=welfare"),
        2.0
    );
    // not additive: 2 + 2 ≠ 3, so the total came from rows, not from the breakdown.
    assert_eq!(value(rows, "people_reached", "2024-Q1", "region=צפון"), 2.0);
    // ages 30 (p1), 50 (p2), 70 (p3): bands are edges [18, 30, 45, 65].
    assert_eq!(
        value(rows, "people_reached", "2024-Q1", "age_band=30-44"),
        1.0
    );
    assert_eq!(
        value(rows, "people_reached", "2024-Q1", "age_band=45-64"),
        1.0
    );
    assert_eq!(
        value(rows, "people_reached", "2024-Q1", "age_band=65+"),
        1.0
    );
    assert_eq!(
        value(rows, "referrals", "2024-Q1", "service_type=counseling"),
        3.0
    );

    // ratio with a date filter: contact within 7 days in 3 of 5 referrals.
    let c = find(rows, "contact_within_week", "2024-Q1", "");
    assert_eq!(
        (c.numerator, c.denominator, c.value),
        (Some(3.0), Some(5.0), Some(60.0))
    );
    assert_eq!(
        value(rows, "contact_within_week", "2024-Q1", "region=חיפה"),
        100.0
    );
    // half-year grain, filters on each side: 3 improved of 4 with an outcome.
    assert_eq!(value(rows, "improved", "2024-H1", ""), 75.0);
    // derived: (5 − 3) × 100 / 3.
    assert!((value(rows, "repeat_referrals", "2024-Q1", "") - 200.0 / 3.0).abs() < 1e-9);
    // rate per 1,000 residents: 2 people in the north of 1,000,000.
    assert!((value(rows, "reached_per_1000", "2024", "region=צפון") - 0.002).abs() < 1e-12);
    assert!((value(rows, "reached_per_1000", "2024", "region=חיפה") - 2.0 / 500.0).abs() < 1e-12);

    // Against baseline 1,800 (2024-Q1) and target 3,000 (2025-Q4): 3 is off track.
    let p = find(rows, "people_reached", "2024-Q1", "");
    assert_eq!(
        (p.baseline, p.target, p.status.as_str()),
        (Some(1800.0), Some(3000.0), "off_track")
    );
    // Every row names the store version it came from.
    assert!(
        rows.iter()
            .all(|r| r.store_version == "population@1;service_records@3")
    );

    // Completeness: the 12 partners owe January; clinic and welfare sent it.
    let jan: Vec<_> = r
        .expected
        .iter()
        .filter(|e| e.period == "2024-01")
        .collect();
    assert_eq!(jan.len(), 12);
    assert_eq!(jan.iter().filter(|e| e.status == "on_time").count(), 2);
    // Coverage of Q1: clinic 2 of 3 months, welfare 1 of 3 months, of 12 × 3 owed.
    let cov = find(rows, "referrals", "2024-Q1", "").coverage.unwrap();
    assert!((cov - 3.0 / 36.0).abs() < 1e-9, "{cov}");
    let cov = find(rows, "referrals", "2024-Q1", "partner=clinic")
        .coverage
        .unwrap();
    assert!((cov - 2.0 / 3.0).abs() < 1e-9, "{cov}");
    // A breakdown by region counts the partners declared in that region: clinic and welfare
    // are Haifa's, and sent 3 of their 6 months.
    let cov = find(rows, "contact_within_week", "2024-Q1", "region=חיפה")
        .coverage
        .unwrap();
    assert!((cov - 3.0 / 6.0).abs() < 1e-9, "{cov}");
}

#[test]
fn small_cells_are_suppressed_with_their_complements() {
    let ws = workspace(2);
    let decl = Declarations::load(&backbone_workspace::Layout::new(ws.path())).unwrap();
    let store = Store::open(&ws.path().join("store")).unwrap();
    let schema = &decl.schemas["service_records"];
    submit(&store, schema, "clinic", "2024-01", "a", CLINIC_JAN);
    submit(&store, schema, "clinic", "2024-02", "b", CLINIC_FEB);
    submit(&store, schema, "welfare", "2024-01", "c", WELFARE_JAN);
    let r = backbone_metrics::compute(&store, &decl, &AsOf::default()).unwrap();
    let rows = &r.rows;
    // age bands of people_reached: 30-44, 45-64 and 65+ have one person each: all below 2,
    // they protect each other; the total (3) is published.
    let total = find(rows, "people_reached", "2024-Q1", "");
    assert_eq!(total.value, Some(3.0));
    for b in ["age_band=45-64", "age_band=65+"] {
        let cell = find(rows, "people_reached", "2024-Q1", b);
        assert!(cell.suppressed && cell.value.is_none(), "{b}");
    }
    // gender: female 1 (p1), male 1, other 1 → all hidden; nothing recoverable.
    for b in ["gender=female", "gender=male", "gender=other"] {
        assert!(find(rows, "people_reached", "2024-Q1", b).suppressed, "{b}");
    }
    // A suppressed input hides the derived value built on it, never the other way round.
    assert!(!find(rows, "repeat_referrals", "2024-Q1", "").suppressed);
}

#[test]
fn as_of_an_old_version_gives_the_old_results_after_a_resubmission() {
    let ws = workspace(1);
    let decl = Declarations::load(&backbone_workspace::Layout::new(ws.path())).unwrap();
    let store = Store::open(&ws.path().join("store")).unwrap();
    let schema = &decl.schemas["service_records"];
    submit(&store, schema, "clinic", "2024-01", "a", CLINIC_JAN);
    let v = submit(&store, schema, "welfare", "2024-01", "c", WELFARE_JAN);
    let before = backbone_metrics::compute(&store, &decl, &AsOf::default()).unwrap();
    // The clinic's corrected January: one referral only.
    submit(&store, schema, "clinic", "2024-01", "d", &CLINIC_JAN[..1]);
    let after = backbone_metrics::compute(&store, &decl, &AsOf::default()).unwrap();
    assert_eq!(value(&before.rows, "referrals", "2024-Q1", ""), 4.0);
    assert_eq!(value(&after.rows, "referrals", "2024-Q1", ""), 3.0);
    let as_of = AsOf::parse(&format!("service_records@{v}"), &store.schemas().unwrap()).unwrap();
    let again = backbone_metrics::compute(&store, &decl, &as_of).unwrap();
    assert_eq!(again.rows, before.rows);
}

/// A month of the clinic's referrals: people `p{month}-{i}` of the given ages.
fn month_of(month: u32, ages: &[i64]) -> Vec<Row<'static>> {
    ages.iter()
        .enumerate()
        .map(|(i, &age)| -> Row<'static> {
            let person: &'static str = Box::leak(format!("p{month}-{i}").into_boxed_str());
            let date: &'static str = Box::leak(format!("2024-{month:02}-10").into_boxed_str());
            (
                person,
                date,
                None,
                "female",
                age,
                "צפון",
                "counseling",
                None,
            )
        })
        .collect()
}

#[test]
fn a_mean_far_outside_the_partners_own_history_is_named_in_the_quality_table() {
    let ws = workspace(1);
    let decl = Declarations::load(&backbone_workspace::Layout::new(ws.path())).unwrap();
    let store = Store::open(&ws.path().join("store")).unwrap();
    let schema = &decl.schemas["service_records"];
    // Four ordinary months (mean ages 35, 36, 34, 37), then a month of ages 86 and 90: each
    // row is inside the schema's 0–120, so no row check stops it, but the mean (88) is far
    // from anything this partner has sent (say, a column of birth years' last digits, or of
    // another field, mapped onto age).
    let usual: [&[i64]; 4] = [&[30, 40], &[31, 41], &[29, 39], &[32, 42]];
    for (i, ages) in usual.iter().enumerate() {
        let m = i as u32 + 1;
        submit(
            &store,
            schema,
            "clinic",
            &format!("2024-{m:02}"),
            &format!("u{m}"),
            &month_of(m, ages),
        );
    }
    submit(
        &store,
        schema,
        "clinic",
        "2024-05",
        "odd",
        &month_of(5, &[86, 90]),
    );
    // Another partner's history is not the clinic's: its one month is never compared.
    submit(
        &store,
        schema,
        "welfare",
        "2024-05",
        "w",
        &month_of(5, &[88, 88]),
    );
    let r = backbone_metrics::compute(&store, &decl, &AsOf::default()).unwrap();
    let unusual = |partner: &str, period: &str| {
        r.quality
            .iter()
            .find(|q| q.submission.partner == partner && q.submission.period == period)
            .map(|q| q.unusual.clone())
            .unwrap()
    };
    assert_eq!(unusual("clinic", "2024-05"), "age=88 [34, 37]");
    // The ordinary months stay quiet: each against the four others (one of them the odd one,
    // which the median shrugs off), and `minutes`, the same in every month, never varies.
    for m in 1..=4 {
        assert_eq!(unusual("clinic", &format!("2024-{m:02}")), "", "month {m}");
    }
    assert_eq!(unusual("welfare", "2024-05"), "");
    // The column reaches quality.csv.
    let out = ws.path().join("results");
    backbone_metrics::write_all(&r, &out).unwrap();
    let csv = std::fs::read_to_string(out.join("quality.csv")).unwrap();
    assert!(csv.lines().next().unwrap().ends_with(",volume,unusual"));
    assert!(
        csv.contains("\"age=88 [34, 37]\"") || csv.contains(",age=88 [34, 37]"),
        "{csv}"
    );
}
