//! Typed cache keys. Every stage's identity is the serialised value of its inputs plus the code
//! version ([`CODE_VERSION`]); the model is identified by [`ModelKey`] (source, content, dtype,
//! device kind), never by its name alone; shared stages get their folder from one function,
//! [`shared_dir`].

use crate::config::{digest, Experiment};
use anyhow::Result;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The code that computes stage outputs: this crate's version and the git commit it was built from
/// (`-dirty` when the tree had uncommitted changes). Part of every stage hash, so an output is
/// never reused by a different version of the code.
pub const CODE_VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), "+", env!("SPILLOVER_GIT_COMMIT"));

/// The hash of a stage's inputs, including [`CODE_VERSION`].
pub fn stage_hash(inputs: &impl Serialize) -> String {
    digest(&(CODE_VERSION, inputs))
}

/// Everything that determines a model's outputs: the spec it was loaded from, a fingerprint of its
/// weights (the packaged asset's sha256s, a path's size and mtime, a tiny model's seed), the dtype
/// it runs in and the kind of device (`cpu` or `cuda`; the GPU index does not change results).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelKey {
    pub source: String,
    pub content: String,
    pub dtype: String,
    pub device: String,
}

impl ModelKey {
    /// The key of the experiment's base model (resolves the model's files to fingerprint them).
    pub fn of(exp: &Experiment) -> Result<ModelKey> {
        Ok(ModelKey::with_content(
            exp,
            crate::models::fingerprint(&exp.model.id)?,
        ))
    }

    /// The key with a known weights fingerprint.
    pub fn with_content(exp: &Experiment, content: String) -> ModelKey {
        let device = match exp.model.device.split(':').next() {
            Some("cuda") => "cuda",
            _ => "cpu",
        };
        ModelKey {
            source: exp.model.id.clone(),
            content,
            dtype: exp.model.dtype.clone(),
            device: device.to_string(),
        }
    }
}

/// The stages shared between runs under `<runs>/_shared/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedStage {
    Baseline,
    Train,
    Direction,
}

impl SharedStage {
    fn prefix(self) -> &'static str {
        match self {
            SharedStage::Baseline => "baseline",
            SharedStage::Train => "train",
            SharedStage::Direction => "direction",
        }
    }
}

/// The folder of a shared stage: `<shared>/<kind>-<first 12 hex of its stage hash>`.
pub fn shared_dir(shared: &Path, kind: SharedStage, inputs: &impl Serialize) -> PathBuf {
    shared.join(format!("{}-{}", kind.prefix(), &stage_hash(inputs)[..12]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp_with(dtype: &str, device: &str) -> Experiment {
        let mut exp = crate::config::load(None, &[]).expect("the default experiment");
        exp.model.id = "tiny-llama".into();
        exp.model.dtype = dtype.into();
        exp.model.device = device.into();
        exp
    }

    #[test]
    fn dtype_and_device_kind_change_the_shared_baseline_folder() {
        let shared = Path::new("/runs/_shared");
        let dir = |dtype: &str, device: &str| {
            let key = ModelKey::of(&exp_with(dtype, device)).unwrap();
            shared_dir(shared, SharedStage::Baseline, &(&key, "items"))
        };
        let f32_cpu = dir("f32", "cpu");
        assert_ne!(
            f32_cpu,
            dir("bf16", "cpu"),
            "a bf16 run reused the f32 baseline"
        );
        assert_ne!(
            f32_cpu,
            dir("f32", "cuda"),
            "a GPU run reused the CPU baseline"
        );
        // The GPU index is not part of a model's identity.
        assert_eq!(dir("f32", "cuda:0"), dir("f32", "cuda:1"));
        assert_eq!(f32_cpu, dir("f32", "cpu"));
        assert!(f32_cpu
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("baseline-"));
    }

    #[test]
    fn the_code_version_is_part_of_every_stage_hash() {
        assert_ne!(stage_hash(&"x"), digest(&"x"));
        assert!(CODE_VERSION.starts_with(env!("CARGO_PKG_VERSION")));
    }
}
