//! The comparison stage: pairs the baseline and after records of every benchmark by item id and
//! builds the alignment-tax table (`tax.json`).

use crate::compare::{tax_table, MetricSeries, TaxRow};
use crate::config::Experiment;
use crate::stages::data::benchmark_kinds;
use crate::stages::evaluate::read_records;
use anyhow::Result;
use spillover_evals::benchmarks::{BenchmarkKind, Record};
use std::path::Path;

/// Builds the table for one seed and writes it into `out/tax.json`.
pub fn compare(
    exp: &Experiment,
    before: &Path,
    after: &Path,
    seed: u64,
    out: &Path,
) -> Result<Vec<TaxRow>> {
    let mut series = Vec::new();
    for (kind, _) in benchmark_kinds(exp)? {
        let after_records = read_records(after, kind)?;
        // KL compares the tuned model with the base one, which is 0 before by definition.
        let before_records = if kind == BenchmarkKind::Kl {
            zeroed(&after_records)
        } else {
            read_records(before, kind)?
        };
        let mut seen: Vec<(Scores, Scores)> = Vec::new();
        for m in kind.metrics() {
            let b = values(&before_records, &m.key);
            let a = values(&after_records, &m.key);
            // Absent, or the same numbers as an earlier metric (MMLU's acc_norm with equal-length
            // letters, pass@1 under greedy decoding): one row, not two tests of one thing.
            if (b.is_empty() && a.is_empty()) || seen.iter().any(|(sb, sa)| *sb == b && *sa == a) {
                continue;
            }
            seen.push((b.clone(), a.clone()));
            series.push(MetricSeries::paired(
                kind.name(),
                &m.key,
                &m.description,
                m.binary,
                m.higher_is_better,
                &b,
                &a,
            )?);
        }
    }
    let rows = tax_table(&series, &exp.stats, seed)?;
    crate::rundir::write_json(&out.join("tax.json"), &rows)?;
    Ok(rows)
}

/// (item id, value) pairs of one metric.
type Scores = Vec<(String, f64)>;

fn values(records: &[Record], key: &str) -> Scores {
    records
        .iter()
        .filter_map(|r| r.scores.get(key).map(|v| (r.id.clone(), *v)))
        .collect()
}

fn zeroed(records: &[Record]) -> Vec<Record> {
    records
        .iter()
        .map(|r| {
            let mut z = r.clone();
            z.scores.values_mut().for_each(|v| *v = 0.0);
            z
        })
        .collect()
}
