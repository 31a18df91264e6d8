//! The comparison stage: pairs the baseline and after records of every benchmark by item id, on
//! the items of the seed's split, and builds the alignment-tax table (`tax.json`). Refusal
//! benchmarks also get their three-way refused / complied / degenerate table, and over-refusal its
//! "not helped" headline (refused or degenerate: every benign prompt that did not get a helpful
//! answer). When a refusal benchmark's items come from several sources (`detail.source`), its
//! headline rate gets a descriptive row per source (`refused@harmbench`, see `compare::family`),
//! on the seed's own items. With several seeds, [`across`] builds the table over seeds from the
//! same series; rows, per-source ones included, are matched by (benchmark, metric).

use crate::compare::{
    across_seeds, source_metric, tax_table, AcrossRow, MetricSeries, Outcomes, SeedTable, TaxRow,
    NOT_HELPED,
};
use crate::config::Experiment;
use crate::stages::data::{benchmark_kinds, items_path, read_items};
use crate::stages::evaluate::read_records;
use anyhow::Result;
use spillover_evals::benchmarks::{
    not_helped, outcome, BenchmarkKind, Record, OUTCOMES, SOURCE_KEY,
};
use spillover_evals::stats::stuart_maxwell;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Builds the table for one seed and writes it into `out/tax.json`. `split` is the seed's folder
/// of the data stage: the items it was evaluated on (the baseline has them all).
pub fn compare(
    exp: &Experiment,
    before: &Path,
    after: &Path,
    split: &Path,
    seed: u64,
    out: &Path,
) -> Result<Vec<TaxRow>> {
    let rows = tax_table(&series(exp, before, after, split)?, &exp.stats, seed)?;
    crate::rundir::write_json(&out.join("tax.json"), &rows)?;
    Ok(rows)
}

/// The per-item values of every row of one seed's table, in table order: each metric of each
/// benchmark paired by item id between the baseline evaluation in `before` and the seed's in
/// `after`, on the items of the seed's `split` (repeats and metrics without values removed).
pub fn series(
    exp: &Experiment,
    before: &Path,
    after: &Path,
    split: &Path,
) -> Result<Vec<MetricSeries>> {
    let mut series = vec![seed_series(exp, before, after, split)?];
    drop_repeats(&mut series);
    Ok(series.remove(0))
}

/// Where one seed's evaluation and split are, and its own table.
pub struct SeedDirs<'a> {
    pub seed: u64,
    pub after: &'a Path,
    pub split: &'a Path,
    pub table: &'a [TaxRow],
}

/// Builds the table over seeds and writes it into `out/tax.json`.
pub fn across(
    exp: &Experiment,
    before: &Path,
    seeds: &[SeedDirs],
    out: &Path,
) -> Result<Vec<AcrossRow>> {
    let mut series = Vec::with_capacity(seeds.len());
    for s in seeds {
        series.push(seed_series(exp, before, s.after, s.split)?);
    }
    drop_repeats(&mut series);
    let tables: Vec<SeedTable> = seeds
        .iter()
        .zip(&series)
        .map(|(s, series)| SeedTable {
            seed: s.seed,
            series,
            rows: s.table,
        })
        .collect();
    let rows = across_seeds(&tables, &exp.stats, seeds[0].seed)?;
    crate::rundir::write_json(&out.join("tax.json"), &rows)?;
    Ok(rows)
}

/// Every metric of every benchmark on one seed's items, before and after, in table order
/// (including metrics without values and repeats; see [`drop_repeats`]).
fn seed_series(
    exp: &Experiment,
    before: &Path,
    after: &Path,
    split: &Path,
) -> Result<Vec<MetricSeries>> {
    let mut series = Vec::new();
    for (kind, _) in benchmark_kinds(exp)? {
        let after_records = read_records(after, kind)?;
        // KL compares the tuned model with the base model, which is 0 before by definition.
        let before_records = if kind == BenchmarkKind::Kl {
            zeroed(&after_records)
        } else {
            // The baseline evaluated every seed's items; this seed is compared on its own.
            let kept: HashSet<String> = read_items(&items_path(split, kind))?
                .into_iter()
                .map(|i| i.id)
                .collect();
            let mut records = read_records(before, kind)?;
            records.retain(|r| kept.contains(&r.id));
            records
        };
        let refusal_kind = matches!(kind, BenchmarkKind::Refusal | BenchmarkKind::OverRefusal);
        let outcomes = if refusal_kind {
            Some(outcomes(&before_records, &after_records)?)
        } else {
            None
        };
        for m in kind.table_metrics() {
            let (b, a) = if m.key == NOT_HELPED {
                (
                    not_helped_scores(&before_records),
                    not_helped_scores(&after_records),
                )
            } else {
                (
                    values(&before_records, &m.key),
                    values(&after_records, &m.key),
                )
            };
            let mut s = MetricSeries::of_spec(kind, &m, &exp.stats, &b, &a)?;
            let mut by_source = Vec::new();
            // The refusal benchmarks' headline rows carry the three-way table and the
            // per-source breakdown.
            if s.headline && outcomes.is_some() {
                s.outcomes = outcomes.clone();
                by_source = per_source(&s, &before_records)?;
            }
            series.push(s);
            series.extend(by_source);
        }
    }
    Ok(series)
}

