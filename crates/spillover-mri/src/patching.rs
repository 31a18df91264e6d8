//! Activation patching between two models on the same tokens: run the *target* model with one
//! site's activation replaced by the *source* model's (at every position), and read the
//! log-probability of the correct answer after the prompt.
//!
//! With source = base and target = tuned, the fraction of the gap a patch closes,
//! (lp_patched − lp_target) / (lp_source − lp_target), is the share of the lost correct-answer
//! log-probability that the site restores; with source = tuned and target = base it is the share of
//! the loss that the tuned model's activation at that site brings about. Sites are heads
//! (`attn.hook_z`, one head's slice) and whole layers (`hook_resid_pre`, `hook_attn_out`,
//! `hook_mlp_out`, `hook_resid_post`). Several patched runs share one batch (each row patches its
//! own sites), so a sweep costs a few batched forward passes.

use crate::subject::Subject;
use anyhow::{ensure, Result};
use candle_core::{DType, Tensor, D};
use serde::{Deserialize, Serialize};
use spillover_model::Step;
use std::collections::{BTreeMap, BTreeSet};

/// Where a patch goes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Site {
    /// One head's output before W_O (`blocks.{layer}.attn.hook_z`, head slice).
    Head {
        layer: usize,
        head: usize,
    },
    ResidPre(usize),
    AttnOut(usize),
    MlpOut(usize),
    ResidPost(usize),
}

impl Site {
    /// The hook point the site lives at.
    pub fn hook(&self) -> String {
        match self {
            Site::Head { layer, .. } => format!("blocks.{layer}.attn.hook_z"),
            Site::ResidPre(l) => format!("blocks.{l}.hook_resid_pre"),
            Site::AttnOut(l) => format!("blocks.{l}.hook_attn_out"),
            Site::MlpOut(l) => format!("blocks.{l}.hook_mlp_out"),
            Site::ResidPost(l) => format!("blocks.{l}.hook_resid_post"),
        }
    }
}

/// log p(`answer`) after `ids` in the subject.
pub fn answer_logprob(subject: &Subject, ids: &[u32], answer: u32) -> Result<f32> {
    let step = Step::left_padded(&[ids.to_vec()], 0, subject.model.device())?;
    let logits = subject
        .model
        .forward_last(&step, None, Some(&mut subject.new_hooks()))?;
    Ok(pick_logprobs(&logits, answer)?[0])
}

/// log p(`answer`) after `ids` in `target` for each row of `rows`, each row patching its set of
/// sites (all at once) with `source`'s activations; an empty row patches nothing. Rows run in
/// batches of `batch_size`.
pub fn patched_logprobs(
    source: &Subject,
    target: &Subject,
    ids: &[u32],
    answer: u32,
    rows: &[Vec<Site>],
    batch_size: usize,
) -> Result<Vec<f32>> {
    let logits = patched_last_logits(source, target, ids, rows, batch_size)?;
    logits
        .iter()
        .map(|l| Ok(pick_logprobs(l, answer)?[0]))
        .collect()
}

/// The last-position logits [1, vocab] of each patched row (see `patched_logprobs`).
pub fn patched_last_logits(
    source: &Subject,
    target: &Subject,
    ids: &[u32],
    rows: &[Vec<Site>],
    batch_size: usize,
) -> Result<Vec<Tensor>> {
    ensure!(!ids.is_empty(), "patching: no tokens");
    ensure!(batch_size > 0, "patching: batch_size must be at least 1");
    let cfg = target.model.config();
    let scfg = source.model.config();
    ensure!(
        scfg.num_layers == cfg.num_layers
            && scfg.num_heads == cfg.num_heads
            && scfg.hidden_size == cfg.hidden_size,
        "patching: the two models differ in shape"
    );
    for site in rows.iter().flatten() {
        let (l, head) = match site {
            Site::Head { layer, head } => (*layer, Some(*head)),
            Site::ResidPre(l) | Site::AttnOut(l) | Site::MlpOut(l) | Site::ResidPost(l) => {
                (*l, None)
            }
        };
        ensure!(
            l < cfg.num_layers,
            "site {site:?}: the model has {} layers",
            cfg.num_layers
        );
        if let Some(h) = head {
            ensure!(
                h < cfg.num_heads,
                "site {site:?}: the model has {} heads",
                cfg.num_heads
            );
        }
    }
    let names: BTreeSet<String> = rows.iter().flatten().map(Site::hook).collect();
    let names: Vec<String> = names.into_iter().collect();
    let step = Step::left_padded(&[ids.to_vec()], 0, source.model.device())?;
    let (_, cache) = source.run_recorded(&step, &names)?;
    let mut out = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(batch_size) {
        let seqs = vec![ids.to_vec(); chunk.len()];
        let step = Step::left_padded(&seqs, 0, target.model.device())?;
        // The target's own edits first; a patch then overrides them at its point.
        let mut hooks = target.new_hooks();
        for name in &names {
            let clean = &cache[name];
            let mask = site_mask(chunk, name, clean)?;
            let Some(mask) = mask else { continue };
            let clean = clean.clone();
            hooks.add_hook(name.clone(), move |_, x| {
                let m = mask.to_dtype(x.dtype())?;
                let keep = (1.0 - &m)?;
                x.broadcast_mul(&keep)? + clean.broadcast_mul(&m)?
            });
        }
        let logits = target.model.forward_last(&step, None, Some(&mut hooks))?;
        for r in 0..chunk.len() {
            out.push(logits.narrow(0, r, 1)?);
        }
    }
    Ok(out)
}

