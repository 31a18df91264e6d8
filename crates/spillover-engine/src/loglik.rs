//! Log-likelihood of (context, continuation) pairs, as lm-evaluation-harness's `loglikelihood`:
//! the summed log-probability of the continuation tokens given the context, and whether greedy
//! decoding would have produced exactly that continuation (`is_greedy`).
//!
//! Requests that share a context (the answers of one multiple-choice question) are scored from one
//! encoding of it: the context goes through the model once with a KV cache, the cache rows are
//! copied once per continuation, and only the continuation tokens are fed after it. Logits are
//! computed only at the positions that predict continuation tokens. Work is batched longest first
//! within a token budget.

use crate::batching::Batching;
use crate::score::log_softmax;
use candle_core::{Device, Tensor, D};
use spillover_model::layers::MaskSpec;
use spillover_model::{Hooks, KvCache, Model, Step};
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct LoglikRequest {
    /// At least one token (lm-evaluation-harness puts the EOS token there when a text has none).
    pub context: Vec<u32>,
    pub continuation: Vec<u32>,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Loglik {
    /// Σ log p(continuation token | everything before it), natural log.
    pub logprob: f64,
    /// Every continuation token is the argmax of its distribution.
    pub is_greedy: bool,
    /// The per-token terms of `logprob`.
    pub token_logprobs: Vec<f32>,
}

#[derive(Clone, Debug)]
pub struct LoglikOptions {
    pub pad_id: u32,
    pub batching: Batching,
    /// Encode a context shared by several requests once (false: every request on its own).
    pub share_context: bool,
}

impl Default for LoglikOptions {
    fn default() -> Self {
        LoglikOptions {
            pad_id: 0,
            batching: Batching::default(),
            share_context: true,
        }
    }
}

/// Rows of the unembedding computed at once (bounds the [rows, vocab] logits).
const LOGIT_ROWS: usize = 512;

/// One context and the requests (indices) that continue it.
struct Group {
    context: Vec<u32>,
    members: Vec<usize>,
}

/// Scores every request; results are in request order.
pub fn loglikelihood(
    model: &Model,
    reqs: &[LoglikRequest],
    opts: &LoglikOptions,
    mut hooks: Option<&mut Hooks>,
) -> candle_core::Result<Vec<Loglik>> {
    for (i, r) in reqs.iter().enumerate() {
        if r.context.is_empty() {
            candle_core::bail!("request {i}: empty context (put a BOS/EOS token before the text)");
        }
        if r.continuation.is_empty() {
            candle_core::bail!("request {i}: empty continuation");
        }
    }
    let groups = group(reqs, opts.share_context);
    let width: Vec<usize> = groups.iter().map(|g| width(reqs, g)).collect();
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&g| std::cmp::Reverse(width[g]));
    let batches = plan(&order, &groups, &width, &opts.batching);
    let total: usize = reqs
        .iter()
        .map(|r| r.context.len() + r.continuation.len())
        .sum();
    let bar = opts.batching.bar(total as u64, "loglikelihood", "tokens");
    let mut out: Vec<Option<Loglik>> = vec![None; reqs.len()];
    for b in batches {
        let gs: Vec<&Group> = b.iter().map(|&g| &groups[g]).collect();
        let scored = score_batch(model, reqs, &gs, opts.pad_id, hooks.as_deref_mut())?;
        for (i, l) in scored {
            bar.inc((reqs[i].context.len() + reqs[i].continuation.len()) as u64);
            out[i] = Some(l);
        }
    }
    bar.finish_and_clear();
    Ok(out
        .into_iter()
        .map(|l| l.expect("every request scored"))
        .collect())
}

/// Groups requests by context (in first-seen order), or one group per request.
fn group(reqs: &[LoglikRequest], share: bool) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<&[u32], usize> = HashMap::new();
    for (i, r) in reqs.iter().enumerate() {
        let at = share
            .then(|| index.get(r.context.as_slice()).copied())
            .flatten();
        match at {
            Some(g) => groups[g].members.push(i),
            None => {
                index.insert(&r.context, groups.len());
                groups.push(Group {
                    context: r.context.clone(),
                    members: vec![i],
                });
            }
        }
    }
    groups
}

/// Positions one continuation row of the group needs: context + longest continuation.
fn width(reqs: &[LoglikRequest], g: &Group) -> usize {
    let longest = g.members.iter().map(|&m| reqs[m].continuation.len()).max();
    g.context.len() + longest.unwrap_or(0)
}

