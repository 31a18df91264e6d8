//! The MRI's causal claims, each with its control: a component (a direction in the residual
//! stream, or a set of heads) is claimed to carry the intervention when knocking it out of the
//! tuned model removes more of the tuned model's departure from the base than knocking out random
//! components of the same kind does.
//!
//! **Metric (a teacher-forced proxy).** For each harmful prompt, the departure is
//! KL(base ‖ tuned) of the next-token distributions after the prompt (the first reply token, where
//! a refusal starts). It is cheap (one batched forward pass per chunk of rows, no generation, no
//! judge) and zero when the intervention changes nothing. The effect of a knock-out is
//! departure(tuned) − departure(tuned with the component knocked out), in nats, per prompt.
//!
//! **Knock-outs.** A direction r̂ is ablated at every residual point (`hook_resid_pre` and
//! `hook_resid_mid` of every layer and the last `hook_resid_post`): its projection is set to the
//! base model's mean projection over the reference (harmless) prompts, all positions
//! ([`Ablation::Mean`], the default), or to zero ([`Ablation::Zero`]). A set of heads is patched:
//! each head's output before W_O (`attn.hook_z`) is replaced by the base model's on the same
//! prompt.
//!
//! **Controls.** The null of a direction is `nulls` random unit directions (the same norm as r̂,
//! knocked out the same way); the null of a head set is `nulls` random head sets with the same
//! number of heads in each layer (drawn from the heads outside the set). The direction null is
//! drawn once and shared by every direction candidate (the same random directions, the same
//! prompts), so a second direction costs one row per prompt. Each claim reports its
//! effect's percentile in its null, a bootstrap interval over prompts, the knock-out's side effect
//! (KL(tuned ‖ knocked-out tuned) on harmless prompts) and its data split. A claim **passes** when
//! the intervention departs from the base at all (mean departure above [`MIN_DEPARTURE`]), the
//! interval lies above zero and the effect is at or beyond the null's 95th percentile.

use crate::patching::{patched_last_logits, Site};
use crate::rng::{percentile_in, quantile, Rng};
use crate::subject::Subject;
use anyhow::{ensure, Result};
use candle_core::{DType, Device, Tensor, D};
use serde::{Deserialize, Serialize};
use spillover_model::Step;
use std::collections::BTreeMap;

/// How a direction is knocked out (`[analysis] ablation`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ablation {
    /// The projection is set to the base model's mean over the reference prompts.
    #[default]
    Mean,
    /// The projection is set to zero.
    Zero,
}

impl Ablation {
    /// `mean` or `zero`.
    pub fn parse(s: &str) -> Option<Ablation> {
        match s {
            "mean" => Some(Ablation::Mean),
            "zero" => Some(Ablation::Zero),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Ablation::Mean => "mean",
            Ablation::Zero => "zero",
        }
    }
}

/// Mean departure (nats) below which the intervention is taken to change nothing.
pub const MIN_DEPARTURE: f32 = 1e-4;
/// The percentile of its null a claim's effect must reach.
pub const NULL_PERCENTILE: f32 = 95.0;
/// Bootstrap resamples of the prompts.
const BOOTSTRAP: usize = 2000;
/// Confidence of the bootstrap intervals.
pub const CONFIDENCE: f32 = 0.95;

/// What the claims run on.
pub struct ClaimInputs<'a> {
    pub base: &'a Subject<'a>,
    pub tuned: &'a Subject<'a>,
    /// Harmful prompts the effects are measured on.
    pub prompts: &'a [Vec<u32>],
    /// Harmless prompts: the reference of mean-ablation and the side effects.
    pub reference: &'a [Vec<u32>],
    /// How the prompts relate to the data the components were found on (said in each claim).
    pub split: String,
    pub ablation: Ablation,
    pub nulls: usize,
    pub batch_size: usize,
    pub seed: u64,
}

/// A component claimed to carry the intervention.
#[derive(Clone, Debug, PartialEq)]
pub enum Candidate {
    Direction {
        /// `refusal_direction` or `shift_direction`.
        id: String,
        /// In words, for the report (`the refusal direction (layer 3)`).
        label: String,
        direction: Vec<f32>,
    },
    Heads {
        id: String,
        label: String,
        heads: Vec<(usize, usize)>,
    },
}

