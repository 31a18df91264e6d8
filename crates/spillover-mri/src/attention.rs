//! Attention maps of every layer and head on a probe, and a per-head change score between two
//! models on the same tokens: the Jensen–Shannon divergence of the attention rows, and the
//! attention mass the last query puts on marked positions (operands, refusal words).

use crate::subject::Subject;
use anyhow::{ensure, Result};
use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};
use spillover_model::Step;
use std::collections::BTreeMap;

/// Attention patterns of one probe, one tensor per layer: [heads, t, t] f32 (row = query).
pub struct Patterns {
    pub per_layer: Vec<Tensor>,
}

impl Patterns {
    /// Heads per layer.
    pub fn heads(&self) -> usize {
        self.per_layer.first().map_or(0, |t| t.dims()[0])
    }
    /// Sequence length.
    pub fn len(&self) -> usize {
        self.per_layer.first().map_or(0, |t| t.dims()[1])
    }
    /// True when there are no positions.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The pattern of one head as rows [t][t].
    pub fn head(&self, layer: usize, head: usize) -> Result<Vec<Vec<f32>>> {
        Ok(self.per_layer[layer].get(head)?.to_vec2()?)
    }
    /// All layers stacked: [layers, heads, t, t] (for export).
    pub fn stacked(&self) -> Result<Tensor> {
        Ok(Tensor::stack(&self.per_layer, 0)?)
    }
}

/// Runs `ids` through the subject (one unpadded sequence) and returns every layer's attention
/// pattern.
pub fn attention_patterns(subject: &Subject, ids: &[u32]) -> Result<Patterns> {
    ensure!(!ids.is_empty(), "attention_patterns: empty token sequence");
    let model = subject.model;
    let layers = model.config().num_layers;
    let names: Vec<String> = (0..layers)
        .map(|l| format!("blocks.{l}.attn.hook_pattern"))
        .collect();
    let step = Step::left_padded(&[ids.to_vec()], 0, model.device())?;
    let (_, cache) = subject.run_recorded(&step, &names)?;
    let per_layer = names
        .iter()
        .map(|n| Ok(cache[n].to_dtype(DType::F32)?.squeeze(0)?))
        .collect::<Result<Vec<_>>>()?;
    Ok(Patterns { per_layer })
}

/// Jensen–Shannon divergence of two distributions (natural log; 0 for equal ones, at most ln 2).
pub fn jensen_shannon(p: &[f32], q: &[f32]) -> f32 {
    let kl_to_mid = |a: &[f32], b: &[f32]| -> f64 {
        a.iter()
            .zip(b)
            .filter(|(x, _)| **x > 0.0)
            .map(|(x, y)| {
                let (x, m) = (*x as f64, 0.5 * (*x as f64 + *y as f64));
                x * (x / m).ln()
            })
            .sum()
    };
    (0.5 * kl_to_mid(p, q) + 0.5 * kl_to_mid(q, p)).max(0.0) as f32
}

/// How one head's attention differs between the base and the tuned model on one probe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadChange {
    pub layer: usize,
    pub head: usize,
    /// Mean over query positions of the JS divergence of the attention rows.
    pub jsd_mean: f32,
    /// JS divergence of the last query's row (the position that predicts the next token).
    pub jsd_last: f32,
    /// Attention mass of the last query on each mark's positions, base model.
    pub mass_base: BTreeMap<String, f32>,
    /// The same in the tuned model.
    pub mass_tuned: BTreeMap<String, f32>,
}

impl HeadChange {
    /// Tuned minus base attention mass on `mark` (0 when the probe has no such mark).
    pub fn mass_shift(&self, mark: &str) -> f32 {
        self.mass_tuned.get(mark).copied().unwrap_or(0.0)
            - self.mass_base.get(mark).copied().unwrap_or(0.0)
    }
}

/// The change of every head (layer-major order) between two pattern sets of the same probe.
pub fn head_changes(
    base: &Patterns,
    tuned: &Patterns,
    marks: &BTreeMap<String, Vec<usize>>,
) -> Result<Vec<HeadChange>> {
    ensure!(
        base.per_layer.len() == tuned.per_layer.len()
            && base.heads() == tuned.heads()
            && base.len() == tuned.len(),
        "head_changes: the two models' patterns differ in shape ({} vs {} layers, {} vs {} heads, {} vs {} positions)",
        base.per_layer.len(),
        tuned.per_layer.len(),
        base.heads(),
        tuned.heads(),
        base.len(),
        tuned.len()
    );
    let t = base.len();
    let mut out = Vec::new();
    for layer in 0..base.per_layer.len() {
        for head in 0..base.heads() {
            let (pb, pt) = (base.head(layer, head)?, tuned.head(layer, head)?);
            let jsd: Vec<f32> = pb
                .iter()
                .zip(&pt)
                .map(|(a, b)| jensen_shannon(a, b))
                .collect();
            let mass = |rows: &[Vec<f32>]| -> BTreeMap<String, f32> {
                marks
                    .iter()
                    .map(|(k, pos)| {
                        let last = &rows[t - 1];
                        (k.clone(), pos.iter().filter_map(|&p| last.get(p)).sum())
                    })
                    .collect()
            };
            out.push(HeadChange {
                layer,
                head,
                jsd_mean: jsd.iter().sum::<f32>() / t as f32,
                jsd_last: jsd[t - 1],
                mass_base: mass(&pb),
                mass_tuned: mass(&pt),
            });
        }
    }
    Ok(out)
}

/// The `k` heads with the largest mean JS divergence, largest first.
pub fn most_changed(changes: &[HeadChange], k: usize) -> Vec<HeadChange> {
    let mut v = changes.to_vec();
    v.sort_by(|a, b| b.jsd_mean.total_cmp(&a.jsd_mean));
    v.truncate(k);
    v
}
