//! The training loop: epochs of seeded shuffles cut into token-budget micro-batches, gradient
//! accumulation (token-weighted, so a step's loss is the mean over its labelled tokens), global-norm
//! clipping, the learning-rate schedule, AdamW, checkpoints every N steps and exact resume.

use crate::adamw::{clip_factor, AdamW, AdamWConfig};
use crate::batch::{collate, micro_batches, shuffled, Example};
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
    /// Examples per micro-batch (at most).
    pub batch_size: usize,
    /// Padded tokens per micro-batch (at most; one long example may exceed it alone).
    pub token_budget: usize,
    /// Micro-batches per optimizer step.
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

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TrainReport {
    pub steps: u64,
    pub losses: Vec<f64>,
    pub trained_tokens: usize,
    pub tokens_per_second: f64,
    pub resumed_from: Option<u64>,
}

/// The optimizer steps of the whole run: each a list of micro-batches (lists of example indices).
fn plan(examples: &[Example], cfg: &TrainConfig) -> Vec<Vec<Vec<usize>>> {
    let lens: Vec<usize> = examples.iter().map(|e| e.ids.len()).collect();
    let mut steps = Vec::new();
    for epoch in 0..cfg.epochs {
        let order = shuffled(examples.len(), cfg.seed.wrapping_add(epoch as u64));
        let mbs = micro_batches(
            &order,
            &lens,
            cfg.batch_size.max(1),
            cfg.token_budget.max(1),
        );
        steps.extend(
            mbs.chunks(cfg.grad_accum.max(1))
                .map(<[Vec<usize>]>::to_vec),
        );
    }
    steps
}

pub fn train(
    model: &mut Model,
    trainable: &Trainable,
    examples: &[Example],
    cfg: &TrainConfig,
    run: &RunOptions,
) -> candle_core::Result<TrainReport> {
    let steps = plan(examples, cfg);
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
    let (start, mut tokens) = (Instant::now(), 0usize);
    for (k, step_batches) in steps.iter().enumerate().skip(progress.step as usize) {
        let (loss, grads, n) = accumulate(model, &opt, examples, step_batches, run.pad_id)?;
        let (_norm, clip) = clip_factor(&grads, cfg.max_grad_norm)?;
        opt.step(&grads, schedule.lr(k as u64), clip)?;
        tokens += n;
        progress.step = k as u64 + 1;
        progress.losses.push(loss);
        progress.dropout_rng = Some(rng.state());
        let tps = tokens as f64 / start.elapsed().as_secs_f64().max(1e-9);
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
        trained_tokens: tokens,
        tokens_per_second: tokens as f64 / secs,
        resumed_from,
    })
}

/// Loss (token mean over the step) and token-weighted accumulated gradients of one optimizer step.
fn accumulate(
    model: &Model,
    opt: &AdamW,
    examples: &[Example],
    mbs: &[Vec<usize>],
    pad: u32,
) -> candle_core::Result<(f64, Vec<Tensor>, usize)> {
    let dev = model.device().clone();
    let batches = mbs
        .iter()
        .map(|mb| {
            collate(
                &mb.iter().map(|&i| &examples[i]).collect::<Vec<_>>(),
                pad,
                &dev,
            )
        })
        .collect::<candle_core::Result<Vec<_>>>()?;
    let total: usize = batches.iter().map(|b| b.target_tokens).sum();
    let mut sum: Option<Vec<Tensor>> = None;
    let mut loss_sum = 0.0;
    for b in batches.iter().filter(|b| b.target_tokens > 0) {
        let w = b.target_tokens as f64 / total.max(1) as f64;
        let hidden = model.forward_hidden(&b.step, None, None)?;
        let loss = masked_cross_entropy_hidden(model, &hidden, &b.labels)?;
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
    Ok((loss_sum, grads, total))
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
