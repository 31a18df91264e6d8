//! The explanation stage (the MRI): attention maps, direct logit attribution, activation patching,
//! the refusal direction and causal validation, on the base model and the intervened one (the
//! first seed's), with the same probes. Writes `mri.json` and `mri.safetensors` (see
//! `spillover_mri::export`) and returns the JSON summary.
//!
//! Inputs from the run: the probes (`analysis.probes`, else the arithmetic probe and the first
//! held-out harmful prompt), the harmful training prompts (the first seed's split) and the
//! harmless prompts of the data stage for the refusal direction, and the first seed's evaluated
//! arithmetic items as capability checks.

use crate::config::Experiment;
use crate::experiment::Base;
use crate::interventions::{self, Recipe};
use crate::rundir::read_jsonl;
use crate::stages::data::{items_path, read_items};
use anyhow::Result;
use spillover_data::datasets::{Item, PROBE_TEXT, REFUSAL_TRAIN_FILE};
use spillover_engine::GenerateOptions;
use spillover_evals::benchmarks::BenchmarkKind;
use spillover_mri::export::write_outputs;
use spillover_mri::prepare::{mri_from_texts, Encoder, ProbeText, TextInputs};
use spillover_mri::subject::Subject;
use spillover_mri::MriOptions;
use std::path::Path;

/// Prompts per class for the refusal direction, and arithmetic items checked.
const DIRECTION_PROMPTS: usize = 32;
const CAPABILITY_ITEMS: usize = 24;
/// Tokens generated for probes and validation items (SmolLM2 explains before it answers).
const MAX_NEW_TOKENS: usize = 40;

/// Runs the MRI and writes its files into `out`; returns its JSON summary. `split_dir` is the
/// data stage's folder of the seed whose `recipe` this is (its training prompts and items).
#[allow(clippy::too_many_arguments)]
pub fn explain(
    exp: &Experiment,
    base: &Base,
    recipe: &Recipe,
    data_dir: &Path,
    split_dir: &Path,
    benign_ids: &[String],
    out: &Path,
    progress: bool,
) -> Result<serde_json::Value> {
    let after = interventions::load_after(exp, recipe)?;
    let texts = texts(exp, data_dir, split_dir, benign_ids)?;
    let enc = Encoder {
        tok: base.lm.tokenizer()?,
        chat: base.lm.chat.as_ref(),
    };
    let gen = GenerateOptions {
        max_new_tokens: MAX_NEW_TOKENS,
        stop_ids: base.lm.stop_ids(),
        pad_id: base.lm.pad_id(),
    };
    let is_refusal = |t: &str| spillover_evals::judge::keyword::refusal_match(t).is_some();
    let sb = Subject::plain(&base.lm.model);
    let st = Subject {
        model: &after.lm.model,
        hooks: after.hooks.as_deref().map(|h| h as _),
    };
    let opts = MriOptions {
        layer: recipe.layer,
        max_new_tokens: MAX_NEW_TOKENS,
        ..MriOptions::default()
    };
    let line = |m: &str| eprintln!("    mri: {m}");
    let report: Option<&(dyn Fn(&str) + Sync)> = if progress { Some(&line) } else { None };
    let (result, tensors) = mri_from_texts(sb, st, &enc, &texts, &gen, &is_refusal, &opts, report)?;
    write_outputs(out, &result, &tensors)?;
    Ok(serde_json::to_value(&result)?)
}

fn texts(
    exp: &Experiment,
    data_dir: &Path,
    split_dir: &Path,
    benign_ids: &[String],
) -> Result<TextInputs> {
    let train: Vec<serde_json::Value> = read_jsonl(&split_dir.join(REFUSAL_TRAIN_FILE))?;
    let harmful: Vec<String> = train
        .iter()
        .filter(|r| !benign_ids.iter().any(|b| r["id"].as_str() == Some(b)))
        .filter_map(|r| r["prompt"].as_str().map(str::to_string))
        .take(DIRECTION_PROMPTS)
        .collect();
    let harmless: Vec<String> = read_items(&data_dir.join("harmless.jsonl"))?
        .into_iter()
        .map(|i| i.text)
        .take(DIRECTION_PROMPTS)
        .collect();
    // A benchmark the experiment does not run has no items file; a file that exists must parse.
    let items = |k: BenchmarkKind| -> Result<Vec<Item>> {
        let path = items_path(split_dir, k);
        if path.exists() {
            read_items(&path)
        } else {
            Ok(Vec::new())
        }
    };
    let capability: Vec<(String, String)> = items(BenchmarkKind::Arithmetic)?
        .into_iter()
        .filter_map(|i| Some((i.text, i.answer?)))
        .take(CAPABILITY_ITEMS)
        .collect();
    let probes = if exp.analysis.probes.is_empty() {
        let mut p = vec![ProbeText {
            name: "arithmetic".into(),
            text: PROBE_TEXT.into(),
            answer: None,
        }];
        let held_out = items(BenchmarkKind::Refusal)?.into_iter().next();
        if let Some(h) = held_out
            .map(|i| i.text)
            .or_else(|| harmful.first().cloned())
        {
            p.push(ProbeText {
                name: "harmful".into(),
                text: h,
                answer: None,
            });
        }
        p
    } else {
        exp.analysis
            .probes
            .iter()
            .enumerate()
            .map(|(i, t)| ProbeText {
                name: format!("probe{i}"),
                text: t.clone(),
                answer: None,
            })
            .collect()
    };
    Ok(TextInputs {
        probes,
        harmful,
        harmless,
        capability,
    })
}
