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

/// The same loss computed from final hidden states [b, t, d], unembedding only the positions that
/// carry a label (a refusal example's prompt is most of its tokens, so this skips most of the
/// vocabulary projection and its backward).
pub fn masked_cross_entropy_hidden(
    model: &spillover_model::Model,
    hidden: &Tensor,
    labels: &[Vec<i64>],
) -> Result<Tensor> {
    let (b, t, d) = hidden.dims3()?;
    let mut rows = Vec::new();
    let mut targets = Vec::new();
    for (bi, row) in labels.iter().enumerate() {
        for p in 0..t - 1 {
            if row[p + 1] != IGNORE {
                rows.push((bi * t + p) as u32);
                targets.push(row[p + 1] as u32);
            }
        }
    }
    if rows.is_empty() {
        candle_core::bail!("no position has a label: nothing to learn from this batch");
    }
    let n = rows.len();
    let dev = hidden.device();
    let picked = hidden
        .reshape((b * t, d))?
        .index_select(&Tensor::from_vec(rows, n, dev)?, 0)?;
    let logits = model
        .unembed(&picked.reshape((1, n, d))?)?
        .squeeze(0)?
        .to_dtype(candle_core::DType::F32)?;
    let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    let targets = Tensor::from_vec(targets, (n, 1), dev)?;
    logp.gather(&targets, 1)?
        .sum_all()?
        .affine(-1.0 / n as f64, 0.0)
}
