//! Weight interpolation θ = (1 − α)·θ_base + α·θ_tuned (model averaging, the known mitigation of
//! the alignment tax). For a LoRA adapter θ_tuned − θ_base = scale·BA, so interpolation scales the
//! adapter; for full fine-tuning every trained matrix is mixed with its base value.

use crate::adapters::FULL_FILE;
use crate::error::ConfigError;
use anyhow::Result;
use spillover_model::Model;
use std::path::Path;

/// Scales every LoRA adapter of `model` by `alpha` (must be unmerged).
pub fn scale_lora(model: &mut Model, alpha: f64) -> Result<usize> {
    let mut n = 0;
    for (name, lin) in model.linears_mut() {
        if let Some(l) = lin.lora.as_mut() {
            if l.merged {
                anyhow::bail!("{name}: cannot interpolate a merged adapter");
            }
            l.scale *= alpha;
            n += 1;
        }
    }
    Ok(n)
}

/// Mixes the full fine-tuning weights in `dir` into the base `model`: W ← (1 − α)·W + α·W_tuned.
pub fn mix_full(model: &mut Model, dir: &Path, alpha: f64) -> Result<usize> {
    let path = dir.join(FULL_FILE);
    let dev = model.device().clone();
    let mut tuned = spillover_model::weights::read_safetensors(&path, &dev)?;
    let mut n = 0;
    for (name, lin) in model.linears_mut() {
        if let Some(w) = tuned.remove(&format!("{name}.weight")) {
            if w.dims() != lin.weight.dims() {
                return Err(ConfigError::new(
                    path.display(),
                    format!(
                        "{name} has shape {:?}, the model {:?}",
                        w.dims(),
                        lin.weight.dims()
                    ),
                )
                .into());
            }
            let w = w.to_dtype(lin.weight.dtype())?;
            lin.weight = ((&lin.weight * (1.0 - alpha))? + (w * alpha)?)?;
            n += 1;
        }
    }
    if let Some(left) = tuned.keys().next() {
        return Err(
            ConfigError::new(path.display(), format!("{left} matches no linear layer")).into(),
        );
    }
    Ok(n)
}
