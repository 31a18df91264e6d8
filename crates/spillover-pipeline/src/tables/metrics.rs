//! The metrics table: one row per (seed, benchmark, metric), the rows of each seed's
//! alignment-tax table (results.json's `seeds[].table`) flattened into columns.

use super::frame::{Frame, Values};
use crate::compare::{RowRole, TaxRow};
use anyhow::Result;

/// Builds the table from each seed's rows (columns documented in docs/pandas.md).
pub fn table(seeds: &[(u64, &[TaxRow])]) -> Result<Frame> {
    let rows: Vec<(u64, &TaxRow)> = seeds
        .iter()
        .flat_map(|(seed, rows)| rows.iter().map(move |r| (*seed, r)))
        .collect();
    let text = |f: &dyn Fn(&TaxRow) -> String| {
        Values::Text(rows.iter().map(|(_, r)| Some(f(r))).collect())
    };
    let num = |f: &dyn Fn(&TaxRow) -> Option<f64>| {
        Values::Number(rows.iter().map(|(_, r)| f(r)).collect())
    };
    let int =
        |f: &dyn Fn(&TaxRow) -> Option<i64>| Values::Int(rows.iter().map(|(_, r)| f(r)).collect());
    let boolean = |f: &dyn Fn(&TaxRow) -> Option<bool>| {
        Values::Bool(rows.iter().map(|(_, r)| f(r)).collect())
    };
    let mut t = Frame::default();
    t.add(
        "seed",
        false,
        Values::Int(rows.iter().map(|(s, _)| Some(*s as i64)).collect()),
    )?;
    t.add("benchmark", false, text(&|r| r.benchmark.clone()))?;
    t.add("metric", false, text(&|r| r.metric.clone()))?;
    t.add("role", false, text(&|r| r.role().name().to_string()))?;
    t.add("headline", false, boolean(&|r| Some(r.is_headline())))?;
    t.add("description", false, text(&|r| r.description.clone()))?;
    t.add("binary", false, boolean(&|r| Some(r.binary)))?;
    t.add(
        "higher_is_better",
        false,
        boolean(&|r| Some(r.higher_is_better)),
    )?;
    t.add("tested", false, boolean(&|r| Some(r.tested)))?;
    t.add("n", false, int(&|r| Some(r.n as i64)))?;
    t.add("before", true, num(&|r| Some(r.before.estimate)))?;
    t.add("before_lo", true, num(&|r| Some(r.before.lo)))?;
    t.add("before_hi", true, num(&|r| Some(r.before.hi)))?;
    t.add("after", true, num(&|r| Some(r.after.estimate)))?;
    t.add("after_lo", true, num(&|r| Some(r.after.lo)))?;
    t.add("after_hi", true, num(&|r| Some(r.after.hi)))?;
    t.add(
        "level_confidence",
        false,
        num(&|r| Some(r.before.confidence)),
    )?;
    t.add("change", true, num(&|r| Some(r.change.estimate)))?;
    t.add("change_lo", true, num(&|r| Some(r.change.lo)))?;
    t.add("change_hi", true, num(&|r| Some(r.change.hi)))?;
    t.add(
        "change_confidence",
        false,
        num(&|r| Some(r.change.confidence)),
    )?;
    t.add("test", false, text(&|r| r.test.clone()))?;
    t.add("p_value", true, num(&|r| Some(r.p_value)))?;
    t.add("p_holm", true, num(&|r| Some(r.p_holm)))?;
    t.add("alpha_row", true, num(&|r| Some(r.alpha_row)))?;
    t.add("holm_step", true, int(&|r| r.holm_step.map(|s| s as i64)))?;
    t.add(
        "equivalence_margin",
        true,
        num(&|r| r.equivalence.as_ref().map(|e| e.margin)),
    )?;
    t.add(
        "equivalent",
        true,
        boolean(&|r| r.equivalence.as_ref().map(|e| e.equivalent)),
    )?;
    t.add("mde", true, num(&|r| r.mde))?;
    t.add("p_min", true, num(&|r| Some(r.p_min)))?;
    t.add("blind", false, boolean(&|r| Some(r.blind)))?;
    t.add("verdict", false, text(&|r| r.verdict.as_str().to_string()))?;
    t.add("chance", true, num(&|r| r.chance))?;
    t.add(
        "mark",
        true,
        Values::Text(
            rows.iter()
                .map(|(_, r)| r.mark.map(|m| m.as_str().to_string()))
                .collect(),
        ),
    )?;
    t.add(
        "items_1_to_0",
        true,
        int(&|r| r.discordant.map(|(lost, _)| lost as i64)),
    )?;
    t.add(
        "items_0_to_1",
        true,
        int(&|r| r.discordant.map(|(_, gained)| gained as i64)),
    )?;
    Ok(t)
}
