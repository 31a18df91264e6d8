//! `spillover bench engine`: the engine's speed on three workloads against HF transformers and
//! lm-evaluation-harness, measured in one run on one machine, each workload timed on both sides in
//! turns so that background load falls on both.
//!
//! 1. greedy generation: chat prompts × new tokens, the same batch size on both sides;
//! 2. four-choice log-likelihood on MMLU questions (`mmlu_continuation` format): Spillover with
//!    shared-context reuse, HF with a plain forward per (context, continuation), lm-evaluation-
//!    harness's HFLM wrapping the same HF model; accuracies must agree;
//! 3. prefill of rows × tokens, reported as effective GFLOP/s as well.
//!
//! Tokens/s always counts the workload's tokens the same way on every side (new tokens for
//! generation, context + continuation tokens of every request for log-likelihood, prompt tokens for
//! prefill), whatever work a side skips.

mod reference;
mod report;
pub mod workload;

pub use reference::{Reference, SCRIPT};
pub use report::{BenchReport, WorkloadResult};

use crate::batching::Batching;
use crate::generate::{GenerateOptions, Generator};
use crate::loglik::{loglikelihood, LoglikOptions};
use anyhow::Result;
use serde_json::{json, Value};
use spillover_model::{load_path, LoadOptions, LoadedModel, Model, Step};
use std::path::PathBuf;
use std::time::Instant;
use workload::{chat_prompts, mc_workload, prefill_rows, read_mmlu, spread};

/// What to run; `Default` is the workload.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    pub gguf: PathBuf,
    pub mmlu: PathBuf,
    /// Interpreter for the reference; None runs Spillover alone.
    pub python: Option<String>,
    /// Reference script (None: the copy built into the binary).
    pub script: Option<PathBuf>,
    pub gen_prompts: usize,
    pub gen_tokens: usize,
    pub gen_batch: usize,
    pub mc_questions: usize,
    /// Batch size of the HF and lm-evaluation-harness scoring.
    pub ref_batch: usize,
    pub prefill_rows: usize,
    pub prefill_len: usize,
    /// Timed runs per side and workload (the median is reported).
    pub repeats: usize,
    pub progress: bool,
    /// Run only these workloads ("generation", "loglikelihood", "prefill"); empty: all.
    pub only: Vec<String>,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            gguf: PathBuf::new(),
            mmlu: PathBuf::new(),
            python: Some("python3".into()),
            script: None,
            gen_prompts: 64,
            gen_tokens: 64,
            gen_batch: 64,
            mc_questions: 200,
            ref_batch: 8,
            prefill_rows: 8,
            prefill_len: 512,
            repeats: 1,
            progress: false,
            only: vec![],
        }
    }
}

impl BenchConfig {
    fn wants(&self, workload: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|w| w == workload)
    }
}

/// Runs the benchmark; `say` receives progress lines (for stderr).
pub fn run(cfg: &BenchConfig, say: &mut dyn FnMut(&str)) -> Result<BenchReport> {
    let load = Instant::now();
    let mut lm = load_path(&cfg.gguf, &LoadOptions::default())?;
    lm.model.use_inference_layout()?;
    say(&format!(
        "loaded {} in {:.1}s",
        cfg.gguf.display(),
        load.elapsed().as_secs_f64()
    ));
    let rows = read_mmlu(&cfg.mmlu)?;
    let mut reference = start_reference(cfg, say);
    let mut report = BenchReport::new(&lm, reference.as_ref().map(|r| r.info.clone()));
    warm_up(&lm.model, reference.as_mut())?;
    if cfg.wants("generation") {
        say("generation…");
        report::reset_peak_rss();
        let mut w = bench_generate(cfg, &lm, &rows, reference.as_mut())?;
        w.peak_rss_mb = report::peak_rss_mb();
        report.workloads.push(w);
        say(&report.last_line());
    }
    if cfg.wants("loglikelihood") {
        say("log-likelihood…");
        report::reset_peak_rss();
        let mut w = bench_loglik(cfg, &lm, &rows, reference.as_mut())?;
        w.peak_rss_mb = report::peak_rss_mb();
        report.workloads.push(w);
        say(&report.last_line());
    }
    if cfg.wants("prefill") {
        say("prefill…");
        report::reset_peak_rss();
        let mut w = bench_prefill(cfg, &lm, &rows, reference.as_mut())?;
        w.peak_rss_mb = report::peak_rss_mb();
        report.workloads.push(w);
        say(&report.last_line());
    }
    report.finish();
    Ok(report)
}

