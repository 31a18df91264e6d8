//! The data stage: every evaluation set, the harmful training prompts drawn from their pool for
//! each intervention seed, near-duplicates between a seed's training prompts and the evaluation
//! items removed from that seed's items (and counted) — word n-grams for every set, sentence
//! embeddings for the refusal benchmark's harmful prompts ([`super::semantic`]) — the profile's
//! sizes applied, a harmless prompt set for refusal directions and benign mixing, and each seed's
//! refusal training set written as JSONL.
//!
//! Output files: `items/<benchmark>.jsonl` (the items the baseline evaluates: every item the
//! profile's sizing chose, so the baseline does not depend on any draw of training prompts and is
//! shared by runs and sweep points that differ in seeds or `n_train`), `harmless.jsonl`, and per
//! seed `seed-<S>/items/<benchmark>.jsonl` (the items that seed is evaluated and compared on: the
//! baseline's items minus the near-duplicates of its training prompts) and
//! `seed-<S>/refusal_train.jsonl` (+ its meta file). The stage summary holds every dataset's source,
//! sha256 and item ids, and each seed's dedup report.

use crate::config::{Experiment, ProfileSizes, ReplyChoice};
use crate::error::ConfigError;
use crate::rundir::{read_jsonl, write_jsonl};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use spillover_data::datasets::{
    build_refusal_set, load_user_file, make_splits, Builtin, Dataset, DatasetRecord, DedupConfig,
    DedupReport, GenerateFn, Item, RefusalSet, RefusalSetConfig, ReplyMode, SemanticReport,
    SplitConfig, UserFileSpec,
};
use spillover_evals::benchmarks::{self, BenchmarkKind};
use spillover_evals::judge::minilm::MiniLm;
use std::path::{Path, PathBuf};

/// The stage summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DataSummary {
    /// The sets the baseline evaluates (after sizing; each seed's items are these minus the
    /// near-duplicates of its training prompts, see `splits`), in benchmark order.
    pub eval_sets: Vec<DatasetRecord>,
    /// The first seed's harmful training prompts (every seed's: `splits`).
    pub train: DatasetRecord,
    /// The harmless prompts (refusal directions, benign mixing).
    pub harmless: DatasetRecord,
    /// The first seed's overlaps between training and evaluation sets, and what was removed.
    pub dedup: DedupReport,
    /// The first seed's semantic near-duplicate filter of the refusal benchmark's items against
    /// its training prompts: per source, items dropped and the nearest-neighbour similarity of
    /// the kept ones (None when the refusal benchmark does not run; every seed's: `splits`).
    #[serde(default)]
    pub semantic: Option<SemanticReport>,
    /// The first seed's refusal training set: provenance and counts.
    pub refusal_set: RefusalSet,
    /// Items loaded per benchmark (after the profile's sizing, before dedup).
    pub available: Vec<(String, usize)>,
    /// The first seed's notes (items removed as near-duplicates).
    pub notes: Vec<String>,
    /// Per intervention seed (`seed`, `seed + 1`, ...): its draw of training prompts, the
    /// near-duplicates removed from its items, its refusal set and its evaluated sets.
    #[serde(default)]
    pub splits: Vec<SeedSplit>,
}

/// One intervention seed's data: which prompts train it and which items it is compared on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedSplit {
    pub seed: u64,
    /// The harmful training prompts drawn with this seed.
    pub train: DatasetRecord,
    /// Overlaps between these prompts and the evaluation items, and what was removed.
    pub dedup: DedupReport,
    /// The semantic filter of the refusal benchmark's items against these prompts (None when
    /// the refusal benchmark does not run).
    #[serde(default)]
    pub semantic: Option<SemanticReport>,
    /// The refusal training set built from them.
    pub refusal_set: RefusalSet,
    /// The evaluated sets of this seed (the baseline's items minus near-duplicates).
    pub eval_sets: Vec<DatasetRecord>,
    pub notes: Vec<String>,
}

/// Harmless prompts kept (directions use up to this many; benign mixing samples from them).
const HARMLESS_COUNT: usize = 256;

