//! Which rows are tested (in the Holm family) and which are descriptive, the metrics derived from
//! the judge's three-way labels, and the equivalence margins.
//!
//! Descriptive rows (outside the family, an interval but no test and no verdict):
//! - `kl/kl`: KL from the base model is 0 before by definition, so a test of "changed" could only
//!   ever say "loss".
//! - `perplexity/bits_per_byte`: the same log-likelihoods as `nll_per_token` in other units; one
//!   of the two is tested.
//! - `over_refusal/refused` and `over_refusal/degenerate`: the parts of the tested
//!   `over_refusal/not_helped` (refused or degenerate).
//! - Per-source breakdowns, `metric@source` (e.g. `refusal/refused@harmbench`,
//!   `refusal/refused@xstest-unsafe`, `over_refusal/not_helped@xstest-safe`): the headline rate
//!   on one source's items. The pooled row is the tested one — one hypothesis per benchmark, with
//!   the power of all its items — and the breakdown shows, with its own interval at
//!   `stats.confidence`, whether a change holds on instructions and on questions alike. Testing
//!   the sources as well would add two correlated tests per benchmark and lower every row's α'.
//!
//! The refusal benchmarks' 3 × 3 refused/complied/degenerate tables and their Stuart–Maxwell tests
//! are descriptive too: the tested rows already carry the direction that matters.

use crate::config::{Margin, StatsSection};
use spillover_evals::benchmarks::BenchmarkKind;

/// Over-refusal's headline: the benign prompt got no helpful answer (refused or degenerate).
pub const NOT_HELPED: &str = "not_helped";

/// Separates a metric from the source of a per-source breakdown row (`refused@harmbench`).
pub const SOURCE_SEP: char = '@';

/// The name of `metric` restricted to the items of `source`.
pub fn source_metric(metric: &str, source: &str) -> String {
    format!("{metric}{SOURCE_SEP}{source}")
}

/// The metric a (possibly per-source) row measures: `refused@harmbench` → `refused`.
pub fn base_metric(metric: &str) -> &str {
    metric.split(SOURCE_SEP).next().unwrap_or(metric)
}

/// Whether `benchmark/metric` is reported outside the Holm family.
pub fn is_descriptive(benchmark: &str, metric: &str) -> bool {
    metric.contains(SOURCE_SEP)
        || matches!(
            (benchmark, metric),
            ("kl", "kl")
                | ("perplexity", "bits_per_byte")
                | ("over_refusal", "refused")
                | ("over_refusal", "degenerate")
        )
}

/// The metric names of a benchmark (with the derived ones), or `None` for an unknown benchmark.
pub fn metric_names(benchmark: &str) -> Option<Vec<String>> {
    let kind: BenchmarkKind = benchmark.parse().ok()?;
    let mut names: Vec<String> = kind.metrics().into_iter().map(|m| m.key).collect();
    if kind == BenchmarkKind::OverRefusal {
        names.insert(0, NOT_HELPED.into());
    }
    Some(names)
}

/// The built-in margin of `benchmark/metric` (see [`StatsSection::margins`]); a per-source row
/// has its metric's.
pub fn default_margin(benchmark: &str, metric: &str) -> f64 {
    match (benchmark, base_metric(metric)) {
        ("arithmetic" | "gsm8k", "gold_logprob") => 0.1,
        ("mmlu", "gold_logprob") | ("humaneval", "solution_logprob") => 0.05,
        ("perplexity", "nll_per_token") => 0.02,
        ("perplexity", "bits_per_byte") | ("kl", _) => 0.01,
        ("diversity", "length") => 8.0,
        // Rates, pass@1, distinct_2 and repetition (fractions).
        _ => 0.05,
    }
}

/// The margin in force: `[stats.margins]` for the metric, then for the benchmark, then the default
/// (a per-source row takes its metric's).
pub fn margin_for(stats: &StatsSection, benchmark: &str, metric: &str) -> f64 {
    match stats.margins.get(benchmark) {
        Some(Margin::All(v)) => *v,
        Some(Margin::PerMetric(per)) => per
            .get(base_metric(metric))
            .copied()
            .unwrap_or_else(|| default_margin(benchmark, metric)),
        None => default_margin(benchmark, metric),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn configured_margins_override_defaults_per_benchmark_and_per_metric() {
        let mut s = StatsSection::default();
        assert_eq!(margin_for(&s, "refusal", "refused"), 0.05);
        assert_eq!(margin_for(&s, "arithmetic", "gold_logprob"), 0.1);
        s.margins.insert("refusal".into(), Margin::All(0.1));
        s.margins.insert(
            "arithmetic".into(),
            Margin::PerMetric(BTreeMap::from([("gold_logprob".to_string(), 0.3)])),
        );
        assert_eq!(margin_for(&s, "refusal", "degenerate"), 0.1);
        assert_eq!(margin_for(&s, "arithmetic", "gold_logprob"), 0.3);
        assert_eq!(margin_for(&s, "arithmetic", "correct"), 0.05);
    }

    #[test]
    fn the_family_leaves_out_kl_and_the_duplicate_perplexity_metric() {
        assert!(is_descriptive("kl", "kl") && is_descriptive("perplexity", "bits_per_byte"));
        assert!(!is_descriptive("perplexity", "nll_per_token"));
        assert!(!is_descriptive("over_refusal", NOT_HELPED));
        let by_source = source_metric("refused", "xstest-unsafe");
        assert_eq!(by_source, "refused@xstest-unsafe");
        assert!(is_descriptive("refusal", &by_source) && !is_descriptive("refusal", "refused"));
        assert_eq!(base_metric(&by_source), "refused");
        assert_eq!(metric_names("over_refusal").unwrap()[0], NOT_HELPED);
        assert!(metric_names("nope").is_none());
    }
}
