//! Difference-in-means directions: the mean residual activation of harmful prompts minus that of
//! harmless prompts, per layer, read at one token position. The refusal direction of Arditi et al.
//! is the unit vector of one layer's difference.
//!
//! Prompts run in left-padded batches with a hook cache per batch; positions count real tokens only
//! (see `Step::left_padded`), so a prompt's activations do not depend on the batch it lands in.

use crate::subject::Subject;
use anyhow::{bail, ensure, Context, Result};
use candle_core::{DType, Tensor};
use spillover_model::{Model, Step};

/// Per-layer difference-in-means directions read at one hook point and token position.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Directions {
    /// Block hook the activations were read at, without the `blocks.{l}.` prefix (e.g. `hook_resid_pre`).
    pub hook: String,
    /// Token position: negative counts from the end (-1 = last token), non-negative from the first
    /// real (non-padding) token.
    pub position: isize,
    /// Raw (unnormalised) mean(harmful) − mean(harmless), [n_layers][d_model].
    pub per_layer: Vec<Vec<f32>>,
    pub n_harmful: usize,
    pub n_harmless: usize,
}

impl Directions {
    /// The unit direction of `layer`.
    pub fn unit(&self, layer: usize) -> Result<Vec<f32>> {
        let v = self.per_layer.get(layer).with_context(|| {
            format!(
                "layer {layer}: the directions have {} layers",
                self.per_layer.len()
            )
        })?;
        ensure!(
            v.iter().any(|x| *x != 0.0),
            "layer {layer}: the difference of means is zero (harmful and harmless activations agree)"
        );
        Ok(unit(v))
    }

    /// Directions from per-prompt activations [n][L][d] of the two (non-empty) sets.
    pub fn from_activations(
        hook: &str,
        position: isize,
        harmful: &[Vec<Vec<f32>>],
        harmless: &[Vec<Vec<f32>>],
    ) -> Self {
        let per_layer = mean_of(harmful)
            .iter()
            .zip(mean_of(harmless))
            .map(|(x, y)| x.iter().zip(y).map(|(p, q)| p - q).collect())
            .collect();
        Directions {
            hook: hook.to_string(),
            position,
            per_layer,
            n_harmful: harmful.len(),
            n_harmless: harmless.len(),
        }
    }

    /// L2 norm of each layer's raw difference.
    pub fn norms(&self) -> Vec<f32> {
        self.per_layer.iter().map(|v| norm(v)).collect()
    }
}

/// Block hooks whose activation is [b, t, d_model] and so can carry a residual-stream direction.
pub const RESIDUAL_HOOKS: &[&str] = &[
    "hook_resid_pre",
    "hook_resid_mid",
    "hook_resid_post",
    "hook_attn_out",
    "hook_mlp_out",
];

/// Difference-in-means directions at `blocks.{l}.hook_resid_pre` of every layer.
///
/// `harmful` and `harmless` are token-id sequences (already templated and tokenized); `position`
/// picks the token (-1: last); `pad_id` left-pads batches of at most `batch_size` prompts.
pub fn diff_in_means(
    model: &Model,
    harmful: &[Vec<u32>],
    harmless: &[Vec<u32>],
    position: isize,
    pad_id: u32,
    batch_size: usize,
) -> Result<Directions> {
    diff_in_means_at(
        model,
        "hook_resid_pre",
        harmful,
        harmless,
        position,
        pad_id,
        batch_size,
    )
}

/// `diff_in_means` at another block hook of shape [b, t, d_model] (one of [`RESIDUAL_HOOKS`]).
pub fn diff_in_means_at(
    model: &Model,
    hook: &str,
    harmful: &[Vec<u32>],
    harmless: &[Vec<u32>],
    position: isize,
    pad_id: u32,
    batch_size: usize,
) -> Result<Directions> {
    ensure!(!harmful.is_empty(), "diff_in_means: no harmful prompts");
    ensure!(!harmless.is_empty(), "diff_in_means: no harmless prompts");
    let a = activations(model, hook, harmful, position, pad_id, batch_size)
        .context("harmful prompts")?;
    let b = activations(model, hook, harmless, position, pad_id, batch_size)
        .context("harmless prompts")?;
    Ok(Directions::from_activations(hook, position, &a, &b))
}

/// Mean activation at `blocks.{l}.{hook}` and `position` over `prompts`, [n_layers][d_model]
/// (accumulated in f64).
pub fn mean_activations(
    model: &Model,
    hook: &str,
    prompts: &[Vec<u32>],
    position: isize,
    pad_id: u32,
    batch_size: usize,
) -> Result<Vec<Vec<f32>>> {
    let acts = activations(model, hook, prompts, position, pad_id, batch_size)?;
    let (layers, d) = (model.config().num_layers, model.config().hidden_size);
    Ok(if acts.is_empty() {
        vec![vec![0.0; d]; layers]
    } else {
        mean_of(&acts)
    })
}

