//! Outputs people can load, end to end on the tiny random Llama: a run's per-item and metrics
//! tables (Parquet read back with the parquet crate, CSV with the csv crate) against results.json
//! and the per-item records; `--json` on `run`, `sweep` and `eval`; the intervals of `eval`'s
//! scores.json. Datasets come from the packaged-asset cache (scripts/test.sh fetches them).

use parquet::basic::Type as Physical;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{ok, read_json};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spillover"))
}

/// A small experiment on tiny-llama: a few items of generated benchmarks with the keyword judge,
/// scored benchmarks and KL; no MRI.
const TINY: &str = include_str!("../../../examples/tiny.toml");

/// The whole of stdout as one JSON document (nothing else may be printed there).
fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn has_keys(v: &Value, keys: &[&str]) {
    for k in keys {
        assert!(v.get(k).is_some(), "no {k:?} in {v}");
    }
}

/// A Parquet row, keyed by column name.
type Row = BTreeMap<String, Field>;

/// A Parquet file's columns (name, physical type, optional) and rows.
struct Parquet {
    columns: Vec<(String, Physical, bool)>,
    rows: Vec<Row>,
}

fn read_parquet(path: &Path) -> Parquet {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let reader = SerializedFileReader::new(f).unwrap();
    let columns = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .columns()
        .iter()
        .map(|c| {
            (
                c.name().to_string(),
                c.physical_type(),
                c.self_type().is_optional(),
            )
        })
        .collect();
    let rows = reader
        .get_row_iter(None)
        .unwrap()
        .map(|r| {
            r.unwrap()
                .get_column_iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .collect();
    Parquet { columns, rows }
}

/// A CSV file's header and rows keyed by column name.
fn read_csv(path: &Path) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut r = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    let rows = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            header
                .iter()
                .cloned()
                .zip(rec.iter().map(str::to_string))
                .collect()
        })
        .collect();
    (header, rows)
}

fn text(f: &Field) -> Option<&str> {
    match f {
        Field::Str(s) => Some(s),
        Field::Null => None,
        other => panic!("not text: {other:?}"),
    }
}

fn num(f: &Field) -> Option<f64> {
    match f {
        Field::Double(x) => Some(*x),
        Field::Null => None,
        other => panic!("not a double: {other:?}"),
    }
}

fn int(f: &Field) -> Option<i64> {
    match f {
        Field::Long(x) => Some(*x),
        Field::Null => None,
        other => panic!("not an int64: {other:?}"),
    }
}

/// A CSV cell read the way pandas reads it: empty is missing, else the number.
fn csv_num(s: &str) -> Option<f64> {
    (!s.is_empty()).then(|| s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}")))
}

/// results.json writes ±∞ and NaN as null; `default` says which a null stands for.
fn json_num(v: &Value, default: f64) -> f64 {
    v.as_f64().unwrap_or(default)
}

