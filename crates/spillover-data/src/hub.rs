//! Hugging Face hub models (`hf:ORG/NAME`): files come from the standard HF cache
//! (`$HF_HOME/hub`, else `~/.cache/huggingface/hub`), so Python and Spillover share downloads. A
//! model already in the cache loads offline; otherwise its files are downloaded when the hub is
//! reachable, and the error says what to do when it is not.

use crate::{AssetError, Result};
use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo};
use std::path::PathBuf;

/// Files of an HF model folder that Spillover reads, beyond the weights.
const OPTIONAL_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "generation_config.json",
    "chat_template.jinja",
];

/// The snapshot folder holding `repo`'s config, weights and tokenizer.
pub fn model_dir(repo: &str) -> Result<PathBuf> {
    if repo.split('/').count() != 2 || repo.split('/').any(str::is_empty) {
        return Err(AssetError::InvalidSpec {
            id: format!("hf:{repo}"),
            reason: "expected hf:ORG/NAME, e.g. hf:gpt2 is written hf:openai-community/gpt2".into(),
        });
    }
    if let Some(dir) = cached_dir(repo) {
        return Ok(dir);
    }
    download(repo)
}

/// The snapshot folder when config and weights are already cached.
fn cached_dir(repo: &str) -> Option<PathBuf> {
    let cache = Cache::from_env().repo(Repo::model(repo.to_string()));
    let config = cache.get("config.json")?;
    let has_weights = cache.get("model.safetensors").is_some()
        || cache.get("model.safetensors.index.json").is_some();
    has_weights
        .then(|| config.parent().map(PathBuf::from))
        .flatten()
}

fn download(repo: &str) -> Result<PathBuf> {
    let unavailable = |e: &dyn std::fmt::Display| AssetError::HubUnavailable {
        repo: repo.to_string(),
        cause: e.to_string(),
    };
    let api = ApiBuilder::from_env()
        .with_progress(true)
        .build()
        .map_err(|e| unavailable(&e))?;
    let r = api.model(repo.to_string());
    let config = r.get("config.json").map_err(|e| unavailable(&e))?;
    if r.get("model.safetensors").is_err() {
        let index = r
            .get("model.safetensors.index.json")
            .map_err(|e| unavailable(&e))?;
        for shard in shard_names(&index)? {
            r.get(&shard).map_err(|e| unavailable(&e))?;
        }
    }
    for f in OPTIONAL_FILES {
        let _ = r.get(f); // absent files are fine: the loader reports what it needs
    }
    Ok(config.parent().map(PathBuf::from).unwrap_or_default())
}

fn shard_names(index: &std::path::Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(index).map_err(|e| AssetError::io(index, e))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        AssetError::io(
            index,
            std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        )
    })?;
    let mut names: Vec<String> = v["weight_map"]
        .as_object()
        .map(|m| {
            m.values()
                .filter_map(|f| f.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.dedup();
    Ok(names)
}
