//! `spillover report` end to end: a tiny-model run (with the MRI) rendered and opened in a real
//! headless Chromium (driven by tools/browser_check.mjs over the DevTools protocol). The page must
//! load without a console error, show every table and chart and a working sample explorer that
//! responds to filter clicks; hostile model output must stay text. Screenshots are saved in the
//! test's temp folder (printed). Also: exit code 2 for a missing or corrupt results.json.
//!
//! Needs `chromium` (or $SPILLOVER_CHROMIUM) and `node`; without them the browser test is skipped
//! with a printed reason, or fails under SPILLOVER_REQUIRE_FIXTURES (scripts/test.sh sets it, and
//! installs both when it can; where it cannot, outside CI, it sets SPILLOVER_NO_BROWSER to the reason,
//! which this test prints as its skip reason).

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{ok, read_jsonl, spillover};

const TINY: &str = r#"
name = "tiny"
[model]
id = "tiny-llama"
[data]
n_train = 12
[intervention]
kind = "lora_sft"
epochs = 1
batch_size = 4
[benchmarks]
only = ["refusal", "over_refusal", "arithmetic", "mmlu", "kl"]
[benchmarks.refusal]
limit = 4
max_new_tokens = 8
[benchmarks.over_refusal]
limit = 3
max_new_tokens = 8
[benchmarks.arithmetic]
limit = 4
[benchmarks.mmlu]
limit = 4
[benchmarks.kl]
limit = 2
max_new_tokens = 6
[judge]
kind = "keyword"
[analysis]
mri = true
"#;

const HOSTILE: &str =
    "</script><script>window.__pwned=1;alert(1)</script><img src=x onerror=\"window.__pwned=2\">";

/// Prints why a test is skipped, or panics under `SPILLOVER_REQUIRE_FIXTURES`.
fn skip(why: &str) {
    if let Ok(reason) = std::env::var("SPILLOVER_NO_BROWSER") {
        println!("skipped: {why} ({reason})");
        return;
    }
    if std::env::var_os("SPILLOVER_REQUIRE_FIXTURES").is_some() {
        panic!("SPILLOVER_REQUIRE_FIXTURES is set but {why}");
    }
    println!("skipped: {why}");
}

fn in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Chromium and node, or why not.
fn browser() -> Result<(PathBuf, PathBuf), String> {
    let chromium = match std::env::var_os("SPILLOVER_CHROMIUM") {
        Some(p) => Some(PathBuf::from(&p))
            .filter(|p| p.is_file())
            .ok_or_else(|| format!("SPILLOVER_CHROMIUM={} is not a file", Path::new(&p).display()))?,
        None => in_path("chromium")
            .or_else(|| in_path("chromium-browser"))
            .ok_or("chromium is not installed (scripts/test.sh installs Debian's chromium; or set SPILLOVER_CHROMIUM)")?,
    };
    let node = in_path("node")
        .ok_or("node is not installed (needed to drive chromium: tools/browser_check.mjs)")?;
    Ok((chromium, node))
}

/// Records per benchmark folder of an evaluation (`<bench>/samples.jsonl`), by id.
fn records(eval_dir: &Path) -> BTreeMap<String, BTreeMap<String, Value>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(eval_dir).unwrap().filter_map(|e| e.ok()) {
        let f = e.path().join("samples.jsonl");
        if f.is_file() {
            let recs = read_jsonl(&f)
                .into_iter()
                .map(|r| (r["id"].as_str().unwrap().to_string(), r))
                .collect();
            out.insert(e.file_name().to_string_lossy().into_owned(), recs);
        }
    }
    out
}

/// Runs tools/browser_check.mjs on `html`, clicking the explorer chips `clicks` in order.
fn check(node: &Path, chromium: &Path, html: &Path, shot: &Path, clicks: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/browser_check.mjs");
    let mut cmd = Command::new(node);
    cmd.arg(&script)
        .arg("--html")
        .arg(html)
        .arg("--screenshot")
        .arg(shot)
        .arg("--chromium")
        .arg(chromium);
    for c in clicks {
        cmd.args(["--click", c]);
    }
    let out = cmd.output().expect("run node");
    let stdout = ok(&out);
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("browser_check output is not JSON ({e}): {stdout}"))
}

fn assert_clean(r: &Value) {
    for key in ["consoleErrors", "exceptions", "logErrors", "dialogs"] {
        assert_eq!(
            r[key].as_array().map(Vec::len),
            Some(0),
            "{key}: {}",
            r[key]
        );
    }
    assert!(
        r["pwned"].is_null(),
        "page script was injected: {}",
        r["pwned"]
    );
}

