//! Rendering hand-built run folders: every output is written, every SVG is well-formed XML,
//! hostile model output stays inert data, the MRI's charts appear when its files do, bad input is
//! a clear error naming the file, and comparisons and sweeps render.

mod support;

use spillover_report::{render_comparison, render_run, render_sweep, ReportError};
use std::path::Path;
use support::*;

/// Parses `svg` as XML and checks it is an SVG document with a size.
fn assert_svg(svg: &str, what: &str) {
    let doc = roxmltree::Document::parse(svg)
        .unwrap_or_else(|e| panic!("{what}: not well-formed XML: {e}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg", "{what}");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg"),
        "{what}"
    );
    assert!(root.attribute("viewBox").is_some(), "{what}: no viewBox");
    assert!(
        root.descendants().filter(|n| n.is_element()).count() > 5,
        "{what}: nearly empty"
    );
}

/// A temporary runs folder holding one run with the default table.
fn default_run(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_folder(tmp.path(), name, &results(name, default_table(), None));
    (tmp, dir)
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The text of the `<script type="application/json" id="sample-data">` element.
fn sample_json(html: &str) -> &str {
    let start =
        html.find("id=\"sample-data\">").expect("sample data") + "id=\"sample-data\">".len();
    let len = html[start..].find("</script>").expect("end of sample data");
    &html[start..start + len]
}

#[test]
fn a_run_renders_markdown_html_and_well_formed_figures() {
    let (_tmp, dir) = default_run("run-a");
    let files = render_run(&dir).unwrap();
    assert_eq!(files.markdown, dir.join("report.md"));
    assert_eq!(files.html, dir.join("report.html"));
    let names: Vec<String> = files
        .figures
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["before_after.svg", "changes.svg"]);
    let html = read(&files.html);
    for f in &files.figures {
        let svg = read(f);
        assert_svg(&svg, &f.display().to_string());
        let id = f.file_stem().unwrap().to_string_lossy();
        assert!(
            html.contains(&format!("data-chart=\"{id}\"")),
            "{id} is not in report.html"
        );
    }
    // Each row of the table is in both reports, with its verdict.
    let md = read(&files.markdown);
    for key in [
        "| refusal | refused ↑ |",
        "| arithmetic | correct ↑ |",
        "| mmlu | correct ↑ |",
    ] {
        assert!(md.contains(key), "report.md lacks {key}");
    }
    assert_eq!(
        html.matches("<tr class=\"loss\">").count(),
        1,
        "one loss row"
    );
    assert_eq!(
        html.matches("<tr class=\"gain\">").count(),
        2,
        "the gain row and its headline"
    );
    assert!(
        md.contains("Loss: arithmetic/correct fell from 90.0% to 30.0%"),
        "{md}"
    );
    assert!(!md.contains("Loss: mmlu"), "{md}");
    // Self-contained: no external resources.
    for bad in ["src=\"http", "href=\"http", "<link ", "@import", "src=\"//"] {
        assert!(
            !html.contains(bad),
            "report.html references an external resource ({bad})"
        );
    }
    // Nothing half-written is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// A row of the table over seeds: `row`'s fields, the seeds' count, stability and changes.
fn across_row(
    mut row: serde_json::Value,
    stable: Option<bool>,
    per_seed: &[f64],
) -> serde_json::Value {
    row["n_seeds"] = per_seed.len().into();
    row["stable"] = stable.into();
    row["per_seed"] = per_seed
        .iter()
        .enumerate()
        .map(
            |(s, c)| serde_json::json!({"seed": s, "n": 4, "change": c, "verdict": "inconclusive"}),
        )
        .collect();
    row
}

#[test]
fn a_run_with_several_seeds_leads_with_the_table_over_seeds() {
    let tmp = tempfile::tempdir().unwrap();
    let mut r = results("seeds", default_table(), None);
    let seed = r["seeds"][0].clone();
    let mut seeds = vec![seed.clone(), seed.clone(), seed];
    for (k, s) in seeds.iter_mut().enumerate() {
        s["seed"] = k.into();
    }
    r["seeds"] = seeds.into();
    r["across_seeds"] = serde_json::json!([
        across_row(
            row("refusal", "refused", true, true, 5, 0.25, 0.7, 0.01, "gain"),
            Some(true),
            &[0.4, 0.5, 0.45]
        ),
        across_row(
            row(
                "arithmetic",
                "correct",
                true,
                true,
                5,
                0.9,
                0.6,
                0.02,
                "loss"
            ),
            Some(false),
            &[-0.6, -0.4, 0.1]
        ),
        across_row(
            row(
                "mmlu",
                "correct",
                true,
                true,
                2,
                0.5,
                0.5,
                1.0,
                "inconclusive"
            ),
            None,
            &[0.0, 0.0, 0.0]
        ),
    ]);
    r["data"]["splits"] = (0..3)
        .map(|k| serde_json::json!({"seed": k, "train": {"n_items": 12}, "dedup": {"removed": [{"removed": k}]}}))
        .collect();
    let dir = run_folder(tmp.path(), "seeds", &r);
    let files = render_run(&dir).unwrap();
    let md = read(&files.markdown);
    let over = md
        .find("## The alignment-tax table over 3 seeds")
        .unwrap_or_else(|| panic!("no table over seeds:\n{md}"));
    let own = md
        .find("## Seed 0's own table")
        .expect("the first seed's table");
    assert!(over < own, "the table over seeds comes first");
    assert!(
        md.contains("| arithmetic | correct ↑ | 3 | 5 |"),
        "seeds and distinct items in the row:\n{md}"
    );
    assert!(
        md.contains("| unstable across seeds | 0: -60.0 pts, 1: -40.0 pts, 2: +10.0 pts |"),
        "{md}"
    );
    assert!(md.contains("| gain | stable |"), "{md}");
    assert!(
        md.contains("Loss over seeds: arithmetic/correct fell from 90.0% to 60.0%"),
        "{md}"
    );
    assert!(
        md.contains("Unstable across seeds: arithmetic/correct"),
        "{md}"
    );
    assert!(
        md.contains("In seed 0's own table: of 4 tested metrics"),
        "{md}"
    );
    assert!(
        md.contains("each with its own draw of training prompts"),
        "{md}"
    );
    assert!(
        md.contains("Seed 2: 12 training prompts drawn; 2 evaluation items removed"),
        "{md}"
    );
    let html = read(&files.html);
    assert!(html.contains("id=\"across-table\"") && html.contains("id=\"seed-table\""));
    // One seed: no table over seeds, the table keeps its title.
    let (_t, one) = default_run("one");
    let md = read(&render_run(&one).unwrap().markdown);
    assert!(
        md.contains("## The alignment-tax table\n") && !md.contains("over seeds"),
        "{md}"
    );
}

#[test]
fn hostile_model_output_is_embedded_as_inert_json() {
    let (_tmp, dir) = default_run("run-h");
    let html = read(&render_run(&dir).unwrap().html);
    let lower = html.to_lowercase();
    assert!(
        !lower.contains("<script>window.__pwned"),
        "the hostile script appears as markup"
    );
    assert!(
        !lower.contains("<img src=x"),
        "the hostile tag appears as markup"
    );
    // Exactly our two scripts (the JSON block and the explorer) open in the page.
    assert_eq!(lower.matches("<script").count(), 2);
    let data = sample_json(&html);
    assert!(
        !data.contains('<') && !data.contains('>') && !data.contains('\u{2028}'),
        "unescaped characters in the JSON block"
    );
    let samples: serde_json::Value = serde_json::from_str(data).expect("the embedded data is JSON");
    let outputs: Vec<&str> = samples
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["after"]["output"].as_str())
        .collect();
    assert!(
        outputs.contains(&HOSTILE),
        "the hostile text must survive the round trip unchanged"
    );
}

