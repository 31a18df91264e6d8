//! Hugging Face hub models (`hf:ORG/NAME[@REVISION]`): files come from the standard HF cache
//! (`$HF_HOME/hub`, else `~/.cache/huggingface/hub`), so Python and Spillover share downloads. A
//! model already in the cache loads offline; otherwise its files are downloaded when the hub is
//! reachable (and `HF_HUB_OFFLINE` is not set), and the error says what to do when it is not.
//!
//! A revision is looked up as `huggingface_hub` does: a branch or tag through
//! `refs/REVISION`, anything else as a commit under `snapshots/`. A repo may hold a model
//! (`config.json` + safetensors) or a PEFT adapter (`adapter_config.json` +
//! `adapter_model.safetensors`).

use crate::{AssetError, Result};
use hf_hub::api::sync::ApiBuilder;
use hf_hub::{Cache, Repo, RepoType};
use std::path::{Path, PathBuf};

/// Files of an HF model folder that Spillover reads, beyond the weights.
const OPTIONAL_FILES: &[&str] = &[
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "generation_config.json",
    "chat_template.jinja",
];

/// The branch used when a model spec names no revision.
const DEFAULT_REVISION: &str = "main";

/// A hub model: `ORG/NAME` and the revision asked for (None: `main`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubModel {
    pub repo: String,
    pub revision: Option<String>,
}

impl HubModel {
    /// Parses `ORG/NAME[@REVISION]` (the part of `hf:...` after the prefix).
    pub fn parse(spec: &str) -> Result<HubModel> {
        let bad = |reason: &str| AssetError::InvalidSpec {
            id: format!("hf:{spec}"),
            reason: reason.into(),
        };
        let (repo, revision) = match spec.split_once('@') {
            Some((r, rev)) => (r, Some(rev)),
            None => (spec, None),
        };
        if repo.split('/').count() != 2 || repo.split('/').any(str::is_empty) {
            return Err(bad(
                "expected hf:ORG/NAME[@REVISION], e.g. hf:gpt2 is written hf:openai-community/gpt2",
            ));
        }
        if let Some(rev) = revision {
            let unusable = rev.is_empty()
                || rev.contains(char::is_whitespace)
                || rev
                    .split('/')
                    .any(|p| p.is_empty() || p == "." || p == "..");
            if unusable {
                return Err(bad(
                    "the revision after `@` must be a branch, tag or commit hash",
                ));
            }
        }
        Ok(HubModel {
            repo: repo.to_string(),
            revision: revision.map(str::to_string),
        })
    }

    fn revision(&self) -> &str {
        self.revision.as_deref().unwrap_or(DEFAULT_REVISION)
    }

    fn unavailable(&self, cause: String) -> AssetError {
        AssetError::HubUnavailable {
            repo: self.repo.clone(),
            revision: self.revision.clone(),
            cause,
        }
    }
}

/// The snapshot folder holding `spec`'s (`ORG/NAME[@REVISION]`) config, weights and tokenizer,
/// or its adapter: from the HF cache ([`Cache::from_env`]), else downloaded.
pub fn model_dir(spec: &str) -> Result<PathBuf> {
    let model = HubModel::parse(spec)?;
    let cache = Cache::from_env();
    if let Some(dir) = cached_dir(cache.path(), &model) {
        return Ok(dir);
    }
    if offline() {
        return Err(model.unavailable(format!(
            "HF_HUB_OFFLINE is set; {}",
            cache_contents(cache.path(), &model)
        )));
    }
    download(&model).map_err(|e| match e {
        AssetError::HubUnavailable { cause, .. } => {
            model.unavailable(format!("{cause}; {}", cache_contents(cache.path(), &model)))
        }
        other => other,
    })
}

/// `HF_HUB_OFFLINE` set to a true value, as `huggingface_hub` reads it.
fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "1" | "true" | "yes" | "on"
        )
    })
}

/// The repo's folder in the HF cache rooted at `hub` (`models--ORG--NAME`).
fn repo_folder(hub: &Path, model: &HubModel) -> PathBuf {
    hub.join(Repo::new(model.repo.clone(), RepoType::Model).folder_name())
}

/// The cached snapshot of `model` at its revision, when it holds a usable model or adapter.
/// A branch or tag is read from `refs/REVISION`; a revision with no ref is taken as a commit.
pub fn cached_dir(hub: &Path, model: &HubModel) -> Option<PathBuf> {
    let folder = repo_folder(hub, model);
    let rev = model.revision();
    let commit = std::fs::read_to_string(folder.join("refs").join(rev))
        .map(|c| c.trim().to_string())
        .unwrap_or_else(|_| rev.to_string());
    let snapshot = folder.join("snapshots").join(commit);
    usable(&snapshot).then_some(snapshot)
}

