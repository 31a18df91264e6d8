//! A sweep as a Slurm job array: `points.sbatch` (task K runs point K of the plan),
//! `collect.sbatch` (builds the frontier from whatever finished) and `submit.sh` (queues the array,
//! then the collect job with `--dependency=afterany` on it), written to `<sweep folder>/slurm/`.
//! Every path in them is absolute, so the jobs can run on any node that sees the same filesystem.

use super::Plan;
use crate::rundir::write_atomic;
use anyhow::{Context, Result};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Resources asked of Slurm (each `None` leaves the cluster's default).
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    /// `--time`, e.g. `2:00:00`.
    pub time: Option<String>,
    pub cpus_per_task: Option<u32>,
    /// `--gpus-per-task`, e.g. `1` or `h100:1`.
    pub gpus_per_task: Option<String>,
}

/// The files written.
#[derive(Debug, Clone)]
pub struct SlurmScripts {
    pub points: PathBuf,
    pub collect: PathBuf,
    pub submit: PathBuf,
}

/// Quotes `s` for a POSIX shell (unchanged when it needs no quoting).
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./=,:@+%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The `spillover sweep ...` command line every job runs (before `--point` / `--collect`).
fn sweep_command(plan: &Plan, exe: &Path) -> String {
    let mut args = vec![exe.display().to_string(), "sweep".into()];
    if let Some(c) = &plan.config {
        args.push(c.display().to_string());
    }
    for a in &plan.axes {
        args.push("--grid".into());
        args.push(format!("{}={}", a.key, a.values.join(",")));
    }
    for o in &plan.base_overrides {
        args.push("--set".into());
        args.push(o.clone());
    }
    args.push("--runs-dir".into());
    args.push(plan.runs_dir.display().to_string());
    args.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

fn resources(s: &mut String, opts: &SlurmOptions, cpus: Option<u32>, gpus: bool) {
    if let Some(p) = &opts.partition {
        let _ = writeln!(s, "#SBATCH --partition={p}");
    }
    if let Some(t) = &opts.time {
        let _ = writeln!(s, "#SBATCH --time={t}");
    }
    if let Some(c) = cpus {
        let _ = writeln!(s, "#SBATCH --cpus-per-task={c}");
    }
    if let (true, Some(g)) = (gpus, &opts.gpus_per_task) {
        let _ = writeln!(s, "#SBATCH --gpus-per-task={g}");
    }
}

/// The array script: one task per point.
pub fn points_script(plan: &Plan, exe: &Path, cwd: &Path, opts: &SlurmOptions) -> String {
    let name = &plan.points[0].exp.name;
    let logs = plan.dir.join("slurm");
    let mut s = String::from("#!/bin/bash\n");
    let _ = writeln!(
        s,
        "# Spillover sweep \"{name}\": {} grid points as a Slurm job array; task K runs point K.",
        plan.points.len()
    );
    let _ = writeln!(s, "# Written by `spillover sweep --slurm`. Queue it with submit.sh (next to this file), which also");
    let _ = writeln!(
        s,
        "# queues collect.sbatch to build the frontier once every task has ended."
    );
    let _ = writeln!(s, "#\n# point  run folder  settings");
    for p in &plan.points {
        let _ = writeln!(s, "# {:>5}  {}  {}", p.index, p.id, p.overrides.join(" "));
    }
    let _ = writeln!(s, "#SBATCH --job-name=spillover-{name}");
    let _ = writeln!(s, "#SBATCH --array=0-{}", plan.points.len() - 1);
    let _ = writeln!(s, "#SBATCH --output={}/point-%a.log", logs.display());
    resources(&mut s, opts, opts.cpus_per_task, true);
    let _ = writeln!(
        s,
        "set -euo pipefail\ncd {}",
        shell_quote(&cwd.display().to_string())
    );
    let _ = writeln!(
        s,
        "exec {} --point \"$SLURM_ARRAY_TASK_ID\"",
        sweep_command(plan, exe)
    );
    s
}

/// The collect job: reports from the points that finished, naming the others.
pub fn collect_script(plan: &Plan, exe: &Path, cwd: &Path, opts: &SlurmOptions) -> String {
    let name = &plan.points[0].exp.name;
    let mut s = String::from("#!/bin/bash\n");
    let _ = writeln!(
        s,
        "# Spillover sweep \"{name}\": builds sweep.json, sweep.md and report.html in"
    );
    let _ = writeln!(
        s,
        "# {} from the points that finished and names the missing or failed ones.",
        plan.dir.display()
    );
    let _ = writeln!(
        s,
        "# submit.sh queues it to start once every task of the array has ended (afterany)."
    );
    let _ = writeln!(s, "#SBATCH --job-name=spillover-{name}-collect");
    let _ = writeln!(
        s,
        "#SBATCH --output={}/collect.log",
        plan.dir.join("slurm").display()
    );
    resources(&mut s, opts, Some(1), false);
    let _ = writeln!(
        s,
        "set -euo pipefail\ncd {}",
        shell_quote(&cwd.display().to_string())
    );
    let _ = writeln!(s, "exec {} --collect", sweep_command(plan, exe));
    s
}

/// Queues the array, then the collect job after it; prints both job ids.
pub const SUBMIT_SCRIPT: &str = r#"#!/bin/bash
# Queues the sweep's job array (points.sbatch), then its collect job (collect.sbatch), which starts
# once every task of the array has ended, whether it succeeded or not.
set -euo pipefail
cd "$(dirname "$0")"
array=$(sbatch --parsable points.sbatch)
array=${array%%;*}
collect=$(sbatch --parsable --dependency="afterany:$array" collect.sbatch)
collect=${collect%%;*}
echo "array job $array, collect job $collect"
"#;

/// Writes the three scripts into `<sweep folder>/slurm/`. `exe` is the spillover binary the jobs
/// run, `cwd` the folder they run in.
pub fn write_scripts(
    plan: &Plan,
    exe: &Path,
    cwd: &Path,
    opts: &SlurmOptions,
) -> Result<SlurmScripts> {
    let dir = plan.dir.join("slurm");
    std::fs::create_dir_all(&dir).with_context(|| dir.display().to_string())?;
    let files = SlurmScripts {
        points: dir.join("points.sbatch"),
        collect: dir.join("collect.sbatch"),
        submit: dir.join("submit.sh"),
    };
    write_atomic(
        &files.points,
        points_script(plan, exe, cwd, opts).as_bytes(),
    )?;
    write_atomic(
        &files.collect,
        collect_script(plan, exe, cwd, opts).as_bytes(),
    )?;
    write_atomic(&files.submit, SUBMIT_SCRIPT.as_bytes())?;
    Ok(files)
}

/// Runs `submit.sh` (needs `sbatch` on the PATH); returns its output line with the job ids.
pub fn submit(files: &SlurmScripts) -> Result<String> {
    let out = std::process::Command::new("bash")
        .arg(&files.submit)
        .output()
        .with_context(|| format!("running {}", files.submit.display()))?;
    if !out.status.success() {
        anyhow::bail!(
            "submitting the sweep with {} failed (is `sbatch` on the PATH?): {}",
            files.submit.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_words_intact() {
        assert_eq!(
            shell_quote("intervention.epochs=1,2"),
            "intervention.epochs=1,2"
        );
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
