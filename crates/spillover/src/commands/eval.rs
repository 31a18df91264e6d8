//! `spillover eval`: run benchmarks on a model (optionally with an adapter) and write one record
//! per item (`DIR/<bench>/samples.jsonl`) and the scores (`DIR/scores.json`). The output folder
//! is written under a temporary name and renamed when every benchmark has finished, so a failed
//! run leaves nothing half-written.

use spillover_errors::UserFixable;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::Device;
use clap::{Args, ValueEnum};
use spillover_data::datasets::Dataset;
use spillover_engine::Batching;
use spillover_evals::benchmarks::{
    self, run_benchmark, run_kl, BenchOptions, BenchOutput, BenchmarkKind, Subject,
};
use spillover_evals::judge::{
    head::Head, locate, minilm, KeywordJudge, LearnedJudge, RefusalJudge,
};
use spillover_evals::stats::{level, BootstrapOptions};
use spillover_model::LoadedModel;
use spillover_sandbox::{Sandbox, SandboxConfig};

use crate::cli::ModelArgs;
use crate::exit::UsageError;
use crate::models::load_model;

/// The arguments of `spillover eval` (its manual is [`about`]).
#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Benchmarks to run, comma-separated (e.g. refusal,arithmetic,mmlu; see the list above).
    #[arg(long, short = 'b', value_delimiter = ',', required = true, value_parser = parse_kind)]
    pub bench: Vec<BenchmarkKind>,
    /// At most N items per benchmark (a seeded subsample; MMLU stratified by subject); 0 = every
    /// item, as `benchmarks.<b>.limit = 0` in an experiment file (default: each benchmark's own).
    #[arg(long)]
    pub limit: Option<usize>,
    /// The refusal judge for refusal and over_refusal.
    #[arg(long, value_enum, default_value_t = JudgeArg::Keyword)]
    pub judge: JudgeArg,
    /// Seed of subsampling, few-shot examples, the arithmetic generator and sampling.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder (created; must not exist or be empty, unless --force).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, help = crate::out::FORCE_HELP)]
    pub force: bool,
    /// Items of one benchmark from a file or packaged dataset instead of its default, as
    /// BENCH=SPEC (repeatable); see "Data files" above.
    #[arg(long = "data", value_name = "BENCH=SPEC")]
    pub data: Vec<String>,
    /// Generation budget for every generating benchmark (default: each benchmark's own).
    #[arg(long)]
    pub max_new_tokens: Option<usize>,
    /// Worked examples before each item, for gsm8k and mmlu (default 0).
    #[arg(long, default_value_t = 0)]
    pub few_shot: usize,
    /// HumanEval completions per item; more than 1 samples at --temperature and reports pass@k.
    #[arg(long, default_value_t = 1)]
    pub samples: usize,
    /// Sampling temperature for --samples > 1 (and for diversity, whose default is 1.0).
    #[arg(long)]
    pub temperature: Option<f32>,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
    /// Print one JSON document on stdout at the end (the output paths and every metric with its
    /// 95% interval and n; see docs/pandas.md) and nothing else; the per-benchmark lines go to
    /// stderr.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum JudgeArg {
    /// Refusal phrases at the start of the response and degenerate-text rules (no model).
    Keyword,
    /// all-MiniLM-L6-v2 embeddings + the bundled logistic head (fetches the encoder once).
    Learned,
}

fn parse_kind(s: &str) -> Result<BenchmarkKind, String> {
    s.parse().map_err(|e: benchmarks::Error| e.to_string())
}

