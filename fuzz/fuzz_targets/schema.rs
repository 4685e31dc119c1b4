//! The Table Schema loader on arbitrary text: an error with its JSON path, never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = backbone_schema::TableSchema::from_json_str(text, "fuzz.json");
    }
});
