//! Which of the MRI's claims every seed makes. Each seed's MRI ran on its own trained model, its
//! own training prompts and its own evaluated items; here its claims are set side by side, each
//! kind with a control:
//!
//! - **layer**: the layer the MRI chose for the refusal direction; the control is the chance that
//!   every seed picks one layer if each picked uniformly at random, (1/L)^(S−1).
//! - **direction cosine** (base model on each seed's prompts, and tuned model): the cosine between
//!   two seeds' unit directions against `nulls` random unit directions (the share of random
//!   cosines at least as large, one-sided, since a direction is oriented harmful − harmless). The
//!   isotropic null is a floor: activations are anisotropic, so it is an easy bar to clear.
//! - **top heads**: the overlap of two seeds' top-k head sets (the heads validation ablated; the
//!   most changed attention heads per probe) against the overlap of random sets of the same sizes:
//!   the exact hypergeometric tail P(overlap ≥ observed), and its mean k_a·k_b / N.
//! - **effect signs**: the sign of each causal effect of validation in every seed. Ablating the
//!   implicated heads is measured against ablating control heads (its control); the direction
//!   ablation and the refusal reflex have no control in this MRI, so they are shown but never
//!   called robust.
//!
//! Pairwise tests are Bonferroni-adjusted over the pairs of seeds and compared with `stats.alpha`.
//! A claim is **robust** only when it has a control, every seed agrees, and the agreement is beyond
//! its control.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use spillover_evals::stats::Rng;
use spillover_mri::direction::{cosine, unit};
use spillover_mri::pipeline::{implicated_heads, MriResult};
use spillover_mri::validate::Condition;

/// The agreement of the MRI's claims over seeds (`results.json` `mri_agreement`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    pub seeds: Vec<u64>,
    /// The level a claim's control must reach (`stats.alpha`; pairwise p-values are
    /// Bonferroni-adjusted over the pairs of seeds first).
    pub alpha: f64,
    /// Random unit directions drawn for the cosine null (`analysis.nulls`).
    pub nulls: usize,
    pub claims: Vec<Claim>,
}

/// One claim of the MRI, seed by seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    /// `layer`, `direction_cosine`, `top_heads` or `effect_sign`.
    pub kind: String,
    pub claim: String,
    /// What each seed's MRI says.
    pub per_seed: Vec<SeedValue>,
    /// Pairwise statistics with their null (direction cosines, head overlaps).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pairs: Vec<Pair>,
    /// The control, in words and numbers.
    pub control: String,
    /// Whether the claim has a control at all.
    pub controlled: bool,
    /// The control's p-value for the agreement (Bonferroni-adjusted over pairs; `null` where the
    /// control is not a p-value or cannot be computed).
    pub p_value: Option<f64>,
    /// Every seed makes the claim (`null`: some seed has no value, or the claim is set by the
    /// configuration rather than measured).
    pub agree: Option<bool>,
    /// Controlled, every seed agrees, and the agreement is beyond the control.
    pub robust: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedValue {
    pub seed: u64,
    /// `null` when this seed's MRI has no such result.
    pub value: Option<String>,
}

/// A statistic of two seeds and its null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    pub seeds: [u64; 2],
    /// The cosine of the two directions, or the overlap of the two head sets.
    pub statistic: f64,
    /// The null's mean (0 for cosines of random directions; k_a·k_b / N for overlaps).
    pub null_mean: f64,
    /// The null's (1 − alpha) quantile (cosines; `null` for overlaps, whose tail is exact).
    pub null_quantile: Option<f64>,
    /// One-sided p-value of a statistic at least this large under the null (unadjusted).
    pub p_value: f64,
}

