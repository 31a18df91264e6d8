//! `report.md` and `report.html` from `results.json`: the seed-style summary, the alignment-tax
//! table with intervals, p-values and verdicts, findings sentences generated from the numbers,
//! sample sizes, data hygiene and timings.

use crate::compare::{TaxRow, Verdict};
use crate::progress::clock;
use crate::results::Results;
use crate::rundir::write_atomic;
use anyhow::Result;
use std::fmt::Write;
use std::path::Path;

/// Writes both reports into `root`.
pub fn write(root: &Path, r: &Results) -> Result<()> {
    let md = markdown(r);
    write_atomic(&root.join("report.md"), md.as_bytes())?;
    write_atomic(&root.join("report.html"), html(r).as_bytes())?;
    Ok(())
}

fn fmt_value(row: &TaxRow, v: f64) -> String {
    if row.binary {
        format!("{:.1}%", 100.0 * v)
    } else {
        format!("{v:.4}")
    }
}

fn fmt_change(row: &TaxRow) -> String {
    let c = &row.change;
    if row.binary {
        format!(
            "{:+.1} pts [{:+.1}, {:+.1}]",
            100.0 * c.estimate,
            100.0 * c.lo,
            100.0 * c.hi
        )
    } else {
        format!("{:+.4} [{:+.4}, {:+.4}]", c.estimate, c.lo, c.hi)
    }
}

fn fmt_p(p: f64) -> String {
    if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

/// Sentences that state only what the table shows.
pub fn findings(r: &Results) -> Vec<String> {
    let mut out = Vec::new();
    let conf = 100.0 * r.config.stats.confidence;
    for v in [Verdict::Gain, Verdict::Loss] {
        let rows: Vec<&TaxRow> = r.table.iter().filter(|t| t.verdict == v).collect();
        if rows.is_empty() {
            continue;
        }
        let parts: Vec<String> = rows
            .iter()
            .map(|t| {
                format!(
                    "{}/{} {} → {} ({})",
                    t.benchmark,
                    t.metric,
                    fmt_value(t, t.before.estimate),
                    fmt_value(t, t.after.estimate),
                    fmt_change(t)
                )
            })
            .collect();
        let what = if v == Verdict::Gain {
            "improved"
        } else {
            "got worse"
        };
        out.push(format!(
            "{} metric(s) {what} beyond noise (Holm-corrected p ≤ {}, {conf:.0}% intervals): {}.",
            rows.len(),
            r.config.stats.alpha,
            parts.join("; ")
        ));
    }
    let unchanged: Vec<String> = r
        .table
        .iter()
        .filter(|t| t.verdict == Verdict::NoDetectableChange)
        .map(|t| format!("{}/{} (n={})", t.benchmark, t.metric, t.n))
        .collect();
    if !unchanged.is_empty() {
        out.push(format!(
            "No detectable change at these sample sizes: {}.",
            unchanged.join(", ")
        ));
    }
    out
}

/// The Markdown report.
pub fn markdown(r: &Results) -> String {
    let mut s = String::new();
    let c = &r.config;
    let _ = writeln!(s, "# Spillover report: {}\n", c.name);
    let _ = writeln!(
        s,
        "Model `{}`; intervention `{}`; profile `{}`; {} seed(s); judge `{:?}`. Run folder `{}` (config hash `{}`), commit `{}`.\n",
        c.model.id,
        c.intervention.kind.as_str(),
        toml::Value::try_from(c.profile).map(|v| v.to_string()).unwrap_or_default().trim_matches('"'),
        c.seeds,
        c.judge.kind,
        r.provenance.run_dir,
        &r.provenance.config_hash[..10],
        r.provenance.git_commit
    );
    let _ = writeln!(
        s,
        "## Summary\n\n| | before | after | verdict |\n|---|---|---|---|"
    );
    for h in &r.headline {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            h.topic, h.before, h.after, h.verdict
        );
    }
    let _ = writeln!(s, "\n## Findings\n");
    for f in findings(r) {
        let _ = writeln!(s, "- {f}");
    }
    let _ = writeln!(
        s,
        "\n## The alignment-tax table (seed {})\n\n{:.0}% intervals; binary metrics: Wilson intervals, exact McNemar test; continuous: bootstrap intervals, sign-flip permutation test ({} resamples); p-values Holm-corrected across the table.\n",
        r.seeds.first().map_or(0, |s| s.seed),
        100.0 * c.stats.confidence,
        c.stats.resamples
    );
    let _ = writeln!(s, "| benchmark | metric | n | before | after | change | p | p (Holm) | verdict |\n|---|---|---:|---:|---:|---|---:|---:|---|");
    for t in &r.table {
        let better = if t.higher_is_better { "↑" } else { "↓" };
        let _ = writeln!(
            s,
            "| {} | {} {better} | {} | {} | {} | {} | {} | {} | {} |",
            t.benchmark,
            t.metric,
            t.n,
            fmt_value(t, t.before.estimate),
            fmt_value(t, t.after.estimate),
            fmt_change(t),
            fmt_p(t.p_value),
            fmt_p(t.p_holm),
            t.verdict.as_str()
        );
    }
    if !r.seed_summary.is_empty() {
        let _ = writeln!(s, "\n## Over seeds\n\n| benchmark | metric | change mean ± sd | per seed | verdicts (gain/loss/none) |\n|---|---|---|---|---|");
        for row in &r.seed_summary {
            let per: Vec<String> = row
                .change
                .values
                .iter()
                .map(|(sd, v)| format!("{sd}: {v:+.4}"))
                .collect();
            let _ = writeln!(
                s,
                "| {} | {} | {:+.4} ± {:.4} | {} | {}/{}/{} |",
                row.benchmark,
                row.metric,
                row.change.mean,
                row.change.sd,
                per.join(", "),
                row.verdicts.0,
                row.verdicts.1,
                row.verdicts.2
            );
        }
    }
    let _ = writeln!(s, "\n## Data\n");
    let d = &r.data;
    let _ = writeln!(
        s,
        "- Training: {} harmful prompts from `{}` with refusals ({} benign examples).",
        d.refusal_set.n_harmful, d.train.name, d.refusal_set.n_benign
    );
    for (name, avail) in &d.available {
        let n = r
            .table
            .iter()
            .find(|t| &t.benchmark == name)
            .map_or(0, |t| t.n);
        let _ = writeln!(
            s,
            "- `{name}`: {n} items evaluated of {avail} available after dedup."
        );
    }
    let removed = d.dedup.total_removed();
    let _ = writeln!(
        s,
        "- Near-duplicates of training prompts removed from evaluation: {removed}."
    );
    for n in &d.notes {
        let _ = writeln!(s, "- {n}");
    }
    let _ = writeln!(
        s,
        "\n## Timings\n\n| stage | wall time | reused |\n|---|---:|---|"
    );
    for t in &r.timings {
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            t.stage,
            clock(t.seconds),
            if t.reused { "yes" } else { "" }
        );
    }
    s
}

