//! `spillover compare`: `spillover run` with an external intervention (see `spillover compare
//! --help`). It builds the experiment `run` would (the file, or the default experiment) with the
//! base model set to --base and the `[intervention]` replaced by `kind = "external"` and the
//! tuned model, then runs it with `run`'s own flow and options.

use super::run::{execute, RunArgs};
use anyhow::Result;
use clap::{ArgGroup, Args};
use spillover_pipeline::config::{self, is_model_path};
use spillover_pipeline::interventions::external::{local_form, names_a_path, Form};
use spillover_pipeline::ConfigError;
use std::path::{Path, PathBuf};

pub const COMPARE_ABOUT: &str = "Measure a tuned model you already have against its base: the same \
evaluation, paired table, MRI and report as `spillover run`, with the intervention given instead of \
performed (intervention.kind = \"external\").\n\n\
  spillover compare --base hf:Qwen/Qwen2.5-0.5B-Instruct --adapter ./my-trl-adapter\n  \
spillover compare --base smollm2-135m-instruct --tuned ./my-safety-tuned-checkpoint\n  \
spillover compare --base hf:ORG/BASE --tuned hf:ORG/TUNED@v1.0 --set profile=standard\n\n\
--tuned is a whole model: an HF folder (config.json + safetensors [+ tokenizer.json]), a .gguf file, a \
packaged or tiny-* name, or hf:ORG/NAME[@REVISION] (a branch, tag or commit; read from the Hugging Face \
cache, downloaded when missing). --adapter is a PEFT LoRA adapter folder (adapter_config.json + \
adapter_model.safetensors, from Python PEFT/TRL or `spillover train`) or a `spillover train --full` folder, \
applied to --base. --tuned may also name an adapter folder or an hf: adapter repo.\n\n\
The tuned model must use the base's tokenizer (same vocabulary, special tokens and BOS policy, checked \
before anything runs; otherwise exit 2 naming both models) and have the base's shape. Both models are \
prompted with the base's tokenizer and chat template, so every item is the same tokens before and after.\n\n\
Everything else is `spillover run`: an optional experiment file (its [intervention] is replaced), --set \
KEY=VALUE (applied last), --runs-dir, --dry-run, --quiet. The data split still runs: its held-out items \
are evaluated, and its harmful training prompts feed the MRI's refusal direction (the tuned model's own \
training data is unknown; the report says so). An external model has no training seed, so --seeds above 1 \
is an error. Relative paths are read from the current directory and recorded as absolute paths.\n\n\
Exit codes: 0 success, 1 internal error, 2 bad input (config, data or model files, mismatched tokenizer).";

#[derive(Args)]
#[command(group(ArgGroup::new("tuned_model").required(true).args(["tuned", "adapter"])))]
pub struct CompareArgs {
    /// The base model: a packaged name, tiny-*, an HF folder or .gguf path, or
    /// hf:ORG/NAME[@REVISION] (default: the experiment's model.id, smollm2-135m-instruct).
    #[arg(long)]
    pub base: Option<String>,
    /// The tuned model: an HF folder, a .gguf file, a packaged or tiny-* name,
    /// hf:ORG/NAME[@REVISION], or an adapter folder (sets intervention.model).
    #[arg(long)]
    pub tuned: Option<String>,
    /// A PEFT LoRA adapter folder (or a `spillover train --full` folder), applied to --base.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
}

pub fn run(a: CompareArgs) -> Result<()> {
    let tuned = match (&a.tuned, &a.adapter) {
        (Some(t), _) if names_a_path(t) => absolute_path(t),
        (Some(t), _) => t.clone(),
        (None, Some(dir)) => {
            match local_form(dir) {
                Ok(Form::Adapter) => {}
                Ok(Form::Model) => {
                    let msg = format!(
                        "{} is a whole model, not an adapter; pass it as --tuned",
                        dir.display()
                    );
                    return Err(ConfigError::new("--adapter", msg).into());
                }
                Err(m) => return Err(ConfigError::new("--adapter", m).into()),
            }
            absolute_path(&dir.display().to_string())
        }
        (None, None) => unreachable!("clap requires --tuned or --adapter"),
    };
    let base = a.base.as_deref().map(|b| {
        if is_model_path(b) {
            absolute_path(b)
        } else {
            b.to_string()
        }
    });
    let exp = config::load_edited(a.run.config.as_deref(), &a.run.overrides(), |table| {
        if let Some(base) = base {
            let model = table
                .entry("model")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let Some(m) = model.as_table_mut() {
                m.insert("id".into(), toml::Value::String(base));
            }
        }
        let mut intervention = toml::Table::new();
        intervention.insert("kind".into(), toml::Value::String("external".into()));
        intervention.insert("model".into(), toml::Value::String(tuned));
        table.insert("intervention".into(), toml::Value::Table(intervention));
    })?;
    execute(exp, a.run)
}

/// A path given on the command line as an absolute path (the run's config then names it the same
/// way from anywhere).
fn absolute_path(path: &str) -> String {
    std::path::absolute(Path::new(path))
        .map_or_else(|_| path.to_string(), |p| p.display().to_string())
}
