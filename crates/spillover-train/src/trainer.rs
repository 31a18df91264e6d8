//! The training loop: epochs of seeded shuffles cut into optimizer steps and token-budget
//! micro-batches (padded or packed, see [`Layout`]), gradient accumulation (token-weighted, so a
//! step's loss is the mean over its labelled tokens whatever the micro-batches), global-norm
//! clipping, the learning-rate schedule, AdamW, checkpoints every N steps and exact resume.

use crate::adamw::{clip_factor, AdamW, AdamWConfig};
use crate::batch::{
    collate, collate_packed, group_rows, micro_batches, pack_rows, shuffled, Example,
};
use crate::checkpoint::{self, Progress};
use crate::loss::masked_cross_entropy_hidden;
use crate::params::Trainable;
use crate::schedule::{Decay, Schedule};
use candle_core::Tensor;
use indicatif::{ProgressBar, ProgressStyle};
use spillover_model::linear::DropoutRng;
use spillover_model::Model;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub lr: f64,
    pub warmup_steps: u64,
    pub decay: Decay,
    pub weight_decay: f64,
    pub max_grad_norm: Option<f64>,
    /// Examples per micro-batch (at most). Packed: an optimizer step holds `batch_size ×
    /// grad_accum` examples.
    pub batch_size: usize,
    /// Tokens per micro-batch, i.e. per forward pass, padding included (at most; one long example
    /// or row may exceed it alone). It bounds training's memory. Padded: it can also cut a
    /// micro-batch short of `batch_size` examples, and so shorten a step.
    pub token_budget: usize,
    /// Micro-batches per optimizer step (padded); packed: a factor of the step's examples.
    pub grad_accum: usize,
    pub seed: u64,
    /// Save a checkpoint every N optimizer steps (and at the end).
    pub checkpoint_every: Option<u64>,
}

/// What the loop needs besides the model: where checkpoints go and whether to show progress.
pub struct RunOptions {
    pub checkpoint_dir: Option<PathBuf>,
    /// Continue from the newest checkpoint in `checkpoint_dir` when there is one.
    pub resume: bool,
    pub progress: bool,
    /// Identifies the data and config; a checkpoint from another setup is refused.
    pub setup_hash: String,
    /// Stop (as if killed) after this many optimizer steps — for tests of resume.
    pub stop_after: Option<u64>,
    pub pad_id: u32,
}

/// The default `TrainConfig::token_budget` of `spillover train` and of the pipeline's training
/// stage: tokens per forward pass (rows × row length, padding included). Autograd keeps every
/// activation of a forward pass until its backward pass, so this, not the optimizer step, sets
/// training's memory (the loss's [positions, vocabulary] logits are computed a chunk at a time,
/// so the vocabulary does not). Chosen from measured peak memory (docs/performance.md, "Training
/// memory").
pub const DEFAULT_TOKEN_BUDGET: usize = 256;

/// How the examples of an optimizer step are laid out in its forward passes. Both layouts give
/// the same loss and gradients up to rounding (tests/packing.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// One example per row, left-padded to the micro-batch's longest (the layout of PyTorch's
    /// training and of `bench train`). Steps: micro-batches of at most `batch_size` examples within
    /// `token_budget` (rows × longest), `grad_accum` of them per step.
    Padded,
    /// Several examples per row (`batch::pack_rows`): each step's `batch_size × grad_accum`
    /// examples (consecutive in the epoch's order) go into rows of at most `row_tokens` tokens —
    /// at least the step's longest example — and consecutive rows into micro-batches of at most
    /// `token_budget` tokens (rows × longest row). Row length sets the attention's cost and memory
    /// per token (every row attends over its whole length, masked), the budget the rest.
    Packed { row_tokens: usize },
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TrainReport {
    pub steps: u64,
    pub losses: Vec<f64>,
    /// Labelled tokens (those that carry loss) trained on by this process.
    pub trained_tokens: usize,
    /// `trained_tokens` per second of the training loop.
    pub tokens_per_second: f64,
    pub resumed_from: Option<u64>,
    /// Every real token the forward passes processed (padding excluded).
    #[serde(default)]
    pub processed_tokens: usize,
    /// `processed_tokens` per second of the training loop (what `bench train` measures).
    #[serde(default)]
    pub processed_tokens_per_second: f64,
    /// Positions computed, padding included (rows × row length summed over forward passes).
    #[serde(default)]
    pub padded_tokens: usize,
    /// Seconds of the training loop (this process).
    #[serde(default)]
    pub seconds: f64,
}

