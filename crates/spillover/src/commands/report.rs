//! `spillover report`: re-render a run's reports from its results.json (nothing is recomputed),
//! compare several runs side by side, or render a sweep.

use crate::exit::UsageError;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

pub const REPORT_ABOUT: &str = "Render the reports of a run folder from its results.json, without recomputing anything.\n\n\
With one RUN_DIR (a folder written by `spillover run`): writes RUN_DIR/report.md (the seed-style summary, the \
alignment-tax table with intervals and p-values, findings computed from the numbers), RUN_DIR/report.html (one \
self-contained page that works offline: the tables, before/after bars, the change chart, the MRI's attention and \
patching heatmaps and attribution bars when it ran, and a sample explorer of the items' prompts, outputs before and \
after and judge labels, up to 150 items per benchmark) and RUN_DIR/figures/*.svg (each chart as a standalone file).\n\n\
With a sweep folder (one holding sweep.json, from `spillover sweep`): the same files there, with the Pareto frontier \
and one dose-response chart per grid axis.\n\n\
With several RUN_DIRs: a side-by-side comparison written to --out (default ./comparison).\n\n\
With --readme FILE: rewrites the generated result section of FILE (between a line starting \
`<!-- BEGIN generated result` and the line `<!-- END generated result -->`) from RUN_DIR/results.json, \
and writes RUN_DIR/changes.svg (the chart it links); with --check as well, changes nothing and exits 1 \
when FILE or the chart differ from what RUN_DIR/results.json renders to. This is how the project's \
README shows the default experiment's result (scripts/readme-result.sh).\n\n\
A missing or corrupt results.json / sweep.json / samples.jsonl exits with code 2 and names the file.";

#[derive(Args)]
pub struct ReportArgs {
    /// Run folder(s) (or one sweep folder).
    #[arg(required = true, value_name = "RUN_DIR")]
    pub runs: Vec<PathBuf>,
    /// Where a comparison of several runs is written (default ./comparison; must not exist or
    /// be empty, unless --force).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[arg(long, help = crate::out::FORCE_HELP)]
    pub force: bool,
    /// Rewrite this Markdown file's generated result section from RUN_DIR/results.json.
    #[arg(long, value_name = "FILE")]
    pub readme: Option<PathBuf>,
    /// With --readme: only check that the section and chart are up to date (exit 1 if not).
    #[arg(long, requires = "readme")]
    pub check: bool,
}

pub fn run(a: ReportArgs) -> Result<()> {
    if let Some(readme) = &a.readme {
        let [dir] = a.runs.as_slice() else {
            return Err(UsageError("--readme takes exactly one RUN_DIR".into()).into());
        };
        if a.check {
            return spillover_report::readme::check(readme, dir);
        }
        spillover_report::readme::update(readme, dir)?;
        println!("{}", readme.display());
        println!("{}", dir.join(spillover_report::readme::FIGURE).display());
        return Ok(());
    }
    let files = match a.runs.as_slice() {
        [one] => {
            if a.out.is_some() {
                return Err(UsageError("--out is for comparing several runs; a single run's report is written into its own folder".into()).into());
            }
            if one.join("sweep.json").is_file() && !one.join("results.json").is_file() {
                spillover_report::render_sweep(one)?
            } else {
                spillover_report::render_run(one)?
            }
        }
        many => {
            let out = a.out.unwrap_or_else(|| PathBuf::from("comparison"));
            crate::out::check_out(&out, a.force)?;
            spillover_report::render_comparison(many, &out)?
        }
    };
    for p in files.all() {
        println!("{}", p.display());
    }
    Ok(())
}