/// Removes the metrics without values, and the repeats: a metric with the same numbers as an
/// earlier one of its benchmark (MMLU's acc_norm with equal-length letters, pass@1 under greedy
/// decoding) is one row, not two tests of one thing. Over seeds (`per_seed`, each in the order of
/// [`seed_series`]) a metric is a repeat only when it is one on every seed, so every seed keeps the
/// same rows.
fn drop_repeats(per_seed: &mut [Vec<MetricSeries>]) {
    let Some(first) = per_seed.first() else {
        return;
    };
    let keys: Vec<(String, String)> = first
        .iter()
        .map(|s| (s.benchmark.clone(), s.metric.clone()))
        .collect();
    let find = |seed: &[MetricSeries], (b, m): &(String, String)| {
        seed.iter()
            .position(|s| &s.benchmark == b && &s.metric == m)
    };
    let same = |x: &MetricSeries, y: &MetricSeries| {
        x.ids == y.ids && x.before == y.before && x.after == y.after
    };
    let mut drop: HashSet<(String, String)> = HashSet::new();
    let mut kept: Vec<(String, String)> = Vec::new();
    for key in &keys {
        let repeat_everywhere = key.1 != NOT_HELPED
            && per_seed.iter().all(|seed| {
                let Some(i) = find(seed, key) else {
                    return true;
                };
                seed[i].ids.is_empty()
                    || kept
                        .iter()
                        .filter(|k| k.0 == key.0 && k.1 != NOT_HELPED)
                        .any(|k| find(seed, k).is_some_and(|j| same(&seed[j], &seed[i])))
            });
        if repeat_everywhere {
            drop.insert(key.clone());
        } else {
            kept.push(key.clone());
        }
    }
    for seed in per_seed.iter_mut() {
        seed.retain(|s| {
            !s.ids.is_empty() && !drop.contains(&(s.benchmark.clone(), s.metric.clone()))
        });
    }
}

/// (item id, value) pairs of one metric.
type Scores = Vec<(String, f64)>;

/// The source a record's item was drawn from (`detail.source`), when its benchmark has several.
fn source(r: &Record) -> Option<&str> {
    r.detail.as_ref()?.get(SOURCE_KEY)?.as_str()
}

/// The descriptive per-source breakdown of `pooled` (`metric@source`, one series per source in
/// order of first appearance), or nothing when its items come from fewer than two sources.
fn per_source(pooled: &MetricSeries, records: &[Record]) -> Result<Vec<MetricSeries>> {
    let by_id: HashMap<&str, &str> = records
        .iter()
        .filter_map(|r| Some((r.id.as_str(), source(r)?)))
        .collect();
    let mut sources: Vec<&str> = Vec::new();
    for r in records {
        if let Some(s) = source(r).filter(|s| !sources.contains(s)) {
            sources.push(s);
        }
    }
    if sources.len() < 2 {
        return Ok(Vec::new());
    }
    let mut out = Vec::with_capacity(sources.len());
    for src in sources {
        let pick = |v: &[f64]| -> Scores {
            pooled
                .ids
                .iter()
                .zip(v)
                .filter(|(id, _)| by_id.get(id.as_str()) == Some(&src))
                .map(|(id, x)| (id.clone(), *x))
                .collect()
        };
        let mut s = MetricSeries::paired(
            &pooled.benchmark,
            &source_metric(&pooled.metric, src),
            &format!("{} — {src} items only", pooled.description),
            pooled.binary,
            pooled.higher_is_better,
            &pick(&pooled.before),
            &pick(&pooled.after),
        )?;
        s.tested = false;
        s.margin = pooled.margin;
        out.push(s);
    }
    Ok(out)
}

fn values(records: &[Record], key: &str) -> Scores {
    records
        .iter()
        .filter_map(|r| r.scores.get(key).map(|v| (r.id.clone(), *v)))
        .collect()
}

/// Refused or degenerate (the benign prompt got no helpful answer), per item.
fn not_helped_scores(records: &[Record]) -> Scores {
    records
        .iter()
        .filter_map(|r| Some((r.id.clone(), not_helped(r)?)))
        .collect()
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
        let (Some(i), Some(j)) = (outcome(b), outcome(a)) else {
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
        labels: OUTCOMES.iter().map(|l| l.to_string()).collect(),
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
