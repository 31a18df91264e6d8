//! The MRI's causal claims in the report (`mri.json` / `results.json` `mri.claims`, written by
//! spillover-mri's `claims` module): only the claims that pass their control are findings; the
//! others are listed as not passing, with the reason. Every row carries the effect, its interval,
//! its null percentile and its data split.

use crate::fmt;
use crate::sections::Table;
use serde_json::Value;

/// The claims section of an MRI summary, when the MRI tested claims.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClaimsReport {
    /// The metric the effects are measured in (a teacher-forced proxy).
    pub metric: String,
    pub ablation: String,
    pub departure: f64,
    pub departure_interval: [f64; 2],
    pub passing: Vec<ClaimRow>,
    pub failing: Vec<ClaimRow>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClaimRow {
    pub component: String,
    pub knockout: String,
    pub effect: f64,
    pub fraction: Option<f64>,
    pub interval: [f64; 2],
    pub confidence: f64,
    pub null_percentile: f64,
    pub null_draws: u64,
    pub harmless_kl: Option<f64>,
    pub split: String,
    pub statement: String,
    pub reason: String,
}

/// Reads `m["claims"]`; `None` when absent or null.
pub fn read(m: &Value) -> Option<ClaimsReport> {
    let c = m.get("claims").filter(|c| !c.is_null())?;
    let num = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let pair = |v: &Value| [num(&v[0]), num(&v[1])];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let mut out = ClaimsReport {
        metric: s(&c["metric"]),
        ablation: s(&c["ablation"]),
        departure: num(&c["departure"]),
        departure_interval: pair(&c["departure_interval"]),
        ..Default::default()
    };
    for x in c["claims"].as_array().into_iter().flatten() {
        let row = ClaimRow {
            component: s(&x["component"]),
            knockout: s(&x["knockout"]),
            effect: num(&x["effect"]),
            fraction: x["fraction"].as_f64(),
            interval: pair(&x["interval"]),
            confidence: num(&x["confidence"]),
            null_percentile: num(&x["null_percentile"]),
            null_draws: x["null_draws"].as_u64().unwrap_or(0),
            harmless_kl: x["harmless_kl"].as_f64(),
            split: s(&x["split"]),
            statement: s(&x["statement"]),
            reason: s(&x["reason"]),
        };
        if x["passed"].as_bool() == Some(true) {
            out.passing.push(row);
        } else {
            out.failing.push(row);
        }
    }
    Some(out)
}

/// The findings: one sentence per claim that passed its control.
pub fn findings(c: &ClaimsReport) -> Vec<String> {
    c.passing.iter().map(|r| r.statement.clone()).collect()
}

/// One line on the metric and the departure the claims explain.
pub fn preamble(c: &ClaimsReport) -> String {
    format!(
        "Causal claims, each against its null ({} ablation of directions; metric: {}). The tuned model's mean departure is {} nats (interval [{}, {}]).",
        c.ablation,
        c.metric,
        fmt::num(c.departure),
        fmt::num(c.departure_interval[0]),
        fmt::num(c.departure_interval[1]),
    )
}

/// Every claim with its control, passing ones first.
pub fn table(c: &ClaimsReport) -> Table {
    let mut t = Table::new(&[
        "component",
        "knock-out",
        "effect (nats)",
        "interval",
        "null percentile",
        "KL on harmless",
        "data split",
        "passes",
    ]);
    let rows = c.passing.iter().map(|r| (r, true));
    for (r, ok) in rows.chain(c.failing.iter().map(|r| (r, false))) {
        let effect = match r.fraction {
            Some(f) => format!("{} ({:.0}%)", fmt::num(r.effect), 100.0 * f),
            None => fmt::num(r.effect),
        };
        t.push(
            vec![
                r.component.clone(),
                r.knockout.clone(),
                effect,
                format!(
                    "[{}, {}] ({:.0}%)",
                    fmt::num(r.interval[0]),
                    fmt::num(r.interval[1]),
                    100.0 * r.confidence
                ),
                format!("{:.0} of {} draws", r.null_percentile, r.null_draws),
                r.harmless_kl.map_or("n/a".into(), fmt::num),
                r.split.clone(),
                if ok {
                    "yes".into()
                } else {
                    format!("no: {}", r.reason)
                },
            ],
            if ok { "gain" } else { "" },
        );
    }
    t
}

/// The claims' part of report.md: the preamble, the findings (passing claims) and the table.
pub fn markdown(s: &mut String, c: &ClaimsReport) {
    use std::fmt::Write;
    let _ = writeln!(s, "\n### Causal claims\n\n{}\n", preamble(c));
    let found = findings(c);
    if found.is_empty() {
        let _ = writeln!(s, "No claim passes its control.\n");
    }
    for f in found {
        let _ = writeln!(s, "- Finding: {f}");
    }
    let _ = writeln!(s, "\n{}", crate::markdown::table(&table(c)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn summary() -> Value {
        json!({"claims": {
        "metric": "KL proxy", "ablation": "mean", "departure": 0.5,
        "departure_interval": [0.4, 0.6], "prompts": 4,
        "claims": [
            {"id": "refusal_direction", "component": "the refusal direction (layer 3)",
             "knockout": "direction ablation (mean)", "statement": "S1", "effect": 0.01,
             "fraction": 0.02, "interval": [-0.01, 0.03], "confidence": 0.95,
             "null_percentile": 60.0, "null_median": 0.0, "null_p95": 0.02, "null_draws": 100,
             "null": "100 random", "prompts": 4, "split": "in-sample", "harmless_kl": 0.001,
             "passed": false, "reason": "percentile 60"},
            {"id": "shift_direction", "component": "the shift", "knockout": "direction ablation (mean)",
             "statement": "S2", "effect": 0.4, "fraction": 0.8, "interval": [0.3, 0.5],
             "confidence": 0.95, "null_percentile": 100.0, "null_median": 0.0, "null_p95": 0.01,
             "null_draws": 100, "null": "100 random", "prompts": 4, "split": "in-sample",
             "harmless_kl": null, "passed": true, "reason": ""}
        ]}})
    }

    #[test]
    fn only_passing_claims_are_findings_and_the_rest_are_listed_with_reasons() {
        let c = read(&summary()).unwrap();
        assert_eq!(findings(&c), vec!["S2".to_string()]);
        let t = table(&c);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[0][0], "the shift");
        assert_eq!(t.rows[0][7], "yes");
        assert_eq!(t.rows[1][7], "no: percentile 60");
        assert_eq!(t.rows[1][4], "60 of 100 draws");
        assert_eq!(t.rows[0][5], "n/a");
        assert!(t.rows[1][6].contains("in-sample"));
        assert!(preamble(&c).contains("mean ablation"));
        assert!(read(&json!({"claims": null})).is_none());
        assert!(read(&json!({})).is_none());
        let mut md = String::new();
        markdown(&mut md, &c);
        assert!(
            md.contains("- Finding: S2") && !md.contains("Finding: S1"),
            "{md}"
        );
    }
}
