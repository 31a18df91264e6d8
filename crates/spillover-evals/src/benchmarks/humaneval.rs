//! `humaneval`: the prompt (signature + docstring) continued as plain text (no chat template)
//! until a stop string that starts the next top-level statement, then the item's tests run on
//! prompt + completion in the code sandbox. Greedy gives pass@1; with `samples = n` and a
//! temperature, each item gets n completions and pass@k is the unbiased estimator
//! 1 − C(n−c, k) / C(n, k) (Chen et al. 2021), c the passing completions. "solution_logprob" is
//! the canonical solution's mean log-probability per token after the prompt (teacher-forced).

use spillover_data::datasets::Item;
use spillover_sandbox::{humaneval_program, Outcome, Program, Sandbox};

use super::record::{binary, MetricRole, MetricSpec, PromptFormat, Record};
use super::subject::GenSpec;
use super::{
    in_chunks, BenchOptions, BenchOutput, BenchmarkKind, Error, PromptStyle, Result, Subject,
};

/// Where a completion ends: the start of the next top-level definition or statement.
pub const STOP_STRINGS: [&str; 5] = ["\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#"];

/// Characters of a failing program's stderr kept in its record.
const STDERR_TAIL: usize = 600;

/// The per-item metrics, headline first (pass@k for k > 1 is added when sampling: [`pass_at`]).
pub(super) fn metrics() -> Vec<MetricSpec> {
    use MetricRole::Capability;
    vec![
        MetricSpec::binary(
            Capability,
            "passed",
            true,
            "the first completion passes the tests (pass@1)",
        )
        .with_chance(0.0)
        .headline()
        .in_summary("Coding: HumanEval pass@1"),
        MetricSpec::continuous(
            Capability,
            "pass_at_1",
            true,
            "unbiased pass@1 over the samples (c / n); equals `passed` when greedy",
        ),
        MetricSpec::continuous(
            Capability,
            "solution_logprob",
            true,
            "mean log p per token of the canonical solution after the prompt",
        ),
    ]
}

/// The unbiased pass@k metric (k > 1, when sampling several completions per problem).
fn pass_at(k: usize) -> MetricSpec {
    MetricSpec::continuous(
        MetricRole::Capability,
        &format!("pass_at_{k}"),
        true,
        &format!("unbiased pass@{k} over the samples"),
    )
}

/// The spec of a metric `run` may add beyond [`metrics`]: `pass_at_<k>` for k > 1.
pub(super) fn extra_spec(key: &str) -> Option<MetricSpec> {
    let k: usize = key.strip_prefix("pass_at_")?.parse().ok()?;
    (k > 1).then(|| pass_at(k))
}