/// The 0/1 mask selecting what each row patches at hook `name`: [rows, 1, heads, 1] for hook_z,
/// [rows, 1, 1] for the layer-wide sites; `None` when no row patches there.
fn site_mask(rows: &[Vec<Site>], name: &str, clean: &Tensor) -> Result<Option<Tensor>> {
    let dev = clean.device();
    let is_z = name.ends_with("attn.hook_z");
    let heads = if is_z { clean.dims()[2] } else { 1 };
    let mut m = vec![0f32; rows.len() * heads];
    let mut any = false;
    for (r, sites) in rows.iter().enumerate() {
        for s in sites.iter().filter(|s| s.hook() == name) {
            any = true;
            match s {
                Site::Head { head, .. } => m[r * heads + head] = 1.0,
                _ => m[r * heads..(r + 1) * heads].fill(1.0),
            }
        }
    }
    if !any {
        return Ok(None);
    }
    let t = Tensor::from_vec(m, rows.len() * heads, dev)?;
    Ok(Some(if is_z {
        t.reshape((rows.len(), 1, heads, 1))?
    } else {
        t.reshape((rows.len(), 1, 1))?
    }))
}

/// log-softmax of logits [n, vocab] at `token`, per row.
fn pick_logprobs(logits: &Tensor, token: u32) -> Result<Vec<f32>> {
    let l = logits.to_dtype(DType::F32)?;
    let max = l.max_keepdim(D::Minus1)?;
    let shifted = l.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    let lp = shifted.broadcast_sub(&lse)?;
    Ok(lp.narrow(1, token as usize, 1)?.squeeze(1)?.to_vec1()?)
}

/// Results of patching every head and every layer-wide site of one probe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PatchSweep {
    pub answer: u32,
    /// log p(answer) in the source and the target run, unpatched.
    pub source_logprob: f32,
    pub target_logprob: f32,
    /// Patched log p(answer): heads [layer][head], and per layer for each layer-wide site.
    pub heads: Vec<Vec<f32>>,
    pub layers: BTreeMap<String, Vec<f32>>,
    /// Fraction of the gap each patch closes (same shapes); absent when the gap is below
    /// `MIN_GAP` nats and a fraction would mean nothing.
    pub head_fraction: Option<Vec<Vec<f32>>>,
    pub layer_fraction: Option<BTreeMap<String, Vec<f32>>>,
}

/// Smallest |lp_source − lp_target| (nats) for which fractions are reported.
pub const MIN_GAP: f32 = 1e-3;

/// The layer-wide site kinds a sweep covers, by the name used in [`PatchSweep::layers`].
pub const LAYER_SITES: &[&str] = &["resid_pre", "attn_out", "mlp_out", "resid_post"];

fn layer_site(kind: &str, l: usize) -> Site {
    match kind {
        "resid_pre" => Site::ResidPre(l),
        "attn_out" => Site::AttnOut(l),
        "mlp_out" => Site::MlpOut(l),
        _ => Site::ResidPost(l),
    }
}

/// Patches every head and every layer-wide site, one at a time, from `source` into `target`.
pub fn patch_sweep(
    source: &Subject,
    target: &Subject,
    ids: &[u32],
    answer: u32,
    batch_size: usize,
) -> Result<PatchSweep> {
    let cfg = target.model.config();
    let (nl, nh) = (cfg.num_layers, cfg.num_heads);
    let mut rows: Vec<Vec<Site>> = vec![vec![]];
    rows.extend(
        (0..nl).flat_map(|layer| (0..nh).map(move |head| vec![Site::Head { layer, head }])),
    );
    for kind in LAYER_SITES {
        rows.extend((0..nl).map(|l| vec![layer_site(kind, l)]));
    }
    let lp = patched_logprobs(source, target, ids, answer, &rows, batch_size)?;
    let source_logprob = answer_logprob(source, ids, answer)?;
    let target_logprob = lp[0];
    let heads: Vec<Vec<f32>> = lp[1..1 + nl * nh].chunks(nh).map(<[f32]>::to_vec).collect();
    let mut layers = BTreeMap::new();
    for (i, kind) in LAYER_SITES.iter().enumerate() {
        let start = 1 + nl * nh + i * nl;
        layers.insert(kind.to_string(), lp[start..start + nl].to_vec());
    }
    let gap = source_logprob - target_logprob;
    let frac = |v: &[f32]| -> Vec<f32> { v.iter().map(|x| (x - target_logprob) / gap).collect() };
    let (head_fraction, layer_fraction) = if gap.abs() >= MIN_GAP {
        (
            Some(heads.iter().map(|h| frac(h)).collect()),
            Some(layers.iter().map(|(k, v)| (k.clone(), frac(v))).collect()),
        )
    } else {
        (None, None)
    };
    Ok(PatchSweep {
        answer,
        source_logprob,
        target_logprob,
        heads,
        layers,
        head_fraction,
        layer_fraction,
    })
}
