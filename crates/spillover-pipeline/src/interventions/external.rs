//! External interventions: the tuned model was made elsewhere (a PEFT adapter trained with TRL, a
//! published safety-tuned checkpoint, a refusal-ablated model) and is measured against its base
//! exactly as Spillover's own interventions are.
//!
//! | `intervention.model`                                  | the "after" model          |
//! |-------------------------------------------------------|----------------------------|
//! | a PEFT adapter folder (`adapter_config.json`)          | base + adapter             |
//! | a `spillover train --full` folder                      | base with those weights    |
//! | an HF model folder, a `.gguf`, a packaged or tiny name | that model                 |
//! | `hf:ORG/NAME[@REVISION]`                               | the repo's adapter or model |
//!
//! Checked before anything runs: the tuned model has the base's shapes (an adapter is applied to
//! a fresh copy of the base) and the base's tokenizer (same vocabulary, special tokens, BOS policy
//! and splits of probe texts); a tokenizer that differs is an error naming both models. Both
//! models are prompted with the base's tokenizer and chat template, so every item is the same
//! token sequence before and after. Stage keys use the content fingerprint of the adapter or
//! model files, so two different adapters never share a stage.

use crate::adapters::FULL_FILE;
use crate::config::Experiment;
use crate::error::ConfigError;
use crate::experiment::{load_fresh, Base};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use spillover_model::tiny::TINY_MODELS;
use spillover_model::ModelConfig;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The key every message about the tuned model names.
const KEY: &str = "intervention.model";

/// What the tuned model is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    /// Applied to the base: a PEFT adapter or a full fine-tuning folder.
    Adapter,
    /// A whole model, loaded instead of the base.
    Model,
}

/// Whether `intervention.model` names a file or folder: anything but a packaged or tiny-* name
/// and `hf:ORG/NAME[@REVISION]`.
pub fn names_a_path(spec: &str) -> bool {
    !spec.starts_with("hf:")
        && !TINY_MODELS.contains(&spec)
        && !crate::models::PACKAGED_MODELS.contains(&spec)
}

/// What a local path holds, or why it is not a tuned model (without reading more than a file's
/// first bytes, so `check_inputs` can call it before anything runs).
pub fn local_form(path: &Path) -> std::result::Result<Form, String> {
    if path.is_dir() {
        if path.join("adapter_config.json").is_file() || path.join(FULL_FILE).is_file() {
            return Ok(Form::Adapter);
        }
        if path.join("config.json").is_file() {
            return Ok(Form::Model);
        }
        return Err(format!(
            "{} has no adapter_config.json (a PEFT adapter), {FULL_FILE} (spillover train --full) \
             or config.json (an HF model folder)",
            path.display()
        ));
    }
    if path.is_file() {
        let mut magic = [0u8; 4];
        let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut magic));
        if read.is_ok() && &magic == b"GGUF" {
            return Ok(Form::Model);
        }
        return Err(format!(
            "{} is not a GGUF file (a tuned model given as a file must be a .gguf)",
            path.display()
        ));
    }
    Err(format!(
        "no such file or folder: {} (a relative path in an experiment file is read from that \
         file's folder; on the command line, from the current directory)",
        path.display()
    ))
}

/// The tuned model of a run, resolved and checked against the base.
#[derive(Debug, Clone)]
pub struct External {
    pub form: Form,
    /// What to load: the adapter folder, or the model's path or name.
    pub location: String,
    /// The content fingerprint (part of the intervention stage's key).
    pub content: String,
    /// Recorded as the intervention's detail: what was resolved and checked, warnings, notes.
    pub detail: serde_json::Value,
}