/// Runs `humaneval` on `items` (HumanEval items with `test` and `entry_point` in `extra`).
pub(super) fn run(
    subject: &Subject,
    items: &[Item],
    opts: &BenchOptions,
    sandbox: &Sandbox,
) -> Result<BenchOutput> {
    let kind = BenchmarkKind::Humaneval;
    let n = opts.samples;
    let stops: Vec<String> = STOP_STRINGS.iter().map(|s| s.to_string()).collect();
    let records = in_chunks(kind, items.len(), opts, |range, seed| {
        let chunk = &items[range];
        let mut ids = Vec::with_capacity(chunk.len() * n);
        for it in chunk {
            let p = subject.encode(&it.text, PromptStyle::Plain)?;
            ids.extend(std::iter::repeat_n(p, n));
        }
        let gen = GenSpec {
            max_new_tokens: opts.max_new_tokens,
            sampling: opts.sampling_with_seed(seed),
            stop_strings: stops.clone(),
        };
        let outs = subject.generate(&ids, &gen, &opts.batching)?;
        let programs = chunk
            .iter()
            .enumerate()
            .flat_map(|(i, it)| (0..n).map(move |s| (it, i * n + s)))
            .map(|(it, at)| sample_program(it, &outs[at].text, at))
            .collect::<Result<Vec<Program>>>()?;
        let outcomes = sandbox.run_all(&programs);
        // The canonical solution's mean log-probability per token: continuous, so it moves
        // even when almost nothing passes (items without a canonical solution get none).
        let with_solution: Vec<(usize, &Item)> = chunk
            .iter()
            .enumerate()
            .filter(|(_, it)| it.target.is_some())
            .collect();
        let reqs = with_solution
            .iter()
            .map(|(_, it)| {
                subject.request(
                    &it.text,
                    it.target.as_deref().unwrap_or(""),
                    PromptStyle::Plain,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let lls = subject.loglik(&reqs, &opts.batching)?;
        Ok(chunk
            .iter()
            .enumerate()
            .map(|(i, it)| {
                let o = &outcomes[i * n..(i + 1) * n];
                let mut r = record(it, o, &opts.pass_k);
                if let Some(k) = with_solution.iter().position(|(j, _)| *j == i) {
                    let ll = &lls[k];
                    r.scores.insert(
                        "solution_logprob".into(),
                        ll.logprob / ll.token_logprobs.len().max(1) as f64,
                    );
                }
                let first = &outs[i * n];
                if let Some(serde_json::Value::Object(d)) = r.detail.as_mut() {
                    d.insert("finish".into(), serde_json::json!(first.finish));
                    d.insert("new_tokens".into(), first.new_tokens.into());
                }
                r.output = Some(first.text.clone());
                r
            })
            .collect())
    })?;
    let mut metrics = metrics();
    metrics.extend(opts.pass_k.iter().filter(|&&k| k > 1).map(|&k| pass_at(k)));
    let format = PromptFormat {
        style: PromptStyle::Plain,
        template: "{prompt} (the function signature and docstring), continued".into(),
        few_shot: 0,
        max_new_tokens: opts.max_new_tokens,
        stop_strings: stops,
        sampling: Some(opts.seeded_sampling()),
        scored_continuation: None,
    };
    Ok(BenchOutput::new(
        kind,
        &subject.label,
        format,
        metrics,
        records,
    ))
}

/// The program of one sample (ids made unique per sample for the sandbox's bookkeeping).
fn sample_program(item: &Item, completion: &str, at: usize) -> Result<Program> {
    let mut p = humaneval_program(item, completion)
        .map_err(|e| Error::item(&item.id, format!("cannot build its test program: {e}")))?;
    p.id = format!("{}#{at}", item.id);
    Ok(p)
}

/// The record of one item from its samples' outcomes (the first sample's is `passed`).
fn record(item: &Item, outcomes: &[Outcome], pass_k: &[usize]) -> Record {
    let n = outcomes.len();
    let c = outcomes.iter().filter(|o| o.passed).count();
    let first = &outcomes[0];
    let mut r = Record::new(&item.id, &item.text)
        .score("passed", binary(first.passed))
        .score("pass_at_1", pass_at_k(n, c, 1));
    for &k in pass_k.iter().filter(|&&k| k > 1) {
        r.scores.insert(format!("pass_at_{k}"), pass_at_k(n, c, k));
    }
    let reasons: Vec<String> = outcomes.iter().map(reason).collect();
    let tail: String = {
        let chars: Vec<char> = first.stderr.chars().collect();
        chars[chars.len().saturating_sub(STDERR_TAIL)..]
            .iter()
            .collect()
    };
    r.detail = Some(serde_json::json!({
        "reason": reason(first),
        "sample_reasons": if n > 1 { Some(reasons) } else { None },
        "passed_samples": c,
        "samples": n,
        "stderr_tail": tail,
        "wall_ms": first.wall_ms,
        "task_id": item.extra.get("task_id"),
    }));
    r
}

/// "passed", or why the program failed, in words.
fn reason(o: &Outcome) -> String {
    match &o.reason {
        None => "passed".to_string(),
        Some(r) => r.to_string(),
    }
}

/// The unbiased pass@k estimate from n samples of which c pass: 1 − C(n−c, k) / C(n, k),
/// computed as a product so it never overflows.
pub fn pass_at_k(n: usize, c: usize, k: usize) -> f64 {
    if k == 0 || k > n {
        return f64::NAN;
    }
    if n - c < k {
        return 1.0;
    }
    let fail_all: f64 = ((n - c + 1)..=n)
        .map(|i| 1.0 - k as f64 / i as f64)
        .product();
    1.0 - fail_all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(passed: bool) -> Outcome {
        Outcome {
            id: "p".into(),
            passed,
            reason: (!passed).then_some(spillover_sandbox::FailReason::Exit(1)),
            exit_code: Some(i32::from(!passed)),
            signal: None,
            stdout: String::new(),
            stderr: String::new(),
            truncated: false,
            wall_ms: 1,
            cpu_ms: 1,
            peak_memory_bytes: 0,
        }
    }

    #[test]
    fn every_score_of_a_record_has_a_spec_with_a_role() {
        let item = Item::new("humaneval-000", "def f():");
        let outcomes = [outcome(true), outcome(false), outcome(true), outcome(false)];
        let pass_k = [1, 2, 3];
        let mut r = record(&item, &outcomes, &pass_k);
        // `run` adds the canonical solution's log-likelihood.
        r.scores.insert("solution_logprob".into(), -1.0);
        let mut declared = metrics();
        declared.extend(pass_k.iter().filter(|&&k| k > 1).map(|&k| pass_at(k)));
        assert_eq!(r.scores.len(), 5);
        for key in r.scores.keys() {
            let spec = BenchmarkKind::Humaneval.spec_of(key);
            assert!(spec.as_ref().is_some_and(|s| s.role.is_some()), "{key}");
            assert!(declared.iter().any(|m| &m.key == key), "{key} not declared");
        }
    }
}
