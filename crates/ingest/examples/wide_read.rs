//! The cost of reading a wide sheet against the same figures long (BENCHMARKS.md, "Wide
//! sheets").
//!
//! ```bash
//! cargo run --profile dist -p backbone-ingest --example wide_read -- /tmp/wide 100000
//! ```
//!
//! Writes two workbooks of the same figures: `wide.xlsx`, ROWS rows of (region, unit) with
//! twelve month columns `ינואר 2024` … `דצמבר 2024` and a totals column; and `long.xlsx`,
//! the same figures one per row (region, unit, month, referrals), over as many sheets as
//! Excel's row limit needs. Then reads each five times through `read_file` with rows built
//! (as `ingest` does, the batches dropped) and prints the medians and their ratio.

use std::path::Path;
use std::time::Instant;

use arrow_array::RecordBatch;
use backbone_ingest::{Options, Sink, SinkError, read_file};
use backbone_schema::{Profile, TableSchema};
use rust_xlsxwriter::{Workbook, XlsxError};

const MONTHS: [&str; 12] = [
    "ינואר",
    "פברואר",
    "מרץ",
    "אפריל",
    "מאי",
    "יוני",
    "יולי",
    "אוגוסט",
    "ספטמבר",
    "אוקטובר",
    "נובמבר",
    "דצמבר",
];
const REGIONS: [&str; 6] = ["צפון", "חיפה", "מרכז", "תל אביב", "ירושלים", "דרום"];
/// Excel's rows per sheet, less the header.
const SHEET_ROWS: u32 = 1_048_575;

fn figure(row: u32, month: usize) -> f64 {
    f64::from((row.wrapping_mul(2_654_435_761) >> 7) % 500) + month as f64
}

fn write_wide(path: &Path, rows: u32) -> Result<(), XlsxError> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("הפניות")?;
    sheet.write_string(0, 0, "אזור")?;
    sheet.write_string(0, 1, "יחידה")?;
    for (m, name) in MONTHS.iter().enumerate() {
        sheet.write_string(0, 2 + m as u16, format!("{name} 2024"))?;
    }
    sheet.write_string(0, 14, "סה\"כ")?;
    for r in 0..rows {
        let row = r + 1;
        sheet.write_string(row, 0, REGIONS[r as usize % REGIONS.len()])?;
        sheet.write_string(row, 1, format!("U{r:06}"))?;
        let mut total = 0.0;
        for m in 0..12 {
            let v = figure(r, m);
            total += v;
            sheet.write_number(row, 2 + m as u16, v)?;
        }
        sheet.write_number(row, 14, total)?;
    }
    book.save(path)
}

fn write_long(path: &Path, rows: u32) -> Result<(), XlsxError> {
    let mut book = Workbook::new();
    let figures = u64::from(rows) * 12;
    let sheets = figures.div_ceil(u64::from(SHEET_ROWS));
    let mut k = 0u64;
    for s in 0..sheets {
        let sheet = book.add_worksheet();
        sheet.set_name(format!("הפניות {}", s + 1))?;
        for (c, h) in ["אזור", "יחידה", "חודש", "הפניות"].iter().enumerate() {
            sheet.write_string(0, c as u16, *h)?;
        }
        let mut row = 1;
        while row <= SHEET_ROWS && k < figures {
            let (r, m) = ((k / 12) as u32, (k % 12) as usize);
            sheet.write_string(row, 0, REGIONS[r as usize % REGIONS.len()])?;
            sheet.write_string(row, 1, format!("U{r:06}"))?;
            sheet.write_string(row, 2, format!("2024-{:02}-01", m + 1))?;
            sheet.write_number(row, 3, figure(r, m))?;
            row += 1;
            k += 1;
        }
    }
    book.save(path)
}

/// Builds the rows, as `ingest` does, and drops them.
struct Rows(u64);
impl Sink for Rows {
    fn wants_rows(&self) -> bool {
        true
    }
    fn accepted(&mut self, batch: RecordBatch) -> Result<(), SinkError> {
        self.0 += batch.num_rows() as u64;
        Ok(())
    }
}

fn time(path: &Path, schema: &TableSchema, profile: &Profile) -> (f64, u64) {
    let merged = schema
        .with_profile(profile, "bench")
        .unwrap_or_else(|e| panic!("{e}"));
    // The long form of 1.2M figures declares 3.6M shared strings, past the default budget
    // a partner's file gets (2M): raised here for both files alike.
    let options = Options {
        profile: Some(profile.clone()),
        limits: backbone_ingest::Limits {
            max_shared_strings: 20_000_000,
            ..backbone_ingest::Limits::default()
        },
        ..Options::default()
    };
    let mut times = Vec::new();
    let mut rows = 0;
    for _ in 0..5 {
        let mut sink = Rows(0);
        let started = Instant::now();
        let report =
            read_file(path, &merged, &options, &mut sink).unwrap_or_else(|e| panic!("{e}"));
        times.push(started.elapsed().as_secs_f64());
        assert_eq!(report.stats.rejected, 0, "{}", report.to_text());
        rows = sink.0;
    }
    times.sort_by(f64::total_cmp);
    (times[2], rows)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().unwrap_or_else(|| "/tmp/wide".into()));
    let rows: u32 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let (wide, long) = (dir.join("wide.xlsx"), dir.join("long.xlsx"));
    write_wide(&wide, rows).unwrap_or_else(|e| panic!("{e}"));
    write_long(&long, rows).unwrap_or_else(|e| panic!("{e}"));
    let schema = TableSchema::from_json_str(
        r#"{"name": "referrals", "x-aggregate": true, "fields": [
            {"name": "region", "x-aliases": ["אזור"], "constraints": {"required": true}},
            {"name": "unit", "x-aliases": ["יחידה"], "constraints": {"required": true}},
            {"name": "month", "type": "date", "x-aliases": ["חודש"]},
            {"name": "referrals", "type": "integer", "x-aliases": ["הפניות"],
             "constraints": {"minimum": 0}}]}"#,
        "bench.json",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let wide_profile = Profile::from_toml(
        "[layout]\nwide = { keep = [\"region\", \"unit\"], names_to = \"month\", values_to = \"referrals\" }\n",
        "wide.toml",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let long_profile = Profile::from_toml("[layout]\nsheets = \"הפניות *\"\n", "long.toml")
        .unwrap_or_else(|e| panic!("{e}"));
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len()) as f64 / 1e6;
    let (w, wr) = time(&wide, &schema, &wide_profile);
    let (l, lr) = time(&long, &schema, &long_profile);
    assert_eq!(wr, lr, "the same figures");
    println!(
        "wide {rows} rows × 12 months ({:.1} MB): {w:.3} s; long {lr} rows ({:.1} MB): {l:.3} s; wide/long {:.2}×",
        size(&wide),
        size(&long),
        w / l
    );
}
