//! The per-item table: one row per (seed, benchmark, metric, item) of the comparison, with the
//! item's value before and after and what the records say about it (the judge's label, reason
//! and refusal probability, the output, the extracted answer, the gold answer).

use super::frame::{Frame, Values};
use crate::compare::MetricSeries;
use crate::stages::evaluate::read_records;
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use spillover_evals::benchmarks::{BenchmarkKind, Record};
use std::collections::HashMap;
use std::path::Path;

/// One seed's comparison: its seed, the paired series of its table (in table order) and the
/// evaluation folders they came from.
pub struct SeedItems<'a> {
    pub seed: u64,
    pub series: Vec<MetricSeries>,
    pub before_dir: &'a Path,
    pub after_dir: &'a Path,
}

/// The records of one benchmark before and after, by item id. KL has no "before" records (it is
/// 0 before by definition).
struct Records {
    before: HashMap<String, Record>,
    after: HashMap<String, Record>,
}

impl Records {
    fn read(benchmark: &str, before_dir: &Path, after_dir: &Path) -> Result<Records> {
        let kind: BenchmarkKind = benchmark
            .parse()
            .with_context(|| format!("benchmark {benchmark} of the comparison"))?;
        let by_id = |rs: Vec<Record>| rs.into_iter().map(|r| (r.id.clone(), r)).collect();
        Ok(Records {
            before: if kind == BenchmarkKind::Kl {
                HashMap::new()
            } else {
                by_id(read_records(before_dir, kind)?)
            },
            after: by_id(read_records(after_dir, kind)?),
        })
    }
}

/// The first 16 hex digits of the SHA-256 of a prompt's UTF-8 text.
pub fn prompt_id(prompt: &str) -> String {
    Sha256::digest(prompt.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A string field of a record's `detail`.
fn detail_text(r: Option<&Record>, key: &str) -> Option<String> {
    r?.detail.as_ref()?.get(key)?.as_str().map(str::to_string)
}

/// A number field of a record's `detail`.
fn detail_number(r: Option<&Record>, key: &str) -> Option<f64> {
    r?.detail.as_ref()?.get(key)?.as_f64()
}

/// Builds the table (columns documented in docs/pandas.md).
pub fn table(seeds: &[SeedItems]) -> Result<Frame> {
    let mut cols = Cols::default();
    for s in seeds {
        let mut records: HashMap<&str, Records> = HashMap::new();
        for series in &s.series {
            let b = series.benchmark.as_str();
            if !records.contains_key(b) {
                records.insert(b, Records::read(b, s.before_dir, s.after_dir)?);
            }
            let recs = &records[b];
            for (i, id) in series.ids.iter().enumerate() {
                let before = recs.before.get(id);
                let after = recs.after.get(id);
                let prompt = before
                    .or(after)
                    .map(|r| r.prompt.as_str())
                    .with_context(|| format!("{b}/{}: item {id} has no record", series.metric))?;
                cols.seed.push(Some(s.seed as i64));
                cols.benchmark.push(Some(series.benchmark.clone()));
                cols.metric.push(Some(series.metric.clone()));
                cols.item_id.push(Some(id.clone()));
                cols.prompt_id.push(Some(prompt_id(prompt)));
                cols.before.push(Some(series.before[i]));
                cols.after.push(Some(series.after[i]));
                cols.label_before.push(before.and_then(|r| r.label.clone()));
                cols.label_after.push(after.and_then(|r| r.label.clone()));
                cols.reason_before.push(detail_text(before, "reason"));
                cols.reason_after.push(detail_text(after, "reason"));
                cols.p_refusal_before
                    .push(detail_number(before, "p_refusal"));
                cols.p_refusal_after.push(detail_number(after, "p_refusal"));
                cols.output_before
                    .push(before.and_then(|r| r.output.clone()));
                cols.output_after.push(after.and_then(|r| r.output.clone()));
                cols.extracted_before
                    .push(before.and_then(|r| r.extracted.clone()));
                cols.extracted_after
                    .push(after.and_then(|r| r.extracted.clone()));
                cols.gold
                    .push(before.or(after).and_then(|r| r.gold.clone()));
            }
        }
    }
    cols.frame()
}

/// The table's columns while rows are added.
#[derive(Default)]
struct Cols {
    seed: Vec<Option<i64>>,
    benchmark: Vec<Option<String>>,
    metric: Vec<Option<String>>,
    item_id: Vec<Option<String>>,
    prompt_id: Vec<Option<String>>,
    before: Vec<Option<f64>>,
    after: Vec<Option<f64>>,
    label_before: Vec<Option<String>>,
    label_after: Vec<Option<String>>,
    reason_before: Vec<Option<String>>,
    reason_after: Vec<Option<String>>,
    p_refusal_before: Vec<Option<f64>>,
    p_refusal_after: Vec<Option<f64>>,
    output_before: Vec<Option<String>>,
    output_after: Vec<Option<String>>,
    extracted_before: Vec<Option<String>>,
    extracted_after: Vec<Option<String>>,
    gold: Vec<Option<String>>,
}

impl Cols {
    fn frame(self) -> Result<Frame> {
        let mut f = Frame::default();
        f.add("seed", false, Values::Int(self.seed))?;
        f.add("benchmark", false, Values::Text(self.benchmark))?;
        f.add("metric", false, Values::Text(self.metric))?;
        f.add("item_id", false, Values::Text(self.item_id))?;
        f.add("prompt_id", false, Values::Text(self.prompt_id))?;
        f.add("before", false, Values::Number(self.before))?;
        f.add("after", false, Values::Number(self.after))?;
        f.add("label_before", true, Values::Text(self.label_before))?;
        f.add("label_after", true, Values::Text(self.label_after))?;
        f.add(
            "judge_reason_before",
            true,
            Values::Text(self.reason_before),
        )?;
        f.add("judge_reason_after", true, Values::Text(self.reason_after))?;
        f.add(
            "judge_p_refusal_before",
            true,
            Values::Number(self.p_refusal_before),
        )?;
        f.add(
            "judge_p_refusal_after",
            true,
            Values::Number(self.p_refusal_after),
        )?;
        f.add("output_before", true, Values::Text(self.output_before))?;
        f.add("output_after", true, Values::Text(self.output_after))?;
        f.add(
            "extracted_before",
            true,
            Values::Text(self.extracted_before),
        )?;
        f.add("extracted_after", true, Values::Text(self.extracted_after))?;
        f.add("gold", true, Values::Text(self.gold))?;
        Ok(f)
    }
}
