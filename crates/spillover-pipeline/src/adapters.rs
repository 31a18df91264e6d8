//! Applying fine-tuning results to a loaded model: PEFT LoRA folders, and the full fine-tuning
//! folders `spillover train --full` writes (the trained weights under their HF names).

use crate::error::ConfigError;
use anyhow::{Context, Result};
use candle_core::Tensor;
use serde::{Deserialize, Serialize};
use spillover_model::lora::{load_peft, save_peft, LoraConfig};
use spillover_model::{LoadedModel, Model};
use spillover_train::Trainable;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

pub const FULL_FILE: &str = "full_finetune.safetensors";

/// Applies the adapter or fine-tuned weights in `dir` to `model`.
pub fn apply(model: &mut Model, dir: &Path) -> Result<()> {
    if dir.join("adapter_config.json").exists() {
        load_peft(model, dir)?;
        return Ok(());
    }
    let mut tuned = full_weights(model, dir)?;
    for (name, lin) in model.linears_mut() {
        if let Some(w) = tuned.remove(&name) {
            lin.weight = w;
        }
    }
    Ok(())
}

/// The weights of a full fine-tuning folder by linear-layer name, checked against `model` (shape;
/// every tensor must name a linear layer) and converted to the layer's dtype.
pub fn full_weights(model: &mut Model, dir: &Path) -> Result<HashMap<String, Tensor>> {
    let full = dir.join(FULL_FILE);
    if !full.exists() {
        return Err(ConfigError::new(
            dir.display(),
            format!("expected a PEFT adapter (adapter_config.json) or a full fine-tuning folder ({FULL_FILE})"),
        )
        .into());
    }
    let dev = model.device().clone();
    let mut tensors = spillover_model::weights::read_safetensors(&full, &dev)?;
    let mut out = HashMap::new();
    for (name, lin) in model.linears_mut() {
        if let Some(w) = tensors.remove(&format!("{name}.weight")) {
            if w.dims() != lin.weight.dims() {
                let msg = format!(
                    "{name} has shape {:?}, the model {:?}",
                    w.dims(),
                    lin.weight.dims()
                );
                return Err(ConfigError::new(full.display(), msg).into());
            }
            out.insert(name, w.to_dtype(lin.weight.dtype())?);
        }
    }
    if let Some(left) = tensors.keys().next() {
        let msg = format!("{left} matches no linear layer of this model");
        return Err(ConfigError::new(full.display(), msg).into());
    }
    Ok(out)
}

/// The file beside a trained adapter (or full fine-tuning folder) that says what it was trained
/// on, in more detail than `adapter_config.json` can (Python PEFT warns about keys it does not
/// know, so they are kept out of it).
pub const BASE_RECORD_FILE: &str = "spillover_base.json";

/// What a trained result was trained on ([`BASE_RECORD_FILE`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseRecord {
    /// The model as Spillover was given it (`--model`, `model.id`).
    pub spec: String,
    /// The name Python loads it by (as in `adapter_config.json`), and its hub revision.
    pub base_model_name_or_path: String,
    pub revision: Option<String>,
    /// `gguf`, `safetensors` or `tiny`.
    pub format: String,
    /// The file or folder the weights were read from.
    pub source: String,
    /// GGUF only: the tensor types in the file (`F32`, `Q4_1`, `Q6K`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gguf_tensor_types: Vec<String>,
    /// True when the base was a GGUF file with quantized tensors, dequantized to float for
    /// training: the adapter was fitted to those weights, not to the full-precision model
    /// `base_model_name_or_path` names.
    pub dequantized_gguf: bool,
}

impl BaseRecord {
    /// The record of `lm`, loaded from `spec`.
    pub fn of(spec: &str, lm: &LoadedModel) -> Result<BaseRecord> {
        let peft = crate::models::peft_base(spec);
        let mut types = Vec::new();
        if lm.format == "gguf" {
            let file = spillover_model::gguf::GgufFile::open(&lm.source)?;
            types = file
                .content
                .tensor_infos
                .values()
                .map(|t| format!("{:?}", t.ggml_dtype))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
        }
        let dequantized_gguf = types
            .iter()
            .any(|t| !matches!(t.as_str(), "F32" | "F16" | "BF16"));
        Ok(BaseRecord {
            spec: spec.to_string(),
            base_model_name_or_path: peft.name_or_path,
            revision: peft.revision,
            format: lm.format.to_string(),
            source: lm.source.display().to_string(),
            gguf_tensor_types: types,
            dequantized_gguf,
        })
    }
}

/// Writes what training produced into `dir`: the PEFT adapter (`lora` given) or the fine-tuned
/// weights of `trainable`, and [`BASE_RECORD_FILE`] naming the base `spec`.
pub fn save_trained(
    lm: &mut LoadedModel,
    lora: Option<&LoraConfig>,
    trainable: &Trainable,
    spec: &str,
    dir: &Path,
) -> Result<()> {
    let record = BaseRecord::of(spec, lm)?;
    match lora {
        Some(cfg) => save_peft(&mut lm.model, cfg, &crate::models::peft_base(spec), dir)?,
        None => save_full(trainable, spec, dir)?,
    }
    crate::rundir::write_json(&dir.join(BASE_RECORD_FILE), &record)
}

/// Writes the trained weights of a full fine-tuning run.
fn save_full(t: &Trainable, base: &str, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    let tensors: HashMap<String, Tensor> = t
        .names
        .iter()
        .cloned()
        .zip(t.vars.iter().map(|v| v.as_tensor().clone()))
        .collect();
    spillover_model::weights::write_safetensors(&dir.join(FULL_FILE), &tensors)?;
    let meta = serde_json::json!({"base_model": base, "trained": t.names, "format": "spillover full fine-tuning: HF-named linear weights"});
    std::fs::write(
        dir.join("full_finetune.json"),
        serde_json::to_string_pretty(&meta)?,
    )?;
    Ok(())
}
