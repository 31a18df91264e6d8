//! Serde mirrors of the parts of `results.json` (schema version 1, docs/results-schema.md) and
//! `sweep.json` that the reports read. Numbers written as `null` (NaN in the writer) read as NaN;
//! unknown keys are ignored, so the reports keep working when the schema grows.

use crate::error::ReportError;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use spillover_evals::benchmarks::{resolve_spec, MetricRole};
use std::path::{Path, PathBuf};

/// The schema version these readers understand.
pub const SCHEMA_VERSION: u32 = 1;

fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// An error unless `version` is the one these readers understand.
fn check_version(path: &Path, version: u32) -> Result<(), ReportError> {
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    Err(ReportError::corrupt(
        path,
        None,
        format!("key `schema_version` is {version}, this build reads version {SCHEMA_VERSION}"),
    ))
}

/// An estimate with its confidence interval.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
pub struct Interval {
    #[serde(deserialize_with = "nan_if_null")]
    pub estimate: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub lo: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub hi: f64,
    #[serde(deserialize_with = "nan_if_null", default = "nan")]
    pub confidence: f64,
}

fn nan() -> f64 {
    f64::NAN
}

/// One row of the alignment-tax table.
#[derive(Debug, Clone, Deserialize)]
pub struct Row {
    pub benchmark: String,
    pub metric: String,
    /// What the row measures; absent in files written before rows carried it ([`Row::role`]
    /// resolves it from the names).
    #[serde(default)]
    pub role: Option<MetricRole>,
    /// A headline row of its role; absent in older files ([`Row::is_headline`]).
    #[serde(default)]
    pub headline: Option<bool>,
    #[serde(default)]
    pub description: String,
    pub binary: bool,
    pub higher_is_better: bool,
    pub n: usize,
    pub before: Interval,
    pub after: Interval,
    pub change: Interval,
    #[serde(default)]
    pub test: String,
    #[serde(deserialize_with = "nan_if_null")]
    pub p_value: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p_holm: f64,
    /// `gain`, `loss`, `equivalent`, `inconclusive` or `descriptive`.
    pub verdict: String,
    #[serde(default)]
    pub discordant: Option<(u64, u64)>,
    /// In the Holm family (descriptive rows are not).
    #[serde(default = "yes")]
    pub tested: bool,
    /// The level the verdict used (α' of the row's Holm step).
    #[serde(deserialize_with = "nan_if_null", default = "nan")]
    pub alpha_row: f64,
    #[serde(default)]
    pub holm_step: Option<usize>,
    #[serde(default)]
    pub equivalence: Option<Equivalence>,
    /// Minimum detectable effect at 80% power; `None` when out of reach.
    #[serde(default)]
    pub mde: Option<f64>,
    #[serde(deserialize_with = "nan_if_null", default = "nan")]
    pub p_min: f64,
    /// No data of this size could make the row a gain or a loss.
    #[serde(default)]
    pub blind: bool,
    #[serde(default)]
    pub outcomes: Option<Outcomes>,
    /// Capability rates: the rate a model without the capability gets.
    #[serde(default)]
    pub chance: Option<f64>,
    /// `floor` or `chance`: the model is at the floor or at chance on this row, so its change says
    /// little (kept out of the findings' headline sentences).
    #[serde(default)]
    pub mark: Option<String>,
}

fn yes() -> bool {
    true
}

/// The equivalence test of a row.
#[derive(Debug, Clone, Deserialize)]
pub struct Equivalence {
    #[serde(deserialize_with = "nan_if_null")]
    pub margin: f64,
    pub interval: Interval,
    pub equivalent: bool,
}

/// The marginal-homogeneity test of a 3 × 3 table.
#[derive(Debug, Clone, Deserialize)]
pub struct StuartMaxwell {
    #[serde(deserialize_with = "nan_if_null")]
    pub statistic: f64,
    pub df: usize,
    #[serde(deserialize_with = "nan_if_null")]
    pub p_value: f64,
}

/// Refused / complied / degenerate before and after.
#[derive(Debug, Clone, Deserialize)]
pub struct Outcomes {
    pub labels: Vec<String>,
    pub table: [[u64; 3]; 3],
    pub before: [u64; 3],
    pub after: [u64; 3],
    pub stuart_maxwell: StuartMaxwell,
}