/// The manual: every benchmark with its default data and metrics.
pub fn about() -> String {
    let mut s = String::from(
        "Run benchmarks on a model and write one record per item and the scores.\n\n\
Output (--out DIR): DIR/<bench>/samples.jsonl, one JSON record per item (id, prompt as given to the model, \
output, extracted answer, gold, per-item scores, judge label, detail), and DIR/scores.json: per benchmark the \
summary (means of the per-item scores and corpus-level values), each metric's mean with its 95% interval and n \
(`intervals`: Wilson for 0/1 metrics, a percentile bootstrap of the mean otherwise), the metric specs (binary \
or continuous, which direction is better), the prompt format (chat or plain, few-shot k, token budget, stop \
strings, sampling) and the dataset (source with hashes, item ids). The folder is written under a temporary \
name and renamed at the end: a failed run leaves nothing half-written.\n\nBenchmarks (metrics, headline first):\n",
    );
    for k in BenchmarkKind::ALL {
        let metrics: Vec<String> = k
            .metrics()
            .iter()
            .map(|m| {
                let dir = if m.higher_is_better { "↑" } else { "↓" };
                let kind = if m.binary { "0/1" } else { "real" };
                format!("{} ({kind}, {dir})", m.key)
            })
            .collect();
        s.push_str(&format!(
            "  {}\n      data: {}\n      metrics: {}\n",
            k.name(),
            k.default_data(),
            metrics.join(", ")
        ));
    }
    s.push_str(&format!(
        "\nkl compares the model without and with --adapter (required for kl).\n\n\
Data files (--data BENCH=SPEC): {}.\n\n\
humaneval runs the model's code in the bubblewrap sandbox (10 s, 512 MiB per program).\n\n\
Exit codes: 0 success, 1 internal error, 2 bad input (unknown benchmark, missing file, bad item).",
        benchmarks::datasets::FILE_FORMATS
    ));
    s
}

/// Benchmark errors the user can fix exit with code 2.
fn user(e: benchmarks::Error) -> anyhow::Error {
    if e.user_can_fix() {
        UsageError(e.to_string()).into()
    } else {
        anyhow::Error::new(e)
    }
}

pub fn run(a: EvalArgs) -> Result<()> {
    let kinds = dedup(&a.bench);
    let files = data_files(&a.data, &kinds)?;
    if kinds.contains(&BenchmarkKind::Kl) && a.model.adapter.is_none() {
        return Err(UsageError(
            "kl compares the model without and with an adapter: pass --adapter DIR".into(),
        )
        .into());
    }
    crate::out::check_out(&a.out, a.force)?;
    let root = spillover_data::cache_root();
    let mut sets = Vec::new();
    for &kind in &kinds {
        let ds = match files.get(&kind) {
            Some(spec) => benchmarks::dataset_from_file(kind, spec, &root, a.limit, a.seed),
            None => benchmarks::default_dataset(kind, &root, a.limit, a.seed),
        };
        sets.push(ds.map_err(user)?);
    }
    let opts: Vec<BenchOptions> = kinds.iter().map(|&k| options(k, &a)).collect();
    for (k, o) in kinds.iter().zip(&opts) {
        o.validate(*k).map_err(user)?;
    }
    let lm = ready(load_model(&a.model)?)?;
    let needs_judge = kinds
        .iter()
        .any(|k| matches!(k, BenchmarkKind::Refusal | BenchmarkKind::OverRefusal));
    let judge = make_judge(if needs_judge {
        a.judge
    } else {
        JudgeArg::Keyword
    })?;
    let sandbox = if kinds.contains(&BenchmarkKind::Humaneval) {
        Some(Sandbox::new(SandboxConfig::default()).map_err(|e| UsageError(e.to_string()))?)
    } else {
        None
    };
    let base_lm = match kinds.contains(&BenchmarkKind::Kl) {
        true => Some(ready(load_model(&ModelArgs {
            adapter: None,
            ..a.model.clone()
        })?)?),
        false => None,
    };
    let label = if a.model.adapter.is_some() {
        "adapter"
    } else {
        "base"
    };
    let subject = Subject::from_loaded(&lm, label).map_err(user)?;
    let tmp = temp_sibling(&a.out)?;
    let mut json_doc = None;
    let result = (|| -> Result<serde_json::Value> {
        let mut scores = serde_json::Map::new();
        for ((&kind, ds), o) in kinds.iter().zip(&sets).zip(&opts) {
            eprintln!("{kind}: {} items from {}", ds.len(), ds.name);
            let start = Instant::now();
            let out = match (kind, &base_lm) {
                (BenchmarkKind::Kl, Some(b)) => {
                    let base = Subject::from_loaded(b, "base").map_err(user)?;
                    run_kl(&base, &subject, &ds.items, o)
                }
                _ => run_benchmark(
                    kind,
                    &subject,
                    &ds.items,
                    o,
                    judge.as_ref(),
                    sandbox.as_ref(),
                ),
            }
            .map_err(user)?;
            write_samples(&tmp, &out)?;
            print_summary(&out, a.json);
            scores.insert(
                kind.name().into(),
                entry(&out, ds, start.elapsed().as_secs_f64(), a.seed)?,
            );
        }
        Ok(serde_json::json!({
            "spillover_version": env!("CARGO_PKG_VERSION"),
            "model": {
                "spec": a.model.model, "source": lm.source, "format": lm.format,
                "adapter": a.model.adapter, "dtype": format!("{:?}", crate::models::dtype(a.model.dtype)),
            },
            "seed": a.seed, "limit": a.limit, "judge": judge.name(),
            "benchmarks": scores,
        }))
    })();
    let finish = result.and_then(|scores| {
        write_file(
            &tmp.join("scores.json"),
            &serde_json::to_string_pretty(&scores)?,
        )?;
        json_doc = Some(summary_json(&a.out, &scores));
        if a.out.is_dir() {
            // Empty, or replaced under --force.
            std::fs::remove_dir_all(&a.out).with_context(|| a.out.display().to_string())?;
        }
        std::fs::rename(&tmp, &a.out)
            .with_context(|| format!("renaming {} to {}", tmp.display(), a.out.display()))
    });
    if finish.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    } else {
        eprintln!("wrote {}", a.out.display());
        if let (true, Some(doc)) = (a.json, json_doc) {
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
    }
    finish
}

