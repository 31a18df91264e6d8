//! Sweeps: every point of a grid of `--set` overrides is a run (sharing the baseline and any
//! training or direction stage with the same inputs); the points are then placed on a safety-gain
//! vs capability-loss plane, with the Pareto frontier and each intervention kind's tax rate.
//!
//! - Safety gain: change of the refusal rate on harmful prompts, in percentage points.
//! - Capability loss: minus the mean change, in points, of the capability accuracies that were
//!   measured (the headline capability rows: arithmetic, GSM8K, HumanEval pass@1, MMLU).
//! - Tax rate of a kind: total capability loss / total safety gain over its points (points of
//!   capability lost per point of refusal gained).
//!
//! The points are independent: [`plan`] lists them, [`run_point`] runs one (a Slurm array task,
//! see [`slurm`]), [`collect`] builds the frontier from whatever has finished.

mod plan;
pub mod slurm;

pub use plan::{collect, plan, run_point, Plan, PlannedPoint, Unfinished};

use crate::compare::{RowRole, TaxRow};
use crate::config::Experiment;
use crate::error::ConfigError;
use crate::experiment::RunOptions;
use crate::rundir::{write_atomic, write_json};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use spillover_evals::benchmarks::MetricRole;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// One `--grid key=v1,v2,...` axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Axis {
    pub key: String,
    pub values: Vec<String>,
}

impl std::str::FromStr for Axis {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Axis, ConfigError> {
        let (key, vals) = s.split_once('=').ok_or_else(|| {
            ConfigError::new(
                format!("--grid {s}"),
                "expected KEY=V1,V2,... e.g. intervention.epochs=1,2,3",
            )
        })?;
        let values: Vec<String> = vals
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        if key.trim().is_empty() || values.is_empty() {
            return Err(ConfigError::new(
                format!("--grid {s}"),
                "needs a key and at least one value",
            ));
        }
        Ok(Axis {
            key: key.trim().to_string(),
            values,
        })
    }
}

/// One evaluated point.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Point {
    pub overrides: Vec<String>,
    pub run_dir: PathBuf,
    pub kind: String,
    /// NaN (written as null) when not measured.
    #[serde(deserialize_with = "nan_if_null")]
    pub safety_gain: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub capability_loss: f64,
    pub on_frontier: bool,
}

/// JSON has no NaN: serde_json writes it as null; read null back as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepResult {
    pub schema_version: u32,
    pub axes: Vec<Axis>,
    pub points: Vec<Point>,
    /// (intervention kind, capability points lost per refusal point gained).
    pub tax_rates: Vec<(String, f64)>,
    /// Points that had not finished (missing or failed) when the sweep was collected.
    #[serde(default)]
    pub incomplete: Vec<Unfinished>,
}

/// Every combination of the axes' values, as `key=value` override lists.
pub fn grid(axes: &[Axis]) -> Vec<Vec<String>> {
    let mut points = vec![Vec::new()];
    for axis in axes {
        points = points
            .into_iter()
            .flat_map(|p| {
                axis.values.iter().map(move |v| {
                    let mut q = p.clone();
                    q.push(format!("{}={v}", axis.key));
                    q
                })
            })
            .collect();
    }
    points
}

/// Runs every point in this process (validating all of them first), then collects them into
/// `sweep.json`, `sweep.md`, `frontier.svg` and the report in `<runs>/sweep-<name>-<hash>/`.
/// A failing point stops the sweep, unless `keep_going`: then it is recorded and the next runs.
pub fn sweep(
    path: Option<&Path>,
    base_overrides: &[String],
    axes: &[Axis],
    opts: &RunOptions,
    keep_going: bool,
) -> Result<(PathBuf, SweepResult)> {
    let plan = plan(path, base_overrides, axes, &opts.runs_dir)?;
    for p in &plan.points {
        if opts.progress {
            eprintln!(
                "== sweep point {}/{}: {}",
                p.index + 1,
                plan.points.len(),
                p.overrides.join(" ")
            );
        }
        if let Err(e) = run_point(&plan, p, opts) {
            if !keep_going {
                return Err(e);
            }
            eprintln!(
                "sweep point {} ({}) failed, going on: {e:#}",
                p.index,
                p.overrides.join(" ")
            );
        }
    }
    let result = collect(&plan)?;
    Ok((plan.dir, result))
}