fn start_reference(cfg: &BenchConfig, say: &mut dyn FnMut(&str)) -> Option<Reference> {
    let python = cfg.python.as_deref()?;
    say(&format!("starting the HF reference with {python}…"));
    let threads = crate::threads::matmul_threads();
    match Reference::start(python, cfg.script.as_deref(), &cfg.gguf, threads) {
        Ok(r) => Some(r),
        Err(e) => {
            say(&format!(
                "HF reference unavailable ({e:#}).\nReporting Spillover's numbers only. To compare, make a venv with \
                 `python3 -m venv /tmp/spillover-bench && /tmp/spillover-bench/bin/pip install torch transformers gguf \
                 accelerate lm-eval` and pass --python /tmp/spillover-bench/bin/python."
            ));
            None
        }
    }
}

/// One small forward on each side, so thread pools and weight pages are warm before timing.
fn warm_up(model: &Model, reference: Option<&mut Reference>) -> Result<()> {
    let ids = vec![(1..33).collect::<Vec<u32>>()];
    let step = Step::left_padded(&ids, 0, model.device())?;
    model.forward_last(&step, Some(&mut model.new_cache()), None)?;
    if let Some(r) = reference {
        r.call(json!({"task": "prefill", "ids": ids}))?;
    }
    Ok(())
}

/// Median of the timings (the middle one, or the lower middle).
fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[(xs.len() - 1) / 2]
}

/// Times `f` `n` times; returns the median seconds and the last result.
fn timed<T>(n: usize, mut f: impl FnMut() -> Result<T>) -> Result<(f64, T)> {
    let mut secs = Vec::new();
    let mut last = None;
    for _ in 0..n.max(1) {
        let t = Instant::now();
        last = Some(f()?);
        secs.push(t.elapsed().as_secs_f64());
    }
    Ok((median(secs), last.expect("ran at least once")))
}

fn bench_generate(
    cfg: &BenchConfig,
    lm: &LoadedModel,
    rows: &[workload::MmluRow],
    mut reference: Option<&mut Reference>,
) -> Result<WorkloadResult> {
    let prompts = chat_prompts(
        lm,
        &spread(
            rows,
            cfg.gen_prompts,
            rows.len() / (2 * cfg.gen_prompts).max(1),
        ),
    )?;
    let opts = GenerateOptions {
        max_new_tokens: cfg.gen_tokens,
        stop_ids: lm.stop_ids(),
        pad_id: lm.pad_id(),
    };
    let batching = Batching {
        token_budget: usize::MAX,
        max_batch: Some(cfg.gen_batch),
        progress: cfg.progress,
    };
    let mut ours = Vec::new();
    let mut hf = Vec::new();
    let mut out = Vec::new();
    let mut hf_ids: Option<Vec<Vec<u32>>> = None;
    for _ in 0..cfg.repeats.max(1) {
        let (s, g) = timed(1, || {
            Ok(Generator::new(&lm.model, &opts)
                .batching(batching.clone())
                .run(&prompts, None)?)
        })?;
        ours.push(s);
        out = g;
        if let Some(r) = reference.as_deref_mut() {
            let cmd = reference::generate_cmd(
                &prompts,
                cfg.gen_tokens,
                cfg.gen_batch,
                opts.pad_id,
                &opts.stop_ids,
            );
            let v = r.call(cmd)?;
            hf.push(Reference::seconds(&v)?);
            hf_ids = serde_json::from_value(v["new_ids"].clone()).ok();
        }
    }
    let tokens: usize = out.iter().map(|g| g.new_ids.len()).sum();
    let mut w = WorkloadResult::new(
        "generation",
        &format!(
            "{} chat prompts × {} new tokens, greedy, batch {}",
            prompts.len(),
            cfg.gen_tokens,
            cfg.gen_batch
        ),
        tokens,
        median(ours),
    );
    w.target = "≥ 5× HF transformers".into();
    if let Some(ids) = hf_ids {
        let hf_tokens: usize = ids.iter().map(Vec::len).sum();
        w.set_hf(median(hf), hf_tokens);
        let same = out
            .iter()
            .zip(&ids)
            .filter(|(g, h)| &g.new_ids == *h)
            .count();
        w.details = json!({"identical_rows": same, "rows": ids.len(), "prompt_tokens": prompts.iter().map(Vec::len).sum::<usize>()});
        w.met = w.ratio_hf().map(|r| r >= 5.0);
    }
    Ok(w)
}

