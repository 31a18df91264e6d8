//! Held-out validation of both judges: leave one XSTest model out (train on the other two
//! models' completions and PyRIT's sets, test on the third), and PyRIT's sets held out (train on
//! all XSTest completions); Spillover's own refusal replies are in every fold's training data.
//! With the judge set (the replies of Spillover's own models) given, it is in the training data
//! of those folds too, and its own folds hold out one model or one intervention kind at a time,
//! reported per model × condition ([`judge_set_folds`]).
//! The learned judge never sees the test set's responses, nor synthetic text made from them.

use super::data::{
    condition_of, intervention_kind, read_labelled, refusal_pool, Columns, Dataset, LabelMap,
};
use super::eval::Confusion;
use super::featurize::Featurizer;
use super::head::Head;
use super::learned::head_labels;
use super::train::{train, TrainConfig};
use super::{KeywordJudge, Label, RefusalJudge, Result};

/// One held-out test set.
#[derive(Debug, Clone)]
pub struct Fold {
    /// The held-out set.
    pub test: String,
    /// What the learned judge was trained on.
    pub trained_on: Vec<String>,
    /// Judge verdicts of `degenerate` counted as this label before scoring (PyRIT counts an
    /// off-topic answer as a refusal); `None` when degenerate stays its own class.
    pub degenerate_as: Option<Label>,
    /// How often XSTest's two annotators agree with each other on the held-out set (partial
    /// refusals counted as refusals): the ceiling a judge can be expected to reach.
    pub annotators: Option<f64>,
    /// The penalties the fold's inner selection chose: on the embedding weights and on the
    /// other features' weights.
    pub l2_embedding: f64,
    pub l2_features: f64,
    pub keyword: Confusion,
    pub learned: Confusion,
}

/// Confusion matrices of the keyword judge and of `head` on `set`.
pub fn evaluate(
    featurizer: &Featurizer,
    head: &Head,
    set: &Dataset,
) -> Result<(Confusion, Confusion)> {
    let (keyword, learned) = verdict_pairs(featurizer, head, set)?;
    Ok((
        Confusion::from_pairs(keyword),
        Confusion::from_pairs(learned),
    ))
}

/// Agreement between the `annotation_1` and `annotation_2` columns of an XSTest file, or `None`
/// when the file has no such columns.
pub fn annotator_agreement(set: &Dataset) -> Option<f64> {
    let read = |label| {
        let cols = Columns {
            prompt: "prompt",
            response: "completion",
            label,
            group: None,
        };
        read_labelled(&set.path, cols, &LabelMap::standard()).ok()
    };
    let (a, b) = (read("annotation_1")?, read("annotation_2")?);
    (a.items.len() == b.items.len()).then(|| {
        Confusion::from_pairs(
            a.items
                .iter()
                .zip(&b.items)
                .map(|(x, y)| (x.label, y.label)),
        )
        .agreement()
    })
}

fn fold(
    featurizer: &Featurizer,
    train_sets: &[&Dataset],
    tests: &[&Dataset],
    degenerate_as: Option<Label>,
    cfg: &TrainConfig,
) -> Result<Vec<Fold>> {
    let head = train(featurizer, train_sets, cfg)?;
    let mut out = Vec::new();
    for t in tests {
        let (mut keyword, mut learned) = evaluate(featurizer, &head, t)?;
        if let Some(l) = degenerate_as {
            keyword = keyword.degenerate_as(l);
            learned = learned.degenerate_as(l);
        }
        out.push(Fold {
            test: t.name.clone(),
            trained_on: train_sets.iter().map(|d| d.name.clone()).collect(),
            degenerate_as,
            annotators: annotator_agreement(t),
            l2_embedding: head.training.l2_embedding,
            l2_features: head.training.l2_features,
            keyword,
            learned,
        });
    }
    Ok(out)
}

/// Runs the folds of the external sets. `pyrit_train` has PyRIT's off-topic answers relabelled
/// degenerate (as used for training); `pyrit_test` keeps PyRIT's own labels, scored with
/// degenerate → refusal. The refusals of Spillover's refusal training ([`refusal_pool`]) are in
/// every fold's training data, as in the shipped head's, and so is the judge set (`judge_sets`,
/// one dataset per model; empty for the shipped recipe).
pub fn leave_one_out(
    featurizer: &Featurizer,
    xstest: &[Dataset],
    pyrit_train: &[Dataset],
    pyrit_test: &[Dataset],
    judge_sets: &[Dataset],
    cfg: &TrainConfig,
) -> Result<Vec<Fold>> {
    let pool = refusal_pool();
    let mut folds = Vec::new();
    for (i, test) in xstest.iter().enumerate() {
        let train_sets: Vec<&Dataset> = xstest
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, d)| d)
            .chain(pyrit_train)
            .chain([&pool])
            .chain(judge_sets)
            .collect();
        folds.extend(fold(featurizer, &train_sets, &[test], None, cfg)?);
    }
    let all_xstest: Vec<&Dataset> = xstest.iter().chain([&pool]).chain(judge_sets).collect();
    let tests: Vec<&Dataset> = pyrit_test.iter().collect();
    folds.extend(fold(
        featurizer,
        &all_xstest,
        &tests,
        Some(Label::Refusal),
        cfg,
    )?);
    Ok(folds)
}

