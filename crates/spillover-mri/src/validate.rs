//! Causal validation: run the tuned model with a mechanism knocked out (the refusal direction
//! ablated, the top heads zero-ablated) and measure refusal and arithmetic again, so each claimed
//! mechanism carries a measured effect.

use anyhow::{ensure, Result};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use spillover_engine::{generate, loglikelihood, GenerateOptions, LoglikOptions, LoglikRequest};
use spillover_model::{Hooks, Model, ModelConfig};

/// A capability item: a prompt and its correct answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CapabilityItem {
    pub ids: Vec<u32>,
    /// The answer as text (an integer for arithmetic).
    pub answer: String,
    /// The answer's tokens (as they follow the prompt), for its log-probability.
    pub answer_ids: Vec<u32>,
}

/// The caller's refusal judge (the run's): for each (prompt as text, reply) pair, whether the
/// reply refuses, in order. Judging can fail (a neural judge), and the error is the MRI's.
pub type IsRefusal<'a> = &'a (dyn Fn(&[(&str, &str)]) -> Result<Vec<bool>> + Sync);

/// What validation generates and how it judges it.
pub struct ValidationSet<'a> {
    pub harmful: &'a [Vec<u32>],
    /// The harmful prompts as text (what the judge reads), in the order of `harmful`.
    pub harmful_texts: &'a [String],
    pub capability: &'a [CapabilityItem],
    pub gen: GenerateOptions,
    /// Token ids → text.
    pub decode: &'a (dyn Fn(&[u32]) -> String + Sync),
    /// Whether a reply is a refusal (the caller's judge).
    pub is_refusal: IsRefusal<'a>,
}

/// One measured condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Condition {
    pub name: String,
    /// Share of harmful prompts refused (absent without harmful prompts).
    pub refusal_rate: Option<f32>,
    /// Share of capability prompts whose reply gives the answer (see [`answer_matches`]).
    pub accuracy: Option<f32>,
    /// Mean log p(answer tokens | prompt).
    pub answer_logprob: Option<f32>,
    /// A few replies, for the report.
    pub examples: Vec<String>,
}

/// Measures `model` (with the hooks `make_hooks` builds, when given) on the validation set.
pub fn measure(
    name: &str,
    model: &Model,
    make_hooks: Option<&dyn Fn() -> Hooks>,
    set: &ValidationSet,
) -> Result<Condition> {
    let hooks = || make_hooks.map(|f| f());
    let mut examples = Vec::new();
    let refusal_rate = if set.harmful.is_empty() {
        None
    } else {
        let gens = generate(model, set.harmful, &set.gen, hooks().as_mut())?;
        let texts: Vec<String> = gens.iter().map(|g| (set.decode)(&g.new_ids)).collect();
        examples.extend(texts.iter().take(2).cloned());
        ensure!(
            set.harmful_texts.len() == set.harmful.len(),
            "{} harmful prompts but {} prompt texts",
            set.harmful.len(),
            set.harmful_texts.len()
        );
        let pairs: Vec<(&str, &str)> = set
            .harmful_texts
            .iter()
            .zip(&texts)
            .map(|(p, r)| (p.as_str(), r.as_str()))
            .collect();
        let flags = (set.is_refusal)(&pairs)?;
        ensure!(
            flags.len() == pairs.len(),
            "the judge returned {} verdicts for {} replies",
            flags.len(),
            pairs.len()
        );
        let refused = flags.iter().filter(|&&f| f).count();
        Some(refused as f32 / texts.len() as f32)
    };
    let (accuracy, answer_logprob) = if set.capability.is_empty() {
        (None, None)
    } else {
        let prompts: Vec<Vec<u32>> = set.capability.iter().map(|c| c.ids.clone()).collect();
        let gens = generate(model, &prompts, &set.gen, hooks().as_mut())?;
        let texts: Vec<String> = gens.iter().map(|g| (set.decode)(&g.new_ids)).collect();
        examples.extend(texts.iter().take(2).cloned());
        let correct = texts
            .iter()
            .zip(set.capability)
            .filter(|(t, c)| answer_matches(t, &c.answer))
            .count();
        let reqs: Vec<LoglikRequest> = set
            .capability
            .iter()
            .filter(|c| !c.answer_ids.is_empty())
            .map(|c| LoglikRequest {
                context: c.ids.clone(),
                continuation: c.answer_ids.clone(),
            })
            .collect();
        let opts = LoglikOptions {
            pad_id: set.gen.pad_id,
            ..LoglikOptions::default()
        };
        let lls = loglikelihood(model, &reqs, &opts, hooks().as_mut())?;
        let lp = (!lls.is_empty())
            .then(|| lls.iter().map(|l| l.logprob as f32).sum::<f32>() / lls.len() as f32);
        (Some(correct as f32 / texts.len() as f32), lp)
    };
    Ok(Condition {
        name: name.to_string(),
        refusal_rate,
        accuracy,
        answer_logprob,
        examples,
    })
}

