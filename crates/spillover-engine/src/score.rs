//! Log-likelihood scoring: per-token log-probabilities of sequences, and the top-k distribution of
//! the next token.

use candle_core::{Tensor, D};
use spillover_model::{Model, Step};

/// log p(ids[i] | ids[..i]) for i ≥ 1, for each sequence (length len − 1), in one padded batch.
pub fn token_logprobs(
    model: &Model,
    seqs: &[Vec<u32>],
    pad_id: u32,
) -> candle_core::Result<Vec<Vec<f32>>> {
    if seqs.is_empty() {
        return Ok(vec![]);
    }
    for s in seqs {
        check_context(model, s.len())?;
    }
    let dev = model.device();
    let step = Step::left_padded(seqs, pad_id, dev).map_err(candle_core::Error::wrap)?;
    let t = step.mask.t;
    if t < 2 {
        return Ok(seqs.iter().map(|_| vec![]).collect());
    }
    let logits = model.forward(&step, None, None)?.narrow(1, 0, t - 1)?; // predicts positions 1..t
    let logp = log_softmax(&logits)?;
    // Target of position i is the token at i + 1 (padding rows pick the pad id and are dropped).
    let targets: Vec<u32> = seqs
        .iter()
        .flat_map(|s| {
            let pad = t - s.len();
            (1..t).map(move |i| if i > pad { s[i - pad] } else { pad_id })
        })
        .collect();
    let targets = Tensor::from_vec(targets, (seqs.len(), t - 1, 1), dev)?;
    let picked: Vec<Vec<f32>> = logp.gather(&targets, 2)?.squeeze(2)?.to_vec2()?;
    Ok(seqs
        .iter()
        .zip(picked)
        .map(|(s, row)| row[t - s.len()..].to_vec())
        .collect())
}

/// The k most likely next tokens after `ids`, with their logits, best first.
pub fn top_k_next(model: &Model, ids: &[u32], k: usize) -> candle_core::Result<Vec<(u32, f32)>> {
    check_context(model, ids.len())?;
    let step =
        Step::left_padded(&[ids.to_vec()], 0, model.device()).map_err(candle_core::Error::wrap)?;
    // Sorted on the CPU: candle's CUDA argsort keeps a whole row in shared memory, which a real
    // vocabulary (tens of thousands of entries) does not fit.
    let logits = model
        .forward_last(&step, None, None)?
        .squeeze(0)?
        .to_dtype(candle_core::DType::F32)?
        .to_device(&candle_core::Device::Cpu)?;
    let order: Vec<u32> = logits.arg_sort_last_dim(false)?.to_vec1()?;
    let all: Vec<f32> = logits.to_vec1()?;
    Ok(order
        .into_iter()
        .take(k)
        .map(|i| (i, all[i as usize]))
        .collect())
}

/// An error naming the limit when `len` tokens do not fit the model's context (instead of an
/// out-of-range index into the position table, or positions the model never saw).
pub fn check_context(model: &Model, len: usize) -> candle_core::Result<()> {
    let context = model.config().max_positions;
    if len > context {
        candle_core::bail!("{len} tokens exceed the model's context of {context} positions");
    }
    Ok(())
}

/// Numerically stable log-softmax over the last dimension.
pub fn log_softmax(x: &Tensor) -> candle_core::Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?;
    let shifted = x.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    shifted.broadcast_sub(&lse)
}
