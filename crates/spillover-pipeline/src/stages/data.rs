//! The data stage: every evaluation set, the harmful training prompts drawn from their pool,
//! near-duplicates between training and evaluation removed (and counted) — word n-grams for
//! every set, sentence embeddings for the refusal benchmark's harmful prompts
//! ([`super::semantic`]) — the profile's sizes applied, a harmless prompt set for refusal directions and benign mixing, and the refusal
//! training set written as JSONL.
//!
//! Output files: `items/<benchmark>.jsonl` (the evaluated items, in order), `harmless.jsonl`,
//! `refusal_train.jsonl` (+ its meta file), and the stage summary with every dataset's source,
//! sha256 and item ids, and the dedup report.

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
use std::path::{Path, PathBuf};

/// The stage summary.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DataSummary {
    /// The evaluated sets (after dedup and sizing), in benchmark order.
    pub eval_sets: Vec<DatasetRecord>,
    /// The harmful training prompts.
    pub train: DatasetRecord,
    /// The harmless prompts (refusal directions, benign mixing).
    pub harmless: DatasetRecord,
    /// Overlaps found between training and evaluation sets, and what was removed.
    pub dedup: DedupReport,
    /// The semantic near-duplicate filter of the refusal benchmark's items against the harmful
    /// pool: per source, items dropped and the nearest-neighbour similarity of the kept ones
    /// (None when the refusal benchmark does not run).
    #[serde(default)]
    pub semantic: Option<SemanticReport>,
    /// The refusal training set's provenance and counts.
    pub refusal_set: RefusalSet,
    /// Items loaded per benchmark (after the profile's sizing, before dedup).
    pub available: Vec<(String, usize)>,
    pub notes: Vec<String>,
}

/// Harmless prompts kept (directions use up to this many; benign mixing samples from them).
const HARMLESS_COUNT: usize = 256;

/// Builds every set and writes them into `out`. `generate` answers benign prompts for the
/// self-distilled benign mix (called only when `data.benign_mix > 0`).
pub fn build(exp: &Experiment, out: &Path, generate: &mut GenerateFn) -> Result<DataSummary> {
    let root = spillover_data::cache_root();
    let mut notes = Vec::new();
    let pool = harmful_pool(&exp.data.harmful_pool, &root)?;
    let kinds = benchmark_kinds(exp)?;
    let mut evals = Vec::new();
    for (kind, section) in &kinds {
        let limit = Some(ProfileSizes::items(exp.profile, kind.name(), section.limit));
        let ds = match &section.dataset {
            Some(spec) => benchmarks::dataset_from_file(*kind, spec, &root, limit, exp.seed)?,
            None => benchmarks::default_dataset(*kind, &root, limit, exp.seed)?,
        };
        evals.push(ds);
    }
    let loaded: Vec<usize> = evals.iter().map(Dataset::len).collect();
    // The harmless pool: MMLU questions, kept apart from the evaluated MMLU items below.
    let harmless_all = Builtin::Mmlu.load(&root)?;
    let split = SplitConfig {
        n_train: exp.data.n_train,
        seed: exp.seed,
        dedup: DedupConfig {
            threshold: exp.data.dedup_threshold,
            ..DedupConfig::default()
        },
    };
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
    // Evaluation items are deduplicated against the whole pool, not only the drawn prompts, so
    // they do not depend on n_train or on which prompts were drawn (sweeps share the baseline).
    let splits = make_splits(&pool, evals, std::slice::from_ref(&pool), &split)?;
    let mut semantic = None;
    let mut evals = Vec::with_capacity(splits.evals.len());
    for ((kind, _), ds) in kinds.iter().zip(splits.evals) {
        if *kind != BenchmarkKind::Refusal {
            evals.push(ds);
            continue;
        }
        let encoder = super::semantic::encoder()?;
        let threshold = exp.data.semantic_dedup_threshold;
        let (kept, report) = super::semantic::filter(&encoder, &pool, ds, threshold)?;
        for g in report.groups.iter().filter(|g| !g.dropped.is_empty()) {
            notes.push(format!(
                "{} ({}): {} of {} items removed as paraphrases of training prompts (cosine \
                 similarity ≥ {threshold})",
                kind.name(),
                g.group,
                g.dropped.len(),
                g.before
            ));
        }
        semantic = Some(report);
        evals.push(kept);
    }
    let mut available = Vec::new();
    let mut sized = Vec::new();
    for (((kind, _), ds), n) in kinds.iter().zip(evals).zip(loaded) {
        if ds.len() < n {
            notes.push(format!(
                "{}: {} of {n} items removed as near-duplicates or paraphrases of training \
                 prompts",
                kind.name(),
                n - ds.len()
            ));
        }
        if ds.is_empty() {
            return Err(ConfigError::new(
                format!("benchmarks.{}", kind.name()),
                "no items left after removing duplicates and paraphrases of the training pool",
            )
            .into());
        }
        available.push((kind.name().to_string(), n));
        sized.push(Sized {
            name_key: kind.name().to_string(),
            data: ds,
        });
    }
    let harmless = harmless_pool(harmless_all, &sized, exp.seed)?;
    let refusal_cfg = RefusalSetConfig {
        replies: match exp.data.replies {
            ReplyChoice::Fixed => ReplyMode::Fixed,
            ReplyChoice::Pool => ReplyMode::Pool,
        },
        seed: exp.seed,
        benign_ratio: exp.data.benign_mix,
    };
    let refusal_set = build_refusal_set(&splits.train, Some(&harmless), &refusal_cfg, generate)?;
    refusal_set.write_jsonl(out)?;
    let items_dir = out.join("items");
    for ds in &sized {
        write_jsonl(
            &items_dir.join(format!("{}.jsonl", ds.name_key)),
            &ds.data.items,
        )?;
    }
    write_jsonl(&out.join("harmless.jsonl"), &harmless.items)?;
    Ok(DataSummary {
        eval_sets: sized.iter().map(|s| s.data.record()).collect(),
        train: splits.train.record(),
        harmless: harmless.record(),
        dedup: splits.report,
        semantic,
        refusal_set,
        available,
        notes,
    })
}

/// A benchmark's evaluated items, under the benchmark's name.
struct Sized {
    name_key: String,
    data: Dataset,
}

/// The benchmarks of the experiment with their sections, in the canonical order.
pub fn benchmark_kinds(
    exp: &Experiment,
) -> Result<Vec<(BenchmarkKind, crate::config::BenchSection)>> {
    let mut out = Vec::new();
    for kind in BenchmarkKind::ALL {
        if let Some(section) = exp.benchmarks.get(kind.name()) {
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
fn harmless_pool(all: Dataset, sized: &[Sized], seed: u64) -> Result<Dataset> {
    let used: std::collections::HashSet<&str> = sized
        .iter()
        .flat_map(|s| s.data.items.iter().map(|i| i.text.as_str()))
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

/// Where the data stage put a benchmark's items.
pub fn items_path(data_dir: &Path, kind: BenchmarkKind) -> PathBuf {
    data_dir
        .join("items")
        .join(format!("{}.jsonl", kind.name()))
}
