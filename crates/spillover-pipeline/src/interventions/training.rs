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
use spillover_train::trainer::{train, RunOptions, TrainConfig, TrainReport};
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
        let micro = micro_batch(per_step);
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
                batch_size: micro,
                token_budget: 4096,
                grad_accum: per_step / micro,
                seed,
                checkpoint_every: Some(5),
            },
            max_len: 256,
        }
    }
}

/// Most examples in one micro-batch of an optimizer step.
///
/// Autograd keeps every activation of a micro-batch until its backward pass, so the micro-batch,
/// not the step, sets training's memory: the default experiment's 8-example steps peaked at 5.0 GB
/// RSS as one micro-batch and at 1.7 GB as four of 2, in the same time and with the same losses
/// to 1e-6 (gradients are accumulated token-weighted, so only the summation order differs).
pub const MICRO_BATCH: usize = 2;

/// Examples per micro-batch for `per_step` examples per optimizer step: the largest divisor of
/// `per_step` that is at most `MICRO_BATCH`, so every step still holds `per_step` examples.
pub fn micro_batch(per_step: usize) -> usize {
    (1..=MICRO_BATCH.min(per_step))
        .rev()
        .find(|&m| per_step.is_multiple_of(m))
        .unwrap_or(1)
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
    let report = train(&mut lm.model, &trainable, &examples, &s.train, &run)?;
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
    fn steps_keep_their_examples_in_smaller_micro_batches() {
        for (per_step, micro) in [(1, 1), (2, 2), (5, 1), (6, 2), (8, 2), (9, 1)] {
            assert_eq!(micro_batch(per_step), micro, "{per_step} per step");
        }
        let section = InterventionSection {
            batch_size: Some(8),
            ..InterventionSection::default()
        };
        let t = TrainSettings::resolve(&section, 0).train;
        assert_eq!((t.batch_size, t.grad_accum), (2, 4));
        // Two examples of at most max_len tokens always fit the budget, so it never cuts a
        // micro-batch (which would change what a step holds).
        assert!(MICRO_BATCH * TrainSettings::resolve(&section, 0).max_len <= t.token_budget);
    }
}
