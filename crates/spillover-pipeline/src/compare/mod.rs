//! The alignment-tax table: one row per metric, before and after on the same items, the change
//! with an interval that agrees with the row's test, Holm's correction across the tested rows, a
//! power statement, and one of four verdicts.
//!
//! - Binary per-item outcomes (refused, correct): rates with Wilson intervals; the change with
//!   Newcombe's paired score interval, and the p-value that inverts it.
//! - Continuous per-item values (log-probabilities, nll per passage): means with bootstrap
//!   intervals; the change with the interval that inverts the paired sign-flip test.
//! - Holm: a row rejected at step i is shown with its (1 − α/(m − i)) interval; rows after the
//!   step where Holm stopped (k rejections) with the (1 − α/(m − k)) interval, the level they
//!   failed at. Since each interval inverts its test, an interval excludes 0 exactly when the
//!   row is a gain or a loss.
//! - Verdicts: gain / loss (rejected, by direction), equivalent (two one-sided tests at α': the
//!   (1 − 2α') interval inside ±margin), inconclusive (neither), descriptive (outside the family).
//! - Power: the minimum detectable effect at 80% power for the row's n and α'; a row whose most
//!   extreme possible data could not reach α' is "blind".

mod family;
pub mod marks;
mod seeds;

pub use family::{base_metric, margin_for, metric_names, source_metric, NOT_HELPED, SOURCE_SEP};
pub use marks::{mark, Mark, FLOOR_RATE};
pub use seeds::{across_seeds, AcrossRow, SeedChange, SeedTable};

use crate::config::StatsSection;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use spillover_evals::benchmarks::{
    resolve_spec, BenchmarkKind, MetricRole, MetricSpec, DEFAULT_MARGIN,
};
use spillover_evals::stats::{
    aggregate_seeds, holm, mcnemar_exact, mde_paired_binary, mde_paired_continuous, nan_if_null,
    newcombe_p_value, newcombe_paired, paired_bootstrap, tost, wilson, BootstrapOptions, Interval,
    PairedTable, SeedSummary, SignFlip, StatsError, StuartMaxwell, Tost,
};
use std::collections::HashMap;

/// The power the minimum detectable effects are computed for.
pub const MDE_POWER: f64 = 0.8;

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
    /// In the Holm family (false: descriptive, an interval and no verdict).
    pub tested: bool,
    /// Equivalence margin in the metric's units.
    pub margin: f64,
    /// The three-way outcome table of a refusal benchmark, attached to its headline row.
    pub outcomes: Option<Outcomes>,
    /// The rate a model without the capability gets (see [`marks`]); None for most metrics.
    pub chance: Option<f64>,
    /// What the row measures (safety, over-refusal, capability, diagnostic).
    pub role: MetricRole,
    /// A headline row of its role (the safety target, over-refusal's headline, a capability
    /// accuracy).
    pub headline: bool,
}

impl MetricSeries {
    /// The row of `spec` (a table metric of `kind`): tested unless the spec is descriptive, with
    /// the margin in force, its chance level, role and headline flag.
    pub fn of_spec(
        kind: BenchmarkKind,
        spec: &MetricSpec,
        stats: &StatsSection,
        before: &[(String, f64)],
        after: &[(String, f64)],
    ) -> Result<MetricSeries> {
        let mut s = MetricSeries::paired(
            kind.name(),
            &spec.key,
            &spec.description,
            spec.binary,
            spec.higher_is_better,
            before,
            after,
        )?;
        s.tested = !spec.descriptive;
        s.margin = family::margin_for(stats, kind, spec);
        s.chance = spec.chance;
        s.role = spec.role();
        s.headline = spec.headline;
        Ok(s)
    }

