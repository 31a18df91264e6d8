//! Several runs side by side: first the config keys that differ between them (and benchmarks
//! measured on different datasets, flagged ⚠ in the table), then their settings, the seed-style
//! summaries, every metric's change in one table, one change chart with a line per run, and each
//! run's findings.

use crate::error::ReportError;
use crate::fmt::{self, html as esc};
use crate::schema::Results;
use crate::sections::{self, Table};
use crate::svg::forest::{forest, Entry, ForestRow};
use crate::{config_diff, findings, html, markdown, Figure, RenderedFiles};
use anyhow::Result;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Renders `out/report.md`, `out/report.html` and `out/figures/comparison_changes.svg` comparing
/// the runs in `run_dirs` (each a run folder with results.json).
pub fn render_comparison(run_dirs: &[PathBuf], out: &Path) -> Result<RenderedFiles> {
    if run_dirs.is_empty() {
        return Err(ReportError::Usage("no run folders to compare".into()).into());
    }
    let runs: Vec<(String, Results)> = run_dirs
        .iter()
        .map(|d| Ok((run_name(d), Results::load(d)?)))
        .collect::<Result<_, ReportError>>()?;
    let conf = runs[0].1.confidence();
    let names: Vec<String> = runs.iter().map(|(n, _)| n.clone()).collect();
    let fig = Figure::new(
        "comparison_changes",
        "Change per metric, per run",
        "After − before per metric and run with its paired bootstrap interval; filled markers: a significant change (Holm) in that run.",
        forest(&rows(&runs), &names, conf),
    );
    let settings = settings(&runs, run_dirs);
    let differ = config_diff::differing_keys(&runs);
    let mixed = config_diff::different_datasets(&runs);
    let side = side_by_side(&runs, &mixed);
    let summary = summaries(&runs);
    let differ_note = if differ.rows.is_empty() {
        "The runs' resolved configs are identical.".to_string()
    } else {
        format!(
            "The keys of the resolved configs that differ ({}):",
            differ.rows.len()
        )
    };
    let mixed_notes: Vec<String> = mixed
        .iter()
        .map(|(b, sets)| {
            format!(
                "⚠ {b} was measured on different datasets ({}): its rows compare different items.",
                sets.join(", ")
            )
        })
        .collect();
    let mut md = String::from("# Spillover comparison\n\n## What differs\n\n");
    let _ = writeln!(md, "{differ_note}\n");
    if !differ.rows.is_empty() {
        let _ = writeln!(md, "{}", markdown::table(&differ));
    }
    for n in &mixed_notes {
        let _ = writeln!(md, "- {n}");
    }
    if !mixed_notes.is_empty() {
        md.push('\n');
    }
    let _ = writeln!(md, "{}\n## Alignment tax, side by side\n\nEach cell: before → after, change [interval], verdict (Holm-corrected).\n\n{}", markdown::table(&settings), markdown::table(&side));
    if !summary.rows.is_empty() {
        let _ = writeln!(
            md,
            "## Seed-style summaries (after; verdict)\n\n{}",
            markdown::table(&summary)
        );
    }
    let _ = writeln!(md, "![{}](figures/{}.svg)\n", fig.title, fig.id);
    let mut body = String::from("<h1>Spillover comparison</h1>\n");
    let _ = writeln!(
        body,
        "<h2 id=\"differs\">What differs</h2>\n<p>{}</p>",
        esc(&differ_note)
    );
    if !differ.rows.is_empty() {
        let _ = writeln!(body, "{}", html::table(&differ, "differs-table"));
    }
    if !mixed_notes.is_empty() {
        let _ = writeln!(body, "{}", html::list(&mixed_notes, "note"));
    }
    let _ = writeln!(
        body,
        "<h2 id=\"runs\">Runs</h2>\n{}",
        html::table(&settings, "runs-table")
    );
    let _ = writeln!(body, "<h2 id=\"table\">Alignment tax, side by side</h2>\n<p class=\"note\">Each cell: before → after, change [interval], verdict (Holm-corrected).</p>\n{}", html::table(&side, "tax-table"));
    if !summary.rows.is_empty() {
        let _ = writeln!(
            body,
            "<h2 id=\"summary\">Seed-style summaries</h2>\n{}",
            html::table(&summary, "summary-table")
        );
    }
    let _ = writeln!(
        body,
        "<h2 id=\"figures\">Charts</h2>\n{}",
        html::figure(&fig)
    );
    let _ = writeln!(body, "<h2 id=\"findings\">Findings per run</h2>");
    for (name, r) in &runs {
        let f = findings::findings(r);
        let _ = writeln!(md, "## Findings: {name}\n");
        for s in &f {
            let _ = writeln!(md, "- {s}");
        }
        md.push('\n');
        let _ = writeln!(
            body,
            "<h3>{}</h3>\n{}",
            esc(name),
            html::list(&f, "findings")
        );
    }
    let nav = [
        ("differs", "Differences"),
        ("runs", "Runs"),
        ("table", "Table"),
        ("figures", "Charts"),
        ("findings", "Findings"),
    ];
    let page = html::page("Spillover comparison", &nav, &body);
    crate::write_all(out, &md, &page, &[fig])
}

