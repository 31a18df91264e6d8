//! The table over intervention seeds. Each seed trained on its own draw of prompts and is compared
//! on its own items (the baseline's items minus the near-duplicates of its prompts), so seeds may
//! have different items and even different rows: rows are matched by (benchmark, metric) and
//! items by id, never by position.
//!
//! Per row, over the seeds that have it:
//! - The estimate: the mean over seeds of each seed's change (after − before). Before and after:
//!   the mean over seeds with the bootstrap interval (binary rows: widened to the mean of the
//!   seeds' Wilson intervals, so a rate at a floor has width).
//! - The interval: the hull of two intervals at the same level. (1) The seed × item bootstrap
//!   ([`Hierarchical`]): seeds resampled, then items (one draw shared by the seeds, which share
//!   the baseline), before and after kept together; it carries the seed-to-seed variation.
//!   (2) The mean over seeds of each seed's own interval (Newcombe's for binary rows, the
//!   sign-flip inversion for continuous rows, as in the single-seed table); it carries the item
//!   noise where the percentile bootstrap cannot — at a floor (every item 0 before and after) the
//!   bootstrap interval is [0, 0], and with a handful of items it is too narrow. The hull covers
//!   at least as often as either.
//! - The test: the stratified sign-flip test ([`stratified_sign_flip`]), chosen over a CMH-style
//!   test because one test serves binary and continuous rows alike, its statistic is the estimate
//!   itself (each seed weighted equally, as in the estimate, where CMH weights seeds by size), and
//!   it is exact at any n (with one seed it is the exact McNemar test). Seeds are its strata.
//! - Consistency: the row's p is the largest of the test's p and the p-values that invert the two
//!   intervals, so a row rejected at its Holm level α' has a (1 − α') interval that excludes 0.
//!   A row not rejected has its interval extended to 0 (the union with the test's acceptance of
//!   0, still a valid interval). Verdicts as in the single-seed table: gain / loss iff rejected
//!   and the interval excludes 0; equivalent when the (1 − 2α') interval lies inside ±margin.
//! - Stability: a gain or loss is "stable" when every seed's own change has the verdict's sign
//!   (0 is not agreement); an equivalence when every seed's own change lies inside ±margin;
//!   inconclusive and descriptive rows make no claim (`None`).
//! - Floor / chance ([`super::marks`]): binary capability rows are marked from the means over
//!   seeds (before and after at most the floor rate, or the before interval above holding the
//!   chance level), as the single-seed table marks its own; marked rows stay in the family.
//! - MDE: the larger of the mean of the seeds' own MDEs (item noise) and the normal approximation
//!   (z₁₋α'/₂ + z₀.₈)·SE with the bootstrap's standard error (seed variation); `None` when a seed's
//!   is out of reach or the row is blind.

use super::{
    holm_steps, mark, verdict, Mark, MetricSeries, RowRole, TaxRow, Tester, Verdict, MDE_POWER,
};
use crate::config::StatsSection;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use spillover_evals::benchmarks::MetricRole;
use spillover_evals::stats::{
    nan_if_null, normal_quantile, stratified_sign_flip, tost, wilson, Hierarchical, Interval,
    SeedSample, StatsError, Tost,
};

/// One seed's series (every row it has) and its own table.
pub struct SeedTable<'a> {
    pub seed: u64,
    pub series: &'a [MetricSeries],
    pub rows: &'a [TaxRow],
}

/// One seed's own change on a row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedChange {
    pub seed: u64,
    /// Items the seed was compared on.
    pub n: usize,
    /// after − before on them.
    pub change: f64,
    /// The seed's own verdict (its table's row).
    pub verdict: Option<Verdict>,
}

