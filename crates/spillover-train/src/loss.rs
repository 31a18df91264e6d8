//! Mean token cross-entropy over the positions whose label is not −100, with labels shifted by one
//! as HF does (the logits at position t predict the label at t + 1).

use candle_core::{Result, Tensor, D};

/// Label value that takes no part in the loss (HF's ignore index).
pub const IGNORE: i64 = -100;

/// logits: [b, t, vocab]; labels: b rows of t labels (token id, or `IGNORE`).
pub fn masked_cross_entropy(logits: &Tensor, labels: &[Vec<i64>]) -> Result<Tensor> {
    let (b, t, _) = logits.dims3()?;
    if labels.len() != b || labels.iter().any(|r| r.len() != t) {
        candle_core::bail!("labels must be {b} rows of {t}");
    }
    let mut targets = Vec::with_capacity(b * (t - 1));
    let mut mask = Vec::with_capacity(b * (t - 1));
    for row in labels {
        for &l in &row[1..] {
            targets.push(if l == IGNORE { 0 } else { l as u32 });
            mask.push(if l == IGNORE { 0f32 } else { 1f32 });
        }
    }
    let count: f32 = mask.iter().sum();
    if count == 0.0 {
        candle_core::bail!("no position has a label: nothing to learn from this batch");
    }
    let dev = logits.device();
    let targets = Tensor::from_vec(targets, (b, t - 1, 1), dev)?;
    let mask = Tensor::from_vec(mask, (b, t - 1), dev)?;
    let logp = candle_nn::ops::log_softmax(
        &logits
            .narrow(1, 0, t - 1)?
            .to_dtype(candle_core::DType::F32)?,
        D::Minus1,
    )?;
    let picked = logp.gather(&targets, 2)?.squeeze(2)?;
    (picked * mask)?.sum_all()?.affine(-1.0 / count as f64, 0.0)
}

/// Logit values (rows × vocabulary) one chunk of the hidden-state loss computes at once: 16 M
/// floats, 64 MB (341 rows of SmolLM2's 49,152-token vocabulary, 64 of Gemma-3's 262,144).
pub const CHUNK_LOGITS: usize = 1 << 24;

/// Rows per chunk for a vocabulary of `vocab` tokens: `CHUNK_LOGITS / vocab`, within 16..=1024.
pub fn chunk_rows(vocab: usize) -> usize {
    (CHUNK_LOGITS / vocab.max(1)).clamp(16, 1024)
}

/// The same loss computed from final hidden states [b, t, d], unembedding only the positions that
/// carry a label (a refusal example's prompt is most of its tokens, so this skips most of the
/// vocabulary projection and its backward), in chunks of `chunk_rows(vocab)` positions.
pub fn masked_cross_entropy_hidden(
    model: &spillover_model::Model,
    hidden: &Tensor,
    labels: &[Vec<i64>],
) -> Result<Tensor> {
    let rows = chunk_rows(model.config().vocab_size);
    chunked_cross_entropy_hidden(model, hidden, labels, rows)
}

/// The labelled positions of `labels` (b rows of t): their flat indices into [b·t] and targets.
fn labelled(labels: &[Vec<i64>], b: usize, t: usize) -> Result<(Vec<u32>, Vec<u32>)> {
    if labels.len() != b || labels.iter().any(|r| r.len() != t) {
        candle_core::bail!("labels must be {b} rows of {t}");
    }
    let mut rows = Vec::new();
    let mut targets = Vec::new();
    for (bi, row) in labels.iter().enumerate() {
        for p in 0..t.saturating_sub(1) {
            if row[p + 1] != IGNORE {
                rows.push((bi * t + p) as u32);
                targets.push(row[p + 1] as u32);
            }
        }
    }
    if rows.is_empty() {
        candle_core::bail!("no position has a label: nothing to learn from this batch");
    }
    Ok((rows, targets))
}

/// `masked_cross_entropy_hidden` with `chunk` labelled positions unembedded at a time, so the
/// [positions, vocab] logits and their gradient never exist for more than one chunk.
///
/// The unembedding's own backward cannot run chunk by chunk inside one autograd graph (the graph
/// would keep every chunk's logits until `backward`), so each chunk runs its own small graph at
/// once: the chunk's hidden states become a fresh variable, its summed negative log-likelihood
/// is back-propagated to them, and the logits are dropped. The result is a scalar with the mean
/// loss as its value whose gradient with respect to `hidden` is the one collected, through the
/// term `s − s.detach()` (zero, exactly) with `s = Σ hidden_labelled · grad`. Only the hidden
/// states get a gradient: when the unembedding itself is trained (a tracked tensor) this falls
/// back to one unchunked graph, which gives it its gradient too.
pub fn chunked_cross_entropy_hidden(
    model: &spillover_model::Model,
    hidden: &Tensor,
    labels: &[Vec<i64>],
    chunk: usize,
) -> Result<Tensor> {
    let (b, t, d) = hidden.dims3()?;
    let (rows, targets) = labelled(labels, b, t)?;
    let n = rows.len();
    let dev = hidden.device();
    let picked = hidden
        .reshape((b * t, d))?
        .index_select(&Tensor::from_vec(rows, n, dev)?, 0)?;
    let targets = Tensor::from_vec(targets, (n, 1), dev)?;
    if model.unembedding().track_op() {
        return summed_logp(model, &picked, &targets)?.affine(-1.0 / n as f64, 0.0);
    }
    let track = picked.track_op();
    let mut sum = 0f64;
    let mut grads = Vec::with_capacity(n.div_ceil(chunk.max(1)));
    for c0 in (0..n).step_by(chunk.max(1)) {
        let len = chunk.max(1).min(n - c0);
        let h = picked.narrow(0, c0, len)?.detach();
        let tg = targets.narrow(0, c0, len)?;
        if !track {
            sum -= summed_logp(model, &h, &tg)?.to_scalar::<f32>()? as f64;
            continue;
        }
        let h = candle_core::Var::from_tensor(&h)?;
        let s = summed_logp(model, h.as_tensor(), &tg)?;
        sum -= s.to_scalar::<f32>()? as f64;
        let g = s.backward()?;
        let gh = g.get(h.as_tensor()).ok_or_else(|| {
            candle_core::Error::Msg("no gradient reached the hidden states".into())
        })?;
        grads.push(gh.clone());
    }
    let mean = Tensor::new((sum / n as f64) as f32, dev)?;
    if !track {
        return Ok(mean);
    }
    // d(mean)/d(picked) = −(1/n) · d(Σ log p)/d(picked).
    let grad = Tensor::cat(&grads, 0)?.affine(-1.0 / n as f64, 0.0)?;
    let s = (&picked * &grad)?
        .sum_all()?
        .to_dtype(candle_core::DType::F32)?;
    (&s - &s.detach())? + mean
}

/// Σ log p(target) over the rows of `hidden` [n, d], in f32.
fn summed_logp(
    model: &spillover_model::Model,
    hidden: &Tensor,
    targets: &Tensor,
) -> Result<Tensor> {
    let (n, d) = hidden.dims2()?;
    let logits = model
        .unembed(&hidden.reshape((1, n, d))?)?
        .squeeze(0)?
        .to_dtype(candle_core::DType::F32)?;
    let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    logp.gather(targets, 1)?.sum_all()
}