/// A self-contained HTML page with the same content (no scripts or network needed).
pub fn html(r: &Results) -> String {
    let md = markdown(r);
    let mut body = String::new();
    let mut in_table = false;
    for line in md.lines() {
        if let Some(rest) = line.strip_prefix("| ") {
            if line.starts_with("|---") {
                continue;
            }
            if !in_table {
                body.push_str("<table>\n");
                in_table = true;
            }
            let cells: Vec<String> = rest
                .trim_end_matches(" |")
                .split(" | ")
                .map(escape)
                .collect();
            let _ = writeln!(body, "<tr><td>{}</td></tr>", cells.join("</td><td>"));
            continue;
        }
        if line.starts_with("|---") {
            continue;
        }
        if in_table {
            body.push_str("</table>\n");
            in_table = false;
        }
        if let Some(h) = line.strip_prefix("## ") {
            let _ = writeln!(body, "<h2>{}</h2>", escape(h));
        } else if let Some(h) = line.strip_prefix("# ") {
            let _ = writeln!(body, "<h1>{}</h1>", escape(h));
        } else if let Some(li) = line.strip_prefix("- ") {
            let _ = writeln!(body, "<p>• {}</p>", escape(li));
        } else if !line.trim().is_empty() {
            let _ = writeln!(body, "<p>{}</p>", escape(line));
        }
    }
    if in_table {
        body.push_str("</table>\n");
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Spillover: {}</title>\n<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}table{{border-collapse:collapse;margin:1em 0}}td{{border:1px solid #ccc;padding:3px 8px}}tr:first-child td{{font-weight:600;background:#f3f3f3}}</style></head><body>\n{body}</body></html>\n",
        escape(&r.config.name)
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('`', "")
}
