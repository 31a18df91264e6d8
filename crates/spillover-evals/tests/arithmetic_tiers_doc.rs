//! The arithmetic tier table of docs/benchmarks.md is generated from the committed measurements
//! (`docs/measurements/arithmetic-tiers-*.json`, the `scores.json` of the `spillover eval` runs
//! the page names); this test fails when the page and the files disagree, and rewrites the table
//! with `SPILLOVER_BLESS=1`.

use std::path::{Path, PathBuf};

use serde_json::Value;
use spillover_data::datasets::{Tier, DEFAULT_TIERS, MEASURED_TIERS};
use spillover_evals::stats::wilson;

const BEGIN: &str = "<!-- BEGIN arithmetic tiers (generated) -->";
const END: &str = "<!-- END arithmetic tiers -->";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The arithmetic summary of a committed `scores.json`.
fn summary(file: &str) -> Value {
    let path = repo().join("docs/measurements").join(file);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    v["benchmarks"]["arithmetic"]["summary"].clone()
}

/// "acc% [lo, hi] (n=N)" of `key` (a rate) over `n_key` items, or "—" when absent.
fn cell(s: &Value, key: &str, n_key: &str) -> String {
    let (Some(acc), Some(n)) = (s[key].as_f64(), s[n_key].as_f64()) else {
        return "—".into();
    };
    let k = (acc * n).round() as u64;
    let i = wilson(k, n as u64, 0.95).unwrap();
    format!(
        "{:.1}% [{:.1}, {:.1}] (n={})",
        100.0 * acc,
        100.0 * i.lo,
        100.0 * i.hi,
        n as u64
    )
}

fn table() -> String {
    let measured = summary("arithmetic-tiers-measured-seed0.json");
    let default = summary("arithmetic-tiers-default-seed1.json");
    let mut names: Vec<String> = MEASURED_TIERS.iter().map(Tier::name).collect();
    names.sort();
    let mut out = String::from(
        "| tier | in the default | seed 0, every measured tier | seed 1, the default tiers |\n\
         |---|---|---:|---:|\n",
    );
    for t in &names {
        let chosen = DEFAULT_TIERS.iter().any(|d| &d.name() == t);
        out.push_str(&format!(
            "| {t} | {} | {} | {} |\n",
            if chosen { "yes" } else { "no" },
            cell(&measured, &format!("correct:{t}"), &format!("n:{t}")),
            cell(&default, &format!("correct:{t}"), &format!("n:{t}")),
        ));
    }
    out.push_str(&format!(
        "| all items | | {} | {} |\n",
        cell(&measured, "correct", "n"),
        cell(&default, "correct", "n")
    ));
    out
}

#[test]
fn the_tier_table_is_the_committed_measurement() {
    let path = repo().join("docs/benchmarks.md");
    let page = std::fs::read_to_string(&path).unwrap();
    let (head, rest) = page.split_once(BEGIN).expect("begin marker");
    let (_, tail) = rest.split_once(END).expect("end marker");
    let want = format!("{head}{BEGIN}\n{}{END}{tail}", table());
    if std::env::var_os("SPILLOVER_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    assert!(
        page == want,
        "docs/benchmarks.md's tier table differs from docs/measurements (rewrite it with \
         SPILLOVER_BLESS=1 cargo test -p spillover-evals --test arithmetic_tiers_doc):\n{}",
        table()
    );
    // The seed-1 file measured the default tiers, and they are near half right.
    let default = summary("arithmetic-tiers-default-seed1.json");
    for t in DEFAULT_TIERS {
        assert!(default[format!("n:{}", t.name())].as_f64().is_some(), "{t}");
    }
    let acc = default["correct"].as_f64().unwrap();
    assert!((0.35..=0.65).contains(&acc), "{acc}");
}
