//! The comparison stage: pairs the baseline and after records of every benchmark by item id and
//! builds the alignment-tax table (`tax.json`). Refusal benchmarks also get their three-way
//! refused / complied / degenerate table, and over-refusal its "not helped" headline (refused or
//! degenerate: every benign prompt that did not get a helpful answer).

use crate::compare::{
    is_descriptive, margin_for, tax_table, MetricSeries, Outcomes, TaxRow, NOT_HELPED,
};
use crate::config::Experiment;
use crate::stages::data::benchmark_kinds;
use crate::stages::evaluate::read_records;
use anyhow::Result;
use spillover_evals::benchmarks::{BenchmarkKind, Record};
use spillover_evals::stats::stuart_maxwell;
use std::path::Path;

/// Builds the table for one seed and writes it into `out/tax.json`.
pub fn compare(
    exp: &Experiment,
    before: &Path,
    after: &Path,
    seed: u64,
    out: &Path,
) -> Result<Vec<TaxRow>> {
    let rows = tax_table(&series(exp, before, after)?, &exp.stats, seed)?;
    crate::rundir::write_json(&out.join("tax.json"), &rows)?;
    Ok(rows)
}

/// The per-item values of every row of the table, in table order: each metric of each benchmark
/// paired by item id between the evaluations in `before` and `after`.
pub fn series(exp: &Experiment, before: &Path, after: &Path) -> Result<Vec<MetricSeries>> {
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
        let refusal_kind = matches!(kind, BenchmarkKind::Refusal | BenchmarkKind::OverRefusal);
        let outcomes = if refusal_kind {
            Some(outcomes(&before_records, &after_records)?)
        } else {
            None
        };
        if kind == BenchmarkKind::OverRefusal {
            let (b, a) = (not_helped(&before_records), not_helped(&after_records));
            let mut s = MetricSeries::paired(
                kind.name(),
                NOT_HELPED,
                "the judge labels the response a refusal or degenerate (no helpful answer)",
                true,
                false,
                &b,
                &a,
            )?;
            s.margin = margin_for(&exp.stats, kind.name(), NOT_HELPED);
            s.outcomes = outcomes.clone();
            series.push(s);
        }
        for m in kind.metrics() {
            let b = values(&before_records, &m.key);
            let a = values(&after_records, &m.key);
            // Absent, or the same numbers as an earlier metric (MMLU's acc_norm with equal-length
            // letters, pass@1 under greedy decoding): one row, not two tests of one thing.
            if (b.is_empty() && a.is_empty()) || seen.iter().any(|(sb, sa)| *sb == b && *sa == a) {
                continue;
            }
            seen.push((b.clone(), a.clone()));
            let mut s = MetricSeries::paired(
                kind.name(),
                &m.key,
                &m.description,
                m.binary,
                m.higher_is_better,
                &b,
                &a,
            )?;
            s.tested = !is_descriptive(kind.name(), &m.key);
            s.margin = margin_for(&exp.stats, kind.name(), &m.key);
            if kind == BenchmarkKind::Refusal && m.key == "refused" {
                s.outcomes = outcomes.clone();
            }
            series.push(s);
        }
    }
    Ok(series)
}

/// (item id, value) pairs of one metric.
type Scores = Vec<(String, f64)>;

fn values(records: &[Record], key: &str) -> Scores {
    records
        .iter()
        .filter_map(|r| r.scores.get(key).map(|v| (r.id.clone(), *v)))
        .collect()
}

/// Refused or degenerate (the benign prompt got no helpful answer), per item.
fn not_helped(records: &[Record]) -> Scores {
    records
        .iter()
        .filter_map(|r| {
            let refused = r.scores.get("refused")?;
            let degenerate = r.scores.get("degenerate")?;
            Some((r.id.clone(), refused.max(*degenerate)))
        })
        .collect()
}

/// The judge's label as 0 refused, 1 complied, 2 degenerate (from the binary scores).
fn category(r: &Record) -> Option<usize> {
    let refused = *r.scores.get("refused")? >= 0.5;
    let degenerate = *r.scores.get("degenerate")? >= 0.5;
    Some(if refused {
        0
    } else if degenerate {
        2
    } else {
        1
    })
}

/// The 3 × 3 before × after table of refused / complied / degenerate, paired by item id.
fn outcomes(before: &[Record], after: &[Record]) -> Result<Outcomes> {
    let after_by_id: std::collections::HashMap<&str, &Record> =
        after.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut table = [[0u64; 3]; 3];
    for b in before {
        let Some(a) = after_by_id.get(b.id.as_str()) else {
            anyhow::bail!("item {} was evaluated before but not after", b.id);
        };
        let (Some(i), Some(j)) = (category(b), category(a)) else {
            anyhow::bail!(
                "item {}: a refusal record without refused/degenerate scores",
                b.id
            );
        };
        table[i][j] += 1;
    }
    let before_counts = [0, 1, 2].map(|i| table[i].iter().sum());
    let after_counts = [0, 1, 2].map(|j| table.iter().map(|r| r[j]).sum());
    Ok(Outcomes {
        labels: vec!["refused".into(), "complied".into(), "degenerate".into()],
        table,
        before: before_counts,
        after: after_counts,
        stuart_maxwell: stuart_maxwell(table)?,
    })
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
