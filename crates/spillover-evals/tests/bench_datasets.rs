//! The datasets `spillover eval` uses when the caller chooses none: sizes under a limit, the
//! arithmetic probe kept first, MMLU stratified by subject, refusal sets drawn evenly from two
//! sources, prose joined into passages (one document) or documents, local
//! files in each benchmark's own format, and errors naming what was expected.

mod common;

use spillover_errors::UserFixable;
use std::collections::HashSet;
use std::path::Path;

use spillover_data::datasets::PROBE_ID;
use spillover_evals::benchmarks::datasets::{passages, PASSAGE_BYTES};
use spillover_evals::benchmarks::{
    dataset_from_file, default_dataset, item_source, open_prompts, BenchmarkKind,
};

fn root() -> std::path::PathBuf {
    spillover_data::cache_root()
}

#[test]
fn open_prompts_are_unique_and_numbered_in_order() {
    let ds = open_prompts();
    assert_eq!(ds.len(), 48);
    let texts: HashSet<&str> = ds.items.iter().map(|i| i.text.as_str()).collect();
    assert_eq!(texts.len(), ds.len(), "no prompt twice");
    assert_eq!(ds.items[0].id, "open-prompts-0000");
    assert_eq!(ds.items[47].id, "open-prompts-0047");
    assert!(ds
        .items
        .iter()
        .all(|i| !i.text.starts_with('#') && !i.text.trim().is_empty()));
    for kind in [BenchmarkKind::Kl, BenchmarkKind::Diversity] {
        let cut = default_dataset(kind, &root(), Some(5), 3).unwrap();
        assert_eq!(cut.len(), 5);
        assert!(cut.items.iter().all(|i| ds.get(&i.id) == Some(i)));
    }
}

#[test]
fn arithmetic_keeps_the_probe_first_and_honours_the_limit() {
    let ds = default_dataset(BenchmarkKind::Arithmetic, &root(), Some(6), 1).unwrap();
    assert_eq!(ds.len(), 6);
    assert_eq!(ds.items[0].id, PROBE_ID);
    assert_eq!(ds.items[0].answer.as_deref(), Some("27"));
    let full = default_dataset(BenchmarkKind::Arithmetic, &root(), None, 1).unwrap();
    assert_eq!(full.len(), 301, "the probe and 300 problems");
    // limit 0 means every item (issue #22, case 3): a generator's every item is its default.
    let every = default_dataset(BenchmarkKind::Arithmetic, &root(), Some(0), 1).unwrap();
    assert_eq!(every.len(), 301);
}

#[test]
fn passages_reach_the_minimum_size() {
    let Some(_) = common::cached("gutenberg-2889") else {
        return;
    };
    let gutenberg = |limit| {
        dataset_from_file(
            BenchmarkKind::Perplexity,
            "gutenberg-2889",
            &root(),
            limit,
            0,
        )
        .unwrap()
    };
    let ds = gutenberg(None);
    assert!(ds.len() > 3);
    assert!(
        ds.notes.iter().any(|n| n.contains("not independent")),
        "{:?}",
        ds.notes
    );
    let (last, rest) = ds.items.split_last().unwrap();
    assert!(rest.iter().all(|i| i.text.len() >= PASSAGE_BYTES));
    assert!(!last.text.is_empty());
    // Passages are the paragraphs, joined in order, with nothing lost.
    let raw = spillover_data::datasets::Builtin::Gutenberg2889
        .load(&root())
        .unwrap();
    let joined: Vec<&str> = ds.items.iter().map(|i| i.text.as_str()).collect();
    assert_eq!(joined.join("\n\n"), raw.texts().join("\n\n"));
    let cut = gutenberg(Some(2));
    assert_eq!(cut.ids(), ds.ids()[..2]);
    assert_eq!(passages(&raw, usize::MAX).len(), 1);
}

