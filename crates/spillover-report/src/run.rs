//! The report of one run.

use crate::fmt::html as esc;
use crate::schema::Results;
use crate::sections;
use crate::svg::forest::{forest, Entry, ForestRow};
use crate::{findings, html, markdown, mri, samples, Figure, RenderedFiles, RunDoc};
use anyhow::Result;
use std::fmt::Write;
use std::path::Path;

/// Renders `run_dir/report.md`, `report.html` and `figures/*.svg` from `results.json`, the
/// per-item records and `explain/` (when the MRI ran); returns the paths written.
pub fn render_run(run_dir: &Path) -> Result<RenderedFiles> {
    let r = Results::load(run_dir)?;
    let samples = samples::load(run_dir, &r)?;
    let mri_summary = mri::summary(run_dir, r.mri.as_ref())?;
    let mri = match &mri_summary {
        Some(m) => Some(mri::report(run_dir, m)?),
        None => None,
    };
    let mut found = findings::findings(&r);
    if let Some(m) = &mri_summary {
        found.extend(findings::mri_findings(m));
    }
    let mut figures = figures(&r);
    if let Some(m) = &mri {
        figures.extend(m.figures.iter().cloned());
    }
    let doc = RunDoc {
        results: &r,
        run_dir,
        findings: found,
        figures,
        samples,
        mri,
    };
    let md = markdown::run(&doc);
    let page = page(&doc);
    crate::write_all(run_dir, &md, &page, &doc.figures)
}

/// The forest-plot rows of one table (with per-seed dots from the seed summary).
pub(crate) fn forest_rows(r: &Results) -> Vec<ForestRow> {
    r.table
        .iter()
        .map(|x| {
            let seeds = r
                .seed_summary
                .iter()
                .find(|s| s.benchmark == x.benchmark && s.metric == x.metric)
                .map(|s| s.change.values.iter().filter_map(|(_, v)| *v).collect())
                .unwrap_or_default();
            ForestRow {
                label: format!("{} {}", x.key(), if x.higher_is_better { "↑" } else { "↓" }),
                binary: x.binary,
                entries: vec![Entry {
                    series: 0,
                    estimate: x.change.estimate,
                    lo: x.change.lo,
                    hi: x.change.hi,
                    verdict: x.verdict.clone(),
                    seeds,
                }],
            }
        })
        .collect()
}

fn figures(r: &Results) -> Vec<Figure> {
    let conf = r.confidence();
    let mut out = Vec::new();
    if r.table.is_empty() {
        return out;
    }
    out.push(Figure::new(
        "before_after",
        "Before and after",
        &format!("Each metric before and after the intervention on the same items, with {:.0}% intervals (Wilson for rates, bootstrap for means); the verdict under each panel.", 100.0 * conf),
        crate::svg::bars::before_after(&r.table, conf),
    ));
    let mut caption = "After − before per metric with its paired bootstrap interval; colour: the Holm-corrected verdict.".to_string();
    if !r.seed_summary.is_empty() {
        caption.push_str(" Grey dots: the change of each seed (the line is the first seed's).");
    }
    out.push(Figure::new(
        "changes",
        "Change per metric",
        &caption,
        forest(&forest_rows(r), &[String::new()], conf),
    ));
    out
}