    /// Pairs `(id, value)` lists by id; every id must be in both (the same items before and after).
    /// Tested, not a headline, with the role and built-in margin the benchmark's spec of `metric`
    /// has (diagnostic and [`DEFAULT_MARGIN`] for a name no benchmark declares).
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
            tested: true,
            margin: resolve_spec(benchmark, metric).map_or(DEFAULT_MARGIN, |m| m.margin),
            outcomes: None,
            chance: None,
            role: MetricRole::resolve(benchmark, metric),
            headline: false,
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

/// Refused / complied / degenerate before and after, with the marginal-homogeneity test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcomes {
    /// The category names, in the order of the counts: refused, complied, degenerate.
    pub labels: Vec<String>,
    /// `table[before][after]`.
    pub table: [[u64; 3]; 3],
    pub before: [u64; 3],
    pub after: [u64; 3],
    /// Descriptive: reported, not in the Holm family.
    pub stuart_maxwell: StuartMaxwell,
}

/// What a row says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Moved in the good direction, significant after Holm's correction.
    Gain,
    /// Moved in the bad direction, significant after Holm's correction.
    Loss,
    /// Not significant, and the (1 − 2α') interval lies inside ±margin.
    Equivalent,
    /// Neither a significant change nor shown equivalent: the data cannot tell.
    Inconclusive,
    /// Outside the test family: an interval, no test.
    Descriptive,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Gain => "gain",
            Verdict::Loss => "loss",
            Verdict::Equivalent => "equivalent",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Descriptive => "descriptive",
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaxRow {
    pub benchmark: String,
    pub metric: String,
    /// What the row measures; `None` only in a table written before rows carried their role
    /// (read it with [`TaxRow::role`]).
    #[serde(default)]
    pub role: Option<MetricRole>,
    /// A headline row of its role; `None` only in a table written before rows carried it (read
    /// it with [`TaxRow::is_headline`]).
    #[serde(default)]
    pub headline: Option<bool>,
    pub description: String,
    pub binary: bool,
    pub higher_is_better: bool,
    pub n: usize,
    /// Mean before (a rate for binary metrics) with its interval (Wilson / bootstrap of the mean).
    pub before: Interval,
    pub after: Interval,
    /// after − before, with the interval at the level of the verdict (1 − α'; `stats.confidence`
    /// for descriptive rows): Newcombe's score interval (binary) or the sign-flip inversion.
    pub change: Interval,
    /// `mcnemar_exact_newcombe` (binary: the larger of the exact McNemar p and the smallest α whose Newcombe interval excludes 0), `sign_flip_permutation`, or `none` (descriptive).
    pub test: String,
    /// Null (NaN) for descriptive rows.
    #[serde(deserialize_with = "nan_if_null")]
    pub p_value: f64,
    /// Holm-adjusted across the tested rows.
    #[serde(deserialize_with = "nan_if_null")]
    pub p_holm: f64,
    /// Whether the row is in the Holm family.
    pub tested: bool,
    /// The level the verdict used, α' = α/(m − step + 1) (NaN for descriptive rows).
    #[serde(deserialize_with = "nan_if_null")]
    pub alpha_row: f64,
    /// The Holm step (1-based) whose threshold the row was judged at.
    pub holm_step: Option<usize>,
    /// The equivalence test at α' (tested rows).
    pub equivalence: Option<Tost>,
    /// The smallest change detectable with 80% power at α' (rate fraction or metric units);
    /// `None` when not even the largest possible change would be, or for descriptive rows.
    pub mde: Option<f64>,
    /// The smallest p-value any data of this size could give.
    #[serde(deserialize_with = "nan_if_null")]
    pub p_min: f64,
    /// `p_min > α'`: no data of this size could make this row a gain or a loss.
    pub blind: bool,
    pub verdict: Verdict,
    /// Binary metrics: items that went 1 → 0 and 0 → 1.
    pub discordant: Option<(u64, u64)>,
    /// Refusal benchmarks: the three-way outcome table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcomes: Option<Outcomes>,
    /// Capability rates: the rate without the capability (0 free-form, 1/k for k choices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chance: Option<f64>,
    /// At the floor or at chance for this model ([`marks`]): kept out of the findings' headline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark: Option<Mark>,
}

