//! The datasets the CLI evaluates on when the caller does not choose items: the packaged sets
//! (resolved through the asset cache), the arithmetic generator, local files given by the user,
//! and the open-ended prompts committed with Spillover. `limit` subsamples with the seed.

use std::path::Path;

use spillover_data::datasets::{
    arithmetic, gsm8k_file, is_hub_spec, item_id, load_hub, load_user_file, wikitext_file, xstest,
    ArithmeticConfig, Builtin, Dataset, HubConfig, HubFile, HubKind, Item, Source, Stratify,
    UserFileSpec,
};

use super::{BenchmarkKind, Error, Result};

/// MMLU items evaluated when no limit is given (a stratified subsample of the 14,042).
pub const MMLU_DEFAULT_SIZE: usize = 1000;
/// Gutenberg paragraphs are joined into passages of at least this many bytes.
pub const PASSAGE_BYTES: usize = 2000;
/// Name (and id prefix) of the committed open-ended prompts.
pub const OPEN_PROMPTS_NAME: &str = "open-prompts";

const OPEN_PROMPTS: &str = include_str!("open_prompts.txt");

/// The default items of `kind` (see [`BenchmarkKind::default_data`]), resolving packaged
/// datasets under the cache `root` (fetching them when missing), cut to `limit` items (`Some(0)`
/// = every item, as everywhere else; the arithmetic generator's every item is its default 300) with
/// `seed`: a seeded uniform subsample in original order (MMLU: stratified by subject;
/// arithmetic: the probe and `limit − 1` generated problems; perplexity: the first passages).
pub fn default_dataset(
    kind: BenchmarkKind,
    root: &Path,
    limit: Option<usize>,
    seed: u64,
) -> Result<Dataset> {
    let limit = every_item(limit);
    let packaged = |b: Builtin| b.load(root).map_err(Error::from);
    let ds = match kind {
        BenchmarkKind::Refusal => packaged(Builtin::Harmbench)?,
        BenchmarkKind::OverRefusal => packaged(Builtin::RhoOverrefusal)?,
        BenchmarkKind::Gsm8k => packaged(Builtin::Gsm8k100)?,
        BenchmarkKind::Humaneval => packaged(Builtin::Humaneval)?,
        BenchmarkKind::Arithmetic => return arithmetic_set(limit, seed),
        BenchmarkKind::Mmlu => {
            let all = packaged(Builtin::Mmlu)?;
            let n = limit.unwrap_or(MMLU_DEFAULT_SIZE).min(all.len());
            return Ok(all.stratified_sample(Stratify::Proportional(n), seed)?);
        }
        BenchmarkKind::Perplexity => {
            let ds = passages(&packaged(Builtin::Gutenberg2889)?, PASSAGE_BYTES);
            return Ok(first(ds, limit));
        }
        BenchmarkKind::Kl | BenchmarkKind::Diversity => open_prompts(),
    };
    cut(ds, limit, seed)
}