fn run_name(d: &Path) -> String {
    d.file_name().map_or_else(
        || d.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn settings(runs: &[(String, Results)], dirs: &[PathBuf]) -> Table {
    let keys = ["Model", "Intervention", "Profile", "Seeds", "Refusal judge"];
    let mut t = Table {
        header: ["run"]
            .iter()
            .chain(keys.iter())
            .map(|s| s.to_string())
            .chain(["items per metric".to_string(), "folder".to_string()])
            .collect(),
        ..Default::default()
    };
    for ((name, r), dir) in runs.iter().zip(dirs) {
        let ov = sections::overview(r);
        let mut row = vec![name.clone()];
        for k in keys {
            row.push(
                ov.iter()
                    .find(|(a, _)| a == k)
                    .map_or(String::new(), |(_, v)| v.clone()),
            );
        }
        let lo = r.table.iter().map(|x| x.n).min().unwrap_or(0);
        let hi = r.table.iter().map(|x| x.n).max().unwrap_or(0);
        row.push(if lo == hi {
            lo.to_string()
        } else {
            format!("{lo}–{hi}")
        });
        row.push(dir.display().to_string());
        t.rows.push(row);
        t.classes.push(String::new());
    }
    t
}

/// Every (benchmark, metric) of any run, in first-seen order.
fn keys(runs: &[(String, Results)]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (_, r) in runs {
        for x in &r.table {
            let k = (x.benchmark.clone(), x.metric.clone());
            if !out.contains(&k) {
                out.push(k);
            }
        }
    }
    out
}

/// Every metric's cells, run by run; a metric of a benchmark measured on different datasets in
/// different runs (`mixed`) is marked ⚠.
fn side_by_side(
    runs: &[(String, Results)],
    mixed: &std::collections::BTreeMap<String, Vec<String>>,
) -> Table {
    let mut t = Table {
        header: std::iter::once("metric".to_string())
            .chain(runs.iter().map(|(n, _)| n.clone()))
            .collect(),
        ..Default::default()
    };
    for (b, m) in keys(runs) {
        let flag = if mixed.contains_key(&b) {
            " ⚠ different datasets"
        } else {
            ""
        };
        let mut row = vec![format!("{b}/{m}{flag}")];
        for (_, r) in runs {
            row.push(
                match r.table.iter().find(|x| x.benchmark == b && x.metric == m) {
                    Some(x) => format!(
                        "{} → {}, {}, {} (n={})",
                        fmt::value(x, x.before.estimate),
                        fmt::value(x, x.after.estimate),
                        fmt::change(x),
                        fmt::verdict(&x.verdict),
                        x.n
                    ),
                    None => "not measured".into(),
                },
            );
        }
        t.rows.push(row);
        t.classes.push(String::new());
    }
    t
}

fn summaries(runs: &[(String, Results)]) -> Table {
    let mut topics: Vec<String> = Vec::new();
    for (_, r) in runs {
        for h in &r.headline {
            if !topics.contains(&h.topic) {
                topics.push(h.topic.clone());
            }
        }
    }
    let mut t = Table {
        header: std::iter::once(String::new())
            .chain(runs.iter().map(|(n, _)| n.clone()))
            .collect(),
        ..Default::default()
    };
    for topic in topics {
        let mut row = vec![topic.clone()];
        for (_, r) in runs {
            row.push(
                r.headline
                    .iter()
                    .find(|h| h.topic == topic)
                    .map_or("—".into(), |h| {
                        format!("{} → {}; {}", h.before, h.after, fmt::verdict(&h.verdict))
                    }),
            );
        }
        t.rows.push(row);
        t.classes.push(String::new());
    }
    t
}

fn rows(runs: &[(String, Results)]) -> Vec<ForestRow> {
    keys(runs)
        .into_iter()
        .map(|(b, m)| {
            let mut binary = true;
            let mut arrow = "";
            let entries = runs
                .iter()
                .enumerate()
                .filter_map(|(i, (_, r))| {
                    let x = r.table.iter().find(|x| x.benchmark == b && x.metric == m)?;
                    binary = x.binary;
                    arrow = if x.higher_is_better { "↑" } else { "↓" };
                    Some(Entry {
                        series: i,
                        estimate: x.change.estimate,
                        lo: x.change.lo,
                        hi: x.change.hi,
                        verdict: x.verdict.clone(),
                        seeds: Vec::new(),
                    })
                })
                .collect();
            ForestRow {
                label: format!("{b}/{m} {arrow}"),
                binary,
                entries,
            }
        })
        .collect()
}