fn page(d: &RunDoc) -> String {
    let r = d.results;
    let name = r.config_str("name");
    let mut b = String::new();
    let _ = writeln!(b, "<h1>Spillover report: {}</h1>", esc(&name));
    b.push_str("<dl class=\"overview\">");
    for (k, v) in sections::overview(r) {
        let _ = write!(b, "<dt>{}</dt><dd>{}</dd>", esc(&k), esc(&v));
    }
    let _ = writeln!(
        b,
        "<dt>Run folder</dt><dd><code>{}</code></dd></dl>",
        esc(&d.run_dir.display().to_string())
    );
    let mut nav = vec![
        ("summary", "Summary"),
        ("findings", "Findings"),
        ("table", "Table"),
        ("figures", "Charts"),
    ];
    if !r.headline.is_empty() {
        let _ = writeln!(
            b,
            "<h2 id=\"summary\">Summary</h2>\n{}",
            html::table(&sections::headline(r), "summary-table")
        );
    }
    let _ = writeln!(
        b,
        "<h2 id=\"findings\">Findings</h2>\n{}",
        html::list(&d.findings, "findings")
    );
    // With several seeds the table over seeds comes first (the "Table" link), then the first
    // seed's own.
    let mut own_id = "table";
    if let Some(t) = crate::across::table(r) {
        let _ = writeln!(
            b,
            "<h2 id=\"table\">The alignment-tax table over {} seeds</h2>\n<p class=\"note\">{}</p>\n{}",
            r.seeds.len(),
            esc(&crate::across::note(r)),
            html::table(&t, "across-table")
        );
        own_id = "seed-table";
    }
    let _ = writeln!(
        b,
        "<h2 id=\"{own_id}\">{}</h2>\n<p class=\"note\">{}</p>\n{}",
        esc(&sections::tax_title(r)),
        esc(&sections::tax_note(r)),
        html::table(&sections::tax(&r.table), "tax-table")
    );
    if let Some(t) = sections::outcomes(&r.table) {
        let _ = writeln!(
            b,
            "<h3 id=\"outcomes\">Refusal outcomes, three ways</h3>\n<p class=\"note\">Every judged reply is refused, complied or degenerate; over-refusal's tested row counts refused or degenerate as \"not helped\". The Stuart–Maxwell test asks whether the three shares changed (descriptive, not in the Holm family).</p>\n{}",
            html::table(&t, "outcomes-table")
        );
    }
    if let Some(t) = sections::seeds(r) {
        let _ = writeln!(
            b,
            "<h2 id=\"seeds\">Over seeds</h2>\n{}",
            html::table(&t, "seeds-table")
        );
    }
    let _ = writeln!(b, "<h2 id=\"figures\">Charts</h2>");
    for f in d.figures.iter().filter(|f| !f.id.starts_with("mri_")) {
        b.push_str(&html::figure(f));
    }
    if let Some(m) = &d.mri {
        nav.push(("mri", "MRI"));
        let _ = writeln!(b, "<h2 id=\"mri\">Mechanistic analysis (MRI)</h2>\n<p class=\"note\">Files: <code>{}</code></p>", esc(&m.dir.display().to_string()));
        b.push_str(&html::list(&m.statements, "findings"));
        if let Some(t) = markdown::story(m) {
            b.push_str(&html::table(&t, "mri-story"));
        }
        if !m.validation.is_empty() {
            b.push_str(&html::table(&markdown::validation(m), "mri-validation"));
        }
        if !m.notes.is_empty() {
            b.push_str(&html::list(&m.notes, "note"));
        }
        for f in d.figures.iter().filter(|f| f.id.starts_with("mri_")) {
            b.push_str(&html::figure(f));
        }
    }
    nav.push(("explorer", "Samples"));
    let _ = writeln!(
        b,
        "<h2 id=\"samples\">Samples</h2>\n{}",
        html::table(&sections::samples(&d.samples), "samples-table")
    );
    b.push_str(&html::explorer(&d.samples.samples, &d.samples.notes));
    nav.push(("data", "Data"));
    let _ = writeln!(
        b,
        "<h2 id=\"data\">Data</h2>\n{}",
        html::list(&sections::data(r), "plain")
    );
    let _ = writeln!(
        b,
        "<h2 id=\"provenance\">Provenance</h2>\n{}",
        html::list(&sections::provenance(r), "plain")
    );
    if !r.timings.is_empty() {
        let _ = writeln!(
            b,
            "<h3>Timings</h3>\n{}",
            html::table(&sections::timings(r), "timings-table")
        );
    }
    let _ = writeln!(
        b,
        "<h2 id=\"reproduce\">Reproduce</h2>\n{}",
        html::list(&sections::reproduce(d.run_dir), "plain")
    );
    html::page(&format!("Spillover report: {name}"), &nav, &b)
}
