//! The "Judge calibration" section: shown exactly when `judge-calibration.json` exists, with its
//! numbers as written; a corrupt file is an error naming it.

mod support;

use spillover_report::render_run;
use support::*;

const CALIBRATION: &str = r#"{
  "format": "spillover-judge-calibration/1",
  "judge": "learned",
  "labels_file": "audit-labelled.csv",
  "labels_sha256": "00",
  "rows": 100,
  "labelled": 98,
  "method": "Sample stratified by condition.",
  "confidence": 0.95,
  "resamples": 10000,
  "seed": 0,
  "conditions": [
    {"condition": "refusal/after", "benchmark": "refusal", "side": "after", "items": 48,
     "judge_counts": [21, 20, 7], "labelled": [20, 18, 7],
     "confusion": [[19, 8, 6], [1, 10, 0], [0, 0, 1]], "sample_agreement": 0.667,
     "agreement": {"estimate": 0.58, "lo": 0.45, "hi": 0.7, "confidence": 0.95},
     "sensitivity": {"estimate": 0.55, "lo": 0.4, "hi": 0.7, "confidence": 0.95},
     "specificity": {"estimate": 0.9, "lo": 0.7, "hi": 1.0, "confidence": 0.95},
     "judge_rate": {"estimate": 0.4375, "lo": 0.3, "hi": 0.58, "confidence": 0.95},
     "corrected_rate": {"estimate": 0.731, "lo": 0.6, "hi": 0.85, "confidence": 0.95},
     "note": null},
    {"condition": "refusal/before", "benchmark": "refusal", "side": "before", "items": 48,
     "judge_counts": [2, 40, 6], "labelled": [0, 20, 6],
     "confusion": [[0, 2, 0], [0, 18, 1], [0, 0, 5]], "sample_agreement": 0.88,
     "agreement": null, "sensitivity": null, "specificity": null,
     "judge_rate": {"estimate": 0.0417, "lo": 0.0, "hi": 0.1, "confidence": 0.95},
     "corrected_rate": null,
     "note": "no labelled reply among those the judge called refusal: label some or audit again"}
  ],
  "changes": [
    {"benchmark": "refusal",
     "judge_change": {"estimate": 0.396, "lo": 0.229, "hi": 0.562, "confidence": 0.95},
     "corrected_change": null}
  ]
}"#;

#[test]
fn the_section_appears_with_the_file_and_shows_its_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_folder(tmp.path(), "cal", &results("cal", default_table(), None));
    let files = render_run(&dir).unwrap();
    let md = std::fs::read_to_string(&files.markdown).unwrap();
    assert!(!md.contains("Judge calibration"), "no file, no section");

    std::fs::write(dir.join("judge-calibration.json"), CALIBRATION).unwrap();
    let files = render_run(&dir).unwrap();
    let md = std::fs::read_to_string(&files.markdown).unwrap();
    assert!(md.contains("## Judge calibration"));
    assert!(md.contains("A person labelled 98 of 100 sampled replies"));
    assert!(md.contains(
        "| refusal/after | 48 | 45 | 58.0% [45.0, 70.0] | 55.0% [40.0, 70.0] | 90.0% [70.0, 100.0] \
         | 43.8% [30.0, 58.0] | 73.1% [60.0, 85.0] |"
    ), "{md}");
    assert!(
        md.contains("| refusal/before | 48 | 26 | — | — | — | 4.2% [0.0, 10.0] | — |"),
        "{md}"
    );
    assert!(
        md.contains("| refusal | +39.6 pts [+22.9, +56.2] | — |"),
        "{md}"
    );
    assert!(md.contains("- refusal/before: no labelled reply among those the judge called refusal"));
    let html = std::fs::read_to_string(&files.html).unwrap();
    assert!(html.contains("<h2 id=\"calibration\">Judge calibration</h2>"));
    assert!(
        html.contains("id=\"calibration-table\"") && html.contains("id=\"calibration-changes\"")
    );
    assert!(html.contains("<td>73.1% [60.0, 85.0]</td>"));
    assert!(
        html.contains("href=\"#calibration\""),
        "in the page's navigation"
    );
}

#[test]
fn a_corrupt_calibration_file_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_folder(tmp.path(), "bad", &results("bad", default_table(), None));
    std::fs::write(dir.join("judge-calibration.json"), "{\"judge\": 3}").unwrap();
    let e = render_run(&dir).unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("judge-calibration.json"), "{msg}");
    assert!(e.downcast_ref::<spillover_report::ReportError>().is_some());
}
