//! The LoRA training-speed benchmark: the same batch, model and adapter in Spillover and in
//! PyTorch + PEFT (tools/bench_train_peft.py, run in the same invocation), tokens per second and
//! their ratio. Nothing here asserts a time: it measures and reports.

use crate::trainer::{train, RunOptions, TrainConfig};
use crate::{batch::Example, schedule::Decay, Trainable};
use spillover_model::lora::{add_lora, LoraConfig};
use spillover_model::Model;
use std::time::Instant;

#[derive(Clone, Debug, serde::Serialize)]
pub struct TrainBench {
    pub batch: usize,
    pub seq_len: usize,
    pub steps: usize,
    pub seconds: f64,
    pub tokens_per_second: f64,
    pub losses: Vec<f64>,
}

/// Deterministic token ids for the benchmark batch (the Python side reads the same ids).
pub fn bench_batch(batch: usize, seq_len: usize, vocab: usize) -> Vec<Vec<u32>> {
    (0..batch)
        .map(|i| {
            (0..seq_len)
                .map(|j| (100 + (i * 7919 + j * 104_729) % (vocab - 200)) as u32)
                .collect()
        })
        .collect()
}

/// Times `steps` LoRA optimizer steps (after one untimed warm-up step) with the loss on every token.
pub fn bench_lora(
    model: &mut Model,
    ids: &[Vec<u32>],
    lora: &LoraConfig,
    steps: usize,
) -> candle_core::Result<TrainBench> {
    add_lora(model, lora, 0).map_err(candle_core::Error::wrap)?;
    let examples: Vec<Example> = ids
        .iter()
        .map(|s| Example {
            ids: s.clone(),
            labels: s.iter().map(|&t| t as i64).collect(),
        })
        .collect();
    let cfg = |epochs| TrainConfig {
        epochs,
        lr: 1e-4,
        warmup_steps: 0,
        decay: Decay::Constant,
        weight_decay: 0.0,
        max_grad_norm: None,
        batch_size: ids.len(),
        token_budget: usize::MAX,
        grad_accum: 1,
        seed: 0,
        checkpoint_every: None,
    };
    let run = RunOptions {
        checkpoint_dir: None,
        resume: false,
        progress: false,
        setup_hash: String::new(),
        stop_after: None,
        pad_id: 0,
    };
    // Training ends by detaching the adapter from its variables, so each run gets its own.
    let warm_up = Trainable::lora(model)?;
    train(model, &warm_up, &examples, &cfg(1), &run)?;
    let trainable = Trainable::lora(model)?;
    let start = Instant::now();
    let report = train(model, &trainable, &examples, &cfg(steps), &run)?;
    let seconds = start.elapsed().as_secs_f64();
    let tokens = ids.len() * ids[0].len() * steps;
    Ok(TrainBench {
        batch: ids.len(),
        seq_len: ids[0].len(),
        steps,
        seconds,
        tokens_per_second: tokens as f64 / seconds,
        losses: report.losses,
    })
}