/// One row of the table over seeds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AcrossRow {
    pub benchmark: String,
    pub metric: String,
    /// What the row measures; `None` only in a table written before rows carried their role
    /// (read it with [`AcrossRow::role`]).
    #[serde(default)]
    pub role: Option<MetricRole>,
    /// A headline row of its role; `None` only in an old table (see [`AcrossRow::is_headline`]).
    #[serde(default)]
    pub headline: Option<bool>,
    pub description: String,
    pub binary: bool,
    pub higher_is_better: bool,
    /// Seeds with this row.
    pub n_seeds: usize,
    /// Distinct items over those seeds (each seed's own count: `per_seed`).
    pub n: usize,
    /// Mean over seeds of the mean before / after, with seed × item bootstrap intervals at
    /// `stats.confidence`.
    pub before: Interval,
    pub after: Interval,
    /// The mean change over seeds, with the interval at the verdict's level (`stats.confidence`
    /// for descriptive rows).
    pub change: Interval,
    /// `stratified_sign_flip_hierarchical_bootstrap`, or `none` (descriptive).
    pub test: String,
    /// The row's p: the largest of `p_test`, `p_bootstrap` and `p_seeds` (null when descriptive).
    #[serde(deserialize_with = "nan_if_null")]
    pub p_value: f64,
    /// The stratified sign-flip test.
    #[serde(deserialize_with = "nan_if_null")]
    pub p_test: f64,
    /// The p-value that inverts the seed × item bootstrap interval.
    #[serde(deserialize_with = "nan_if_null")]
    pub p_bootstrap: f64,
    /// The p-value that inverts the mean of the seeds' own intervals.
    #[serde(deserialize_with = "nan_if_null")]
    pub p_seeds: f64,
    #[serde(deserialize_with = "nan_if_null")]
    pub p_holm: f64,
    pub tested: bool,
    #[serde(deserialize_with = "nan_if_null")]
    pub alpha_row: f64,
    pub holm_step: Option<usize>,
    pub equivalence: Option<Tost>,
    pub mde: Option<f64>,
    #[serde(deserialize_with = "nan_if_null")]
    pub p_min: f64,
    pub blind: bool,
    pub verdict: Verdict,
    /// Every seed's own change agrees with the verdict (see the module notes); `None` for
    /// inconclusive and descriptive rows.
    pub stable: Option<bool>,
    /// Capability rates: the rate without the capability (as in the seeds' tables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chance: Option<f64>,
    /// At the floor or at chance over seeds (see the module notes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark: Option<Mark>,
    pub per_seed: Vec<SeedChange>,
}

impl RowRole for AcrossRow {
    fn names(&self) -> (&str, &str) {
        (&self.benchmark, &self.metric)
    }
    fn recorded(&self) -> (Option<MetricRole>, Option<bool>) {
        (self.role, self.headline)
    }
    fn record(&mut self, role: MetricRole, headline: bool) {
        (self.role, self.headline) = (Some(role), Some(headline));
    }
}

/// One row's data and tests over its seeds.
struct RowStats {
    boot: Hierarchical,
    testers: Vec<Tester>,
}

impl RowStats {
    /// The mean over seeds of each seed's own interval.
    fn seeds_interval(&self, confidence: f64) -> Result<Interval, StatsError> {
        let k = self.testers.len() as f64;
        let (mut est, mut lo, mut hi) = (0.0, 0.0, 0.0);
        for t in &self.testers {
            let iv = t.interval(confidence)?;
            est += iv.estimate / k;
            lo += iv.lo / k;
            hi += iv.hi / k;
        }
        Ok(Interval {
            estimate: est,
            lo,
            hi,
            confidence,
        })
    }

    /// The hull of the bootstrap interval and the seeds' mean interval.
    fn interval(&self, confidence: f64) -> Result<Interval, StatsError> {
        let b = self.boot.change(confidence)?;
        let s = self.seeds_interval(confidence)?;
        Ok(Interval {
            estimate: b.estimate,
            lo: b.lo.min(s.lo),
            hi: b.hi.max(s.hi),
            confidence,
        })
    }