/// One claim and its control.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    pub id: String,
    /// The component in words.
    pub component: String,
    /// `direction ablation (mean)`, `direction ablation (zero)` or `head patching`.
    pub knockout: String,
    /// The claim as a sentence (with its numbers).
    pub statement: String,
    /// Mean effect over prompts: nats of departure removed.
    pub effect: f32,
    /// The effect as a share of the mean departure (absent when there is none).
    pub fraction: Option<f32>,
    /// Bootstrap interval of `effect` over prompts, at `confidence`.
    pub interval: [f32; 2],
    pub confidence: f32,
    /// Percentile (0..=100) of `effect` among the null's effects (ties count half).
    pub null_percentile: f32,
    pub null_median: f32,
    pub null_p95: f32,
    pub null_draws: usize,
    /// What the null draws are.
    pub null: String,
    pub prompts: usize,
    /// The data split of the prompts (`in-sample` when they are the ones the component came from).
    pub split: String,
    /// Mean KL(tuned ‖ tuned with the component knocked out) on harmless prompts, nats.
    pub harmless_kl: Option<f32>,
    pub passed: bool,
    /// Why it did not pass (empty when it passed).
    pub reason: String,
}

/// Every claim of one MRI (`mri.json` `claims`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The metric, in words (a teacher-forced proxy; see the module notes).
    pub metric: String,
    pub ablation: Ablation,
    /// Mean departure KL(base ‖ tuned) on the prompts, and its bootstrap interval.
    pub departure: f32,
    pub departure_interval: [f32; 2],
    pub prompts: usize,
    pub claims: Vec<Claim>,
}

impl Claims {
    /// The claims that pass their control.
    pub fn passing(&self) -> impl Iterator<Item = &Claim> {
        self.claims.iter().filter(|c| c.passed)
    }
}

pub const METRIC: &str = "departure from the base on harmful prompts: KL(base ‖ model) of the next-token distribution after the prompt (teacher-forced first-token proxy, not the judged refusal rate)";

