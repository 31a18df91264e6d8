//! Log-likelihood of (context, continuation) pairs, as lm-evaluation-harness's `loglikelihood`:
//! the summed log-probability of the continuation tokens given the context, and whether greedy
//! decoding would have produced exactly that continuation (`is_greedy`).
//!
//! Requests that share a context (the answers of one multiple-choice question) are packed into one
//! row as a prefix tree: the context once, then each continuation (without its last token) after
//! it, with positions that continue the context's and a mask under which every continuation sees
//! the context and its own earlier tokens only, exactly as if it followed the context alone. One
//! forward scores the whole row; no context is encoded twice and no cache is copied. Logits are
//! computed only at the positions that predict continuation tokens (the context's last position
//! once for all its continuations). Rows are batched longest first within a token budget.
//!
//! Hooks see the packed rows: a hook that acts the same at every position (steering, ablation)
//! gives the same scores as on the unpacked sequences; one that addresses positions by index
//! should score with `share_context: false`.

use crate::batching::Batching;
use candle_core::{Tensor, D};
use spillover_model::fused::RowStats;
use spillover_model::layers::{Branches, MaskSpec};
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

/// One context and the requests (indices) that continue it: one packed row.
struct Group {
    context: Vec<u32>,
    members: Vec<usize>,
}

impl Group {
    /// Positions of the packed row: the context, then every continuation but its last token.
    fn packed_len(&self, reqs: &[LoglikRequest]) -> usize {
        let branches: usize = self
            .members
            .iter()
            .map(|&m| reqs[m].continuation.len() - 1)
            .sum();
        self.context.len() + branches
    }
}

/// Scores every request; results are in request order. A request longer than the model's
/// context keeps the last tokens of its context that fit (as lm-evaluation-harness does); a
/// continuation that alone exceeds the context is an error.
pub fn loglikelihood(
    model: &Model,
    reqs: &[LoglikRequest],
    opts: &LoglikOptions,
    mut hooks: Option<&mut Hooks>,
) -> candle_core::Result<Vec<Loglik>> {
    let context = model.config().max_positions;
    let mut cut: Option<Vec<LoglikRequest>> = None;
    for (i, r) in reqs.iter().enumerate() {
        if r.context.is_empty() {
            candle_core::bail!("request {i}: empty context (put a BOS/EOS token before the text)");
        }
        if r.continuation.is_empty() {
            candle_core::bail!("request {i}: empty continuation");
        }
        if r.continuation.len() > context {
            candle_core::bail!(
                "request {i}: a continuation of {} tokens exceeds the model's context of \
                 {context} positions",
                r.continuation.len()
            );
        }
        // Every token but the last is fed to the model.
        let fed = r.context.len() + r.continuation.len() - 1;
        if fed > context {
            let all = cut.get_or_insert_with(|| reqs.to_vec());
            all[i].context.drain(..fed - context);
        }
    }
    let reqs: &[LoglikRequest] = cut.as_deref().unwrap_or(reqs);
    let groups = group(reqs, opts.share_context);
    let len: Vec<usize> = groups.iter().map(|g| g.packed_len(reqs)).collect();
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&g| std::cmp::Reverse(len[g]));
    let batches = opts
        .batching
        .for_forward(model.device())
        .plan(&order, |g| len[g]);
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

/// A right-padded batch of packed rows, and which hidden row predicts which continuation token.
struct Packed {
    step: Step,
    /// Hidden rows (flattened [b · t]) whose logits are needed, each once.
    rows: Vec<u32>,
    /// (index into `rows`, target token, request) for every continuation token, in order.
    targets: Vec<(usize, u32, usize)>,
}

fn pack(
    reqs: &[LoglikRequest],
    groups: &[&Group],
    pad_id: u32,
    dev: &candle_core::Device,
) -> candle_core::Result<Packed> {
    let t = groups.iter().map(|g| g.packed_len(reqs)).max().unwrap_or(0);
    let n = groups.len();
    let (mut ids, mut positions) = (Vec::with_capacity(n * t), Vec::with_capacity(n));
    let (mut valid, mut branch, mut bpos) = (Vec::new(), Vec::new(), Vec::new());
    let (mut rows, mut targets) = (Vec::new(), Vec::new());
    for (gi, g) in groups.iter().enumerate() {
        let c = g.context.len();
        let base = gi * t;
        let mut row_ids = g.context.clone();
        let mut id = vec![0u32; c];
        let mut pos: Vec<u32> = (0..c as u32).collect();
        let last = rows.len();
        rows.push((base + c - 1) as u32);
        for (j, &m) in g.members.iter().enumerate() {
            let cont = &reqs[m].continuation;
            targets.push((last, cont[0], m));
            for i in 0..cont.len() - 1 {
                targets.push((rows.len(), cont[i + 1], m));
                rows.push((base + row_ids.len()) as u32);
                row_ids.push(cont[i]);
                id.push(j as u32 + 1);
                pos.push((c + i) as u32);
            }
        }
        let real = row_ids.len();
        row_ids.resize(t, pad_id);
        id.resize(t, 0);
        let next = pos.last().map_or(0, |p| p + 1);
        pos.extend((0..(t - real) as u32).map(|i| next + i));
        ids.extend_from_slice(&row_ids);
        valid.push((0..t).map(|i| i < real).collect());
        positions.push(pos.clone());
        branch.push(id);
        bpos.push(pos);
    }
    let step = Step {
        input_ids: Tensor::from_vec(ids, (n, t), dev)?,
        positions,
        mask: MaskSpec {
            key_valid: valid,
            past: 0,
            t,
            branches: Some(Branches {
                id: branch,
                pos: bpos,
            }),
        },
    };
    Ok(Packed {
        step,
        rows,
        targets,
    })
}

