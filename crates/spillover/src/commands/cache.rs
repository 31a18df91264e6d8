//! `spillover cache`: TransformerLens-keyed activations of some texts, written to one safetensors
//! file (`safetensors.torch.load_file(path)["blocks.3.hook_resid_post"]`).
//!
//! Each text runs alone (no padding can change an activation); tensors of one hook point are
//! stacked along a new first axis and right-padded with zeros to the longest text, and
//! `input_ids` (padded with -1) and `lengths` say which positions are real.

use crate::cli::ModelArgs;
use crate::exit::UsageError;
use crate::models::load_model;
use anyhow::{Context, Result};
use candle_core::{DType, Device, Tensor};
use clap::Args;
use spillover_data::datasets::{load_user_file, UserFileSpec};
use spillover_model::hooks::{all_hook_names, Hooks};
use spillover_model::{Arch, Step};
use std::collections::HashMap;
use std::path::PathBuf;

pub const CACHE_ABOUT: &str = "Run a model on some texts and write the activations at the named \
TransformerLens hook points to one safetensors file, keyed by hook name (read it with \
safetensors.torch.load_file or safetensors.numpy.load_file).\n\n\
Hook names are TransformerLens's: hook_embed, blocks.L.hook_resid_pre/mid/post, blocks.L.attn.hook_q/k/v/z, \
blocks.L.attn.hook_attn_scores/hook_pattern, blocks.L.hook_attn_out, blocks.L.mlp.hook_pre/hook_post, \
blocks.L.hook_mlp_out, ln_final.hook_normalized (`spillover inspect` counts them); `*` stands for every \
layer, e.g. --hooks 'blocks.*.hook_resid_post'.\n\n\
Each text runs alone (padding never changes an activation). The tensor of a hook point has the texts \
on a new first axis, [n, pos, ...] ([n, heads, pos, pos] for scores and patterns), zero-padded on the \
right to the longest text; `input_ids` [n, pos] (-1 past a text's end) and `lengths` [n] say which \
positions are real. Values are float32. Without --chat a text is tokenized as `generate` does (BOS \
when the tokenizer adds one); with --chat it is one user message in the chat template.";

/// Arguments of `spillover cache`.
#[derive(Args)]
pub struct CacheArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Comma-separated hook point names; `*` matches any layer index.
    #[arg(long, required = true)]
    pub hooks: String,
    /// A text to run (repeatable).
    #[arg(long, short = 't')]
    pub text: Vec<String>,
    /// Texts from a file: PATH:COLUMN for JSONL, CSV or parquet, or a TXT file (one per line).
    #[arg(long)]
    pub data: Option<String>,
    /// Keep only the first N texts.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Wrap each text as a user message in the model's chat template (with the generation prompt).
    #[arg(long)]
    pub chat: bool,
    /// The safetensors file to write.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Overwrite --out when it exists.
    #[arg(long)]
    pub force: bool,
    /// No progress lines on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

pub fn run(a: CacheArgs) -> Result<()> {
    if a.out.exists() && !a.force {
        return Err(UsageError(format!(
            "--out {}: exists; pass --force to overwrite it",
            a.out.display()
        ))
        .into());
    }
    let texts = texts(&a)?;
    let lm = load_model(&a.model)?;
    let cfg = lm.model.config();
    let known = all_hook_names(cfg.num_layers, cfg.arch == Arch::Gpt2);
    let names = expand(&a.hooks, &known)?;
    let tok = lm.tokenizer()?;
    let chat = if a.chat { Some(lm.chat()?) } else { None };

    let mut ids_all = Vec::with_capacity(texts.len());
    for (i, t) in texts.iter().enumerate() {
        let ids = match &chat {
            Some(c) => tok.encode(&c.render_user(t)?, false)?,
            None => tok.encode(t, true)?,
        };
        if ids.is_empty() {
            return Err(UsageError(format!("text {i} is empty after tokenization")).into());
        }
        ids_all.push(ids);
    }
    let max_len = ids_all.iter().map(Vec::len).max().unwrap_or(0);
    let mut per_name: HashMap<String, Vec<Tensor>> = HashMap::new();
    for (i, ids) in ids_all.iter().enumerate() {
        let mut hooks = Hooks::cache_names(names.iter().cloned());
        let step = Step::left_padded(std::slice::from_ref(ids), lm.pad_id(), lm.model.device())?;
        lm.model.forward_hidden(&step, None, Some(&mut hooks))?;
        for name in &names {
            let t = hooks
                .get(name)
                .with_context(|| format!("hook point {name} produced no activation"))?;
            let t = pad_positions(
                &t.to_device(&Device::Cpu)?.to_dtype(DType::F32)?,
                name,
                max_len,
            )?;
            per_name.entry(name.clone()).or_default().push(t);
        }
        if !a.quiet {
            eprintln!("cached {}/{} ({} tokens)", i + 1, ids_all.len(), ids.len());
        }
    }
    let mut out: HashMap<String, Tensor> = HashMap::new();
    for (name, ts) in per_name {
        out.insert(name, Tensor::cat(&ts, 0)?);
    }
    let n = ids_all.len();
    let mut flat = vec![-1i64; n * max_len];
    for (i, ids) in ids_all.iter().enumerate() {
        for (j, &id) in ids.iter().enumerate() {
            flat[i * max_len + j] = id as i64;
        }
    }
    out.insert(
        "input_ids".into(),
        Tensor::from_vec(flat, (n, max_len), &Device::Cpu)?,
    );
    let lengths: Vec<i64> = ids_all.iter().map(|v| v.len() as i64).collect();
    out.insert(
        "lengths".into(),
        Tensor::from_vec(lengths, n, &Device::Cpu)?,
    );
    spillover_model::weights::write_safetensors(&a.out, &out)?;
    println!(
        "wrote {} ({} hook points, {n} texts, up to {max_len} positions)",
        a.out.display(),
        names.len()
    );
    Ok(())
}

