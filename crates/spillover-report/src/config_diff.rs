//! What makes compared runs different: the experiment keys whose values differ (dotted paths of
//! the resolved configs), and the benchmarks measured on different datasets in different runs.

use crate::schema::Results;
use crate::sections::Table;
use serde_json::Value;
use std::collections::BTreeMap;

/// Dotted key → value (as TOML-like text) of a resolved config.
fn flatten(v: &Value, prefix: &str, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(x, &key, out);
            }
        }
        Value::Null => {
            out.insert(prefix.to_string(), "(unset)".into());
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), format!("{s:?}"));
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// The keys whose values differ between the runs' configs (one row per key, one column per
/// run; a key a run does not have reads "(absent)").
pub fn differing_keys(runs: &[(String, Results)]) -> Table {
    let flat: Vec<BTreeMap<String, String>> = runs
        .iter()
        .map(|(_, r)| {
            let mut m = BTreeMap::new();
            flatten(&r.config, "", &mut m);
            m
        })
        .collect();
    let mut keys: Vec<&String> = flat.iter().flat_map(|m| m.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut t = Table {
        header: std::iter::once("key".to_string())
            .chain(runs.iter().map(|(n, _)| n.clone()))
            .collect(),
        ..Default::default()
    };
    for k in keys {
        let values: Vec<String> = flat
            .iter()
            .map(|m| m.get(k).cloned().unwrap_or_else(|| "(absent)".into()))
            .collect();
        if values.windows(2).any(|w| w[0] != w[1]) {
            t.rows
                .push(std::iter::once(k.clone()).chain(values).collect());
            t.classes.push(String::new());
        }
    }
    t
}

/// The dataset each benchmark was measured on in a run (benchmark → dataset name).
fn datasets(r: &Results) -> BTreeMap<String, String> {
    let names = r.data["available"].as_array().cloned().unwrap_or_default();
    let sets = r.data["eval_sets"].as_array().cloned().unwrap_or_default();
    names
        .iter()
        .zip(&sets)
        .filter_map(|(n, s)| {
            let bench = n.get(0)?.as_str()?.to_string();
            Some((bench, s["name"].as_str()?.to_string()))
        })
        .collect()
}

/// Benchmarks measured on different datasets in different runs: benchmark → one
/// "run: dataset" entry per run that measured it.
pub fn different_datasets(runs: &[(String, Results)]) -> BTreeMap<String, Vec<String>> {
    let per_run: Vec<BTreeMap<String, String>> = runs.iter().map(|(_, r)| datasets(r)).collect();
    let mut out = BTreeMap::new();
    let benches: std::collections::BTreeSet<&String> =
        per_run.iter().flat_map(|m| m.keys()).collect();
    for b in benches {
        let seen: Vec<(&String, &String)> = runs
            .iter()
            .zip(&per_run)
            .filter_map(|((name, _), m)| m.get(b).map(|d| (name, d)))
            .collect();
        if seen.windows(2).any(|w| w[0].1 != w[1].1) {
            let list = seen.iter().map(|(n, d)| format!("{n}: {d}")).collect();
            out.insert(b.clone(), list);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(config: Value, over_refusal: &str) -> Results {
        serde_json::from_value(serde_json::json!({
            "schema_version": 1, "table": [], "config": config,
            "data": {
                "available": [["refusal", 4], ["over_refusal", 4]],
                "eval_sets": [{"name": "harmbench"}, {"name": over_refusal}],
            },
        }))
        .unwrap()
    }

    #[test]
    fn only_differing_keys_and_datasets_are_listed() {
        let a = run(
            serde_json::json!({"name": "a", "data": {"benign_mix": 0.0, "n_train": 100}}),
            "xstest",
        );
        let b = run(
            serde_json::json!({"name": "b", "data": {"benign_mix": 1.0, "n_train": 100}}),
            "rho-overrefusal",
        );
        let runs = vec![("A".to_string(), a), ("B".to_string(), b)];
        let t = differing_keys(&runs);
        let keys: Vec<&str> = t.rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(keys, vec!["data.benign_mix", "name"]);
        assert_eq!(t.rows[0][1..], ["0.0".to_string(), "1.0".to_string()]);
        let d = different_datasets(&runs);
        assert_eq!(d.len(), 1);
        assert_eq!(d["over_refusal"], vec!["A: xstest", "B: rho-overrefusal"]);
    }
}