/// Compares the MRI results of every seed; `rng_seed` fixes the random directions.
pub fn agreement(
    seeds: &[(u64, MriResult)],
    alpha: f64,
    nulls: usize,
    rng_seed: u64,
) -> Result<Agreement> {
    anyhow::ensure!(
        seeds.len() >= 2,
        "agreement needs at least two seeds, got {}",
        seeds.len()
    );
    let mut claims = vec![layer(seeds, alpha)];
    let null = CosineNull::new(seeds, nulls, rng_seed);
    claims.push(direction_cosine(
        seeds,
        alpha,
        &null,
        "the refusal direction read in the base model on each seed's training prompts points the same way (stability to the draw of prompts: the base model is shared)",
        |m| m.direction.as_ref().map(|d| d.direction.clone()),
    ));
    claims.push(direction_cosine(
        seeds,
        alpha,
        &null,
        "the refusal direction read in each seed's tuned model (at its chosen layer) points the same way",
        |m| {
            let d = m.direction.as_ref()?;
            Some(unit(d.tuned.per_layer.get(d.layer)?))
        },
    ));
    claims.push(head_overlap(
        seeds,
        alpha,
        "the heads the MRI implicates (ablated in validation) are the same".into(),
        |m| implicated_heads(&m.probes, m.options.top_k),
    ));
    let probes: Vec<String> = seeds[0].1.probes.iter().map(|p| p.name.clone()).collect();
    for name in probes {
        claims.push(head_overlap(
            seeds,
            alpha,
            format!("the heads whose attention changed most on probe {name:?} are the same"),
            |m| {
                m.probes
                    .iter()
                    .find(|p| p.name == name)
                    .map(|p| p.attention_top.iter().map(|h| (h.layer, h.head)).collect())
                    .unwrap_or_default()
            },
        ));
    }
    claims.extend(effect_signs(seeds));
    Ok(Agreement {
        seeds: seeds.iter().map(|(s, _)| *s).collect(),
        alpha,
        nulls,
        claims,
    })
}

fn pairs_of(n: usize) -> Vec<(usize, usize)> {
    (0..n)
        .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
        .collect()
}

fn layer(seeds: &[(u64, MriResult)], alpha: f64) -> Claim {
    let layers: Vec<Option<usize>> = seeds
        .iter()
        .map(|(_, m)| m.direction.as_ref().map(|d| d.layer))
        .collect();
    let per_seed = seeds
        .iter()
        .zip(&layers)
        .map(|((s, _), l)| SeedValue {
            seed: *s,
            value: l.map(|l| format!("layer {l}")),
        })
        .collect();
    let claim = "the MRI chooses the same layer for the refusal direction".to_string();
    let fixed = seeds.iter().any(|(_, m)| m.options.layer.is_some());
    if fixed {
        return Claim {
            kind: "layer".into(),
            claim,
            per_seed,
            pairs: vec![],
            control: "none: the layer is set by the intervention, not chosen by the MRI".into(),
            controlled: false,
            p_value: None,
            agree: None,
            robust: false,
        };
    }
    let total = seeds[0].1.shape.layers.max(1);
    let chance = (1.0 / total as f64).powi(seeds.len() as i32 - 1);
    let agree = if layers.iter().any(Option::is_none) {
        None
    } else {
        Some(layers.windows(2).all(|w| w[0] == w[1]))
    };
    Claim {
        kind: "layer".into(),
        claim,
        per_seed,
        pairs: vec![],
        control: format!(
            "chance that {} seeds pick one layer of {total} if each picked at random: {chance:.3}",
            seeds.len()
        ),
        controlled: true,
        p_value: Some(chance),
        robust: agree == Some(true) && chance < alpha,
        agree,
    }
}

/// Cosines of random unit directions with a fixed unit vector (isotropic, so one sample serves
/// every pair), sorted.
struct CosineNull {
    sorted: Vec<f64>,
}

impl CosineNull {
    fn new(seeds: &[(u64, MriResult)], nulls: usize, rng_seed: u64) -> CosineNull {
        let d = seeds[0].1.shape.d_model.max(1);
        let mut rng = Rng::new(rng_seed ^ 0x6D72_695F_6E75_6C6C);
        let mut sorted: Vec<f64> = (0..nulls)
            .map(|_| {
                // The first coordinate of a uniform unit vector is its cosine with e₁.
                let v: Vec<f64> = (0..d).map(|_| normal(&mut rng)).collect();
                let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
                if n == 0.0 {
                    0.0
                } else {
                    v[0] / n
                }
            })
            .collect();
        sorted.sort_by(f64::total_cmp);
        CosineNull { sorted }
    }

    /// (1 + #{null ≥ x}) / (nulls + 1).
    fn p_value(&self, x: f64) -> f64 {
        let above = self.sorted.len() - self.sorted.partition_point(|v| *v < x);
        (1 + above) as f64 / (self.sorted.len() + 1) as f64
    }

    fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.sorted.len();
        (n > 0).then(|| self.sorted[((q * n as f64).ceil() as usize).clamp(1, n) - 1])
    }
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut Rng) -> f64 {
    let u = |r: &mut Rng| ((r.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let (a, b) = (u(rng), u(rng));
    (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
}

fn direction_cosine(
    seeds: &[(u64, MriResult)],
    alpha: f64,
    null: &CosineNull,
    claim: &str,
    get: impl Fn(&MriResult) -> Option<Vec<f32>>,
) -> Claim {
    let dirs: Vec<Option<Vec<f32>>> = seeds.iter().map(|(_, m)| get(m)).collect();
    let all: Option<Vec<&Vec<f32>>> = dirs.iter().map(Option::as_ref).collect();
    let pairs: Vec<Pair> = match &all {
        Some(v) => pairs_of(v.len())
            .into_iter()
            .map(|(a, b)| {
                let c = f64::from(cosine(v[a], v[b]));
                Pair {
                    seeds: [seeds[a].0, seeds[b].0],
                    statistic: c,
                    null_mean: 0.0,
                    null_quantile: null.quantile(1.0 - alpha),
                    p_value: null.p_value(c),
                }
            })
            .collect(),
        None => vec![],
    };
    let per_seed = seeds
        .iter()
        .zip(&dirs)
        .map(|((s, _), d)| SeedValue {
            seed: *s,
            value: d
                .as_ref()
                .map(|d| format!("unit vector of {} dims", d.len())),
        })
        .collect();
    let nulls = null.sorted.len();
    let control = format!(
        "cosine of {nulls} random unit directions: (1 − α) quantile {}; p = share at least as large",
        null.quantile(1.0 - alpha)
            .map_or("none".into(), |q| format!("{q:.3}"))
    );
    pairwise_claim("direction_cosine", claim, per_seed, pairs, control, alpha)
}

/// A claim decided by pairwise p-values: every pair below alpha after Bonferroni.
fn pairwise_claim(
    kind: &str,
    claim: &str,
    per_seed: Vec<SeedValue>,
    pairs: Vec<Pair>,
    control: String,
    alpha: f64,
) -> Claim {
    let p_value = (!pairs.is_empty()).then(|| {
        let worst = pairs.iter().map(|p| p.p_value).fold(0.0, f64::max);
        (worst * pairs.len() as f64).min(1.0)
    });
    let agree = p_value.map(|p| p < alpha);
    Claim {
        kind: kind.into(),
        claim: claim.into(),
        per_seed,
        pairs,
        control,
        controlled: true,
        p_value,
        robust: agree == Some(true),
        agree,
    }
}

fn head_overlap(
    seeds: &[(u64, MriResult)],
    alpha: f64,
    claim: String,
    get: impl Fn(&MriResult) -> Vec<(usize, usize)>,
) -> Claim {
    let sets: Vec<Vec<(usize, usize)>> = seeds.iter().map(|(_, m)| get(m)).collect();
    let shape = &seeds[0].1.shape;
    let total = shape.layers * shape.heads;
    let per_seed = seeds
        .iter()
        .zip(&sets)
        .map(|((s, _), h)| SeedValue {
            seed: *s,
            value: (!h.is_empty()).then(|| {
                h.iter()
                    .map(|(l, h)| format!("L{l}H{h}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
        })
        .collect();
    let pairs: Vec<Pair> = if sets.iter().any(Vec::is_empty) || total == 0 {
        vec![]
    } else {
        pairs_of(sets.len())
            .into_iter()
            .map(|(a, b)| {
                let (x, y) = (&sets[a], &sets[b]);
                let overlap = x.iter().filter(|h| y.contains(h)).count();
                Pair {
                    seeds: [seeds[a].0, seeds[b].0],
                    statistic: overlap as f64,
                    null_mean: (x.len() * y.len()) as f64 / total as f64,
                    null_quantile: None,
                    p_value: hypergeometric_tail(total, x.len(), y.len(), overlap),
                }
            })
            .collect()
    };
    let control = format!(
        "overlap of random head sets of the same sizes among the model's {total} heads: exact \
         hypergeometric P(overlap ≥ observed); mean k_a·k_b / {total}"
    );
    pairwise_claim("top_heads", &claim, per_seed, pairs, control, alpha)
}

/// P(X ≥ x) for X the overlap of a random `k`-set with a fixed `m`-set among `n`.
pub fn hypergeometric_tail(n: usize, m: usize, k: usize, x: usize) -> f64 {
    let ln_fact: Vec<f64> = std::iter::once(0.0)
        .chain((1..=n).scan(0.0, |acc, i| {
            *acc += (i as f64).ln();
            Some(*acc)
        }))
        .collect();
    let ln_choose = |a: usize, b: usize| ln_fact[a] - ln_fact[b] - ln_fact[a - b];
    let hi = m.min(k);
    let lo = (m + k).saturating_sub(n);
    if x > hi {
        return 0.0;
    }
    let denom = ln_choose(n, k);
    let p: f64 = (x.max(lo)..=hi)
        .map(|i| (ln_choose(m, i) + ln_choose(n - m, k - i) - denom).exp())
        .sum();
    p.min(1.0)
}

/// The sign of each causal effect of validation, in every seed.
fn effect_signs(seeds: &[(u64, MriResult)]) -> Vec<Claim> {
    let cond = |m: &MriResult, prefix: &str| -> Option<Condition> {
        m.validation
            .iter()
            .find(|c| c.name.starts_with(prefix))
            .cloned()
    };
    let refusal = |c: Option<Condition>| c.and_then(|c| c.refusal_rate).map(f64::from);
    let logp = |c: Option<Condition>| c.and_then(|c| c.answer_logprob).map(f64::from);
    type Effect = Box<dyn Fn(&MriResult) -> Option<f64>>;
    let effects: Vec<(&str, &str, bool, Effect)> = vec![
        (
            "ablating the implicated heads changes the tuned model's refusal rate more than ablating control heads (implicated − control)",
            "the same number of control heads ablated in the same seed",
            true,
            Box::new(move |m| {
                Some(
                    refusal(cond(m, "tuned, implicated heads"))?
                        - refusal(cond(m, "tuned, control heads"))?,
                )
            }),
        ),
        (
            "ablating the implicated heads changes mean log p(answer) more than ablating control heads (implicated − control)",
            "the same number of control heads ablated in the same seed",
            true,
            Box::new(move |m| {
                Some(
                    logp(cond(m, "tuned, implicated heads"))?
                        - logp(cond(m, "tuned, control heads"))?,
                )
            }),
        ),
        (
            "ablating the refusal direction changes the tuned model's refusal rate (ablated − tuned)",
            "none in this MRI (no random-direction ablation): descriptive, not a finding",
            false,
            Box::new(move |m| {
                Some(
                    refusal(cond(m, "tuned, refusal direction"))?
                        - refusal(m.validation.iter().find(|c| c.name == "tuned").cloned())?,
                )
            }),
        ),
        (
            "tuning moves capability prompts toward the refusal direction (reflex tuned − base)",
            "none in this MRI: descriptive, not a finding",
            false,
            Box::new(|m| {
                let d = m.direction.as_ref()?;
                Some(f64::from(d.reflex_tuned? - d.reflex_base?))
            }),
        ),
    ];
    effects
        .into_iter()
        .map(|(claim, control, controlled, f)| {
            let values: Vec<Option<f64>> = seeds.iter().map(|(_, m)| f(m)).collect();
            // Every seed's effect has one nonzero sign (a change of 0 does not agree).
            let agree = values
                .iter()
                .copied()
                .collect::<Option<Vec<f64>>>()
                .map(|v| {
                    v.iter().all(|x| *x != 0.0)
                        && v.windows(2).all(|w| w[0].signum() == w[1].signum())
                });
            Claim {
                kind: "effect_sign".into(),
                claim: claim.into(),
                per_seed: seeds
                    .iter()
                    .zip(&values)
                    .map(|((s, _), v)| SeedValue {
                        seed: *s,
                        value: v.map(|v| format!("{v:+.3}")),
                    })
                    .collect(),
                pairs: vec![],
                control: control.into(),
                controlled,
                p_value: None,
                robust: controlled && agree == Some(true),
                agree,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypergeometric_tail_matches_small_cases() {
        // 2 of 4 marked, draw 2: P(overlap = 2) = 1/6, P(≥ 1) = 5/6, P(≥ 0) = 1.
        assert!((hypergeometric_tail(4, 2, 2, 2) - 1.0 / 6.0).abs() < 1e-12);
        assert!((hypergeometric_tail(4, 2, 2, 1) - 5.0 / 6.0).abs() < 1e-12);
        assert!((hypergeometric_tail(4, 2, 2, 0) - 1.0).abs() < 1e-12);
        assert_eq!(hypergeometric_tail(10, 2, 3, 3), 0.0);
        // 5 of 270 heads twice: the same 5 by chance is ~1e-10.
        assert!(hypergeometric_tail(270, 5, 5, 5) < 1e-9);
    }

    #[test]
    fn the_cosine_null_is_centred_and_narrow_in_high_dimension() {
        let mut rng = Rng::new(1);
        let d = 576;
        let c: Vec<f64> = (0..2000)
            .map(|_| {
                let v: Vec<f64> = (0..d).map(|_| normal(&mut rng)).collect();
                v[0] / v.iter().map(|x| x * x).sum::<f64>().sqrt()
            })
            .collect();
        let mean = c.iter().sum::<f64>() / c.len() as f64;
        let sd = (c.iter().map(|x| x * x).sum::<f64>() / c.len() as f64).sqrt();
        assert!(mean.abs() < 0.005, "{mean}");
        // The cosine of a random unit vector with a fixed one has sd 1/sqrt(d).
        assert!((sd * (d as f64).sqrt() - 1.0).abs() < 0.05, "{sd}");
    }
}
