//! report.md of a run.

use crate::fmt::md_cell;
use crate::sections::{self, Table};
use crate::RunDoc;
use std::fmt::Write;

/// A Markdown table.
pub fn table(t: &Table) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| {} |",
        t.header
            .iter()
            .map(|h| md_cell(h))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(s, "|{}", "---|".repeat(t.header.len()));
    for row in &t.rows {
        let _ = writeln!(
            s,
            "| {} |",
            row.iter()
                .map(|c| md_cell(c))
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    s
}

/// The Markdown report of a run.
pub fn run(d: &RunDoc) -> String {
    let r = d.results;
    let mut s = String::new();
    let name = r.config_str("name");
    let _ = writeln!(
        s,
        "# Spillover report: {}\n",
        if name.is_empty() { "run" } else { &name }
    );
    for (k, v) in sections::overview(r) {
        let _ = writeln!(s, "- **{k}**: {v}");
    }
    let _ = writeln!(s, "- **Run folder**: `{}`\n", d.run_dir.display());
    if !r.headline.is_empty() {
        let _ = writeln!(s, "## Summary\n\n{}", table(&sections::headline(r)));
    }
    let _ = writeln!(s, "## Findings\n");
    for f in &d.findings {
        let _ = writeln!(s, "- {f}");
    }
    if let Some(t) = crate::across::table(r) {
        let _ = writeln!(
            s,
            "\n## The alignment-tax table over {} seeds\n\n{}\n\n{}",
            r.seeds.len(),
            crate::across::note(r),
            table(&t)
        );
    }
    let _ = writeln!(
        s,
        "\n## {}\n\n{}\n\n{}",
        sections::tax_title(r),
        sections::tax_note(r),
        table(&sections::tax(&r.table))
    );
    if let Some(t) = sections::outcomes(&r.table) {
        let _ = writeln!(s, "### Refusal outcomes, three ways

Every judged reply is refused, complied or degenerate; over-refusal's tested row counts refused or degenerate as \"not helped\". The Stuart–Maxwell test asks whether the three shares changed (descriptive, not in the Holm family).\n\n{}", table(&t));
    }
    if let Some(c) = &d.calibration {
        let _ = writeln!(
            s,
            "## Judge calibration\n\n{}\n\n{}",
            crate::calibration::intro(c),
            table(&crate::calibration::conditions(c))
        );
        if let Some(t) = crate::calibration::changes(c) {
            let _ = writeln!(s, "{}", table(&t));
        }
        for n in crate::calibration::notes(c) {
            let _ = writeln!(s, "- {n}");
        }
    }
    let _ = writeln!(s, "## Figures\n");
    for f in d.figures.iter().filter(|f| !f.id.starts_with("mri_")) {
        let _ = writeln!(s, "![{}](figures/{}.svg)\n\n{}\n", f.title, f.id, f.caption);
    }
    if let Some(t) = sections::seeds(r) {
        let _ = writeln!(s, "## Over seeds\n\n{}", table(&t));
    }
    if let Some(m) = &d.mri {
        mri(&mut s, d, m);
    }
    let _ = writeln!(s, "## Samples\n");
    if let Some(b) = &d.samples.before_dir {
        let _ = writeln!(s, "Per-item records before: `{}`.", b.display());
    }
    if let Some(a) = &d.samples.after_dir {
        let _ = writeln!(s, "Per-item records after: `{}`.", a.display());
    }
    for n in &d.samples.notes {
        let _ = writeln!(s, "- {n}");
    }
    let _ = writeln!(s, "\n{}", table(&sections::samples(&d.samples)));
    let _ = writeln!(s, "## Data\n");
    for line in sections::data(r) {
        let _ = writeln!(s, "- {line}");
    }
    let _ = writeln!(s, "\n## Provenance\n");
    for line in sections::provenance(r) {
        let _ = writeln!(s, "- {line}");
    }
    if !r.timings.is_empty() {
        let _ = writeln!(s, "\n## Timings\n\n{}", table(&sections::timings(r)));
    }
    let _ = writeln!(s, "## Reproduce\n");
    for line in sections::reproduce(d.run_dir) {
        let _ = writeln!(s, "- {line}");
    }
    s
}

fn mri(s: &mut String, d: &RunDoc, m: &crate::mri::MriReport) {
    let _ = writeln!(
        s,
        "## Mechanistic analysis (MRI)\n\nFiles: `{}`.\n",
        m.dir.display()
    );
    for st in &m.statements {
        let _ = writeln!(s, "- {st}");
    }
    if let Some(c) = &m.claims {
        crate::mri_claims::markdown(s, c);
    }
    if let Some(t) = story(m) {
        let _ = writeln!(s, "\n{}", table(&t));
    }
    if !m.validation.is_empty() {
        let _ = writeln!(s, "\n{}", table(&validation(m)));
    }
    for n in &m.notes {
        let _ = writeln!(s, "- {n}");
    }
    if let Some(a) = &d.results.mri_agreement {
        let _ = writeln!(
            s,
            "\n### {}\n\n{}\n\n{}",
            crate::mri_seeds::title(a),
            crate::mri_seeds::NOTE,
            table(&crate::mri_seeds::table(a))
        );
    }
    for f in d.figures.iter().filter(|f| f.id.starts_with("mri_")) {
        let _ = writeln!(s, "![{}](figures/{}.svg)\n\n{}\n", f.title, f.id, f.caption);
    }
}

/// The MRI's checks of the late-layer refusal-head story, when it made any.
pub fn story(m: &crate::mri::MriReport) -> Option<Table> {
    if m.story.is_empty() {
        return None;
    }
    let mut t = Table {
        header: vec!["claim".into(), "measured".into(), "passed".into()],
        ..Default::default()
    };
    for (c, meas, p) in &m.story {
        let passed = match p {
            Some(true) => "yes",
            Some(false) => "no",
            None => "not measured",
        };
        t.rows.push(vec![c.clone(), meas.clone(), passed.into()]);
        t.classes.push(String::new());
    }
    Some(t)
}

/// The MRI's causal validation as a table.
pub fn validation(m: &crate::mri::MriReport) -> Table {
    let pct = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{:.1}%", 100.0 * v));
    let mut t = Table {
        header: vec![
            "condition".into(),
            "refusal rate".into(),
            "arithmetic accuracy".into(),
            "mean log p(answer)".into(),
        ],
        ..Default::default()
    };
    for v in &m.validation {
        t.rows.push(vec![
            v.name.clone(),
            pct(v.refusal_rate),
            pct(v.accuracy),
            v.answer_logprob.map_or("n/a".into(), crate::fmt::num),
        ]);
        t.classes.push(String::new());
    }
    t
}
