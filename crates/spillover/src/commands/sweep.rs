//! `spillover sweep`: one experiment over a grid of settings, in this process or as Slurm jobs.

use anyhow::Result;
use clap::Args;
use spillover_pipeline::sweep::slurm::{self, SlurmOptions};
use spillover_pipeline::sweep::{self, Axis, SweepResult};
use spillover_pipeline::RunOptions;
use std::path::PathBuf;

pub const SWEEP_ABOUT: &str = "Run an experiment over a grid of settings: every combination of the --grid \
values is a run (as `spillover run --set KEY=VALUE ...`), sharing the baseline evaluation and any training or \
refusal direction with the same inputs. Then each point is placed by its safety gain (change of the refusal rate \
on harmful prompts, in points) against its capability loss (minus the mean change, in points, of the arithmetic, \
GSM8K, HumanEval and MMLU accuracies that were measured), the Pareto frontier is marked, and the tax rate of each \
intervention kind (capability points lost per refusal point gained) is reported.\n\n\
Writes RUNS_DIR/sweep-<name>-<hash>/sweep.json, sweep.md, frontier.svg and report.html; each point's run folder \
is a normal run folder. Example: spillover sweep --grid intervention.epochs=1,2,3 --grid data.n_train=25,50,100\n\n\
The points are independent jobs: --plan lists them (index, id = run folder name, settings), --point ID runs one, \
--collect builds the reports from the points that have finished and names the missing or failed ones (exit 1 \
when any is). --slurm writes a Slurm job array (one task per point) and a collect job that runs after it into \
the sweep folder's slurm/ (docs/cluster.md); --submit also queues them with sbatch. Shared stages are published \
by atomic rename, so jobs on several nodes of a shared filesystem can run at once.\n\n\
With the default experiment (no file), an intervention key the default file sets that does not apply to a \
point's kind (e.g. `lora` for intervention.kind=actadd) is dropped for that point; a key you set yourself still \
errors.";

#[derive(Args)]
pub struct SweepArgs {
    /// The experiment file (TOML). Without it, the default experiment.
    pub config: Option<PathBuf>,
    /// An axis of the grid, KEY=V1,V2,... (repeatable; the grid is their product).
    #[arg(long = "grid", value_name = "KEY=V1,V2,...", required = true)]
    pub grid: Vec<Axis>,
    /// Override a key at every point, e.g. `profile=quick` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Where run folders are created.
    #[arg(long, default_value = "runs", env = "SPILLOVER_RUNS")]
    pub runs_dir: PathBuf,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
    /// List the points (INDEX, ID, settings; tab-separated) and the sweep folder; run nothing.
    #[arg(long, group = "mode")]
    pub plan: bool,
    /// Run one point: its index in --plan (0-based, the Slurm array task id) or its id.
    #[arg(long, value_name = "ID", group = "mode")]
    pub point: Option<String>,
    /// Build the frontier and reports from the points that have finished; name the missing or
    /// failed ones (exit 1 when any is).
    #[arg(long, group = "mode")]
    pub collect: bool,
    /// Locally: when a point fails, record it and run the next (default: stop at the first).
    #[arg(long, conflicts_with_all = ["plan", "point", "collect", "slurm"])]
    pub keep_going: bool,
    /// Write a Slurm job array (one task per point) and a dependent collect job into
    /// SWEEP_FOLDER/slurm/ (points.sbatch, collect.sbatch, submit.sh); run nothing.
    #[arg(long, group = "mode")]
    pub slurm: bool,
    /// With --slurm: also queue the jobs now (runs submit.sh, which calls sbatch).
    #[arg(long, requires = "slurm")]
    pub submit: bool,
    /// With --slurm: the partition (#SBATCH --partition).
    #[arg(long, requires = "slurm", value_name = "P")]
    pub partition: Option<String>,
    /// With --slurm: time limit of each job, e.g. 2:00:00 (#SBATCH --time).
    #[arg(long, requires = "slurm", value_name = "T")]
    pub time: Option<String>,
    /// With --slurm: CPU cores per point (#SBATCH --cpus-per-task).
    #[arg(long, requires = "slurm", value_name = "N")]
    pub cpus_per_task: Option<u32>,
    /// With --slurm: GPUs per point, e.g. 1 or h100:1 (#SBATCH --gpus-per-task); set
    /// model.device=cuda with --set as well.
    #[arg(long, requires = "slurm", value_name = "G")]
    pub gpus_per_task: Option<String>,
    /// Print one JSON document on stdout at the end and nothing else: the sweep folder and every
    /// point with its run folder, status, tables and position (see docs/pandas.md); with --plan
    /// the planned points, with --point that point, with --slurm the scripts.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: SweepArgs) -> Result<()> {
    let opts = RunOptions {
        runs_dir: a.runs_dir.clone(),
        progress: !a.quiet,
    };
    let config = a.config.as_deref();
    if !(a.plan || a.point.is_some() || a.collect || a.slurm) {
        let (dir, result) = sweep::sweep(config, &a.set, &a.grid, &opts, a.keep_going)?;
        return report(&dir, &result, a.json);
    }
    let plan = sweep::plan(config, &a.set, &a.grid, &a.runs_dir)?;
    if a.plan && a.json {
        println!("{}", pretty(&plan_json(&plan))?);
    } else if a.plan {
        print!("{}", plan.listing());
        println!("sweep folder: {}", plan.dir.display());
    } else if let Some(sel) = &a.point {
        let p = plan.select(sel)?;
        if !a.quiet {
            eprintln!(
                "== sweep point {} ({}): {}",
                p.index,
                p.id,
                p.overrides.join(" ")
            );
        }
        let pt = sweep::run_point(&plan, p, &opts)?;
        if a.json {
            println!("{}", pretty(&point_json(&pt, false))?);
        } else {
            println!("{}", line(&pt));
        }
    } else if a.collect {
        let result = sweep::collect(&plan)?;
        return report(&plan.dir, &result, a.json);
    } else {
        let opts = SlurmOptions {
            partition: a.partition,
            time: a.time,
            cpus_per_task: a.cpus_per_task,
            gpus_per_task: a.gpus_per_task,
        };
        let exe = std::env::current_exe()?;
        let files = slurm::write_scripts(&plan, &exe, &std::env::current_dir()?, &opts)?;
        if a.json {
            let submitted = if a.submit {
                Some(slurm::submit(&files)?)
            } else {
                None
            };
            let doc = serde_json::json!({
                "sweep_dir": plan.dir,
                "array_script": files.points,
                "collect_script": files.collect,
                "submit_script": files.submit,
                "submitted": submitted,
            });
            println!("{}", pretty(&doc)?);
            return Ok(());
        }
        println!("array script: {}", files.points.display());
        println!("collect script: {}", files.collect.display());
        if a.submit {
            println!("{}", slurm::submit(&files)?);
        } else {
            println!("submit with: bash {}", files.submit.display());
        }
        println!("sweep folder: {}", plan.dir.display());
    }
    Ok(())
}