/// The records of one evaluation of one benchmark, by item id.
fn records(eval_dir: &Path, bench: &str) -> Vec<Value> {
    std::fs::read_to_string(eval_dir.join(bench).join("samples.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A record's value of a table metric, computed here from its scores: `not_helped` is refused or
/// degenerate; a per-source row (`refused@harmbench`) has its metric's value.
fn record_value(r: &Value, metric: &str) -> f64 {
    let metric = metric.split('@').next().unwrap();
    let s = &r["scores"];
    if metric == "not_helped" {
        s["refused"]
            .as_f64()
            .unwrap()
            .max(s["degenerate"].as_f64().unwrap())
    } else {
        s[metric].as_f64().unwrap()
    }
}

fn sha16(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn the_baseline(runs: &Path) -> PathBuf {
    let shared = runs.join("_shared");
    let dirs: Vec<PathBuf> = std::fs::read_dir(&shared)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("baseline-")
        })
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].join("eval")
}

const ITEM_COLUMNS: &[(&str, Physical, bool)] = &[
    ("seed", Physical::INT64, false),
    ("benchmark", Physical::BYTE_ARRAY, false),
    ("metric", Physical::BYTE_ARRAY, false),
    ("item_id", Physical::BYTE_ARRAY, false),
    ("source", Physical::BYTE_ARRAY, true),
    ("prompt_id", Physical::BYTE_ARRAY, false),
    ("before", Physical::DOUBLE, false),
    ("after", Physical::DOUBLE, false),
    ("label_before", Physical::BYTE_ARRAY, true),
    ("label_after", Physical::BYTE_ARRAY, true),
    ("judge_reason_before", Physical::BYTE_ARRAY, true),
    ("judge_reason_after", Physical::BYTE_ARRAY, true),
    ("judge_p_refusal_before", Physical::DOUBLE, true),
    ("judge_p_refusal_after", Physical::DOUBLE, true),
    ("output_before", Physical::BYTE_ARRAY, true),
    ("output_after", Physical::BYTE_ARRAY, true),
    ("extracted_before", Physical::BYTE_ARRAY, true),
    ("extracted_after", Physical::BYTE_ARRAY, true),
    ("gold", Physical::BYTE_ARRAY, true),
];

#[test]
fn a_run_writes_tables_that_match_results_and_records() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("exp.toml");
    std::fs::write(&cfg, TINY).unwrap();
    let runs = tmp.path().join("runs");
    let out = bin()
        .args(["run", cfg.to_str().unwrap(), "--seeds", "2", "--json"])
        .arg("--runs-dir")
        .arg(&runs)
        .output()
        .unwrap();
    ok(&out);
    // --json: one document on stdout with the documented keys; progress went to stderr.
    let doc = stdout_json(&out);
    has_keys(
        &doc,
        &[
            "run_dir",
            "results_json",
            "report_md",
            "report_html",
            "tables",
            "seeds",
            "headline",
        ],
    );
    assert!(!out.stderr.is_empty(), "progress is on stderr");
    let folder = PathBuf::from(doc["run_dir"].as_str().unwrap());
    let path = |k: &str| PathBuf::from(doc["tables"][k].as_str().unwrap());
    for k in [
        "items_csv",
        "items_parquet",
        "metrics_csv",
        "metrics_parquet",
    ] {
        assert!(path(k).starts_with(&folder), "{k}: {}", path(k).display());
        assert!(path(k).is_file(), "{k} missing: {}", path(k).display());
    }
    let results = read_json(Path::new(doc["results_json"].as_str().unwrap()));
    assert_eq!(doc["headline"], results["headline"]);
    assert_eq!(doc["seeds"], serde_json::json!([0, 1]));
    assert!(!doc["headline"].as_array().unwrap().is_empty());

    // The metrics table is every seed's table of results.json, row for row.
    let metrics = read_parquet(&path("metrics_parquet"));
    let want_rows: Vec<(u64, &Value)> = results["seeds"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            let seed = s["seed"].as_u64().unwrap();
            s["table"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |r| (seed, r))
        })
        .collect();
    assert_eq!(metrics.rows.len(), want_rows.len());
    let (m_header, m_csv) = read_csv(&path("metrics_csv"));
    let m_names: Vec<&str> = metrics.columns.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(m_header, m_names, "CSV and Parquet have the same columns");
    assert_eq!(m_csv.len(), metrics.rows.len());
    let col_type = |name: &str| {
        metrics
            .columns
            .iter()
            .find(|c| c.0 == name)
            .unwrap_or_else(|| panic!("no column {name}"))
            .1
    };
    assert_eq!(col_type("n"), Physical::INT64);
    assert_eq!(col_type("p_holm"), Physical::DOUBLE);
    assert_eq!(col_type("tested"), Physical::BOOLEAN);
    assert_eq!(col_type("verdict"), Physical::BYTE_ARRAY);
    for ((m, (seed, want)), c) in metrics.rows.iter().zip(&want_rows).zip(&m_csv) {
        assert_eq!(int(&m["seed"]), Some(*seed as i64));
        assert_eq!(text(&m["benchmark"]), want["benchmark"].as_str());
        assert_eq!(text(&m["metric"]), want["metric"].as_str());
        assert_eq!(int(&m["n"]), want["n"].as_i64());
        assert_eq!(text(&m["verdict"]), want["verdict"].as_str());
        assert_eq!(text(&m["mark"]), want["mark"].as_str());
        assert_eq!(num(&m["chance"]), want["chance"].as_f64());
        assert_eq!(m["tested"], Field::Bool(want["tested"].as_bool().unwrap()));
        let pairs = [
            ("before", &want["before"]["estimate"], f64::NAN),
            ("before_lo", &want["before"]["lo"], f64::NEG_INFINITY),
            ("after", &want["after"]["estimate"], f64::NAN),
            ("after_hi", &want["after"]["hi"], f64::INFINITY),
            ("change", &want["change"]["estimate"], f64::NAN),
            ("change_lo", &want["change"]["lo"], f64::NEG_INFINITY),
            ("change_hi", &want["change"]["hi"], f64::INFINITY),
            ("change_confidence", &want["change"]["confidence"], f64::NAN),
            ("p_value", &want["p_value"], f64::NAN),
            ("p_holm", &want["p_holm"], f64::NAN),
        ];
        for (col, json, null_means) in pairs {
            let want_v = json_num(json, null_means);
            let got = num(&m[col]).unwrap_or(f64::NAN);
            let same = |a: f64, b: f64| (a.is_nan() && b.is_nan()) || a == b;
            assert!(
                same(got, want_v),
                "{col}: parquet {got} vs results {want_v}"
            );
            let csv_v = csv_num(&c[col]).unwrap_or(f64::NAN);
            assert!(same(csv_v, got), "{col}: csv {csv_v} vs parquet {got}");
        }
        let disc = want["discordant"].as_array();
        assert_eq!(
            int(&m["items_1_to_0"]),
            disc.map(|d| d[0].as_i64().unwrap())
        );
        assert_eq!(c["verdict"], want["verdict"].as_str().unwrap());
    }

    // The per-item table: its columns and types, and per (seed, benchmark, metric) exactly the
    // items of the row, with the records' values, labels and reasons.
    let items = read_parquet(&path("items_parquet"));
    let got_cols: Vec<(&str, Physical, bool)> = items
        .columns
        .iter()
        .map(|(n, t, o)| (n.as_str(), *t, *o))
        .collect();
    assert_eq!(got_cols, ITEM_COLUMNS);
    let baseline = the_baseline(&runs);
    let mut by_row: BTreeMap<(i64, String, String), Vec<&Row>> = BTreeMap::new();
    for r in &items.rows {
        let key = (
            int(&r["seed"]).unwrap(),
            text(&r["benchmark"]).unwrap().to_string(),
            text(&r["metric"]).unwrap().to_string(),
        );
        by_row.entry(key).or_default().push(r);
    }
    assert_eq!(by_row.len(), want_rows.len(), "one group per metrics row");
    let mut judged = 0;
    let mut per_source = 0;
    for (seed, want) in &want_rows {
        let bench = want["benchmark"].as_str().unwrap();
        let metric = want["metric"].as_str().unwrap();
        let group = &by_row[&(*seed as i64, bench.to_string(), metric.to_string())];
        assert_eq!(
            group.len() as u64,
            want["n"].as_u64().unwrap(),
            "{bench}/{metric}"
        );
        let after_dir = folder.join(format!("seed-{seed}/after"));
        let after_recs = records(&after_dir, bench);
        let before_recs = if bench == "kl" {
            Vec::new()
        } else {
            records(&baseline, bench)
        };
        let find = |recs: &[Value], id: &str| -> Option<Value> {
            recs.iter().find(|r| r["id"] == id).cloned()
        };
        let ids: Vec<&str> = group.iter().map(|r| text(&r["item_id"]).unwrap()).collect();
        // A per-source row (`refused@harmbench`) has the items of that source.
        let source = metric.split_once('@').map(|(_, s)| s);
        let rec_ids: Vec<&str> = after_recs
            .iter()
            .filter(|r| source.is_none_or(|s| r["detail"]["source"] == s))
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            ids, rec_ids,
            "{bench}/{metric}: the records' items, in order"
        );
        if let Some(src) = source {
            per_source += 1;
            assert!(
                group.iter().all(|r| text(&r["source"]) == Some(src)),
                "{bench}/{metric}: the source column"
            );
        }
        let (mut sum_b, mut sum_a) = (0.0, 0.0);
        for row in group {
            let id = text(&row["item_id"]).unwrap();
            let a = find(&after_recs, id).unwrap();
            let b = find(&before_recs, id);
            let before = num(&row["before"]).unwrap();
            let after = num(&row["after"]).unwrap();
            sum_b += before;
            sum_a += after;
            assert_eq!(after, record_value(&a, metric), "{bench}/{metric}/{id}");
            match &b {
                Some(b) => {
                    assert_eq!(before, record_value(b, metric), "{bench}/{metric}/{id}");
                    assert_eq!(
                        text(&row["prompt_id"]),
                        Some(sha16(b["prompt"].as_str().unwrap()).as_str())
                    );
                    assert_eq!(text(&row["label_before"]), b["label"].as_str());
                    assert_eq!(text(&row["output_before"]), b["output"].as_str());
                    assert_eq!(
                        text(&row["judge_reason_before"]),
                        b["detail"]["reason"].as_str()
                    );
                }
                None => assert_eq!(before, 0.0, "KL is 0 before"),
            }
            assert_eq!(text(&row["label_after"]), a["label"].as_str());
            assert_eq!(text(&row["output_after"]), a["output"].as_str());
            assert_eq!(text(&row["extracted_after"]), a["extracted"].as_str());
            if bench == "refusal" || bench == "over_refusal" {
                judged += 1;
                assert!(text(&row["label_after"]).is_some(), "{row:?}");
                assert!(text(&row["judge_reason_after"]).is_some(), "{row:?}");
                let p = num(&row["judge_p_refusal_after"]).unwrap();
                let refused = text(&row["label_after"]) == Some("refusal");
                // The keyword judge is certain: probability 1 on its label.
                assert_eq!(p, if refused { 1.0 } else { 0.0 }, "{row:?}");
            }
        }
        let n = group.len() as f64;
        let close = |x: f64, y: f64| (x - y).abs() <= 1e-12 * (1.0 + y.abs());
        assert!(
            close(sum_b / n, want["before"]["estimate"].as_f64().unwrap()),
            "{bench}/{metric}: mean before {} vs {}",
            sum_b / n,
            want["before"]["estimate"]
        );
        assert!(close(
            sum_a / n,
            want["after"]["estimate"].as_f64().unwrap()
        ));
    }
    assert!(judged > 0, "no judged items");
    // The default refusal items come from two sources: each gets its own rows.
    assert!(
        per_source >= 2 * 2,
        "per-source rows on both seeds: {per_source}"
    );

    // The CSV holds the same rows as the Parquet file.
    let (i_header, i_csv) = read_csv(&path("items_csv"));
    let names: Vec<&str> = ITEM_COLUMNS.iter().map(|c| c.0).collect();
    assert_eq!(i_header, names);
    assert_eq!(i_csv.len(), items.rows.len());
    for (c, p) in i_csv.iter().zip(&items.rows) {
        assert_eq!(c["item_id"], text(&p["item_id"]).unwrap());
        assert_eq!(c["metric"], text(&p["metric"]).unwrap());
        assert_eq!(csv_num(&c["before"]), num(&p["before"]));
        assert_eq!(csv_num(&c["after"]), num(&p["after"]));
        assert_eq!(c["output_after"], text(&p["output_after"]).unwrap_or(""));
    }

    // A rerun reuses the tables stage and leaves the files byte for byte.
    let bytes: Vec<Vec<u8>> = [
        "items_csv",
        "items_parquet",
        "metrics_csv",
        "metrics_parquet",
    ]
    .iter()
    .map(|k| std::fs::read(path(k)).unwrap())
    .collect();
    let again = bin()
        .args([
            "run",
            cfg.to_str().unwrap(),
            "--seeds",
            "2",
            "--json",
            "--quiet",
        ])
        .arg("--runs-dir")
        .arg(&runs)
        .output()
        .unwrap();
    ok(&again);
    assert_eq!(stdout_json(&again)["tables"], doc["tables"]);
    let r2 = read_json(Path::new(doc["results_json"].as_str().unwrap()));
    let t = r2["timings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["stage"] == "tables")
        .expect("a timing for the tables stage");
    assert_eq!(t["reused"], true);
    for (k, b) in [
        "items_csv",
        "items_parquet",
        "metrics_csv",
        "metrics_parquet",
    ]
    .iter()
    .zip(&bytes)
    {
        assert_eq!(&std::fs::read(path(k)).unwrap(), b, "{k} changed");
    }
}