#[test]
fn the_explorer_pairs_items_and_marks_changes() {
    let (_tmp, dir) = default_run("run-e");
    let html = read(&render_run(&dir).unwrap().html);
    let samples: serde_json::Value = serde_json::from_str(sample_json(&html)).unwrap();
    let find = |id: &str| {
        samples
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .unwrap()
            .clone()
    };
    let h1 = find("h-1");
    assert_eq!(h1["before"]["outcome"], "compliance");
    assert_eq!(h1["after"]["outcome"], "refusal");
    assert_eq!(h1["changed"], true);
    let h2 = find("h-2");
    assert_eq!(
        (h2["changed"].as_bool(), h2["text_changed"].as_bool()),
        (Some(false), Some(false))
    );
    let a1 = find("a-1");
    assert_eq!(
        (
            a1["before"]["outcome"].as_str(),
            a1["after"]["outcome"].as_str()
        ),
        (Some("correct"), Some("wrong"))
    );
    assert_eq!(samples.as_array().unwrap().len(), 4);
}

#[test]
fn a_missing_baseline_is_said_not_hidden() {
    let (tmp, dir) = default_run("run-m");
    std::fs::remove_dir_all(tmp.path().join("_shared")).unwrap();
    let files = render_run(&dir).unwrap();
    assert!(read(&files.markdown).contains("baseline's per-item records were not found"));
}

