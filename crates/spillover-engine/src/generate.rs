//! Batched generation over left-padded prompts with a KV cache: greedy or seeded sampling, and
//! per-sequence stopping on stop ids, stop strings and `max_new_tokens`. Finished sequences leave
//! the batch (their cache rows are dropped) once they are a quarter of it, so they stop costing
//! compute without a copy of the whole cache every time one ends. Prompts are batched by a token
//! budget, longest first; results come back in input order.

use crate::batching::Batching;
use crate::prefill_plan::{prefill_groups, shared_prefix};
use crate::sampling::{sequence_rng, Rng, Sampling};
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
        let context = self.model.config().max_positions;
        if let Some(i) = prompts.iter().position(|p| p.len() > context) {
            candle_core::bail!(
                "prompt {i} has {} tokens, more than the model's context of {context} positions",
                prompts[i].len()
            );
        }
        // A sequence stops at the model's context (finish reason `length`), whatever
        // max_new_tokens asks: positions past the context do not exist (learned position tables)
        // or were never trained (rotary).
        let budgets: Vec<usize> = prompts
            .iter()
            .map(|p| self.opts.max_new_tokens.min(context - p.len()))
            .collect();
        let mut order: Vec<usize> = (0..prompts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(prompts[i].len()));
        let n = self.opts.max_new_tokens;
        let batches = self.batching.plan(&order, |i| prompts[i].len() + n);
        let bar = self
            .batching
            .bar((prompts.len() * n) as u64, "generate", "tokens");
        for batch in batches {
            // A prompt that fills the context gets no token (finish reason `length`).
            let (todo, skip): (Vec<usize>, Vec<usize>) =
                batch.into_iter().partition(|&i| budgets[i] > 0);
            bar.inc((skip.len() * n) as u64);
            if todo.is_empty() {
                continue;
            }
            let batch = todo;
            let done = self.run_batch(
                &batch,
                prompts,
                &budgets,
                &mut out,
                hooks.as_deref_mut(),
                &bar,
            )?;
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
        budgets: &[usize],
        out: &mut [Generation],
        mut hooks: Option<&mut Hooks>,
        bar: &indicatif::ProgressBar,
    ) -> candle_core::Result<u64> {
        let last_pos = self.model.config().max_positions as u32 - 1;
        let dev = self.model.device().clone();
        let (mut cache, mut logits, key_valid) =
            self.prefill(batch, prompts, hooks.as_deref_mut())?;
        let mut rows: Vec<Row> = batch
            .iter()
            .zip(key_valid)
            .map(|(&i, key_valid)| Row {
                index: i,
                next_pos: prompts[i].len() as u32,
                key_valid,
                rng: sequence_rng(self.sampling.seed, i),
                done: false,
            })
            .collect();
        let mut generated = 0u64;
        loop {
            let next = self.next_tokens(&logits, &mut rows)?;
            let mut active = 0u64;
            for (r, &tok) in rows.iter_mut().zip(&next) {
                if !r.done {
                    generated += 1;
                    bar.inc(1);
                    r.done = !self.push(&mut out[r.index], tok, budgets[r.index]);
                    active += u64::from(!r.done);
                }
            }
            if active == 0 {
                return Ok(generated);
            }
            let ids = shrink(&mut cache, &mut rows, &next)?;
            let step = decode_step(&mut rows, &ids, last_pos, &dev)?;
            logits = self
                .model
                .forward_last(&step, Some(&mut cache), hooks.as_deref_mut())?;
        }
    }

    /// Prefills the prompts `batch` (longest first) in groups of similar length, so short prompts
    /// are not padded to the longest one, and stacks the groups' caches into one left-padded cache
    /// with room for the new tokens. A prefix that every prompt shares (a chat template's system
    /// prompt) is computed once and its keys and values copied to every row, unless hooks watch
    /// the forward (they would see it once instead of once per row) or the model has
    /// sliding-window layers. Returns the cache, the last-position logits and each row's valid
    /// keys.
    fn prefill(
        &self,
        batch: &[usize],
        prompts: &[Vec<u32>],
        mut hooks: Option<&mut Hooks>,
    ) -> candle_core::Result<(KvCache, Tensor, Vec<Vec<bool>>)> {
        let (dev, pad) = (self.model.device(), self.opts.pad_id);
        let layers = self.model.config().num_layers;
        let width = batch.iter().map(|&i| prompts[i].len()).max().unwrap_or(0);
        let room = width + self.opts.max_new_tokens;
        // Masks measure sliding windows in cache slots, which the padding between a shared
        // prefix and each row's tail would stretch: such models prefill every row whole.
        let windowed = self.model.config().sliding_window.is_some();
        let shared = match hooks {
            None if !windowed => shared_prefix(batch.iter().map(|&i| prompts[i].as_slice())),
            _ => 0,
        };
        let mut prefix = KvCache::new(layers);
        if shared > 0 {
            let step = Step::left_padded(&[prompts[batch[0]][..shared].to_vec()], pad, dev)
                .map_err(candle_core::Error::wrap)?;
            self.model.forward_last(&step, Some(&mut prefix), None)?;
        }
        let groups = prefill_groups(batch.iter().map(|&i| prompts[i].len() - shared).collect());
        let (mut caches, mut logits, mut valid) = (Vec::new(), Vec::new(), Vec::new());
        for g in &groups {
            let seqs: Vec<Vec<u32>> = g
                .clone()
                .map(|r| prompts[batch[r]][shared..].to_vec())
                .collect();
            let step = Step::left_padded_after(&seqs, shared, pad, dev)
                .map_err(candle_core::Error::wrap)?;
            let mut cache = if shared > 0 {
                let mut c = prefix.clone();
                c.select_rows(&vec![0; seqs.len()])?;
                c
            } else {
                KvCache::new(layers)
            };
            if groups.len() == 1 {
                cache.reserve(room);
            }
            logits.push(
                self.model
                    .forward_last(&step, Some(&mut cache), hooks.as_deref_mut())?,
            );
            caches.push(cache);
            valid.extend(step.mask.key_valid);
        }
        let cache = match caches.len() {
            1 => caches.pop().expect("one group"),
            _ => KvCache::stack(&caches, room)?,
        };
        // Stacking left-pads the shorter groups' caches to the longest.
        for v in &mut valid {
            v.splice(0..0, std::iter::repeat_n(false, width - v.len()));
        }
        Ok((cache, Tensor::cat(&logits, 0)?, valid))
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

    /// Appends `tok` to `g` and says whether the sequence goes on (at most `budget` tokens).
    fn push(&self, g: &mut Generation, tok: u32, budget: usize) -> bool {
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
        g.new_ids.len() < budget
    }
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
fn shrink(cache: &mut KvCache, rows: &mut Vec<Row>, next: &[u32]) -> candle_core::Result<Vec<u32>> {
    let done = rows.iter().filter(|r| r.done).count();
    if done == 0 || 4 * done < rows.len() {
        return Ok(next.to_vec());
    }
    let idx: Vec<u32> = (0..rows.len() as u32)
        .filter(|&i| !rows[i as usize].done)
        .collect();
    cache.select_rows(&idx)?;
    rows.retain(|r| !r.done);
    Ok(idx.iter().map(|&i| next[i as usize]).collect())
}

/// The one-token step that feeds each row's last token at its next position. Rows that are
/// done (still in the batch, outputs ignored) may have run past the context: their position is
/// held at `last_pos` so the position table is never indexed out of range.
fn decode_step(
    rows: &mut [Row],
    ids: &[u32],
    last_pos: u32,
    dev: &Device,
) -> candle_core::Result<Step> {
    let past = rows[0].key_valid.len();
    let mut positions = Vec::with_capacity(rows.len());
    let mut valid = Vec::with_capacity(rows.len());
    for r in rows.iter_mut() {
        positions.push(vec![r.next_pos.min(last_pos)]);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #22, case 5: `generate --model tiny-gpt2 --max-new-tokens 1000` crashed with
    /// "index-select invalid index 256", and tiny-llama generated past its 256 positions.
    #[test]
    fn generation_stops_at_the_context_with_finish_reason_length() {
        for name in ["tiny-gpt2", "tiny-llama"] {
            let lm = spillover_model::load(name, &Default::default()).unwrap();
            let opts = GenerateOptions {
                max_new_tokens: 1000,
                stop_ids: vec![],
                pad_id: 0,
            };
            // One long prompt that reaches the context while four short ones go on in the same
            // batch (the finished row stays in it, as a quarter of the batch is not yet done).
            let long: Vec<u32> = (0..250).map(|i| 10 + i % 200).collect();
            let short: Vec<u32> = vec![5, 6, 7];
            let prompts = vec![long, short.clone(), short.clone(), short.clone(), short];
            let gens = Generator::new(&lm.model, &opts)
                .run(&prompts, None)
                .unwrap();
            for (p, g) in prompts.iter().zip(&gens) {
                assert_eq!(p.len() + g.new_ids.len(), 256, "{name}");
                assert_eq!(g.finish, FinishReason::Length, "{name}");
            }
            // A prompt that fills the context gets nothing; a longer one is an error.
            let full = vec![vec![9u32; 256]];
            let g = Generator::new(&lm.model, &opts).run(&full, None).unwrap();
            assert!(g[0].new_ids.is_empty() && g[0].finish == FinishReason::Length);
            let e = Generator::new(&lm.model, &opts)
                .run(&[vec![9u32; 257]], None)
                .unwrap_err()
                .to_string();
            assert!(e.contains("context of 256"), "{e}");
        }
    }

    #[test]
    fn prefill_with_a_shared_prefix_pads_between_prefix_and_tail() {
        let lm = spillover_model::load("tiny-llama", &Default::default()).unwrap();
        let opts = GenerateOptions {
            max_new_tokens: 3,
            stop_ids: vec![],
            pad_id: 0,
        };
        let prefix: Vec<u32> = (20..30).collect();
        let prompts = vec![
            [&prefix[..], &[1, 2, 3, 4, 5]].concat(),
            [&prefix[..], &[6, 7, 8, 9]].concat(),
        ];
        let g = Generator::new(&lm.model, &opts);
        let (cache, logits, valid) = g.prefill(&[0, 1], &prompts, None).unwrap();
        // Tails of 5 and 4 tokens are prefilled together (one group).
        assert_eq!(cache.len(), 15);
        assert_eq!(valid[0], vec![true; 15]);
        let mut short = vec![true; 10];
        short.extend([false, true, true, true, true]);
        assert_eq!(
            valid[1], short,
            "padding sits between the prefix and the tail"
        );
        // The same logits as each prompt alone (no prefix shared).
        for (i, p) in prompts.iter().enumerate() {
            let (_, alone, _) = g.prefill(&[0], std::slice::from_ref(p), None).unwrap();
            let d = (logits.get(i).unwrap() - alone.get(0).unwrap())
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(d < 1e-4, "prompt {i}: max |Δ logit| {d}");
        }
    }
}
