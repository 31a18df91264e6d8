//! The refusal direction of the base and the tuned model: difference-in-means per layer, how well
//! each layer's direction separates harmful from harmless prompts, its cosine with the top singular
//! vectors of the weight update ΔW, the projection of benign capability prompts on it before and
//! after (is the refusal reflex firing on arithmetic?), and its logit-lens reading.

use crate::direction::{cosine, dot, subject_activations, unit, Directions};
use crate::linalg::{top_singular, weight_deltas};
use crate::rng::{percentile_in, quantile, Rng};
use crate::subject::Subject;
use anyhow::{ensure, Result};
use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};
use spillover_model::{FinalNorm, Model};

/// Prompt sets (token ids) and settings of the direction analysis.
pub struct DirectionInputs<'a> {
    pub harmful: &'a [Vec<u32>],
    pub harmless: &'a [Vec<u32>],
    /// Benign capability prompts (arithmetic) whose projection is compared before and after.
    pub capability: &'a [Vec<u32>],
    pub pad_id: u32,
    pub batch_size: usize,
    /// The layer whose direction is "the" refusal direction; `None` picks [`choose_layer`].
    pub layer: Option<usize>,
    /// Singular vectors of ΔW per module to compare with.
    pub svd_k: usize,
    /// Tokens listed by the logit lens, each way.
    pub lens_k: usize,
}

/// Mean projections on the chosen unit direction, per layer of reading (at the last token).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Projections {
    pub harmful_base: Vec<f32>,
    pub harmless_base: Vec<f32>,
    pub capability_base: Vec<f32>,
    pub harmful_tuned: Vec<f32>,
    pub harmless_tuned: Vec<f32>,
    pub capability_tuned: Vec<f32>,
}

/// How one weight update lines up with the refusal direction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeltaAlignment {
    /// HF module path (`model.layers.12.mlp.down_proj`).
    pub module: String,
    /// "output" when the module writes to the residual stream (left singular vectors compared),
    /// "input" when it reads from it (right singular vectors).
    pub side: String,
    pub sigma: Vec<f32>,
    /// |cos| of each top singular vector with the chosen refusal direction.
    pub cos: Vec<f32>,
}

/// Everything the direction analysis reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DirectionAnalysis {
    pub base: Directions,
    pub tuned: Directions,
    /// The layer whose base-model direction is used below.
    pub layer: usize,
    /// The chosen unit direction r̂ (base model).
    pub direction: Vec<f32>,
    /// Per layer: (mean harmful − mean harmless projection) / pooled standard deviation, base model,
    /// each layer on its own direction.
    pub separation: Vec<f32>,
    /// Per layer: cosine of the base and the tuned direction.
    pub cos_base_tuned: Vec<f32>,
    pub projections: Projections,
    /// Capability prompts' projection on r̂ at the chosen layer, scaled so that 0 is the harmless
    /// mean and 1 the harmful mean (base model): the refusal reflex before and after.
    /// Absent without capability prompts.
    pub reflex_base: Option<f32>,
    pub reflex_tuned: Option<f32>,
    pub alignments: Vec<DeltaAlignment>,
    /// Where the intervention enters the residual stream (see [`Shift`]).
    #[serde(default)]
    pub shift: Option<Shift>,
    /// Expected |cos| of one random direction with r̂ in d dimensions (sqrt(2 / (π d))).
    pub random_cos: f32,
    /// The null of the largest |cos| over every singular vector in `alignments` (what a random
    /// direction's best match would be); absent when no weight changed.
    #[serde(default)]
    pub max_cos_null: Option<MaxCosNull>,
    /// Tokens whose logits r̂ raises most / lowers most (base model's final norm and unembedding).
    pub lens_up: TokenScores,
    pub lens_down: TokenScores,
    /// The same tokens decoded (filled by `pipeline::mri`; empty here).
    #[serde(default)]
    pub lens_up_text: Vec<String>,
    #[serde(default)]
    pub lens_down_text: Vec<String>,
}

