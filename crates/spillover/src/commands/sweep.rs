//! `spillover sweep`: one experiment over a grid of settings.

use anyhow::Result;
use clap::Args;
use spillover_pipeline::sweep::{sweep, Axis};
use spillover_pipeline::RunOptions;
use std::path::PathBuf;

pub const SWEEP_ABOUT: &str = "Run an experiment over a grid of settings: every combination of the --grid \
values is a run (as `spillover run --set KEY=VALUE ...`), sharing the baseline evaluation and any training or \
refusal direction with the same inputs. Then each point is placed by its safety gain (change of the refusal rate \
on harmful prompts, in points) against its capability loss (minus the mean change, in points, of the arithmetic, \
GSM8K, HumanEval and MMLU accuracies that were measured), the Pareto frontier is marked, and the tax rate of each \
intervention kind (capability points lost per refusal point gained) is reported.\n\n\
Writes RUNS_DIR/sweep-<name>-<hash>/sweep.json, sweep.md and frontier.svg; each point's run folder is a normal \
run folder. Example: spillover sweep --grid intervention.epochs=1,2,3 --grid data.n_train=25,50,100";

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
}

pub fn run(a: SweepArgs) -> Result<()> {
    let opts = RunOptions {
        runs_dir: a.runs_dir,
        progress: !a.quiet,
    };
    let (dir, result) = sweep(a.config.as_deref(), &a.set, &a.grid, &opts)?;
    for p in &result.points {
        println!(
            "{}\t{}\tsafety {:+.1} pts\tcapability loss {:+.1} pts{}",
            p.overrides.join(" "),
            p.kind,
            p.safety_gain,
            p.capability_loss,
            if p.on_frontier { "\tPareto" } else { "" }
        );
    }
    println!("sweep folder: {}", dir.display());
    Ok(())
}