impl Row {
    /// The row's role (resolved from its names in a file written before rows carried it).
    pub fn role(&self) -> MetricRole {
        self.role
            .unwrap_or_else(|| MetricRole::resolve(&self.benchmark, &self.metric))
    }
    /// Whether the row is a headline of its role (resolved from its names in an older file).
    pub fn is_headline(&self) -> bool {
        self.headline.unwrap_or_else(|| {
            resolve_spec(&self.benchmark, &self.metric).is_some_and(|m| m.headline)
        })
    }
    /// The headline row of `role`.
    pub fn is_headline_of(&self, role: MetricRole) -> bool {
        self.role() == role && self.is_headline()
    }
    /// The safety target: the refusal rate on harmful prompts.
    pub fn is_safety_target(&self) -> bool {
        self.is_headline_of(MetricRole::Safety)
    }
    /// `benchmark/metric`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.benchmark, self.metric)
    }
    /// Whether the verdict is a significant move in the bad direction.
    pub fn is_loss(&self) -> bool {
        self.verdict == "loss"
    }
    /// Whether the verdict is a significant move in the good direction.
    pub fn is_gain(&self) -> bool {
        self.verdict == "gain"
    }
    /// Whether the row is at the floor or at chance for the model.
    pub fn is_marked(&self) -> bool {
        self.mark.is_some()
    }
}

/// One line of the seed-style summary.
#[derive(Debug, Clone, Deserialize)]
pub struct Headline {
    pub topic: String,
    pub before: String,
    pub after: String,
    #[serde(default)]
    pub source: String,
    pub verdict: String,
}

/// A per-seed summary: `(seed, value)` pairs, mean and sd.
#[derive(Debug, Clone, Deserialize)]
pub struct SeedStat {
    pub values: Vec<(u64, Option<f64>)>,
    #[serde(deserialize_with = "nan_if_null")]
    pub mean: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub sd: f64,
}

/// One metric over seeds.
#[derive(Debug, Clone, Deserialize)]
pub struct SeedRow {
    pub benchmark: String,
    pub metric: String,
    pub change: SeedStat,
    pub after: SeedStat,
    /// Seeds per verdict.
    pub verdicts: VerdictCounts,
}

/// Verdict counts over seeds.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(default)]
pub struct VerdictCounts {
    pub gain: usize,
    pub loss: usize,
    pub equivalent: usize,
    pub inconclusive: usize,
    pub descriptive: usize,
}

/// One seed's own change on a row of the table over seeds.
#[derive(Debug, Clone, Deserialize)]
pub struct SeedChange {
    pub seed: u64,
    pub n: usize,
    #[serde(deserialize_with = "nan_if_null")]
    pub change: f64,
    #[serde(default)]
    pub verdict: Option<String>,
}

/// A row of the table over seeds: the row's fields (`n`: distinct items over the seeds; the
/// change: the mean over seeds with its seed × item interval) and the seeds'.
#[derive(Debug, Clone, Deserialize)]
pub struct AcrossRow {
    #[serde(flatten)]
    pub row: Row,
    pub n_seeds: usize,
    /// Every seed's change agrees with the verdict; `None` for inconclusive and descriptive rows.
    #[serde(default)]
    pub stable: Option<bool>,
    #[serde(default)]
    pub per_seed: Vec<SeedChange>,
}

/// One intervention seed.
#[derive(Debug, Clone, Deserialize)]
pub struct Seed {
    pub seed: u64,
    #[serde(default)]
    pub intervention: Value,
    /// The training report or direction summary (training warnings live here).
    #[serde(default)]
    pub intervention_detail: Value,
    #[serde(default)]
    pub table: Vec<Row>,
}

/// A stage's wall time.
#[derive(Debug, Clone, Deserialize)]
pub struct Timing {
    pub stage: String,
    #[serde(deserialize_with = "nan_if_null")]
    pub seconds: f64,
    #[serde(default)]
    pub reused: bool,
}

/// Where the numbers came from.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct Provenance {
    #[serde(default)]
    pub spillover_version: String,
    #[serde(default)]
    pub git_commit: String,
    #[serde(default)]
    pub config_hash: String,
    #[serde(default)]
    pub assets: Vec<(String, Value)>,
    #[serde(default)]
    pub machine: Value,
    #[serde(default)]
    pub run_dir: String,
}

