//! Training the learned judge's head: human-labelled sets + synthetic degenerate text →
//! features → sentence scorer (cross-fitted, [`super::sentences`]) → multinomial logistic
//! regression (L-BFGS, fixed iterations, L2).
//!
//! The two L2 penalties — on the embedding weights and on the other features' weights — are
//! chosen from fixed grids by an inner leave-one-model-out split of the training sets (each XSTest
//! model, and each model of Spillover's judge set when it is among them; mean agreement on the
//! held-out model, ties to the larger penalties), so the whole procedure — selection included — is
//! one deterministic function of the training files.

use std::path::Path;

use super::data::{self, Dataset, LabelledItem};
use super::eval::Confusion;
use super::featurize::{extra_feature_names, Featurizer, Limits};
use super::head::{Head, SourceInfo, TrainingInfo, FORMAT};
use super::learned::head_labels;
use super::logreg::{fit, standardize, standardizer, FitOptions, FitReport, Matrix, Softmax};
use super::minilm::ASSET_ID;
use super::sentences::{cross_fit, SentenceScorer};
use super::synth::degenerate_examples;
use super::{Label, Result};

/// Training settings (the defaults built the committed head).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainConfig {
    /// How much of each text the encoder reads.
    pub limits: Limits,
    /// Candidate L2 penalties on the weights of the embedding features, ascending ...
    pub l2_embedding_grid: &'static [f64],
    /// ... and on the weights of the other features, ascending.
    pub l2_features_grid: &'static [f64],
    pub iterations: usize,
    pub memory: usize,
    /// L2 penalty (on standardised embeddings) and L-BFGS iterations of the sentence scorer.
    pub sentence_l2: f64,
    pub sentence_iterations: usize,
    /// Synthetic degenerate examples of each kind.
    pub synthetic_per_kind: usize,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            limits: Limits::default(),
            l2_embedding_grid: &[0.03, 0.1, 0.3, 1.0],
            l2_features_grid: &[0.01, 0.1, 1.0],
            iterations: 300,
            memory: 10,
            sentence_l2: 0.1,
            sentence_iterations: 150,
            synthetic_per_kind: 30,
            seed: 7,
        }
    }
}

/// Label counts: refusal, compliance, degenerate.
pub fn counts(items: &[LabelledItem]) -> [usize; 3] {
    let mut c = [0; 3];
    items.iter().for_each(|i| c[i.label.index()] += 1);
    c
}

/// The training sets: the three XSTest completion files from `xstest_dir`, PyRIT's two
/// refusal files from `pyrit_dir`, with PyRIT's off-topic "refusals" relabelled degenerate
/// ([`data::mark_off_topic`], over both files together), and the refusals Spillover's refusal
/// training teaches ([`data::refusal_pool`]). `limit` keeps the first N rows of each.
pub fn standard_datasets(
    xstest_dir: &Path,
    pyrit_dir: &Path,
    limit: Option<usize>,
) -> Result<Vec<Dataset>> {
    let mut sets = data::XSTEST_MODELS
        .iter()
        .map(|m| data::read_xstest(xstest_dir, m))
        .collect::<Result<Vec<_>>>()?;
    sets.extend(pyrit_datasets(pyrit_dir, true)?);
    sets.push(data::refusal_pool());
    if let Some(n) = limit {
        sets.iter_mut().for_each(|d| d.items.truncate(n));
    }
    Ok(sets)
}

/// PyRIT's two files; with `relabel`, off-topic "refusals" become degenerate.
pub fn pyrit_datasets(pyrit_dir: &Path, relabel: bool) -> Result<Vec<Dataset>> {
    let mut sets = data::PYRIT_FILES
        .iter()
        .map(|f| data::read_pyrit(pyrit_dir, f))
        .collect::<Result<Vec<_>>>()?;
    if relabel {
        let mut all: Vec<LabelledItem> = sets.iter().flat_map(|d| d.items.clone()).collect();
        data::mark_off_topic(&mut all);
        let mut rest = all.into_iter();
        for d in &mut sets {
            d.items = rest.by_ref().take(d.items.len()).collect();
        }
    }
    Ok(sets)
}

