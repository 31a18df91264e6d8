//! The refusal direction used by `actadd`, `ablate` and `orthogonalize`: the difference of mean
//! residual activations (`blocks.{l}.hook_resid_pre`, last prompt token) between the harmful
//! training prompts and harmless prompts, both chat-templated.
//!
//! Layer choice, when the config does not fix one: the prompts of each class are split in two
//! halves (even and odd positions); the direction is computed on one half and each prompt of the
//! other half is projected on it; the layer with the largest held-out separation (Cohen's d of
//! the projections) among the middle 60% of layers wins. The final direction uses every prompt.

use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};
use spillover_model::Model;
use spillover_mri::direction::{activations, dot, norm, unit};

/// The stage summary: the chosen layer, per-layer scores and the direction itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DirectionSummary {
    pub hook: String,
    pub position: isize,
    pub layer: usize,
    /// Whether the layer came from the config (else: chosen by held-out separation).
    pub layer_from_config: bool,
    /// Held-out Cohen's d per layer (NaN outside the searched range).
    pub separation: Vec<f64>,
    /// ‖mean(harmful) − mean(harmless)‖ per layer.
    pub norms: Vec<f32>,
    pub n_harmful: usize,
    pub n_harmless: usize,
    /// The raw difference of means at `layer` (its norm is the default actadd coefficient).
    pub direction: Vec<f32>,
}

/// Computes the direction from tokenized prompts.
pub fn refusal_direction(
    model: &Model,
    harmful: &[Vec<u32>],
    harmless: &[Vec<u32>],
    layer: Option<usize>,
    pad_id: u32,
) -> Result<DirectionSummary> {
    ensure!(
        harmful.len() >= 4 && harmless.len() >= 4,
        "a refusal direction needs at least 4 harmful and 4 harmless prompts ({} and {})",
        harmful.len(),
        harmless.len()
    );
    let n_layers = model.config().num_layers;
    if let Some(l) = layer {
        ensure!(
            l < n_layers,
            "intervention.layer = {l}: the model has {n_layers} layers (0..{})",
            n_layers - 1
        );
    }
    let hook = "hook_resid_pre";
    let a = activations(model, hook, harmful, -1, pad_id, 16)?;
    let b = activations(model, hook, harmless, -1, pad_id, 16)?;
    let norms: Vec<f32> = (0..n_layers)
        .map(|l| norm(&diff_of_means(&a, &b, l, |_| true)))
        .collect();
    let lo = n_layers / 5;
    let hi = (n_layers * 4).div_ceil(5).max(lo + 1);
    let separation: Vec<f64> = (0..n_layers)
        .map(|l| {
            if (lo..hi).contains(&l) {
                held_out_separation(&a, &b, l)
            } else {
                f64::NAN
            }
        })
        .collect();
    let chosen = layer.unwrap_or_else(|| {
        (lo..hi)
            .max_by(|&x, &y| separation[x].total_cmp(&separation[y]))
            .unwrap_or(n_layers / 2)
    });
    Ok(DirectionSummary {
        hook: hook.into(),
        position: -1,
        layer: chosen,
        layer_from_config: layer.is_some(),
        separation,
        norms,
        n_harmful: harmful.len(),
        n_harmless: harmless.len(),
        direction: diff_of_means(&a, &b, chosen, |_| true),
    })
}

/// mean over the selected prompts of class a minus that of class b, at `layer`.
fn diff_of_means(
    a: &[Vec<Vec<f32>>],
    b: &[Vec<Vec<f32>>],
    layer: usize,
    select: impl Fn(usize) -> bool,
) -> Vec<f32> {
    let mean = |x: &[Vec<Vec<f32>>]| {
        let rows: Vec<&Vec<f32>> = x
            .iter()
            .enumerate()
            .filter(|(i, _)| select(*i))
            .map(|(_, p)| &p[layer])
            .collect();
        let d = rows[0].len();
        let mut m = vec![0f64; d];
        for r in &rows {
            for (s, v) in m.iter_mut().zip(r.iter()) {
                *s += *v as f64;
            }
        }
        m.into_iter()
            .map(|s| (s / rows.len() as f64) as f32)
            .collect::<Vec<f32>>()
    };
    mean(a).iter().zip(mean(b)).map(|(x, y)| x - y).collect()
}

/// Cohen's d of the projections of the odd-indexed prompts on the direction of the even ones.
fn held_out_separation(a: &[Vec<Vec<f32>>], b: &[Vec<Vec<f32>>], layer: usize) -> f64 {
    let r = unit(&diff_of_means(a, b, layer, |i| i % 2 == 0));
    let proj = |x: &[Vec<Vec<f32>>]| -> Vec<f64> {
        x.iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == 1)
            .map(|(_, p)| dot(&p[layer], &r) as f64)
            .collect()
    };
    let (pa, pb) = (proj(a), proj(b));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let var = |v: &[f64], m: f64| {
        v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0).max(1.0)
    };
    let (ma, mb) = (mean(&pa), mean(&pb));
    let pooled = ((var(&pa, ma) + var(&pb, mb)) / 2.0).sqrt();
    if pooled > 0.0 {
        (ma - mb) / pooled
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separation_prefers_the_layer_where_classes_split() {
        // Two layers, 8 prompts per class, d = 2. Layer 0: classes overlap (noise only);
        // layer 1: harmful prompts sit at +3 on the first axis.
        let noise = |i: usize| ((i * 37 % 11) as f32 - 5.0) / 5.0;
        let make = |shift: f32| -> Vec<Vec<Vec<f32>>> {
            (0..8)
                .map(|i| {
                    vec![
                        vec![noise(i), noise(i + 3)],
                        vec![shift + noise(i + 5), noise(i + 1)],
                    ]
                })
                .collect()
        };
        let (a, b) = (make(3.0), make(0.0));
        assert!(held_out_separation(&a, &b, 1) > 2.0);
        assert!(
            held_out_separation(&a, &b, 0).abs() < 1e-9,
            "identical classes give 0"
        );
        let d = diff_of_means(&a, &b, 1, |_| true);
        assert!((d[0] - 3.0).abs() < 1e-5 && d[1].abs() < 1e-6);
    }
}