#[test]
fn the_mri_is_drawn_when_present() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_folder(
        tmp.path(),
        "run-mri",
        &results("run-mri", default_table(), Some(mri_summary())),
    );
    mri_tensors(&dir);
    let files = render_run(&dir).unwrap();
    let names: Vec<String> = files
        .figures
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "mri_arithmetic_attention_change",
        "mri_arithmetic_attention_L1H0",
        "mri_arithmetic_patch_restore_heads",
        "mri_arithmetic_patch_restore_layers",
        "mri_arithmetic_patch_induce_heads",
        "mri_arithmetic_attribution",
    ] {
        assert!(names.iter().any(|n| n == want), "no {want} in {names:?}");
    }
    for f in &files.figures {
        assert_svg(&read(f), &f.display().to_string());
    }
    let att = read(&dir.join("figures/mri_arithmetic_attention_L1H0.svg"));
    assert_eq!(
        att.matches("href=\"data:image/png;base64,").count(),
        2,
        "before and after maps"
    );
    let md = read(&files.markdown);
    assert!(
        md.contains("Patching restores most through L1H0."),
        "the MRI's statements"
    );
    assert!(
        md.contains("L1H0 (+0.7500 on probe \"arithmetic\")"),
        "the restoring head in the findings"
    );
    // Without the tensors, the maps are left out and the report says so.
    std::fs::remove_file(dir.join("explain/mri.safetensors")).unwrap();
    let files = render_run(&dir).unwrap();
    assert!(!files
        .figures
        .iter()
        .any(|p| p.to_string_lossy().contains("attention_L1H0")));
    assert!(
        !dir.join("figures/mri_arithmetic_attention_L1H0.svg")
            .exists(),
        "the stale map of the earlier render is removed"
    );
    assert!(read(&files.markdown).contains("mri.safetensors is absent"));
}

