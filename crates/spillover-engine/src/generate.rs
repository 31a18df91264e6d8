//! Batched generation over left-padded prompts with a KV cache: greedy or seeded sampling, and
//! per-sequence stopping on stop ids, stop strings and `max_new_tokens`. Finished sequences leave
//! the batch (their cache rows are dropped) once they are a quarter of it, so they stop costing
//! compute without a copy of the whole cache every time one ends. Prompts are batched by a token
//! budget, longest first; results come back in input order.

use crate::batching::Batching;
use crate::sampling::{Rng, Sampling};
use crate::stop::{Decode, StopStrings};
use candle_core::{Device, Tensor};
use spillover_model::layers::MaskSpec;
use spillover_model::{Hooks, KvCache, Model, Step};

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
    /// A stop id was generated, or the text reached a stop string.
    Stop,
    Length,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Generation {
    pub new_ids: Vec<u32>,
    pub finish: FinishReason,
    /// Index of the stop string that ended the sequence, if one did (the tokens that spell it are
    /// kept in `new_ids`; `stop::truncate_at_stop` cuts the decoded text).
    pub stop_string: Option<usize>,
}

/// Greedy continuation of every prompt (one batch per token budget). Hooks, when given, run on
/// every forward call.
pub fn generate(
    model: &Model,
    prompts: &[Vec<u32>],
    opts: &GenerateOptions,
    hooks: Option<&mut Hooks>,
) -> candle_core::Result<Vec<Generation>> {
    Generator::new(model, opts).run(prompts, hooks)
}

/// Generation with every option: `Generator::new(&model, &opts).sampling(s).stop_strings(..)
/// .batching(b).run(&prompts, hooks)`.
pub struct Generator<'a> {
    model: &'a Model,
    opts: &'a GenerateOptions,
    sampling: Sampling,
    stops: Option<StopStrings<'a>>,
    batching: Batching,
}

impl<'a> Generator<'a> {
    pub fn new(model: &'a Model, opts: &'a GenerateOptions) -> Self {
        Generator {
            model,
            opts,
            sampling: Sampling::greedy(),
            stops: None,
            batching: Batching::default(),
        }
    }
    pub fn sampling(mut self, s: Sampling) -> Self {
        self.sampling = s;
        self
    }
    /// End a sequence once its decoded new text contains one of `strings`.
    pub fn stop_strings(mut self, strings: Vec<String>, decode: &'a Decode<'a>) -> Self {
        self.stops = Some(StopStrings::new(strings, decode));
        self
    }
    pub fn batching(mut self, b: Batching) -> Self {
        self.batching = b;
        self
    }

    pub fn run(
        &self,
        prompts: &[Vec<u32>],
        mut hooks: Option<&mut Hooks>,
    ) -> candle_core::Result<Vec<Generation>> {
        self.sampling.validate().map_err(candle_core::Error::msg)?;
        if let Some(i) = prompts.iter().position(Vec::is_empty) {
            candle_core::bail!("prompt {i} is empty: generation needs at least one token");
        }
        let mut out: Vec<Generation> = prompts
            .iter()
            .map(|_| Generation {
                new_ids: vec![],
                finish: FinishReason::Length,
                stop_string: None,
            })
            .collect();
        if prompts.is_empty() || self.opts.max_new_tokens == 0 {
            return Ok(out);
        }
        let mut order: Vec<usize> = (0..prompts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(prompts[i].len()));
        let n = self.opts.max_new_tokens;
        let batches = self.batching.plan(&order, |i| prompts[i].len() + n);
        let bar = self
            .batching
            .bar((prompts.len() * n) as u64, "generate", "tokens");
        for batch in batches {
            let done = self.run_batch(&batch, prompts, &mut out, hooks.as_deref_mut(), &bar)?;
            bar.inc((batch.len() * n) as u64 - done);
        }
        bar.finish_and_clear();
        Ok(out)
    }

    /// Generates for the prompts `batch` (indices into `prompts`), writing into `out`; returns the
    /// number of tokens generated.
    fn run_batch(
        &self,
        batch: &[usize],
        prompts: &[Vec<u32>],
        out: &mut [Generation],
        mut hooks: Option<&mut Hooks>,
        bar: &indicatif::ProgressBar,
    ) -> candle_core::Result<u64> {
        let dev = self.model.device().clone();
        let width = batch.iter().map(|&i| prompts[i].len()).max().unwrap_or(0);
        let mut rows: Vec<Row> = batch
            .iter()
            .map(|&i| Row {
                index: i,
                next_pos: prompts[i].len() as u32,
                key_valid: (0..width).map(|k| k >= width - prompts[i].len()).collect(),
                rng: Rng::for_sequence(self.sampling.seed, i),
                done: false,
            })
            .collect();
        let (mut cache, mut logits) = self.prefill(batch, prompts, width, hooks.as_deref_mut())?;
        let mut generated = 0u64;
        loop {
            let next = self.next_tokens(&logits, &mut rows)?;
            let mut active = 0u64;
            for (r, &tok) in rows.iter_mut().zip(&next) {
                if !r.done {
                    generated += 1;
                    bar.inc(1);
                    r.done = !self.push(&mut out[r.index], tok);
                    active += u64::from(!r.done);
                }
            }
            if active == 0 {
                return Ok(generated);
            }
            let ids = shrink(&mut cache, &mut rows, &next, &dev)?;
            let step = decode_step(&mut rows, &ids, &dev)?;
            logits = self
                .model
                .forward_last(&step, Some(&mut cache), hooks.as_deref_mut())?;
        }
    }