fn line(p: &sweep::Point) -> String {
    format!(
        "{}\t{}\tsafety {:+.1} pts\tcapability loss {:+.1} pts{}",
        p.overrides.join(" "),
        p.kind,
        p.safety_gain,
        p.capability_loss,
        if p.on_frontier { "\tPareto" } else { "" }
    )
}

fn pretty(v: &serde_json::Value) -> Result<String> {
    Ok(serde_json::to_string_pretty(v)?)
}

/// A finished point in `--json` output; `on_frontier` is null for a point run alone (`--point`:
/// the frontier is known once the sweep is collected).
fn point_json(p: &sweep::Point, collected: bool) -> serde_json::Value {
    let id = p.run_dir.file_name().map(|n| n.to_string_lossy());
    serde_json::json!({
        "id": id,
        "overrides": p.overrides,
        "kind": p.kind,
        "status": "done",
        "run_dir": p.run_dir,
        "results_json": p.run_dir.join("results.json"),
        "tables": spillover_pipeline::tables::paths(&p.run_dir),
        "safety_gain": p.safety_gain,
        "capability_loss": p.capability_loss,
        "on_frontier": collected.then_some(p.on_frontier),
    })
}

/// `--plan --json`: the sweep folder and every planned point with its run folder.
fn plan_json(plan: &sweep::Plan) -> serde_json::Value {
    let points: Vec<serde_json::Value> = plan
        .points
        .iter()
        .map(|p| {
            serde_json::json!({
                "index": p.index,
                "id": p.id,
                "overrides": p.overrides,
                "dropped": p.dropped,
                "run_dir": spillover_pipeline::run_dir(&p.exp, &plan.runs_dir),
            })
        })
        .collect();
    serde_json::json!({ "sweep_dir": plan.dir, "points": points })
}

/// The whole sweep in `--json` output (finished points, unfinished ones, tax rates).
fn sweep_json(dir: &std::path::Path, result: &SweepResult) -> serde_json::Value {
    serde_json::json!({
        "sweep_dir": dir,
        "sweep_json": dir.join("sweep.json"),
        "report_html": dir.join("report.html"),
        "complete": result.incomplete.is_empty(),
        "points": result
            .points
            .iter()
            .map(|p| point_json(p, true))
            .collect::<Vec<_>>(),
        "incomplete": result.incomplete,
        "tax_rates": result.tax_rates,
    })
}

/// Prints the points; an incomplete sweep is an error (exit 1) after its reports are written.
fn report(dir: &std::path::Path, result: &SweepResult, json: bool) -> Result<()> {
    if json {
        println!("{}", pretty(&sweep_json(dir, result))?);
    } else {
        for p in &result.points {
            println!("{}", line(p));
        }
        println!("sweep folder: {}", dir.display());
    }
    if result.incomplete.is_empty() {
        return Ok(());
    }
    for u in &result.incomplete {
        eprintln!(
            "point {} ({}) {}: {}{}",
            u.index,
            u.overrides.join(" "),
            u.status,
            u.id,
            u.error
                .as_deref()
                .map(|e| format!(": {}", e.lines().next().unwrap_or("")))
                .unwrap_or_default()
        );
    }
    anyhow::bail!(
        "sweep incomplete: {} of {} points missing or failed; the reports cover the {} that finished",
        result.incomplete.len(),
        result.incomplete.len() + result.points.len(),
        result.points.len()
    )
}
