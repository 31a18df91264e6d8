//! The MRI over seeds: the agreement of its claims (`results.json` `mri_agreement`, computed in
//! the pipeline's `stages/explain/agreement.rs`) as a table, and the robust claims as findings.
//! A claim is a finding only when it has a control, every seed agrees, and the agreement is
//! beyond its control.

use crate::fmt;
use crate::sections::Table;
use serde_json::Value;

/// What the table's columns mean.
pub const NOTE: &str = "Each seed's MRI ran on its own trained model, training prompts and \
evaluated items (files in seed-S/explain/; the figures and validation above are the first \
seed's). \"agree\": every seed makes the claim; \"p (control)\": the chance of an agreement at \
least this strong under the claim's control (pairwise p-values Bonferroni-adjusted over the pairs \
of seeds); \"robust\": controlled, every seed agrees and p is below stats.alpha. Claims without a \
control are shown, never called robust.";

/// The section's title.
pub fn title(a: &Value) -> String {
    format!(
        "The MRI over {} seeds: which claims every seed makes",
        seeds(a).len()
    )
}

fn seeds(a: &Value) -> Vec<u64> {
    a["seeds"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .collect()
}

fn yes_no(v: &Value) -> String {
    match v.as_bool() {
        Some(true) => "yes".into(),
        Some(false) => "no".into(),
        None => "n/a".into(),
    }
}

/// A seed's value of a claim, with its pairwise statistics when it has them.
fn values(c: &Value, seed: u64) -> String {
    c["per_seed"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["seed"].as_u64() == Some(seed))
        .and_then(|v| v["value"].as_str())
        .unwrap_or("—")
        .to_string()
}

fn pairs(c: &Value) -> String {
    c["pairs"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let s = |i: usize| p["seeds"][i].as_u64().unwrap_or(0);
            let num = |k: &str| p[k].as_f64().map_or("—".into(), |x| format!("{x:.3}"));
            format!(
                "seeds {}–{}: {} (null mean {}, p {})",
                s(0),
                s(1),
                num("statistic"),
                num("null_mean"),
                p["p_value"].as_f64().map_or("—".into(), fmt::p)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// One row per claim: the claim, each seed's value, the pairs, the control, p, agree, robust.
pub fn table(a: &Value) -> Table {
    let seeds = seeds(a);
    let mut header: Vec<String> = vec!["kind".into(), "claim".into()];
    header.extend(seeds.iter().map(|s| format!("seed {s}")));
    for h in ["between seeds", "control", "p (control)", "agree", "robust"] {
        header.push(h.into());
    }
    let mut t = Table {
        header,
        ..Default::default()
    };
    for c in a["claims"].as_array().into_iter().flatten() {
        let mut row = vec![
            c["kind"].as_str().unwrap_or("").to_string(),
            c["claim"].as_str().unwrap_or("").to_string(),
        ];
        row.extend(seeds.iter().map(|s| values(c, *s)));
        row.push(pairs(c));
        row.push(c["control"].as_str().unwrap_or("").to_string());
        row.push(c["p_value"].as_f64().map_or("—".into(), fmt::p));
        row.push(yes_no(&c["agree"]));
        row.push(if c["robust"].as_bool() == Some(true) {
            "robust".into()
        } else {
            "not robust".into()
        });
        t.classes.push(if c["robust"].as_bool() == Some(true) {
            "gain".into()
        } else {
            String::new()
        });
        t.rows.push(row);
    }
    t
}

/// Findings: each robust claim with its control, and how many claims were not robust.
pub fn findings(a: &Value) -> Vec<String> {
    let n = seeds(a).len();
    let claims: Vec<&Value> = a["claims"].as_array().into_iter().flatten().collect();
    let mut out: Vec<String> = claims
        .iter()
        .filter(|c| c["robust"].as_bool() == Some(true))
        .map(|c| {
            let per = if c["pairs"].as_array().is_some_and(|p| !p.is_empty()) {
                pairs(c)
            } else {
                seeds(a)
                    .iter()
                    .map(|s| format!("seed {s}: {}", values(c, *s)))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            let p = c["p_value"]
                .as_f64()
                .map_or(String::new(), |p| format!(", p {}", fmt::p(p)));
            format!(
                "MRI over {n} seeds, robust: {} ({}); control: {}{p}.",
                c["claim"].as_str().unwrap_or(""),
                per,
                c["control"].as_str().unwrap_or("")
            )
        })
        .collect();
    let weak = claims.len() - out.len();
    out.push(format!(
        "MRI over {n} seeds: {} of {} claims are robust (controlled, made by every seed, beyond their control); the other {weak} are not findings (see the MRI section's table).",
        claims.len() - weak,
        claims.len()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_robust_claims_become_findings_with_their_control() {
        let a = serde_json::json!({
            "seeds": [0, 1], "alpha": 0.05, "nulls": 100,
            "claims": [
                {"kind": "layer", "claim": "same layer", "control": "chance 0.03",
                 "per_seed": [{"seed": 0, "value": "layer 3"}, {"seed": 1, "value": "layer 3"}],
                 "controlled": true, "p_value": 0.03, "agree": true, "robust": true},
                {"kind": "effect_sign", "claim": "direction ablation lowers refusal",
                 "control": "none", "per_seed": [{"seed": 0, "value": "-0.2"}, {"seed": 1, "value": "-0.1"}],
                 "controlled": false, "p_value": null, "agree": true, "robust": false}
            ]
        });
        let f = findings(&a);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(
            f[0].contains("same layer") && f[0].contains("chance 0.03"),
            "{f:?}"
        );
        assert!(f.iter().all(|s| !s.contains("direction ablation")), "{f:?}");
        assert!(f[1].contains("1 of 2 claims are robust"), "{f:?}");
        let t = table(&a);
        assert_eq!(t.rows.len(), 2);
        assert_eq!(t.rows[1].last().unwrap(), "not robust");
        assert_eq!(t.header[2..4], ["seed 0", "seed 1"]);
    }
}
