//! Held-out validation of both judges: leave one XSTest model out (train on the other two
//! models' completions and PyRIT's sets, test on the third), and PyRIT's sets held out (train on
//! all XSTest completions); Spillover's own refusal replies are in every fold's training data.
//! The learned judge never sees the test set's responses, nor synthetic text made from them.

use super::data::{read_labelled, refusal_pool, Columns, Dataset, LabelMap};
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
    let kw = KeywordJudge::default();
    let keyword = set
        .items
        .iter()
        .map(|i| Ok((i.label, kw.judge(&i.prompt, &i.response)?.label)))
        .collect::<Result<Vec<_>>>()?;
    let human = set.items.iter().map(|i| i.label);
    let learned = human.zip(head_labels(featurizer, head, set)?);
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

/// Runs every fold. `pyrit_train` has PyRIT's off-topic answers relabelled degenerate (as used
/// for training); `pyrit_test` keeps PyRIT's own labels, scored with degenerate → refusal. The
/// refusals of Spillover's refusal training ([`refusal_pool`]) are in every fold's training data,
/// as in the shipped head's.
pub fn leave_one_out(
    featurizer: &Featurizer,
    xstest: &[Dataset],
    pyrit_train: &[Dataset],
    pyrit_test: &[Dataset],
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
            .collect();
        folds.extend(fold(featurizer, &train_sets, &[test], None, cfg)?);
    }
    let all_xstest: Vec<&Dataset> = xstest.iter().chain([&pool]).collect();
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

/// The folds as a markdown table followed by each fold's confusion matrices.
pub fn render_markdown(folds: &[Fold], cfg: &TrainConfig) -> String {
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
