//! `spillover train`: LoRA or full fine-tuning from a JSONL file.

use crate::cli::BaseModelArgs;
use crate::exit::UsageError;
use crate::models::load_model;
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use spillover_model::lora::{add_lora, LoraConfig};
use spillover_train::data::{check_loss_tokens, read_jsonl, Encoder, LossOn};
use spillover_train::schedule::Decay;
use spillover_train::trainer::{train_with, Layout, RunOptions, TrainConfig};
use spillover_train::Trainable;
use std::path::PathBuf;

#[derive(Args)]
pub struct TrainArgs {
    /// The base model (training always starts from one: there is no --adapter).
    #[command(flatten)]
    pub model: BaseModelArgs,
    /// Training file (JSONL: prompt/completion or messages per line).
    #[arg(long)]
    pub data: PathBuf,
    /// Output folder (adapter or fine-tuned weights, train_log.json, checkpoints/); must not
    /// exist or be empty, unless --resume (continue it) or --force (replace it).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, help = crate::out::FORCE_HELP, conflicts_with = "resume")]
    pub force: bool,
    /// LoRA settings: r=8,alpha=16,targets=q_proj,v_proj[,dropout=0.05][,rslora].
    #[arg(
        long,
        default_value = "r=8,alpha=16,targets=q_proj,v_proj",
        conflicts_with = "full"
    )]
    pub lora: String,
    /// Full fine-tuning instead of LoRA: train the weights of the linear layers named by
    /// --full-targets (module names or suffixes; `all` for every linear layer).
    #[arg(long)]
    pub full: bool,
    /// Linear layers trained by --full (comma-separated), e.g. `all` or `q_proj,v_proj,down_proj`.
    #[arg(long, default_value = "all", requires = "full")]
    pub full_targets: String,
    #[arg(long, default_value_t = 3)]
    pub epochs: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 2e-4)]
    pub lr: f64,
    /// Learning-rate schedule after warmup.
    #[arg(long, value_enum, default_value_t = DecayArg::Linear)]
    pub schedule: DecayArg,
    /// Optimizer steps of linear warmup from 0.
    #[arg(long, default_value_t = 0)]
    pub warmup_steps: u64,
    /// AdamW decoupled weight decay.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Clip the global gradient norm to this value (0 disables).
    #[arg(long, default_value_t = 1.0)]
    pub max_grad_norm: f64,
    /// Examples per optimizer step (times --grad-accum). With --no-packing: examples per
    /// micro-batch (at most).
    #[arg(long, default_value_t = 8)]
    pub batch_size: usize,
    /// Tokens per forward pass, padding included (at most; one longer row or example may exceed
    /// it alone), which bounds memory: autograd keeps a forward pass's activations until its
    /// backward pass. A step's examples take as many forward passes as this needs. With
    /// --no-packing it also cuts micro-batches (rows × longest), which can shorten a step.
    #[arg(long, default_value_t = spillover_train::trainer::DEFAULT_TOKEN_BUDGET)]
    pub token_budget: usize,
    /// With packing: a factor of the examples per step (--batch-size × --grad-accum). With
    /// --no-packing: micro-batches accumulated per optimizer step.
    #[arg(long, default_value_t = 1)]
    pub grad_accum: usize,
    /// Tokens per packed row: each step's examples are packed into rows of at most this many
    /// tokens (at least the step's longest example), several examples per row, each attending
    /// only to itself with its own positions (the same loss as one example per row). Every row
    /// attends over its whole length, so longer rows cost more attention per token.
    #[arg(long, default_value_t = 256, conflicts_with = "no_packing")]
    pub row_tokens: usize,
    /// One example per row, left-padded to the micro-batch's longest (the layout of PyTorch
    /// training), instead of packed rows.
    #[arg(long)]
    pub no_packing: bool,
    /// Examples longer than this many tokens are cut (the count is reported); at most the model's
    /// context (a larger value is lowered to it, with a warning). An example left with no
    /// completion token trains nothing: a warning, or an error (exit 2) when every one is.
    #[arg(long, default_value_t = 512)]
    pub max_len: usize,
    /// Where the loss is taken: the completion / assistant turns, or every token.
    #[arg(long, value_enum, default_value_t = LossOnArg::Completion)]
    pub loss_on: LossOnArg,
    /// Tokenize as plain text even when the model has a chat template.
    #[arg(long)]
    pub no_chat: bool,
    /// Seed of the data order, the LoRA initialisation and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Save a checkpoint every N optimizer steps (and always at the end).
    #[arg(long)]
    pub checkpoint_every: Option<u64>,
    /// Continue from the newest checkpoint in OUT/checkpoints (an error when there is none).
    #[arg(long)]
    pub resume: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DecayArg {
    Constant,
    Linear,
    Cosine,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LossOnArg {
    Completion,
    All,
}

pub fn run(a: TrainArgs) -> Result<()> {
    // Check the cheap inputs before loading the model.
    let checkpoints = a.out.join("checkpoints");
    if a.resume {
        if spillover_train::checkpoint::latest(&checkpoints).is_none() {
            return Err(UsageError(format!(
                "--resume: no checkpoint in {}; run without --resume to start training",
                checkpoints.display()
            ))
            .into());
        }
    } else {
        crate::out::check_out(&a.out, a.force)?;
        if a.force && a.out.exists() {
            std::fs::remove_dir_all(&a.out).map_err(|e| {
                UsageError(format!("--force: cannot remove {}: {e}", a.out.display()))
            })?;
        }
    }
    let lora = if a.full {
        None
    } else {
        Some(LoraConfig::parse(&a.lora).map_err(|e| UsageError(format!("--lora: {e}")))?)
    };
    let records = read_jsonl(&a.data)?;
    let mut lm = load_model(&a.model.model_args())?;
    let chat = if a.no_chat { None } else { lm.chat.as_ref() };
    let loss_on = match a.loss_on {
        LossOnArg::Completion => LossOn::Completion,
        LossOnArg::All => LossOn::All,
    };
    let max_len = clamp_max_len(a.max_len, lm.model.config().max_positions);
    let enc = Encoder {
        tokenizer: lm.tokenizer()?,
        chat,
        loss_on,
        max_len,
    };
    let (examples, truncated) = enc.encode_all(&records)?;
    if let Some(warning) = check_loss_tokens(&examples, max_len, &a.data, "--max-len")? {
        eprintln!("warning: {warning}");
    }
    let cfg = train_config(&a);
    let trainable = match &lora {
        Some(l) => {
            add_lora(&mut lm.model, l, a.seed)?;
            Trainable::lora(&mut lm.model)?
        }
        None => {
            let targets: Vec<String> = a
                .full_targets
                .split(',')
                .map(|s| s.trim().to_string())
                .collect();
            let all = targets.iter().any(|t| t == "all");
            Trainable::full(&mut lm.model, |name| {
                all || targets
                    .iter()
                    .any(|t| name == t || name.ends_with(&format!(".{t}")))
            })?
        }
    };
    eprintln!(
        "training {} values on {} examples ({} truncated to {} tokens)",
        trainable.count(),
        examples.len(),
        truncated,
        max_len
    );
    let layout = if a.no_packing {
        Layout::Padded
    } else {
        Layout::Packed {
            row_tokens: a.row_tokens,
        }
    };
    let setup = serde_json::json!({"model": a.model.model, "data": spillover_data::sha256_file(&a.data)?.0, "cfg": cfg, "layout": layout, "lora": lora, "full": a.full.then_some(&a.full_targets), "max_len": max_len, "no_chat": a.no_chat});
    let run = RunOptions {
        checkpoint_dir: Some(checkpoints),
        resume: a.resume,
        progress: !a.quiet,
        setup_hash: format!("{:016x}", fnv1a(setup.to_string().as_bytes())),
        stop_after: None,
        pad_id: lm.pad_id(),
    };
    let report = train_with(&mut lm.model, &trainable, &examples, &cfg, &run, layout)?;
    crate::adapters::save_trained(&mut lm, lora.as_ref(), &trainable, &a.model.model, &a.out)?;
    let log = serde_json::json!({"setup": setup, "report": report, "examples": examples.len(), "truncated": truncated});
    let path = a.out.join("train_log.json");
    std::fs::write(&path, serde_json::to_string_pretty(&log)?)
        .with_context(|| path.display().to_string())?;
    let last = report.losses.last().copied().unwrap_or(f64::NAN);
    eprintln!(
        "{} steps, final loss {last:.4}, {:.0} tokens/s ({:.0} loss tokens/s); wrote {}",
        report.steps,
        report.processed_tokens_per_second,
        report.tokens_per_second,
        a.out.display()
    );
    Ok(())
}

/// `--max-len` lowered to the model's context (with a warning): longer sequences have positions
/// the model does not have.
fn clamp_max_len(max_len: usize, context: usize) -> usize {
    if max_len > context {
        eprintln!(
            "warning: --max-len {max_len} exceeds the model's context of {context} positions; \
             examples are cut to {context} tokens"
        );
        return context;
    }
    max_len
}

fn train_config(a: &TrainArgs) -> TrainConfig {
    TrainConfig {
        epochs: a.epochs,
        lr: a.lr,
        warmup_steps: a.warmup_steps,
        decay: match a.schedule {
            DecayArg::Constant => Decay::Constant,
            DecayArg::Linear => Decay::Linear,
            DecayArg::Cosine => Decay::Cosine,
        },
        weight_decay: a.weight_decay,
        max_grad_norm: (a.max_grad_norm > 0.0).then_some(a.max_grad_norm),
        batch_size: a.batch_size,
        token_budget: a.token_budget,
        grad_accum: a.grad_accum,
        seed: a.seed,
        checkpoint_every: a.checkpoint_every,
    }
}

/// FNV-1a, to name a training setup in checkpoints (not a security hash).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}
