//! Refusal training sets: harmful prompt → refusal reply, optionally mixed with benign
//! prompts answered by the base model itself (self-distillation), written as JSONL.
//!
//! ```text
//! harmful prompts ──reply mode + seed──▶ (prompt, refusal)      ─┐
//! benign prompts ──ratio + seed──▶ generate(prompts) ──▶ (prompt, answer) ─┴─▶ shuffle ─▶ refusal_train.jsonl
//! ```

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{DatasetError, Result};
use super::item::{Dataset, DatasetRecord};
use super::refusal_pool::{FIXED_REFUSAL, REFUSAL_POOL};
use super::SplitMix64;

/// File name of the training set inside the run folder.
pub const REFUSAL_TRAIN_FILE: &str = "refusal_train.jsonl";
/// File name of its provenance sidecar.
pub const REFUSAL_META_FILE: &str = "refusal_train.meta.json";

/// A caller-supplied batch generator: prompts in, one answer per prompt out, in order. The
/// pipeline passes the base model's greedy generation; this crate knows nothing of models.
pub type GenerateFn<'a> = dyn FnMut(&[String]) -> Result<Vec<String>> + 'a;

/// Which refusal replies harmful prompts get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplyMode {
    /// Always [`FIXED_REFUSAL`] (the naive original recipe).
    Fixed,
    /// A reply drawn by seed from [`REFUSAL_POOL`] for each prompt.
    Pool,
}

/// How a refusal training set is built.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RefusalSetConfig {
    /// Fixed reply or the varied pool.
    pub replies: ReplyMode,
    /// Seed for reply choice, benign sampling and example order.
    pub seed: u64,
    /// Benign examples per harmful example (0 = none; 0.5 = one benign per two harmful),
    /// rounded to the nearest whole number of examples.
    pub benign_ratio: f64,
}

impl Default for RefusalSetConfig {
    fn default() -> Self {
        RefusalSetConfig {
            replies: ReplyMode::Pool,
            seed: 0,
            benign_ratio: 0.0,
        }
    }
}

/// One training example, as one line of the JSONL file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingExample {
    /// The source item's id (e.g. `advbench-0042`).
    pub id: String,
    /// The user prompt.
    pub prompt: String,
    /// The reply to learn.
    pub completion: String,
}

/// A built refusal training set with its provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefusalSet {
    /// How it was built.
    pub config: RefusalSetConfig,
    /// Harmful examples (refusals).
    pub n_harmful: usize,
    /// Benign examples (the model's own answers).
    pub n_benign: usize,
    /// Ids of the benign examples, so they can be told apart from the refusals.
    pub benign_ids: Vec<String>,
    /// The datasets the prompts came from (with the item ids used).
    pub sources: Vec<DatasetRecord>,
    /// What happened along the way (e.g. empty generations dropped).
    pub notes: Vec<String>,
    /// What the caller must show loudly: the set is not what was asked for (fewer benign
    /// examples than the ratio asks, because answers were blank).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// The examples, in training order.
    #[serde(skip)]
    pub examples: Vec<TrainingExample>,
}

/// Builds the training set: every `harmful` item gets a refusal; with `benign_ratio > 0`,
/// that many `benign` items (chosen by seed) get `generate`'s answers. Benign answers that
/// are blank are dropped and noted, with a warning when some are, and an error when every one
/// is (the mix would silently be no mix). The final order is a seeded shuffle.
pub fn build_refusal_set(
    harmful: &Dataset,
    benign: Option<&Dataset>,
    cfg: &RefusalSetConfig,
    generate: &mut GenerateFn,
) -> Result<RefusalSet> {
    if harmful.is_empty() {
        return Err(DatasetError::Config(format!(
            "`{}` has no harmful prompts",
            harmful.name
        )));
    }
    let mut examples = refusals(harmful, cfg);
    let mut sources = vec![harmful.record()];
    let mut notes = Vec::new();
    let mut warnings = Vec::new();
    let wanted = benign_count(harmful.len(), cfg.benign_ratio)?;
    let mut benign_ids = Vec::new();
    if wanted > 0 {
        let pool = benign.ok_or_else(|| {
            DatasetError::Config("a benign ratio above 0 needs a benign prompt set".into())
        })?;
        let chosen = pool.sample(wanted, cfg.seed)?;
        let answered = self_distilled(&chosen, generate, &mut notes)?;
        let kept = answered.len();
        if kept == 0 {
            return Err(DatasetError::Config(format!(
                "the benign ratio (data.benign_mix = {}) asked for {wanted} benign examples \
                 answered by the model itself, but every answer was blank (or the prompt left no \
                 room in the model's context), so none was kept and the mitigation would do \
                 nothing; use a model that answers these prompts, or set data.benign_mix = 0",
                cfg.benign_ratio
            )));
        }
        if kept < wanted {
            let w = format!(
                "benign mix: kept {kept} of the {wanted} benign examples asked for \
                 (data.benign_mix = {}); {} self-generated answers were blank and dropped",
                cfg.benign_ratio,
                wanted - kept
            );
            warnings.push(w);
        }
        benign_ids = answered.iter().map(|e| e.id.clone()).collect();
        let mut record = chosen.record();
        record.item_ids.retain(|id| benign_ids.contains(id));
        record.n_items = record.item_ids.len();
        sources.push(record);
        examples.extend(answered);
    }
    check_unique_ids(&examples)?;
    SplitMix64::for_purpose(cfg.seed, "refusal-set-order").shuffle(&mut examples);
    Ok(RefusalSet {
        config: *cfg,
        n_harmful: harmful.len(),
        n_benign: benign_ids.len(),
        benign_ids,
        sources,
        notes,
        warnings,
        examples,
    })
}