/// One optimizer step: its micro-batches, each a list of rows of example indices (a padded
/// micro-batch has one example per row).
type StepPlan = Vec<Vec<Vec<usize>>>;

/// The optimizer steps of the whole run.
fn plan(examples: &[Example], cfg: &TrainConfig, layout: Layout) -> Vec<StepPlan> {
    let lens: Vec<usize> = examples.iter().map(|e| e.ids.len()).collect();
    let mut steps = Vec::new();
    let budget = cfg.token_budget.max(1);
    for epoch in 0..cfg.epochs {
        let order = shuffled(examples.len(), cfg.seed.wrapping_add(epoch as u64));
        match layout {
            Layout::Padded => {
                let mbs = micro_batches(&order, &lens, cfg.batch_size.max(1), budget);
                steps.extend(mbs.chunks(cfg.grad_accum.max(1)).map(|c| {
                    c.iter()
                        .map(|mb| mb.iter().map(|&i| vec![i]).collect())
                        .collect()
                }));
            }
            Layout::Packed { row_tokens } => {
                let per_step = cfg.batch_size.max(1) * cfg.grad_accum.max(1);
                steps.extend(order.chunks(per_step).map(|step| {
                    let longest = step.iter().map(|&i| lens[i]).max().unwrap_or(0);
                    let rows = pack_rows(step, &lens, row_tokens.max(longest));
                    group_rows(rows, &lens, budget)
                }));
            }
        }
    }
    steps
}

/// Trains with the padded layout (see `train_with`).
pub fn train(
    model: &mut Model,
    trainable: &Trainable,
    examples: &[Example],
    cfg: &TrainConfig,
    run: &RunOptions,
) -> candle_core::Result<TrainReport> {
    train_with(model, trainable, examples, cfg, run, Layout::Padded)
}

/// Trains `trainable` on `examples`, laying each step's examples out as `layout` says.
pub fn train_with(
    model: &mut Model,
    trainable: &Trainable,
    examples: &[Example],
    cfg: &TrainConfig,
    run: &RunOptions,
    layout: Layout,
) -> candle_core::Result<TrainReport> {
    let steps = plan(examples, cfg, layout);
    let schedule = Schedule {
        peak_lr: cfg.lr,
        warmup_steps: cfg.warmup_steps,
        total_steps: steps.len() as u64,
        decay: cfg.decay,
    };
    let adam = AdamWConfig {
        lr: cfg.lr,
        weight_decay: cfg.weight_decay,
        ..AdamWConfig::default()
    };
    let mut opt = AdamW::new(trainable.vars.clone(), adam)?;
    let rng = set_training(model, cfg.seed, true);
    let mut progress = Progress {
        step: 0,
        losses: vec![],
        dropout_rng: Some(rng.state()),
        setup_hash: run.setup_hash.clone(),
    };
    let resumed_from = resume(run, &trainable.names, &mut opt, &mut progress, &rng)?;
    let bar = progress_bar(run.progress, steps.len() as u64, progress.step);
    let start = Instant::now();
    let mut count = Counts::default();
    for (k, step_batches) in steps.iter().enumerate().skip(progress.step as usize) {
        let (loss, grads) = accumulate(
            model,
            &opt,
            examples,
            step_batches,
            layout,
            run.pad_id,
            &mut count,
        )?;
        let (_norm, clip) = clip_factor(&grads, cfg.max_grad_norm)?;
        opt.step(&grads, schedule.lr(k as u64), clip)?;
        progress.step = k as u64 + 1;
        progress.losses.push(loss);
        progress.dropout_rng = Some(rng.state());
        let tps = count.real as f64 / start.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!("loss {loss:.4}  {tps:.0} tok/s"));
        bar.inc(1);
        let last = progress.step == steps.len() as u64;
        let due = cfg
            .checkpoint_every
            .is_some_and(|n| n > 0 && progress.step.is_multiple_of(n));
        if let Some(dir) = run.checkpoint_dir.as_ref().filter(|_| due || last) {
            checkpoint::save(dir, &trainable.names, &opt, &progress)?;
        }
        if run.stop_after.is_some_and(|s| progress.step >= s) {
            break;
        }
    }
    bar.finish_and_clear();
    set_training(model, cfg.seed, false);
    detach(model);
    let secs = start.elapsed().as_secs_f64().max(1e-9);
    Ok(TrainReport {
        steps: progress.step,
        losses: progress.losses,
        trained_tokens: count.loss,
        tokens_per_second: count.loss as f64 / secs,
        resumed_from,
        processed_tokens: count.real,
        processed_tokens_per_second: count.real as f64 / secs,
        padded_tokens: count.padded,
        seconds: secs,
    })
}