/// A table row that records its metric's role and headline flag — both `None` in a table written
/// before rows carried them, and then resolved from the row's names.
pub trait RowRole {
    /// The row's benchmark and metric names.
    fn names(&self) -> (&str, &str);
    /// The recorded role and headline flag.
    fn recorded(&self) -> (Option<MetricRole>, Option<bool>);
    /// Records the role and headline flag.
    fn record(&mut self, role: MetricRole, headline: bool);

    /// The row's role, resolved from its names for a table written before rows carried it.
    fn role(&self) -> MetricRole {
        self.recorded().0.unwrap_or_else(|| {
            let (benchmark, metric) = self.names();
            MetricRole::resolve(benchmark, metric)
        })
    }

    /// Whether the row is a headline of its role (resolved from its names when not recorded).
    fn is_headline(&self) -> bool {
        self.recorded().1.unwrap_or_else(|| {
            let (benchmark, metric) = self.names();
            spec_headline(benchmark, metric)
        })
    }

    /// Fills `role` and `headline` of a row read from a table written before rows carried them.
    fn fill_roles(&mut self) {
        let (role, headline) = (self.role(), self.is_headline());
        self.record(role, headline);
    }
}

impl RowRole for TaxRow {
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

/// Whether the code's spec of `benchmark/metric` is a headline row.
pub(crate) fn spec_headline(benchmark: &str, metric: &str) -> bool {
    resolve_spec(benchmark, metric).is_some_and(|m| m.headline)
}

/// The row's test, able to give an interval at any level.
pub(crate) enum Tester {
    Binary(PairedTable),
    Continuous(SignFlip),
}

impl Tester {
    /// The test of `s` (binary values are read as ≥ 0.5), seeded for the sign flips.
    fn of(s: &MetricSeries, stats: &StatsSection, seed: u64) -> Result<Tester> {
        Ok(if s.binary {
            let b: Vec<bool> = s.before.iter().map(|v| *v >= 0.5).collect();
            let a: Vec<bool> = s.after.iter().map(|v| *v >= 0.5).collect();
            Tester::Binary(PairedTable::from_pairs(&b, &a)?)
        } else {
            Tester::Continuous(SignFlip::new(&s.before, &s.after, stats.resamples, seed)?)
        })
    }
    /// The smallest α at which the interval can exclude 0 (the sign-flip interval is unbounded
    /// below its test's smallest p; Newcombe's interval always has finite ends).
    fn interval_p_min(&self) -> f64 {
        match self {
            Tester::Binary(_) => 0.0,
            Tester::Continuous(s) => s.p_min(),
        }
    }
    fn interval(&self, confidence: f64) -> Result<Interval, StatsError> {
        match self {
            Tester::Binary(t) => newcombe_paired(*t, confidence),
            Tester::Continuous(s) => s.interval(confidence),
        }
    }
    /// Binary rows: the exact (conditional) McNemar test decides, and never less strictly than
    /// the Newcombe interval: p = max(exact McNemar, the smallest α whose Newcombe interval
    /// excludes 0). So a rejection always comes with an interval that excludes 0 at the row's
    /// level, and the score interval's optimistic far tails at small n never make a rejection
    /// (8 of 8 flips: exact 1/128, Newcombe alone about 1e-5).
    fn p_value(&self) -> Result<f64, StatsError> {
        match self {
            Tester::Binary(t) => binary_p(*t),
            Tester::Continuous(s) => Ok(s.p_value()),
        }
    }
    /// The smallest p any data of this size could give (every item changing the same way).
    fn p_min(&self) -> Result<f64, StatsError> {
        match self {
            Tester::Binary(t) => binary_p(PairedTable {
                both: 0,
                lost: 0,
                gained: t.n(),
                neither: 0,
            }),
            Tester::Continuous(s) => Ok(s.p_min()),
        }
    }
    fn mde(&self, alpha: f64) -> Option<f64> {
        match self {
            Tester::Binary(t) => {
                let n = t.n() as usize;
                let discordance = (t.lost + t.gained) as f64 / n as f64;
                mde_paired_binary(n, discordance, alpha, MDE_POWER)
            }
            Tester::Continuous(s) => {
                let sd = s.sd();
                (sd > 0.0).then(|| mde_paired_continuous(s.n(), sd, alpha, MDE_POWER))
            }
        }
    }
}

/// The binary rows' p-value (see [`Tester::p_value`]).
fn binary_p(t: PairedTable) -> Result<f64, StatsError> {
    let exact = mcnemar_exact(t.lost, t.gained).p_value;
    Ok(exact.max(newcombe_p_value(t)?))
}

/// Builds the table; `seed` fixes the resampling.
pub fn tax_table(series: &[MetricSeries], stats: &StatsSection, seed: u64) -> Result<Vec<TaxRow>> {
    let mut rows = Vec::with_capacity(series.len());
    let mut testers = Vec::with_capacity(series.len());
    for (k, s) in series.iter().enumerate() {
        if s.ids.is_empty() {
            bail!("{}/{}: no items to compare", s.benchmark, s.metric);
        }
        let boot_k = BootstrapOptions {
            resamples: stats.resamples,
            confidence: stats.confidence,
            seed: seed.wrapping_add(k as u64),
        };
        let tester = Tester::of(s, stats, boot_k.seed)?;
        let (before, after, discordant) = match &tester {
            Tester::Binary(t) => {
                let n = t.n();
                (
                    wilson(t.both + t.lost, n, stats.confidence)?,
                    wilson(t.both + t.gained, n, stats.confidence)?,
                    Some((t.lost, t.gained)),
                )
            }
            Tester::Continuous(_) => {
                let mean_ci = |x: &[f64]| paired_bootstrap(x, x, |v, _| mean(v), boot_k);
                (mean_ci(&s.before)?, mean_ci(&s.after)?, None)
            }
        };
        let (test, p_value) = match (&tester, s.tested) {
            (_, false) => ("none", f64::NAN),
            (Tester::Binary(_), true) => ("mcnemar_exact_newcombe", tester.p_value()?),
            (Tester::Continuous(_), true) => ("sign_flip_permutation", tester.p_value()?),
        };
        rows.push(TaxRow {
            benchmark: s.benchmark.clone(),
            metric: s.metric.clone(),
            role: Some(s.role),
            headline: Some(s.headline),
            description: s.description.clone(),
            binary: s.binary,
            higher_is_better: s.higher_is_better,
            n: s.ids.len(),
            before,
            after,
            change: tester.interval(stats.confidence)?,
            test: test.into(),
            p_value,
            p_holm: f64::NAN,
            tested: s.tested,
            alpha_row: f64::NAN,
            holm_step: None,
            equivalence: None,
            mde: None,
            p_min: tester.p_min()?,
            blind: false,
            verdict: Verdict::Descriptive,
            discordant,
            outcomes: s.outcomes.clone(),
            chance: s.chance,
            mark: None,
        });
        let r = rows.last_mut().expect("just pushed");
        if s.binary {
            r.mark = mark(s.chance, &r.before, &r.after);
        }
        testers.push(tester);
    }
    let family: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].tested).collect();
    let p: Vec<f64> = family.iter().map(|&i| rows[i].p_value).collect();
    for (j, step) in holm_steps(&p, stats.alpha)?.into_iter().enumerate() {
        let i = family[j];
        let s = &series[i];
        let tester = &testers[i];
        let r = &mut rows[i];
        r.p_holm = step.p_holm;
        r.alpha_row = step.alpha_row;
        r.holm_step = Some(step.step);
        r.change = tester.interval(1.0 - step.alpha_row)?;
        r.blind = r.p_min > step.alpha_row;
        r.mde = if r.blind {
            None
        } else {
            tester.mde(step.alpha_row)
        };
        let tost = tost(|c| tester.interval(c), step.alpha_row, s.margin)?;
        r.equivalence = Some(tost);
        r.verdict = verdict(step.rejected, &r.change, r.higher_is_better, &tost);
        if !step.rejected {
            // The interval inverts the test, so it holds 0 when the test does not reject; this
            // only widens it where bisection met rounding at the edge.
            r.change.lo = r.change.lo.min(0.0);
            r.change.hi = r.change.hi.max(0.0);
        }
    }
    Ok(rows)
}