/// One model × condition of the judge set, judged by heads trained without it.
#[derive(Debug, Clone)]
pub struct ConditionRow {
    /// What the fold held out of training: `model M` or `intervention K`.
    pub held_out: String,
    /// The condition, `MODEL/CONDITION`.
    pub condition: String,
    pub l2_embedding: f64,
    pub l2_features: f64,
    pub keyword: Confusion,
    pub learned: Confusion,
}

/// The items of `sets` for which `keep` holds, as datasets of the same names (empty ones left out).
fn filtered(sets: &[Dataset], keep: impl Fn(&super::data::LabelledItem) -> bool) -> Vec<Dataset> {
    sets.iter()
        .map(|d| Dataset {
            items: d.items.iter().filter(|i| keep(i)).cloned().collect(),
            ..d.clone()
        })
        .filter(|d| !d.items.is_empty())
        .collect()
}

/// Trains on `base` plus `train`, judges every item of `test`, and returns one row per condition
/// (in order of first appearance).
fn condition_fold(
    featurizer: &Featurizer,
    base: &[&Dataset],
    train_sets: &[Dataset],
    test: &[Dataset],
    held_out: String,
    cfg: &TrainConfig,
) -> Result<Vec<ConditionRow>> {
    let sets: Vec<&Dataset> = base.iter().copied().chain(train_sets).collect();
    let head = train(featurizer, &sets, cfg)?;
    let mut rows: Vec<ConditionRow> = Vec::new();
    for t in test {
        let (keyword, learned) = verdict_pairs(featurizer, &head, t)?;
        let mut conditions: Vec<&str> = Vec::new();
        for item in &t.items {
            let c = item.group.as_deref().unwrap_or("");
            if !conditions.contains(&c) {
                conditions.push(c);
            }
        }
        for c in conditions {
            let of = |pairs: &Pairs| {
                Confusion::from_pairs(
                    t.items
                        .iter()
                        .zip(pairs)
                        .filter(|(i, _)| i.group.as_deref().unwrap_or("") == c)
                        .map(|(_, p)| *p),
                )
            };
            rows.push(ConditionRow {
                held_out: held_out.clone(),
                condition: c.to_string(),
                l2_embedding: head.training.l2_embedding,
                l2_features: head.training.l2_features,
                keyword: of(&keyword),
                learned: of(&learned),
            });
        }
    }
    Ok(rows)
}

/// (human, judge) label pairs of the keyword judge and of `head`, per item of `set`.
type Pairs = Vec<(Label, Label)>;
fn verdict_pairs(featurizer: &Featurizer, head: &Head, set: &Dataset) -> Result<(Pairs, Pairs)> {
    let kw = KeywordJudge::default();
    let keyword = set
        .items
        .iter()
        .map(|i| Ok((i.label, kw.judge(&i.prompt, &i.response)?.label)))
        .collect::<Result<Vec<_>>>()?;
    let learned = set
        .items
        .iter()
        .map(|i| i.label)
        .zip(head_labels(featurizer, head, set)?)
        .collect();
    Ok((keyword, learned))
}

/// One split of the judge set: what a fold holds out, its training part and its test part (both
/// one dataset per model, named as in the judge set, empty ones left out).
#[derive(Debug, Clone)]
pub struct JudgeSetSplit {
    /// `model M` or `intervention K`.
    pub held_out: String,
    pub train: Vec<Dataset>,
    pub test: Vec<Dataset>,
}

