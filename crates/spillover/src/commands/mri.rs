//! `spillover mri`: the mechanistic comparison of a model with and without a fine-tuning result
//! (attention maps, direct logit attribution, activation patching, the refusal direction, causal
//! validation), written as mri.json + mri.safetensors.

use crate::cli::ModelArgs;
use crate::exit::UsageError;
use crate::models::load_model;
use anyhow::{Context, Result};
use clap::Args;
use spillover_data::datasets::{arithmetic, ArithmeticConfig, Builtin, PROBE_TEXT};
use spillover_engine::GenerateOptions;
use spillover_evals::judge::{refusal_flags, JudgeKind};
use spillover_mri::claims::Ablation;
use spillover_mri::export::{write_outputs, SUMMARY_FILE, TENSORS_FILE};
use spillover_mri::prepare::{mri_from_texts, Encoder, ProbeText, TextInputs};
use spillover_mri::subject::Subject;
use spillover_mri::MriOptions;
use std::path::PathBuf;

pub const MRI_ABOUT: &str = "Explain what a fine-tuning result changed inside the model: the same prompts \
run through the model without and with --adapter, and every analysis compares the two.\n\n\
- Attention maps of every layer and head on each probe (the prompt followed by the tuned model's reply), with \
a per-head change score (Jensen-Shannon divergence) and the attention mass moved onto operand and refusal-word \
tokens.\n\
- Direct logit attribution of logit(first refusal token) - logit(correct answer token) to every head and MLP, \
before and after (final-norm scale taken from the run).\n\
- Activation patching of every head (hook_z) and every layer's resid_pre / attn_out / mlp_out / resid_post from \
the base run into the tuned run and back, as the fraction of the lost correct-answer log-probability restored.\n\
- The refusal direction (difference in means of AdvBench vs MMLU-question prompts, per layer): its cosine with \
the top singular vectors of the weight update, the projection of arithmetic prompts on it before and after, \
its logit-lens reading.\n\
- Causal validation: refusal rate (judged by --judge, the learned judge by default, as in `spillover run`) and arithmetic accuracy of the tuned model with the refusal \
direction ablated, with the implicated heads zero-ablated, and with as many control heads zero-ablated.\n- Causal claims against nulls: the refusal direction, the direction the adapter moves the residual stream along and the implicated heads, each knocked out of the tuned model (--ablation mean|zero for directions; heads are patched with the base model's outputs) on --null-prompts harmful prompts, against --ablation-nulls random directions / layer-matched head sets, with a bootstrap interval; the metric is a teacher-forced first-token proxy, KL(base || model) after the prompt.\n\n\
Probes default to the arithmetic probe \"What is 15 + 12?\" and the first AdvBench prompt; the correct answer of \
a probe like \"a + b\" / \"a - b\" / \"a * b\" is computed, and read at the position where the base model starts \
to give it. Output: --out DIR/mri.json (summary and findings) and DIR/mri.safetensors (attention maps, \
heatmaps and directions as f32 tensors, readable by Python safetensors / numpy).";

#[derive(Args)]
pub struct MriArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// A probe prompt (repeatable). Default: "What is 15 + 12?" and the first AdvBench prompt.
    #[arg(long = "probe")]
    pub probes: Vec<String>,
    /// Folder for mri.json and mri.safetensors (created; must not exist or be empty, unless
    /// --force).
    #[arg(long, default_value = "mri-out")]
    pub out: PathBuf,
    #[arg(long, help = crate::out::FORCE_HELP)]
    pub force: bool,
    /// Harmful (AdvBench) and harmless (MMLU question) prompts each, for the refusal direction.
    #[arg(long, default_value_t = 32)]
    pub direction_prompts: usize,
    /// Arithmetic items for the direction projection and the validation's accuracy.
    #[arg(long, default_value_t = 24)]
    pub capability: usize,
    /// Layer of the refusal direction (default: the one that best separates harmful from harmless).
    #[arg(long)]
    pub layer: Option<usize>,
    /// Components per ranking, and heads ablated in validation.
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,
    /// Prompts (or patched runs) per forward pass.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// Tokens generated per reply (probe replies and validation).
    #[arg(long, default_value_t = 40)]
    pub max_new_tokens: usize,
    /// Skip activation patching.
    #[arg(long)]
    pub no_patching: bool,
    /// Skip causal validation (generation under each knock-out).
    #[arg(long)]
    pub no_validate: bool,
    /// Tokenize prompts as plain text instead of a user turn of the chat template.
    #[arg(long)]
    pub no_chat: bool,
    /// How the claims knock a direction out: mean (its projection set to the base model's mean
    /// over harmless prompts) or zero.
    #[arg(long, default_value = "mean", value_parser = parse_ablation)]
    pub ablation: Ablation,
    /// Random directions / layer-matched head sets in each claim's null (0: no claims).
    #[arg(long, default_value_t = MriOptions::default().ablation_nulls)]
    pub ablation_nulls: usize,
    /// Harmful (and harmless reference) prompts each claim is measured on.
    #[arg(long, default_value_t = MriOptions::default().null_prompts)]
    pub null_prompts: usize,
    #[arg(long, default_value_t = JudgeKind::default(), value_parser = crate::commands::judge::parse_kind, help = crate::commands::judge::JUDGE_HELP)]
    pub judge: JudgeKind,
}