    /// The smallest α whose (1 − α) seeds' mean interval excludes 0 (1 when none does).
    fn seeds_p(&self) -> Result<f64, StatsError> {
        let excludes = |alpha: f64| -> Result<bool, StatsError> {
            let iv = self.seeds_interval(1.0 - alpha)?;
            Ok(iv.lo > 0.0 || iv.hi < 0.0)
        };
        // Narrower intervals at larger α: find where exclusion starts.
        if !excludes(0.999_999)? {
            return Ok(1.0);
        }
        let (mut inside, mut outside) = (0.999_999, 1e-15);
        if excludes(outside)? {
            return Ok(outside);
        }
        for _ in 0..60 {
            let mid = (inside * outside).sqrt();
            if excludes(mid)? {
                inside = mid;
            } else {
                outside = mid;
            }
            if inside / outside < 1.0 + 1e-6 {
                break;
            }
        }
        Ok(inside)
    }
}

/// Builds the table over seeds (at least two); `seed` fixes the resampling.
pub fn across_seeds(
    seeds: &[SeedTable],
    stats: &StatsSection,
    seed: u64,
) -> Result<Vec<AcrossRow>> {
    if seeds.len() < 2 {
        bail!("a table over seeds needs at least two seeds");
    }
    // Rows in order of first appearance over the seeds.
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for t in seeds {
        for s in t.series {
            let key = (s.benchmark.as_str(), s.metric.as_str());
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    let mut rows = Vec::with_capacity(keys.len());
    let mut row_stats = Vec::with_capacity(keys.len());
    for (k, &(bench, metric)) in keys.iter().enumerate() {
        let with: Vec<(&SeedTable, &MetricSeries)> = seeds
            .iter()
            .filter_map(|t| {
                t.series
                    .iter()
                    .find(|s| s.benchmark == bench && s.metric == metric)
                    .map(|s| (t, s))
            })
            .collect();
        let first = with[0].1;
        if let Some((t, _)) = with.iter().find(|(_, s)| {
            s.binary != first.binary
                || s.tested != first.tested
                || s.chance != first.chance
                || s.higher_is_better != first.higher_is_better
        }) {
            bail!(
                "{bench}/{metric}: seed {} scores it differently from seed {}",
                t.seed,
                with[0].0.seed
            );
        }
        let row_seed = seed.wrapping_add(k as u64);
        // Binary values as the single-seed table reads them.
        let values = |v: &[f64]| -> Vec<f64> {
            if first.binary {
                v.iter().map(|x| f64::from(u8::from(*x >= 0.5))).collect()
            } else {
                v.to_vec()
            }
        };
        let owned: Vec<(Vec<f64>, Vec<f64>)> = with
            .iter()
            .map(|(_, s)| (values(&s.before), values(&s.after)))
            .collect();
        let samples: Vec<SeedSample> = with
            .iter()
            .zip(&owned)
            .map(|((_, s), (b, a))| SeedSample {
                ids: &s.ids,
                before: b,
                after: a,
            })
            .collect();
        let boot = Hierarchical::new(&samples, stats.resamples, row_seed)?;
        let mut testers = Vec::with_capacity(with.len());
        for (_, s) in &with {
            testers.push(Tester::of(s, stats, row_seed)?);
        }
        let rs = RowStats { boot, testers };
        let per_seed: Vec<SeedChange> = with
            .iter()
            .zip(&owned)
            .map(|((t, s), (b, a))| SeedChange {
                seed: t.seed,
                n: s.ids.len(),
                change: mean(a) - mean(b),
                verdict: t
                    .rows
                    .iter()
                    .find(|r| r.benchmark == bench && r.metric == metric)
                    .map(|r| r.verdict),
            })
            .collect();
        let (test, p_test, p_bootstrap, p_seeds, p_min) = if first.tested {
            let flip = stratified_sign_flip(&samples, stats.resamples, row_seed)?;
            let interval_min = rs
                .testers
                .iter()
                .map(Tester::interval_p_min)
                .fold(0.0, f64::max);
            (
                "stratified_sign_flip_hierarchical_bootstrap",
                flip.p_value(),
                rs.boot.p_value(),
                rs.seeds_p()?,
                flip.p_min().max(interval_min),
            )
        } else {
            ("none", f64::NAN, f64::NAN, f64::NAN, f64::NAN)
        };
        let before = rate_hull(rs.boot.before(stats.confidence)?, &rs.testers, true)?;
        let after = rate_hull(rs.boot.after(stats.confidence)?, &rs.testers, false)?;
        let row_mark = if first.binary {
            mark(first.chance, &before, &after)
        } else {
            None
        };
        rows.push(AcrossRow {
            benchmark: bench.into(),
            metric: metric.into(),
            role: Some(first.role),
            headline: Some(first.headline),
            description: first.description.clone(),
            binary: first.binary,
            higher_is_better: first.higher_is_better,
            n_seeds: with.len(),
            n: rs.boot.items(),
            before,
            after,
            change: rs.interval(stats.confidence)?,
            test: test.into(),
            p_value: p_test.max(p_bootstrap).max(p_seeds),
            p_test,
            p_bootstrap,
            p_seeds,
            p_holm: f64::NAN,
            tested: first.tested,
            alpha_row: f64::NAN,
            holm_step: None,
            equivalence: None,
            mde: None,
            p_min,
            blind: false,
            verdict: Verdict::Descriptive,
            stable: None,
            chance: first.chance,
            mark: row_mark,
            per_seed,
        });
        row_stats.push((rs, first.margin));
    }
    let family: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].tested).collect();
    let p: Vec<f64> = family.iter().map(|&i| rows[i].p_value).collect();
    let z_power = normal_quantile(MDE_POWER);
    for (j, step) in holm_steps(&p, stats.alpha)?.into_iter().enumerate() {
        let i = family[j];
        let (rs, margin) = &row_stats[i];
        let r = &mut rows[i];
        r.p_holm = step.p_holm;
        r.alpha_row = step.alpha_row;
        r.holm_step = Some(step.step);
        r.change = rs.interval(1.0 - step.alpha_row)?;
        r.blind = r.p_min > step.alpha_row;
        r.mde = if r.blind {
            None
        } else {
            let own: Option<Vec<f64>> = rs.testers.iter().map(|t| t.mde(step.alpha_row)).collect();
            own.map(|v| {
                let z = normal_quantile(1.0 - step.alpha_row / 2.0);
                mean(&v).max((z + z_power) * rs.boot.se())
            })
        };
        let equivalence = tost(|c| rs.interval(c), step.alpha_row, *margin)?;
        r.equivalence = Some(equivalence);
        r.verdict = verdict(step.rejected, &r.change, r.higher_is_better, &equivalence);
        if !step.rejected {
            r.change.lo = r.change.lo.min(0.0);
            r.change.hi = r.change.hi.max(0.0);
        }
        r.stable = stability(r.verdict, r.change.estimate, *margin, &r.per_seed);
    }
    Ok(rows)
}