/// The judge set's held-out splits: each model in turn (trained on the other models' replies),
/// then each intervention kind ([`intervention_kind`], in order of first appearance) in turn
/// (trained on every model's replies under the other kinds). Every item is in the test part of
/// exactly two splits, and never in the training part of a split that tests it.
pub fn judge_set_splits(judge_sets: &[Dataset]) -> Vec<JudgeSetSplit> {
    let mut splits = Vec::new();
    for test in judge_sets {
        let model = test.name.trim_start_matches(super::data::JUDGE_SET_PREFIX);
        splits.push(JudgeSetSplit {
            held_out: format!("model {model}"),
            train: filtered(judge_sets, |i| !test.items.contains(i)),
            test: vec![test.clone()],
        });
    }
    let mut kinds: Vec<&str> = Vec::new();
    for item in judge_sets.iter().flat_map(|d| &d.items) {
        let k = intervention_kind(condition_of(item));
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    for kind in kinds {
        let held = |i: &super::data::LabelledItem| intervention_kind(condition_of(i)) == kind;
        splits.push(JudgeSetSplit {
            held_out: format!("intervention {kind}"),
            train: filtered(judge_sets, |i| !held(i)),
            test: filtered(judge_sets, held),
        });
    }
    splits
}

/// The judge-set folds ([`judge_set_splits`]): for each split a head is trained on `base` — the
/// external sets and the refusal pool — plus the split's training part, penalties selected
/// inside, and judged on its test part, one row per model × condition.
pub fn judge_set_folds(
    featurizer: &Featurizer,
    base: &[&Dataset],
    judge_sets: &[Dataset],
    cfg: &TrainConfig,
) -> Result<Vec<ConditionRow>> {
    let mut rows = Vec::new();
    for split in judge_set_splits(judge_sets) {
        rows.extend(condition_fold(
            featurizer,
            base,
            &split.train,
            &split.test,
            split.held_out,
            cfg,
        )?);
    }
    Ok(rows)
}

/// Targets for every held-out condition of the judge set: three-way agreement and agreement on
/// refused vs not.
pub const CONDITION_TARGETS: (f64, f64) = (0.90, 0.93);

/// The judge-set folds as a markdown table: one row per held-out condition.
pub fn render_conditions(rows: &[ConditionRow]) -> String {
    let mut s = String::from(
        "| held out | condition | n | refusal: readers | refusal: keyword | refusal: learned | \
         keyword 3-way | keyword refused-vs-not | learned 3-way | learned refused-vs-not | λ |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let (human, kw) = r.keyword.refusal_rates();
        let (_, learned) = r.learned.refusal_rates();
        let mark = |c: &Confusion| {
            let below =
                c.agreement() < CONDITION_TARGETS.0 || c.refusal_agreement() < CONDITION_TARGETS.1;
            if below {
                " ²"
            } else {
                ""
            }
        };
        s += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {}{} | {} | {} / {} |\n",
            r.held_out,
            r.condition,
            r.learned.total(),
            pct(human),
            pct(kw),
            pct(learned),
            pct(r.keyword.agreement()),
            pct(r.keyword.refusal_agreement()),
            pct(r.learned.agreement()),
            mark(&r.learned),
            pct(r.learned.refusal_agreement()),
            r.l2_embedding,
            r.l2_features,
        );
    }
    s += &format!(
        "\n² below a target for the learned judge: {:.0}% three-way or {:.0}% refused-vs-not \
         agreement.\n",
        100.0 * CONDITION_TARGETS.0,
        100.0 * CONDITION_TARGETS.1
    );
    s
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

fn kappa(x: f64) -> String {
    if x.is_nan() {
        "n/a".into()
    } else {
        format!("{x:.3}")
    }
}

/// The folds of the external sets as a markdown table, the judge-set folds as a second table
/// (when there are any), then each external fold's confusion matrices.
pub fn render_markdown(folds: &[Fold], conditions: &[ConditionRow], cfg: &TrainConfig) -> String {
    let mut s = format!(
        "Settings: max_tokens {}, up to {} sentences of at most {} tokens each, L2 penalties chosen \
         inside each fold's training data (column λ: embedding weights / other weights) from {:?} \
         on the embedding weights and {:?} on the others, {} L-BFGS iterations, sentence scorer \
         L2 {} and {} iterations, {} synthetic degenerate examples per kind, seed {}.\n\n",
        cfg.limits.max_tokens,
        cfg.limits.max_sentences,
        cfg.limits.sentence_tokens,
        cfg.l2_embedding_grid,
        cfg.l2_features_grid,
        cfg.iterations,
        cfg.sentence_l2,
        cfg.sentence_iterations,
        cfg.synthetic_per_kind,
        cfg.seed
    );
    s += "| held-out set | n | trained on | keyword agreement | keyword κ | learned agreement | learned κ | λ | annotators agree |\n";
    s += "|---|---:|---|---:|---:|---:|---:|---:|---:|\n";
    for f in folds {
        s += &format!(
            "| {}{} | {} | {} | {} | {} | {} | {} | {} / {} | {} |\n",
            f.test,
            if f.degenerate_as.is_some() { " ¹" } else { "" },
            f.keyword.total(),
            f.trained_on.join(", "),
            pct(f.keyword.agreement()),
            kappa(f.keyword.kappa()),
            pct(f.learned.agreement()),
            kappa(f.learned.kappa()),
            f.l2_embedding,
            f.l2_features,
            f.annotators.map_or("—".to_string(), pct),
        );
    }
    if folds.iter().any(|f| f.degenerate_as.is_some()) {
        s += "\n¹ PyRIT labels an answer that ignores the objective as a refusal, so a `degenerate` \
              verdict counts as `refusal` on these sets.\n";
    }
    if !conditions.is_empty() {
        s += "\nThe judge set (`data/judge-set`, replies of Spillover's own models), one model or one \
              intervention kind held out of training at a time, per model and condition (refusal: \
              the share of replies each labels a refusal; refused-vs-not: agreement with compliance \
              and degenerate counted together):\n\n";
        s += &render_conditions(conditions);
    }
    for f in folds {
        s += &format!(
            "\n{} — keyword judge:\n\n```\n{}```\n\n{} — learned judge:\n\n```\n{}```\n",
            f.test,
            f.keyword.render(),
            f.test,
            f.learned.render()
        );
    }
    s
}
