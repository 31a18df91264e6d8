//! Batched greedy generation over left-padded prompts with a KV cache. A sequence that emits a stop
//! id or reaches `max_new_tokens` leaves the batch, so finished rows stop costing compute.

use candle_core::{Device, Tensor};
use spillover_model::layers::MaskSpec;
use spillover_model::{Hooks, Model, Step};

#[derive(Clone, Debug)]
pub struct GenerateOptions {
    pub max_new_tokens: usize,
    /// Token ids that end a sequence (included in the output, as HF does).
    pub stop_ids: Vec<u32>,
    /// Id used to left-pad prompts (never attended to).
    pub pad_id: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    Stop,
    Length,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Generation {
    pub new_ids: Vec<u32>,
    pub finish: FinishReason,
}

/// One row still generating: its index in the input and its state.
struct Row {
    index: usize,
    next_pos: u32,
    key_valid: Vec<bool>,
}

/// Greedy continuation of every prompt. Hooks, when given, run on every forward call.
pub fn generate(
    model: &Model,
    prompts: &[Vec<u32>],
    opts: &GenerateOptions,
    mut hooks: Option<&mut Hooks>,
) -> candle_core::Result<Vec<Generation>> {
    let mut out: Vec<Generation> = prompts
        .iter()
        .map(|_| Generation {
            new_ids: vec![],
            finish: FinishReason::Length,
        })
        .collect();
    if prompts.is_empty() || opts.max_new_tokens == 0 {
        return Ok(out);
    }
    if let Some(i) = prompts.iter().position(Vec::is_empty) {
        candle_core::bail!("prompt {i} is empty: generation needs at least one token");
    }
    let dev = model.device().clone();
    let step = Step::left_padded(prompts, opts.pad_id, &dev).map_err(candle_core::Error::wrap)?;
    let mut rows: Vec<Row> = (0..prompts.len())
        .map(|i| Row {
            index: i,
            next_pos: prompts[i].len() as u32,
            key_valid: step.mask.key_valid[i].clone(),
        })
        .collect();
    let mut cache = model.new_cache();
    let mut logits = model.forward_last(&step, Some(&mut cache), hooks.as_deref_mut())?;
    loop {
        let next: Vec<u32> = logits.argmax(candle_core::D::Minus1)?.to_vec1()?;
        let mut keep = Vec::with_capacity(rows.len());
        for (r, &tok) in rows.iter().zip(&next) {
            let g = &mut out[r.index];
            g.new_ids.push(tok);
            if opts.stop_ids.contains(&tok) {
                g.finish = FinishReason::Stop;
            } else if g.new_ids.len() < opts.max_new_tokens {
                keep.push(true);
                continue;
            }
            keep.push(false);
        }
        if keep.iter().all(|k| !k) {
            return Ok(out);
        }
        let (rows_next, ids_next) = shrink(&mut cache, rows, &next, &keep, &dev)?;
        rows = rows_next;
        let step = decode_step(&mut rows, &ids_next, &dev)?;
        logits = model.forward_last(&step, Some(&mut cache), hooks.as_deref_mut())?;
    }
}

/// Drops finished rows from the batch and the cache.
fn shrink(
    cache: &mut spillover_model::KvCache,
    rows: Vec<Row>,
    next: &[u32],
    keep: &[bool],
    dev: &Device,
) -> candle_core::Result<(Vec<Row>, Vec<u32>)> {
    if keep.iter().all(|&k| k) {
        return Ok((rows, next.to_vec()));
    }
    let idx: Vec<u32> = (0..rows.len() as u32)
        .filter(|&i| keep[i as usize])
        .collect();
    cache.select_rows(&Tensor::new(idx.as_slice(), dev)?)?;
    let mut kept_rows = Vec::with_capacity(idx.len());
    let mut kept_ids = Vec::with_capacity(idx.len());
    for ((r, &k), &tok) in rows.into_iter().zip(keep).zip(next) {
        if k {
            kept_rows.push(r);
            kept_ids.push(tok);
        }
    }
    Ok((kept_rows, kept_ids))
}

/// The one-token step that feeds each row's last token at its next position.
fn decode_step(rows: &mut [Row], ids: &[u32], dev: &Device) -> candle_core::Result<Step> {
    let past = rows[0].key_valid.len();
    let mut positions = Vec::with_capacity(rows.len());
    let mut valid = Vec::with_capacity(rows.len());
    for r in rows.iter_mut() {
        positions.push(vec![r.next_pos]);
        r.next_pos += 1;
        r.key_valid.push(true);
        valid.push(r.key_valid.clone());
    }
    Ok(Step {
        input_ids: Tensor::from_vec(ids.to_vec(), (ids.len(), 1), dev)?,
        positions,
        mask: MaskSpec {
            key_valid: valid,
            past,
            t: 1,
        },
    })
}
