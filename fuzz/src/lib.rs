//! What the fuzz targets share: a partner file's bytes through the whole reader and validator,
//! as `backbone validate` reads them, against the example initiative's schema.

use std::path::PathBuf;
use std::sync::OnceLock;

use backbone_ingest::{Options, validate_file};
use backbone_schema::TableSchema;

fn schema() -> &'static TableSchema {
    static SCHEMA: OnceLock<TableSchema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        TableSchema::from_json_str(
            include_str!("../../tests/fixtures/schemas/service_records.json"),
            "service_records.json",
        )
        .unwrap_or_else(|e| panic!("the fixture schema: {e}"))
    })
}

/// libfuzzer-sys installs a panic hook that aborts at once, before any `catch_unwind` runs;
/// the reader catches the spreadsheet library's panics on damaged files on purpose (they are
/// the file's answer). A quiet hook instead: a panic the reader does not catch still reaches
/// libfuzzer-sys's own `catch_unwind`, which aborts, and is a finding.
pub fn init() {
    std::panic::set_hook(Box::new(|_| {}));
}

/// Reads `data` as a file named `*.ext` (the reader tells the format from the bytes; the
/// name only shows in messages). Any answer is fine; a panic, an abort, a hang or memory past
/// libFuzzer's `-rss_limit_mb` is a finding.
pub fn read(data: &[u8], ext: &str) {
    let path: PathBuf =
        std::env::temp_dir().join(format!("backbone-fuzz-{}.{ext}", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let options = Options {
        threads: Some(1),
        ..Options::default()
    };
    let _ = validate_file(&path, schema(), &options);
}
