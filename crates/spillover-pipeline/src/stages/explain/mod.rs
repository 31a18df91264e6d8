//! The explanation stage (the MRI): attention maps, direct logit attribution, activation patching,
//! the refusal direction and causal validation, on the base model and one seed's intervened
//! model, with the same probes; refusals are judged by the run's judge. It runs once per seed (`seed-S/explain/`); each writes `mri.json`
//! and `mri.safetensors` (see `spillover_mri::export`) and returns the JSON summary. With several
//! seeds, [`agreement`] says which of the MRI's claims every seed makes.
//!
//! Inputs from the run, per seed: the probes (`analysis.probes`, else the arithmetic probe and the
//! seed's first held-out harmful prompt), the seed's harmful training prompts and the harmless
//! prompts of the data stage for the refusal direction (`analysis.prompts` of each), and the
//! seed's evaluated arithmetic items as capability checks (`analysis.items`).

pub mod agreement;

use crate::config::Experiment;
use crate::experiment::Base;
use crate::interventions::{self, Recipe};
use crate::rundir::read_jsonl;
use crate::stages::data::{items_path, read_items};
use anyhow::Result;
use spillover_data::datasets::{Item, PROBE_TEXT, REFUSAL_TRAIN_FILE};
use spillover_engine::GenerateOptions;
use spillover_evals::benchmarks::BenchmarkKind;
use spillover_evals::judge::{refusal_flags, RefusalJudge};
use spillover_mri::export::write_outputs;
use spillover_mri::prepare::{mri_from_texts, Encoder, ProbeText, TextInputs};
use spillover_mri::subject::Subject;
use spillover_mri::MriOptions;
use std::path::Path;

/// Tokens generated for probes and validation items (SmolLM2 explains before it answers).
const MAX_NEW_TOKENS: usize = 40;

/// Runs the MRI and writes its files into `out`; returns its JSON summary. `split_dir` is the
/// data stage's folder of the seed whose `recipe` this is (its training prompts and items); `tag`
/// names the seed in progress lines.
/// Validation's refusal rates are counted by `judge`, the run's judge.
#[allow(clippy::too_many_arguments)]
pub fn explain(
    exp: &Experiment,
    base: &Base,
    recipe: &Recipe,
    data_dir: &Path,
    split_dir: &Path,
    benign_ids: &[String],
    judge: &(dyn RefusalJudge + Sync),
    out: &Path,
    tag: &str,
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
    let is_refusal =
        |pairs: &[(&str, &str)]| -> Result<Vec<bool>> { Ok(refusal_flags(judge, pairs)?) };
    let sb = Subject::plain(&base.lm.model);
    let st = Subject {
        model: &after.lm.model,
        hooks: after.hooks.as_deref().map(|h| h as _),
    };
    let opts = MriOptions {
        layer: recipe.layer(),
        max_new_tokens: MAX_NEW_TOKENS,
        ablation: exp.analysis.ablation,
        ablation_nulls: exp.analysis.ablation_nulls,
        null_prompts: exp.analysis.null_prompts,
        ..MriOptions::default()
    };
    let line = |m: &str| eprintln!("    mri {tag}: {m}");
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
        .take(exp.analysis.prompts)
        .collect();
    let harmless: Vec<String> = read_items(&data_dir.join("harmless.jsonl"))?
        .into_iter()
        .map(|i| i.text)
        .take(exp.analysis.prompts)
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
        .take(exp.analysis.items)
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