/// Where Holm's step-down procedure judged one p-value of a family.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HolmStep {
    pub p_holm: f64,
    /// The level the row is judged at: α/(m − step + 1).
    pub alpha_row: f64,
    /// 1-based: a rejected row's own step; for the others, the step where Holm stopped.
    pub step: usize,
    pub rejected: bool,
}

/// Holm's step-down over `p` (in the family's order): rejections until the first p above its
/// threshold; each p gets its adjusted value and the level it was judged at.
pub(crate) fn holm_steps(p: &[f64], alpha: f64) -> Result<Vec<HolmStep>> {
    let adjusted = holm(p)?;
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p[a].total_cmp(&p[b]).then(a.cmp(&b)));
    let rejected = order
        .iter()
        .enumerate()
        .take_while(|(step, &j)| p[j] <= alpha / (m - step) as f64)
        .count();
    let mut out = vec![
        HolmStep {
            p_holm: f64::NAN,
            alpha_row: f64::NAN,
            step: 0,
            rejected: false,
        };
        m
    ];
    for (step, &j) in order.iter().enumerate() {
        let is_rejected = step < rejected;
        let judged_at = if is_rejected { step } else { rejected };
        out[j] = HolmStep {
            p_holm: adjusted[j],
            alpha_row: alpha / (m - judged_at) as f64,
            step: judged_at + 1,
            rejected: is_rejected,
        };
    }
    Ok(out)
}

