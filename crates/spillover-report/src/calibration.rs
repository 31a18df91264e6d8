//! The "Judge calibration" section: `RUN/judge-calibration.json`, written by `spillover judge
//! calibrate` from a person's labels of an audit sample. Shown only when the file exists; a corrupt
//! file is an error naming it.

use crate::error::ReportError;
use crate::sections::Table;
use serde::Deserialize;
use std::path::Path;

/// The file's name in the run folder (written by spillover-evals' `judge::calibrate`).
pub const FILE: &str = "judge-calibration.json";

/// An estimate and its interval (null where undefined).
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct Iv {
    pub estimate: Option<f64>,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
}

/// One condition (benchmark × before/after).
#[derive(Debug, Clone, Deserialize)]
pub struct Condition {
    pub condition: String,
    pub items: usize,
    pub labelled: [usize; 3],
    pub agreement: Option<Iv>,
    pub sensitivity: Option<Iv>,
    pub specificity: Option<Iv>,
    pub judge_rate: Iv,
    pub corrected_rate: Option<Iv>,
    #[serde(default)]
    pub note: Option<String>,
}

/// A benchmark's change, after − before.
#[derive(Debug, Clone, Deserialize)]
pub struct Change {
    pub benchmark: String,
    pub judge_change: Iv,
    pub corrected_change: Option<Iv>,
}

/// What the report shows of `judge-calibration.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Calibration {
    pub judge: String,
    pub labels_file: String,
    pub rows: usize,
    pub labelled: usize,
    pub method: String,
    pub confidence: f64,
    pub resamples: usize,
    pub conditions: Vec<Condition>,
    pub changes: Vec<Change>,
}

/// The run's calibration, if `spillover judge calibrate` wrote one.
pub fn load(run_dir: &Path) -> Result<Option<Calibration>, ReportError> {
    let path = run_dir.join(FILE);
    if !path.exists() {
        return Ok(None);
    }
    crate::io::read_json(
        &path,
        "`spillover judge calibrate RUN --labels FILE` writes it",
    )
    .map(Some)
}

fn rate(i: Option<&Iv>) -> String {
    match i {
        Some(Iv {
            estimate: Some(e),
            lo: Some(l),
            hi: Some(h),
        }) => format!("{:.1}% [{:.1}, {:.1}]", 100.0 * e, 100.0 * l, 100.0 * h),
        _ => "—".into(),
    }
}

fn pts(i: Option<&Iv>) -> String {
    match i {
        Some(Iv {
            estimate: Some(e),
            lo: Some(l),
            hi: Some(h),
        }) => format!(
            "{:+.1} pts [{:+.1}, {:+.1}]",
            100.0 * e,
            100.0 * l,
            100.0 * h
        ),
        _ => "—".into(),
    }
}

/// The section's opening paragraph.
pub fn intro(c: &Calibration) -> String {
    format!(
        "A person labelled {} of {} sampled replies ({}), blind to the judge ({}). {} {:.0}% intervals from {} replicates.",
        c.labelled,
        c.rows,
        c.labels_file,
        c.judge,
        c.method,
        100.0 * c.confidence,
        c.resamples
    )
}

/// Per condition: agreement, sensitivity, specificity, the judge's and the corrected rates.
pub fn conditions(c: &Calibration) -> Table {
    let mut t = Table {
        header: [
            "condition",
            "replies",
            "labelled",
            "agreement (3-way)",
            "sensitivity",
            "specificity",
            "refusal rate: judge",
            "refusal rate: corrected",
        ]
        .map(String::from)
        .to_vec(),
        ..Table::default()
    };
    for x in &c.conditions {
        t.rows.push(vec![
            x.condition.clone(),
            x.items.to_string(),
            x.labelled.iter().sum::<usize>().to_string(),
            rate(x.agreement.as_ref()),
            rate(x.sensitivity.as_ref()),
            rate(x.specificity.as_ref()),
            rate(Some(&x.judge_rate)),
            rate(x.corrected_rate.as_ref()),
        ]);
        t.classes.push(String::new());
    }
    t
}

/// Per benchmark: the change of refusal rate by the judge and corrected (none without pairs).
pub fn changes(c: &Calibration) -> Option<Table> {
    if c.changes.is_empty() {
        return None;
    }
    let mut t = Table {
        header: ["benchmark", "change: judge", "change: corrected"]
            .map(String::from)
            .to_vec(),
        ..Table::default()
    };
    for x in &c.changes {
        t.rows.push(vec![
            x.benchmark.clone(),
            pts(Some(&x.judge_change)),
            pts(x.corrected_change.as_ref()),
        ]);
        t.classes.push(String::new());
    }
    Some(t)
}

/// Why a condition has no estimate.
pub fn notes(c: &Calibration) -> Vec<String> {
    c.conditions
        .iter()
        .filter_map(|x| x.note.as_ref().map(|n| format!("{}: {n}", x.condition)))
        .collect()
}
