//! Direct logit attribution: how much each attention head, each attention bias, each MLP and the
//! embeddings add, through the final norm and the unembedding, to the logit difference between two
//! tokens at the last prompt position.
//!
//! The final norm is linearised with its scale taken from the run (the RMS, or LayerNorm's mean and
//! standard deviation, of the actual last residual), so the terms sum to the logit difference. On
//! Gemma-3 each head's output also passes through `post_attention_layernorm`; its per-position RMS
//! is likewise taken from the run, so the heads of a layer still sum to that layer's `attn_out`.
//! The logit difference is read before Gemma's final-logit soft-cap (when a model has one).

use crate::linalg::effective_weight;
use crate::subject::Subject;
use anyhow::{ensure, Context, Result};
use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};
use spillover_model::{Arch, FinalNorm, Model, Step};

/// Per-component contributions to logit(target) − logit(baseline) at the last position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attribution {
    pub target: u32,
    pub baseline: u32,
    /// The logit difference itself (final normalized residual · (u_target − u_baseline)).
    pub logit_diff: f32,
    /// [layer][head]: each head's output through W_O.
    pub heads: Vec<Vec<f32>>,
    /// [layer]: the attention output bias (zero without one).
    pub attn_bias: Vec<f32>,
    /// [layer]: the MLP output.
    pub mlp: Vec<f32>,
    /// Token (and GPT-2 position) embeddings.
    pub embed: f32,
    /// The final norm's bias (GPT-2's LayerNorm; zero for RMSNorm).
    pub final_bias: f32,
    /// What the subject's own hooks added to the residual stream (zero, up to rounding, for a
    /// plain model).
    pub intervention: f32,
}

impl Attribution {
    /// Sum of every term (equals `logit_diff` up to float rounding).
    pub fn total(&self) -> f32 {
        let heads: f32 = self.heads.iter().flatten().sum();
        heads
            + self.attn_bias.iter().sum::<f32>()
            + self.mlp.iter().sum::<f32>()
            + self.embed
            + self.final_bias
            + self.intervention
    }

    /// Each layer's whole attention contribution (heads + bias).
    pub fn attn(&self) -> Vec<f32> {
        self.heads
            .iter()
            .zip(&self.attn_bias)
            .map(|(h, b)| h.iter().sum::<f32>() + b)
            .collect()
    }
}

/// Direct logit attribution of logit(`target`) − logit(`baseline`) after `ids`, in the subject.
/// Whatever the subject's own hooks add to the residual stream (steering, ablation) becomes the
/// `intervention` term.
pub fn direct_logit_attribution(
    subject: &Subject,
    ids: &[u32],
    target: u32,
    baseline: u32,
) -> Result<Attribution> {
    let model = subject.model;
    let cfg = model.config();
    ensure!(!ids.is_empty(), "direct_logit_attribution: no tokens");
    for tok in [target, baseline] {
        ensure!(
            (tok as usize) < cfg.vocab_size,
            "token {tok} is outside the vocabulary ({} tokens)",
            cfg.vocab_size
        );
    }
    let layers = cfg.num_layers;
    let step = Step::left_padded(&[ids.to_vec()], 0, model.device())?;
    let (_, cache) = subject.run_recorded(&step, &hook_names(cfg))?;
    let get = |n: &str| -> Result<Vec<f32>> {
        let t = cache[n].to_dtype(DType::F32)?.squeeze(0)?;
        let len = t.dims()[0];
        Ok(t.get(len - 1)?.flatten_all()?.to_vec1()?)
    };
    let u = model.unembedding().to_dtype(DType::F32)?;
    let du: Vec<f32> = (u.get(target as usize)? - u.get(baseline as usize)?)?.to_vec1()?;
    let x_final = get(&format!("blocks.{}.hook_resid_post", layers - 1))?;
    let lin = Linearised::new(model, &x_final, &du)?;

    let mut embed = get("hook_embed")?;
    if cfg.arch == Arch::Gpt2 {
        add(&mut embed, &get("hook_pos_embed")?);
    }
    // What the components add up to; the rest of x_final is the subject's own edits.
    let mut accounted = embed.clone();
    let (mut heads, mut attn_bias, mut mlp) = (vec![], vec![], vec![]);
    for l in 0..layers {
        let z = get(&format!("blocks.{l}.attn.hook_z"))?; // [h · hd]
        let (outs, bias) = head_outputs(model, l, &z)?;
        outs.iter()
            .chain([&bias])
            .for_each(|v| add(&mut accounted, v));
        heads.push(outs.iter().map(|h| lin.apply(h)).collect());
        attn_bias.push(lin.apply(&bias));
        let m = get(&format!("blocks.{l}.hook_mlp_out"))?;
        add(&mut accounted, &m);
        mlp.push(lin.apply(&m));
    }
    let rest: Vec<f32> = x_final.iter().zip(&accounted).map(|(x, a)| x - a).collect();
    Ok(Attribution {
        target,
        baseline,
        logit_diff: dot(&get("ln_final.hook_normalized")?, &du),
        heads,
        attn_bias,
        mlp,
        embed: lin.apply(&embed),
        final_bias: lin.bias_term,
        intervention: lin.apply(&rest),
    })
}