#[test]
fn the_report_opens_in_a_browser_and_its_explorer_responds() {
    let (chromium, node) = match browser() {
        Ok(b) => b,
        Err(why) => return skip(&why),
    };
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("exp.toml");
    std::fs::write(&cfg, TINY).unwrap();
    let runs = tmp.path().join("runs");
    ok(&spillover(&[
        "run",
        cfg.to_str().unwrap(),
        "--quiet",
        "--runs-dir",
        runs.to_str().unwrap(),
    ]));
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("tiny-")
        })
        .expect("a run folder");
    let listed = ok(&spillover(&["report", run.to_str().unwrap()]));
    let figures: Vec<String> = listed
        .lines()
        .filter(|l| l.ends_with(".svg"))
        .map(|l| {
            Path::new(l)
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert!(
        figures.iter().any(|f| f == "before_after") && figures.iter().any(|f| f == "changes"),
        "{figures:?}"
    );
    assert!(
        figures.iter().any(|f| f.starts_with("mri_")),
        "the MRI ran, so its charts must be drawn: {figures:?}"
    );

    // What the page must show, from the files themselves.
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap();
    let baselines: Vec<PathBuf> = std::fs::read_dir(runs.join("_shared"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("baseline-")
        })
        .collect();
    assert_eq!(baselines.len(), 1);
    let before = records(&baselines[0].join("eval"));
    let after = records(&run.join("seed-0/after"));
    let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (b, recs) in before.iter().chain(after.iter()) {
        ids.entry(b.clone())
            .or_default()
            .extend(recs.keys().cloned());
    }
    let total: usize = ids.values().map(BTreeSet::len).sum();
    let refusal_ids = &ids["refusal"];
    let label = |side: &BTreeMap<String, BTreeMap<String, Value>>, id: &str| {
        side["refusal"][id]["label"].clone()
    };
    let refusal_changed = refusal_ids
        .iter()
        .filter(|id| label(&before, id) != label(&after, id))
        .count();

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report_browser");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("report.png");
    let r = check(
        &node,
        &chromium,
        &run.join("report.html"),
        &shot,
        &["refusal", "outcome changed", "all items", "all benchmarks"],
    );
    println!("screenshot: {}", shot.display());
    assert_clean(&r);
    let page = &r["initial"];
    assert_eq!(
        page["tables"]["tax-table"]["rows"].as_u64(),
        Some(results["table"].as_array().unwrap().len() as u64)
    );
    assert_eq!(
        page["tables"]["summary-table"]["rows"].as_u64(),
        Some(results["headline"].as_array().unwrap().len() as u64)
    );
    assert!(page["tables"]["mri-validation"]["rows"].as_u64() > Some(0));
    for (id, t) in page["tables"].as_object().unwrap() {
        assert!(
            t["width"].as_f64() > Some(50.0) && t["height"].as_f64() > Some(20.0),
            "table {id} is not visible: {t}"
        );
    }
    let charts = page["charts"].as_array().unwrap();
    let shown: Vec<&str> = charts.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        shown, figures,
        "every written figure is on the page, in order"
    );
    for c in charts {
        assert!(
            c["width"].as_f64() > Some(200.0) && c["height"].as_f64() > Some(100.0),
            "chart not rendered: {c}"
        );
        assert!(
            c["marks"].as_u64() > Some(5),
            "chart has nothing drawn: {c}"
        );
        assert_eq!(
            c["images"], c["decoded"],
            "an embedded image does not decode: {c}"
        );
    }
    let ex = &page["explorer"];
    assert_eq!(ex["matching"].as_u64(), Some(total as u64), "{ex}");
    assert_eq!(ex["cards"].as_u64(), Some(total.min(50) as u64));
    let clicks = r["clicks"].as_array().unwrap();
    assert!(clicks.iter().all(|c| c["found"] == true), "{clicks:?}");
    assert_eq!(
        clicks[0]["matching"].as_u64(),
        Some(refusal_ids.len() as u64),
        "benchmark filter"
    );
    assert_eq!(clicks[0]["benchmarks"], serde_json::json!(["refusal"]));
    assert_eq!(
        clicks[1]["matching"].as_u64(),
        Some(refusal_changed as u64),
        "changed filter"
    );
    assert_eq!(
        clicks[2]["matching"].as_u64(),
        Some(refusal_ids.len() as u64)
    );
    assert_eq!(clicks[3]["matching"].as_u64(), Some(total as u64));
    assert!(
        std::fs::metadata(&shot)
            .map(|m| m.len() > 10_000)
            .unwrap_or(false),
        "no screenshot at {}",
        shot.display()
    );

    // A hostile output on one refusal item whose label flips: shown as text, never run, and
    // found by the "outcome changed" filter.
    let victim = refusal_ids.iter().next().unwrap().clone();
    let file = run.join("seed-0/after/refusal/samples.jsonl");
    let mut recs = read_jsonl(&file);
    let flipped = if label(&before, &victim) == "refusal" {
        "compliance"
    } else {
        "refusal"
    };
    for rec in recs.iter_mut().filter(|r| r["id"] == victim.as_str()) {
        rec["output"] = Value::String(HOSTILE.into());
        rec["label"] = Value::String(flipped.into());
    }
    std::fs::write(
        &file,
        recs.iter().map(|r| format!("{r}\n")).collect::<String>(),
    )
    .unwrap();
    ok(&spillover(&["report", run.to_str().unwrap()]));
    let shot2 = shots.join("report-hostile.png");
    let r = check(
        &node,
        &chromium,
        &run.join("report.html"),
        &shot2,
        &["refusal", "outcome changed"],
    );
    println!("screenshot: {}", shot2.display());
    assert_clean(&r);
    let changed = &r["clicks"][1];
    let expect = refusal_ids
        .iter()
        .filter(|id| **id != victim && label(&before, id) != label(&after, id))
        .count()
        + 1;
    assert_eq!(
        changed["matching"].as_u64(),
        Some(expect as u64),
        "{changed}"
    );
    assert!(
        changed["cardText"].as_str().unwrap().contains(HOSTILE),
        "the hostile text must be shown verbatim"
    );
}

#[test]
fn a_missing_or_corrupt_results_json_exits_2_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let out = spillover(&["report", tmp.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&tmp.path().join("results.json").display().to_string()),
        "{err}"
    );
    std::fs::write(
        tmp.path().join("results.json"),
        "{\"schema_version\": 1, \"table\": [",
    )
    .unwrap();
    let out = spillover(&["report", tmp.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("results.json line 1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = spillover(&["report", tmp.path().to_str().unwrap(), "--out", "x"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "--out with one run is a usage error"
    );
}
