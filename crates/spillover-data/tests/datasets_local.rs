//! Loaders for the local files in data/: XSTest prompts, full GSM8K and WikiText-2.

mod datasets_support;

use datasets_support::{assert_well_formed, shared_data};
use spillover_data::datasets::{gsm8k_file, wikitext_file, xstest, Source};
use spillover_data::sha256_file;

#[test]
fn xstest_has_250_safe_and_200_unsafe_prompts() {
    let Some(path) = shared_data("xstest/xstest_prompts.csv") else {
        return;
    };
    let ds = xstest(&path).unwrap();
    assert_well_formed(&ds);
    assert_eq!(ds.with_label("safe").len(), 250);
    assert_eq!(ds.with_label("unsafe").len(), 200);
    assert_eq!(ds.len(), 450);
    assert!(ds.items.iter().all(|i| i.category.is_some()));
    let Source::Local { sha256, .. } = &ds.source else {
        panic!("{:?}", ds.source)
    };
    assert_eq!(*sha256, sha256_file(&path).unwrap().0);
}

#[test]
fn gsm8k_test_file_has_1319_questions_with_numeric_answers() {
    let Some(path) = shared_data("gsm8k/test.jsonl") else {
        return;
    };
    let ds = gsm8k_file(&path).unwrap();
    assert_eq!(ds.name, "gsm8k-test");
    assert_eq!(ds.len(), 1319);
    assert_well_formed(&ds);
    for item in &ds.items {
        let answer = item.answer.as_deref().unwrap();
        assert!(answer.parse::<f64>().is_ok(), "{}: `{answer}`", item.id);
        let solution = item.target.as_deref().unwrap();
        let written = solution
            .rsplit("####")
            .next()
            .unwrap()
            .trim()
            .replace(',', "");
        assert_eq!(written, answer, "{}", item.id);
    }
}

#[test]
fn wikitext_test_file_keeps_headings_and_unk_tokens() {
    let Some(path) = shared_data("wikitext-2/test.txt") else {
        return;
    };
    let ds = wikitext_file(&path).unwrap();
    assert_eq!(ds.name, "wikitext-2-test");
    assert_well_formed(&ds);
    let raw = std::fs::read_to_string(&path).unwrap();
    let non_blank = raw.lines().filter(|l| !l.trim().is_empty()).count();
    assert_eq!(ds.len(), non_blank, "one item per non-blank line");
    assert!(ds.items.iter().any(|i| i.text.contains("<unk>")));
    let headings = ds
        .items
        .iter()
        .filter(|i| i.label.as_deref() == Some("heading"));
    assert!(headings.count() > 0);
    let first = &ds.items[0];
    assert_eq!(
        first.category.as_deref(),
        Some(first.text.trim_matches(|c| c == '=' || c == ' '))
    );
}