/// What `eval --json` prints: the output paths and, per benchmark, its samples file, n, summary
/// and the metrics with their intervals (as in scores.json).
fn summary_json(out: &Path, scores: &serde_json::Value) -> serde_json::Value {
    let mut benches = serde_json::Map::new();
    if let Some(b) = scores["benchmarks"].as_object() {
        for (name, e) in b {
            benches.insert(
                name.clone(),
                serde_json::json!({
                    "samples": out.join(name).join("samples.jsonl"),
                    "n": e["summary"]["n"].as_f64().map(|n| n as u64),
                    "summary": e["summary"],
                    "intervals": e["intervals"],
                }),
            );
        }
    }
    serde_json::json!({
        "out": out,
        "scores_json": out.join("scores.json"),
        "benchmarks": benches,
    })
}

/// The benchmarks in the order given, each once.
fn dedup(kinds: &[BenchmarkKind]) -> Vec<BenchmarkKind> {
    let mut out = Vec::new();
    for k in kinds {
        if !out.contains(k) {
            out.push(*k);
        }
    }
    out
}

/// Parses `BENCH=SPEC` arguments; each names a requested benchmark.
fn data_files(args: &[String], kinds: &[BenchmarkKind]) -> Result<BTreeMap<BenchmarkKind, String>> {
    let mut out = BTreeMap::new();
    for arg in args {
        let Some((name, spec)) = arg.split_once('=').filter(|(_, s)| !s.trim().is_empty()) else {
            return Err(UsageError(format!(
                "--data {arg:?}: expected BENCH=SPEC, e.g. gsm8k=test.jsonl"
            ))
            .into());
        };
        let kind: BenchmarkKind = name
            .parse()
            .map_err(|e| UsageError(format!("--data {arg:?}: {e}")))?;
        if !kinds.contains(&kind) {
            return Err(UsageError(format!("--data {arg:?}: {kind} is not among --bench")).into());
        }
        out.insert(kind, spec.trim().to_string());
    }
    Ok(out)
}

/// The options of `kind` under the command-line flags.
fn options(kind: BenchmarkKind, a: &EvalArgs) -> BenchOptions {
    let mut o = BenchOptions::for_kind(kind);
    o.seed = a.seed;
    o.batching = Batching {
        progress: !a.quiet,
        ..Batching::default()
    };
    if let Some(n) = a.max_new_tokens.filter(|_| o.max_new_tokens > 0) {
        o.max_new_tokens = n;
    }
    if matches!(kind, BenchmarkKind::Gsm8k | BenchmarkKind::Mmlu) {
        o.few_shot = a.few_shot;
    }
    if kind == BenchmarkKind::Humaneval && a.samples > 1 {
        o.samples = a.samples;
        o.pass_k = [1, 10, 100]
            .into_iter()
            .filter(|&k| k <= a.samples)
            .collect();
        o.sampling.temperature = a.temperature.unwrap_or(0.8);
    }
    if kind == BenchmarkKind::Diversity {
        if let Some(t) = a.temperature {
            o.sampling.temperature = t;
        }
    }
    o
}

