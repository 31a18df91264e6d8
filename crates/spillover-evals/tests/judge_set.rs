//! The labelled set of our own models' replies (`data/judge-set/`): its shape, and the agreement
//! table in its README recomputed here from `labels.csv` (the table is written by
//! `scripts/judge-set/agreement.py`; this is an independent recomputation in Rust).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use spillover_evals::judge::data::{read_labelled, Columns, Dataset, LabelMap};
use spillover_evals::judge::eval::Confusion;
use spillover_evals::judge::Label;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/judge-set")
}

/// `labels.csv` read with `label` as the label column, grouped by `group`.
fn read(label: &str, group: &str) -> Dataset {
    let cols = Columns {
        prompt: "prompt",
        response: "response",
        label,
        group: Some(group),
    };
    read_labelled(&dir().join("labels.csv"), cols, &LabelMap::standard()).unwrap()
}

struct Row {
    model: String,
    condition: String,
    a: Label,
    b: Label,
    label: Label,
}

fn rows() -> Vec<Row> {
    let (a, b) = (read("reader_a", "model"), read("reader_b", "condition"));
    let fin = read("label", "condition");
    assert_eq!(a.items.len(), b.items.len());
    assert_eq!(a.items.len(), fin.items.len());
    a.items
        .iter()
        .zip(&b.items)
        .zip(&fin.items)
        .map(|((x, y), z)| {
            assert_eq!((x.line, &x.response), (y.line, &y.response));
            Row {
                model: x.group.clone().unwrap(),
                condition: y.group.clone().unwrap(),
                a: x.label,
                b: y.label,
                label: z.label,
            }
        })
        .collect()
}

#[test]
fn the_set_covers_both_models_and_every_condition_with_600_items() {
    let rows = rows();
    assert!(rows.len() >= 600, "{} items", rows.len());
    let mut per: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for r in &rows {
        *per.entry((r.model.as_str(), r.condition.as_str()))
            .or_default() += 1;
    }
    for model in ["smollm2-135m-instruct", "gemma-3-270m"] {
        for cond in ["base", "lora-fixed", "lora-pool", "actadd", "ablate"] {
            let n = per.get(&(model, cond)).copied().unwrap_or(0);
            assert!(n >= 40, "{model}/{cond}: {n} items");
        }
    }
    // Where the two readers agree, that is the label; a disagreement was decided by a third reading.
    for r in &rows {
        if r.a == r.b {
            assert_eq!(r.label, r.a);
        }
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

#[test]
fn the_readme_table_matches_the_labels() {
    let rows = rows();
    let mut groups: BTreeMap<(String, String), Vec<&Row>> = BTreeMap::new();
    for r in &rows {
        groups
            .entry((r.model.clone(), r.condition.clone()))
            .or_default()
            .push(r);
    }
    let line = |model: &str, cond: &str, rs: &[&Row]| {
        let c = Confusion::from_pairs(rs.iter().map(|r| (r.a, r.b)));
        let k = c.kappa();
        let k = if k.is_nan() {
            "n/a".to_string()
        } else {
            format!("{k:.3}")
        };
        let counts: Vec<String> = Label::ALL
            .iter()
            .map(|l| rs.iter().filter(|r| r.label == *l).count().to_string())
            .collect();
        format!(
            "| {model} | {cond} | {} | {} | {k} | {} |",
            rs.len(),
            pct(c.agreement()),
            counts.join(" | ")
        )
    };
    let mut expected: Vec<String> = groups.iter().map(|((m, c), rs)| line(m, c, rs)).collect();
    let all: Vec<&Row> = rows.iter().collect();
    expected.push(line("all", "all", &all));

    let readme = std::fs::read_to_string(dir().join("README.md")).unwrap();
    let begin = "<!-- BEGIN scripts/judge-set/agreement.py -->";
    let end = "<!-- END scripts/judge-set/agreement.py -->";
    let start = readme.find(begin).expect("BEGIN marker") + begin.len();
    let stop = readme.find(end).expect("END marker");
    let table: Vec<&str> = readme[start..stop]
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| model"))
        .collect();
    assert_eq!(table, expected);
}
