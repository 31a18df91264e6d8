//! The arithmetic generator: the fixed probe, correct gold answers (recomputed from the
//! prompt text), balanced tiers with operands inside their digit bounds, several phrasings, and
//! seeded reproducibility.

mod datasets_support;

use spillover_errors::UserFixable;
use std::collections::{BTreeMap, BTreeSet, HashSet};

use datasets_support::assert_well_formed;
use spillover_data::datasets::{
    arithmetic, ArithOp, ArithmeticConfig, Item, Tier, MEASURED_TIERS, PROBE_ID, PROBE_TEXT,
};

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
    }
    let texts: HashSet<&str> = ds.items.iter().map(|i| i.text.as_str()).collect();
    assert_eq!(texts.len(), ds.len(), "no prompt twice");
}

#[test]
fn tiers_are_balanced_within_their_digit_bounds_and_phrasings_varied() {
    let ds = arithmetic(&ArithmeticConfig {
        n: 1000,
        seed: 2,
        include_probe: false,
        tiers: MEASURED_TIERS.to_vec(),
    })
    .unwrap();
    let mut per_tier: BTreeMap<String, usize> = BTreeMap::new();
    for (i, item) in ds.items.iter().enumerate() {
        let tier = MEASURED_TIERS[i % MEASURED_TIERS.len()];
        assert_eq!(item.category.as_deref(), Some(tier.name().as_str()));
        *per_tier.entry(tier.name()).or_default() += 1;
        // Operands have exactly the tier's digit counts (1-digit operands are 1..=9).
        assert_eq!(digits(item, "a"), tier.digits_a as usize, "{}", item.text);
        assert_eq!(digits(item, "b"), tier.digits_b as usize, "{}", item.text);
        for key in ["a", "b"] {
            let v: u64 = item.extra[key].parse().unwrap();
            assert!(v >= 1, "{}: operand {v}", item.text);
        }
        let sym = match tier.op {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
        };
        assert_eq!(item.extra["op"], sym);
    }
    assert_eq!(per_tier.len(), MEASURED_TIERS.len(), "{per_tier:?}");
    assert!(per_tier.values().all(|&c| c == 100), "{per_tier:?}");
    assert_eq!(Tier::new(ArithOp::Mul, 2, 1).name(), "mul-2x1d");
    assert_eq!(Tier::new(ArithOp::Add, 3, 3).name(), "add-3d");
    let phrasings: BTreeSet<&str> = ds
        .items
        .iter()
        .map(|i| i.extra["phrasing"].as_str())
        .collect();
    assert!(phrasings.len() >= 5, "{phrasings:?}");
}

#[test]
fn the_default_tiers_are_the_items_categories() {
    let cfg = ArithmeticConfig::default();
    let ds = arithmetic(&cfg).unwrap();
    let want: BTreeSet<String> = cfg.tiers.iter().map(Tier::name).collect();
    let got: BTreeSet<String> = ds.items[1..]
        .iter()
        .map(|i| i.category.clone().unwrap())
        .collect();
    assert_eq!(got, want);
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
        tiers: vec![Tier::new(ArithOp::Mul, 1, 1)],
        ..Default::default()
    };
    let ds = arithmetic(&only).unwrap();
    assert!(ds.items[1..]
        .iter()
        .all(|i| i.category.as_deref() == Some("mul-1d")));
    let too_many = ArithmeticConfig { n: 1000, ..only };
    assert!(arithmetic(&too_many).unwrap_err().user_can_fix());
    for tiers in [
        vec![Tier::new(ArithOp::Add, 4, 4)],
        vec![Tier::new(ArithOp::Sub, 1, 2)],
        vec![],
    ] {
        let bad = ArithmeticConfig {
            tiers,
            ..Default::default()
        };
        assert!(arithmetic(&bad).unwrap_err().user_can_fix());
    }
}
