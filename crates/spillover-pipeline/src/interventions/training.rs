//! The training interventions: LoRA SFT and full fine-tuning on the refusal set, resumable from
//! checkpoints kept in the stage's work folder.

use crate::config::{InterventionKind, InterventionSection};
use crate::error::ConfigError;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use spillover_model::lora::{add_lora, LoraConfig};
use spillover_model::LoadedModel;
use spillover_train::data::{check_loss_tokens, read_jsonl, Encoder, LossOn};
use spillover_train::schedule::Decay;
use spillover_train::trainer::{
    train_with, Layout, RunOptions, TrainConfig, TrainReport, DEFAULT_TOKEN_BUDGET,
};
use spillover_train::Trainable;
use std::path::Path;

/// LoRA settings of the default experiment: the attention projections.
pub const DEFAULT_LORA: &str = "r=8,alpha=16,targets=q_proj,k_proj,v_proj,o_proj";

/// The resolved training settings (defaults filled in), part of the stage's inputs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainSettings {
    /// `lora_sft` or `full_ft`.
    pub method: InterventionKind,
    pub lora: Option<String>,
    pub full_targets: Option<String>,
    pub train: TrainConfig,
    /// How a step's examples are laid out in forward passes (packed rows).
    pub layout: Layout,
    pub max_len: usize,
}

impl TrainSettings {
    /// Fills defaults for `section` (for `interpolate`, the settings of its `from` method).
    pub fn resolve(section: &InterventionSection, seed: u64) -> TrainSettings {
        let method = match section.kind {
            InterventionKind::Interpolate => section.from.unwrap_or(InterventionKind::LoraSft),
            k => k,
        };
        let full = method == InterventionKind::FullFt;
        let per_step = section.batch_size.unwrap_or(8).max(1);
        let max_len = 256;
        TrainSettings {
            method,
            lora: (!full).then(|| section.lora.clone().unwrap_or_else(|| DEFAULT_LORA.into())),
            full_targets: full
                .then(|| section.full_targets.clone().unwrap_or_else(|| "all".into())),
            train: TrainConfig {
                epochs: section.epochs.unwrap_or(3),
                lr: section.lr.unwrap_or(if full { 1e-5 } else { 2e-4 }),
                warmup_steps: 0,
                decay: Decay::Linear,
                weight_decay: 0.0,
                max_grad_norm: Some(1.0),
                batch_size: per_step,
                // Each step's examples are packed into rows of up to max_len tokens, and the rows
                // into forward passes of at most this many tokens (spillover train's default).
                token_budget: DEFAULT_TOKEN_BUDGET,
                grad_accum: 1,
                seed,
                checkpoint_every: Some(5),
            },
            layout: Layout::Packed {
                row_tokens: max_len,
            },
            max_len,
        }
    }
}

/// What training produced (the stage summary).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainSummary {
    pub examples: usize,
    pub truncated: usize,
    /// Why some examples train nothing (no loss token left), when some do.
    #[serde(default)]
    pub warnings: Vec<String>,
    pub trainable_values: usize,
    pub report: TrainReport,
}

/// Training's token throughput, as `results.json` reports it with the training stage's timing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Throughput {
    /// Every real token of the forward passes (padding excluded), and per second of training.
    pub tokens: usize,
    pub tokens_per_second: f64,
    /// The labelled tokens (those that carry loss), and per second.
    pub loss_tokens: usize,
    pub loss_tokens_per_second: f64,
    /// Positions computed, padding included.
    pub padded_tokens: usize,
    /// Seconds of the training loop (without loading and saving).
    pub seconds: f64,
}

impl Throughput {
    /// From a training stage's summary (`TrainSummary` as JSON); `None` for other stages and for
    /// summaries written before these counts were kept.
    pub fn of(summary: &serde_json::Value) -> Option<Throughput> {
        let r: TrainReport = serde_json::from_value(summary.get("report")?.clone()).ok()?;
        (r.processed_tokens > 0).then_some(Throughput {
            tokens: r.processed_tokens,
            tokens_per_second: r.processed_tokens_per_second,
            loss_tokens: r.trained_tokens,
            loss_tokens_per_second: r.tokens_per_second,
            padded_tokens: r.padded_tokens,
            seconds: r.seconds,
        })
    }
}