/// Items of `kind` from `spec`, cut to `limit` as in [`default_dataset`]:
/// - a packaged dataset name (`advbench`, `harmbench`, ...; resolved under `root`);
/// - a file in the benchmark's own format: XSTest's `xstest_prompts.csv` for `over_refusal` (its
///   safe prompts), a GSM8K JSONL file for `gsm8k`, a text file for `perplexity` (WikiText-2
///   style: non-blank, non-heading lines, joined into passages), or a parquet file with the same
///   columns;
/// - for those three, a hub dataset: `hf:ORG/NAME[@REVISION][/PATH.parquet]` or a built-in
///   route (`xstest-hub`, `gsm8k-hub`, `wikitext-2-hub`), read from the Hugging Face cache or
///   downloaded;
/// - for the prompt-only benchmarks (refusal, over_refusal, kl, diversity), a user file of
///   prompts: `PATH:COLUMN` for JSONL/CSV, or a TXT file with one prompt per line.
pub fn dataset_from_file(
    kind: BenchmarkKind,
    spec: &str,
    root: &Path,
    limit: Option<usize>,
    seed: u64,
) -> Result<Dataset> {
    let limit = every_item(limit);
    if let Ok(b) = spec.parse::<Builtin>() {
        let ds = b.load(root)?;
        return match kind {
            BenchmarkKind::Perplexity => Ok(first(passages(&ds, PASSAGE_BYTES), limit)),
            _ => cut(ds, limit, seed),
        };
    }
    if is_hub_spec(spec) {
        return hub_dataset(kind, spec, limit, seed);
    }
    let user: UserFileSpec = spec.parse()?;
    let ext = user
        .path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let own_format = user.column.is_none();
    let ds = match (kind, ext.as_deref()) {
        (BenchmarkKind::OverRefusal, Some("csv" | "parquet")) if own_format => {
            xstest(&user.path)?.with_label("safe")
        }
        (BenchmarkKind::Gsm8k, Some("jsonl" | "parquet")) if own_format => gsm8k_file(&user.path)?,
        (BenchmarkKind::Perplexity, Some("txt" | "parquet")) if own_format => {
            return Ok(prose_passages(wikitext_file(&user.path)?, limit));
        }
        (
            BenchmarkKind::Refusal
            | BenchmarkKind::OverRefusal
            | BenchmarkKind::Kl
            | BenchmarkKind::Diversity,
            _,
        ) => load_user_file(&user)?,
        _ => {
            return Err(Error::BadInput(format!(
                "{spec}: {kind} cannot read this file: {}",
                FILE_FORMATS
            )))
        }
    };
    cut(ds, limit, seed)
}

/// Items of `kind` from a hub dataset (see [`dataset_from_file`]).
fn hub_dataset(
    kind: BenchmarkKind,
    spec: &str,
    limit: Option<usize>,
    seed: u64,
) -> Result<Dataset> {
    let file: HubFile = spec.parse()?;
    let hub_kind = match kind {
        BenchmarkKind::OverRefusal => HubKind::Xstest,
        BenchmarkKind::Gsm8k => HubKind::Gsm8k,
        BenchmarkKind::Perplexity => HubKind::Wikitext,
        _ => {
            return Err(Error::BadInput(format!(
                "{spec}: {kind} cannot read hub datasets: {FILE_FORMATS}"
            )))
        }
    };
    let ds = load_hub(&HubConfig::from_env(), &file, hub_kind)?;
    match kind {
        BenchmarkKind::OverRefusal => cut(ds.with_label("safe"), limit, seed),
        BenchmarkKind::Perplexity => Ok(prose_passages(ds, limit)),
        _ => cut(ds, limit, seed),
    }
}

/// WikiText-style lines without headings, joined into passages, the first `limit` kept.
fn prose_passages(mut ds: Dataset, limit: Option<usize>) -> Dataset {
    ds.items.retain(|it| it.label.as_deref() != Some("heading"));
    ds.notes.push("dropped heading lines".into());
    first(passages(&ds, PASSAGE_BYTES), limit)
}

/// The files [`dataset_from_file`] reads, in words (for errors and `--help`).
pub const FILE_FORMATS: &str = "over_refusal reads XSTest's xstest_prompts.csv, gsm8k a GSM8K \
    JSONL file (question, answer ending in #### n), perplexity a text file (one paragraph per \
    line), each also as .parquet with the same columns; those three also read the Hugging Face \
    hub: hf:ORG/NAME[@REVISION][/PATH.parquet], or xstest-hub, gsm8k-hub, wikitext-2-hub \
    (cached in $HF_HOME/hub, downloaded when missing); refusal, over_refusal, kl and diversity \
    read prompts from PATH:COLUMN (JSONL, CSV or parquet) or a TXT file (one per line); any \
    benchmark takes a packaged dataset name";

/// The open-ended prompts committed with Spillover (`open_prompts.txt`), ids in line order.
pub fn open_prompts() -> Dataset {
    let items = OPEN_PROMPTS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .enumerate()
        .map(|(i, l)| Item::new(item_id(OPEN_PROMPTS_NAME, i), l))
        .collect();
    let source = Source::Generated {
        generator: "spillover open_prompts.txt".into(),
        seed: 0,
        params: "fixed list written for Spillover".into(),
    };
    Dataset::new(OPEN_PROMPTS_NAME, source, items)
}

