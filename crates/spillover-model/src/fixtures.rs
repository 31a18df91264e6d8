//! Locating the shared reference fixtures (`../shared/fixtures`, made by HF transformers + PEFT) for
//! parity tests and benchmarks. Tests skip with a printed reason when the folder is absent.

use std::path::PathBuf;

/// `$SPILLOVER_FIXTURES`, else `<workspace>/../shared/fixtures`; `None` when it does not exist.
pub fn fixtures_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("SPILLOVER_FIXTURES") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: fixtures folder {} not found (set SPILLOVER_FIXTURES)",
            dir.display()
        );
        None
    }
}

/// Reads a JSON fixture file.
pub fn read_json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A JSON array of numbers as f32.
pub fn f32s(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

/// A JSON array of integers as u32.
pub fn u32s(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("integer") as u32)
        .collect()
}