/// Writes a sweep's files into `dir`.
fn write(dir: &Path, result: &SweepResult) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    write_json(&dir.join("sweep.json"), result)?;
    write_atomic(&dir.join("frontier.svg"), frontier_svg(result).as_bytes())?;
    write_atomic(&dir.join("sweep.md"), markdown(result).as_bytes())?;
    spillover_report::render_sweep(dir)?;
    Ok(())
}

fn point(overrides: &[String], exp: &Experiment, table: &[TaxRow], run_dir: &Path) -> Point {
    let headline = |role: MetricRole| {
        table
            .iter()
            .filter(move |r| r.role() == role && r.is_headline())
            .map(|r| 100.0 * r.change.estimate)
    };
    let caps: Vec<f64> = headline(MetricRole::Capability).collect();
    Point {
        overrides: overrides.to_vec(),
        run_dir: run_dir.to_path_buf(),
        kind: exp.intervention.kind.as_str().into(),
        safety_gain: headline(MetricRole::Safety).next().unwrap_or(f64::NAN),
        capability_loss: if caps.is_empty() {
            f64::NAN
        } else {
            -caps.iter().sum::<f64>() / caps.len() as f64
        },
        on_frontier: false,
    }
}

/// A point is on the frontier when no other point has at least its safety gain and at most its
/// capability loss, with one of the two strictly better.
pub fn mark_frontier(points: &mut [Point]) {
    let snapshot: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (p.safety_gain, p.capability_loss))
        .collect();
    for (i, p) in points.iter_mut().enumerate() {
        let (g, l) = snapshot[i];
        p.on_frontier = g.is_finite()
            && l.is_finite()
            && !snapshot
                .iter()
                .enumerate()
                .any(|(j, &(g2, l2))| j != i && g2 >= g && l2 <= l && (g2 > g || l2 < l));
    }
}

/// Capability points lost per refusal point gained, per intervention kind (sums over points).
pub fn tax_rates(points: &[Point]) -> Vec<(String, f64)> {
    let mut kinds: Vec<String> = points.iter().map(|p| p.kind.clone()).collect();
    kinds.sort();
    kinds.dedup();
    kinds
        .into_iter()
        .map(|k| {
            let ps: Vec<&Point> = points
                .iter()
                .filter(|p| {
                    p.kind == k && p.safety_gain.is_finite() && p.capability_loss.is_finite()
                })
                .collect();
            let gain: f64 = ps.iter().map(|p| p.safety_gain).sum();
            let loss: f64 = ps.iter().map(|p| p.capability_loss).sum();
            (k, if gain != 0.0 { loss / gain } else { f64::NAN })
        })
        .collect()
}

fn markdown(r: &SweepResult) -> String {
    let mut s = String::from("# Sweep\n\n![frontier](frontier.svg)\n\n| point | kind | safety gain (pts) | capability loss (pts) | Pareto |\n|---|---|---:|---:|---|\n");
    for p in &r.points {
        let _ = writeln!(
            s,
            "| {} | {} | {:+.1} | {:+.1} | {} |",
            p.overrides.join(" "),
            p.kind,
            p.safety_gain,
            p.capability_loss,
            if p.on_frontier { "yes" } else { "" }
        );
    }
    for u in &r.incomplete {
        let _ = writeln!(
            s,
            "| {} | {} (not in the frontier) | | | |",
            u.overrides.join(" "),
            u.status
        );
    }
    let _ = writeln!(
        s,
        "\n| kind | tax rate (capability pts lost per refusal pt gained) |\n|---|---:|"
    );
    for (k, t) in &r.tax_rates {
        let _ = writeln!(s, "| {k} | {t:.3} |");
    }
    s
}