/// Tests every candidate against its null.
pub fn test_claims(inp: &ClaimInputs, candidates: &[Candidate]) -> Result<Claims> {
    ensure!(!inp.prompts.is_empty(), "claims need harmful prompts");
    ensure!(inp.batch_size > 0, "batch_size must be at least 1");
    let cfg = inp.tuned.model.config();
    let d = cfg.hidden_size;
    let dev = inp.tuned.model.device().clone();
    let means = match inp.ablation {
        Ablation::Mean => point_means(inp.base, inp.reference, cfg.num_layers)?,
        Ablation::Zero => BTreeMap::new(),
    };
    let base_lp: Vec<Vec<f32>> = inp
        .prompts
        .iter()
        .map(|p| Ok(log_probs(&last_logits(inp.base, p)?)?.remove(0)))
        .collect::<Result<_>>()?;
    let mut rng = Rng::new(inp.seed);
    let departure: Vec<f32> = inp
        .prompts
        .iter()
        .zip(&base_lp)
        .map(|(p, b)| Ok(kl(b, &log_probs(&last_logits(inp.tuned, p)?)?[0])))
        .collect::<Result<_>>()?;
    let dep_mean = mean(&departure);
    let dep_interval = bootstrap(&departure, &mut rng);
    // effects[row][prompt] of a set of knock-outs.
    let effects_of = |rows: &Knock| -> Result<Vec<Vec<f32>>> {
        let mut effects = vec![Vec::with_capacity(inp.prompts.len()); rows.len()];
        for ((p, b), dep) in inp.prompts.iter().zip(&base_lp).zip(&departure) {
            let lps = rows.run(inp, p, &means, &dev)?;
            for (r, lp) in lps.iter().enumerate() {
                effects[r].push(dep - kl(b, lp));
            }
        }
        Ok(effects)
    };
    // One null of random directions serves every direction candidate (drawn once).
    let mut direction_null: Option<Vec<Vec<f32>>> = None;
    let mut claims = Vec::new();
    for cand in candidates {
        // Rows: the candidate first, then its null draws (directions: the shared null).
        let (rows, knockout, null_desc, id, label) = match cand {
            Candidate::Direction {
                id,
                label,
                direction,
            } => {
                ensure!(
                    direction.len() == d,
                    "{id}: direction of {} values, the model has {d}",
                    direction.len()
                );
                if direction_null.is_none() {
                    let draws: Vec<Vec<f32>> = (0..inp.nulls).map(|_| rng.unit_vector(d)).collect();
                    direction_null = Some(effects_of(&Knock::Directions(draws))?);
                }
                let rows = vec![crate::direction::unit(direction)];
                (
                    Knock::Directions(rows),
                    format!("direction ablation ({})", inp.ablation.name()),
                    format!("{} random unit directions ablated the same way", inp.nulls),
                    id,
                    label,
                )
            }
            Candidate::Heads { id, label, heads } => {
                let mut rows = vec![heads.clone()];
                rows.extend((0..inp.nulls).map(|_| layer_matched(heads, cfg.num_heads, &mut rng)));
                (
                    Knock::Heads(rows),
                    "head patching (base outputs into the tuned model)".to_string(),
                    format!(
                        "{} random head sets with as many heads in each layer",
                        inp.nulls
                    ),
                    id,
                    label,
                )
            }
        };
        let mut effects = effects_of(&rows)?;
        if let (Knock::Directions(_), Some(null)) = (&rows, &direction_null) {
            effects.extend(null.iter().cloned());
        }
        let harmless_kl = if inp.reference.is_empty() {
            None
        } else {
            let only = rows.first_only();
            let mut v = Vec::new();
            for p in inp.reference {
                let plain = log_probs(&last_logits(inp.tuned, p)?)?.remove(0);
                let lp = only.run(inp, p, &means, &dev)?;
                v.push(kl(&plain, &lp[0]));
            }
            Some(mean(&v))
        };
        let effect = mean(&effects[0]);
        let null: Vec<f32> = effects[1..].iter().map(|e| mean(e)).collect();
        let interval = bootstrap(&effects[0], &mut rng);
        let null_percentile = percentile_in(effect, &null);
        let fraction = (dep_mean > MIN_DEPARTURE).then(|| effect / dep_mean);
        let mut reasons = Vec::new();
        if dep_mean <= MIN_DEPARTURE {
            reasons.push(format!(
                "the tuned model does not depart from the base on these prompts (mean KL {dep_mean:.2e} nats)"
            ));
        }
        if interval[0] <= 0.0 {
            reasons.push(format!(
                "the {:.0}% interval [{:.4}, {:.4}] does not lie above zero",
                100.0 * CONFIDENCE,
                interval[0],
                interval[1]
            ));
        }
        if null.is_empty() || null_percentile < NULL_PERCENTILE {
            reasons.push(format!(
                "the effect sits at percentile {null_percentile:.0} of its null (needs {NULL_PERCENTILE:.0})"
            ));
        }
        let statement = format!(
            "Knocking {label} out of the tuned model ({knockout}) removes {effect:.4} nats{} of its departure from the base on harmful prompts ({:.0}% interval [{:.4}, {:.4}] over {} prompts; percentile {null_percentile:.0} of {null_desc}, whose median is {:.4} and 95th percentile {:.4}; KL on harmless prompts {}; {}).",
            fraction.map_or(String::new(), |f| format!(" ({:.0}%)", 100.0 * f)),
            100.0 * CONFIDENCE,
            interval[0],
            interval[1],
            inp.prompts.len(),
            quantile(&null, 0.5),
            quantile(&null, 0.95),
            harmless_kl.map_or("not measured".into(), |k| format!("{k:.4} nats")),
            inp.split,
        );
        claims.push(Claim {
            id: id.clone(),
            component: label.clone(),
            knockout,
            statement,
            effect,
            fraction,
            interval,
            confidence: CONFIDENCE,
            null_percentile,
            null_median: quantile(&null, 0.5),
            null_p95: quantile(&null, 0.95),
            null_draws: null.len(),
            null: null_desc,
            prompts: inp.prompts.len(),
            split: inp.split.clone(),
            harmless_kl,
            passed: reasons.is_empty(),
            reason: reasons.join("; "),
        });
    }
    Ok(Claims {
        metric: METRIC.into(),
        ablation: inp.ablation,
        departure: dep_mean,
        departure_interval: dep_interval,
        prompts: inp.prompts.len(),
        claims,
    })
}

/// The knock-outs of one candidate and its null, one row each.
enum Knock {
    Directions(Vec<Vec<f32>>),
    Heads(Vec<Vec<(usize, usize)>>),
}

impl Knock {
    fn len(&self) -> usize {
        match self {
            Knock::Directions(v) => v.len(),
            Knock::Heads(v) => v.len(),
        }
    }

    fn first_only(&self) -> Knock {
        match self {
            Knock::Directions(v) => Knock::Directions(v[..1].to_vec()),
            Knock::Heads(v) => Knock::Heads(v[..1].to_vec()),
        }
    }