/// Per-layer mean of per-prompt activations [n][L][d] (accumulated in f64); `acts` is non-empty.
pub fn mean_of(acts: &[Vec<Vec<f32>>]) -> Vec<Vec<f32>> {
    let (layers, d) = (acts[0].len(), acts[0][0].len());
    let mut sum = vec![vec![0f64; d]; layers];
    for p in acts {
        for (s, a) in sum.iter_mut().zip(p) {
            s.iter_mut().zip(a).for_each(|(s, a)| *s += *a as f64);
        }
    }
    let n = acts.len() as f64;
    sum.into_iter()
        .map(|s| s.into_iter().map(|x| (x / n) as f32).collect())
        .collect()
}

/// The activation of every prompt at `blocks.{l}.{hook}` and `position`: [n_prompts][n_layers][d_model].
pub fn activations(
    model: &Model,
    hook: &str,
    prompts: &[Vec<u32>],
    position: isize,
    pad_id: u32,
    batch_size: usize,
) -> Result<Vec<Vec<Vec<f32>>>> {
    subject_activations(
        &Subject::plain(model),
        hook,
        prompts,
        position,
        pad_id,
        batch_size,
    )
}

/// `activations` of a subject (a model with an intervention's hooks, see [`Subject`]).
pub fn subject_activations(
    subject: &Subject,
    hook: &str,
    prompts: &[Vec<u32>],
    position: isize,
    pad_id: u32,
    batch_size: usize,
) -> Result<Vec<Vec<Vec<f32>>>> {
    if !RESIDUAL_HOOKS.contains(&hook) {
        bail!(
            "hook {hook:?}: expected one of {} (a [batch, pos, d_model] block hook)",
            RESIDUAL_HOOKS.join(", ")
        );
    }
    ensure!(batch_size > 0, "batch_size must be at least 1");
    for (i, p) in prompts.iter().enumerate() {
        token_index(p.len(), position).with_context(|| format!("prompt {i}"))?;
    }
    let model = subject.model;
    let layers = model.config().num_layers;
    let mut out = Vec::with_capacity(prompts.len());
    let names: Vec<String> = (0..layers).map(|l| format!("blocks.{l}.{hook}")).collect();
    for chunk in prompts.chunks(batch_size) {
        let step = Step::left_padded(chunk, pad_id, model.device())?;
        let (_, cache) = subject.run_recorded(&step, &names)?;
        let t = step.mask.t;
        let mut rows = vec![Vec::with_capacity(layers); chunk.len()];
        for name in &names {
            let act = cache[name].to_dtype(DType::F32)?;
            for (r, p) in chunk.iter().enumerate() {
                let idx = t - p.len() + token_index(p.len(), position)?;
                rows[r].push(act.get(r)?.get(idx)?.to_vec1::<f32>()?);
            }
        }
        out.extend(rows);
    }
    Ok(out)
}

/// Index (among a prompt's `len` real tokens) of `position`: negative from the end, else from the start.
pub fn token_index(len: usize, position: isize) -> Result<usize> {
    let idx = if position < 0 {
        len as isize + position
    } else {
        position
    };
    if idx < 0 || idx as usize >= len {
        bail!("position {position} is outside a prompt of {len} tokens");
    }
    Ok(idx as usize)
}

/// L2 norm.
pub fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt() as f32
}

/// `v / |v|`; a zero vector stays zero (so hooks built from it change nothing).
pub fn unit(v: &[f32]) -> Vec<f32> {
    let n = norm(v);
    if n == 0.0 {
        return vec![0.0; v.len()];
    }
    v.iter().map(|x| x / n).collect()
}

/// Dot product (accumulated in f64).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| *x as f64 * *y as f64)
        .sum::<f64>() as f32
}

/// Cosine similarity (0 when either vector is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (na, nb) = (norm(a), norm(b));
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    dot(a, b) / (na * nb)
}

/// A direction as a 1-D f32 tensor on `device`, checked against the model width.
pub(crate) fn direction_tensor(
    v: &[f32],
    d_model: usize,
    device: &candle_core::Device,
) -> Result<Tensor> {
    ensure!(
        v.len() == d_model,
        "direction has {} values, the model's residual stream {d_model}",
        v.len()
    );
    Ok(Tensor::from_slice(v, v.len(), device)?)
}
