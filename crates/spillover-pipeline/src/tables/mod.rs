//! Tables people can load: the stage that writes `<run>/tables/` after every seed's comparison.
//!
//! - `items.csv` / `items.parquet`: one row per (seed, benchmark, metric, item) of the comparison,
//!   the item's value before and after and what its records say (judge label, reason, refusal
//!   probability, output, extracted and gold answer).
//! - `metrics.csv` / `metrics.parquet`: one row per (seed, benchmark, metric), the alignment-tax
//!   table of each seed (n, before, after, change with intervals, p-values, verdict, MDE, ...).
//!
//! The stage is keyed by the comparison stages it reads, so a rerun reuses it and a killed run
//! leaves either the complete folder or none (see [`crate::rundir`]). The columns are documented
//! in docs/pandas.md.

mod frame;
pub mod items;
pub mod metrics;

pub use frame::{Column, Frame, Values};

use crate::compare::TaxRow;
use crate::config::Experiment;
use crate::rundir::{read_json, write_atomic, StageRecord, StageResult, Stages};
use crate::stages::compare::series;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The stage's folder in the run folder.
pub const DIR: &str = "tables";

/// Bumped when the tables' columns change, so that old run folders get new tables on a rerun.
const FORMAT_VERSION: u32 = 3;

/// Where a run folder's tables are.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TablePaths {
    pub items_csv: PathBuf,
    pub items_parquet: PathBuf,
    pub metrics_csv: PathBuf,
    pub metrics_parquet: PathBuf,
}

/// The tables of the run folder `run_dir`.
pub fn paths(run_dir: &Path) -> TablePaths {
    let d = run_dir.join(DIR);
    TablePaths {
        items_csv: d.join("items.csv"),
        items_parquet: d.join("items.parquet"),
        metrics_csv: d.join("metrics.csv"),
        metrics_parquet: d.join("metrics.parquet"),
    }
}

/// The stage's summary: the number of rows of each table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TablesSummary {
    pub items: usize,
    pub metrics: usize,
}

/// One seed's comparison as the stage reads it.
pub struct SeedTables<'a> {
    pub seed: u64,
    /// The seed's compare stage (its `stage.json` keys this stage).
    pub compare: &'a StageResult<Vec<TaxRow>>,
    /// The seed's evaluation after the intervention.
    pub after_dir: &'a Path,
    /// The seed's split of the data stage (the items it was compared on).
    pub split_dir: &'a Path,
}

/// Writes `tables/` from the baseline evaluation in `before_dir` and each seed's comparison,
/// unless a finished stage with the same comparisons exists.
pub fn stage(
    exp: &Experiment,
    stages: &Stages,
    before_dir: &Path,
    seeds: &[SeedTables],
) -> Result<StageResult<TablesSummary>> {
    let keys = seeds
        .iter()
        .map(|s| Ok((s.seed, compare_key(&s.compare.dir)?)))
        .collect::<Result<Vec<(u64, String)>>>()?;
    stages.run(DIR, &(FORMAT_VERSION, &keys), |out, _| {
        let mut per_seed = Vec::with_capacity(seeds.len());
        for s in seeds {
            per_seed.push(items::SeedItems {
                seed: s.seed,
                series: series(exp, before_dir, s.after_dir, s.split_dir)?,
                before_dir,
                after_dir: s.after_dir,
            });
        }
        let items = items::table(&per_seed)?;
        let rows: Vec<(u64, &[TaxRow])> = seeds
            .iter()
            .map(|s| (s.seed, s.compare.summary.as_slice()))
            .collect();
        let metrics = metrics::table(&rows)?;
        write(out, "items", &items)?;
        write(out, "metrics", &metrics)?;
        Ok(TablesSummary {
            items: items.rows(),
            metrics: metrics.rows(),
        })
    })
}

/// The inputs hash of a finished compare stage.
fn compare_key(dir: &Path) -> Result<String> {
    let rec: StageRecord<serde_json::Value> = read_json(&dir.join("stage.json"))
        .with_context(|| format!("reading the comparison in {}", dir.display()))?;
    Ok(rec.inputs_hash)
}

/// Writes `<name>.csv` and `<name>.parquet` into `dir`.
fn write(dir: &Path, name: &str, frame: &Frame) -> Result<()> {
    write_atomic(&dir.join(format!("{name}.csv")), &frame.to_csv())?;
    write_atomic(&dir.join(format!("{name}.parquet")), &frame.to_parquet()?)?;
    Ok(())
}