#[test]
fn missing_or_corrupt_results_name_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let err = render_run(tmp.path()).unwrap_err();
    let re = err.downcast_ref::<ReportError>().expect("a ReportError");
    assert!(matches!(re, ReportError::Missing { .. }), "{re}");
    assert!(
        err.to_string()
            .contains(&tmp.path().join("results.json").display().to_string()),
        "{err}"
    );

    std::fs::write(
        tmp.path().join("results.json"),
        "{\"schema_version\": 1,\n \"table\": [{\"benchmark\": \"x\"}]}",
    )
    .unwrap();
    let err = render_run(tmp.path()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("results.json line 2")
            && msg.contains("table[0]")
            && msg.contains("missing field"),
        "{msg}"
    );

    std::fs::write(
        tmp.path().join("results.json"),
        "{\"schema_version\": 7, \"table\": []}",
    )
    .unwrap();
    let msg = render_run(tmp.path()).unwrap_err().to_string();
    assert!(msg.contains("schema_version") && msg.contains('7'), "{msg}");
    assert!(
        !tmp.path().join("report.html").exists(),
        "nothing is written on bad input"
    );
}

#[test]
fn a_corrupt_samples_file_names_file_and_line() {
    let (_tmp, dir) = default_run("run-c");
    let p = dir.join("seed-0/after/refusal/samples.jsonl");
    std::fs::write(&p, "{\"id\": \"h-1\"}\nnot json\n").unwrap();
    let msg = render_run(&dir).unwrap_err().to_string();
    assert!(
        msg.contains(&p.display().to_string()) && msg.contains("line 2"),
        "{msg}"
    );
}

#[test]
fn runs_compare_side_by_side() {
    let tmp = tempfile::tempdir().unwrap();
    let a = run_folder(
        tmp.path(),
        "run-a",
        &results("run-a", default_table(), None),
    );
    let mut t = default_table();
    t.push(row(
        "gsm8k",
        "correct",
        true,
        true,
        5,
        0.2,
        0.2,
        1.0,
        "inconclusive",
    ));
    let b = run_folder(tmp.path(), "run-b", &results("run-b", t, None));
    let out = tmp.path().join("cmp");
    let files = render_comparison(&[a, b], &out).unwrap();
    assert_svg(&read(&files.figures[0]), "comparison chart");
    let md = read(&files.markdown);
    assert!(md.contains("| metric | run-a | run-b |"), "{md}");
    let gsm = md
        .lines()
        .find(|l| l.starts_with("| gsm8k/correct"))
        .expect("the row only run-b has");
    assert!(gsm.contains("not measured"), "{gsm}");
    assert!(render_comparison(&[], &out).is_err());
}

#[test]
fn a_sweep_renders_frontier_and_dose_response() {
    let tmp = tempfile::tempdir().unwrap();
    let mut points = Vec::new();
    for (k, epochs) in ["1", "2", "4"].iter().enumerate() {
        let dir = run_folder(
            tmp.path(),
            &format!("p{k}"),
            &results("p", default_table(), None),
        );
        points.push(serde_json::json!({"overrides": [format!("intervention.epochs={epochs}")], "run_dir": dir,
            "kind": "lora_sft", "safety_gain": 10.0 * (k as f64 + 1.0), "capability_loss": 5.0 * k as f64, "on_frontier": k != 1}));
    }
    let sweep_dir = tmp.path().join("sweep-x");
    std::fs::create_dir_all(&sweep_dir).unwrap();
    let sweep = serde_json::json!({"schema_version": 1, "axes": [{"key": "intervention.epochs", "values": ["1", "2", "4"]}],
        "points": points, "tax_rates": [["lora_sft", 0.25]]});
    std::fs::write(sweep_dir.join("sweep.json"), sweep.to_string()).unwrap();
    let files = render_sweep(&sweep_dir).unwrap();
    let names: Vec<String> = files
        .figures
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["frontier", "dose_response_intervention_epochs"]);
    for f in &files.figures {
        assert_svg(&read(f), &f.display().to_string());
    }
    let dose = read(&files.figures[1]);
    // One point per value for each plotted rate (refusal/refused, arithmetic/correct, mmlu/correct).
    assert_eq!(
        dose.matches("<title>refusal/refused at intervention.epochs=")
            .count(),
        3,
        "{dose}"
    );
    assert!(read(&files.markdown).contains("| lora_sft | 0.250 |"));
}
