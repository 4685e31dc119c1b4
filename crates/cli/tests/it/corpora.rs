//! Other projects' spreadsheets and text files (`../shared/corpora/realfiles/`, when
//! present) read by backbone and by python-calamine (spreadsheets) or Python's csv module
//! with backbone's encoding and delimiter (text), cell for cell (`bench/corpus_compare.py`):
//! every file is read as they read it, or is listed in `bench/corpus_judged.json` with why
//! backbone's reading (or refusal) is the right one.

use std::path::Path;
use std::process::Command;

use crate::common::{root, text};

#[test]
fn cell_for_cell_as_python_calamine_reads() {
    let corpus = root().join("../shared/corpora/realfiles");
    if !corpus.join("manifest.json").is_file() {
        eprintln!("SKIPPED: {} is not here", corpus.display());
        return;
    }
    let Some(python) = backbone_testkit::outside_tool(
        "a Python with the python-calamine package",
        "BACKBONE_PY_CALAMINE",
        std::env::var("BACKBONE_PY_CALAMINE")
            .ok()
            .filter(|p| Path::new(p).exists()),
    ) else {
        return;
    };
    let o = Command::new(python)
        .arg(root().join("bench/corpus_compare.py"))
        .arg(env!("CARGO_BIN_EXE_backbone"))
        .arg(&corpus)
        .arg("--check")
        .arg(root().join("bench/corpus_judged.json"))
        .output()
        .unwrap();
    let said = text(&o);
    assert!(o.status.success(), "{said}");
    // Most files read cell for cell; the rest judged one by one.
    let summary: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&o.stdout).lines().last().unwrap()).unwrap();
    assert!(summary["same"].as_u64().unwrap() >= 450, "{summary}");
}
