//! `spillover bench train`: LoRA training speed against PyTorch + PEFT on the same batch, in one run,
//! and (`--pipeline`) against the pipeline's own training of the default experiment.

use crate::cli::{DTypeArg, ModelArgs};
use crate::models::load_model;
use anyhow::{Context, Result};
use clap::Args;
use spillover_model::lora::LoraConfig;
use spillover_pipeline::interventions::training::Throughput;
use spillover_train::bench::{bench_batch, bench_lora};
use std::path::PathBuf;
use std::process::Command;

#[derive(Args)]
pub struct TrainBenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Sequences per batch.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Tokens per sequence.
    #[arg(long, default_value_t = 128)]
    pub seq_len: usize,
    /// Timed optimizer steps (after one warm-up step) on each side.
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    /// LoRA of the benchmark.
    #[arg(long, default_value = "r=8,alpha=16,targets=q_proj,v_proj")]
    pub lora: String,
    /// Python with torch, transformers, gguf and peft for the reference side ($SPILLOVER_BENCH_PYTHON).
    #[arg(long, env = "SPILLOVER_BENCH_PYTHON", default_value = "python3")]
    pub python: String,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Also run the default experiment's training inside the pipeline — the same model (id,
    /// dtype, device) and --lora, its 100 refusal examples × 3 epochs, steps of 8 packed into forward passes of the
    /// default token budget — and report its training tokens/s (every real token processed, from
    /// results.json's timings) next to this benchmark's, with their ratio. The run evaluates only
    /// 4 refusal items, skips the MRI and uses a fresh temporary runs folder (removed after).
    #[arg(long)]
    pub pipeline: bool,
}

pub fn run(a: TrainBenchArgs) -> Result<()> {
    let lora =
        LoraConfig::parse(&a.lora).map_err(|e| crate::exit::UsageError(format!("--lora: {e}")))?;
    let mut lm = load_model(&a.model)?;
    let ids = bench_batch(a.batch, a.seq_len, lm.config().vocab_size);
    let ours = bench_lora(&mut lm.model, &ids, &lora, a.steps)?;
    let reference = peft_reference(&a, &lm.source, &ids, &lora);
    let ratio = reference
        .as_ref()
        .ok()
        .and_then(|r| r["tokens_per_second"].as_f64())
        .map(|t| ours.tokens_per_second / t);
    drop(lm);
    let pipeline = if a.pipeline {
        Some(pipeline_training(&a.model, &a.lora)?)
    } else {
        None
    };
    let pipeline_ratio = pipeline
        .as_ref()
        .map(|p| p.tokens_per_second / ours.tokens_per_second);
    let out = serde_json::json!({
        "workload": format!("LoRA r={} on {:?}, batch {} x {} tokens, {} steps", lora.r, lora.targets, a.batch, a.seq_len, a.steps),
        "spillover": ours,
        "pytorch_peft": reference.as_ref().ok(),
        "pytorch_peft_error": reference.as_ref().err().map(|e| format!("{e:#}")),
        "ratio": ratio,
        "pipeline": pipeline,
        "pipeline_over_bench": pipeline_ratio,
    });
    if a.json {
        println!("{out}");
        return Ok(());
    }
    println!("{}", out["workload"].as_str().unwrap_or_default());
    println!("  spillover      {:>10.1} tokens/s", ours.tokens_per_second);
    match &reference {
        Ok(r) => println!(
            "  pytorch+peft   {:>10.1} tokens/s",
            r["tokens_per_second"].as_f64().unwrap_or(f64::NAN)
        ),
        Err(e) => println!("  pytorch+peft   unavailable: {e:#}"),
    }
    if let Some(x) = ratio {
        println!("  ratio          {x:>10.2}x");
    }
    if let (Some(p), Some(x)) = (&pipeline, pipeline_ratio) {
        println!(
            "pipeline training (the default experiment's recipe, {} tokens, {} labelled, {:.1} s)",
            p.tokens, p.loss_tokens, p.seconds
        );
        println!("  spillover      {:>10.1} tokens/s", p.tokens_per_second);
        println!("  of bench train {:>10.2}x", x);
    }
    Ok(())
}

/// Runs the default experiment with `lora` on `model` (its id, dtype and device), evaluating 4
/// refusal items and no MRI, in a temporary runs folder, and returns its training throughput.
fn pipeline_training(model: &ModelArgs, lora: &str) -> Result<Throughput> {
    let quote = |v: &str| serde_json::Value::String(v.into()).to_string();
    let dtype = match model.dtype {
        DTypeArg::F32 => "f32",
        DTypeArg::Bf16 => "bf16",
        DTypeArg::F16 => "f16",
    };
    let sets = [
        format!("model.id={}", quote(&model.model)),
        format!("model.dtype={}", quote(dtype)),
        format!("model.device={}", quote(&model.device)),
        format!("intervention.lora={}", quote(lora)),
        "benchmarks.only=[\"refusal\"]".to_string(),
        "benchmarks.refusal.limit=4".to_string(),
        "analysis.mri=false".to_string(),
    ];
    let exp = spillover_pipeline::config::load(None, &sets)?;
    let runs_dir =
        std::env::temp_dir().join(format!("spillover-bench-train-{}", std::process::id()));
    let results = spillover_pipeline::run(
        &exp,
        &spillover_pipeline::RunOptions {
            runs_dir: runs_dir.clone(),
            progress: false,
        },
    );
    let _ = std::fs::remove_dir_all(&runs_dir);
    results?
        .timings
        .into_iter()
        .find_map(|t| t.training)
        .context("the pipeline run reported no training throughput")
}

/// Runs tools/bench_train_peft.py on the same GGUF and batch.
fn peft_reference(
    a: &TrainBenchArgs,
    source: &std::path::Path,
    ids: &[Vec<u32>],
    lora: &LoraConfig,
) -> Result<serde_json::Value> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tools/bench_train_peft.py");
    let (dir, file) = match (source.parent(), source.file_name()) {
        (Some(d), Some(f)) if source.extension().is_some_and(|e| e == "gguf") => (d, f),
        _ => anyhow::bail!(
            "the PyTorch side needs a GGUF model (got {})",
            source.display()
        ),
    };
    let batch_file =
        std::env::temp_dir().join(format!("spillover-bench-batch-{}.json", std::process::id()));
    std::fs::write(&batch_file, serde_json::to_string(ids)?)?;
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .to_string();
    let out = Command::new(&a.python)
        .arg(&script)
        .args([dir.as_os_str(), file])
        .arg(&batch_file)
        .args([
            a.steps.to_string(),
            lora.r.to_string(),
            lora.alpha.to_string(),
            lora.targets.join(","),
            threads,
        ])
        .output()
        .with_context(|| format!("running {}", a.python))?;
    let _ = std::fs::remove_file(&batch_file);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        anyhow::bail!(
            "{} failed: {}",
            script.display(),
            err.lines().last().unwrap_or_default()
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("unexpected output: {last}"))
}