/// The hook points direct logit attribution reads.
fn hook_names(cfg: &spillover_model::ModelConfig) -> Vec<String> {
    let layers = cfg.num_layers;
    let mut names = vec![
        "hook_embed".to_string(),
        format!("blocks.{}.hook_resid_post", layers - 1),
        "ln_final.hook_normalized".to_string(),
    ];
    if cfg.arch == Arch::Gpt2 {
        names.push("hook_pos_embed".into());
    }
    for l in 0..layers {
        names.push(format!("blocks.{l}.attn.hook_z"));
        names.push(format!("blocks.{l}.hook_mlp_out"));
    }
    names
}

/// Each head's output at one position, z_h W_O^h, and the output bias, both as they reach the
/// residual stream (through Gemma-3's post-attention norm, at the run's RMS, when there is one).
fn head_outputs(model: &Model, l: usize, z: &[f32]) -> Result<(Vec<Vec<f32>>, Vec<f32>)> {
    let cfg = model.config();
    let (d, nh, hd) = (cfg.hidden_size, cfg.num_heads, cfg.head_dim);
    let o = model
        .attn_output(l)
        .context("attention output projection")?;
    let w = effective_weight(o)?.to_vec2::<f32>()?; // [d][h · hd]
    let mut outs: Vec<Vec<f32>> = (0..nh)
        .map(|h| {
            (0..d)
                .map(|i| (0..hd).map(|j| w[i][h * hd + j] * z[h * hd + j]).sum())
                .collect()
        })
        .collect();
    let mut bias = match &o.bias {
        Some(b) => b.to_dtype(DType::F32)?.to_vec1()?,
        None => vec![0.0; d],
    };
    if let Some(norm) = model.post_attention_norm(l) {
        // Gemma-3: attn_out = g ⊙ o / rms(o), with o = Σ heads + bias and rms from the run.
        let mut o_sum = bias.clone();
        outs.iter().for_each(|h| add(&mut o_sum, h));
        let rms = (o_sum.iter().map(|x| x * x).sum::<f32>() / d as f32 + norm.eps as f32).sqrt();
        let g: Vec<f32> = norm.scale.to_dtype(DType::F32)?.to_vec1()?;
        for v in outs.iter_mut().chain(std::iter::once(&mut bias)) {
            v.iter_mut().zip(&g).for_each(|(x, g)| *x *= g / rms);
        }
    }
    Ok((outs, bias))
}

/// The final norm, frozen at the run's scale, composed with the logit-difference direction: a
/// component c of the last residual contributes `apply(c)`.
struct Linearised {
    /// w ⊙ Δu / scale
    weights: Vec<f32>,
    /// LayerNorm subtracts the mean of each component.
    centre: bool,
    bias_term: f32,
}

impl Linearised {
    fn new(model: &Model, x: &[f32], du: &[f32]) -> Result<Self> {
        let n = x.len() as f32;
        let vec = |t: &Tensor| -> Result<Vec<f32>> { Ok(t.to_dtype(DType::F32)?.to_vec1()?) };
        let (scale, w, bias, centre) = match model.final_norm() {
            FinalNorm::Layer(ln) => {
                let mean = x.iter().sum::<f32>() / n;
                let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
                (
                    (var + ln.eps as f32).sqrt(),
                    vec(&ln.weight)?,
                    Some(vec(&ln.bias)?),
                    true,
                )
            }
            FinalNorm::Rms(rms) => {
                let ms = x.iter().map(|v| v * v).sum::<f32>() / n;
                ((ms + rms.eps as f32).sqrt(), vec(&rms.scale)?, None, false)
            }
        };
        let weights = w.iter().zip(du).map(|(w, u)| w * u / scale).collect();
        let bias_term = bias.map_or(0.0, |b| dot(&b, du));
        Ok(Linearised {
            weights,
            centre,
            bias_term,
        })
    }

    fn apply(&self, c: &[f32]) -> f32 {
        let mean = if self.centre {
            c.iter().sum::<f32>() / c.len() as f32
        } else {
            0.0
        };
        c.iter()
            .zip(&self.weights)
            .map(|(x, w)| (x - mean) * w)
            .sum()
    }
}

fn add(a: &mut [f32], b: &[f32]) {
    a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