/// Runs the direction analysis on the base and the tuned model.
pub fn analyse_direction(
    base: &Subject,
    tuned: &Subject,
    inp: &DirectionInputs,
) -> Result<DirectionAnalysis> {
    ensure!(
        !inp.harmful.is_empty() && !inp.harmless.is_empty(),
        "direction analysis needs harmful and harmless prompts"
    );
    let acts = |m: &Subject, p: &[Vec<u32>]| {
        subject_activations(m, "hook_resid_pre", p, -1, inp.pad_id, inp.batch_size)
    };
    let (hb, sb) = (acts(base, inp.harmful)?, acts(base, inp.harmless)?);
    let (ht, st) = (acts(tuned, inp.harmful)?, acts(tuned, inp.harmless)?);
    let (cb, ct) = (acts(base, inp.capability)?, acts(tuned, inp.capability)?);
    let dirs = |h: &[Vec<Vec<f32>>], s: &[Vec<Vec<f32>>]| {
        Directions::from_activations("hook_resid_pre", -1, h, s)
    };
    let (db, dt) = (dirs(&hb, &sb), dirs(&ht, &st));
    let layers = db.per_layer.len();
    let separation: Vec<f32> = (0..layers)
        .map(|l| {
            let r = unit(&db.per_layer[l]);
            separation(&proj(&hb, l, &r), &proj(&sb, l, &r))
        })
        .collect();
    let layer = match inp.layer {
        Some(l) => {
            ensure!(l < layers, "--layer {l}: the model has {layers} layers");
            l
        }
        None => choose_layer(&separation),
    };
    let r = db.unit(layer)?;
    let mean_proj =
        |a: &[Vec<Vec<f32>>]| -> Vec<f32> { (0..layers).map(|l| avg(&proj(a, l, &r))).collect() };
    let projections = Projections {
        harmful_base: mean_proj(&hb),
        harmless_base: mean_proj(&sb),
        capability_base: mean_proj(&cb),
        harmful_tuned: mean_proj(&ht),
        harmless_tuned: mean_proj(&st),
        capability_tuned: mean_proj(&ct),
    };
    let p = &projections;
    let span = p.harmful_base[layer] - p.harmless_base[layer];
    let reflex = |c: &[f32]| {
        (!inp.capability.is_empty() && span != 0.0)
            .then(|| (c[layer] - p.harmless_base[layer]) / span)
    };
    let (reflex_base, reflex_tuned) = (reflex(&p.capability_base), reflex(&p.capability_tuned));
    let (lens_up, lens_down) = logit_lens(base.model, &r, inp.lens_k)?;
    let d = r.len() as f32;
    let singular = delta_singular_vectors(base.model, tuned.model, r.len(), inp.svd_k)?;
    let all: Vec<&[f32]> = singular
        .iter()
        .flat_map(|m| m.vectors.iter().map(Vec::as_slice))
        .collect();
    let max_cos_null = max_cos_null(&r, &all, MAX_COS_DRAWS, 0x5EED_0005);
    let alignments = alignments_of(&singular, &r);
    let shift = intervention_shift(&[&hb, &sb], &[&ht, &st]);
    Ok(DirectionAnalysis {
        cos_base_tuned: (0..layers)
            .map(|l| cosine(&db.per_layer[l], &dt.per_layer[l]))
            .collect(),
        alignments,
        shift,
        max_cos_null,
        random_cos: (2.0 / (std::f32::consts::PI * d)).sqrt(),
        base: db,
        tuned: dt,
        layer,
        direction: r,
        separation,
        reflex_base,
        reflex_tuned,
        projections,
        lens_up,
        lens_down,
        lens_up_text: vec![],
        lens_down_text: vec![],
    })
}

/// How the tuned model's residual stream moves away from the base model's, layer by layer (last
/// token, over every harmful and harmless prompt): Δ_l = mean(tuned − base) at `hook_resid_pre` of
/// layer l, and the increment Δ_l − Δ_{l−1}, what enters the stream between the two points (an
/// activation addition at layer l enters exactly there).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shift {
    /// ‖Δ_l‖ per layer.
    pub norms: Vec<f32>,
    /// ‖Δ_l − Δ_{l−1}‖ per layer (Δ_{−1} = 0).
    pub increments: Vec<f32>,
    /// The layer with the largest increment, when one is above [`MIN_SHIFT`] of the base
    /// activations' mean norm there (absent: the intervention does not move the stream).
    pub layer: Option<usize>,
    /// The unit direction of that increment.
    pub direction: Option<Vec<f32>>,
}

/// The smallest increment, relative to the base activations' mean norm, that counts as a shift.
pub const MIN_SHIFT: f32 = 1e-4;

/// [`Shift`] from per-prompt activations [n][L][d], the same prompts in the same order on each side.
pub fn intervention_shift(base: &[&[Vec<Vec<f32>>]], tuned: &[&[Vec<Vec<f32>>]]) -> Option<Shift> {
    let b: Vec<&Vec<Vec<f32>>> = base.iter().flat_map(|s| s.iter()).collect();
    let t: Vec<&Vec<Vec<f32>>> = tuned.iter().flat_map(|s| s.iter()).collect();
    if b.is_empty() || b.len() != t.len() {
        return None;
    }
    let (layers, d) = (b[0].len(), b[0].first()?.len());
    let n = b.len() as f32;
    let mut delta = vec![vec![0f32; d]; layers];
    let mut scale = vec![0f32; layers];
    for (pb, pt) in b.iter().zip(&t) {
        for l in 0..layers {
            for k in 0..d {
                delta[l][k] += (pt[l][k] - pb[l][k]) / n;
            }
            scale[l] += crate::direction::norm(&pb[l]) / n;
        }
    }
    let inc: Vec<Vec<f32>> = (0..layers)
        .map(|l| {
            (0..d)
                .map(|k| delta[l][k] - if l > 0 { delta[l - 1][k] } else { 0.0 })
                .collect()
        })
        .collect();
    let increments: Vec<f32> = inc.iter().map(|v| crate::direction::norm(v)).collect();
    let best = (0..layers).max_by(|&a, &c| increments[a].total_cmp(&increments[c]))?;
    let found = increments[best] > MIN_SHIFT * scale[best].max(f32::MIN_POSITIVE);
    Some(Shift {
        norms: delta.iter().map(|v| crate::direction::norm(v)).collect(),
        increments,
        layer: found.then_some(best),
        direction: found.then(|| unit(&inc[best])),
    })
}