fn bench_loglik(
    cfg: &BenchConfig,
    lm: &LoadedModel,
    rows: &[workload::MmluRow],
    mut reference: Option<&mut Reference>,
) -> Result<WorkloadResult> {
    let mc = mc_workload(lm, &spread(rows, cfg.mc_questions, 0))?;
    let opts = LoglikOptions {
        pad_id: lm.pad_id(),
        batching: Batching {
            progress: cfg.progress,
            ..Batching::default()
        },
        share_context: true,
    };
    let tokens: usize = mc
        .requests
        .iter()
        .map(|r| r.context.len() + r.continuation.len())
        .sum();
    let mut ours = Vec::new();
    let (mut hf, mut lme) = (Vec::new(), Vec::new());
    let (mut ours_res, mut hf_res, mut lme_res, mut mismatches) = (Vec::new(), None, None, None);
    let pairs: Vec<(Vec<u32>, Vec<u32>)> = mc
        .requests
        .iter()
        .map(|r| (r.context.clone(), r.continuation.clone()))
        .collect();
    for _ in 0..cfg.repeats.max(1) {
        let (s, res) = timed(1, || {
            Ok(loglikelihood(&lm.model, &mc.requests, &opts, None)?)
        })?;
        ours.push(s);
        ours_res = res.iter().map(|l| (l.logprob, l.is_greedy)).collect();
        if let Some(r) = reference.as_deref_mut() {
            let v =
                r.call(json!({"task": "score", "requests": pairs, "batch_size": cfg.ref_batch}))?;
            hf.push(Reference::seconds(&v)?);
            hf_res = Some(results(&v)?);
            let v = r.call(
                json!({"task": "lm_eval", "requests": mc.texts, "batch_size": cfg.ref_batch,
                                  "token_ids": pairs}),
            );
            match v {
                Ok(v) => {
                    lme.push(Reference::seconds(&v)?);
                    lme_res = Some(results(&v)?);
                    mismatches = v["token_mismatches"].as_u64();
                }
                Err(e) => eprintln!("lm-evaluation-harness unavailable: {e:#}"),
            }
        }
    }
    let mut w = WorkloadResult::new(
        "loglikelihood",
        &format!(
            "{} MMLU questions × 4 choices (mmlu_continuation), shared context",
            mc.answers.len()
        ),
        tokens,
        median(ours),
    );
    w.target = "≥ 3× lm-evaluation-harness".into();
    let acc = |res: &[(f64, bool)]| accuracy(res, &mc.answers);
    let mut details = json!({"requests": mc.requests.len(), "accuracy": acc(&ours_res)});
    if let Some(h) = &hf_res {
        w.set_hf(median(hf), tokens);
        details["hf_accuracy"] = json!(acc(h));
        details["max_abs_logprob_diff_hf"] = json!(max_diff(&ours_res, h));
    }
    if let Some(l) = &lme_res {
        w.lm_eval_s = Some(median(lme));
        details["lm_eval_accuracy"] = json!(acc(l));
        details["max_abs_logprob_diff_lm_eval"] = json!(max_diff(&ours_res, l));
        details["same_choice_as_lm_eval"] = json!(same_choices(&ours_res, l));
        details["is_greedy_agree_lm_eval"] =
            json!(ours_res.iter().zip(l).filter(|(a, b)| a.1 == b.1).count());
        details["lm_eval_token_mismatches"] = json!(mismatches);
        details["accuracies_agree"] = json!((acc(&ours_res) - acc(l)).abs() < 1e-9);
        w.met = w.lm_eval_s.map(|s| s / w.ours_s >= 3.0);
    }
    w.details = details;
    Ok(w)
}