/// The training items (datasets, then synthetic degenerate examples made from them) and their
/// provenance. The synthetic text is made from the human-labelled sets only, not from
/// [`data::refusal_pool`], whose 25 replies repeat.
pub fn training_items(
    sets: &[&Dataset],
    cfg: &TrainConfig,
) -> (Vec<LabelledItem>, Vec<SourceInfo>) {
    let human: Vec<LabelledItem> = sets
        .iter()
        .filter(|d| d.name != data::POOL_SOURCE)
        .flat_map(|d| d.items.clone())
        .collect();
    let synth = degenerate_examples(&human, cfg.synthetic_per_kind, cfg.seed);
    let mut items: Vec<LabelledItem> = sets.iter().flat_map(|d| d.items.clone()).collect();
    let mut sources: Vec<SourceInfo> = sets
        .iter()
        .map(|d| SourceInfo {
            name: d.name.clone(),
            sha256: d.sha256.clone(),
            counts: counts(&d.items),
        })
        .collect();
    sources.push(SourceInfo {
        name: "synthetic-degenerate".into(),
        sha256: "synthetic".into(),
        counts: counts(&synth),
    });
    items.extend(synth);
    (items, sources)
}

/// Training rows ready to be fitted with any penalties: standardised full feature rows (with
/// cross-fitted sentence-scorer features), labels, and the sentence scorer fitted on all rows.
pub struct Prepared {
    z: Matrix,
    y: Vec<usize>,
    mean: Vec<f64>,
    scale: Vec<f64>,
    scorer: SentenceScorer,
    embedding_dim: usize,
}

/// Features of `items` for training (see [`Prepared`]).
pub fn prepare(
    featurizer: &Featurizer,
    items: &[LabelledItem],
    cfg: &TrainConfig,
) -> Result<Prepared> {
    let pairs: Vec<(&str, &str)> = items
        .iter()
        .map(|i| (i.prompt.as_str(), i.response.as_str()))
        .collect();
    let feats = featurizer.features(&pairs)?;
    let labels: Vec<Label> = items.iter().map(|i| i.label).collect();
    let sents: Vec<&[Vec<f32>]> = feats.iter().map(|f| f.sentences.as_slice()).collect();
    let dim = featurizer.dim();
    let (scored, scorer) = cross_fit(
        &sents,
        &labels,
        dim,
        cfg.sentence_l2,
        cfg.sentence_iterations,
    );
    let rows: Vec<Vec<f64>> = feats
        .into_iter()
        .zip(scored)
        .map(|(f, s)| {
            let mut r = f.row;
            r.extend(s);
            r
        })
        .collect();
    let x = Matrix::from_rows(&rows);
    let (mean, scale) = standardizer(&x);
    let z = standardize(&x, &mean, &scale);
    Ok(Prepared {
        z,
        y: labels.iter().map(|l| l.index()).collect(),
        mean,
        scale,
        scorer,
        embedding_dim: x.cols - extra_feature_names().len(),
    })
}

/// Fits the softmax on prepared rows with the given penalties.
fn fit_prepared(
    p: &Prepared,
    cfg: &TrainConfig,
    l2_embedding: f64,
    l2_features: f64,
) -> (Softmax, FitReport) {
    let mut l2 = vec![l2_embedding; p.embedding_dim];
    l2.resize(p.z.cols, l2_features);
    let opts = FitOptions {
        l2,
        iterations: cfg.iterations,
        memory: cfg.memory,
    };
    fit(&p.z, &p.y, 3, &opts)
}

/// Fits a head on prepared rows with the given penalties; `selection` records the inner
/// selection (`(embedding penalty, feature penalty, score)` per candidate).
pub fn fit_head(
    p: &Prepared,
    sources: Vec<SourceInfo>,
    cfg: &TrainConfig,
    l2: (f64, f64),
    selection: Vec<[f64; 3]>,
) -> Head {
    let (model, report) = fit_prepared(p, cfg, l2.0, l2.1);
    Head {
        format: FORMAT.into(),
        encoder: ASSET_ID.into(),
        limits: cfg.limits,
        embedding_dim: p.embedding_dim,
        extra_features: extra_feature_names(),
        classes: Label::ALL.to_vec(),
        mean: p.mean.clone(),
        scale: p.scale.clone(),
        weights: model
            .weights
            .chunks(p.z.cols)
            .map(<[f64]>::to_vec)
            .collect(),
        bias: model.bias,
        sentence_scorer: p.scorer.clone(),
        training: TrainingInfo {
            l2_embedding: l2.0,
            l2_features: l2.1,
            l2_selection: selection,
            sentence_l2: cfg.sentence_l2,
            sentence_iterations: cfg.sentence_iterations,
            iterations: cfg.iterations,
            iterations_run: report.iterations_run,
            final_loss: report.final_loss,
            synthetic_per_kind: cfg.synthetic_per_kind,
            seed: cfg.seed,
            sources,
        },
    }
}