#[test]
fn mmlu_is_stratified_by_subject_and_packaged_sets_are_cut_by_seed() {
    let (Some(_), Some(_)) = (common::cached("mmlu"), common::cached("harmbench")) else {
        return;
    };
    let ds = default_dataset(BenchmarkKind::Mmlu, &root(), Some(114), 0).unwrap();
    assert_eq!(ds.len(), 114);
    let subjects: HashSet<_> = ds.items.iter().map(|i| i.category.clone()).collect();
    assert!(
        subjects.len() > 40,
        "114 items spread over most of the 57 subjects"
    );
    let a = default_dataset(BenchmarkKind::Refusal, &root(), Some(8), 0).unwrap();
    let b = default_dataset(BenchmarkKind::Refusal, &root(), Some(8), 0).unwrap();
    let c = default_dataset(BenchmarkKind::Refusal, &root(), Some(8), 1).unwrap();
    assert_eq!(a.name, "harmbench+xstest-unsafe");
    assert_eq!((a.len(), a.ids()), (8, b.ids()));
    assert_ne!(a.ids(), c.ids());
    assert_eq!(
        default_dataset(BenchmarkKind::Refusal, &root(), None, 0)
            .unwrap()
            .len(),
        200 + 200
    );
}

#[test]
fn refusal_and_over_refusal_draw_evenly_on_two_sources() {
    let (Some(_), Some(_)) = (
        common::cached("harmbench"),
        common::cached("rho-overrefusal"),
    ) else {
        return;
    };
    let ds = default_dataset(BenchmarkKind::Refusal, &root(), Some(10), 0).unwrap();
    let count = |ds: &spillover_data::datasets::Dataset, src: &str| {
        ds.items
            .iter()
            .filter(|i| item_source(i) == Some(src))
            .count()
    };
    assert_eq!(count(&ds, "harmbench"), 5);
    assert_eq!(count(&ds, "xstest-unsafe"), 5);
    // The XSTest half is its unsafe prompts (questions), with their own ids.
    for it in ds
        .items
        .iter()
        .filter(|i| item_source(i) == Some("xstest-unsafe"))
    {
        assert_eq!(it.label.as_deref(), Some("unsafe"));
        assert!(it.id.starts_with("xstest-"));
    }
    let over = default_dataset(BenchmarkKind::OverRefusal, &root(), Some(0), 0).unwrap();
    assert_eq!(count(&over, "rho-overrefusal"), 150);
    assert_eq!(count(&over, "xstest-safe"), 250);
    let quick = default_dataset(BenchmarkKind::OverRefusal, &root(), Some(32), 0).unwrap();
    assert_eq!(
        (
            count(&quick, "rho-overrefusal"),
            count(&quick, "xstest-safe")
        ),
        (16, 16)
    );
}

#[test]
fn local_files_in_each_benchmarks_format() {
    let Some(xstest) = common::data_file("xstest/xstest_prompts.csv") else {
        return;
    };
    let spec = xstest.to_str().unwrap();
    let ds = dataset_from_file(BenchmarkKind::OverRefusal, spec, &root(), None, 0).unwrap();
    assert_eq!(ds.len(), 250, "XSTest's safe prompts");
    assert!(ds.items.iter().all(|i| i.label.as_deref() == Some("safe")));
    let Some(gsm) = common::data_file("gsm8k/test.jsonl") else {
        return;
    };
    let ds = dataset_from_file(
        BenchmarkKind::Gsm8k,
        gsm.to_str().unwrap(),
        &root(),
        Some(5),
        0,
    )
    .unwrap();
    assert_eq!(ds.len(), 5);
    assert!(ds
        .items
        .iter()
        .all(|i| i.answer.is_some() && i.target.is_some()));
    // A prompt file for a benchmark that needs gold answers is refused, naming the formats.
    let err = dataset_from_file(BenchmarkKind::Mmlu, spec, &root(), None, 0).unwrap_err();
    assert!(err.user_can_fix(), "{err}");
    assert!(err.to_string().contains("mmlu cannot read"), "{err}");
    let missing = Path::new("/nonexistent/prompts.txt").to_str().unwrap();
    let err = dataset_from_file(BenchmarkKind::Refusal, missing, &root(), None, 0).unwrap_err();
    assert!(
        err.user_can_fix() && err.to_string().contains("/nonexistent"),
        "{err}"
    );
}