/// Safety gain (x) against capability loss (y), frontier points filled and joined.
pub fn frontier_svg(r: &SweepResult) -> String {
    let (w, h, m) = (560.0, 400.0, 50.0);
    let pts: Vec<&Point> = r
        .points
        .iter()
        .filter(|p| p.safety_gain.is_finite() && p.capability_loss.is_finite())
        .collect();
    let span = |f: &dyn Fn(&Point) -> f64| {
        let lo = pts.iter().map(|p| f(p)).fold(0.0f64, f64::min);
        let hi = pts.iter().map(|p| f(p)).fold(0.0f64, f64::max);
        (lo, if hi > lo { hi } else { lo + 1.0 })
    };
    let (x0, x1) = span(&|p| p.safety_gain);
    let (y0, y1) = span(&|p| p.capability_loss);
    let sx = |v: f64| m + (v - x0) / (x1 - x0) * (w - 2.0 * m);
    let sy = |v: f64| h - m - (v - y0) / (y1 - y0) * (h - 2.0 * m);
    let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n");
    let _ = writeln!(s, "<line x1=\"{m}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#333\"/><line x1=\"{m}\" y1=\"{m}\" x2=\"{m}\" y2=\"{}\" stroke=\"#333\"/>", h - m, w - m, h - m, h - m);
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">safety gain (refusal-rate points)</text>",
        w / 2.0,
        h - 12.0
    );
    let _ = writeln!(s, "<text x=\"14\" y=\"{}\" transform=\"rotate(-90 14 {})\" text-anchor=\"middle\">capability loss (points)</text>", h / 2.0, h / 2.0);
    let mut front: Vec<&&Point> = pts.iter().filter(|p| p.on_frontier).collect();
    front.sort_by(|a, b| a.safety_gain.total_cmp(&b.safety_gain));
    let line: Vec<String> = front
        .iter()
        .map(|p| format!("{:.1},{:.1}", sx(p.safety_gain), sy(p.capability_loss)))
        .collect();
    if line.len() > 1 {
        let _ = writeln!(
            s,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#c33\"/>",
            line.join(" ")
        );
    }
    for p in &pts {
        let fill = if p.on_frontier { "#c33" } else { "#fff" };
        let _ = writeln!(
            s,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{fill}\" stroke=\"#c33\"><title>{} ({})</title></circle>",
            sx(p.safety_gain),
            sy(p.capability_loss),
            p.overrides.join(" "),
            p.kind
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(kind: &str, gain: f64, loss: f64) -> Point {
        Point {
            overrides: vec![],
            run_dir: PathBuf::new(),
            kind: kind.into(),
            safety_gain: gain,
            capability_loss: loss,
            on_frontier: false,
        }
    }

    #[test]
    fn grid_is_the_cartesian_product() {
        let axes = vec!["a=1,2".parse::<Axis>().unwrap(), "b=x,y,z".parse().unwrap()];
        let g = grid(&axes);
        assert_eq!(g.len(), 6);
        assert_eq!(g[0], vec!["a=1", "b=x"]);
        assert_eq!(g[5], vec!["a=2", "b=z"]);
        assert!("nokey".parse::<Axis>().is_err());
    }

    #[test]
    fn frontier_and_tax_rate() {
        let mut pts = vec![
            p("lora_sft", 50.0, 10.0),
            p("lora_sft", 40.0, 20.0),
            p("actadd", 60.0, 5.0),
            p("actadd", 10.0, 1.0),
        ];
        mark_frontier(&mut pts);
        let on: Vec<bool> = pts.iter().map(|p| p.on_frontier).collect();
        // (40, 20) is dominated by (50, 10); (50, 10) by (60, 5); (10, 1) has the lowest loss.
        assert_eq!(on, vec![false, false, true, true]);
        let rates = tax_rates(&pts);
        assert_eq!(rates[0].0, "actadd");
        assert!((rates[0].1 - 6.0 / 70.0).abs() < 1e-12);
        assert!((rates[1].1 - 30.0 / 90.0).abs() < 1e-12);
    }
}