/// Agreement of `head` with the labels of `set`.
pub fn agreement(featurizer: &Featurizer, head: &Head, set: &Dataset) -> Result<f64> {
    let verdicts = head_labels(featurizer, head, set)?;
    Ok(Confusion::from_pairs(set.items.iter().map(|i| i.label).zip(verdicts)).agreement())
}

/// The candidate penalty pairs, in the order ties are broken (a later one wins a tie): feature
/// penalty ascending, and within it the embedding penalty ascending.
pub fn candidates(cfg: &TrainConfig) -> Vec<(f64, f64)> {
    cfg.l2_features_grid
        .iter()
        .flat_map(|&f| cfg.l2_embedding_grid.iter().map(move |&e| (e, f)))
        .collect()
}

/// L2 penalties (on the embedding weights, on the other features' weights).
pub type Penalties = (f64, f64);

/// Whether a training set is held out in turn by the inner selection of the penalties: each
/// XSTest model's completions and each model's part of the judge set.
pub fn is_selection_group(set: &Dataset) -> bool {
    set.name.starts_with("xstest-") || set.name.starts_with(data::JUDGE_SET_PREFIX)
}

/// Chooses the penalties from [`candidates`]: each selection group among `sets` (an XSTest
/// model, a model of the judge set: [`is_selection_group`]) is held out in turn (at least two
/// are needed; otherwise the first candidate is used), a head is fitted on the rest with every
/// candidate, and the candidate with the best mean held-out agreement wins (ties: the later
/// candidate, i.e. the larger penalties). Returns it and every (embedding penalty, feature
/// penalty, score).
pub fn select_l2(
    featurizer: &Featurizer,
    sets: &[&Dataset],
    cfg: &TrainConfig,
) -> Result<(Penalties, Vec<[f64; 3]>)> {
    let cands = candidates(cfg);
    let groups: Vec<usize> = (0..sets.len())
        .filter(|&i| is_selection_group(sets[i]) && !sets[i].items.is_empty())
        .collect();
    if groups.len() < 2 || cands.len() < 2 {
        return Ok((cands[0], Vec::new()));
    }
    let mut scores = vec![0.0; cands.len()];
    for &g in &groups {
        let rest: Vec<&Dataset> = (0..sets.len())
            .filter(|&i| i != g)
            .map(|i| sets[i])
            .collect();
        let (items, sources) = training_items(&rest, cfg);
        let prepared = prepare(featurizer, &items, cfg)?;
        for (s, &l2) in scores.iter_mut().zip(&cands) {
            let head = fit_head(&prepared, sources.clone(), cfg, l2, Vec::new());
            *s += agreement(featurizer, &head, sets[g])? / groups.len() as f64;
        }
    }
    let best = (0..cands.len()).fold(0, |b, i| if scores[i] >= scores[b] { i } else { b });
    Ok((
        cands[best],
        cands
            .iter()
            .zip(&scores)
            .map(|((e, f), s)| [*e, *f, *s])
            .collect(),
    ))
}

/// Trains a head on `sets` (plus synthetic degenerate text), selecting the penalties first
/// ([`select_l2`]).
pub fn train(featurizer: &Featurizer, sets: &[&Dataset], cfg: &TrainConfig) -> Result<Head> {
    let (l2, selection) = select_l2(featurizer, sets, cfg)?;
    let (items, sources) = training_items(sets, cfg);
    let prepared = prepare(featurizer, &items, cfg)?;
    Ok(fit_head(&prepared, sources, cfg, l2, selection))
}