/// Consecutive items joined with blank lines into passages of at least `min_bytes` (the last
/// passage takes what is left), named `<name>-passages`.
pub fn passages(ds: &Dataset, min_bytes: usize) -> Dataset {
    let name = format!("{}-passages", ds.name);
    let mut items: Vec<Item> = Vec::new();
    let mut cur: Vec<&str> = Vec::new();
    let mut bytes = 0;
    let flush = |cur: &mut Vec<&str>, items: &mut Vec<Item>| {
        if !cur.is_empty() {
            items.push(Item::new(item_id(&name, items.len()), cur.join("\n\n")));
            cur.clear();
        }
    };
    for it in &ds.items {
        cur.push(&it.text);
        bytes += it.text.len();
        if bytes >= min_bytes {
            flush(&mut cur, &mut items);
            bytes = 0;
        }
    }
    flush(&mut cur, &mut items);
    let mut out = Dataset::new(name.clone(), ds.source.clone(), items);
    out.notes = ds.notes.clone();
    out.notes.push(format!(
        "joined consecutive items into {} passages of at least {min_bytes} bytes",
        out.len()
    ));
    out
}

/// The arithmetic generator's items: the probe first, then `limit − 1` problems (default 300;
/// "every item" of a generator is its default size).
fn arithmetic_set(limit: Option<usize>, seed: u64) -> Result<Dataset> {
    let default_n = ArithmeticConfig::default().n;
    let cfg = ArithmeticConfig {
        n: match limit {
            None | Some(usize::MAX) => default_n,
            Some(l) => l - 1,
        },
        seed,
        ..ArithmeticConfig::default()
    };
    Ok(arithmetic(&cfg)?)
}

/// A seeded subsample of `limit` items when the dataset has more.
fn cut(ds: Dataset, limit: Option<usize>, seed: u64) -> Result<Dataset> {
    match limit {
        Some(n) if n < ds.len() => Ok(ds.sample(n, seed)?),
        _ => Ok(ds),
    }
}

/// The first `limit` items.
fn first(mut ds: Dataset, limit: Option<usize>) -> Dataset {
    if let Some(n) = limit.filter(|&n| n < ds.len()) {
        ds.items.truncate(n);
        ds.notes.push(format!("kept the first {n}"));
    }
    ds
}

/// `limit = 0` means every item, as `usize::MAX` does (cut to the dataset's size).
fn every_item(limit: Option<usize>) -> Option<usize> {
    limit.map(|l| if l == 0 { usize::MAX } else { l })
}

#[cfg(test)]
mod tests {
    use super::*;
    use spillover_errors::UserFixable;

    #[test]
    fn limit_zero_means_every_item() {
        let root = Path::new("/nonexistent");
        let all = open_prompts().len();
        assert!(all > 3);
        for kind in [BenchmarkKind::Kl, BenchmarkKind::Diversity] {
            let every = default_dataset(kind, root, Some(0), 0).unwrap();
            assert_eq!(every.len(), all, "{kind}");
            assert_eq!(default_dataset(kind, root, Some(3), 0).unwrap().len(), 3);
        }
        let arith = default_dataset(BenchmarkKind::Arithmetic, root, Some(0), 0).unwrap();
        let default = default_dataset(BenchmarkKind::Arithmetic, root, None, 0).unwrap();
        assert_eq!(arith.len(), default.len());
        assert_eq!(arith.len(), ArithmeticConfig::default().n + 1);
    }

    #[test]
    fn hub_specs_are_checked_before_any_download() {
        let root = Path::new("/nonexistent");
        let err = dataset_from_file(BenchmarkKind::Refusal, "hf:me/set/x.parquet", root, None, 0)
            .unwrap_err();
        assert!(err.user_can_fix() && err.to_string().contains("cannot read hub datasets"));
        let err = dataset_from_file(BenchmarkKind::Gsm8k, "hf:gsm8k", root, None, 0).unwrap_err();
        assert!(err.user_can_fix() && err.to_string().contains("invalid hub dataset `hf:gsm8k`"));
    }
}