impl External {
    /// Resolves `exp.intervention.model` (downloading an `hf:` repo that is not cached) and checks
    /// it against the loaded `base`: errors (exit 2, naming `intervention.model`) when it cannot
    /// be read, has other shapes, or tokenizes differently.
    pub fn prepare(exp: &Experiment, base: &Base) -> Result<External> {
        let spec = exp
            .intervention
            .model
            .clone()
            .expect("validated: external has a model");
        let (form, location, content) = resolve(&spec)?;
        let mut warnings = Vec::new();
        let tokenizer_check = match form {
            Form::Adapter => check_adapter(exp, base, &spec, Path::new(&location), &mut warnings)?,
            Form::Model => check_model(base, &spec, &location, &mut warnings)?,
        };
        let mut notes = vec![
            "External intervention: the tuned model was given, not trained here, so it has no \
             training seed and its own training data is unknown."
                .to_string(),
        ];
        if exp.analysis.mri {
            notes.push(format!(
                "The MRI's refusal direction and patching prompts come from this experiment's \
                 harmful training split ({} prompts of data.harmful_pool = {}), not from the data \
                 the tuned model was trained on.",
                exp.data.n_train, exp.data.harmful_pool
            ));
        }
        let detail = serde_json::json!({
            "model": spec,
            "resolved": location,
            "form": form,
            "content": content,
            "tokenizer": tokenizer_check,
            "warnings": warnings,
            "notes": notes,
        });
        Ok(External {
            form,
            location,
            content,
            detail,
        })
    }
}

/// The form, the location to load and the content fingerprint of the tuned model `spec`.
fn resolve(spec: &str) -> Result<(Form, String, String)> {
    if TINY_MODELS.contains(&spec) {
        return Ok((Form::Model, spec.into(), crate::models::fingerprint(spec)?));
    }
    if crate::models::PACKAGED_MODELS.contains(&spec) {
        let asset = spillover_data::resolve(&spillover_data::cache_root(), spec)?;
        let location = asset.path.display().to_string();
        return Ok((Form::Model, location, crate::models::fingerprint(spec)?));
    }
    let path = match spec.strip_prefix("hf:") {
        Some(hub) => spillover_data::hub::model_dir(hub)?,
        None => PathBuf::from(spec),
    };
    let form = local_form(&path).map_err(|m| ConfigError::new(KEY, m))?;
    let content = crate::models::content_fingerprint(&path)?;
    Ok((form, path.display().to_string(), content))
}

/// An adapter: applied to a fresh copy of the base (so a misfit is an error now, not after the
/// baseline); the tokenizer it ships, if any, must be the base's.
fn check_adapter(
    exp: &Experiment,
    base: &Base,
    spec: &str,
    dir: &Path,
    warnings: &mut Vec<String>,
) -> Result<String> {
    let mut copy = load_fresh(exp)?;
    crate::adapters::apply(&mut copy.model, dir)?;
    drop(copy);
    if let Some(named) = adapter_base(dir) {
        let ours = crate::models::peft_base(&base.spec).name_or_path;
        if !named.eq_ignore_ascii_case(&ours) {
            warnings.push(format!(
                "the adapter's adapter_config.json names base_model_name_or_path = {named:?}; this \
                 run applies it to {} ({ours})",
                base.spec
            ));
        }
    }
    let tok = dir.join("tokenizer.json");
    if !tok.exists() {
        return Ok("the adapter ships no tokenizer; the base's is used".into());
    }
    let theirs = spillover_model::tokenizer::Tokenizer::from_file(&tok)?;
    same_tokenizer(base, spec, &theirs, warnings)?;
    Ok("the tokenizer the adapter ships is the base's".into())
}

