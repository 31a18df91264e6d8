//! Per-source row names and the equivalence margins in force. Which rows are tested (in the Holm
//! family) and which are descriptive, and each metric's built-in margin, are declared by the
//! metric specs of each benchmark (`spillover_evals::benchmarks`, `MetricSpec::descriptive` and
//! `MetricSpec::margin`).
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
use spillover_evals::benchmarks::{BenchmarkKind, MetricSpec};
pub use spillover_evals::benchmarks::{NOT_HELPED, SOURCE_SEP};

/// The name of `metric` restricted to the items of `source`.
pub fn source_metric(metric: &str, source: &str) -> String {
    format!("{metric}{SOURCE_SEP}{source}")
}

/// The metric a (possibly per-source) row measures: `refused@harmbench` → `refused`.
pub fn base_metric(metric: &str) -> &str {
    metric.split(SOURCE_SEP).next().unwrap_or(metric)
}

/// The metric names of a benchmark's table rows (with the derived ones), or `None` for an
/// unknown benchmark.
pub fn metric_names(benchmark: &str) -> Option<Vec<String>> {
    let kind: BenchmarkKind = benchmark.parse().ok()?;
    Some(kind.table_metrics().into_iter().map(|m| m.key).collect())
}

/// The margin in force for row `spec` of `kind`: `[stats.margins]` for the metric, then for the
/// benchmark, then the spec's own (a per-source row takes its metric's).
pub fn margin_for(stats: &StatsSection, kind: BenchmarkKind, spec: &MetricSpec) -> f64 {
    match stats.margins.get(kind.name()) {
        Some(Margin::All(v)) => *v,
        Some(Margin::PerMetric(per)) => per
            .get(base_metric(&spec.key))
            .copied()
            .unwrap_or(spec.margin),
        None => spec.margin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn margin(s: &StatsSection, kind: BenchmarkKind, metric: &str) -> f64 {
        margin_for(s, kind, &kind.spec_of(metric).unwrap())
    }

    #[test]
    fn configured_margins_override_defaults_per_benchmark_and_per_metric() {
        use BenchmarkKind::{Arithmetic, Refusal};
        let mut s = StatsSection::default();
        assert_eq!(margin(&s, Refusal, "refused"), 0.05);
        assert_eq!(margin(&s, Arithmetic, "gold_logprob"), 0.1);
        s.margins.insert("refusal".into(), Margin::All(0.1));
        s.margins.insert(
            "arithmetic".into(),
            Margin::PerMetric(BTreeMap::from([("gold_logprob".to_string(), 0.3)])),
        );
        assert_eq!(margin(&s, Refusal, "degenerate"), 0.1);
        assert_eq!(margin(&s, Refusal, "refused@harmbench"), 0.1);
        assert_eq!(margin(&s, Arithmetic, "gold_logprob"), 0.3);
        assert_eq!(margin(&s, Arithmetic, "correct"), 0.05);
    }

    #[test]
    fn source_rows_name_their_metric_and_the_table_names_include_derived_rows() {
        let by_source = source_metric("refused", "xstest-unsafe");
        assert_eq!(by_source, "refused@xstest-unsafe");
        assert_eq!(base_metric(&by_source), "refused");
        assert_eq!(metric_names("over_refusal").unwrap()[0], NOT_HELPED);
        assert!(metric_names("nope").is_none());
    }
}
