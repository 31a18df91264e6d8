//! `spillover sweep` as independent jobs: --plan, --point, --collect, --keep-going, the generated
//! Slurm scripts (run here with bash, as Slurm would run them), and default keys that do not apply
//! to a point's kind. The same sweep on a real Slurm cluster is scripts/test-slurm.sh.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spillover"))
}

/// A small experiment on tiny-llama (datasets from the packaged-asset cache).
const TINY: &str = r#"
name = "jobs"
[model]
id = "tiny-llama"
[data]
n_train = 8
[intervention]
kind = "lora_sft"
batch_size = 4
[benchmarks]
only = ["refusal", "arithmetic", "mmlu"]
[benchmarks.refusal]
limit = 4
max_new_tokens = 8
[benchmarks.arithmetic]
limit = 5
[benchmarks.mmlu]
limit = 6
[judge]
kind = "keyword"
[analysis]
mri = false
"#;

fn sweep(cfg: Option<&Path>, runs: &Path, extra: &[&str]) -> Output {
    let mut c = bin();
    c.arg("sweep");
    if let Some(cfg) = cfg {
        c.arg(cfg);
    }
    c.args(["--quiet", "--runs-dir", runs.to_str().unwrap()])
        .args(extra)
        .output()
        .unwrap()
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn expect_code(o: &Output, code: i32) {
    let (out, err) = text(o);
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{out}\nstderr:\n{err}"
    );
}

fn sweep_folder(stdout: &str) -> PathBuf {
    PathBuf::from(
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("sweep folder: "))
            .expect("a sweep folder line"),
    )
}

fn sweep_json(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("sweep.json")).unwrap()).unwrap()
}

/// The points with their run folders reduced to their names (the runs dirs differ).
/// The grid arguments followed by `extra`.
fn with<'a>(grid: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    [grid, extra].concat()
}

fn points(s: &Value) -> Value {
    let mut p = s["points"].clone();
    for q in p.as_array_mut().unwrap() {
        let name = Path::new(q["run_dir"].as_str().unwrap())
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        q["run_dir"] = Value::String(name);
    }
    p
}

#[test]
fn default_keys_that_do_not_apply_to_a_point_are_dropped_but_explicit_ones_error() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let grid = ["--grid", "intervention.kind=lora_sft,actadd", "--plan"];
    let out = sweep(None, &runs, &grid);
    expect_code(&out, 0);
    let (stdout, _) = text(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with("0\tdefault-"), "{stdout}");
    assert!(!lines[0].contains("dropped"), "{stdout}");
    assert!(
        lines[1].starts_with("1\tdefault-")
            && lines[1].contains("intervention.kind=actadd")
            && lines[1].contains("intervention.lora")
            && lines[1].contains("dropped"),
        "{stdout}"
    );
    assert!(!runs.exists(), "--plan writes nothing");

    // Set by the user: still an error, exit 2.
    let mut explicit = grid.to_vec();
    explicit.extend(["--set", "intervention.lora=r=4,alpha=8,targets=q_proj"]);
    let out = sweep(None, &runs, &explicit);
    expect_code(&out, 2);
    assert!(text(&out)
        .1
        .contains("intervention.lora does not apply to kind = \"actadd\""));
}

