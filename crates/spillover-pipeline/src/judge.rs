//! The refusal judge named by the experiment, built by the judges' one factory
//! ([`spillover_evals::judge::make_judge`]), and a run's judged replies as the judge labelled
//! them (for `spillover judge audit` / `calibrate`).

use crate::config::JudgeKind;
use crate::error::ConfigError;
use crate::stages::data::{items_path, read_items};
use crate::stages::evaluate::{read_records, samples_path};
use anyhow::Result;
use spillover_errors::UserFixable;
use spillover_evals::benchmarks::BenchmarkKind;
use spillover_evals::judge::audit::{JudgedReply, Side};
use spillover_evals::judge::Label;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use spillover_evals::judge::BoxJudge;

/// Builds the experiment's judge: `learned` (the packaged MiniLM encoder + the committed head) or
/// `keyword`. A learned judge that cannot be loaded is an error naming `judge.kind` (exit 2).
pub fn make_judge(kind: JudgeKind) -> Result<BoxJudge> {
    spillover_evals::judge::make_judge(kind, None).map_err(|e| {
        if e.user_can_fix() {
            ConfigError::new("judge.kind", e).into()
        } else {
            anyhow::Error::new(e).context("judge.kind")
        }
    })
}

/// A run's judged replies, as the run's judge labelled them, and that judge's name.
pub struct RunReplies {
    pub judge: String,
    pub replies: Vec<JudgedReply>,
    /// Where the records were read: the baseline's and the first seed's after-evaluation.
    pub before_dir: PathBuf,
    pub after_dir: PathBuf,
}

/// Reads every judged reply of a run folder: each benchmark whose records carry the judge's
/// label, before (the shared baseline's records, found as the report finds them) and after the
/// intervention (the first seed's), on the items the first seed is compared on (the baseline's
/// other items, near-duplicates of that seed's training prompts, are left out), with the prompt as
/// the judge read it (the item's text from the data stage). Anything missing or inconsistent is an error naming the file (exit 2).
pub fn run_replies(run_dir: &Path) -> Result<RunReplies> {
    let bad = |what: String| -> anyhow::Error { ConfigError::new(run_dir.display(), what).into() };
    let results = spillover_report::schema::Results::load(run_dir)?;
    let seed = results
        .first_seed()
        .ok_or_else(|| bad("results.json lists no seed".into()))?;
    let after_dir = run_dir.join(format!("seed-{seed}")).join("after");
    if !after_dir.is_dir() {
        return Err(bad(format!("{} is missing", after_dir.display())));
    }
    let before_dir =
        spillover_report::samples::find_baseline(run_dir, &after_dir).ok_or_else(|| {
            bad(format!(
            "the baseline's records were not found (the _shared/baseline-* folder next to the run \
             whose inputs match {})",
            after_dir.join("stage.json").display()
        ))
        })?;
    // The first seed's items: the baseline's minus the near-duplicates of that seed's training
    // prompts, the items its before/after comparison is paired on.
    let data_dir = crate::stages::data::split_dir(&run_dir.join("data"), seed);
    let mut replies = Vec::new();
    let mut judges = std::collections::BTreeSet::new();
    for kind in BenchmarkKind::ALL {
        let sides = [(Side::Before, &before_dir), (Side::After, &after_dir)];
        let present: Vec<_> = sides
            .iter()
            .filter(|(_, d)| samples_path(d, kind).is_file())
            .collect();
        if present.is_empty() {
            continue;
        }
        let mut texts: Option<HashMap<String, String>> = None;
        for (side, dir) in present {
            let path = samples_path(dir, kind);
            for r in read_records(dir, kind)? {
                let Some(label) = r.label.as_deref() else {
                    continue;
                };
                let label = Label::parse(label).ok_or_else(|| {
                    bad(format!(
                        "{}: item {}: unknown label {label:?}",
                        path.display(),
                        r.id
                    ))
                })?;
                if let Some(j) = r.detail.as_ref().and_then(|d| d["judge"].as_str()) {
                    judges.insert(j.to_string());
                }
                if texts.is_none() {
                    let items = read_items(&items_path(&data_dir, kind))?;
                    texts = Some(items.into_iter().map(|i| (i.id, i.text)).collect());
                }
                let known = texts.as_ref().and_then(|t| t.get(&r.id));
                if known.is_none() && *side == Side::Before {
                    // A baseline item the seed is not compared on (a near-duplicate of its
                    // training prompts).
                    continue;
                }
                let prompt = known
                    .ok_or_else(|| {
                        bad(format!(
                            "{}: item {} is not in {}",
                            path.display(),
                            r.id,
                            items_path(&data_dir, kind).display()
                        ))
                    })?
                    .clone();
                replies.push(JudgedReply {
                    benchmark: kind.name().to_string(),
                    side: *side,
                    item: r.id,
                    prompt,
                    reply: r.output.unwrap_or_default(),
                    label,
                });
            }
        }
    }
    let judge = match judges.len() {
        1 => judges.into_iter().next().expect("one"),
        0 => return Err(bad("no record names the judge that labelled it".into())),
        _ => {
            return Err(bad(format!(
                "the records were labelled by different judges ({}): the baseline and the \
                 intervention's evaluation must use the same judge",
                judges.into_iter().collect::<Vec<_>>().join(", ")
            )))
        }
    };
    Ok(RunReplies {
        judge,
        replies,
        before_dir,
        after_dir,
    })
}