/// `base_model_name_or_path` of a PEFT adapter folder, when it names one.
fn adapter_base(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("adapter_config.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["base_model_name_or_path"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A whole model: the base's shapes, and its tokenizer (or none, when the base's is used).
fn check_model(
    base: &Base,
    spec: &str,
    location: &str,
    warnings: &mut Vec<String>,
) -> Result<String> {
    let (cfg, tokenizer) = spillover_model::load_header(location)?;
    if let Some(diff) = shape_difference(base.lm.config(), &cfg) {
        return Err(ConfigError::new(
            KEY,
            format!(
                "the tuned model {spec} does not have the base model {}'s shape ({diff}); an \
                 external intervention compares a model with a fine-tune of it",
                base.spec
            ),
        )
        .into());
    }
    match tokenizer {
        Some(t) => {
            same_tokenizer(base, spec, &t, warnings)?;
            Ok("the tuned model's tokenizer is the base's".into())
        }
        None => Ok("the tuned model has no tokenizer; the base's is used".into()),
    }
}

/// The first architecture setting in which two models differ.
fn shape_difference(a: &ModelConfig, b: &ModelConfig) -> Option<String> {
    if a.arch != b.arch {
        return Some(format!("architecture {:?} vs {:?}", a.arch, b.arch));
    }
    let sizes = [
        ("vocab_size", a.vocab_size, b.vocab_size),
        ("hidden_size", a.hidden_size, b.hidden_size),
        ("layers", a.num_layers, b.num_layers),
        ("attention heads", a.num_heads, b.num_heads),
        ("key/value heads", a.num_kv_heads, b.num_kv_heads),
        ("head_dim", a.head_dim, b.head_dim),
        (
            "intermediate_size",
            a.intermediate_size,
            b.intermediate_size,
        ),
    ];
    sizes
        .iter()
        .find(|(_, x, y)| x != y)
        .map(|(name, x, y)| format!("{name} {x} vs {y}"))
}

/// Errors (exit 2) when `theirs` tokenizes differently from the base's tokenizer; warns when only
/// the chat template differs (both models are prompted with the base's).
fn same_tokenizer(
    base: &Base,
    spec: &str,
    theirs: &spillover_model::tokenizer::Tokenizer,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let ours = base.lm.tokenizer()?;
    if let Some(diff) = ours.difference(theirs) {
        return Err(ConfigError::new(
            KEY,
            format!(
                "the tuned model {spec} does not use the tokenizer of the base model {} ({diff}; \
                 tuned: {}, base: {}); the same items must be the same tokens before and after",
                base.spec,
                theirs.source().display(),
                ours.source().display()
            ),
        )
        .into());
    }
    if theirs.chat_template().is_some() && theirs.chat_template() != ours.chat_template() {
        warnings.push(format!(
            "the chat template of {spec} differs from the base's; both models are prompted with \
             the base's, so the items are the same before and after"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_settings_are_checked_when_the_file_is_read() {
        let parse = |text: &str| crate::config::parse("x.toml", text, &[]).map(|_| ());
        let ext = "[intervention]\nkind = \"external\"\nmodel = \"a/adapter\"\n";
        parse(ext).unwrap();
        for (text, needle) in [
            (
                "[intervention]\nkind = \"external\"\n",
                "intervention.model: kind",
            ),
            (&format!("seeds = 2\n{ext}"), "seeds: 2"),
            (
                &format!("{ext}[data]\nbenign_mix = 1.0\n"),
                "data.benign_mix",
            ),
            (
                &format!("{ext}epochs = 2\n"),
                "intervention.epochs does not apply",
            ),
            (
                "[intervention]\nkind = \"lora_sft\"\nmodel = \"a\"\n",
                "intervention.model does not apply",
            ),
            (
                "[intervention]\nkind = \"external\"\nmodel = \"hf:org\"\n",
                "hf:ORG/NAME[@REVISION]",
            ),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn local_forms_are_told_apart_by_their_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = |name: &str, files: &[&str]| {
            let d = tmp.path().join(name);
            std::fs::create_dir_all(&d).unwrap();
            for f in files {
                std::fs::write(d.join(f), "x").unwrap();
            }
            d
        };
        let peft = dir(
            "peft",
            &["adapter_config.json", "adapter_model.safetensors"],
        );
        let full = dir("full", &[FULL_FILE]);
        let hf = dir("hf", &["config.json", "model.safetensors"]);
        let empty = dir("empty", &[]);
        assert_eq!(local_form(&peft), Ok(Form::Adapter));
        assert_eq!(local_form(&full), Ok(Form::Adapter));
        assert_eq!(local_form(&hf), Ok(Form::Model));
        assert!(local_form(&empty)
            .unwrap_err()
            .contains("adapter_config.json"));
        let gguf = tmp.path().join("m.gguf");
        std::fs::write(&gguf, b"GGUF\x03\x00\x00\x00").unwrap();
        assert_eq!(local_form(&gguf), Ok(Form::Model));
        let text = tmp.path().join("m.txt");
        std::fs::write(&text, "hello").unwrap();
        assert!(local_form(&text).unwrap_err().contains("not a GGUF"));
        assert!(local_form(&tmp.path().join("nope"))
            .unwrap_err()
            .contains("no such file"));
    }
}
