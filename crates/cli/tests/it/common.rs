//! Helpers the end-to-end tests share.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::Path;
use std::process::Output;

use backbone_store::Store;

pub use backbone_testkit::{root, text};

/// The `record_id`s of a workspace's `service_records` table at a version, sorted.
pub fn stored_ids(ws: &Path, version: Option<u64>) -> Vec<String> {
    let store = Store::open(&ws.join("store")).unwrap();
    let mut ids: Vec<String> = Vec::new();
    for b in store.read("service_records", version).unwrap() {
        let c = b.column(b.schema().index_of("record_id").unwrap());
        let c = c
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap();
        ids.extend(c.iter().map(|v| v.unwrap_or_default().to_owned()));
    }
    ids.sort();
    ids
}

/// Runs `backbone ARGS --workspace WS` with the clock set.
pub fn backbone_at(ws: &Path, args: &[&str], clock: &str) -> Output {
    backbone_testkit::run(Path::new(env!("CARGO_BIN_EXE_backbone")), ws, args, clock)
}

/// A workspace with the example's declarations and no data but the population table.
pub fn example_workspace() -> tempfile::TempDir {
    let ws = tempfile::tempdir().unwrap();
    let p = ws.path();
    for f in [
        "data-schemas/service_records.json",
        "data-schemas/population.json",
        "data-schemas/backbone_activity.json",
        "pipelines/initiative.toml",
        "pipelines/indicators/service.toml",
        "pipelines/profiles/hotline.toml",
        "data-schemas/referrals_by_region.json",
        "pipelines/profiles/ministry.toml",
        "pipelines/indicators/service_ministry.toml",
    ] {
        std::fs::create_dir_all(p.join(f).parent().unwrap()).unwrap();
        std::fs::copy(root().join(f), p.join(f)).unwrap();
    }
    // From the statistics office, which is not a partner: no obligation names `population`,
    // so `ingest` takes it from any source id.
    let population = root().join("pipelines/reference/population.csv");
    let o = backbone_at(
        p,
        &[
            "ingest",
            population.to_str().unwrap(),
            "--partner",
            "cbs",
            "--schema",
            "population",
            "--period",
            "2024",
        ],
        "2024-01-02T08:00:00Z",
    );
    assert!(o.status.success(), "{}", text(&o));
    ws
}
