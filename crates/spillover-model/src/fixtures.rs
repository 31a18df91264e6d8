//! Locating the shared reference fixtures (the repository's `fixtures/`, made by HF transformers + PEFT) and
//! the fetched real models for parity tests and benchmarks. A plain `cargo test` skips, with a printed
//! reason, what is absent; `scripts/test.sh` sets `SPILLOVER_REQUIRE_FIXTURES=1`, which turns every
//! such skip into a failure so CI never passes on silently skipped checks.
//!
//! Only built with the `test-support` feature, which the crates whose tests use it enable in their
//! dev-dependencies.

use std::path::PathBuf;

/// `$SPILLOVER_FIXTURES`, else `<repo>/fixtures`; `None` when it does not exist.
pub fn fixtures_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("SPILLOVER_FIXTURES") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        skip(&format!(
            "fixtures folder {} not found (set SPILLOVER_FIXTURES)",
            dir.display()
        ))
    }
}

/// Prints why a test is skipped and returns `None`, or panics when skipping is not allowed.
fn skip<T>(why: &str) -> Option<T> {
    if std::env::var_os("SPILLOVER_REQUIRE_FIXTURES").is_some() {
        panic!("SPILLOVER_REQUIRE_FIXTURES is set but {why}");
    }
    println!("skipped: {why}");
    None
}

/// The device that the parity and model tests run on, from `$SPILLOVER_TEST_DEVICE`: `cpu` (the
/// default, also when unset or empty) or `cuda` (GPU 0; needs a build with the `cuda` feature).
/// Anything else, or `cuda` where no GPU can be opened, panics with the reason. Every call returns
/// the same device (candle treats two separately opened CUDA devices as different devices).
pub fn test_device() -> candle_core::Device {
    static DEVICE: std::sync::OnceLock<candle_core::Device> = std::sync::OnceLock::new();
    DEVICE
        .get_or_init(|| {
            let want = std::env::var("SPILLOVER_TEST_DEVICE").unwrap_or_default();
            match want.as_str() {
                "" | "cpu" => candle_core::Device::Cpu,
                "cuda" => candle_core::Device::new_cuda(0).unwrap_or_else(|e| {
                    panic!("SPILLOVER_TEST_DEVICE=cuda but CUDA device 0 cannot be opened: {e}")
                }),
                other => panic!("SPILLOVER_TEST_DEVICE={other:?}: expected `cpu` or `cuda`"),
            }
        })
        .clone()
}

/// The real model file named by the environment variable `var` (set by scripts/test.sh after
/// fetching), or a skip.
pub fn real_model(var: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(p) => Some(PathBuf::from(p)),
        None => skip(&format!(
            "{var} is not set (scripts/test.sh fetches the model and sets it)"
        )),
    }
}

/// `fixtures/real/<name>` parsed as JSON, or a skip.
pub fn real_fixture(name: &str) -> Option<serde_json::Value> {
    fixtures_dir().map(|d| read_json(&d.join("real").join(name)))
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

/// Largest absolute elementwise difference of two tensors of one shape.
pub fn max_abs_diff(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f32 {
    let d = (a - b)
        .and_then(|d| d.abs())
        .and_then(|d| d.flatten_all())
        .and_then(|d| d.max(0));
    d.and_then(|d| d.to_scalar::<f32>())
        .expect("tensors of one shape")
}
