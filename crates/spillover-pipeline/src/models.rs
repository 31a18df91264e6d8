//! Turning a model spec into a loaded model: packaged names through the asset cache, hub ids
//! through the HF cache, tiny-* names and local paths directly.

use crate::error::ConfigError;
use anyhow::{Context, Result};
use candle_core::{DType, Device};
use spillover_model::tiny::TINY_MODELS;
use spillover_model::{load, load_path, LoadOptions, LoadedModel};
use std::path::Path;

/// Packaged model names (each an asset id of the registry).
pub const PACKAGED_MODELS: &[&str] = &["smollm2-135m-instruct", "gemma-3-270m"];

/// `cpu`, `cuda` or `cuda:N`; `key` names the setting in errors (`model.device`, `--device`).
pub fn device(spec: &str, key: &str) -> Result<Device> {
    match spec {
        "cpu" => Ok(Device::Cpu),
        s if s == "cuda" || s.starts_with("cuda:") => {
            let ordinal = s
                .strip_prefix("cuda:")
                .map_or(Ok(0), str::parse::<usize>)
                .map_err(|_| {
                    ConfigError::new(
                        key,
                        format!("{s}: expected cuda or cuda:N with N a GPU index"),
                    )
                })?;
            Device::new_cuda(ordinal).with_context(|| {
                format!("{key} {s}: CUDA is not available (build with `--features cuda` on a machine with a GPU)")
            })
        }
        other => {
            Err(ConfigError::new(format!("{key} {other}"), "expected cpu, cuda or cuda:N").into())
        }
    }
}

/// `f32`, `bf16` or `f16`.
pub fn dtype(spec: &str) -> Result<DType> {
    match spec {
        "f32" => Ok(DType::F32),
        "bf16" => Ok(DType::BF16),
        "f16" => Ok(DType::F16),
        other => {
            Err(ConfigError::new("dtype", format!("{other}: expected f32, bf16 or f16")).into())
        }
    }
}

/// Loads the model named by `spec` (see [`PACKAGED_MODELS`], tiny-*, a path, or hf:ORG/NAME).
pub fn load_model(spec: &str, dtype: DType, device: &Device) -> Result<LoadedModel> {
    let opts = LoadOptions {
        dtype,
        device: device.clone(),
    };
    if PACKAGED_MODELS.contains(&spec) {
        let asset = spillover_data::resolve(&spillover_data::cache_root(), spec)?;
        return Ok(load_path(&asset.path, &opts)?);
    }
    if let Some(repo) = spec.strip_prefix("hf:") {
        let dir = spillover_data::hub::model_dir(repo)?;
        return Ok(load_path(&dir, &opts)?);
    }
    if TINY_MODELS.contains(&spec) || Path::new(spec).exists() {
        return Ok(load(spec, &opts)?);
    }
    Err(ConfigError::new(
        "model",
        format!(
            "{spec:?} is not a packaged model ({}), a tiny model ({}), an existing path, or hf:ORG/NAME",
            PACKAGED_MODELS.join(", "),
            TINY_MODELS.join(", ")
        ),
    )
    .into())
}

/// What identifies a model's weights for caching: the packaged asset's sha256, or the path and
/// its size and modification time, or the tiny model's name and seed.
pub fn fingerprint(spec: &str) -> Result<String> {
    if PACKAGED_MODELS.contains(&spec) {
        let asset = spillover_data::resolve(&spillover_data::cache_root(), spec)?;
        let hashes: Vec<&str> = asset.files.iter().map(|f| f.sha256.as_str()).collect();
        return Ok(format!("{spec}@{}", hashes.join("+")));
    }
    if TINY_MODELS.contains(&spec) {
        return Ok(format!("{spec}@seed{}", spillover_model::load::TINY_SEED));
    }
    let path = match spec.strip_prefix("hf:") {
        Some(repo) => spillover_data::hub::model_dir(repo)?,
        None => Path::new(spec).to_path_buf(),
    };
    let meta = std::fs::metadata(&path).with_context(|| path.display().to_string())?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs());
    Ok(format!("{}@{}:{mtime}", path.display(), meta.len()))
}