/// One refusal per harmful item.
fn refusals(harmful: &Dataset, cfg: &RefusalSetConfig) -> Vec<TrainingExample> {
    let mut rng = SplitMix64::for_purpose(cfg.seed, "refusal-replies");
    harmful
        .items
        .iter()
        .map(|item| {
            let completion = match cfg.replies {
                ReplyMode::Fixed => FIXED_REFUSAL,
                ReplyMode::Pool => REFUSAL_POOL[rng.below(REFUSAL_POOL.len() as u64) as usize].text,
            };
            TrainingExample {
                id: item.id.clone(),
                prompt: item.text.clone(),
                completion: completion.to_string(),
            }
        })
        .collect()
}

/// The number of benign examples for `n_harmful` harmful ones at `ratio`.
fn benign_count(n_harmful: usize, ratio: f64) -> Result<usize> {
    if !ratio.is_finite() || ratio < 0.0 {
        return Err(DatasetError::Config(format!(
            "benign ratio must be a finite number >= 0, not {ratio}"
        )));
    }
    Ok((n_harmful as f64 * ratio).round() as usize)
}

/// Asks `generate` for answers to every item of `chosen`; blank answers are dropped.
fn self_distilled(
    chosen: &Dataset,
    generate: &mut GenerateFn,
    notes: &mut Vec<String>,
) -> Result<Vec<TrainingExample>> {
    let prompts = chosen.texts();
    let answers = generate(&prompts)?;
    if answers.len() != prompts.len() {
        return Err(DatasetError::generation(format!(
            "the generator returned {} answers for {} prompts",
            answers.len(),
            prompts.len()
        )));
    }
    let mut out = Vec::new();
    for (item, answer) in chosen.items.iter().zip(answers) {
        if answer.trim().is_empty() {
            notes.push(format!(
                "dropped benign {}: the generated answer was blank",
                item.id
            ));
            continue;
        }
        out.push(TrainingExample {
            id: item.id.clone(),
            prompt: item.text.clone(),
            completion: answer,
        });
    }
    Ok(out)
}

/// Fails when two examples share an id (e.g. a prompt set used as both harmful and benign).
fn check_unique_ids(examples: &[TrainingExample]) -> Result<()> {
    let mut seen = HashSet::new();
    match examples.iter().find(|e| !seen.insert(e.id.as_str())) {
        Some(e) => Err(DatasetError::Config(format!(
            "item `{}` appears twice in the refusal training set",
            e.id
        ))),
        None => Ok(()),
    }
}

impl RefusalSet {
    /// Writes [`REFUSAL_TRAIN_FILE`] (one `{"id", "prompt", "completion"}` object per line)
    /// and [`REFUSAL_META_FILE`] into `dir`, each atomically (temp file, fsync, rename), so a
    /// crash never leaves a half-written file under either name. Returns the JSONL path.
    pub fn write_jsonl(&self, dir: &Path) -> Result<PathBuf> {
        fs::create_dir_all(dir).map_err(|e| DatasetError::io(dir, e))?;
        let mut lines = Vec::new();
        for example in &self.examples {
            serde_json::to_writer(&mut lines, example).expect("examples serialise");
            lines.push(b'\n');
        }
        let path = dir.join(REFUSAL_TRAIN_FILE);
        write_atomic(&path, &lines)?;
        let meta = serde_json::to_vec_pretty(self).expect("metadata serialises");
        write_atomic(&dir.join(REFUSAL_META_FILE), &meta)?;
        Ok(path)
    }
}

/// Writes `bytes` to `path` atomically ([`spillover_core::fs::write_atomic`]).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    spillover_core::fs::write_atomic(path, bytes).map_err(|e| DatasetError::io(path, e))
}
