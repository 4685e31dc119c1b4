//! Helpers the end-to-end tests share.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};

use backbone_store::Store;

/// The repository's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

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