/// Trains `lm` on `data` (JSONL prompt/completion) and writes the adapter (PEFT) or the
/// fine-tuned weights into `out`. Checkpoints go to `work` so a killed run resumes exactly.
pub fn train_intervention(
    lm: &mut LoadedModel,
    model_spec: &str,
    data: &Path,
    s: &TrainSettings,
    out: &Path,
    work: &Path,
    progress: bool,
) -> Result<TrainSummary> {
    let records = read_jsonl(data)?;
    // Never past the model's context (positions it does not have).
    let max_len = s.max_len.min(lm.model.config().max_positions);
    let enc = Encoder {
        tokenizer: lm.tokenizer()?,
        chat: lm.chat.as_ref(),
        loss_on: LossOn::Completion,
        max_len,
    };
    let (examples, truncated) = enc.encode_all(&records)?;
    let knob = "the training length (256 tokens, or the model's context)";
    let no_loss = check_loss_tokens(&examples, max_len, data, knob)?;
    if let Some(w) = &no_loss {
        eprintln!("warning: {w}");
    }
    let lora = match &s.lora {
        Some(spec) => {
            Some(LoraConfig::parse(spec).map_err(|e| ConfigError::new("intervention.lora", e))?)
        }
        None => None,
    };
    let trainable = match (&lora, &s.full_targets) {
        (Some(cfg), _) => {
            add_lora(&mut lm.model, cfg, s.train.seed)?;
            Trainable::lora(&mut lm.model)?
        }
        (None, Some(targets)) => {
            let targets: Vec<String> = targets.split(',').map(|t| t.trim().to_string()).collect();
            let all = targets.iter().any(|t| t == "all");
            let t = Trainable::full(&mut lm.model, |name| {
                all || targets
                    .iter()
                    .any(|t| name == t || name.ends_with(&format!(".{t}")))
            })?;
            if t.count() == 0 {
                return Err(ConfigError::new(
                    "intervention.full_targets",
                    "matches no linear layer of the model",
                )
                .into());
            }
            t
        }
        (None, None) => unreachable!("TrainSettings::resolve sets lora or full_targets"),
    };
    let run = RunOptions {
        checkpoint_dir: Some(work.join("checkpoints")),
        resume: true,
        progress,
        setup_hash: crate::config::digest(&(s, model_spec, spillover_data::sha256_file(data)?.0))
            [..16]
            .to_string(),
        stop_after: None,
        pad_id: lm.pad_id(),
    };
    let report = train_with(
        &mut lm.model,
        &trainable,
        &examples,
        &s.train,
        &run,
        s.layout,
    )?;
    crate::adapters::save_trained(lm, lora.as_ref(), &trainable, model_spec, out)?;
    Ok(TrainSummary {
        examples: examples.len(),
        truncated,
        warnings: no_loss.into_iter().collect(),
        trainable_values: trainable.count(),
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_holds_the_configured_examples_packed() {
        let section = InterventionSection {
            batch_size: Some(8),
            ..InterventionSection::default()
        };
        let s = TrainSettings::resolve(&section, 0);
        let t = &s.train;
        // Packed: a step is batch_size × grad_accum consecutive examples, whatever the budget.
        assert_eq!((t.batch_size, t.grad_accum), (8, 1));
        assert_eq!(
            s.layout,
            Layout::Packed {
                row_tokens: s.max_len
            }
        );
        // One longest row fits the budget, so no row is ever over it.
        assert!(s.max_len <= t.token_budget);
    }

    #[test]
    fn throughput_comes_from_the_training_report() {
        let report = TrainReport {
            steps: 2,
            losses: vec![1.0, 0.5],
            trained_tokens: 30,
            tokens_per_second: 3.0,
            resumed_from: None,
            processed_tokens: 100,
            processed_tokens_per_second: 10.0,
            padded_tokens: 120,
            seconds: 10.0,
        };
        let summary = TrainSummary {
            examples: 4,
            truncated: 0,
            warnings: vec![],
            trainable_values: 8,
            report,
        };
        let t = Throughput::of(&serde_json::to_value(&summary).unwrap()).unwrap();
        assert_eq!((t.tokens, t.loss_tokens, t.padded_tokens), (100, 30, 120));
        assert_eq!((t.tokens_per_second, t.loss_tokens_per_second), (10.0, 3.0));
        // A direction stage's summary has no training report.
        assert!(Throughput::of(&serde_json::json!({"layer": 3})).is_none());
    }
}
