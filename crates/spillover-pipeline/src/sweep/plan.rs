//! A sweep as independent points: the plan (every grid point with a stable id), running one point
//! (`spillover sweep --point ID`, e.g. one Slurm array task), and collecting whatever points have
//! finished into the sweep's reports (`--collect`).
//!
//! Each finished point leaves `<sweep folder>/points/<id>.json` (its place on the plane); a failed
//! one leaves `<id>.failed` (the error). The id of a point is the name of its run folder, which is
//! named by the hash of its resolved experiment, so it is the same in every process.

use super::{mark_frontier, point, tax_rates, Axis, Point, SweepResult};
use crate::config::{self, Experiment};
use crate::error::ConfigError;
use crate::experiment::{run, RunOptions};
use crate::rundir::{read_json, write_atomic, write_json};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One grid point, resolved.
#[derive(Debug, Clone)]
pub struct PlannedPoint {
    /// Position in the grid (0-based; the Slurm array task id).
    pub index: usize,
    /// The run folder's name: stable across processes and machines.
    pub id: String,
    /// The grid's `key=value` settings of this point.
    pub overrides: Vec<String>,
    /// Keys of the default experiment dropped because they do not apply to this point.
    pub dropped: Vec<String>,
    pub exp: Experiment,
}

/// Every point of a sweep and the folder its results go to.
#[derive(Debug, Clone)]
pub struct Plan {
    /// `<runs>/sweep-<name>-<hash>/`.
    pub dir: PathBuf,
    /// The experiment file (absolute), or None for the default experiment.
    pub config: Option<PathBuf>,
    pub base_overrides: Vec<String>,
    pub axes: Vec<Axis>,
    pub runs_dir: PathBuf,
    pub points: Vec<PlannedPoint>,
}

/// A point that has not finished.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unfinished {
    pub index: usize,
    pub id: String,
    pub overrides: Vec<String>,
    /// "missing" (never finished) or "failed".
    pub status: String,
    /// The error of a failed point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Resolves every point of the grid (all of them are checked before anything runs).
pub fn plan(
    path: Option<&Path>,
    base_overrides: &[String],
    axes: &[Axis],
    runs_dir: &Path,
) -> Result<Plan> {
    let runs_dir = std::path::absolute(runs_dir).context("resolving --runs-dir")?;
    let config = path
        .map(std::path::absolute)
        .transpose()
        .context("resolving the experiment path")?;
    let mut points: Vec<PlannedPoint> = Vec::new();
    for (index, overrides) in super::grid(axes).into_iter().enumerate() {
        let mut all = base_overrides.to_vec();
        all.extend(overrides.iter().cloned());
        let (exp, dropped) = load_point(path, &all)?;
        // Every input file of every point exists before any point runs.
        config::check_inputs(&exp)?;
        let dir = crate::run_dir(&exp, &runs_dir);
        let id = dir.file_name().expect("run folder name").to_string_lossy();
        if let Some(same) = points.iter().find(|p| p.id == id) {
            return Err(ConfigError::new(
                "--grid",
                format!(
                    "points {} ({}) and {index} ({}) are the same experiment; remove the repeated value",
                    same.index,
                    same.overrides.join(" "),
                    overrides.join(" ")
                ),
            )
            .into());
        }
        points.push(PlannedPoint {
            index,
            id: id.into_owned(),
            overrides,
            dropped,
            exp,
        });
    }
    let name = &points[0].exp.name;
    let exps: Vec<&Experiment> = points.iter().map(|p| &p.exp).collect();
    let dir = runs_dir.join(format!(
        "sweep-{name}-{}",
        &config::digest(&(axes, base_overrides, &exps))[..10]
    ));
    Ok(Plan {
        dir,
        config,
        base_overrides: base_overrides.to_vec(),
        axes: axes.to_vec(),
        runs_dir,
        points,
    })
}

