//! The per-item records behind the table, paired by item id for the sample explorer: the base
//! model's (`<runs>/_shared/baseline-*/eval/<benchmark>/samples.jsonl`) and the first seed's
//! (`<run>/seed-N/after/<benchmark>/samples.jsonl`).
//!
//! The run folder does not name its baseline folder, so it is found by its stage record: the
//! after-evaluation's `stage.json` lists the baseline's inputs first, and the baseline folder whose
//! `eval/stage.json` has exactly those inputs is the one.

use crate::io::read_jsonl;
use crate::schema::Results;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// At most this many items per benchmark are embedded in report.html (items whose outcome
/// changed first).
pub const MAX_PER_BENCHMARK: usize = 150;
/// Prompts longer than this many characters are cut in report.html.
pub const MAX_PROMPT_CHARS: usize = 1000;
/// Outputs longer than this many characters are cut in report.html.
pub const MAX_OUTPUT_CHARS: usize = 1500;

/// One record of samples.jsonl (the fields the explorer shows).
#[derive(Debug, Clone, Deserialize)]
pub struct Record {
    pub id: String,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub output: Option<String>,
    #[serde(default)]
    pub extracted: Option<Value>,
    #[serde(default)]
    pub gold: Option<Value>,
    #[serde(default)]
    pub scores: BTreeMap<String, Option<f64>>,
    #[serde(default)]
    pub label: Option<String>,
}

/// One model's side of an item.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Side {
    pub output: Option<String>,
    pub extracted: Option<String>,
    /// The judge's label, or correct/wrong (passed/failed) from the binary score.
    pub outcome: String,
    pub scores: BTreeMap<String, f64>,
}

/// One item, before and after.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Sample {
    pub benchmark: String,
    pub id: String,
    pub prompt: String,
    pub gold: Option<String>,
    pub before: Option<Side>,
    pub after: Option<Side>,
    /// The judged outcome (label or a binary score) differs between before and after.
    pub changed: bool,
    /// The output text differs.
    pub text_changed: bool,
}

/// The explorer's data and what was left out.
#[derive(Debug, Clone, Default)]
pub struct SampleSet {
    pub samples: Vec<Sample>,
    /// Items per benchmark in the files (before the cap).
    pub totals: BTreeMap<String, usize>,
    /// Notes for the reader: caps applied, folders not found.
    pub notes: Vec<String>,
    pub before_dir: Option<PathBuf>,
    pub after_dir: Option<PathBuf>,
}

fn text(v: &Option<Value>) -> Option<String> {
    match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    }
}

fn cut(s: &str, max: usize) -> (String, bool) {
    match s.char_indices().nth(max) {
        None => (s.to_string(), false),
        Some((i, _)) => (
            format!(
                "{}… [cut: {} characters in all]",
                &s[..i],
                s.chars().count()
            ),
            true,
        ),
    }
}

/// What a record's judged outcome is: its label, else its binary score as a word.
pub fn outcome(r: &Record, binary: &BTreeSet<String>) -> String {
    if let Some(l) = &r.label {
        return l.clone();
    }
    for (metric, yes, no) in [
        ("correct", "correct", "wrong"),
        ("passed", "passed", "failed"),
    ] {
        if let Some(Some(v)) = r.scores.get(metric) {
            return if *v >= 0.5 { yes.into() } else { no.into() };
        }
    }
    for m in binary {
        if let Some(Some(v)) = r.scores.get(m) {
            return format!("{m}={v}");
        }
    }
    "—".into()
}

fn side(r: &Record, binary: &BTreeSet<String>, cuts: &mut usize) -> Side {
    let output = r.output.as_deref().map(|o| {
        let (s, c) = cut(o, MAX_OUTPUT_CHARS);
        *cuts += usize::from(c);
        s
    });
    Side {
        output,
        extracted: text(&r.extracted),
        outcome: outcome(r, binary),
        scores: r
            .scores
            .iter()
            .filter_map(|(k, v)| v.map(|v| (k.clone(), v)))
            .collect(),
    }
}

/// Whether the judged outcome of an item differs: its label or any binary score.
pub fn outcome_changed(b: &Record, a: &Record, binary: &BTreeSet<String>) -> bool {
    b.label != a.label
        || binary
            .iter()
            .any(|m| b.scores.get(m).copied().flatten() != a.scores.get(m).copied().flatten())
}

