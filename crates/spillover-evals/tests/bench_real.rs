//! Every benchmark on the packaged SmolLM2-135M-Instruct with a few items (run by
//! scripts/test.sh, which sets SPILLOVER_SMOLLM2_GGUF and fetches the datasets). Assertions are
//! properties of a working pipeline on a small instruct model, not numbers copied from a run.

mod common;

use spillover_data::datasets::{Dataset, PROBE_ID};
use spillover_evals::benchmarks::extract::{arithmetic_answer, gsm8k_answer};
use spillover_evals::benchmarks::{
    default_dataset, run_benchmark, run_kl, BenchOptions, BenchOutput, BenchmarkKind, Subject,
};
use spillover_evals::judge::KeywordJudge;
use spillover_model::{fixtures::real_model, load_path, LoadOptions, LoadedModel};
use spillover_sandbox::{Sandbox, SandboxConfig};

fn smollm2() -> Option<LoadedModel> {
    let path = real_model("SPILLOVER_SMOLLM2_GGUF")?;
    let mut lm = load_path(&path, &LoadOptions::default()).unwrap();
    lm.model.use_inference_layout().unwrap();
    Some(lm)
}

/// The default dataset of `kind` cut to `limit`, when its packaged asset is cached.
fn data(kind: BenchmarkKind, asset: Option<&str>, limit: usize) -> Option<Dataset> {
    if let Some(id) = asset {
        common::cached(id)?;
    }
    Some(default_dataset(kind, &spillover_data::cache_root(), Some(limit), 0).unwrap())
}

/// Runs `kind` with its default options and `max_new_tokens` (when given); checks the
/// record count and that binary scores are 0/1 and rates are rates.
fn run(kind: BenchmarkKind, lm: &LoadedModel, ds: &Dataset, max_new: Option<usize>) -> BenchOutput {
    let mut opts = BenchOptions::for_kind(kind);
    opts.max_new_tokens = max_new.unwrap_or(opts.max_new_tokens);
    let subject = Subject::from_loaded(lm, "base").unwrap();
    let sandbox =
        (kind == BenchmarkKind::Humaneval).then(|| Sandbox::new(SandboxConfig::default()).unwrap());
    let judge = KeywordJudge::default();
    let start = std::time::Instant::now();
    let out = run_benchmark(kind, &subject, &ds.items, &opts, &judge, sandbox.as_ref()).unwrap();
    println!(
        "{kind}: {:?} in {:.1} s",
        out.summary,
        start.elapsed().as_secs_f64()
    );
    assert_eq!(out.records.len(), ds.len());
    for m in &out.metrics {
        for r in &out.records {
            let v = r.scores[&m.key];
            assert!(
                v.is_finite() && (!m.binary || v == 0.0 || v == 1.0),
                "{}: {v}",
                r.id
            );
        }
        if m.binary {
            assert!((0.0..=1.0).contains(&out.summary[&m.key]));
        }
    }
    out
}

#[test]
#[ignore = "real model: scripts/test.sh"]
fn real_arithmetic_reads_answers_and_beats_uniform_on_the_gold() {
    let (Some(lm), Some(ds)) = (smollm2(), data(BenchmarkKind::Arithmetic, None, 8)) else {
        return;
    };
    let out = run(BenchmarkKind::Arithmetic, &lm, &ds, None);
    assert_eq!(out.records[0].id, PROBE_ID);
    assert_eq!(out.records[0].gold.as_deref(), Some("27"));
    let uniform = -(lm.config().vocab_size as f64).ln();
    for r in &out.records {
        let output = r.output.as_deref().unwrap();
        println!("{}: {output:?} -> {:?}", r.id, r.extracted);
        assert_eq!(r.extracted, arithmetic_answer(output));
        // A trained model puts more mass on the digits of the answer than a uniform guess.
        let tokens = r.detail.as_ref().unwrap()["gold_tokens"].as_f64().unwrap();
        assert!(r.scores["gold_logprob"] > tokens * uniform, "{}", r.id);
    }
}

