//! The measurement layer: each benchmark turns items into prompts, runs them through the engine,
//! extracts and scores the outputs, and returns one [`Record`] per item with the
//! [`PromptFormat`] it used and a summary.
//!
//! ```text
//! items ─▶ prompt (chat template or plain, few-shot) ─▶ engine (generate / loglikelihood)
//!       ─▶ extraction (number, letter, judge label, sandbox outcome) ─▶ scores ─▶ Record
//! ```
//!
//! Benchmarks never choose data: the caller passes the items (the CLI takes them from
//! [`default_dataset`]). Per-item binary scores are 0.0/1.0 (McNemar), continuous ones are real
//! numbers (paired bootstrap); records of two runs pair by item id.

mod arithmetic;
pub mod datasets;
mod diversity;
mod error;
pub mod extract;
mod fewshot;
mod gsm8k;
mod humaneval;
mod kind;
mod kl;
mod mmlu;
mod options;
mod perplexity;
mod record;
mod refusal;
pub mod sources;
mod subject;

use std::collections::HashSet;
use std::ops::Range;

use spillover_data::datasets::Item;
use spillover_sandbox::Sandbox;

pub use datasets::{dataset_from_file, default_dataset, documents, open_prompts};
pub use error::{Error, Result};
pub use gsm8k::strip_calculator;
pub use humaneval::{pass_at_k, STOP_STRINGS as HUMANEVAL_STOP_STRINGS};
pub use kind::{resolve_spec, BenchmarkKind};
pub use kl::run_kl;
pub use mmlu::context as mmlu_context;
pub use options::BenchOptions;
pub use record::{
    binary, means, BenchOutput, MetricRole, MetricSpec, PromptFormat, PromptStyle, Record,
    DEFAULT_MARGIN,
};
pub use refusal::{not_helped, outcome, NOT_HELPED, OUTCOMES};
pub use sources::{item_source, SOURCE_KEY, SOURCE_SEP};
pub use subject::{Subject, PLAIN_DIALOGUE};

use crate::judge::RefusalJudge;

/// Runs benchmark `kind` on `subject` over `items`. The judge is used by `refusal` and
/// `over_refusal` only, the sandbox by `humaneval` only (which fails without one). `kl`
/// compares two subjects: use [`run_kl`].
pub fn run_benchmark(
    kind: BenchmarkKind,
    subject: &Subject,
    items: &[Item],
    opts: &BenchOptions,
    judge: &dyn RefusalJudge,
    sandbox: Option<&Sandbox>,
) -> Result<BenchOutput> {
    check_items(kind, items)?;
    opts.validate(kind)?;
    match kind {
        BenchmarkKind::Refusal | BenchmarkKind::OverRefusal => {
            refusal::run(kind, subject, items, opts, judge)
        }
        BenchmarkKind::Arithmetic => arithmetic::run(subject, items, opts),
        BenchmarkKind::Gsm8k => gsm8k::run(subject, items, opts),
        BenchmarkKind::Mmlu => mmlu::run(subject, items, opts),
        BenchmarkKind::Perplexity => perplexity::run(subject, items, opts),
        BenchmarkKind::Diversity => diversity::run(subject, items, opts),
        BenchmarkKind::Kl => Err(Error::BadInput(
            "kl compares two models: call run_kl(base, tuned, ...)".into(),
        )),
        BenchmarkKind::Humaneval => match sandbox {
            Some(s) => humaneval::run(subject, items, opts, s),
            None => Err(Error::BadInput(
                "humaneval runs model-written code: pass a sandbox \
                 (spillover_sandbox::Sandbox::new(SandboxConfig::default()))"
                    .into(),
            )),
        },
    }
}

/// At least one item, and no id twice (records pair by id).
pub(crate) fn check_items(kind: BenchmarkKind, items: &[Item]) -> Result<()> {
    if items.is_empty() {
        return Err(Error::BadInput(format!("{kind}: no items to evaluate")));
    }
    let mut seen = HashSet::new();
    if let Some(dup) = items.iter().find(|i| !seen.insert(i.id.as_str())) {
        return Err(Error::BadInput(format!(
            "{kind}: item id {} appears twice (records are paired by id)",
            dup.id
        )));
    }
    Ok(())
}

/// Items handed to the engine per call. The progress bar moves once per call; each call's
/// sampling streams are seeded by the run seed and the call's index, so results depend on
/// the seed and the item order only.
pub const ITEMS_PER_CALL: usize = 128;

/// Runs `f` on consecutive ranges of at most [`ITEMS_PER_CALL`] of `n` items, with the seed of
/// each call, behind a progress bar counting items; returns the concatenated results.
pub(crate) fn in_chunks<T>(
    kind: BenchmarkKind,
    n: usize,
    opts: &BenchOptions,
    mut f: impl FnMut(Range<usize>, u64) -> Result<Vec<T>>,
) -> Result<Vec<T>> {
    let bar = opts.batching.bar(n as u64, kind.name(), "items");
    let mut out = Vec::with_capacity(n);
    for (c, start) in (0..n).step_by(ITEMS_PER_CALL).enumerate() {
        let end = (start + ITEMS_PER_CALL).min(n);
        let seed = opts.seed ^ (c as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        out.extend(f(start..end, seed)?);
        bar.inc((end - start) as u64);
    }
    bar.finish_and_clear();
    Ok(out)
}
