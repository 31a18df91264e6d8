//! HumanEval through the code sandbox on the tiny random Llama: completions are generated, run
//! against the item's tests, and every record carries the sandbox's verdict; pass@k follows the
//! unbiased estimator.

use spillover_data::datasets::Item;
use spillover_errors::UserFixable;
use spillover_evals::benchmarks::{
    pass_at_k, run_benchmark, BenchOptions, BenchmarkKind, Subject, HUMANEVAL_STOP_STRINGS,
};
use spillover_evals::judge::KeywordJudge;
use spillover_model::{load, LoadOptions};
use spillover_sandbox::{Sandbox, SandboxConfig};

/// An item whose prompt defines `add` and opens a raw string, so whatever the model writes
/// lands inside it; the test closes the string and checks `add` (`verdict` decides pass/fail).
fn item(id: &str, verdict: &str) -> Item {
    Item::new(id, "def add(a, b):\n    return a + b\n\nNOTES = r'''")
        .with_extra(
            "test",
            format!("'''\n\ndef check(candidate):\n    assert {verdict}\n"),
        )
        .with_extra("entry_point", "add")
}

#[test]
fn completions_run_in_the_sandbox_and_failures_say_why() {
    let lm = load("tiny-llama", &LoadOptions::default()).unwrap();
    let subject = Subject::from_loaded(&lm, "base").unwrap();
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let items = [
        item("he-0000", "candidate(1, 2) == 3"),
        item("he-0001", "candidate(1, 2) == 4"),
    ];
    let opts = BenchOptions {
        max_new_tokens: 12,
        ..BenchOptions::for_kind(BenchmarkKind::Humaneval)
    };
    let judge = KeywordJudge::default();
    let out = run_benchmark(
        BenchmarkKind::Humaneval,
        &subject,
        &items,
        &opts,
        &judge,
        Some(&sandbox),
    )
    .unwrap();
    assert_eq!(out.records.len(), 2);
    assert_eq!(out.format.stop_strings, HUMANEVAL_STOP_STRINGS);
    let passed: Vec<f64> = out.records.iter().map(|r| r.scores["passed"]).collect();
    assert_eq!(passed, [1.0, 0.0], "{:#?}", out.records);
    for r in &out.records {
        assert_eq!(
            r.scores["pass_at_1"], r.scores["passed"],
            "greedy: one sample"
        );
        assert!(r.prompt.ends_with("r'''"), "plain prompt, no chat template");
        let output = r.output.as_deref().unwrap();
        assert!(HUMANEVAL_STOP_STRINGS.iter().all(|s| !output.contains(s)));
    }
    let reason = |i: usize| out.records[i].detail.as_ref().unwrap()["reason"].clone();
    assert_eq!(reason(0), "passed");
    assert_eq!(reason(1), "exited with status 1");
    assert_eq!(out.summary["passed"], 0.5);
    // Without a sandbox the benchmark refuses to run.
    let err = run_benchmark(
        BenchmarkKind::Humaneval,
        &subject,
        &items,
        &opts,
        &judge,
        None,
    )
    .unwrap_err();
    assert!(
        err.user_can_fix() && err.to_string().contains("sandbox"),
        "{err}"
    );
    // An item without tests is named.
    let bare = [Item::new("he-0002", "def f():\n")];
    let err = run_benchmark(
        BenchmarkKind::Humaneval,
        &subject,
        &bare,
        &opts,
        &judge,
        Some(&sandbox),
    )
    .unwrap_err();
    assert!(err.to_string().contains("he-0002"), "{err}");
}

/// C(n, k) as a float, by the multiplicative formula (0 when k > n).
fn choose(n: usize, k: usize) -> f64 {
    if k > n {
        return 0.0;
    }
    (0..k).map(|i| (n - i) as f64 / (k - i) as f64).product()
}

#[test]
fn pass_at_k_is_the_unbiased_estimator() {
    for n in 1..=12 {
        for c in 0..=n {
            for k in 1..=n {
                let want = 1.0 - choose(n - c, k) / choose(n, k);
                let got = pass_at_k(n, c, k);
                assert!(
                    (got - want).abs() < 1e-12,
                    "n={n} c={c} k={k}: {got} vs {want}"
                );
            }
            assert!((pass_at_k(n, c, 1) - c as f64 / n as f64).abs() < 1e-12);
        }
        assert_eq!(pass_at_k(n, 0, 1), 0.0);
        assert_eq!(pass_at_k(n, n, n), 1.0);
    }
    assert!(pass_at_k(3, 1, 4).is_nan(), "k > n has no estimate");
}