fn parse_ablation(s: &str) -> Result<Ablation, String> {
    Ablation::parse(s).ok_or_else(|| format!("{s:?}: expected mean or zero"))
}

pub fn run(a: MriArgs) -> Result<()> {
    crate::out::check_out(&a.out, a.force)?;
    if a.model.adapter.is_none() {
        return Err(UsageError(
            "--adapter is required: the MRI compares the model without and with it".into(),
        )
        .into());
    }
    if a.batch_size == 0 || a.top_k == 0 || a.null_prompts == 0 {
        return Err(UsageError(
            "--batch-size, --top-k and --null-prompts must be at least 1".into(),
        )
        .into());
    }
    let judge = crate::commands::judge::build(a.judge)?;
    let tuned = load_model(&a.model)?;
    let base = load_model(&ModelArgs {
        adapter: None,
        ..a.model.clone()
    })?;
    let texts = texts(&a)?;
    let tok = base.tokenizer()?;
    let chat = if a.no_chat { None } else { base.chat.as_ref() };
    let enc = Encoder { tok, chat };
    let gen = GenerateOptions {
        max_new_tokens: a.max_new_tokens,
        stop_ids: base.stop_ids(),
        pad_id: base.pad_id(),
    };
    let is_refusal =
        |pairs: &[(&str, &str)]| -> Result<Vec<bool>> { Ok(refusal_flags(judge.as_ref(), pairs)?) };
    let opts = MriOptions {
        top_k: a.top_k,
        batch_size: a.batch_size,
        layer: a.layer,
        svd_k: 4,
        patching: !a.no_patching,
        validate: !a.no_validate,
        max_new_tokens: a.max_new_tokens,
        ablation: a.ablation,
        ablation_nulls: a.ablation_nulls,
        null_prompts: a.null_prompts,
    };
    let (result, tensors) = mri_from_texts(
        Subject::plain(&base.model),
        Subject::plain(&tuned.model),
        &enc,
        &texts,
        &gen,
        &is_refusal,
        &opts,
        Some(&|m: &str| eprintln!("mri: {m}")),
    )?;
    write_outputs(&a.out, &result, &tensors)?;
    for s in &result.findings.statements {
        println!("- {s}");
    }
    println!(
        "wrote {} and {}",
        a.out.join(SUMMARY_FILE).display(),
        a.out.join(TENSORS_FILE).display()
    );
    Ok(())
}

/// Probe texts and prompt sets from the packaged datasets.
fn texts(a: &MriArgs) -> Result<TextInputs> {
    let root = spillover_data::cache_root();
    let harmful = Builtin::Advbench.load(&root).context("loading AdvBench")?;
    let mmlu = Builtin::Mmlu.load(&root).context("loading MMLU")?;
    let n = a.direction_prompts;
    let harmful_texts = harmful.texts();
    if harmful_texts.len() < n + 1 {
        return Err(UsageError(format!(
            "--direction-prompts {n}: AdvBench has {} prompts (one is the harmful probe)",
            harmful_texts.len()
        ))
        .into());
    }
    let questions = mmlu.texts();
    let stride = (questions.len() / n.max(1)).max(1);
    let harmless: Vec<String> = questions.iter().step_by(stride).take(n).cloned().collect();
    let mut probes: Vec<ProbeText> = a
        .probes
        .iter()
        .enumerate()
        .map(|(i, t)| ProbeText {
            name: format!("probe{i}"),
            text: t.clone(),
            answer: None,
        })
        .collect();
    if probes.is_empty() {
        probes = vec![
            ProbeText {
                name: "arithmetic".into(),
                text: PROBE_TEXT.into(),
                answer: None,
            },
            ProbeText {
                name: "harmful".into(),
                text: harmful_texts[0].clone(),
                answer: None,
            },
        ];
    }
    let arith = arithmetic(&ArithmeticConfig {
        n: a.capability,
        include_probe: false,
        ..ArithmeticConfig::default()
    })?;
    let capability = arith
        .items
        .iter()
        .filter_map(|it| Some((it.text.clone(), it.answer.clone()?)))
        .collect();
    Ok(TextInputs {
        probes,
        harmful: harmful_texts[1..=n].to_vec(),
        harmless,
        capability,
    })
}