/// Binary rows: the bootstrap interval of a mean rate, widened to the mean of the seeds' own
/// Wilson intervals (as in their own tables), so a rate at 0 or 1 is not shown as [0, 0].
/// Continuous rows: the bootstrap interval.
fn rate_hull(boot: Interval, testers: &[Tester], before: bool) -> Result<Interval> {
    let mut lo = 0.0;
    let mut hi = 0.0;
    for t in testers {
        let Tester::Binary(table) = t else {
            return Ok(boot);
        };
        let ones = if before {
            table.both + table.lost
        } else {
            table.both + table.gained
        };
        let w = wilson(ones, table.n(), boot.confidence)?;
        lo += w.lo / testers.len() as f64;
        hi += w.hi / testers.len() as f64;
    }
    Ok(Interval {
        lo: boot.lo.min(lo),
        hi: boot.hi.max(hi),
        ..boot
    })
}

/// Whether every seed's own change agrees with the verdict (see the module notes).
fn stability(v: Verdict, estimate: f64, margin: f64, per_seed: &[SeedChange]) -> Option<bool> {
    match v {
        Verdict::Gain | Verdict::Loss => Some(
            per_seed
                .iter()
                .all(|s| s.change != 0.0 && (s.change > 0.0) == (estimate > 0.0)),
        ),
        Verdict::Equivalent => Some(per_seed.iter().all(|s| s.change.abs() < margin)),
        Verdict::Inconclusive | Verdict::Descriptive => None,
    }
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

#[cfg(test)]
mod tests;