/// Loads one point. With the default experiment (no file), an `intervention` key that the
/// default file sets but that does not apply to the point's kind (e.g. `lora` for `actadd`) is
/// dropped for that point; a key set by an override is the user's and still errors.
fn load_point(
    path: Option<&Path>,
    overrides: &[String],
) -> Result<(Experiment, Vec<String>), ConfigError> {
    if path.is_some() {
        return Ok((config::load(path, overrides)?, Vec::new()));
    }
    let mut defaults: toml::Table =
        toml::from_str(config::DEFAULT_EXPERIMENT).expect("the default experiment parses");
    let mut merged = defaults.clone();
    for o in overrides {
        config::apply_override(&mut merged, o)?;
    }
    let Ok(exp) = toml::Value::Table(merged).try_into::<Experiment>() else {
        // Not even well-formed: let the normal loader name the problem.
        return Ok((config::load(None, overrides)?, Vec::new()));
    };
    let explicit = |key: &str| {
        overrides.iter().any(|o| {
            o.split_once('=')
                .is_some_and(|(k, _)| k.trim() == format!("intervention.{key}"))
        })
    };
    let section = defaults
        .get_mut("intervention")
        .and_then(|v| v.as_table_mut());
    let mut dropped = Vec::new();
    if let Some(section) = section {
        for key in exp.intervention.inapplicable_keys() {
            if !explicit(key) && section.remove(key).is_some() {
                dropped.push(format!("intervention.{key}"));
            }
        }
    }
    if dropped.is_empty() {
        return Ok((config::load(None, overrides)?, dropped));
    }
    let text = toml::to_string(&defaults).expect("a TOML table serialises");
    Ok((
        config::parse("<default experiment>", &text, overrides)?,
        dropped,
    ))
}

impl Plan {
    /// The point named by `sel`: its index in the plan or its id (run folder name).
    pub fn select(&self, sel: &str) -> Result<&PlannedPoint, ConfigError> {
        let found = match sel.trim().parse::<usize>() {
            Ok(i) => self.points.get(i),
            Err(_) => self.points.iter().find(|p| p.id == sel.trim()),
        };
        found.ok_or_else(|| {
            ConfigError::new(
                format!("--point {sel}"),
                format!(
                    "no such point: expected an index 0..={} or a run folder name (`spillover sweep --plan` lists them)",
                    self.points.len() - 1
                ),
            )
        })
    }

    fn point_file(&self, p: &PlannedPoint, ext: &str) -> PathBuf {
        self.dir.join("points").join(format!("{}.{ext}", p.id))
    }

    /// The plan as text: one line per point, `INDEX<TAB>ID<TAB>SETTINGS`, then any dropped keys.
    pub fn listing(&self) -> String {
        let mut s = String::new();
        for p in &self.points {
            s.push_str(&format!("{}\t{}\t{}", p.index, p.id, p.overrides.join(" ")));
            if !p.dropped.is_empty() {
                s.push_str(&format!(
                    "\t(default {} dropped: does not apply)",
                    p.dropped.join(", ")
                ));
            }
            s.push('\n');
        }
        s
    }
}

/// Runs one point and records its outcome in the sweep folder (`points/<id>.json` or
/// `points/<id>.failed`).
pub fn run_point(plan: &Plan, p: &PlannedPoint, opts: &RunOptions) -> Result<Point> {
    let dir = plan.dir.join("points");
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    let (ok, failed) = (plan.point_file(p, "json"), plan.point_file(p, "failed"));
    match run(&p.exp, opts) {
        Ok(r) => {
            let run_dir = crate::run_dir(&p.exp, &plan.runs_dir);
            let pt = point(&p.overrides, &p.exp, &r.table, &run_dir);
            write_json(&ok, &pt)?;
            let _ = std::fs::remove_file(&failed);
            Ok(pt)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&ok);
            write_atomic(&failed, format!("{e:#}\n").as_bytes())?;
            Err(e)
        }
    }
}

/// Builds the frontier and the reports from the points that have finished; the others are
/// listed in [`SweepResult::incomplete`]. Writes `sweep.json`, `sweep.md`, `frontier.svg` and the
/// HTML report into the sweep folder.
pub fn collect(plan: &Plan) -> Result<SweepResult> {
    let mut points = Vec::new();
    let mut incomplete = Vec::new();
    for p in &plan.points {
        let (ok, failed) = (plan.point_file(p, "json"), plan.point_file(p, "failed"));
        if ok.exists() {
            points.push(read_json::<Point>(&ok)?);
            continue;
        }
        let error = std::fs::read_to_string(&failed)
            .ok()
            .map(|e| e.trim().to_string());
        incomplete.push(Unfinished {
            index: p.index,
            id: p.id.clone(),
            overrides: p.overrides.clone(),
            status: if error.is_some() { "failed" } else { "missing" }.into(),
            error,
        });
    }
    mark_frontier(&mut points);
    let result = SweepResult {
        schema_version: crate::SCHEMA_VERSION,
        axes: plan.axes.clone(),
        tax_rates: tax_rates(&points),
        points,
        incomplete,
    };
    super::write(&plan.dir, &result)?;
    Ok(result)
}