/// Tokens of the forward passes run so far.
#[derive(Default)]
struct Counts {
    /// Labelled (loss) tokens.
    loss: usize,
    /// Real tokens.
    real: usize,
    /// Positions, padding included.
    padded: usize,
}

/// Loss (token mean over the step) and token-weighted accumulated gradients of one optimizer step.
fn accumulate(
    model: &Model,
    opt: &AdamW,
    examples: &[Example],
    mbs: &StepPlan,
    layout: Layout,
    pad: u32,
    count: &mut Counts,
) -> candle_core::Result<(f64, Vec<Tensor>)> {
    let dev = model.device().clone();
    let batches = mbs
        .iter()
        .map(|mb| {
            let rows: Vec<Vec<&Example>> = mb
                .iter()
                .map(|r| r.iter().map(|&i| &examples[i]).collect())
                .collect();
            match layout {
                Layout::Padded => collate(&rows.concat(), pad, &dev),
                Layout::Packed { .. } => collate_packed(&rows, pad, &dev),
            }
        })
        .collect::<candle_core::Result<Vec<_>>>()?;
    let total: usize = batches.iter().map(|b| b.target_tokens).sum();
    let mut sum: Option<Vec<Tensor>> = None;
    let mut loss_sum = 0.0;
    for b in batches.iter().filter(|b| b.target_tokens > 0) {
        count.real += b.tokens;
        count.padded += b.labels.len() * b.step.mask.t;
        let w = b.target_tokens as f64 / total.max(1) as f64;
        let hidden = model.forward_hidden(&b.step, None, None)?;
        let loss = masked_cross_entropy_hidden(model, &hidden, &b.labels)?;
        if !loss.track_op() {
            candle_core::bail!(
                "no trainable tensor takes part in the loss: the model does not use these \
                 variables (training detaches them when it ends; make a new Trainable to train \
                 the model again)"
            );
        }
        loss_sum += w * loss.to_scalar::<f32>()? as f64;
        let g = opt.grads_of(&loss.backward()?)?;
        sum = Some(match sum {
            None => g
                .iter()
                .map(|t| t * w)
                .collect::<candle_core::Result<_>>()?,
            Some(acc) => acc
                .iter()
                .zip(&g)
                .map(|(a, t)| a + (t * w)?)
                .collect::<candle_core::Result<_>>()?,
        });
    }
    let grads = match sum {
        Some(g) => g,
        None => opt
            .vars
            .iter()
            .map(|v| v.as_tensor().zeros_like())
            .collect::<candle_core::Result<_>>()?,
    };
    count.loss += total;
    Ok((loss_sum, grads))
}

/// Restores the newest checkpoint when asked; returns the step it resumed from.
fn resume(
    run: &RunOptions,
    names: &[String],
    opt: &mut AdamW,
    progress: &mut Progress,
    rng: &DropoutRng,
) -> candle_core::Result<Option<u64>> {
    let Some(dir) = run.checkpoint_dir.as_ref().filter(|_| run.resume) else {
        return Ok(None);
    };
    let Some(latest) = checkpoint::latest(dir) else {
        return Ok(None);
    };
    let saved = checkpoint::restore(&latest, names, opt)?;
    if saved.setup_hash != run.setup_hash {
        candle_core::bail!(
            "{}: this checkpoint belongs to another training setup (data, config or seed changed); \
             remove the folder or train without --resume",
            latest.display()
        );
    }
    if let Some(s) = saved.dropout_rng {
        rng.set_state(s);
    }
    *progress = saved;
    Ok(Some(progress.step))
}

/// Switches LoRA dropout on (with one shared stream seeded from `seed`) or off.
fn set_training(model: &mut Model, seed: u64, on: bool) -> DropoutRng {
    let rng = DropoutRng::new(seed ^ 0x0D20_9A7E);
    for (_, lin) in model.linears_mut() {
        if let Some(l) = lin.lora.as_mut() {
            l.training = on;
            l.rng = Some(rng.clone());
        }
    }
    rng
}

/// After training the model holds its trained tensors as plain constants again, so inference takes
/// the fast paths (fused kernels, no autograd bookkeeping). The storage is shared, not copied.
fn detach(model: &mut Model) {
    for (_, lin) in model.linears_mut() {
        lin.weight = lin.weight.detach();
        if let Some(l) = lin.lora.as_mut() {
            l.a = l.a.detach();
            l.b = l.b.detach();
        }
    }
}

fn progress_bar(show: bool, total: u64, done: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "training {bar:30} {pos}/{len} steps  {msg}  [{elapsed} < {eta}]",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_position(done);
    bar
}
