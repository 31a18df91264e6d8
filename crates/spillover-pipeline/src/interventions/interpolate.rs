//! Weight interpolation θ = (1 − α)·θ_base + α·θ_tuned (model averaging, the known mitigation of
//! the alignment tax). For a LoRA adapter θ_tuned − θ_base = scale·BA, so interpolation scales the
//! adapter; for full fine-tuning every trained matrix is mixed with its base value.

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
    let mut tuned = crate::adapters::full_weights(model, dir)?;
    let mut n = 0;
    for (name, lin) in model.linears_mut() {
        if let Some(w) = tuned.remove(&name) {
            lin.weight = ((&lin.weight * (1.0 - alpha))? + (w * alpha)?)?;
            n += 1;
        }
    }
    Ok(n)
}