fn results(v: &Value) -> Result<Vec<(f64, bool)>> {
    Ok(serde_json::from_value(v["results"].clone())?)
}

/// Fraction of questions whose best-scoring choice is the correct one.
fn accuracy(res: &[(f64, bool)], answers: &[usize]) -> f64 {
    let right = answers
        .iter()
        .enumerate()
        .filter(|&(q, &a)| best(&res[q * 4..q * 4 + 4]) == a)
        .count();
    right as f64 / answers.len().max(1) as f64
}

fn best(choices: &[(f64, bool)]) -> usize {
    (0..choices.len()).fold(0, |b, i| if choices[i].0 > choices[b].0 { i } else { b })
}

fn same_choices(a: &[(f64, bool)], b: &[(f64, bool)]) -> usize {
    a.chunks(4)
        .zip(b.chunks(4))
        .filter(|(x, y)| best(x) == best(y))
        .count()
}

fn max_diff(a: &[(f64, bool)], b: &[(f64, bool)]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x.0 - y.0).abs())
        .fold(0.0, f64::max)
}

fn bench_prefill(
    cfg: &BenchConfig,
    lm: &LoadedModel,
    rows: &[workload::MmluRow],
    mut reference: Option<&mut Reference>,
) -> Result<WorkloadResult> {
    let ids = prefill_rows(lm, rows, cfg.prefill_rows, cfg.prefill_len)?;
    let step = Step::left_padded(&ids, lm.pad_id(), lm.model.device())?;
    let mut ours = Vec::new();
    let mut hf = Vec::new();
    for _ in 0..cfg.repeats.max(1) {
        let (s, _) = timed(1, || {
            Ok(lm
                .model
                .forward_last(&step, Some(&mut lm.model.new_cache()), None)?)
        })?;
        ours.push(s);
        if let Some(r) = reference.as_deref_mut() {
            hf.push(Reference::seconds(
                &r.call(json!({"task": "prefill", "ids": ids}))?,
            )?);
        }
    }
    let tokens = cfg.prefill_rows * cfg.prefill_len;
    let mut w = WorkloadResult::new(
        "prefill",
        &format!(
            "{} × {} tokens, KV cache filled, last-position logits",
            cfg.prefill_rows, cfg.prefill_len
        ),
        tokens,
        median(ours),
    );
    let flops = prefill_flops(&lm.model, cfg.prefill_rows, cfg.prefill_len);
    w.target = "≥ 100 GFLOP/s effective".into();
    w.gflops = Some(flops / w.ours_s / 1e9);
    w.met = w.gflops.map(|g| g >= 100.0);
    if !hf.is_empty() {
        w.set_hf(median(hf), tokens);
    }
    w.details = json!({"flops": flops, "formula": FLOP_FORMULA, "hf_gflops": w.hf_s.map(|s| flops / s / 1e9)});
    Ok(w)
}

pub const FLOP_FORMULA: &str =
    "2·N·B·T + 2·L·B·T²·(heads·head_dim): N = all parameters (tied embedding once), \
plus causal attention (QKᵀ and PV over the T(T+1)/2 allowed pairs, ≈ T²/2 each)";

/// Effective FLOPs of a prefill of b rows × t tokens (see `FLOP_FORMULA`).
pub fn prefill_flops(model: &Model, b: usize, t: usize) -> f64 {
    let c = model.config();
    let n = model.num_params() as f64;
    let (b, t) = (b as f64, t as f64);
    2.0 * n * b * t + 2.0 * c.num_layers as f64 * b * t * t * (c.num_heads * c.head_dim) as f64
}

/// Runs the benchmark and prints it: the table (or, with `json`, one JSON object) on stdout,
/// progress on stderr. The entry point of `spillover bench engine` and of the example binary.
pub fn run_and_print(cfg: &BenchConfig, json: bool) -> Result<BenchReport> {
    let report = run(cfg, &mut |line| eprintln!("{line}"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.table());
    }
    Ok(report)
}

/// The reference interpreter: `--python`, else $SPILLOVER_BENCH_PYTHON, else python3.
pub fn default_python(flag: Option<String>) -> String {
    flag.or_else(|| std::env::var("SPILLOVER_BENCH_PYTHON").ok())
        .unwrap_or_else(|| "python3".into())
}
