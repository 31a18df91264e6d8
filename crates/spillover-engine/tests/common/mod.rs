//! Helpers shared by the engine tests: the tiny random models and mixed-length prompts.

#![allow(dead_code)]

use spillover_model::{load, LoadOptions, LoadedModel};

pub const TINY: [&str; 3] = ["tiny-gpt2", "tiny-llama", "tiny-gemma3"];

/// A tiny random model on the test device (`$SPILLOVER_TEST_DEVICE`, cpu by default).
pub fn tiny(name: &str) -> LoadedModel {
    let opts = LoadOptions {
        device: spillover_model::fixtures::test_device(),
        ..LoadOptions::default()
    };
    load(name, &opts).unwrap()
}

/// Prompts of different lengths (byte tokens of the tiny vocabulary).
pub fn prompts() -> Vec<Vec<u32>> {
    vec![
        vec![5, 9, 77, 3, 12, 40, 41, 42, 43, 44, 45],
        vec![100, 7, 8],
        vec![33],
        vec![200, 201, 202, 203, 204, 205, 206],
        vec![64, 65, 66, 67, 68],
    ]
}

pub fn assert_close(a: f64, b: f64, tol: f64, what: &str) {
    assert!((a - b).abs() <= tol, "{what}: {a} vs {b} (tolerance {tol})");
}
