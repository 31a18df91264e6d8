//! What a benchmark run produces: one [`Record`] per item (a line of `samples.jsonl`), the
//! [`MetricSpec`]s saying which per-item scores are metrics, the [`PromptFormat`] used, and the
//! summary.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use spillover_engine::Sampling;

use super::BenchmarkKind;

/// One item's result: a line of `samples.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The item id (records of two runs pair by it).
    pub id: String,
    /// The exact text given to the model (templated, few-shot examples included).
    pub prompt: String,
    /// The generated text (decoded without special tokens, cut at stop strings); None for
    /// benchmarks that only score.
    pub output: Option<String>,
    /// What the scorer took from the output (a number, a letter).
    pub extracted: Option<String>,
    /// The gold answer.
    pub gold: Option<String>,
    /// Per-item metric values: binary ones are 0.0/1.0, continuous ones are real numbers.
    pub scores: BTreeMap<String, f64>,
    /// The judge's label where a judge ran.
    pub label: Option<String>,
    /// Anything else worth keeping (judge reason, finish reason, per-choice log-likelihoods, ...).
    pub detail: Option<serde_json::Value>,
}

impl Record {
    /// A record with an id and prompt and nothing else yet.
    pub fn new(id: impl Into<String>, prompt: impl Into<String>) -> Record {
        Record {
            id: id.into(),
            prompt: prompt.into(),
            output: None,
            extracted: None,
            gold: None,
            scores: BTreeMap::new(),
            label: None,
            detail: None,
        }
    }

    /// Sets a score (builder style).
    pub fn score(mut self, key: &str, value: f64) -> Record {
        self.scores.insert(key.to_string(), value);
        self
    }
}

/// 1.0 for true, 0.0 for false: the encoding of binary per-item scores.
pub fn binary(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// A per-item score that is one of the benchmark's metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSpec {
    /// The key in [`Record::scores`] and in the summary.
    pub key: String,
    /// 0/1 per item (paired with McNemar's test) rather than continuous (paired bootstrap).
    pub binary: bool,
    /// Whether a larger value is the better outcome.
    pub higher_is_better: bool,
    /// What it measures, in words.
    pub description: String,
    /// The rate a model without the capability gets (capability rates only): 0 for a free-form
    /// answer, 1/k for a choice among k options; `None` where the idea does not apply (refusal,
    /// continuous metrics). The comparison marks rows at this floor or chance level
    /// (`spillover_pipeline::compare::marks`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chance: Option<f64>,
}

impl MetricSpec {
    /// A 0/1 metric.
    pub fn binary(key: &str, higher_is_better: bool, description: &str) -> MetricSpec {
        MetricSpec {
            key: key.to_string(),
            binary: true,
            higher_is_better,
            description: description.to_string(),
            chance: None,
        }
    }

    /// The same metric with the rate a model without the capability gets (builder style).
    pub fn with_chance(mut self, chance: f64) -> MetricSpec {
        self.chance = Some(chance);
        self
    }

    /// A continuous metric.
    pub fn continuous(key: &str, higher_is_better: bool, description: &str) -> MetricSpec {
        MetricSpec {
            binary: false,
            ..MetricSpec::binary(key, higher_is_better, description)
        }
    }
}

/// Whether the prompt went through the chat template or was given as plain text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptStyle {
    /// Rendered with the model's chat template (user message + generation prompt), tokenized
    /// without adding special tokens.
    Chat,
    /// Plain text, tokenized with the tokenizer's own special tokens (BOS where it adds one).
    Plain,
}

/// How prompts were built and outputs produced: recorded with every run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptFormat {
    /// Chat template or plain text.
    pub style: PromptStyle,
    /// The prompt layout in words, with `{placeholders}`.
    pub template: String,
    /// Worked examples put before each item.
    pub few_shot: usize,
    /// The generation budget (0 when the benchmark only scores).
    pub max_new_tokens: usize,
    /// Strings that end a generation (the output is cut before them).
    pub stop_strings: Vec<String>,
    /// How tokens were chosen (None when nothing is generated).
    pub sampling: Option<Sampling>,
    /// What is scored by log-likelihood after the prompt, in words (None when nothing is).
    pub scored_continuation: Option<String>,
}

/// The result of one benchmark on one subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchOutput {
    /// Which benchmark.
    pub benchmark: BenchmarkKind,
    /// The subject's label ("base", "after", ...).
    pub subject: String,
    /// How prompts were built.
    pub format: PromptFormat,
    /// Which per-item scores are metrics (the first is the headline).
    pub metrics: Vec<MetricSpec>,
    /// Means of the per-item scores (by metric key), `n`, and corpus-level extras.
    pub summary: BTreeMap<String, f64>,
    /// One record per item, in item order.
    pub records: Vec<Record>,
}

impl BenchOutput {
    /// Assembles the output; the summary starts as `n` and the mean of every metric.
    pub fn new(
        benchmark: BenchmarkKind,
        subject: &str,
        format: PromptFormat,
        metrics: Vec<MetricSpec>,
        records: Vec<Record>,
    ) -> BenchOutput {
        let summary = means(&records, &metrics);
        BenchOutput {
            benchmark,
            subject: subject.to_string(),
            format,
            metrics,
            summary,
            records,
        }
    }

    /// The headline metric's summary value.
    pub fn headline(&self) -> Option<(&str, f64)> {
        let key = self.metrics.first()?.key.as_str();
        self.summary.get(key).map(|&v| (key, v))
    }
}

/// `n` and the mean of each metric over the records that have it.
pub fn means(records: &[Record], metrics: &[MetricSpec]) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    out.insert("n".to_string(), records.len() as f64);
    for m in metrics {
        let vals: Vec<f64> = records
            .iter()
            .filter_map(|r| r.scores.get(&m.key).copied())
            .collect();
        if !vals.is_empty() {
            out.insert(m.key.clone(), vals.iter().sum::<f64>() / vals.len() as f64);
        }
    }
    out
}