/// The layer with the largest separation among the first 80% of layers, skipping layer 0
/// (directions read too close to the unembedding tend to be less causal; layer 0's resid_pre is the
/// embedding alone).
pub fn choose_layer(separation: &[f32]) -> usize {
    let n = separation.len();
    let hi = ((n as f32 * 0.8).ceil() as usize).clamp(1, n);
    let lo = usize::from(hi > 1);
    (lo..hi)
        .max_by(|&a, &b| separation[a].total_cmp(&separation[b]))
        .unwrap_or(0)
}

/// Which side of the residual stream a linear layer sits on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResidualRole {
    /// It writes to the residual stream (its output space is the stream): attention output
    /// projections and MLP down projections.
    Writer,
    /// It reads from the residual stream (its input space is the stream): q/k/v, gate/up.
    Reader,
}

/// The role of a linear layer from its HF module path, by the names every architecture in
/// `spillover-model` uses: `o_proj`, `down_proj` and GPT-2's `attn.c_proj` / `mlp.c_proj` write;
/// `q_proj`, `k_proj`, `v_proj`, `qkv_proj`, `gate_proj`, `up_proj`, `gate_up_proj` and GPT-2's
/// `c_attn` / `c_fc` read. `None` for a name outside that list. (A square matrix says nothing:
/// `q_proj` is [d, d] in most models and still reads.)
pub fn residual_role(module: &str) -> Option<ResidualRole> {
    let leaf = module.rsplit('.').next().unwrap_or(module);
    match leaf {
        "o_proj" | "down_proj" | "c_proj" => Some(ResidualRole::Writer),
        "q_proj" | "k_proj" | "v_proj" | "qkv_proj" | "gate_proj" | "up_proj" | "gate_up_proj"
        | "c_attn" | "c_fc" => Some(ResidualRole::Reader),
        _ => None,
    }
}

/// Cosine of the top singular vectors of every nonzero weight update with `r_hat`, each in the
/// space the residual stream is: the left singular vectors (output space) of a writer, the right
/// ones (input space) of a reader. A module whose role is unknown is an error (a new architecture
/// must name its layers in [`residual_role`]).
pub fn delta_alignment(
    base: &Model,
    tuned: &Model,
    r_hat: &[f32],
    k: usize,
) -> Result<Vec<DeltaAlignment>> {
    let singular = delta_singular_vectors(base, tuned, r_hat.len(), k)?;
    Ok(alignments_of(&singular, r_hat))
}

fn alignments_of(singular: &[ResidualSingular], r_hat: &[f32]) -> Vec<DeltaAlignment> {
    singular
        .iter()
        .map(|m| DeltaAlignment {
            cos: m.vectors.iter().map(|v| dot(v, r_hat).abs()).collect(),
            module: m.module.clone(),
            side: m.side.into(),
            sigma: m.sigma.clone(),
        })
        .collect()
}

/// The top singular vectors of one module's ΔW that live in the residual stream.
pub struct ResidualSingular {
    pub module: String,
    /// "output" (writer) or "input" (reader).
    pub side: &'static str,
    pub sigma: Vec<f32>,
    /// Unit vectors of length d.
    pub vectors: Vec<Vec<f32>>,
}

/// The residual-space singular vectors of every nonzero weight update (see [`delta_alignment`]).
pub fn delta_singular_vectors(
    base: &Model,
    tuned: &Model,
    d: usize,
    k: usize,
) -> Result<Vec<ResidualSingular>> {
    let mut out = Vec::new();
    for (module, delta) in weight_deltas(base, tuned)? {
        let (rows, cols) = delta.dims2()?;
        let role = residual_role(&module).ok_or_else(|| {
            anyhow::anyhow!("{module}: unknown linear layer, cannot tell whether it reads or writes the residual stream")
        })?;
        let (side, len) = match role {
            ResidualRole::Writer => ("output", rows),
            ResidualRole::Reader => ("input", cols),
        };
        ensure!(
            len == d,
            "{module}: its {side} space has {len} dimensions, the residual stream {d}"
        );
        let sv = top_singular(&delta, k, 30)?;
        let vectors = sv
            .iter()
            .map(|s| {
                let v = if side == "output" { &s.u } else { &s.v };
                v.iter().map(|x| *x as f32).collect()
            })
            .collect();
        out.push(ResidualSingular {
            module,
            side,
            sigma: sv.iter().map(|s| s.sigma as f32).collect(),
            vectors,
        });
    }
    Ok(out)
}