#[test]
fn points_run_as_separate_jobs_collect_to_the_local_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("exp.toml");
    std::fs::write(&cfg, TINY).unwrap();
    let runs = tmp.path().join("runs");
    let grid = ["--grid", "intervention.epochs=1,2"];

    let plan = sweep(Some(&cfg), &runs, &with(&grid, &["--plan"]));
    expect_code(&plan, 0);
    let (stdout, _) = text(&plan);
    let ids: Vec<String> = stdout
        .lines()
        .filter(|l| !l.starts_with("sweep folder"))
        .map(|l| l.split('\t').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 2, "{stdout}");
    let dir = sweep_folder(&stdout);

    // Nothing has run: collect names both points as missing and exits 1.
    let out = sweep(Some(&cfg), &runs, &with(&grid, &["--collect"]));
    expect_code(&out, 1);
    let err = text(&out).1;
    assert!(err.contains("2 of 2 points missing or failed"), "{err}");
    assert!(err.contains(&ids[0]) && err.contains(&ids[1]), "{err}");
    assert_eq!(sweep_json(&dir)["incomplete"].as_array().unwrap().len(), 2);

    // The Slurm scripts, with every resource flag.
    let out = sweep(
        Some(&cfg),
        &runs,
        &with(
            &grid,
            &[
                "--slurm",
                "--partition",
                "gpu",
                "--time",
                "1:00:00",
                "--cpus-per-task",
                "4",
                "--gpus-per-task",
                "1",
            ],
        ),
    );
    expect_code(&out, 0);
    let slurm = dir.join("slurm");
    let array = std::fs::read_to_string(slurm.join("points.sbatch")).unwrap();
    for line in [
        "#SBATCH --array=0-1",
        "#SBATCH --partition=gpu",
        "#SBATCH --time=1:00:00",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --gpus-per-task=1",
        "--point \"$SLURM_ARRAY_TASK_ID\"",
    ] {
        assert!(array.contains(line), "no {line:?} in\n{array}");
    }
    let collect = std::fs::read_to_string(slurm.join("collect.sbatch")).unwrap();
    assert!(collect.contains("--collect") && !collect.contains("--gpus-per-task"));
    let submit = std::fs::read_to_string(slurm.join("submit.sh")).unwrap();
    assert!(submit.contains("--dependency=\"afterany:$array\""));

    // Point 1 by its id; point 0 by the array script itself, as Slurm task 0 would run it.
    expect_code(
        &sweep(Some(&cfg), &runs, &with(&grid, &["--point", &ids[1]])),
        0,
    );
    let task = Command::new("bash")
        .arg(slurm.join("points.sbatch"))
        .env("SLURM_ARRAY_TASK_ID", "0")
        .output()
        .unwrap();
    expect_code(&task, 0);
    let out = Command::new("bash")
        .arg(slurm.join("collect.sbatch"))
        .output()
        .unwrap();
    expect_code(&out, 0);
    let jobs = sweep_json(&dir);
    assert_eq!(jobs["incomplete"], serde_json::json!([]));

    // The same sweep in one process, elsewhere: the same points.
    let local_runs = tmp.path().join("local");
    let out = sweep(Some(&cfg), &local_runs, &grid);
    expect_code(&out, 0);
    let local = sweep_json(&sweep_folder(&text(&out).0));
    assert_eq!(points(&jobs), points(&local));
    assert_eq!(jobs["tax_rates"], local["tax_rates"]);
    assert_eq!(points(&jobs).as_array().unwrap().len(), 2);
}

#[test]
fn a_failing_point_stops_the_sweep_unless_keep_going() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("exp.toml");
    std::fs::write(&cfg, TINY).unwrap();
    let runs = tmp.path().join("runs");
    // 100000 training prompts cannot be drawn: that point fails when its data stage runs.
    let grid = ["--grid", "data.n_train=100000,8"];
    let out = sweep(Some(&cfg), &runs, &grid);
    expect_code(&out, 2);
    assert!(text(&out).1.contains("data.n_train"));
    let plan = text(&sweep(
        Some(&cfg),
        &runs,
        &[&grid[..], &["--plan"]].concat(),
    ))
    .0;
    let dir = sweep_folder(&plan);
    let done = |d: &Path| {
        std::fs::read_dir(d.join("points"))
            .map(|r| {
                r.filter(|e| e.as_ref().unwrap().path().extension().unwrap() == "json")
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(done(&dir), 0, "the second point ran after the first failed");

    let out = sweep(Some(&cfg), &runs, &[&grid[..], &["--keep-going"]].concat());
    expect_code(&out, 1);
    let err = text(&out).1;
    assert!(
        err.contains("point 0 (data.n_train=100000) failed"),
        "{err}"
    );
    assert_eq!(done(&dir), 1);
    let s = sweep_json(&dir);
    assert_eq!(s["points"].as_array().unwrap().len(), 1);
    let inc = &s["incomplete"][0];
    assert_eq!(inc["status"], "failed");
    assert_eq!(inc["index"], 0);
    assert!(
        inc["error"].as_str().unwrap().contains("data.n_train"),
        "{inc}"
    );
    assert!(std::fs::read_to_string(dir.join("report.md"))
        .unwrap()
        .contains("had not finished"));
}

/// Issue #22, case 6, for sweeps: a dataset file named in the experiment that does not exist is
/// exit 2 naming the key before any point runs (`--plan` included), and nothing is written.
#[test]
fn a_missing_input_file_stops_the_sweep_before_any_point() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let cfg = tmp.path().join("exp.toml");
    let with_missing = TINY.replace(
        "[benchmarks.refusal]\n",
        "[benchmarks.refusal]\ndataset = \"nowhere/harmful.csv:prompt\"\n",
    );
    std::fs::write(&cfg, with_missing).unwrap();
    for extra in [&["--plan"][..], &[]] {
        let out = sweep(
            Some(&cfg),
            &runs,
            &[&["--grid", "intervention.epochs=1,2"][..], extra].concat(),
        );
        expect_code(&out, 2);
        let (_, err) = text(&out);
        assert!(
            err.contains("benchmarks.refusal.dataset") && err.contains("nowhere/harmful.csv"),
            "{err}"
        );
        assert!(!runs.exists(), "nothing written for a missing input");
    }
}