/// Whether `dir` holds a model (config and weights) or a PEFT adapter.
fn usable(dir: &Path) -> bool {
    let has = |f: &str| dir.join(f).is_file();
    let model =
        has("config.json") && (has("model.safetensors") || has("model.safetensors.index.json"));
    let adapter = has("adapter_config.json") && has("adapter_model.safetensors");
    model || adapter
}

/// What the cache holds for `model`'s repo, for errors: its refs and snapshots.
fn cache_contents(hub: &Path, model: &HubModel) -> String {
    let folder = repo_folder(hub, model);
    let names = |sub: &str| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(folder.join(sub))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let (refs, snaps) = (names("refs"), names("snapshots"));
    if refs.is_empty() && snaps.is_empty() {
        return format!("the cache has no copy of it ({})", folder.display());
    }
    format!(
        "revision `{}` is not in the cache at {} (refs: {}; snapshots: {})",
        model.revision(),
        folder.display(),
        if refs.is_empty() {
            "none".into()
        } else {
            refs.join(", ")
        },
        if snaps.is_empty() {
            "none".into()
        } else {
            snaps.join(", ")
        },
    )
}

fn download(model: &HubModel) -> Result<PathBuf> {
    let unavailable = |e: &dyn std::fmt::Display| model.unavailable(e.to_string());
    let api = ApiBuilder::from_env()
        .with_progress(true)
        .build()
        .map_err(|e| unavailable(&e))?;
    let r = api.repo(Repo::with_revision(
        model.repo.clone(),
        RepoType::Model,
        model.revision().to_string(),
    ));
    // A PEFT adapter repo has no config.json.
    let first = match r.get("config.json") {
        Ok(config) => config,
        Err(e) => match r.get("adapter_config.json") {
            Ok(adapter) => {
                r.get("adapter_model.safetensors")
                    .map_err(|e| unavailable(&e))?;
                for f in OPTIONAL_FILES {
                    let _ = r.get(f); // an adapter may ship the tokenizer it was trained with
                }
                return Ok(adapter.parent().map(PathBuf::from).unwrap_or_default());
            }
            Err(_) => return Err(unavailable(&e)),
        },
    };
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
    Ok(first.parent().map(PathBuf::from).unwrap_or_default())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake HF cache: `models--org--m` with `refs/main` → `aaaa` and a second snapshot `bbbb`
    /// reachable only by its commit hash or the tag `v2`.
    fn fake_cache(hub: &Path) {
        let repo = hub.join("models--org--m");
        for (snap, marker) in [("aaaa", "main"), ("bbbb", "v2")] {
            let dir = repo.join("snapshots").join(snap);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("config.json"), marker).unwrap();
            std::fs::write(dir.join("model.safetensors"), marker).unwrap();
        }
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), "aaaa\n").unwrap();
        std::fs::write(repo.join("refs/v2"), "bbbb").unwrap();
    }

    #[test]
    fn revisions_resolve_like_huggingface_hub() {
        let tmp = tempfile::tempdir().unwrap();
        fake_cache(tmp.path());
        let snap = |spec: &str| cached_dir(tmp.path(), &HubModel::parse(spec).unwrap());
        let end = |spec: &str| snap(spec).map(|p| p.file_name().unwrap().to_owned());
        assert_eq!(end("org/m"), Some("aaaa".into()), "no revision is main");
        assert_eq!(end("org/m@main"), Some("aaaa".into()));
        assert_eq!(end("org/m@v2"), Some("bbbb".into()), "a tag through refs/");
        assert_eq!(
            end("org/m@bbbb"),
            Some("bbbb".into()),
            "a commit hash directly"
        );
        assert_eq!(snap("org/m@v3"), None);
        let msg = cache_contents(tmp.path(), &HubModel::parse("org/m@v3").unwrap());
        assert!(
            msg.contains("`v3`") && msg.contains("refs: main, v2"),
            "{msg}"
        );
        assert!(msg.contains("snapshots: aaaa, bbbb"), "{msg}");
    }

    #[test]
    fn bad_model_specs_say_what_is_expected() {
        for spec in ["gpt2", "org/", "org/m@", "org/m@a b", "org/m@../x"] {
            let e = HubModel::parse(spec).unwrap_err().to_string();
            assert!(e.contains(&format!("hf:{spec}")), "{e}");
        }
        let m = HubModel::parse("org/m@refs/pr/1").unwrap();
        assert_eq!(m.revision.as_deref(), Some("refs/pr/1"));
    }
}