/// The null of the largest |cos| of the refusal direction with the singular vectors compared:
/// random unit directions, each taken against the same singular vectors (the same number of
/// comparisons), and the largest |cos| kept. One cosine's typical size (`random_cos`) is the wrong
/// scale for a maximum over hundreds of them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaxCosNull {
    /// Singular vectors compared (cosines the maximum is taken over).
    pub comparisons: usize,
    /// Random directions drawn.
    pub draws: usize,
    pub median: f32,
    pub p95: f32,
    /// The refusal direction's largest |cos|, and its percentile in the null (0..=100).
    pub observed: f32,
    pub percentile: f32,
}

/// Random directions drawn for [`MaxCosNull`].
pub const MAX_COS_DRAWS: usize = 500;

/// [`MaxCosNull`] for `r_hat` against `vectors` (unit, length d); `None` without vectors.
pub fn max_cos_null(
    r_hat: &[f32],
    vectors: &[&[f32]],
    draws: usize,
    seed: u64,
) -> Option<MaxCosNull> {
    if vectors.is_empty() || draws == 0 {
        return None;
    }
    let max_cos = |r: &[f32]| vectors.iter().map(|v| dot(v, r).abs()).fold(0f32, f32::max);
    let mut rng = Rng::new(seed);
    let null: Vec<f32> = (0..draws)
        .map(|_| max_cos(&rng.unit_vector(r_hat.len())))
        .collect();
    let observed = max_cos(r_hat);
    Some(MaxCosNull {
        comparisons: vectors.len(),
        draws,
        median: quantile(&null, 0.5),
        p95: quantile(&null, 0.95),
        observed,
        percentile: percentile_in(observed, &null),
    })
}

/// Token ids with a score, best first.
pub type TokenScores = Vec<(u32, f32)>;

/// The tokens whose logits the direction raises and lowers most when read through the final norm's
/// weights and the unembedding (the norm's data-dependent scale and bias are left out).
pub fn logit_lens(model: &Model, r_hat: &[f32], k: usize) -> Result<(TokenScores, TokenScores)> {
    let vec = |t: &Tensor| -> Result<Vec<f32>> { Ok(t.to_dtype(DType::F32)?.to_vec1()?) };
    let (w, centre) = match model.final_norm() {
        FinalNorm::Layer(ln) => (vec(&ln.weight)?, true),
        FinalNorm::Rms(rms) => (vec(&rms.scale)?, false),
    };
    let m = if centre { avg(r_hat) } else { 0.0 };
    let x: Vec<f32> = r_hat.iter().zip(&w).map(|(r, w)| (r - m) * w).collect();
    let u = model.unembedding().to_dtype(DType::F32)?;
    let xt = Tensor::from_vec(x, (r_hat.len(), 1), u.device())?;
    let logits: Vec<f32> = u.matmul(&xt)?.squeeze(1)?.to_vec1()?;
    let mut order: Vec<u32> = (0..logits.len() as u32).collect();
    order.sort_by(|a, b| logits[*b as usize].total_cmp(&logits[*a as usize]));
    let up = order
        .iter()
        .take(k)
        .map(|&i| (i, logits[i as usize]))
        .collect();
    let down = order
        .iter()
        .rev()
        .take(k)
        .map(|&i| (i, logits[i as usize]))
        .collect();
    Ok((up, down))
}

/// Projection of every prompt's activation at `layer` on `r`.
fn proj(acts: &[Vec<Vec<f32>>], layer: usize, r: &[f32]) -> Vec<f32> {
    acts.iter().map(|a| dot(&a[layer], r)).collect()
}

fn avg(v: &[f32]) -> f32 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f32>() / v.len() as f32
    }
}

/// (mean(a) − mean(b)) / pooled standard deviation (0 when both sets are constant).
fn separation(a: &[f32], b: &[f32]) -> f32 {
    let var = |v: &[f32], m: f32| v.iter().map(|x| (x - m).powi(2)).sum::<f32>();
    let (ma, mb) = (avg(a), avg(b));
    let dof = (a.len() + b.len()).saturating_sub(2).max(1) as f32;
    let sd = ((var(a, ma) + var(b, mb)) / dof).sqrt();
    if sd == 0.0 {
        0.0
    } else {
        (ma - mb) / sd
    }
}
