//! `spillover bench`: speed measured against a reference in the same run, ratios printed.

use clap::{Args, Subcommand};
use spillover_engine::bench::{default_python, run_and_print, BenchConfig};

#[derive(Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub which: BenchCommand,
}

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Generation, multiple-choice log-likelihood and prefill on smollm2-135m-instruct against HF
    /// transformers (and lm-evaluation-harness for scoring), measured in the same run.
    #[command(
        long_about = "Engine benchmark on the packaged smollm2-135m-instruct, each workload timed for \
Spillover and, in the same run, for HF transformers (float32, same batch sizes, left padding) through \
tools/bench/hf_reference.py in a Python that has torch, transformers and gguf (lm-eval for the scoring \
comparison):\n  (1) greedy generation, 64 chat prompts x 64 new tokens\n  (2) 4-choice log-likelihood on 200 MMLU \
questions (accuracies compared)\n  (3) prefill of 8 x 512 tokens (effective GFLOP/s)\nPrints tokens/s for both \
sides and the ratio. Without a usable Python it says so and reports Spillover's numbers alone."
    )]
    Engine(EngineBenchArgs),
    /// LoRA training tokens/s against PyTorch + PEFT on the same model and batch.
    Train(super::bench_train::TrainBenchArgs),
    /// Wall time of a whole experiment (default: the default experiment, quick profile), per stage,
    /// in a fresh runs folder so nothing is reused.
    Run(super::bench_run::RunBenchArgs),
}

#[derive(Args)]
pub struct EngineBenchArgs {
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Python for the reference side (default: $SPILLOVER_BENCH_PYTHON, else python3).
    #[arg(long)]
    pub python: Option<String>,
    /// Measure Spillover alone.
    #[arg(long, conflicts_with = "python")]
    pub no_reference: bool,
    /// Timed runs per workload and side (the median is reported).
    #[arg(long, default_value_t = 1)]
    pub repeats: usize,
    /// Shrink every workload (a smoke run, not a measurement).
    #[arg(long)]
    pub quick: bool,
    /// Show progress bars.
    #[arg(long)]
    pub progress: bool,
    /// Run only these workloads (comma-separated: generation, loglikelihood, prefill).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
}

pub fn run(a: BenchArgs) -> anyhow::Result<()> {
    match a.which {
        BenchCommand::Engine(e) => engine(e),
        BenchCommand::Train(t) => super::bench_train::run(t),
        BenchCommand::Run(r) => super::bench_run::run(r),
    }
}

fn engine(a: EngineBenchArgs) -> anyhow::Result<()> {
    let root = spillover_data::cache_root();
    let mut cfg = BenchConfig {
        gguf: spillover_data::resolve(&root, "smollm2-135m-instruct")?.path,
        mmlu: spillover_data::resolve(&root, "mmlu")?.path,
        python: (!a.no_reference).then(|| default_python(a.python)),
        repeats: a.repeats,
        progress: a.progress,
        only: a.only,
        ..BenchConfig::default()
    };
    if a.quick {
        (cfg.gen_prompts, cfg.gen_tokens, cfg.gen_batch) = (8, 8, 8);
        (cfg.mc_questions, cfg.prefill_rows, cfg.prefill_len) = (10, 2, 64);
    }
    run_and_print(&cfg, a.json)?;
    Ok(())
}
