//! Turning a model spec into a loaded model: packaged names through the asset cache, hub ids
//! through the HF cache, tiny-* names and local paths directly.

use crate::error::ConfigError;
use anyhow::{Context, Result};
use candle_core::{DType, Device};
use spillover_model::lora::PeftBase;
use spillover_model::tiny::TINY_MODELS;
use spillover_model::{load, load_path, LoadOptions, LoadedModel};
use std::path::{Path, PathBuf};

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

/// How Python names the model `spec` as a PEFT base (`base_model_name_or_path`, `revision`):
/// a packaged model by the hub repo it was converted from, `hf:ORG/NAME@REV` as `ORG/NAME` at
/// `REV`, a local path as its absolute path, anything else (tiny-*) by its name.
pub fn peft_base(spec: &str) -> PeftBase {
    if let Some(repo) = spillover_data::hub_repo(spec) {
        return PeftBase::named(repo);
    }
    if let Some(m) = spec
        .strip_prefix("hf:")
        .and_then(|s| spillover_data::hub::HubModel::parse(s).ok())
    {
        return PeftBase {
            name_or_path: m.repo,
            revision: m.revision,
        };
    }
    let path = Path::new(spec);
    if path.exists() {
        let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        return PeftBase::named(abs.display().to_string());
    }
    PeftBase::named(spec)
}

/// A digest of the content of the model or adapter at `path`: the sha256 of a file, or of every
/// file of a folder that Spillover reads (`*.json`, `*.safetensors`, `*.jinja`, `*.gguf`), with
/// their names. Two different adapters or checkpoints never share it, wherever they live.
pub fn content_fingerprint(path: &Path) -> Result<String> {
    let read = |p: &Path| spillover_data::sha256_file(p).with_context(|| p.display().to_string());
    if path.is_file() {
        return Ok(format!("sha256:{}", read(path)?.0));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| path.display().to_string())?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "json" | "safetensors" | "jinja" | "gguf"))
        })
        .collect();
    files.sort();
    let mut parts = Vec::with_capacity(files.len());
    for f in &files {
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned());
        parts.push((name, read(f)?.0));
    }
    Ok(format!("files:{}", crate::config::digest(&parts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peft_bases_are_names_python_resolves() {
        let smol = peft_base("smollm2-135m-instruct");
        assert_eq!(smol.name_or_path, "HuggingFaceTB/SmolLM2-135M-Instruct");
        assert_eq!(smol.revision, None);
        let hub = peft_base("hf:org/model@v1.2");
        assert_eq!(
            (hub.name_or_path.as_str(), hub.revision.as_deref()),
            ("org/model", Some("v1.2"))
        );
        assert_eq!(peft_base("hf:org/model").revision, None);
        let here = peft_base("Cargo.toml");
        assert!(Path::new(&here.name_or_path).is_absolute(), "{here:?}");
        assert_eq!(peft_base("tiny-llama").name_or_path, "tiny-llama");
    }

    #[test]
    fn content_fingerprints_follow_the_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        for d in [&a, &b] {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join("adapter_config.json"), "{}").unwrap();
            std::fs::write(d.join("adapter_model.safetensors"), "weights").unwrap();
            std::fs::write(d.join("README.md"), "ignored").unwrap();
        }
        std::fs::write(b.join("README.md"), "other text").unwrap();
        let fp = |p: &Path| content_fingerprint(p).unwrap();
        assert_eq!(fp(&a), fp(&b), "same files read, same fingerprint");
        std::fs::write(b.join("adapter_model.safetensors"), "weightz").unwrap();
        assert_ne!(fp(&a), fp(&b), "one byte of the weights changes it");
        assert_ne!(fp(&a.join("adapter_config.json")), fp(&a));
    }
}
