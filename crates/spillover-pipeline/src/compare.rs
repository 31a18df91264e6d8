//! The alignment-tax table: one row per metric, before and after on the same items, the change
//! with a confidence interval, a paired test, Holm's correction across the table, and a verdict.
//!
//! - Binary per-item outcomes (refused, correct): rates with Wilson intervals, the exact McNemar
//!   test on the discordant pairs.
//! - Continuous per-item values (log-probabilities, KL, nll per token): means, the paired
//!   sign-flip permutation test.
//! - The change (after − before) gets a paired bootstrap percentile interval in both cases.

use crate::config::StatsSection;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use spillover_evals::stats::{
    aggregate_seeds, holm, mcnemar_paired, paired_bootstrap, paired_permutation, wilson,
    BootstrapOptions, Interval, SeedSummary,
};
use std::collections::HashMap;

/// One metric measured per item before and after, paired by item id.
#[derive(Debug, Clone)]
pub struct MetricSeries {
    pub benchmark: String,
    pub metric: String,
    pub description: String,
    pub binary: bool,
    pub higher_is_better: bool,
    pub ids: Vec<String>,
    pub before: Vec<f64>,
    pub after: Vec<f64>,
}

impl MetricSeries {
    /// Pairs `(id, value)` lists by id; every id must be in both (the same items before and after).
    #[allow(clippy::too_many_arguments)]
    pub fn paired(
        benchmark: &str,
        metric: &str,
        description: &str,
        binary: bool,
        higher_is_better: bool,
        before: &[(String, f64)],
        after: &[(String, f64)],
    ) -> Result<MetricSeries> {
        let after_by_id: HashMap<&str, f64> = after.iter().map(|(i, v)| (i.as_str(), *v)).collect();
        if after_by_id.len() != before.len() {
            bail!(
                "{benchmark}/{metric}: {} items before and {} after; a paired comparison needs the same items",
                before.len(),
                after.len()
            );
        }
        let mut s = MetricSeries {
            benchmark: benchmark.into(),
            metric: metric.into(),
            description: description.into(),
            binary,
            higher_is_better,
            ids: Vec::new(),
            before: Vec::new(),
            after: Vec::new(),
        };
        for (id, b) in before {
            let Some(a) = after_by_id.get(id.as_str()) else {
                bail!("{benchmark}/{metric}: item {id} was evaluated before but not after");
            };
            s.ids.push(id.clone());
            s.before.push(*b);
            s.after.push(*a);
        }
        Ok(s)
    }
}

/// What a row says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Moved in the good direction, significant after Holm's correction.
    Gain,
    /// Moved in the bad direction, significant after Holm's correction.
    Loss,
    /// The change is within the noise at the family-wise level.
    NoDetectableChange,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Gain => "gain",
            Verdict::Loss => "loss",
            Verdict::NoDetectableChange => "no detectable change",
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaxRow {
    pub benchmark: String,
    pub metric: String,
    pub description: String,
    pub binary: bool,
    pub higher_is_better: bool,
    pub n: usize,
    /// Mean before (a rate for binary metrics) with its interval (Wilson / bootstrap of the mean).
    pub before: Interval,
    pub after: Interval,
    /// after − before, with a paired bootstrap interval.
    pub change: Interval,
    /// `mcnemar_exact` or `sign_flip_permutation`.
    pub test: String,
    pub p_value: f64,
    /// Holm-adjusted across every row of the table.
    pub p_holm: f64,
    pub verdict: Verdict,
    /// Binary metrics: items that went 1 → 0 and 0 → 1.
    pub discordant: Option<(u64, u64)>,
}

/// Builds the table; `seed` fixes the resampling.
pub fn tax_table(series: &[MetricSeries], stats: &StatsSection, seed: u64) -> Result<Vec<TaxRow>> {
    let boot = BootstrapOptions {
        resamples: stats.resamples,
        confidence: stats.confidence,
        seed,
    };
    let mut rows = Vec::with_capacity(series.len());
    for (k, s) in series.iter().enumerate() {
        if s.ids.is_empty() {
            bail!("{}/{}: no items to compare", s.benchmark, s.metric);
        }
        let boot_k = BootstrapOptions {
            seed: seed.wrapping_add(k as u64),
            ..boot
        };
        let change = paired_bootstrap(&s.before, &s.after, diff_of_means, boot_k)?;
        let (before, after, test, p_value, discordant) = if s.binary {
            let b: Vec<bool> = s.before.iter().map(|v| *v >= 0.5).collect();
            let a: Vec<bool> = s.after.iter().map(|v| *v >= 0.5).collect();
            let m = mcnemar_paired(&b, &a)?;
            let n = b.len() as u64;
            let count = |x: &[bool]| x.iter().filter(|v| **v).count() as u64;
            (
                wilson(count(&b), n, stats.confidence)?,
                wilson(count(&a), n, stats.confidence)?,
                "mcnemar_exact",
                m.p_value,
                Some((m.b, m.c)),
            )
        } else {
            let mean_ci = |x: &[f64]| paired_bootstrap(x, x, |v, _| mean(v), boot_k);
            (
                mean_ci(&s.before)?,
                mean_ci(&s.after)?,
                "sign_flip_permutation",
                paired_permutation(&s.before, &s.after, stats.resamples, boot_k.seed)?,
                None,
            )
        };
        rows.push(TaxRow {
            benchmark: s.benchmark.clone(),
            metric: s.metric.clone(),
            description: s.description.clone(),
            binary: s.binary,
            higher_is_better: s.higher_is_better,
            n: s.ids.len(),
            before,
            after,
            change,
            test: test.into(),
            p_value,
            p_holm: f64::NAN,
            verdict: Verdict::NoDetectableChange,
            discordant,
        });
    }
    let adjusted = holm(&rows.iter().map(|r| r.p_value).collect::<Vec<_>>())?;
    for (r, p) in rows.iter_mut().zip(adjusted) {
        r.p_holm = p;
        let improved = (r.change.estimate > 0.0) == r.higher_is_better;
        r.verdict = if p > stats.alpha || r.change.estimate == 0.0 {
            Verdict::NoDetectableChange
        } else if improved {
            Verdict::Gain
        } else {
            Verdict::Loss
        };
    }
    Ok(rows)
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

fn diff_of_means(before: &[f64], after: &[f64]) -> f64 {
    mean(after) - mean(before)
}

/// One metric's change over intervention seeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedRow {
    pub benchmark: String,
    pub metric: String,
    /// The change (after − before) per seed, its mean and sd.
    pub change: SeedSummary,
    /// The value after, per seed.
    pub after: SeedSummary,
    /// How many seeds' verdicts were gain / loss / no detectable change.
    pub verdicts: (usize, usize, usize),
}