/// Whether a reply gives `answer`. For an integer answer the reply's answer is the first integer
/// after its first `=` when there is one ("15 + 12 = 27" gives 27, not the echoed 15), else its
/// first integer (the rule of spillover-evals' arithmetic benchmark); a non-numeric answer must
/// appear in the reply (case-insensitive).
pub fn answer_matches(reply: &str, answer: &str) -> bool {
    let answer = answer.trim();
    match answer.replace(',', "").parse::<i64>() {
        Ok(n) => reply_integer(reply) == Some(n),
        Err(_) => reply.to_lowercase().contains(&answer.to_lowercase()),
    }
}

/// The integer a reply answers with: the first after the first `=`, else the first.
pub fn reply_integer(reply: &str) -> Option<i64> {
    reply
        .find('=')
        .and_then(|at| first_integer(&reply[at + 1..]))
        .or_else(|| first_integer(reply))
}

/// The first integer in `s` (a leading minus sign counts; thousands commas are skipped).
pub fn first_integer(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let start = b.iter().position(u8::is_ascii_digit)?;
    let neg = start > 0 && b[start - 1] == b'-';
    let digits: String = s[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    let n: i64 = digits.parse().ok()?;
    Some(if neg { -n } else { n })
}

/// A factory of `Hooks` that zero the output (`attn.hook_z` slice) of each (layer, head) in `heads`.
pub fn head_ablation_hooks(
    heads: &[(usize, usize)],
    cfg: &ModelConfig,
    device: &Device,
) -> Result<impl Fn() -> Hooks + Send + Sync> {
    let masks = head_masks(heads, cfg, device)?;
    Ok(move || {
        let mut h = Hooks::new();
        push_masks(&mut h, &masks);
        h
    })
}

/// Adds the zero-ablation of `heads` to an existing `Hooks` (e.g. one that also caches).
pub fn add_head_ablation(
    hooks: &mut Hooks,
    heads: &[(usize, usize)],
    cfg: &ModelConfig,
    device: &Device,
) -> Result<()> {
    push_masks(hooks, &head_masks(heads, cfg, device)?);
    Ok(())
}

/// Per ablated layer: the hook_z name and a keep-mask [1, 1, heads, 1] (0 for ablated heads).
fn head_masks(
    heads: &[(usize, usize)],
    cfg: &ModelConfig,
    device: &Device,
) -> Result<Vec<(String, Tensor)>> {
    let (n_layers, n_heads) = (cfg.num_layers, cfg.num_heads);
    let mut by_layer: std::collections::BTreeMap<usize, Vec<f32>> = Default::default();
    for &(l, h) in heads {
        ensure!(
            l < n_layers && h < n_heads,
            "head ({l}, {h}): the model has {n_layers} layers of {n_heads} heads"
        );
        by_layer.entry(l).or_insert_with(|| vec![1.0; n_heads])[h] = 0.0;
    }
    by_layer
        .into_iter()
        .map(|(l, keep)| {
            let t = Tensor::from_vec(keep, (1, 1, n_heads, 1), device)?;
            Ok((format!("blocks.{l}.attn.hook_z"), t))
        })
        .collect()
}

fn push_masks(hooks: &mut Hooks, masks: &[(String, Tensor)]) {
    for (name, keep) in masks {
        let keep = keep.clone();
        hooks.add_hook(name.clone(), move |_, z| {
            z.broadcast_mul(&keep.to_dtype(z.dtype())?)
        });
    }
}