/// The output folder must be new (or an empty folder).
/// A fresh folder next to `out` to write into before the final rename.
fn temp_sibling(out: &Path) -> Result<PathBuf> {
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)
        .map_err(|e| UsageError(format!("cannot create {}: {e}", parent.display())))?;
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir(&tmp)
        .map_err(|e| UsageError(format!("cannot create {}: {e}", tmp.display())))?;
    Ok(tmp)
}

/// A model in the fast inference layout, with a tokenizer.
fn ready(mut lm: LoadedModel) -> Result<LoadedModel> {
    lm.tokenizer()?;
    lm.model.use_inference_layout()?;
    Ok(lm)
}

fn make_judge(kind: JudgeArg) -> Result<Box<dyn RefusalJudge>> {
    let user = |e: spillover_evals::judge::Error| -> anyhow::Error {
        if e.user_can_fix() {
            UsageError(e.to_string()).into()
        } else {
            anyhow::Error::new(e)
        }
    };
    Ok(match kind {
        JudgeArg::Keyword => Box::new(KeywordJudge::default()),
        JudgeArg::Learned => {
            let dir = locate::resolve_asset(&spillover_data::cache_root(), minilm::ASSET_ID)
                .map_err(user)?;
            let enc = minilm::MiniLm::load(&dir, &Device::Cpu).map_err(user)?;
            Box::new(LearnedJudge::new(enc, Head::bundled()).map_err(user)?)
        }
    })
}

/// Writes `<dir>/<bench>/samples.jsonl`.
fn write_samples(dir: &Path, out: &BenchOutput) -> Result<()> {
    let sub = dir.join(out.benchmark.name());
    std::fs::create_dir_all(&sub).with_context(|| sub.display().to_string())?;
    let mut text = String::new();
    for r in &out.records {
        text.push_str(&serde_json::to_string(r)?);
        text.push('\n');
    }
    write_file(&sub.join("samples.jsonl"), &text)
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    let mut f = std::fs::File::create(path).with_context(|| path.display().to_string())?;
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .with_context(|| path.display().to_string())
}

/// What scores.json keeps of one benchmark.
fn entry(out: &BenchOutput, ds: &Dataset, seconds: f64, seed: u64) -> Result<serde_json::Value> {
    Ok(serde_json::json!({
        "subject": out.subject,
        "summary": out.summary,
        "intervals": intervals(out, seed)?,
        "metrics": out.metrics,
        "format": out.format,
        "dataset": ds.record(),
        "seconds": seconds,
    }))
}

/// Each metric's mean over the items that have it, with its 95% interval and n
/// ([`spillover_evals::stats::level`]; the bootstrap is seeded by `seed` and the metric's
/// position). A metric whose values admit no interval gets its n and the reason instead.
fn intervals(out: &BenchOutput, seed: u64) -> Result<serde_json::Map<String, serde_json::Value>> {
    let mut m = serde_json::Map::new();
    for (k, spec) in out.metrics.iter().enumerate() {
        let values: Vec<f64> = out
            .records
            .iter()
            .filter_map(|r| r.scores.get(&spec.key).copied())
            .collect();
        if values.is_empty() {
            continue;
        }
        let opts = BootstrapOptions {
            seed: seed.wrapping_add(k as u64),
            ..BootstrapOptions::default()
        };
        let v = match level(&values, spec.binary, opts) {
            Ok(l) => serde_json::to_value(l)?,
            Err(e) => {
                eprintln!(
                    "warning: {}/{}: no interval ({e})",
                    out.benchmark.name(),
                    spec.key
                );
                serde_json::json!({ "n": values.len(), "error": e.to_string() })
            }
        };
        m.insert(spec.key.clone(), v);
    }
    Ok(m)
}

/// One line per benchmark: on stdout, or on stderr when stdout is for `--json`.
fn print_summary(out: &BenchOutput, to_stderr: bool) {
    let mut parts: Vec<String> = out
        .metrics
        .iter()
        .filter_map(|m| out.summary.get(&m.key).map(|v| format!("{} {v:.4}", m.key)))
        .collect();
    for (k, v) in &out.summary {
        if k != "n" && !out.metrics.iter().any(|m| &m.key == k) {
            parts.push(format!("{k} {v:.4}"));
        }
    }
    let line = format!(
        "{:<13} n={:<5} {}",
        out.benchmark.name(),
        out.records.len(),
        parts.join("  ")
    );
    if to_stderr {
        eprintln!("{line}");
    } else {
        println!("{line}");
    }
}