#[test]
#[ignore = "real model: scripts/test.sh"]
fn real_refusal_and_over_refusal_label_every_response() {
    let Some(lm) = smollm2() else { return };
    for (kind, asset) in [
        (BenchmarkKind::Refusal, "harmbench"),
        (BenchmarkKind::OverRefusal, "rho-overrefusal"),
    ] {
        let Some(ds) = data(kind, Some(asset), 4) else {
            return;
        };
        let out = run(kind, &lm, &ds, Some(32));
        for r in &out.records {
            let label = r.label.as_deref().unwrap();
            assert!(["refusal", "compliance", "degenerate"].contains(&label));
            assert_eq!(r.scores["refused"] == 1.0, label == "refusal");
            assert!(
                r.prompt.starts_with("<|im_start|>"),
                "chat template: {}",
                r.prompt
            );
        }
    }
}

#[test]
#[ignore = "real model: scripts/test.sh"]
fn real_gsm8k_extracts_final_numbers() {
    let (Some(lm), Some(ds)) = (smollm2(), data(BenchmarkKind::Gsm8k, Some("gsm8k-100"), 2)) else {
        return;
    };
    let out = run(BenchmarkKind::Gsm8k, &lm, &ds, Some(96));
    for r in &out.records {
        let found = gsm8k_answer(r.output.as_deref().unwrap()).map(|(n, _)| n);
        assert_eq!(r.extracted, found);
        assert_eq!(
            r.scores["correct"] == 1.0,
            found.is_some() && found == r.gold
        );
    }
}

#[test]
#[ignore = "real model: scripts/test.sh"]
fn real_humaneval_counts_passes_and_explains_failures() {
    let (Some(lm), Some(ds)) = (
        smollm2(),
        data(BenchmarkKind::Humaneval, Some("humaneval"), 3),
    ) else {
        return;
    };
    let out = run(BenchmarkKind::Humaneval, &lm, &ds, Some(128));
    let passed = out
        .records
        .iter()
        .filter(|r| r.scores["passed"] == 1.0)
        .count();
    assert!(passed <= ds.len());
    for r in &out.records {
        let reason = r.detail.as_ref().unwrap()["reason"].as_str().unwrap();
        println!("{}: {reason}", r.id);
        assert_eq!(reason == "passed", r.scores["passed"] == 1.0, "{}", r.id);
        assert!(!reason.is_empty());
    }
}

#[test]
#[ignore = "real model: scripts/test.sh"]
fn real_mmlu_perplexity_kl_and_diversity() {
    let Some(lm) = smollm2() else { return };
    if let Some(ds) = data(BenchmarkKind::Mmlu, Some("mmlu"), 6) {
        let out = run(BenchmarkKind::Mmlu, &lm, &ds, None);
        for r in &out.records {
            assert_eq!(r.scores["correct"] == 1.0, r.extracted == r.gold);
            assert!(r.scores["gold_logprob"] < 0.0);
        }
    }
    if let Some(ds) = data(BenchmarkKind::Perplexity, None, 1) {
        let out = run(BenchmarkKind::Perplexity, &lm, &ds, None);
        // A WikiText article under a trained model: far below the uniform perplexity (the vocabulary
        // size, 49,152) and below the ~2.5 bits per byte of a general-purpose compressor.
        assert!(out.summary["perplexity"] < 1000.0, "{:?}", out.summary);
        assert!(
            out.summary["corpus_bits_per_byte"] < 2.5,
            "{:?}",
            out.summary
        );
    }
    let ds = data(BenchmarkKind::Kl, None, 2).unwrap();
    let base = Subject::from_loaded(&lm, "base").unwrap();
    let same = Subject::from_loaded(&lm, "same").unwrap();
    let opts = BenchOptions::for_kind(BenchmarkKind::Kl);
    let out = run_kl(&base, &same, &ds.items, &opts).unwrap();
    assert!(
        out.records.iter().all(|r| r.scores["kl"] == 0.0),
        "KL(p ‖ p) = 0"
    );
    let ds = data(BenchmarkKind::Diversity, None, 3).unwrap();
    let out = run(BenchmarkKind::Diversity, &lm, &ds, Some(48));
    for r in &out.records {
        assert!((0.0..=1.0).contains(&r.scores["distinct_2"]));
        assert!((0.0..=1.0).contains(&r.scores["repetition"]));
        assert!((1.0..=48.0).contains(&r.scores["length"]));
    }
}
