//! Applying fine-tuning results to a loaded model: PEFT LoRA folders, and the full fine-tuning
//! folders `spillover train --full` writes (the trained weights under their HF names).

use crate::error::ConfigError;
use anyhow::{Context, Result};
use candle_core::Tensor;
use spillover_model::lora::load_peft;
use spillover_model::Model;
use spillover_train::Trainable;
use std::collections::HashMap;
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

/// Writes the trained weights of a full fine-tuning run.
pub fn save_full(t: &Trainable, base: &str, dir: &Path) -> Result<()> {
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
