//! The MRI on every seed: `spillover run` with two seeds on the tiny random model writes each
//! seed's MRI in `seed-S/explain/`, built from that seed's own training prompts, reports which
//! claims the seeds share (`mri_agreement`, and a section of report.md / report.html), reuses
//! every seed's MRI on a rerun, and takes its sizes from `[analysis]` (bad ones exit 2).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::ok;

/// examples/tiny.toml with the MRI on, small MRI sizes.
fn config(dir: &Path) -> PathBuf {
    let text = include_str!("../../../examples/tiny.toml").replace(
        "[analysis]\nmri = false",
        "[analysis]\nmri = true\nprompts = 4\nitems = 3\nnulls = 200",
    );
    assert!(text.contains("prompts = 4"), "examples/tiny.toml changed");
    let p = dir.join("exp.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn run(cfg: &Path, runs: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spillover"))
        .args(["run", cfg.to_str().unwrap(), "--quiet", "--runs-dir"])
        .arg(runs)
        .args(extra)
        .output()
        .unwrap()
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn run_folder(runs: &Path) -> PathBuf {
    std::fs::read_dir(runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("tiny-")
        })
        .expect("a run folder")
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn cos(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let n = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (n(a) * n(b))
}

#[test]
fn every_seed_gets_its_own_mri_and_the_report_says_which_claims_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = config(tmp.path());
    let runs = tmp.path().join("runs");
    ok(&run(&cfg, &runs, &["--seeds", "2"]));
    let folder = run_folder(&runs);
    let r = read(&folder.join("results.json"));
    assert_eq!(r["config"]["analysis"]["prompts"], 4);

    // One MRI folder per seed, each with its summary and tensors.
    let dirs: Vec<(u64, String)> = r["mri_seeds"]
        .as_array()
        .expect("mri_seeds")
        .iter()
        .map(|s| {
            (
                s["seed"].as_u64().unwrap(),
                s["dir"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        dirs,
        [(0, "seed-0/explain".into()), (1, "seed-1/explain".into())]
    );
    let mri: Vec<Value> = dirs
        .iter()
        .map(|(_, d)| {
            assert!(folder.join(d).join("mri.safetensors").is_file(), "{d}");
            read(&folder.join(d).join("mri.json"))
        })
        .collect();
    // results.mri is the first seed's summary (its numbers went through f32 → JSON twice).
    assert!(r["mri"]["findings"]["statements"] == mri[0]["findings"]["statements"]);
    assert!(r["mri"]["validation"][1]["name"] == mri[0]["validation"][1]["name"]);
    // Each seed's direction comes from its own draw of training prompts (`analysis.prompts` of
    // them): the seeds drew different prompts, so the directions differ.
    let splits = r["data"]["splits"].as_array().unwrap();
    assert_ne!(
        splits[0]["train"]["item_ids"],
        splits[1]["train"]["item_ids"]
    );
    for m in &mri {
        assert_eq!(m["direction"]["base"]["n_harmful"], 4, "analysis.prompts");
        assert_eq!(m["direction"]["base"]["n_harmless"], 4, "analysis.prompts");
    }
    let (d0, d1) = (
        floats(&mri[0]["direction"]["direction"]),
        floats(&mri[1]["direction"]["direction"]),
    );
    assert_ne!(d0, d1, "seed 1's MRI is not seed 0's");

    // The agreement: every claim kind, each seed's value, controls, robust only when controlled.
    let a = &r["mri_agreement"];
    assert_eq!(a["seeds"], serde_json::json!([0, 1]), "{a}");
    assert_eq!(a["nulls"], 200);
    let claims = a["claims"].as_array().unwrap();
    for kind in ["layer", "direction_cosine", "top_heads", "effect_sign"] {
        assert!(claims.iter().any(|c| c["kind"] == kind), "{kind}: {a}");
    }
    for c in claims {
        assert_eq!(c["per_seed"].as_array().unwrap().len(), 2, "{c}");
        assert!(!c["control"].as_str().unwrap().is_empty(), "{c}");
        if c["robust"] == true {
            assert_eq!(c["controlled"], true, "{c}");
            assert_eq!(c["agree"], true, "{c}");
        }
    }
    let layer = claims.iter().find(|c| c["kind"] == "layer").unwrap();
    let layers: Vec<&str> = layer["per_seed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["value"].as_str().unwrap())
        .collect();
    let expect: Vec<String> = mri
        .iter()
        .map(|m| format!("layer {}", m["direction"]["layer"]))
        .collect();
    assert_eq!(layers, expect);
    assert_eq!(layer["agree"], Value::Bool(layers[0] == layers[1]));
    // The cosine between the seeds' directions, recomputed here from the two files.
    let dc = &claims
        .iter()
        .find(|c| c["kind"] == "direction_cosine")
        .unwrap()["pairs"][0];
    assert!(
        (dc["statistic"].as_f64().unwrap() - cos(&d0, &d1)).abs() < 1e-5,
        "{dc}"
    );
    let p = dc["p_value"].as_f64().unwrap();
    assert!((1.0 / 201.0 - 1e-12..=1.0).contains(&p), "{dc}");
    let uncontrolled = claims.iter().filter(|c| c["controlled"] == false).count();
    assert!(uncontrolled >= 1, "the direction ablation has no control");

    // The report shows the agreement table; html too.
    let md = std::fs::read_to_string(folder.join("report.md")).unwrap();
    assert!(md.contains("The MRI over 2 seeds"), "{md}");
    // Each seed's causal claims, with their controls; the report lists them (passing ones as
    // findings, the others with their reasons).
    for m in &mri {
        let claims = m["claims"]["claims"].as_array().expect("claims");
        assert!(!claims.is_empty(), "{}", m["claims"]);
        for c in claims {
            assert_eq!(c["null_draws"], 100, "{c}");
            assert!(c["split"].as_str().unwrap().starts_with("in-sample"), "{c}");
        }
    }
    assert!(md.contains("### Causal claims"), "{md}");
    assert!(
        md.contains("| component | knock-out | effect (nats) |"),
        "{md}"
    );
    assert!(md.contains("| kind | claim | seed 0 | seed 1 |"), "{md}");
    assert!(md.contains("claims are robust"), "{md}");
    let html = std::fs::read_to_string(folder.join("report.html")).unwrap();
    assert!(html.contains("mri-agreement"));

    // Cached per seed: a rerun reuses both seeds' MRI.
    ok(&run(&cfg, &runs, &["--seeds", "2"]));
    let again = read(&folder.join("results.json"));
    for s in ["seed-0/explain", "seed-1/explain"] {
        let t = again["timings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["stage"] == s)
            .unwrap_or_else(|| panic!("{s} timing"));
        assert_eq!(t["reused"], true, "{t}");
    }
    assert_eq!(again["mri_agreement"], r["mri_agreement"]);
}

#[test]
fn bad_analysis_sizes_exit_2_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    for (text, expect) in [
        ("[analysis]\nnull = 100\n", "did you mean `nulls`?"),
        ("[analysis]\nnulls = 5\n", "analysis.nulls: 5 is below 20"),
        (
            "[analysis]\nablation_nulls = 5\n",
            "analysis.ablation_nulls: 5 is below 20",
        ),
        (
            "[analysis]\nprompts = 0\n",
            "analysis.prompts: must be at least 1",
        ),
        ("[analysis]\nitems = -1\n", "items"),
    ] {
        let cfg = tmp.path().join("bad.toml");
        std::fs::write(&cfg, text).unwrap();
        let out = run(&cfg, &runs, &["--dry-run"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text:?}: {err}");
        assert!(
            err.contains(expect),
            "{text:?}: expected {expect:?} in {err}"
        );
    }
    assert!(!runs.exists(), "a rejected config writes nothing");
}
