//! The content of a run report as plain text pieces (table cells, bullet lines), rendered by both
//! the Markdown and the HTML writer so the two always say the same thing.

use crate::fmt;
use crate::samples::SampleSet;
use crate::schema::{Results, Row};
use serde_json::Value;

/// A table: header cells and rows of cells (plain text).
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Per row, a CSS class hint (`gain`, `loss`, ``).
    pub classes: Vec<String>,
}

impl Table {
    pub(crate) fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }
    pub(crate) fn push(&mut self, cells: Vec<String>, class: &str) {
        self.rows.push(cells);
        self.classes.push(class.to_string());
    }
}

/// One line describing the run: model, intervention, settings.
pub fn overview(r: &Results) -> Vec<(String, String)> {
    let mut v = vec![
        ("Model".to_string(), r.config_str("model.id")),
        ("Intervention".to_string(), intervention(r)),
        ("Profile".to_string(), r.config_str("profile")),
        ("Seeds".to_string(), seeds_line(r)),
        ("Refusal judge".to_string(), r.config_str("judge.kind")),
        (
            "Statistics".to_string(),
            format!(
                "{:.0}% intervals, α={} (Holm across the table), {} resamples",
                100.0 * r.confidence(),
                r.alpha(),
                r.config_str("stats.resamples")
            ),
        ),
    ];
    v.retain(|(_, b)| !b.is_empty());
    v
}