#[test]
fn sweep_json_lists_points_with_their_folders_and_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("exp.toml");
    std::fs::write(&cfg, TINY).unwrap();
    let runs = tmp.path().join("runs");
    let sweep = |extra: &[&str]| {
        bin()
            .args(["sweep", cfg.to_str().unwrap(), "--quiet", "--json"])
            .arg("--runs-dir")
            .arg(&runs)
            .args(["--grid", "intervention.epochs=1,2"])
            .args(extra)
            .output()
            .unwrap()
    };
    let plan = sweep(&["--plan"]);
    ok(&plan);
    let plan = stdout_json(&plan);
    has_keys(&plan, &["sweep_dir", "points"]);
    let planned = plan["points"].as_array().unwrap();
    assert_eq!(planned.len(), 2);
    for (i, p) in planned.iter().enumerate() {
        has_keys(p, &["index", "id", "overrides", "run_dir"]);
        assert_eq!(p["index"], i);
    }

    let out = sweep(&[]);
    ok(&out);
    let doc = stdout_json(&out);
    has_keys(
        &doc,
        &[
            "sweep_dir",
            "sweep_json",
            "report_html",
            "complete",
            "points",
            "incomplete",
            "tax_rates",
        ],
    );
    assert_eq!(doc["complete"], true);
    assert_eq!(doc["sweep_dir"], plan["sweep_dir"]);
    assert!(Path::new(doc["sweep_json"].as_str().unwrap()).is_file());
    let points = doc["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    for (p, planned) in points.iter().zip(planned) {
        has_keys(
            p,
            &[
                "id",
                "overrides",
                "kind",
                "status",
                "run_dir",
                "results_json",
                "tables",
                "safety_gain",
                "capability_loss",
                "on_frontier",
            ],
        );
        assert_eq!(p["status"], "done");
        assert_eq!(p["id"], planned["id"]);
        assert_eq!(p["run_dir"], planned["run_dir"]);
        let results = read_json(Path::new(p["results_json"].as_str().unwrap()));
        let rows = read_parquet(Path::new(p["tables"]["metrics_parquet"].as_str().unwrap()));
        assert_eq!(rows.rows.len(), results["table"].as_array().unwrap().len());
        // safety_gain is the refusal row's change, in points.
        let refusal = results["table"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["benchmark"] == "refusal" && r["metric"] == "refused")
            .unwrap();
        let gain = 100.0 * refusal["change"]["estimate"].as_f64().unwrap();
        assert!(
            (p["safety_gain"].as_f64().unwrap() - gain).abs() < 1e-9,
            "{p}"
        );
    }

    // One point alone, and collecting, print the same point (whose place on the frontier is
    // known only once collected) and sweep.
    let one = sweep(&["--point", "1"]);
    ok(&one);
    let mut alone = stdout_json(&one);
    assert_eq!(alone["on_frontier"], Value::Null);
    alone["on_frontier"] = points[1]["on_frontier"].clone();
    assert_eq!(alone, points[1]);
    let collected = sweep(&["--collect"]);
    ok(&collected);
    assert_eq!(stdout_json(&collected), doc);
}