/// Builds every set and writes them into `out`. `generate` answers benign prompts for the
/// self-distilled benign mix (called only when `data.benign_mix > 0`, once per seed).
pub fn build(exp: &Experiment, out: &Path, generate: &mut GenerateFn) -> Result<DataSummary> {
    let root = spillover_data::cache_root();
    let pool = harmful_pool(&exp.data.harmful_pool, &root)?;
    let kinds = benchmark_kinds(exp)?;
    let mut evals = Vec::new();
    for (kind, section) in &kinds {
        let limit = Some(ProfileSizes::items(exp.profile, *kind, section.limit));
        let ds = match &section.dataset {
            Some(spec) => benchmarks::dataset_from_file(*kind, spec, &root, limit, exp.seed)?,
            None => benchmarks::default_dataset(*kind, &root, limit, exp.seed)?,
        };
        evals.push((*kind, ds));
    }
    // The harmless pool: MMLU questions, kept apart from the evaluated MMLU items below.
    let harmless_all = Builtin::Mmlu.load(&root)?;
    if exp.data.n_train > pool.len() {
        return Err(ConfigError::new(
            "data.n_train",
            format!(
                "{} exceeds the {} prompts of `{}`",
                exp.data.n_train,
                pool.len(),
                pool.name
            ),
        )
        .into());
    }
    let harmless = harmless_pool(harmless_all, &evals, exp.seed)?;
    for (kind, ds) in &evals {
        write_jsonl(&items_path(out, *kind), &ds.items)?;
    }
    write_jsonl(&out.join("harmless.jsonl"), &harmless.items)?;
    // The sentence encoder of the semantic filter, loaded once for every seed.
    let encoder = kinds
        .iter()
        .any(|(k, _)| *k == BenchmarkKind::Refusal)
        .then(super::semantic::encoder)
        .transpose()?;
    let mut splits = Vec::new();
    for seed in exp.seed_list() {
        let dir = split_dir(out, seed);
        let inputs = SplitInputs {
            pool: &pool,
            evals: &evals,
            harmless: &harmless,
            encoder: encoder.as_ref(),
        };
        splits.push(split(exp, &inputs, seed, &dir, generate)?);
    }
    let first = &splits[0];
    Ok(DataSummary {
        eval_sets: evals.iter().map(|(_, ds)| ds.record()).collect(),
        train: first.train.clone(),
        harmless: harmless.record(),
        dedup: first.dedup.clone(),
        semantic: first.semantic.clone(),
        refusal_set: first.refusal_set.clone(),
        available: evals
            .iter()
            .map(|(k, ds)| (k.name().to_string(), ds.len()))
            .collect(),
        notes: first.notes.clone(),
        splits,
    })
}

/// What every seed's split starts from.
struct SplitInputs<'a> {
    /// The harmful pool the seed draws its training prompts from.
    pool: &'a Dataset,
    /// The baseline's items per benchmark.
    evals: &'a [(BenchmarkKind, Dataset)],
    harmless: &'a Dataset,
    /// The semantic filter's encoder (Some when the refusal benchmark runs).
    encoder: Option<&'a MiniLm>,
}

