//! The datasets the CLI evaluates on when the caller does not choose items: the packaged sets
//! (resolved through the asset cache), the arithmetic generator, local files given by the user,
//! and the open-ended prompts committed with Spillover. `limit` subsamples with the seed.

use std::path::Path;

use spillover_data::datasets::{
    arithmetic, gsm8k_file, is_hub_spec, item_id, load_hub, load_user_file, parse_tier_spec,
    wikitext_file, wikitext_repository, xstest, xstest_repository, ArithmeticConfig, Builtin,
    Dataset, HubConfig, HubFile, HubKind, Item, Source, Stratify, Tier, UserFileSpec,
    TIER_SPEC_PREFIX,
};

use super::sources::combine;
use super::{BenchmarkKind, Error, Result};

/// MMLU items evaluated when no limit is given (a stratified subsample of the 14,042).
pub const MMLU_DEFAULT_SIZE: usize = 1000;
/// Gutenberg paragraphs are joined into passages of at least this many bytes.
pub const PASSAGE_BYTES: usize = 2000;
/// Each perplexity document is the start of its text, at most this many bytes (about 300
/// tokens): documents are the unit the comparison resamples, so more of them beat longer ones.
pub const DOCUMENT_BYTES: usize = 1200;
/// Name (and id prefix) of the committed open-ended prompts.
pub const OPEN_PROMPTS_NAME: &str = "open-prompts";

const OPEN_PROMPTS: &str = include_str!("open_prompts.txt");

/// The default items of `kind` (see [`BenchmarkKind::default_data`]), resolving packaged
/// datasets under the cache `root` (fetching them when missing), cut to `limit` items (`Some(0)`
/// = every item, as everywhere else; the arithmetic generator's every item is its default 300) with
/// `seed`: a seeded uniform subsample in original order (MMLU: stratified by subject;
/// arithmetic: the probe and `limit − 1` generated problems; refusal and over-refusal: split
/// evenly between their two sources, see [`combine`]; perplexity: whole documents).
pub fn default_dataset(
    kind: BenchmarkKind,
    root: &Path,
    limit: Option<usize>,
    seed: u64,
) -> Result<Dataset> {
    let limit = every_item(limit);
    let packaged = |b: Builtin| b.load(root).map_err(Error::from);
    let ds = match kind {
        BenchmarkKind::Refusal => {
            let questions = xstest_repository()?.with_label("unsafe");
            return combine(vec![packaged(Builtin::Harmbench)?, questions], limit, seed);
        }
        BenchmarkKind::OverRefusal => {
            let safe = xstest_repository()?.with_label("safe");
            return combine(vec![packaged(Builtin::RhoOverrefusal)?, safe], limit, seed);
        }
        BenchmarkKind::Gsm8k => packaged(Builtin::Gsm8k100)?,
        BenchmarkKind::Humaneval => packaged(Builtin::Humaneval)?,
        BenchmarkKind::Arithmetic => {
            return arithmetic_set(limit, seed, ArithmeticConfig::default().tiers)
        }
        BenchmarkKind::Mmlu => {
            let all = packaged(Builtin::Mmlu)?;
            let n = limit.unwrap_or(MMLU_DEFAULT_SIZE).min(all.len());
            return Ok(all.stratified_sample(Stratify::Proportional(n), seed)?);
        }
        BenchmarkKind::Perplexity => documents(&wikitext_repository()?, DOCUMENT_BYTES),
        BenchmarkKind::Kl | BenchmarkKind::Diversity => open_prompts(),
    };
    cut(ds, limit, seed)
}

/// Items of `kind` from `spec`, cut to `limit` as in [`default_dataset`]:
/// - for `arithmetic`, the generator's tiers: `tiers:add-1d,mul-2x1d`, `tiers:default` or
///   `tiers:measured` (every tier the default was chosen from);
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
    if let Some(tiers) = parse_tier_spec(spec) {
        if kind != BenchmarkKind::Arithmetic {
            return Err(Error::BadInput(format!(
                "{spec}: only arithmetic takes a tier list ({TIER_SPEC_PREFIX}...)"
            )));
        }
        return arithmetic_set(limit, seed, tiers?);
    }
    if let Ok(b) = spec.parse::<Builtin>() {
        let ds = b.load(root)?;
        return match kind {
            BenchmarkKind::Perplexity => Ok(first(one_document_passages(&ds), limit)),
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
            return prose_documents(wikitext_file(&user.path)?, limit, seed);
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
        BenchmarkKind::Perplexity => prose_documents(ds, limit, seed),
        _ => cut(ds, limit, seed),
    }
}

/// WikiText-style lines as one item per article ([`documents`]), `limit` of them drawn by
/// `seed`; a text without article headings is one document, cut into passages.
fn prose_documents(ds: Dataset, limit: Option<usize>, seed: u64) -> Result<Dataset> {
    if ds.items.iter().all(|it| it.category.is_none()) {
        return Ok(first(one_document_passages(&ds), limit));
    }
    cut(documents(&ds, DOCUMENT_BYTES), limit, seed)
}

/// Passages of a text without documents (a packaged Gutenberg book): noted as one document.
fn one_document_passages(ds: &Dataset) -> Dataset {
    let mut out = passages(ds, PASSAGE_BYTES);
    out.notes.push(
        "every passage is from one document: the passages are not independent, so the \
         comparison's resampling unit is a passage, not a document"
            .into(),
    );
    out
}