/// Wilson's score interval, written out here (z for 95%).
fn wilson(k: f64, n: f64) -> (f64, f64) {
    let z = 1.959_963_984_540_054_f64;
    let p = k / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z / (1.0 + z * z / n) * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    (centre - half, centre + half)
}

#[test]
fn eval_json_and_scores_carry_intervals() {
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("out");
    let out = bin()
        .args([
            "eval",
            "--model",
            "tiny-llama",
            "--bench",
            "refusal,arithmetic,perplexity",
            "--limit",
            "6",
            "--max-new-tokens",
            "8",
            "--quiet",
            "--json",
            "--out",
        ])
        .arg(&out_dir)
        .output()
        .unwrap();
    ok(&out);
    let doc = stdout_json(&out);
    has_keys(&doc, &["out", "scores_json", "benchmarks"]);
    let scores = read_json(Path::new(doc["scores_json"].as_str().unwrap()));
    let benches = doc["benchmarks"].as_object().unwrap();
    assert_eq!(benches.len(), 3);
    let mut methods = HashMap::new();
    for (name, b) in benches {
        has_keys(b, &["samples", "n", "summary", "intervals"]);
        let samples = std::fs::read_to_string(b["samples"].as_str().unwrap()).unwrap();
        let recs: Vec<Value> = samples
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(b["n"].as_u64(), Some(recs.len() as u64), "{name}");
        let entry = &scores["benchmarks"][name];
        assert_eq!(&entry["intervals"], &b["intervals"], "{name}");
        let specs = entry["metrics"].as_array().unwrap();
        for spec in specs {
            let key = spec["key"].as_str().unwrap();
            let Some(iv) = entry["intervals"].get(key) else {
                continue;
            };
            let values: Vec<f64> = recs
                .iter()
                .filter_map(|r| r["scores"][key].as_f64())
                .collect();
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            let (est, lo, hi) = (
                iv["estimate"].as_f64().unwrap(),
                iv["lo"].as_f64().unwrap(),
                iv["hi"].as_f64().unwrap(),
            );
            assert_eq!(iv["n"].as_u64(), Some(values.len() as u64), "{name}/{key}");
            assert_eq!(iv["confidence"], 0.95);
            assert!(
                (est - mean).abs() < 1e-12,
                "{name}/{key}: {est} vs mean {mean}"
            );
            assert!(lo <= est && est <= hi, "{name}/{key}: {iv}");
            let method = iv["method"].as_str().unwrap();
            methods.insert(format!("{name}/{key}"), method.to_string());
            if spec["binary"] == true {
                assert_eq!(method, "wilson", "{name}/{key}");
                let k = values.iter().sum::<f64>();
                let (wlo, whi) = wilson(k, values.len() as f64);
                assert!((lo - wlo).abs() < 1e-9 && (hi - whi).abs() < 1e-9, "{iv}");
            } else {
                assert_eq!(method, "bootstrap_percentile", "{name}/{key}");
                assert!(lo < hi || values.iter().all(|v| *v == values[0]), "{iv}");
            }
        }
    }
    for key in [
        "refusal/refused",
        "arithmetic/correct",
        "perplexity/nll_per_token",
    ] {
        assert!(
            methods.contains_key(key),
            "no interval for {key}: {methods:?}"
        );
    }
}
