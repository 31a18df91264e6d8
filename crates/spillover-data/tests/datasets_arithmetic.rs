//! The arithmetic generator: the fixed probe, correct gold answers (recomputed from the
//! prompt text), balanced cells, several phrasings, and seeded reproducibility.

mod datasets_support;

use spillover_errors::UserFixable;
use std::collections::{BTreeMap, BTreeSet, HashSet};

use datasets_support::assert_well_formed;
use spillover_data::datasets::{arithmetic, ArithOp, ArithmeticConfig, Item, PROBE_ID, PROBE_TEXT};

/// Recomputes the answer from the prompt alone: the two numbers and the operator word/symbol.
fn solve(text: &str) -> i64 {
    let nums: Vec<i64> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(nums.len(), 2, "{text}");
    let (a, b) = (nums[0], nums[1]);
    if text.contains(" + ") || text.contains(" plus ") || text.contains(" add ") {
        a + b
    } else if text.contains("subtract") {
        b - a // "subtract B from A"
    } else if text.contains(" - ") || text.contains(" minus ") {
        a - b
    } else if text.contains(" * ") || text.contains(" times ") || text.contains("multiply") {
        a * b
    } else {
        panic!("no operator in `{text}`")
    }
}

/// Digits of an operand as written in `extra`.
fn digits(item: &Item, key: &str) -> usize {
    item.extra[key].len()
}

#[test]
fn the_probe_comes_first_with_answer_27() {
    let ds = arithmetic(&ArithmeticConfig::default()).unwrap();
    let probe = &ds.items[0];
    assert_eq!(
        (probe.id.as_str(), probe.text.as_str()),
        (PROBE_ID, PROBE_TEXT)
    );
    assert_eq!(probe.text, "What is 15 + 12?");
    assert_eq!(probe.answer.as_deref(), Some("27"));
    assert_eq!(ds.items.iter().filter(|i| i.text == PROBE_TEXT).count(), 1);
    let without = arithmetic(&ArithmeticConfig {
        include_probe: false,
        ..Default::default()
    })
    .unwrap();
    assert!(without.get(PROBE_ID).is_none());
    assert_eq!(without.len() + 1, ds.len());
}

#[test]
fn gold_answers_match_the_prompts() {
    let ds = arithmetic(&ArithmeticConfig {
        n: 600,
        seed: 11,
        ..Default::default()
    })
    .unwrap();
    assert_well_formed(&ds);
    for item in &ds.items {
        let gold: i64 = item.answer.as_deref().unwrap().parse().unwrap();
        assert_eq!(gold, solve(&item.text), "{}: {}", item.id, item.text);
        assert!(gold >= 0, "{}: subtraction stays non-negative", item.text);
        assert_eq!(digits(item, "a"), digits(item, "b"), "{}", item.text);
    }
    let texts: HashSet<&str> = ds.items.iter().map(|i| i.text.as_str()).collect();
    assert_eq!(texts.len(), ds.len(), "no prompt twice");
}

#[test]
fn cells_are_balanced_and_phrasings_varied() {
    let ds = arithmetic(&ArithmeticConfig {
        n: 900,
        seed: 2,
        include_probe: false,
        ..Default::default()
    })
    .unwrap();
    let mut cells: BTreeMap<String, usize> = BTreeMap::new();
    for item in &ds.items {
        *cells.entry(item.category.clone().unwrap()).or_default() += 1;
    }
    assert_eq!(cells.len(), 9, "3 ops × 3 digit counts: {cells:?}");
    assert!(cells.values().all(|&c| c == 100), "{cells:?}");
    let phrasings: BTreeSet<&str> = ds
        .items
        .iter()
        .map(|i| i.extra["phrasing"].as_str())
        .collect();
    assert!(phrasings.len() >= 5, "{phrasings:?}");
    for d in 1..=3 {
        assert!(ds.items.iter().any(|i| digits(i, "a") == d));
    }
}

#[test]
fn same_seed_same_items_other_seed_other_items() {
    let cfg = ArithmeticConfig {
        n: 50,
        seed: 4,
        ..Default::default()
    };
    let a = arithmetic(&cfg).unwrap();
    assert_eq!(a, arithmetic(&cfg).unwrap());
    let b = arithmetic(&ArithmeticConfig {
        seed: 5,
        ..cfg.clone()
    })
    .unwrap();
    assert_eq!(a.ids(), b.ids(), "ids are positional");
    assert_ne!(a.texts(), b.texts());
}

#[test]
fn restricted_configs_and_impossible_ones() {
    let only = ArithmeticConfig {
        n: 30,
        ops: vec![ArithOp::Mul],
        digits: vec![1],
        ..Default::default()
    };
    let ds = arithmetic(&only).unwrap();
    assert!(ds.items[1..]
        .iter()
        .all(|i| i.category.as_deref() == Some("mul-1d")));
    let too_many = ArithmeticConfig { n: 1000, ..only };
    assert!(arithmetic(&too_many).unwrap_err().user_can_fix());
    let bad = ArithmeticConfig {
        digits: vec![4],
        ..Default::default()
    };
    assert!(arithmetic(&bad).unwrap_err().user_can_fix());
}