    /// Prefills the prompts `batch` (longest first) in groups of similar length, so short prompts
    /// are not padded to the longest one, and stacks the groups' caches into one left-padded cache
    /// of `width` positions with room for the new tokens. Returns it with the last-position logits.
    fn prefill(
        &self,
        batch: &[usize],
        prompts: &[Vec<u32>],
        width: usize,
        mut hooks: Option<&mut Hooks>,
    ) -> candle_core::Result<(KvCache, Tensor)> {
        let layers = self.model.config().num_layers;
        let room = width + self.opts.max_new_tokens;
        let groups = prefill_groups(batch.iter().map(|&i| prompts[i].len()).collect());
        let (mut caches, mut logits) = (Vec::new(), Vec::new());
        for g in &groups {
            let seqs: Vec<Vec<u32>> = g.clone().map(|r| prompts[batch[r]].clone()).collect();
            let step = Step::left_padded(&seqs, self.opts.pad_id, self.model.device())
                .map_err(candle_core::Error::wrap)?;
            let mut cache = if groups.len() == 1 {
                KvCache::with_capacity(layers, room)
            } else {
                KvCache::new(layers)
            };
            logits.push(
                self.model
                    .forward_last(&step, Some(&mut cache), hooks.as_deref_mut())?,
            );
            caches.push(cache);
        }
        let cache = match caches.len() {
            1 => caches.pop().expect("one group"),
            _ => KvCache::stack(&caches, room)?,
        };
        Ok((cache, Tensor::cat(&logits, 0)?))
    }

    /// The next token of every row from the last-position logits [rows, vocab].
    fn next_tokens(&self, logits: &Tensor, rows: &mut [Row]) -> candle_core::Result<Vec<u32>> {
        if self.sampling.is_greedy() {
            return logits.argmax(candle_core::D::Minus1)?.to_vec1();
        }
        let all: Vec<Vec<f32>> = logits.to_dtype(candle_core::DType::F32)?.to_vec2()?;
        Ok(all
            .iter()
            .zip(rows.iter_mut())
            .map(|(l, r)| self.sampling.choose(l, &mut r.rng))
            .collect())
    }

    /// Appends `tok` to `g` and says whether the sequence goes on.
    fn push(&self, g: &mut Generation, tok: u32) -> bool {
        g.new_ids.push(tok);
        if self.opts.stop_ids.contains(&tok) {
            g.finish = FinishReason::Stop;
            return false;
        }
        if let Some(i) = self.stops.as_ref().and_then(|s| s.find(&g.new_ids)) {
            g.finish = FinishReason::Stop;
            g.stop_string = Some(i);
            return false;
        }
        g.new_ids.len() < self.opts.max_new_tokens
    }
}

/// Rows (of prompts sorted longest first) prefilled together: a new group starts when padding to
/// the group's longest prompt would waste more than a ninth of the work, or the group would
/// exceed `PREFILL_TOKENS` positions.
fn prefill_groups(lens: Vec<usize>) -> Vec<std::ops::Range<usize>> {
    const PREFILL_TOKENS: usize = crate::batching::CPU_FORWARD_POSITIONS;
    let mut out = Vec::new();
    let (mut start, mut sum) = (0, 0);
    for (i, &len) in lens.iter().enumerate() {
        let padded = lens[start] * (i - start + 1);
        if i > start && (8 * padded > 9 * (sum + len) || padded > PREFILL_TOKENS) {
            out.push(start..i);
            (start, sum) = (i, 0);
        }
        sum += len;
    }
    if start < lens.len() {
        out.push(start..lens.len());
    }
    out
}

/// One row of the decode batch: its index in the input and its state.
struct Row {
    index: usize,
    next_pos: u32,
    key_valid: Vec<bool>,
    rng: Rng,
    /// Finished; still in the batch (its tokens are ignored) until `shrink` drops it.
    done: bool,
}

/// Drops finished rows from the batch and the cache once they are a quarter of it (copying the
/// cache of the rows kept costs about as much as a hundred row-steps of decoding, so dropping
/// each row the step it finishes would cost more than it saves); returns the last tokens of the
/// rows kept.
fn shrink(
    cache: &mut KvCache,
    rows: &mut Vec<Row>,
    next: &[u32],
    dev: &Device,
) -> candle_core::Result<Vec<u32>> {
    let done = rows.iter().filter(|r| r.done).count();
    if done == 0 || 4 * done < rows.len() {
        return Ok(next.to_vec());
    }
    let idx: Vec<u32> = (0..rows.len() as u32)
        .filter(|&i| !rows[i as usize].done)
        .collect();
    cache.select_rows(&Tensor::new(idx.as_slice(), dev)?)?;
    rows.retain(|r| !r.done);
    Ok(idx.iter().map(|&i| next[i as usize]).collect())
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
            branches: None,
        },
    })
}
