//! `spillover bench run`: wall time of the whole default experiment (quick profile), per stage.

use anyhow::Result;
use clap::Args;
use spillover_pipeline::{config, RunOptions};
use std::path::PathBuf;

#[derive(Args)]
pub struct RunBenchArgs {
    /// Experiment file (default: the default experiment).
    pub config: Option<PathBuf>,
    /// Override keys, as for `spillover run` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Runs folder; a fresh temporary folder by default, so no stage is reused.
    #[arg(long)]
    pub runs_dir: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: RunBenchArgs) -> Result<()> {
    let exp = config::load(a.config.as_deref(), &a.set)?;
    let tmp;
    let runs_dir = match a.runs_dir {
        Some(d) => d,
        None => {
            tmp = std::env::temp_dir().join(format!("spillover-bench-run-{}", std::process::id()));
            tmp
        }
    };
    let t0 = std::time::Instant::now();
    let results = spillover_pipeline::run(
        &exp,
        &RunOptions {
            runs_dir: runs_dir.clone(),
            progress: true,
        },
    )?;
    let total = t0.elapsed().as_secs_f64();
    if a.json {
        let j = serde_json::json!({"total_seconds": total, "timings": results.timings,
            "machine": results.provenance.machine, "profile": exp.profile, "commit": results.provenance.git_commit});
        println!("{}", serde_json::to_string_pretty(&j)?);
    } else {
        println!("| stage | seconds | reused |\n|---|---:|---|");
        for t in &results.timings {
            println!(
                "| {} | {:.1} | {} |",
                t.stage,
                t.seconds,
                if t.reused { "yes" } else { "" }
            );
        }
        println!("| total (incl. model loading and reporting) | {total:.1} | |");
        println!(
            "run folder: {}",
            spillover_pipeline::run_dir(&exp, &runs_dir).display()
        );
    }
    Ok(())
}