/// Aggregates the tables of several seeds (same rows in the same order).
pub fn aggregate(tables: &[(u64, Vec<TaxRow>)]) -> Result<Vec<SeedRow>> {
    let Some((_, first)) = tables.first() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (i, row) in first.iter().enumerate() {
        let mut change = Vec::new();
        let mut after = Vec::new();
        let mut verdicts = (0, 0, 0);
        for (seed, rows) in tables {
            let r = rows
                .get(i)
                .filter(|r| r.benchmark == row.benchmark && r.metric == row.metric);
            let Some(r) = r else {
                bail!(
                    "seed {seed}: the table rows differ from seed {}'s",
                    tables[0].0
                );
            };
            change.push((*seed, r.change.estimate));
            after.push((*seed, r.after.estimate));
            match r.verdict {
                Verdict::Gain => verdicts.0 += 1,
                Verdict::Loss => verdicts.1 += 1,
                Verdict::NoDetectableChange => verdicts.2 += 1,
            }
        }
        out.push(SeedRow {
            benchmark: row.benchmark.clone(),
            metric: row.metric.clone(),
            change: aggregate_seeds(&change)?,
            after: aggregate_seeds(&after)?,
            verdicts,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(binary: bool, before: Vec<f64>, after: Vec<f64>, higher: bool) -> MetricSeries {
        MetricSeries {
            benchmark: "b".into(),
            metric: "m".into(),
            description: String::new(),
            binary,
            higher_is_better: higher,
            ids: (0..before.len()).map(|i| i.to_string()).collect(),
            before,
            after,
        }
    }

    #[test]
    fn a_large_drop_in_accuracy_is_a_loss_and_identical_runs_show_no_change() {
        let before = vec![1.0; 40];
        let mut after = vec![0.0; 30];
        after.extend(vec![1.0; 10]);
        let same = vec![1.0, 0.0, 1.0, 0.0];
        let rows = tax_table(
            &[
                series(true, before, after, true),
                series(true, same.clone(), same, true),
            ],
            &StatsSection::default(),
            0,
        )
        .unwrap();
        assert_eq!(rows[0].verdict, Verdict::Loss);
        assert_eq!(rows[0].discordant, Some((30, 0)));
        assert!((rows[0].change.estimate + 0.75).abs() < 1e-12);
        assert!(rows[0].change.lo <= -0.75 && rows[0].change.hi >= -0.75);
        assert_eq!(rows[1].verdict, Verdict::NoDetectableChange);
        assert_eq!(rows[1].p_value, 1.0);
        // Holm: the smaller p-value is multiplied by the number of rows.
        assert!((rows[0].p_holm - (2.0 * rows[0].p_value).min(1.0)).abs() < 1e-15);
    }

    #[test]
    fn direction_decides_gain_or_loss() {
        let before: Vec<f64> = (0..30).map(|i| i as f64 * 0.01).collect();
        let after: Vec<f64> = before.iter().map(|v| v + 1.0).collect();
        let up_good = tax_table(
            &[series(false, before.clone(), after.clone(), true)],
            &StatsSection::default(),
            0,
        )
        .unwrap();
        let up_bad = tax_table(
            &[series(false, before, after, false)],
            &StatsSection::default(),
            0,
        )
        .unwrap();
        assert_eq!(up_good[0].verdict, Verdict::Gain);
        assert_eq!(up_bad[0].verdict, Verdict::Loss);
        assert_eq!(up_good[0].test, "sign_flip_permutation");
    }

    #[test]
    fn pairing_by_id_rejects_different_items() {
        let b = vec![("a".to_string(), 1.0), ("b".to_string(), 0.0)];
        let a = vec![("a".to_string(), 1.0), ("c".to_string(), 0.0)];
        assert!(MetricSeries::paired("x", "y", "", true, true, &b, &a).is_err());
        let a2 = vec![("b".to_string(), 1.0), ("a".to_string(), 0.0)];
        let s = MetricSeries::paired("x", "y", "", true, true, &b, &a2).unwrap();
        assert_eq!(
            s.after,
            vec![0.0, 1.0],
            "values follow the before order of ids"
        );
    }
}
