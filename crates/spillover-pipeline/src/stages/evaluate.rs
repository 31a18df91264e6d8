//! The evaluation stage: every benchmark of the experiment on one subject, on the items the data
//! stage chose. Writes `<benchmark>/samples.jsonl` (one record per item) and `scores.json`; the
//! stage summary holds each benchmark's output without its records.

use crate::config::{BenchSection, Experiment};
use crate::rundir::{read_jsonl, write_jsonl};
use crate::stages::data::{benchmark_kinds, items_path, read_items};
use anyhow::Result;
use spillover_evals::benchmarks::{
    run_benchmark, run_kl, BenchOptions, BenchOutput, BenchmarkKind, Record, Subject,
};
use spillover_evals::judge::RefusalJudge;
use spillover_sandbox::Sandbox;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the stage keeps of each benchmark (records stay in samples.jsonl).
pub type EvalSummary = BTreeMap<String, BenchOutput>;

/// The options a benchmark runs with under this experiment.
pub fn bench_options(
    kind: BenchmarkKind,
    section: &BenchSection,
    exp: &Experiment,
) -> BenchOptions {
    let mut o = BenchOptions::for_kind(kind);
    o.seed = exp.seed;
    if let Some(m) = section.max_new_tokens {
        o.max_new_tokens = m;
    }
    if let Some(k) = section.few_shot {
        o.few_shot = k;
    }
    o
}

/// What scoring needs besides the model: the refusal judge, the code sandbox (HumanEval) and a
/// sink for one progress line per benchmark.
pub struct Tools<'a> {
    pub judge: &'a dyn RefusalJudge,
    pub sandbox: Option<&'a Sandbox>,
    pub progress: &'a dyn Fn(&str),
}

/// Which benchmarks an evaluation of `subject` alone can run (KL needs the base model as well).
fn runs_alone(kind: BenchmarkKind) -> bool {
    kind != BenchmarkKind::Kl
}

/// Runs the benchmarks on `subject` (and, when `base` is given, KL against it), writing into
/// `out`. `progress` prints one line per benchmark.
pub fn evaluate(
    exp: &Experiment,
    data_dir: &Path,
    subject: &Subject,
    base: Option<&Subject>,
    tools: &Tools,
    out: &Path,
) -> Result<EvalSummary> {
    let Tools {
        judge,
        sandbox,
        progress,
    } = tools;
    let mut summary = EvalSummary::new();
    let mut seconds = BTreeMap::new();
    for (kind, section) in benchmark_kinds(exp)? {
        let t0 = std::time::Instant::now();
        let items = read_items(&items_path(data_dir, kind))?;
        let opts = bench_options(kind, &section, exp);
        let output = if runs_alone(kind) {
            progress(&format!("{} on {} items", kind.name(), items.len()));
            run_benchmark(kind, subject, &items, &opts, *judge, *sandbox)?
        } else if let Some(base) = base {
            progress(&format!("{} on {} items", kind.name(), items.len()));
            run_kl(base, subject, &items, &opts)?
        } else {
            continue;
        };
        write_jsonl(&samples_path(out, kind), &output.records)?;
        seconds.insert(kind.name().to_string(), t0.elapsed().as_secs_f64());
        let mut kept = output;
        kept.records.clear();
        summary.insert(kind.name().to_string(), kept);
    }
    crate::rundir::write_json(&out.join("scores.json"), &summary)?;
    crate::rundir::write_json(&out.join(TIMINGS_FILE), &seconds)?;
    Ok(summary)
}

/// Seconds per benchmark of an evaluation.
pub const TIMINGS_FILE: &str = "timings.json";

/// The per-benchmark seconds an evaluation recorded (empty when the stage wrote none).
pub fn read_timings(eval_dir: &Path) -> Result<BTreeMap<String, f64>> {
    let path = eval_dir.join(TIMINGS_FILE);
    if !path.exists() {
        return Ok(BTreeMap::new());
    }
    crate::rundir::read_json(&path)
}

/// Where an evaluation put a benchmark's records.
pub fn samples_path(eval_dir: &Path, kind: BenchmarkKind) -> PathBuf {
    eval_dir.join(kind.name()).join("samples.jsonl")
}

/// Reads the records an evaluation wrote for `kind`.
pub fn read_records(eval_dir: &Path, kind: BenchmarkKind) -> Result<Vec<Record>> {
    read_jsonl(&samples_path(eval_dir, kind))
}
