//! `backbone sql`: the indicators as SQL for DuckDB and Spark. DuckDB runs it through its
//! Delta reader on the demo's store and must find every value `backbone metrics` published.

use std::path::Path;
use std::process::Command;

use crate::common::{root, text};

/// Runs the DuckDB dialect on a finished workspace's store and compares it with
/// `results/indicators.parquet` (called by the demo's test, which has the year of data).
pub fn duckdb_agrees_with_metrics(ws: &Path) {
    let Some(python) = backbone_testkit::outside_tool(
        "a Python with the duckdb and duckdb-extension-delta packages",
        "BACKBONE_PY_DUCKDB",
        std::env::var("BACKBONE_PY_DUCKDB")
            .ok()
            .filter(|p| Path::new(p).exists()),
    ) else {
        return;
    };
    let o = Command::new(env!("CARGO_BIN_EXE_backbone"))
        .args(["sql", "--dialect", "duckdb", "--workspace"])
        .arg(ws)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let query = ws.join("indicators.sql");
    std::fs::write(&query, &o.stdout).unwrap();
    let o = Command::new(&python)
        .arg(root().join("crates/cli/tests/sql_check.py"))
        .arg(&query)
        .arg(ws.join("results/indicators.parquet"))
        .output()
        .unwrap();
    let said = text(&o);
    assert!(o.status.success(), "{said}");
    // Every published value of the year, every indicator (a few cells hidden).
    let compared: usize = said
        .split_whitespace()
        .skip_while(|w| *w != "compared")
        .nth(1)
        .and_then(|n| n.trim_end_matches(',').parse().ok())
        .unwrap_or(0);
    assert!(compared >= 250, "{said}");
}

#[test]
fn the_spark_dialect_reads_delta_tables_where_the_cluster_has_them() {
    let ws = tempfile::tempdir().unwrap();
    for f in [
        "data-schemas/service_records.json",
        "data-schemas/population.json",
        "data-schemas/backbone_activity.json",
        "data-schemas/referrals_by_region.json",
        "pipelines/initiative.toml",
        "pipelines/indicators/service.toml",
        "pipelines/indicators/working_together.toml",
    ] {
        let to = ws.path().join(f);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(root().join(f), to).unwrap();
    }
    let o = Command::new(env!("CARGO_BIN_EXE_backbone"))
        .args([
            "sql",
            "repeat_referrals",
            "--dialect",
            "spark",
            "--store",
            "abfss://lake@initiative.dfs.core.windows.net/backbone/store/",
            "--workspace",
        ])
        .arg(ws.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let sql: String = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.starts_with("-- Declarations' fingerprint"))
        .collect::<Vec<_>>()
        .join("\n");
    // A derived indicator brings its inputs; Spark's quoting, formatting and Delta paths.
    assert!(sql.contains("`referrals` AS ("), "{sql}");
    assert!(sql.contains("`people_reached` AS ("), "{sql}");
    assert!(!sql.contains("`improved` AS ("), "{sql}");
    assert!(
        sql.contains("delta.`abfss://lake@initiative.dfs.core.windows.net/backbone/store/tables/service_records`"),
        "{sql}"
    );
    assert!(sql.contains("format_string('%04d-Q%d'"), "{sql}");
    insta::assert_snapshot!("sql_spark_repeat_referrals", sql);

    let o = Command::new(env!("CARGO_BIN_EXE_backbone"))
        .args(["sql", "nonesuch", "--workspace"])
        .arg(ws.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).contains("no such indicator; the indicators are people_reached"),
        "{}",
        text(&o)
    );
}