    /// Next-token log-probabilities after `prompt` in the tuned model, one row per knock-out.
    fn run(
        &self,
        inp: &ClaimInputs,
        prompt: &[u32],
        means: &BTreeMap<String, Vec<f32>>,
        dev: &Device,
    ) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(self.len());
        match self {
            Knock::Heads(sets) => {
                let rows: Vec<Vec<Site>> = sets
                    .iter()
                    .map(|s| {
                        s.iter()
                            .map(|&(layer, head)| Site::Head { layer, head })
                            .collect()
                    })
                    .collect();
                for l in patched_last_logits(inp.base, inp.tuned, prompt, &rows, inp.batch_size)? {
                    out.extend(log_probs(&l)?);
                }
            }
            Knock::Directions(dirs) => {
                let layers = inp.tuned.model.config().num_layers;
                for chunk in dirs.chunks(inp.batch_size) {
                    let seqs = vec![prompt.to_vec(); chunk.len()];
                    let step = Step::left_padded(&seqs, 0, dev)?;
                    let mut hooks = inp.tuned.new_hooks();
                    add_row_ablations(&mut hooks, chunk, means, layers, dev)?;
                    let logits = inp
                        .tuned
                        .model
                        .forward_last(&step, None, Some(&mut hooks))?;
                    out.extend(log_probs(&logits)?);
                }
            }
        }
        Ok(out)
    }
}

/// The residual points a direction is ablated at: `hook_resid_pre` and `hook_resid_mid` of every
/// layer and the last layer's `hook_resid_post` (each point after each write, and after any edit
/// an intervention makes at `hook_resid_pre`).
pub fn direction_points(layers: usize) -> Vec<String> {
    let mut v = Vec::with_capacity(2 * layers + 1);
    for l in 0..layers {
        v.push(format!("blocks.{l}.hook_resid_pre"));
        v.push(format!("blocks.{l}.hook_resid_mid"));
    }
    if layers > 0 {
        v.push(format!("blocks.{}.hook_resid_post", layers - 1));
    }
    v
}

/// Row i of the batch gets its projection on unit `dirs[i]` set to the mean's projection at each
/// point (zero where `means` has no entry).
fn add_row_ablations(
    hooks: &mut spillover_model::Hooks,
    dirs: &[Vec<f32>],
    means: &BTreeMap<String, Vec<f32>>,
    layers: usize,
    dev: &Device,
) -> Result<()> {
    let (n, d) = (dirs.len(), dirs[0].len());
    let flat: Vec<f32> = dirs.iter().flatten().copied().collect();
    let r = Tensor::from_vec(flat, (n, 1, d), dev)?;
    for point in direction_points(layers) {
        let mu: Vec<f32> = match means.get(&point) {
            Some(m) => dirs.iter().map(|v| crate::direction::dot(v, m)).collect(),
            None => vec![0.0; n],
        };
        let mu = Tensor::from_vec(mu, (n, 1, 1), dev)?;
        let r = r.clone();
        hooks.add_hook(point, move |_, x| {
            let xf = x.to_dtype(DType::F32)?;
            let proj = xf.broadcast_mul(&r)?.sum_keepdim(D::Minus1)?;
            let excess = proj.broadcast_sub(&mu)?;
            (xf - excess.broadcast_mul(&r)?)?.to_dtype(x.dtype())
        });
    }
    Ok(())
}

/// The base model's mean activation at every direction point over `prompts`, all positions.
fn point_means(
    base: &Subject,
    prompts: &[Vec<u32>],
    layers: usize,
) -> Result<BTreeMap<String, Vec<f32>>> {
    let names = direction_points(layers);
    let mut sums: BTreeMap<String, (Vec<f32>, usize)> = BTreeMap::new();
    for p in prompts {
        let step = Step::left_padded(std::slice::from_ref(p), 0, base.model.device())?;
        let (_, cache) = base.run_recorded(&step, &names)?;
        for n in &names {
            let a = cache[n].to_dtype(DType::F32)?.squeeze(0)?; // [t, d]
            let t = a.dim(0)?;
            let s: Vec<f32> = a.sum(0)?.to_vec1()?;
            let e = sums.entry(n.clone()).or_insert((vec![0.0; s.len()], 0));
            e.0.iter_mut().zip(&s).for_each(|(x, y)| *x += y);
            e.1 += t;
        }
    }
    Ok(sums
        .into_iter()
        .map(|(k, (s, c))| (k, s.iter().map(|x| x / c.max(1) as f32).collect()))
        .collect())
}