/// A tested row's verdict: gain or loss when rejected with an interval that excludes 0 (by the
/// good direction), else equivalent when the two one-sided tests say so, else inconclusive.
pub(crate) fn verdict(
    rejected: bool,
    change: &Interval,
    higher_is_better: bool,
    tost: &Tost,
) -> Verdict {
    let excludes_zero = change.lo > 0.0 || change.hi < 0.0;
    if rejected && excludes_zero {
        if (change.estimate > 0.0) == higher_is_better {
            Verdict::Gain
        } else {
            Verdict::Loss
        }
    } else if tost.equivalent {
        Verdict::Equivalent
    } else {
        Verdict::Inconclusive
    }
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
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
    /// How many seeds gave each verdict.
    pub verdicts: VerdictCounts,
}

/// Verdict counts over seeds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerdictCounts {
    pub gain: usize,
    pub loss: usize,
    pub equivalent: usize,
    pub inconclusive: usize,
    pub descriptive: usize,
}

/// Aggregates the tables of several seeds: rows matched by (benchmark, metric), in order of first
/// appearance; a row counts the seeds whose table has it.
pub fn aggregate(tables: &[(u64, Vec<TaxRow>)]) -> Result<Vec<SeedRow>> {
    let mut keys: Vec<(&str, &str)> = Vec::new();
    for (_, rows) in tables {
        for r in rows {
            let key = (r.benchmark.as_str(), r.metric.as_str());
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    let mut out = Vec::with_capacity(keys.len());
    for (bench, metric) in keys {
        let mut change = Vec::new();
        let mut after = Vec::new();
        let mut verdicts = VerdictCounts::default();
        for (seed, rows) in tables {
            let mut found = rows
                .iter()
                .filter(|r| r.benchmark == bench && r.metric == metric);
            let Some(r) = found.next() else {
                continue;
            };
            if found.next().is_some() {
                bail!("seed {seed}: two rows for {bench}/{metric}");
            }
            change.push((*seed, r.change.estimate));
            after.push((*seed, r.after.estimate));
            match r.verdict {
                Verdict::Gain => verdicts.gain += 1,
                Verdict::Loss => verdicts.loss += 1,
                Verdict::Equivalent => verdicts.equivalent += 1,
                Verdict::Inconclusive => verdicts.inconclusive += 1,
                Verdict::Descriptive => verdicts.descriptive += 1,
            }
        }
        out.push(SeedRow {
            benchmark: bench.into(),
            metric: metric.into(),
            change: aggregate_seeds(&change)?,
            after: aggregate_seeds(&after)?,
            verdicts,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