/// The texts from `--text` (in order) and then `--data`.
fn texts(a: &CacheArgs) -> Result<Vec<String>> {
    let mut texts = a.text.clone();
    if let Some(spec) = &a.data {
        let spec: UserFileSpec = spec.parse()?;
        let ds = load_user_file(&spec)?;
        texts.extend(ds.items.into_iter().map(|it| it.text));
    }
    if let Some(limit) = a.limit {
        texts.truncate(limit);
    }
    if texts.is_empty() {
        return Err(
            UsageError("no texts: give --text TEXT (repeatable) or --data FILE".into()).into(),
        );
    }
    Ok(texts)
}

/// Hook names from a comma-separated list; `*` in a name matches any layer index
/// (`blocks.*.hook_resid_post`). Every name must be a hook point of this model.
fn expand(spec: &str, known: &[String]) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for want in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let matched: Vec<&String> = known.iter().filter(|k| matches(want, k)).collect();
        if matched.is_empty() {
            let examples: Vec<&str> = known.iter().take(8).map(String::as_str).collect();
            return Err(UsageError(format!(
                "--hooks {want}: not a hook point of this model (e.g. {}, …; `*` matches a layer index)",
                examples.join(", ")
            ))
            .into());
        }
        for m in matched {
            if !names.contains(m) {
                names.push(m.clone());
            }
        }
    }
    if names.is_empty() {
        return Err(UsageError("--hooks is empty".into()).into());
    }
    Ok(names)
}

/// `pattern` equals `name`, where a `*` component of the pattern matches any number.
fn matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<&str>, Vec<&str>) = (pattern.split('.').collect(), name.split('.').collect());
    p.len() == n.len()
        && p.iter()
            .zip(&n)
            .all(|(p, n)| p == n || (*p == "*" && n.parse::<usize>().is_ok()))
}

/// Zero-pads every position axis of one text's activation (batch 1) to `max_len`: queries and
/// keys (axes 2 and 3) of attention scores and patterns [b, h, t, k], axis 1 of every other hook
/// ([b, t, ...]).
fn pad_positions(t: &Tensor, name: &str, max_len: usize) -> Result<Tensor> {
    if name.ends_with("hook_pattern") || name.ends_with("hook_attn_scores") {
        pad_axis(&pad_axis(t, 2, max_len)?, 3, max_len)
    } else {
        pad_axis(t, 1, max_len)
    }
}

fn pad_axis(t: &Tensor, axis: usize, len: usize) -> Result<Tensor> {
    let have = t.dims()[axis];
    if have >= len {
        return Ok(t.clone());
    }
    let mut shape = t.dims().to_vec();
    shape[axis] = len - have;
    let zeros = Tensor::zeros(shape, t.dtype(), t.device())?;
    Ok(Tensor::cat(&[t, &zeros], axis)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_matches_a_layer_index_only() {
        assert!(matches(
            "blocks.*.hook_resid_post",
            "blocks.11.hook_resid_post"
        ));
        assert!(!matches(
            "blocks.*.hook_resid_post",
            "blocks.1.hook_resid_pre"
        ));
        assert!(!matches("*.hook_resid_post", "ln_final.hook_resid_post"));
        assert!(matches("hook_embed", "hook_embed"));
    }
}