/// Pairs the records of one benchmark by id (before's order, then items only after has).
pub fn pair(
    benchmark: &str,
    before: &[Record],
    after: &[Record],
    binary: &BTreeSet<String>,
    cuts: &mut usize,
) -> Vec<Sample> {
    let after_by_id: HashMap<&str, &Record> = after.iter().map(|r| (r.id.as_str(), r)).collect();
    let before_ids: BTreeSet<&str> = before.iter().map(|r| r.id.as_str()).collect();
    let mut out = Vec::new();
    let only_after = after.iter().filter(|r| !before_ids.contains(r.id.as_str()));
    let items = before
        .iter()
        .map(|b| (Some(b), after_by_id.get(b.id.as_str()).copied()))
        .chain(only_after.map(|a| (None, Some(a))));
    for (b, a) in items {
        let any = b.or(a).expect("one side");
        let (prompt, c) = cut(any.prompt.as_deref().unwrap_or(""), MAX_PROMPT_CHARS);
        *cuts += usize::from(c);
        let (changed, text_changed) = match (b, a) {
            (Some(b), Some(a)) => (outcome_changed(b, a, binary), b.output != a.output),
            _ => (false, false),
        };
        out.push(Sample {
            benchmark: benchmark.to_string(),
            id: any.id.clone(),
            prompt,
            gold: text(&any.gold),
            before: b.map(|r| side(r, binary, cuts)),
            after: a.map(|r| side(r, binary, cuts)),
            changed,
            text_changed,
        });
    }
    out
}

/// At most `max` samples, those whose outcome changed first, in their original order.
pub fn cap(samples: Vec<Sample>, max: usize) -> Vec<Sample> {
    let changed: Vec<usize> = (0..samples.len())
        .filter(|&i| samples[i].changed)
        .take(max)
        .collect();
    let rest = (0..samples.len())
        .filter(|&i| !samples[i].changed)
        .take(max - changed.len());
    let mut keep: Vec<usize> = changed.iter().copied().chain(rest).collect();
    keep.sort_unstable();
    let mut keep = keep.into_iter().peekable();
    samples
        .into_iter()
        .enumerate()
        .filter_map(|(i, s)| {
            (keep.peek() == Some(&i)).then(|| {
                keep.next();
                s
            })
        })
        .collect()
}

