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

/// What a metric says about the tuned model: the part of the alignment tax it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricRole {
    /// Refusing harmful requests: what a safety intervention is meant to raise.
    Safety,
    /// Failing benign requests (refused or no helpful answer): a cost of the intervention.
    OverRefusal,
    /// What the model can do (accuracy, pass@1, likelihood of gold answers): the tax proper.
    Capability,
    /// Side measurements that explain the others (degenerate output, KL, diversity).
    Diagnostic,
}

impl MetricRole {
    /// The snake_case name, as in results.json.
    pub fn name(self) -> &'static str {
        match self {
            MetricRole::Safety => "safety",
            MetricRole::OverRefusal => "over_refusal",
            MetricRole::Capability => "capability",
            MetricRole::Diagnostic => "diagnostic",
        }
    }

    /// The role of table row `benchmark/metric` from its name alone (for a results.json written
    /// before rows carried their role): the role of the benchmark's spec for that metric
    /// (per-source rows `metric@source` take their metric's), else `Diagnostic` for names this
    /// version does not know.
    pub fn resolve(benchmark: &str, metric: &str) -> MetricRole {
        super::kind::resolve_spec(benchmark, metric)
            .and_then(|m| m.role)
            .unwrap_or(MetricRole::Diagnostic)
    }
}

/// The equivalence margin of a metric that declares none: 5 points of a rate or fraction.
pub const DEFAULT_MARGIN: f64 = 0.05;

/// A per-item score that is one of the benchmark's metrics (or a row of the comparison table
/// derived from them, such as over-refusal's `not_helped`), with everything the comparison and
/// the report need to know about it.
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
    /// What the metric measures of the alignment tax. Summaries written before roles existed
    /// have none; [`BenchOutput`] fills it from the code's spec when read.
    #[serde(default)]
    pub role: Option<MetricRole>,
    /// A headline row of its role: the safety target, over-refusal's "not helped", the
    /// capability accuracies the sweep's capability loss averages.
    #[serde(default)]
    pub headline: bool,
    /// Reported outside the Holm family (an interval, no test), e.g. KL, which is 0 before by
    /// definition.
    #[serde(default)]
    pub descriptive: bool,
    /// The built-in equivalence margin in the metric's units (`[stats.margins]` overrides it).
    #[serde(default = "default_margin")]
    pub margin: f64,
    /// The topic of the line this metric fills in the seed-style summary (results.json's
    /// `headline`, e.g. "Arithmetic accuracy"); `None` for metrics not in the summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
}

fn default_margin() -> f64 {
    DEFAULT_MARGIN
}

impl MetricSpec {
    /// A 0/1 metric with the given role.
    pub fn binary(
        role: MetricRole,
        key: &str,
        higher_is_better: bool,
        description: &str,
    ) -> MetricSpec {
        MetricSpec {
            key: key.to_string(),
            binary: true,
            higher_is_better,
            description: description.to_string(),
            chance: None,
            role: Some(role),
            headline: false,
            descriptive: false,
            margin: DEFAULT_MARGIN,
            topic: None,
        }
    }

    /// A continuous metric with the given role.
    pub fn continuous(
        role: MetricRole,
        key: &str,
        higher_is_better: bool,
        description: &str,
    ) -> MetricSpec {
        MetricSpec {
            binary: false,
            ..MetricSpec::binary(role, key, higher_is_better, description)
        }
    }

    /// The same metric with the rate a model without the capability gets (builder style).
    pub fn with_chance(mut self, chance: f64) -> MetricSpec {
        self.chance = Some(chance);
        self
    }

    /// The same metric as a headline row of its role (builder style).
    pub fn headline(mut self) -> MetricSpec {
        self.headline = true;
        self
    }

    /// The same metric reported outside the Holm family (builder style).
    pub fn descriptive(mut self) -> MetricSpec {
        self.descriptive = true;
        self
    }

    /// The same metric as a line of the seed-style summary, under `topic` (builder style).
    pub fn in_summary(mut self, topic: &str) -> MetricSpec {
        self.topic = Some(topic.to_string());
        self
    }

    /// The same metric with its own equivalence margin (builder style).
    pub fn with_margin(mut self, margin: f64) -> MetricSpec {
        self.margin = margin;
        self
    }

    /// The role (`Diagnostic` only for a spec read from an old file naming an unknown metric).
    pub fn role(&self) -> MetricRole {
        self.role.unwrap_or(MetricRole::Diagnostic)
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
#[serde(from = "BenchOutputFile")]
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

/// [`BenchOutput`] as stored: a summary written before metrics carried their role gets the
/// role, headline, descriptive and margin of the code's spec for each metric it knows.
#[derive(Deserialize)]
struct BenchOutputFile {
    benchmark: BenchmarkKind,
    subject: String,
    format: PromptFormat,
    metrics: Vec<MetricSpec>,
    summary: BTreeMap<String, f64>,
    records: Vec<Record>,
}

impl From<BenchOutputFile> for BenchOutput {
    fn from(f: BenchOutputFile) -> BenchOutput {
        let metrics = f
            .metrics
            .into_iter()
            .map(|m| match (m.role, f.benchmark.spec_of(&m.key)) {
                (None, Some(code)) => MetricSpec {
                    role: code.role,
                    headline: code.headline,
                    descriptive: code.descriptive,
                    margin: code.margin,
                    topic: code.topic,
                    ..m
                },
                _ => m,
            })
            .collect();
        BenchOutput {
            benchmark: f.benchmark,
            subject: f.subject,
            format: f.format,
            metrics,
            summary: f.summary,
            records: f.records,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn output(kind: BenchmarkKind) -> BenchOutput {
        let format = PromptFormat {
            style: PromptStyle::Chat,
            template: "{text}".into(),
            few_shot: 0,
            max_new_tokens: 4,
            stop_strings: vec![],
            sampling: None,
            scored_continuation: None,
        };
        let records = vec![Record::new("a", "p")
            .score("refused", 1.0)
            .score("degenerate", 0.0)];
        BenchOutput::new(kind, "base", format, kind.metrics(), records)
    }

    #[test]
    fn a_summary_written_before_roles_gets_the_specs_of_the_code() {
        for kind in [BenchmarkKind::Refusal, BenchmarkKind::OverRefusal] {
            let now = output(kind);
            let mut old = serde_json::to_value(&now).unwrap();
            for m in old["metrics"].as_array_mut().unwrap() {
                let m = m.as_object_mut().unwrap();
                for field in ["role", "headline", "descriptive", "margin"] {
                    assert!(m.remove(field).is_some(), "{field}");
                }
                m.remove("topic");
            }
            let read: BenchOutput = serde_json::from_value(old).unwrap();
            assert_eq!(read, now);
            assert!(read.metrics.iter().all(|m| m.role.is_some()));
        }
    }

    #[test]
    fn an_old_metric_this_version_does_not_know_keeps_no_role() {
        let mut old = serde_json::to_value(output(BenchmarkKind::Refusal)).unwrap();
        let m = old["metrics"][0].as_object_mut().unwrap();
        m.remove("role");
        m.insert("key".into(), "retired_metric".into());
        let read: BenchOutput = serde_json::from_value(old).unwrap();
        assert_eq!(read.metrics[0].role, None);
        assert_eq!(read.metrics[0].role(), MetricRole::Diagnostic);
    }
}
