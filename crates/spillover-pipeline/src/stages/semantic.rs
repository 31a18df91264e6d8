//! The data stage's semantic near-duplicate filter: the harmful evaluation prompts (the refusal
//! benchmark's items, per source) are embedded with the packaged all-MiniLM-L6-v2 encoder — the
//! judge's — and compared with every training prompt an intervention seed drew; items whose
//! cosine similarity to one of them reaches `data.semantic_dedup_threshold` are dropped from that
//! seed's items (`spillover_data::datasets::semantic_dedup`), as the word n-gram dedup drops its
//! near-duplicates. The baseline evaluates every item; each seed is compared on its own.
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

/// `eval` without its items closer than `threshold` to a `train` prompt, grouped by source in the
/// report.
pub fn filter(
    encoder: &MiniLm,
    train: &Dataset,
    eval: Dataset,
    threshold: f64,
) -> Result<(Dataset, SemanticReport)> {
    let embed = |ds: &Dataset| -> Result<Vec<Vec<f32>>> {
        let texts: Vec<&str> = ds.items.iter().map(|i| i.text.as_str()).collect();
        Ok(encoder.embed(&texts, DEFAULT_MAX_TOKENS)?)
    };
    let (train_emb, eval_emb) = (embed(train)?, embed(&eval)?);
    let name = eval.name.clone();
    let group = move |it: &spillover_data::datasets::Item| {
        item_source(it).map_or_else(|| name.clone(), str::to_string)
    };
    Ok(semantic_dedup(
        train, &train_emb, eval, &eval_emb, group, threshold, ASSET_ID,
    )?)
}