/// Consecutive batches of groups whose continuation rows × widest row stay within the budget.
fn plan(
    order: &[usize],
    groups: &[Group],
    width: &[usize],
    batching: &Batching,
) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut cur: Vec<usize> = Vec::new();
    let (mut rows, mut w) = (0, 0);
    for &g in order {
        let n = groups[g].members.len();
        let w2 = w.max(width[g]);
        let over = (rows + n) * w2 > batching.token_budget
            || batching.max_batch.is_some_and(|m| rows + n > m);
        if !cur.is_empty() && over {
            out.push(std::mem::take(&mut cur));
            (rows, w) = (0, 0);
        }
        rows += n;
        w = w.max(width[g]);
        cur.push(g);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Scores the requests of a few groups: contexts in one left-padded forward with a cache, then
/// the continuations (all but their last token) in one right-padded forward after the copied rows.
fn score_batch(
    model: &Model,
    reqs: &[LoglikRequest],
    groups: &[&Group],
    pad_id: u32,
    mut hooks: Option<&mut Hooks>,
) -> candle_core::Result<Vec<(usize, Loglik)>> {
    let dev = model.device().clone();
    let contexts: Vec<Vec<u32>> = groups.iter().map(|g| g.context.clone()).collect();
    let step = Step::left_padded(&contexts, pad_id, &dev).map_err(candle_core::Error::wrap)?;
    let members: Vec<(usize, usize)> = groups
        .iter()
        .enumerate()
        .flat_map(|(gi, g)| g.members.iter().map(move |&m| (gi, m)))
        .collect();
    let n_max = members
        .iter()
        .map(|&(_, m)| reqs[m].continuation.len())
        .max()
        .unwrap_or(1);
    let c_max = step.mask.t;
    let mut cache = KvCache::with_capacity(model.config().num_layers, c_max + n_max - 1);
    let h1 = model.forward_hidden(&step, Some(&mut cache), hooks.as_deref_mut())?;
    let last = h1.narrow(1, c_max - 1, 1)?.squeeze(1)?.contiguous()?; // [groups, d]
                                                                      // First continuation token of every member, from its group's last context position.
    let gidx: Vec<u32> = members.iter().map(|&(gi, _)| gi as u32).collect();
    let gidx = Tensor::new(gidx.as_slice(), &dev)?;
    let firsts: Vec<u32> = members
        .iter()
        .map(|&(_, m)| reqs[m].continuation[0])
        .collect();
    let (lp0, gr0) = pick(model, &last.index_select(&gidx, 0)?, &firsts)?;
    let mut lps: Vec<Vec<f32>> = lp0.into_iter().map(|x| vec![x]).collect();
    let mut greedy: Vec<bool> = gr0;
    if n_max > 1 {
        cache.select_rows(&gidx)?;
        let step2 = continuation_step(
            reqs,
            &members,
            &step.mask.key_valid,
            &contexts,
            pad_id,
            n_max,
            &dev,
        )?;
        let h2 = model.forward_hidden(&step2, Some(&mut cache), hooks)?; // [rows, n_max - 1, d]
        let d = h2.dim(D::Minus1)?;
        let h2 = h2.reshape(((), d))?.contiguous()?;
        let mut at = Vec::new();
        let mut targets = Vec::new();
        let mut owner = Vec::new();
        for (r, &(_, m)) in members.iter().enumerate() {
            let c = &reqs[m].continuation;
            for i in 0..c.len() - 1 {
                at.push((r * (n_max - 1) + i) as u32);
                targets.push(c[i + 1]);
                owner.push(r);
            }
        }
        for chunk in (0..at.len()).step_by(LOGIT_ROWS) {
            let end = (chunk + LOGIT_ROWS).min(at.len());
            let rows = h2.index_select(&Tensor::new(&at[chunk..end], &dev)?, 0)?;
            let (lp, gr) = pick(model, &rows, &targets[chunk..end])?;
            for (k, (x, g)) in lp.into_iter().zip(gr).enumerate() {
                let r = owner[chunk + k];
                lps[r].push(x);
                greedy[r] &= g;
            }
        }
    }
    Ok(members
        .iter()
        .zip(lps.into_iter().zip(greedy))
        .map(|(&(_, m), (token_logprobs, is_greedy))| {
            let logprob = token_logprobs.iter().map(|&x| x as f64).sum();
            let l = Loglik {
                logprob,
                is_greedy,
                token_logprobs,
            };
            (m, l)
        })
        .collect())
}

/// The step feeding each member's continuation (without its last token) after its context:
/// right-padded to n_max − 1, positions continuing the context's.
fn continuation_step(
    reqs: &[LoglikRequest],
    members: &[(usize, usize)],
    ctx_valid: &[Vec<bool>],
    contexts: &[Vec<u32>],
    pad_id: u32,
    n_max: usize,
    dev: &Device,
) -> candle_core::Result<Step> {
    let t = n_max - 1;
    let mut ids = Vec::with_capacity(members.len() * t);
    let mut positions = Vec::with_capacity(members.len());
    let mut valid = Vec::with_capacity(members.len());
    for &(gi, m) in members {
        let c = &reqs[m].continuation;
        let real = c.len() - 1;
        ids.extend_from_slice(&c[..real]);
        ids.extend(std::iter::repeat_n(pad_id, t - real));
        let start = contexts[gi].len() as u32;
        positions.push((0..t as u32).map(|i| start + i).collect());
        let mut kv = ctx_valid[gi].clone();
        kv.extend((0..t).map(|i| i < real));
        valid.push(kv);
    }
    Ok(Step {
        input_ids: Tensor::from_vec(ids, (members.len(), t), dev)?,
        positions,
        mask: MaskSpec {
            key_valid: valid,
            past: ctx_valid.first().map_or(0, Vec::len),
            t,
        },
    })
}

/// Log-probability of `targets[i]` under the distribution at hidden row i, and whether it is the
/// argmax there.
fn pick(
    model: &Model,
    hidden: &Tensor,
    targets: &[u32],
) -> candle_core::Result<(Vec<f32>, Vec<bool>)> {
    let (rows, d) = hidden.dims2()?;
    let logits = model.unembed(&hidden.reshape((1, rows, d))?)?.squeeze(0)?;
    let logits = logits.to_dtype(candle_core::DType::F32)?;
    let logp = log_softmax(&logits)?;
    let tg = Tensor::new(targets, hidden.device())?.unsqueeze(1)?;
    let lp: Vec<f32> = logp.gather(&tg, 1)?.squeeze(1)?.to_vec1()?;
    let best: Vec<u32> = logits.argmax(D::Minus1)?.to_vec1()?;
    let greedy = best.iter().zip(targets).map(|(a, b)| a == b).collect();
    Ok((lp, greedy))
}