/// One item per document, in order — a new document starts where the items' `category` changes
/// or at a top-level WikiText heading (`= Title =`, so two articles with the same `<unk>` title
/// stay apart) — holding the start of its text: its lines (headings dropped) joined with
/// newlines, cut at the last space before `max_bytes`. `extra.document` names the document (the
/// category). Perplexity items are independent documents, so the comparison, which resamples
/// items, resamples documents.
pub fn documents(ds: &Dataset, max_bytes: usize) -> Dataset {
    let name = format!("{}-documents", ds.name);
    let mut docs: Vec<(String, String)> = Vec::new();
    let mut current: Option<&str> = None;
    for it in &ds.items {
        let doc = it.category.as_deref().unwrap_or_default();
        let heading = it.label.as_deref() == Some("heading");
        let top_heading = heading && !it.text.trim_start().starts_with("= =");
        if current != Some(doc) || top_heading {
            docs.push((doc.to_string(), String::new()));
            current = Some(doc);
        }
        if heading {
            continue;
        }
        let text = &mut docs.last_mut().expect("a document was started").1;
        if text.len() < max_bytes {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&it.text);
        }
    }
    docs.retain(|(_, text)| !text.trim().is_empty());
    let items = docs
        .iter()
        .enumerate()
        .map(|(i, (doc, text))| {
            Item::new(item_id(&name, i), cut_at_space(text, max_bytes))
                .with_extra("document", doc.clone())
        })
        .collect();
    let mut out = Dataset::new(name, ds.source.clone(), items);
    out.notes = ds.notes.clone();
    out.notes.push(format!(
        "one item per document ({} documents, headings dropped), each cut to its first \
         {max_bytes} bytes at a space",
        out.len()
    ));
    out
}

/// `text` cut at the last space at or before `max` bytes (whole when shorter).
fn cut_at_space(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let end = text[..end].rfind(char::is_whitespace).unwrap_or(end);
    text[..end].trim_end().to_string()
}

/// The files [`dataset_from_file`] reads, in words (for errors and `--help`).
pub const FILE_FORMATS: &str = "arithmetic takes its generator's difficulty tiers as \
    tiers:add-1d,mul-2x1d (OP-Nd or OP-NxMd, OP add, sub or mul), tiers:default or \
    tiers:measured; over_refusal reads XSTest's xstest_prompts.csv, gsm8k a GSM8K \
    JSONL file (question, answer ending in #### n), perplexity a text file (one paragraph per \
    line; with WikiText's ` = Title = ` headings one item per article, else passages of the \
    one text), each also as .parquet with the same columns; those three also read the Hugging \
    Face hub: hf:ORG/NAME[@REVISION][/PATH.parquet], or xstest-hub, gsm8k-hub, wikitext-2-hub \
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

/// The arithmetic generator's items in `tiers`: the probe first, then `limit − 1` problems
/// (default 300; "every item" of a generator is its default size).
fn arithmetic_set(limit: Option<usize>, seed: u64, tiers: Vec<Tier>) -> Result<Dataset> {
    let default_n = ArithmeticConfig::default().n;
    let cfg = ArithmeticConfig {
        n: match limit {
            None | Some(usize::MAX) => default_n,
            Some(l) => l - 1,
        },
        seed,
        tiers,
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
    fn perplexity_items_are_whole_independent_documents() {
        let ds = default_dataset(
            BenchmarkKind::Perplexity,
            Path::new("/nonexistent"),
            Some(12),
            0,
        )
        .unwrap();
        assert_eq!(ds.len(), 12);
        let texts: std::collections::BTreeSet<&str> =
            ds.items.iter().map(|i| i.text.as_str()).collect();
        assert_eq!(texts.len(), 12, "one item per article");
        for it in &ds.items {
            assert!(it.text.len() <= DOCUMENT_BYTES && it.text.len() > DOCUMENT_BYTES / 2);
            assert!(!it.text.contains(" = = "), "headings dropped: {}", it.text);
        }
        let all = default_dataset(
            BenchmarkKind::Perplexity,
            Path::new("/nonexistent"),
            Some(0),
            0,
        )
        .unwrap();
        // Every top-level article of the test split, those titled `<unk>` included.
        assert_eq!(all.len(), 62);
        // Another seed draws other documents.
        let other = default_dataset(
            BenchmarkKind::Perplexity,
            Path::new("/nonexistent"),
            Some(12),
            1,
        )
        .unwrap();
        assert_ne!(ds.ids(), other.ids());
    }

    #[test]
    fn documents_group_lines_by_article_and_cut_at_a_space() {
        let line = |id: &str, text: &str, doc: &str, heading: bool| {
            let mut it = Item::new(id, text);
            it.category = Some(doc.into());
            it.label = heading.then(|| "heading".into());
            it
        };
        let source = Source::Derived { from: vec![] };
        let ds = Dataset::new(
            "w",
            source,
            vec![
                line("0", "= A =", "A", true),
                line("1", "alpha beta gamma", "A", false),
                line("2", "= = Part = =", "A", true),
                line("3", "delta epsilon", "A", false),
                line("4", "= B =", "B", true),
                line("5", "one two", "B", false),
                line("6", "= B =", "B", true),
                line("7", "another article titled B", "B", false),
            ],
        );
        let docs = documents(&ds, 20);
        assert_eq!(
            docs.texts(),
            ["alpha beta gamma", "one two", "another article"]
        );
        assert_eq!(docs.items[0].extra["document"], "A");
        assert_eq!(
            documents(&ds, 100).items[0].text,
            "alpha beta gamma\ndelta epsilon"
        );
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
