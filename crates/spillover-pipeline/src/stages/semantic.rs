//! The data stage's semantic near-duplicate filter: the harmful evaluation prompts (the refusal
//! benchmark's items, per source) are embedded with the packaged all-MiniLM-L6-v2 encoder — the
//! judge's — and compared with every prompt of the harmful training pool; items whose cosine
//! similarity to a pool prompt reaches `data.semantic_dedup_threshold` are dropped
//! (`spillover_data::datasets::semantic_dedup`). The whole pool, not only the drawn training
//! prompts, as for the word n-gram dedup: the evaluated items then do not depend on `n_train` or
//! on which prompts a seed draws, so every seed and sweep point shares them.
//!
//! Only the refusal benchmark is filtered: its items are the held-out test of what training
//! taught. Over-refusal's benign prompts are meant to resemble harmful ones.

use crate::error::ConfigError;
use anyhow::Result;
use spillover_data::datasets::{semantic_dedup, Dataset, SemanticReport};
use spillover_errors::UserFixable;
use spillover_evals::benchmarks::item_source;
use spillover_evals::judge::locate;
use spillover_evals::judge::minilm::{MiniLm, ASSET_ID, DEFAULT_MAX_TOKENS};

/// The encoder, from the asset cache (fetched when missing).
pub fn encoder() -> Result<MiniLm> {
    let wrap = |e: spillover_evals::judge::Error| -> anyhow::Error {
        if e.user_can_fix() {
            ConfigError::new("data.semantic_dedup_threshold", format!("{ASSET_ID}: {e}")).into()
        } else {
            anyhow::Error::new(e).context(ASSET_ID)
        }
    };
    let dir = locate::resolve_asset(&spillover_data::cache_root(), ASSET_ID).map_err(wrap)?;
    MiniLm::load(&dir, &candle_core::Device::Cpu).map_err(wrap)
}

/// `eval` without its items closer than `threshold` to a `pool` prompt, grouped by source in the
/// report.
pub fn filter(
    encoder: &MiniLm,
    pool: &Dataset,
    eval: Dataset,
    threshold: f64,
) -> Result<(Dataset, SemanticReport)> {
    let embed = |ds: &Dataset| -> Result<Vec<Vec<f32>>> {
        let texts: Vec<&str> = ds.items.iter().map(|i| i.text.as_str()).collect();
        Ok(encoder.embed(&texts, DEFAULT_MAX_TOKENS)?)
    };
    let (pool_emb, eval_emb) = (embed(pool)?, embed(&eval)?);
    let name = eval.name.clone();
    let group = move |it: &spillover_data::datasets::Item| {
        item_source(it).map_or_else(|| name.clone(), str::to_string)
    };
    Ok(semantic_dedup(
        pool, &pool_emb, eval, &eval_emb, group, threshold, ASSET_ID,
    )?)
}
