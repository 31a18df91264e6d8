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
    let logp = candle_nn::ops::log_softmax(&logits.narrow(1, 0, t - 1)?.to_dtype(candle_core::DType::F32)?, D::Minus1)?;
    let picked = logp.gather(&targets, 2)?.squeeze(2)?;
    (picked * mask)?.sum_all()?.affine(-1.0 / count as f64, 0.0)
}