/// The baseline evaluation folder of a run (see the module docs), if it can be found.
pub fn find_baseline(run_dir: &Path, after_dir: &Path) -> Option<PathBuf> {
    let stage: Value =
        serde_json::from_str(&std::fs::read_to_string(after_dir.join("stage.json")).ok()?).ok()?;
    let want = stage.get("inputs")?.get(0)?;
    let run_dir = run_dir.canonicalize().ok()?;
    let shared = run_dir.parent()?.join("_shared");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&shared)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("baseline-"))
        })
        .collect();
    dirs.sort();
    dirs.into_iter().map(|d| d.join("eval")).find(|eval| {
        std::fs::read_to_string(eval.join("stage.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .is_some_and(|v| v.get("inputs") == Some(want))
    })
}

fn benchmarks_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().join("samples.jsonl").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Loads and pairs every benchmark's records of a run (first seed), capped for embedding.
/// Missing folders become notes; a corrupt samples.jsonl is an error naming the file and line.
pub fn load(run_dir: &Path, r: &Results) -> Result<SampleSet> {
    let mut set = SampleSet::default();
    let seed = r.first_seed().unwrap_or(0);
    let after_dir = run_dir.join(format!("seed-{seed}")).join("after");
    if !after_dir.is_dir() {
        set.notes.push(format!(
            "No per-item records after the intervention: {} does not exist.",
            after_dir.display()
        ));
    }
    let before_dir = find_baseline(run_dir, &after_dir);
    if before_dir.is_none() {
        set.notes.push(format!(
            "The baseline's per-item records were not found (looked for the _shared/baseline-* folder next to {} whose inputs match {}); the explorer shows the after side only.",
            run_dir.display(),
            after_dir.join("stage.json").display()
        ));
    }
    let mut order: Vec<String> = r.table.iter().map(|t| t.benchmark.clone()).collect();
    order.extend(benchmarks_in(&after_dir));
    order.extend(before_dir.as_deref().map(benchmarks_in).unwrap_or_default());
    let mut seen = BTreeSet::new();
    order.retain(|b| seen.insert(b.clone()));
    let mut cuts = 0;
    for bench in order {
        let binary: BTreeSet<String> = r
            .table
            .iter()
            .filter(|t| t.benchmark == bench && t.binary)
            .map(|t| t.metric.clone())
            .collect();
        let read = |dir: &Option<PathBuf>| -> Result<Vec<Record>> {
            match dir {
                Some(d) if d.join(&bench).join("samples.jsonl").is_file() => {
                    Ok(read_jsonl(&d.join(&bench).join("samples.jsonl"))?)
                }
                _ => Ok(Vec::new()),
            }
        };
        let mut before = read(&before_dir)?;
        let after = read(&Some(after_dir.clone()))?;
        if before.is_empty() && after.is_empty() {
            continue;
        }
        // The baseline holds every seed's items; this seed was compared on the ones it kept
        // (the others duplicate its training prompts).
        if !after.is_empty() {
            let kept: BTreeSet<&str> = after.iter().map(|r| r.id.as_str()).collect();
            before.retain(|r| kept.contains(r.id.as_str()));
        }
        let mut paired = pair(&bench, &before, &after, &binary, &mut cuts);
        set.totals.insert(bench.clone(), paired.len());
        if paired.len() > MAX_PER_BENCHMARK {
            let all = paired.len();
            let changed = paired.iter().filter(|x| x.changed).count();
            paired = cap(paired, MAX_PER_BENCHMARK);
            set.notes.push(format!(
                "{bench}: the explorer holds {MAX_PER_BENCHMARK} of {all} items: {} of the {changed} whose outcome changed, then the first unchanged ones (samples.jsonl has all).",
                changed.min(MAX_PER_BENCHMARK)
            ));
        }
        set.samples.extend(paired);
    }
    if cuts > 0 {
        set.notes.push(format!(
            "{cuts} prompt(s) or output(s) longer than {MAX_PROMPT_CHARS} / {MAX_OUTPUT_CHARS} characters are cut in the explorer (samples.jsonl has them whole)."
        ));
    }
    set.before_dir = before_dir;
    set.after_dir = after_dir.is_dir().then_some(after_dir);
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, label: Option<&str>, refused: f64, out: &str) -> Record {
        Record {
            id: id.into(),
            prompt: Some(format!("prompt {id}")),
            output: Some(out.into()),
            extracted: None,
            gold: None,
            scores: [("refused".to_string(), Some(refused))]
                .into_iter()
                .collect(),
            label: label.map(str::to_string),
        }
    }

    #[test]
    fn pairing_marks_outcome_and_text_changes() {
        let binary: BTreeSet<String> = ["refused".to_string()].into();
        let before = [
            rec("a", Some("compliance"), 0.0, "Sure"),
            rec("b", Some("refusal"), 1.0, "No"),
            rec("c", Some("refusal"), 1.0, "No"),
        ];
        let after = [
            rec("c", Some("refusal"), 1.0, "I can't"),
            rec("a", Some("refusal"), 1.0, "No"),
            rec("b", Some("refusal"), 1.0, "No"),
        ];
        let mut cuts = 0;
        let p = pair("refusal", &before, &after, &binary, &mut cuts);
        let flags: Vec<(&str, bool, bool)> = p
            .iter()
            .map(|s| (s.id.as_str(), s.changed, s.text_changed))
            .collect();
        assert_eq!(
            flags,
            [("a", true, true), ("b", false, false), ("c", false, true)]
        );
        assert_eq!(p[0].before.as_ref().unwrap().outcome, "compliance");
        assert_eq!(p[0].after.as_ref().unwrap().outcome, "refusal");
    }

    #[test]
    fn the_cap_keeps_changed_items_first_in_order() {
        let binary: BTreeSet<String> = ["refused".to_string()].into();
        let ids: Vec<String> = (0..6).map(|i| format!("x{i}")).collect();
        let before: Vec<Record> = ids
            .iter()
            .map(|i| rec(i, Some("compliance"), 0.0, "a"))
            .collect();
        // x1 and x4 flip to refusal.
        let after: Vec<Record> = ids
            .iter()
            .map(|i| {
                if i == "x1" || i == "x4" {
                    rec(i, Some("refusal"), 1.0, "b")
                } else {
                    rec(i, Some("compliance"), 0.0, "a")
                }
            })
            .collect();
        let mut cuts = 0;
        let kept = cap(pair("refusal", &before, &after, &binary, &mut cuts), 3);
        let kept: Vec<&str> = kept.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(kept, ["x0", "x1", "x4"]);
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary() {
        let (s, c) = cut(&"é".repeat(10), 4);
        assert!(c && s.starts_with("éééé…") && s.contains("10 characters"));
        assert_eq!(cut("short", 10), ("short".to_string(), false));
    }
}