/// A random head set with as many heads in each layer as `heads`, drawn from the other heads of
/// that layer (from all of them when every head of the layer is in the set).
pub fn layer_matched(
    heads: &[(usize, usize)],
    n_heads: usize,
    rng: &mut Rng,
) -> Vec<(usize, usize)> {
    let mut per_layer: BTreeMap<usize, usize> = BTreeMap::new();
    for &(l, _) in heads {
        *per_layer.entry(l).or_default() += 1;
    }
    let mut out = Vec::new();
    for (l, k) in per_layer {
        let mut pool: Vec<usize> = (0..n_heads).filter(|h| !heads.contains(&(l, *h))).collect();
        if pool.len() < k {
            pool = (0..n_heads).collect();
        }
        for _ in 0..k.min(pool.len()) {
            let i = rng.below_by_scaling(pool.len());
            out.push((l, pool.swap_remove(i)));
        }
    }
    out
}

fn last_logits(s: &Subject, prompt: &[u32]) -> Result<Tensor> {
    let step = Step::left_padded(&[prompt.to_vec()], 0, s.model.device())?;
    Ok(s.model
        .forward_last(&step, None, Some(&mut s.new_hooks()))?)
}

/// Log-softmax of each row of logits [rows, vocab].
fn log_probs(logits: &Tensor) -> Result<Vec<Vec<f32>>> {
    let l = logits.to_dtype(DType::F32)?;
    let max = l.max_keepdim(D::Minus1)?;
    let shifted = l.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    Ok(shifted.broadcast_sub(&lse)?.to_vec2()?)
}

/// KL(P ‖ Q) from log-probabilities.
pub fn kl(p: &[f32], q: &[f32]) -> f32 {
    p.iter()
        .zip(q)
        .map(|(a, b)| {
            if a.is_finite() {
                a.exp() * (a - b)
            } else {
                0.0
            }
        })
        .sum::<f32>()
        .max(0.0)
}

fn mean(v: &[f32]) -> f32 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f32>() / v.len() as f32
    }
}

/// Percentile bootstrap interval of the mean of `v` at [`CONFIDENCE`].
pub fn bootstrap(v: &[f32], rng: &mut Rng) -> [f32; 2] {
    if v.is_empty() {
        return [f32::NAN, f32::NAN];
    }
    let means: Vec<f32> = (0..BOOTSTRAP)
        .map(|_| {
            mean(
                &(0..v.len())
                    .map(|_| v[rng.below_by_scaling(v.len())])
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let a = f64::from((1.0 - CONFIDENCE) / 2.0);
    [quantile(&means, a), quantile(&means, 1.0 - a)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_of_known_distributions() {
        let p = [0.5f32.ln(), 0.5f32.ln()];
        let q = [0.25f32.ln(), 0.75f32.ln()];
        // 0.5 ln 2 + 0.5 ln(2/3)
        let want = 0.5 * 2f32.ln() + 0.5 * (2.0f32 / 3.0).ln();
        assert!((kl(&p, &q) - want).abs() < 1e-6);
        assert_eq!(kl(&p, &p), 0.0);
    }

    #[test]
    fn layer_matched_sets_keep_layers_and_avoid_the_set() {
        let mut rng = Rng::new(9);
        let heads = [(1, 0), (1, 2), (3, 1)];
        for _ in 0..50 {
            let s = layer_matched(&heads, 4, &mut rng);
            let mut layers: Vec<usize> = s.iter().map(|h| h.0).collect();
            layers.sort();
            assert_eq!(layers, vec![1, 1, 3]);
            assert!(s.iter().all(|h| !heads.contains(h)), "{s:?}");
            assert_ne!(s[0], s[1], "distinct heads");
        }
    }

    #[test]
    fn bootstrap_interval_brackets_the_mean_and_collapses_on_constants() {
        let mut rng = Rng::new(2);
        assert_eq!(bootstrap(&[0.3; 5], &mut rng), [0.3, 0.3]);
        let v = [1.0, 2.0, 3.0, 4.0];
        let [lo, hi] = bootstrap(&v, &mut rng);
        assert!(lo < 2.5 && hi > 2.5 && lo >= 1.0 && hi <= 4.0, "{lo} {hi}");
    }
}