/// The parts of `results.json` the reports use.
#[derive(Debug, Clone, Deserialize)]
pub struct Results {
    pub schema_version: u32,
    #[serde(default)]
    pub provenance: Provenance,
    #[serde(default)]
    pub config: Value,
    #[serde(default)]
    pub headline: Vec<Headline>,
    pub table: Vec<Row>,
    #[serde(default)]
    pub seeds: Vec<Seed>,
    #[serde(default)]
    pub seed_summary: Vec<SeedRow>,
    /// The table over seeds (empty with one seed).
    #[serde(default)]
    pub across_seeds: Vec<AcrossRow>,
    #[serde(default)]
    pub baseline: Value,
    #[serde(default)]
    pub data: Value,
    /// The first seed's MRI summary.
    #[serde(default)]
    pub mri: Option<Value>,
    /// Where each seed's MRI wrote its files (absent in runs made before the MRI ran per seed).
    #[serde(default)]
    pub mri_seeds: Vec<MriSeed>,
    /// Which MRI claims every seed makes (with several seeds).
    #[serde(default)]
    pub mri_agreement: Option<Value>,
    #[serde(default)]
    pub timings: Vec<Timing>,
}

/// One seed's MRI folder, relative to the run folder.
#[derive(Debug, Clone, Deserialize)]
pub struct MriSeed {
    pub seed: u64,
    pub dir: String,
}

impl Results {
    /// Reads `run_dir/results.json`, checking the schema version.
    pub fn load(run_dir: &Path) -> Result<Results, ReportError> {
        let path = run_dir.join("results.json");
        let r: Results = crate::io::read_json(
            &path,
            "a run folder written by `spillover run` holds it (is this the run folder?)",
        )?;
        check_version(&path, r.schema_version)?;
        Ok(r)
    }

    /// A string from the resolved config by dotted path (e.g. `model.id`), or `""`.
    pub fn config_str(&self, dotted: &str) -> String {
        let mut v = &self.config;
        for k in dotted.split('.') {
            v = &v[k];
        }
        match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    }

    /// A number from the resolved config by dotted path.
    pub fn config_f64(&self, dotted: &str) -> Option<f64> {
        let mut v = &self.config;
        for k in dotted.split('.') {
            v = &v[k];
        }
        v.as_f64()
    }

    /// The significance level the verdicts used (`stats.alpha`, 0.05 when absent).
    pub fn alpha(&self) -> f64 {
        self.config_f64("stats.alpha").unwrap_or(0.05)
    }

    /// The confidence level of the intervals.
    pub fn confidence(&self) -> f64 {
        self.config_f64("stats.confidence")
            .or_else(|| self.table.first().map(|r| r.change.confidence))
            .filter(|c| c.is_finite())
            .unwrap_or(0.95)
    }

    /// The seed whose table is `table` (the first seed).
    pub fn first_seed(&self) -> Option<u64> {
        self.seeds.first().map(|s| s.seed)
    }
}

/// One point of a sweep.
#[derive(Debug, Clone, Deserialize)]
pub struct SweepPoint {
    pub overrides: Vec<String>,
    pub run_dir: PathBuf,
    pub kind: String,
    #[serde(deserialize_with = "nan_if_null")]
    pub safety_gain: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub capability_loss: f64,
    #[serde(default)]
    pub on_frontier: bool,
}

/// One `--grid` axis.
#[derive(Debug, Clone, Deserialize)]
pub struct Axis {
    pub key: String,
    pub values: Vec<String>,
}

/// `sweep.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Sweep {
    pub schema_version: u32,
    pub axes: Vec<Axis>,
    pub points: Vec<SweepPoint>,
    #[serde(default)]
    pub tax_rates: Vec<(String, Option<f64>)>,
    /// Points that had not finished when the sweep was collected.
    #[serde(default)]
    pub incomplete: Vec<SweepUnfinished>,
}

/// A sweep point that was missing or had failed when the sweep was collected.
#[derive(Debug, Clone, Deserialize)]
pub struct SweepUnfinished {
    pub id: String,
    pub overrides: Vec<String>,
    /// "missing" or "failed".
    pub status: String,
}

impl Sweep {
    /// Reads `sweep_dir/sweep.json`.
    pub fn load(sweep_dir: &Path) -> Result<Sweep, ReportError> {
        let path = sweep_dir.join("sweep.json");
        let s: Sweep = crate::io::read_json(
            &path,
            "`spillover sweep` writes it into RUNS_DIR/sweep-<name>-<hash>/ (is this the sweep folder?)",
        )?;
        check_version(&path, s.schema_version)?;
        Ok(s)
    }

    /// `key=value` of `point` for `axis`, if set.
    pub fn value_of<'a>(&self, point: &'a SweepPoint, axis: &str) -> Option<&'a str> {
        point.overrides.iter().find_map(|o| {
            o.split_once('=')
                .filter(|(k, _)| *k == axis)
                .map(|(_, v)| v)
        })
    }
}