/// How many intervention seeds, and which table is which.
fn seeds_line(r: &Results) -> String {
    let list = r
        .seeds
        .iter()
        .map(|s| s.seed.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let first = r.first_seed().map_or("?".into(), |s| s.to_string());
    if r.across_seeds.is_empty() {
        format!(
            "{} (intervention seed{} {list}; the table is seed {first})",
            r.seeds.len(),
            if r.seeds.len() == 1 { "" } else { "s" },
        )
    } else {
        format!(
            "{} (intervention seeds {list}, each with its own draw of training prompts; the first table is over the seeds, then seed {first}'s own)",
            r.seeds.len()
        )
    }
}

fn intervention(r: &Results) -> String {
    let Some(seed) = r.seeds.first() else {
        return r.config_str("intervention.kind");
    };
    let i = &seed.intervention;
    let mut parts = vec![i["kind"].as_str().unwrap_or("?").to_string()];
    for key in ["alpha", "layer", "coeff", "direction"] {
        match &i[key] {
            Value::Null => {}
            Value::String(s) => parts.push(format!("{key}={s}")),
            Value::Number(n) => parts.push(format!("{key}={n}")),
            _ => {}
        }
    }
    for key in ["model", "epochs", "lr", "batch_size"] {
        let v = r.config_str(&format!("intervention.{key}"));
        if !v.is_empty() {
            parts.push(format!("{key}={v}"));
        }
    }
    parts.join(", ")
}

/// The seed-style summary.
pub fn headline(r: &Results) -> Table {
    let mut t = Table::new(&["", "before", "after", "verdict", "from"]);
    for h in &r.headline {
        let over_seeds = r.across_seeds.iter().map(|a| &a.row);
        let class = over_seeds
            .chain(&r.table)
            .find(|x| x.key() == h.source)
            .map_or("", |x| x.verdict.as_str());
        t.push(
            vec![
                h.topic.clone(),
                h.before.clone(),
                h.after.clone(),
                fmt::verdict(&h.verdict),
                h.source.clone(),
            ],
            class,
        );
    }
    t
}

/// The alignment-tax table.
pub fn tax(rows: &[Row]) -> Table {
    let mut t = Table::new(&[
        "benchmark",
        "metric",
        "n",
        "before",
        "after",
        "change [interval]",
        "level",
        "test",
        "p",
        "p (Holm)",
        "MDE (80%)",
        "verdict",
    ]);
    for x in rows {
        let arrow = if x.higher_is_better { "↑" } else { "↓" };
        t.push(
            vec![
                x.benchmark.clone(),
                format!("{} {arrow}", x.metric),
                x.n.to_string(),
                fmt::interval(x, &x.before),
                fmt::interval(x, &x.after),
                fmt::change(x),
                fmt::level(x.change.confidence),
                x.test.replace('_', " "),
                fmt::p(x.p_value),
                fmt::p(x.p_holm),
                fmt::mde(x),
                fmt::row_verdict(x),
            ],
            &x.verdict,
        );
    }
    t
}

/// The refusal benchmarks' refused / complied / degenerate counts before and after, with the
/// Stuart–Maxwell test of marginal homogeneity (descriptive, outside the Holm family).
pub fn outcomes(rows: &[Row]) -> Option<Table> {
    let with: Vec<&Row> = rows.iter().filter(|x| x.outcomes.is_some()).collect();
    if with.is_empty() {
        return None;
    }
    let mut t = Table::new(&[
        "benchmark",
        "before (refused / complied / degenerate)",
        "after",
        "Stuart–Maxwell χ² (df)",
        "p",
    ]);
    for x in with {
        let o = x.outcomes.as_ref().expect("filtered");
        let counts = |c: &[u64; 3]| format!("{} / {} / {}", c[0], c[1], c[2]);
        let sm = &o.stuart_maxwell;
        t.push(
            vec![
                x.benchmark.clone(),
                counts(&o.before),
                counts(&o.after),
                format!("{} ({})", fmt::num(sm.statistic), sm.df),
                fmt::p(sm.p_value),
            ],
            "",
        );
    }
    Some(t)
}

/// The title of the (first seed's) table.
pub fn tax_title(r: &Results) -> String {
    if r.across_seeds.is_empty() {
        "The alignment-tax table".into()
    } else {
        format!(
            "Seed {}'s own table",
            r.first_seed().map_or("?".into(), |s| s.to_string())
        )
    }
}

/// How the table was computed, in one paragraph.
pub fn tax_note(r: &Results) -> String {
    format!(
        "Seed {}. Before and after are means over the same items (rates for binary metrics, in %), with {:.0}% Wilson intervals (binary) or bootstrap intervals (continuous). The change is after − before (percentage points for rates) with the interval that inverts the row's test — Newcombe's paired score interval (binary) or the sign-flip permutation test (continuous) — at the level the verdict used (column \"level\": 1 − α/(m − step + 1) at the row's Holm step, family-wise α = {}), so an interval excludes 0 exactly when the row is a gain or a loss. Equivalent: not a change, and the (1 − 2α') interval lies inside the metric's margin (two one-sided tests; that interval and the margin are shown next to the verdict). Inconclusive: neither. Descriptive rows (KL, bits per byte, the parts of over-refusal's \"not helped\", the per-source breakdowns metric@source of the refusal benchmarks) are outside the test family, with a {:.0}% interval. \"At floor\" (a free-form capability rate near 0 before and after) and \"at chance\" (the before rate's interval holds the guessing rate, e.g. 1/4 for MMLU): the model cannot show this capability, so the row is kept out of the findings' headline. MDE: the smallest change detectable with 80% power at the row's level; \"blind at this n\": even the most extreme data of this size could not reach it. ↑/↓: the good direction.",
        r.first_seed().map_or("?".into(), |s| s.to_string()),
        100.0 * r.confidence(),
        r.alpha(),
        100.0 * r.confidence()
    )
}

/// Per-metric results over seeds.
pub fn seeds(r: &Results) -> Option<Table> {
    if r.seed_summary.is_empty() {
        return None;
    }
    let mut t = Table::new(&[
        "benchmark",
        "metric",
        "change mean ± sd",
        "per seed",
        "gain / loss / equivalent / inconclusive",
    ]);
    for s in &r.seed_summary {
        let per: Vec<String> = s
            .change
            .values
            .iter()
            .map(|(seed, v)| format!("{seed}: {}", v.map_or("n/a".into(), fmt::signed)))
            .collect();
        let v = s.verdicts;
        let class = if v.loss > 0 {
            "loss"
        } else if v.gain > 0 {
            "gain"
        } else {
            ""
        };
        t.push(
            vec![
                s.benchmark.clone(),
                s.metric.clone(),
                format!("{} ± {}", fmt::signed(s.change.mean), fmt::num(s.change.sd)),
                per.join(", "),
                format!(
                    "{} / {} / {} / {}",
                    v.gain, v.loss, v.equivalent, v.inconclusive
                ),
            ],
            class,
        );
    }
    Some(t)
}

/// Items per benchmark and how many changed.
pub fn samples(s: &SampleSet) -> Table {
    let mut t = Table::new(&[
        "benchmark",
        "items",
        "in the explorer",
        "outcome changed",
        "output text changed",
    ]);
    for (bench, total) in &s.totals {
        let shown: Vec<_> = s.samples.iter().filter(|x| &x.benchmark == bench).collect();
        t.push(
            vec![
                bench.clone(),
                total.to_string(),
                shown.len().to_string(),
                shown.iter().filter(|x| x.changed).count().to_string(),
                shown.iter().filter(|x| x.text_changed).count().to_string(),
            ],
            "",
        );
    }
    t
}

/// The data: evaluation sets, training set, dedup.
pub fn data(r: &Results) -> Vec<String> {
    let d = &r.data;
    let mut out = Vec::new();
    let notes = |v: &Value| -> String {
        let n: Vec<&str> = v["notes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if n.is_empty() {
            String::new()
        } else {
            format!(" ({})", n.join("; "))
        }
    };
    for set in d["eval_sets"].as_array().into_iter().flatten() {
        out.push(format!(
            "Evaluation set {}: {} items{}.",
            set["name"].as_str().unwrap_or("?"),
            set["n_items"],
            notes(set)
        ));
    }
    if d["train"].is_object() {
        out.push(format!(
            "Training set {}: {} items{}.",
            d["train"]["name"].as_str().unwrap_or("?"),
            d["train"]["n_items"],
            notes(&d["train"])
        ));
    }
    if d["refusal_set"].is_object() {
        out.push(format!(
            "Refusal training data: {} harmful prompts with refusals, {} benign examples.",
            d["refusal_set"]["n_harmful"], d["refusal_set"]["n_benign"]
        ));
    }
    let removed: u64 = d["dedup"]["removed"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["removed"].as_u64())
        .sum();
    if d["dedup"].is_object() {
        out.push(format!(
            "Near-duplicates of training prompts removed from the evaluation sets: {removed}."
        ));
    }
    out.extend(semantic(&d["semantic"]));
    for n in d["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        out.push(n.to_string());
    }
    // With several seeds, each drew its own training prompts (the lines above are the first's).
    let splits = d["splits"].as_array().cloned().unwrap_or_default();
    if splits.len() > 1 {
        for sp in &splits {
            let removed: u64 = sp["dedup"]["removed"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x["removed"].as_u64())
                .sum();
            let paraphrases = match sp["semantic"]["groups"].as_array() {
                Some(groups) => {
                    let k: usize = groups
                        .iter()
                        .map(|g| g["dropped"].as_array().map_or(0, Vec::len))
                        .sum();
                    format!(" and {k} refusal items as paraphrases")
                }
                None => String::new(),
            };
            out.push(format!(
                "Seed {}: {} training prompts drawn; {removed} evaluation items removed as near-duplicates of them{paraphrases}.",
                sp["seed"], sp["train"]["n_items"]
            ));
        }
    }
    out
}

/// The semantic near-duplicate filter: per source, items dropped and the nearest-neighbour
/// similarity of the kept ones.
fn semantic(s: &Value) -> Vec<String> {
    if !s.is_object() {
        return Vec::new();
    }
    let mut out = vec![format!(
        "Paraphrases of training prompts (cosine similarity of {} embeddings ≥ {} to a prompt of {}, {} prompts) removed from {}, per source:",
        s["encoder"].as_str().unwrap_or("?"),
        s["threshold"],
        s["train"].as_str().unwrap_or("?"),
        s["train_items"],
        s["eval"].as_str().unwrap_or("?")
    )];
    for g in s["groups"].as_array().into_iter().flatten() {
        let dropped = g["dropped"].as_array().map_or(0, Vec::len);
        let kept = match (g["kept"]["median"].as_f64(), g["kept"]["max"].as_f64()) {
            (Some(med), Some(max)) => format!(
                "; nearest training prompt of the {} kept items: median similarity {}, max {}",
                g["kept"]["n"],
                fmt::num(med),
                fmt::num(max)
            ),
            _ => "; no items kept".into(),
        };
        out.push(format!(
            "{}: {dropped} of {} dropped{kept}.",
            g["group"].as_str().unwrap_or("?"),
            g["before"]
        ));
    }
    out
}

/// Versions, hashes, machine.
pub fn provenance(r: &Results) -> Vec<String> {
    let p = &r.provenance;
    let mut out = vec![format!(
        "spillover {}, commit {}, config hash {}.",
        p.spillover_version, p.git_commit, p.config_hash
    )];
    let m = &p.machine;
    if m.is_object() {
        out.push(format!(
            "Machine: {} {}, {} CPUs ({}), {:.1} GiB memory.",
            m["os"].as_str().unwrap_or("?"),
            m["arch"].as_str().unwrap_or("?"),
            m["cpus"],
            m["cpu_model"].as_str().unwrap_or("?"),
            m["memory_gib"].as_f64().unwrap_or(f64::NAN)
        ));
    }
    for (name, id) in &p.assets {
        out.push(format!("Asset {name}: {}", asset(id)));
    }
    if !p.assets.is_empty() {
        out.push("Hashes are shortened to 12 digits here; results.json has them whole.".into());
    }
    out
}

/// A readable asset identity: packaged (wheels and files with short sha256), generated
/// (generator, parameters, seed), or the identity string as recorded.
fn asset(id: &Value) -> String {
    let parsed = match id {
        Value::String(s) => serde_json::from_str::<Value>(s).unwrap_or_else(|_| id.clone()),
        other => other.clone(),
    };
    let short = |v: &Value| {
        v.as_str()
            .map_or(String::new(), |h| h.chars().take(12).collect())
    };
    let strs = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    match parsed["type"].as_str() {
        Some("packaged") => {
            let files: Vec<String> = parsed["files"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| {
                    format!(
                        "{} sha256 {}",
                        f["name"].as_str().unwrap_or("?"),
                        short(&f["sha256"])
                    )
                })
                .collect();
            let wheels: Vec<String> = strs(&parsed["wheels"])
                .into_iter()
                .zip(parsed["wheel_sha256"].as_array().into_iter().flatten())
                .map(|(w, h)| format!("{w} (sha256 {})", short(h)))
                .collect();
            format!(
                "packaged {} from {}; {}",
                parsed["asset"].as_str().unwrap_or("?"),
                wheels.join(", "),
                files.join(", ")
            )
        }
        Some("repository") => format!(
            "{} from the Spillover repository (compiled in; sha256 {})",
            parsed["path"].as_str().unwrap_or("?"),
            short(&parsed["sha256"])
        ),
        Some("combined") => parsed["parts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| format!("{}: {}", p[0].as_str().unwrap_or("?"), asset(&p[1])))
            .collect::<Vec<_>>()
            .join("; "),
        Some("generated") => format!(
            "generated by {} ({}; seed {})",
            parsed["generator"].as_str().unwrap_or("?"),
            parsed["params"]
                .as_str()
                .map_or_else(|| parsed["params"].to_string(), str::to_string),
            parsed["seed"]
        ),
        _ => match &parsed {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        },
    }
}

/// Stage wall times.
pub fn timings(r: &Results) -> Table {
    let mut t = Table::new(&["stage", "wall time", "reused"]);
    for x in &r.timings {
        t.push(
            vec![
                x.stage.clone(),
                fmt::clock(x.seconds),
                if x.reused {
                    "yes".into()
                } else {
                    String::new()
                },
            ],
            "",
        );
    }
    t
}

/// How to reproduce and re-render.
pub fn reproduce(run_dir: &std::path::Path) -> Vec<String> {
    let d = run_dir.display();
    vec![
        format!("Re-render this report without recomputing: `spillover report {d}`."),
        format!(
            "Run the experiment again: `spillover run {d}/config.resolved.toml --runs-dir <folder>` (the resolved experiment, every default filled in; the same inputs give the same config hash)."
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_semantic_filter_is_reported_per_source() {
        let s = serde_json::json!({
            "encoder": "all-minilm-l6-v2", "threshold": 0.7, "train": "advbench",
            "train_items": 520, "eval": "harmbench+xstest-unsafe",
            "groups": [
                {"group": "harmbench", "before": 24, "kept": {"n": 22, "median": 0.51, "max": 0.69},
                 "dropped": [{"eval_id": "harmbench-0001", "train_id": "advbench-0002", "cosine": 0.8},
                             {"eval_id": "harmbench-0007", "train_id": "advbench-0100", "cosine": 0.75}]},
                {"group": "xstest-unsafe", "before": 1, "kept": null,
                 "dropped": [{"eval_id": "xstest-0300", "train_id": "advbench-0003", "cosine": 0.9}]}
            ]
        });
        let lines = semantic(&s);
        assert!(
            lines[0].contains("≥ 0.7 to a prompt of advbench, 520 prompts"),
            "{lines:?}"
        );
        assert_eq!(
            lines[1],
            "harmbench: 2 of 24 dropped; nearest training prompt of the 22 kept items: median \
             similarity 0.5100, max 0.6900."
        );
        assert_eq!(lines[2], "xstest-unsafe: 1 of 1 dropped; no items kept.");
        assert!(semantic(&Value::Null).is_empty());
    }

    #[test]
    fn repository_and_combined_sources_are_described() {
        let combined = serde_json::json!({"type": "combined", "parts": [
            ["xstest-unsafe", {"type": "repository", "path": "data/xstest/xstest_prompts.csv",
                               "sha256": "0123456789abcdef0123"}],
            ["arith", {"type": "generated", "generator": "arithmetic-v2", "params": "n=3", "seed": 1}]
        ]});
        let s = asset(&combined);
        assert!(
            s.starts_with("xstest-unsafe: data/xstest/xstest_prompts.csv from the Spillover repository (compiled in; sha256 0123456789ab)"),
            "{s}"
        );
        assert!(s.contains("; arith: generated by arithmetic-v2"), "{s}");
    }
}
