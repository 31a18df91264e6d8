//! Training the learned judge's head: human-labelled sets + synthetic degenerate text →
//! features → multinomial logistic regression (L-BFGS, fixed iterations, L2).
//!
//! The L2 penalty on the embedding weights is chosen from a fixed grid by an inner
//! leave-one-XSTest-model-out split of the training sets (mean agreement on the held-out model,
//! ties to the larger penalty), so the whole procedure — selection included — is one
//! deterministic function of the training files.

use std::path::Path;

use super::data::{self, Dataset, LabelledItem};
use super::eval::Confusion;
use super::featurize::{extra_feature_names, Featurizer};
use super::head::{Head, SourceInfo, TrainingInfo, FORMAT};
use super::learned::head_labels;
use super::logreg::{fit, standardizer, FitOptions, Matrix};
use super::minilm::ASSET_ID;
use super::synth::degenerate_examples;
use super::{Label, Result};

/// Training settings (the defaults built the committed head).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainConfig {
    /// Tokens per text given to the encoder.
    pub max_tokens: usize,
    /// Candidate L2 penalties on the weights of the embedding features, ascending ...
    pub l2_embedding_grid: &'static [f64],
    /// ... and the penalty on the weights of the other features.
    pub l2_features: f64,
    pub iterations: usize,
    pub memory: usize,
    /// Synthetic degenerate examples of each kind.
    pub synthetic_per_kind: usize,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            max_tokens: 128,
            l2_embedding_grid: &[0.03, 0.1, 0.3, 1.0],
            l2_features: 1e-2,
            iterations: 300,
            memory: 10,
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

/// The training sets: the three XSTest completion files from `xstest_dir` and PyRIT's two
/// refusal files from `pyrit_dir`, with PyRIT's off-topic "refusals" relabelled degenerate
/// ([`data::mark_off_topic`], over both files together). `limit` keeps the first N rows of each.
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
/// provenance.
pub fn training_items(
    sets: &[&Dataset],
    cfg: &TrainConfig,
) -> (Vec<LabelledItem>, Vec<SourceInfo>) {
    let mut items: Vec<LabelledItem> = sets.iter().flat_map(|d| d.items.clone()).collect();
    let mut sources: Vec<SourceInfo> = sets
        .iter()
        .map(|d| SourceInfo {
            name: d.name.clone(),
            sha256: d.sha256.clone(),
            counts: counts(&d.items),
        })
        .collect();
    let synth = degenerate_examples(&items, cfg.synthetic_per_kind, cfg.seed);
    sources.push(SourceInfo {
        name: "synthetic-degenerate".into(),
        sha256: "synthetic".into(),
        counts: counts(&synth),
    });
    items.extend(synth);
    (items, sources)
}

/// Fits a head on `items` with features from `featurizer` and the embedding penalty chosen by
/// `selection` (`(penalty, score)` pairs; the chosen one first).
pub fn fit_head(
    featurizer: &Featurizer,
    items: &[LabelledItem],
    sources: Vec<SourceInfo>,
    cfg: &TrainConfig,
    l2_embedding: f64,
    selection: Vec<[f64; 2]>,
) -> Result<Head> {
    let pairs: Vec<(&str, &str)> = items
        .iter()
        .map(|i| (i.prompt.as_str(), i.response.as_str()))
        .collect();
    let rows = featurizer.rows(&pairs)?;
    let x = Matrix::from_rows(&rows);
    let (mean, scale) = standardizer(&x);
    let z: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| {
            r.iter()
                .zip(mean.iter().zip(&scale))
                .map(|(v, (m, s))| (v - m) / s)
                .collect()
        })
        .collect();
    let y: Vec<usize> = items.iter().map(|i| i.label.index()).collect();
    let extra = extra_feature_names();
    let embedding_dim = x.cols - extra.len();
    let mut l2 = vec![l2_embedding; embedding_dim];
    l2.resize(x.cols, cfg.l2_features);
    let opts = FitOptions {
        l2,
        iterations: cfg.iterations,
        memory: cfg.memory,
    };
    let (model, report) = fit(&Matrix::from_rows(&z), &y, 3, &opts);
    Ok(Head {
        format: FORMAT.into(),
        encoder: ASSET_ID.into(),
        max_tokens: cfg.max_tokens,
        embedding_dim,
        extra_features: extra,
        classes: Label::ALL.to_vec(),
        mean,
        scale,
        weights: model.weights.chunks(x.cols).map(<[f64]>::to_vec).collect(),
        bias: model.bias,
        training: TrainingInfo {
            l2_embedding,
            l2_features: cfg.l2_features,
            l2_selection: selection,
            iterations: cfg.iterations,
            iterations_run: report.iterations_run,
            final_loss: report.final_loss,
            synthetic_per_kind: cfg.synthetic_per_kind,
            seed: cfg.seed,
            sources,
        },
    })
}

/// Agreement of `head` with the labels of `set`.
pub fn agreement(featurizer: &Featurizer, head: &Head, set: &Dataset) -> Result<f64> {
    let verdicts = head_labels(featurizer, head, set)?;
    Ok(Confusion::from_pairs(set.items.iter().map(|i| i.label).zip(verdicts)).agreement())
}

/// Chooses the embedding penalty from `cfg.l2_embedding_grid`: each XSTest set among `sets` is
/// held out in turn (at least two are needed; otherwise the grid's first value is used), a
/// head is fitted on the rest with every candidate, and the candidate with the best mean
/// held-out agreement wins (ties: the larger penalty). Returns it and every (penalty, score).
pub fn select_l2(
    featurizer: &Featurizer,
    sets: &[&Dataset],
    cfg: &TrainConfig,
) -> Result<(f64, Vec<[f64; 2]>)> {
    let grid = cfg.l2_embedding_grid;
    let groups: Vec<usize> = (0..sets.len())
        .filter(|&i| sets[i].name.starts_with("xstest-"))
        .collect();
    if groups.len() < 2 || grid.len() < 2 {
        return Ok((grid[0], Vec::new()));
    }
    let mut scores = vec![0.0; grid.len()];
    for &g in &groups {
        let rest: Vec<&Dataset> = (0..sets.len())
            .filter(|&i| i != g)
            .map(|i| sets[i])
            .collect();
        let (items, sources) = training_items(&rest, cfg);
        for (s, &l2) in scores.iter_mut().zip(grid) {
            let head = fit_head(featurizer, &items, sources.clone(), cfg, l2, Vec::new())?;
            *s += agreement(featurizer, &head, sets[g])? / groups.len() as f64;
        }
    }
    let best = (0..grid.len()).fold(0, |b, i| if scores[i] >= scores[b] { i } else { b });
    Ok((
        grid[best],
        grid.iter().zip(&scores).map(|(l, s)| [*l, *s]).collect(),
    ))
}

/// Trains a head on `sets` (plus synthetic degenerate text), selecting the embedding penalty
/// first ([`select_l2`]).
pub fn train(featurizer: &Featurizer, sets: &[&Dataset], cfg: &TrainConfig) -> Result<Head> {
    let (l2, selection) = select_l2(featurizer, sets, cfg)?;
    let (items, sources) = training_items(sets, cfg);
    fit_head(featurizer, &items, sources, cfg, l2, selection)
}