/// Scores the requests of a few groups in one forward of their packed rows.
fn score_batch(
    model: &Model,
    reqs: &[LoglikRequest],
    groups: &[&Group],
    pad_id: u32,
    hooks: Option<&mut Hooks>,
) -> candle_core::Result<Vec<(usize, Loglik)>> {
    let dev = model.device().clone();
    let p = pack(reqs, groups, pad_id, &dev)?;
    let mut scratch = KvCache::discarding(model.config().num_layers);
    let h = model.forward_hidden(&p.step, Some(&mut scratch), hooks)?;
    let d = h.dim(D::Minus1)?;
    let h = h.reshape(((), d))?;
    let mut lp = vec![0f32; p.targets.len()];
    let mut greedy = vec![false; p.targets.len()];
    for (ci, chunk) in p.rows.chunks(LOGIT_ROWS).enumerate() {
        let r0 = ci * LOGIT_ROWS;
        let mine: Vec<usize> = (0..p.targets.len())
            .filter(|&k| (r0..r0 + chunk.len()).contains(&p.targets[k].0))
            .collect();
        let queries: Vec<(usize, u32)> = mine
            .iter()
            .map(|&k| (p.targets[k].0 - r0, p.targets[k].1))
            .collect();
        let hidden = h.index_select(&Tensor::new(chunk, &dev)?, 0)?;
        let (x, g) = pick(model, &hidden, &queries)?;
        for (k, (x, g)) in mine.into_iter().zip(x.into_iter().zip(g)) {
            (lp[k], greedy[k]) = (x, g);
        }
    }
    let mut acc: HashMap<usize, (Vec<f32>, bool)> = HashMap::new();
    for (k, &(_, _, m)) in p.targets.iter().enumerate() {
        let e = acc.entry(m).or_insert_with(|| (Vec::new(), true));
        e.0.push(lp[k]);
        e.1 &= greedy[k];
    }
    Ok(acc
        .into_iter()
        .map(|(m, (token_logprobs, is_greedy))| {
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

/// For each (row, token) query on hidden rows [n, d]: log p(token) at that row, computed as
/// log-softmax does ((logit − max) − log Σ exp(logit − max)), and whether token is the row's argmax.
fn pick(
    model: &Model,
    hidden: &Tensor,
    queries: &[(usize, u32)],
) -> candle_core::Result<(Vec<f32>, Vec<bool>)> {
    let (n, d) = hidden.dims2()?;
    let logits = model.unembed(&hidden.reshape((1, n, d))?)?.squeeze(0)?;
    let logits = logits.to_dtype(candle_core::DType::F32)?;
    let vocab = logits.dim(1)?;
    let stats = match spillover_model::fused::log_softmax_stats(&logits)? {
        Some(s) => s,
        None => row_stats(&logits)?,
    };
    let flat: Vec<u32> = queries
        .iter()
        .map(|&(r, tok)| (r * vocab + tok as usize) as u32)
        .collect();
    let picked: Vec<f32> = logits
        .flatten_all()?
        .index_select(&Tensor::new(flat.as_slice(), hidden.device())?, 0)?
        .to_vec1()?;
    Ok(queries
        .iter()
        .zip(picked)
        .map(|(&(r, tok), x)| ((x - stats[r].max) - stats[r].lse, stats[r].argmax == tok))
        .unzip())
}

/// `log_softmax_stats` through candle ops (accelerators).
fn row_stats(logits: &Tensor) -> candle_core::Result<Vec<RowStats>> {
    let max = logits.max_keepdim(D::Minus1)?;
    let lse: Vec<f32> = logits
        .broadcast_sub(&max)?
        .exp()?
        .sum_keepdim(D::Minus1)?
        .log()?
        .squeeze(1)?
        .to_vec1()?;
    let max: Vec<f32> = max.squeeze(1)?.to_vec1()?;
    let argmax: Vec<u32> = logits.argmax(D::Minus1)?.to_vec1()?;
    Ok((0..max.len())
        .map(|i| RowStats {
            max: max[i],
            lse: lse[i],
            argmax: argmax[i],
        })
        .collect())
}
