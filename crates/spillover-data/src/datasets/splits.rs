//! Train/eval splits: the training refusal prompts are drawn from a pool by seed, then every
//! evaluation set loses the items that duplicate (exactly or nearly) any training set.
//!
//! ```text
//! pool (e.g. AdvBench 520) ──seed──▶ train (100) ─┐
//! other training sets (benign mix prompts) ───────┼─▶ dedup ─▶ clean eval sets + DedupReport
//! eval sets (AdvBench again, HarmBench, XSTest…) ─┘
//! ```
//! Pass the pool itself among the evaluation sets to evaluate on its held-out remainder.

use serde::{Deserialize, Serialize};

use super::dedup::{dedup, DedupConfig, DedupReport};
use super::error::{DatasetError, Result};
use super::item::Dataset;
use super::SplitMix64;

/// Default number of training refusal prompts.
pub const DEFAULT_N_TRAIN: usize = 100;

/// How the training split is drawn and how duplicates are detected.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SplitConfig {
    /// Number of training prompts drawn from the pool.
    pub n_train: usize,
    /// The seed; the same seed and inputs always give the same splits.
    pub seed: u64,
    /// Duplicate detection.
    pub dedup: DedupConfig,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            n_train: DEFAULT_N_TRAIN,
            seed: 0,
            dedup: DedupConfig::default(),
        }
    }
}

/// The result of [`make_splits`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Splits {
    /// The training prompts (`<pool>-train`), item ids as in the pool, in pool order.
    pub train: Dataset,
    /// The evaluation sets with overlapping items removed, in the order given.
    pub evals: Vec<Dataset>,
    /// What was removed, per (training set, evaluation set) pair.
    pub report: DedupReport,
}

/// Draws `cfg.n_train` training prompts from `pool` and removes from `evals` everything that
/// duplicates them or any of `other_train` (e.g. the benign prompts of a training mix).
pub fn make_splits(
    pool: &Dataset,
    evals: Vec<Dataset>,
    other_train: &[Dataset],
    cfg: &SplitConfig,
) -> Result<Splits> {
    let train = draw_train(pool, cfg.n_train, cfg.seed)?;
    let mut all_train = vec![train.clone()];
    all_train.extend(other_train.iter().cloned());
    let (evals, report) = dedup(&all_train, evals, &cfg.dedup);
    Ok(Splits {
        train,
        evals,
        report,
    })
}

/// `n` items of `pool` chosen by `seed`, as the dataset `<pool>-train`.
pub fn draw_train(pool: &Dataset, n: usize, seed: u64) -> Result<Dataset> {
    if n == 0 || n > pool.len() {
        return Err(DatasetError::Config(format!(
            "cannot draw {n} training prompts from `{}`, which has {}",
            pool.name,
            pool.len()
        )));
    }
    let mut rng = SplitMix64::for_purpose(seed, &format!("train-split:{}", pool.name));
    let picked = rng.sample_indices(pool.len(), n);
    let mut train = pool.clone();
    train.name = format!("{}-train", pool.name);
    train.items = picked.iter().map(|&i| pool.items[i].clone()).collect();
    train.notes.push(format!(
        "training split: {n} of {} items chosen with seed {seed}",
        pool.len()
    ));
    Ok(train)
}