/// One seed's draw of `n_train` training prompts, its evaluation items (the near-duplicates of
/// those prompts removed: word n-grams for every set, and for the refusal benchmark's items the
/// semantic filter's paraphrases) and its refusal training set, written into `dir`.
fn split(
    exp: &Experiment,
    inputs: &SplitInputs,
    seed: u64,
    dir: &Path,
    generate: &mut GenerateFn,
) -> Result<SeedSplit> {
    let SplitInputs {
        pool,
        evals,
        harmless,
        encoder,
    } = *inputs;
    let cfg = SplitConfig {
        n_train: exp.data.n_train,
        seed,
        dedup: DedupConfig {
            threshold: exp.data.dedup_threshold,
            ..DedupConfig::default()
        },
    };
    // Evaluation items are deduplicated against this seed's drawn prompts: the other prompts of
    // the pool do not train this seed's model.
    let loaded: Vec<Dataset> = evals.iter().map(|(_, ds)| ds.clone()).collect();
    let splits = make_splits(pool, loaded, &[], &cfg)?;
    let mut notes = Vec::new();
    let mut semantic = None;
    let mut eval_sets = Vec::with_capacity(evals.len());
    for ((kind, all), ds) in evals.iter().zip(splits.evals) {
        let kept = match (kind, encoder) {
            (BenchmarkKind::Refusal, Some(encoder)) => {
                let threshold = exp.data.semantic_dedup_threshold;
                let (kept, report) =
                    super::semantic::filter(encoder, &splits.train, ds, threshold)?;
                for g in report.groups.iter().filter(|g| !g.dropped.is_empty()) {
                    notes.push(format!(
                        "{} ({}): {} of {} items removed as paraphrases of seed {seed}'s \
                         training prompts (cosine similarity ≥ {threshold})",
                        kind.name(),
                        g.group,
                        g.dropped.len(),
                        g.before
                    ));
                }
                semantic = Some(report);
                kept
            }
            _ => ds,
        };
        let n = all.len();
        if kept.len() < n {
            notes.push(format!(
                "{}: {} of {n} items removed as near-duplicates or paraphrases of seed {seed}'s \
                 training prompts",
                kind.name(),
                n - kept.len()
            ));
        }
        if kept.is_empty() {
            return Err(ConfigError::new(
                format!("benchmarks.{}", kind.name()),
                format!(
                    "no items left for seed {seed} after removing near-duplicates and \
                     paraphrases of its {} training prompts drawn from `{}`",
                    exp.data.n_train, pool.name
                ),
            )
            .into());
        }
        write_jsonl(&items_path(dir, *kind), &kept.items)?;
        eval_sets.push(kept.record());
    }
    let refusal_cfg = RefusalSetConfig {
        replies: match exp.data.replies {
            ReplyChoice::Fixed => ReplyMode::Fixed,
            ReplyChoice::Pool => ReplyMode::Pool,
        },
        seed,
        benign_ratio: exp.data.benign_mix,
    };
    let refusal_set = build_refusal_set(&splits.train, Some(harmless), &refusal_cfg, generate)?;
    refusal_set.write_jsonl(dir)?;
    Ok(SeedSplit {
        seed,
        train: splits.train.record(),
        dedup: splits.report,
        semantic,
        refusal_set,
        eval_sets,
        notes,
    })
}

/// The benchmarks of the experiment with their sections, in the canonical order.
pub fn benchmark_kinds(
    exp: &Experiment,
) -> Result<Vec<(BenchmarkKind, crate::config::BenchSection)>> {
    let mut out = Vec::new();
    for kind in BenchmarkKind::ALL {
        if let Some(section) = exp.benchmarks.get(&kind) {
            out.push((kind, section.clone()));
        }
    }
    Ok(out)
}

fn harmful_pool(spec: &str, root: &Path) -> Result<Dataset> {
    let builtin = match spec {
        "advbench" => Some(Builtin::Advbench),
        "harmbench" => Some(Builtin::Harmbench),
        _ => None,
    };
    if let Some(b) = builtin {
        return Ok(b.load(root)?);
    }
    let user: UserFileSpec = spec.parse().map_err(|e| {
        ConfigError::new(
            "data.harmful_pool",
            format!("{spec:?}: expected advbench, harmbench or PATH:COLUMN ({e})"),
        )
    })?;
    Ok(load_user_file(&user)?)
}

/// MMLU questions that are not among the evaluated MMLU items, as plain prompts.
fn harmless_pool(all: Dataset, sized: &[(BenchmarkKind, Dataset)], seed: u64) -> Result<Dataset> {
    let used: std::collections::HashSet<&str> = sized
        .iter()
        .flat_map(|(_, ds)| ds.items.iter().map(|i| i.text.as_str()))
        .collect();
    let mut ds = all;
    ds.items.retain(|i| !used.contains(i.text.as_str()));
    ds.name = "harmless".into();
    let n = HARMLESS_COUNT.min(ds.len());
    let mut picked = ds.sample(n, seed ^ 0x4841_524D)?;
    picked.name = "harmless".into();
    Ok(picked)
}

/// Reads a JSONL file of items written by this stage.
pub fn read_items(path: &Path) -> Result<Vec<Item>> {
    read_jsonl(path)
}

/// The folder of one seed's split: its items (`items/`, read through [`items_path`]) and its
/// refusal training set.
pub fn split_dir(data_dir: &Path, seed: u64) -> PathBuf {
    data_dir.join(format!("seed-{seed}"))
}

/// Where the data stage put a benchmark's items (in the data folder: the baseline's; in a
/// [`split_dir`]: that seed's).
pub fn items_path(data_dir: &Path, kind: BenchmarkKind) -> PathBuf {
    data_dir
        .join("items")
        .join(format!("{}.jsonl", kind.name()))
}
