//! A sweep's report: the Pareto frontier of safety gain against capability loss, dose-response
//! curves of each rate against every grid axis (with intervals read from each point's run), the
//! points table and the tax rate per intervention kind.

use crate::fmt::{self, html as esc};
use crate::schema::{Results, Sweep, SweepPoint};
use crate::sections::Table;
use crate::svg::sweep::{dose_response, frontier, Curve, DosePanel, PlanePoint};
use crate::{html, markdown, Figure, RenderedFiles};
use anyhow::Result;
use spillover_evals::benchmarks::MetricRole;
use std::fmt::Write;
use std::path::Path;

/// Renders `sweep_dir/report.md`, `report.html` and `figures/` (frontier and one dose-response
/// chart per axis with two or more values) from `sweep.json` and each point's results.json.
pub fn render_sweep(sweep_dir: &Path) -> Result<RenderedFiles> {
    let sw = Sweep::load(sweep_dir)?;
    let results: Vec<Option<Results>> = sw
        .points
        .iter()
        .map(|p| Results::load(&p.run_dir).ok())
        .collect();
    let missing: Vec<String> = sw
        .points
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.is_none())
        .map(|(p, _)| p.run_dir.display().to_string())
        .collect();
    let plane: Vec<PlanePoint> = sw
        .points
        .iter()
        .map(|p| PlanePoint {
            label: p.overrides.join(" "),
            kind: p.kind.clone(),
            gain: p.safety_gain,
            loss: p.capability_loss,
            on_frontier: p.on_frontier,
        })
        .collect();
    let mut figures = vec![Figure::new(
        "frontier",
        "Pareto frontier",
        "Each sweep point's safety gain (refusal-rate change on harmful prompts, points) against its capability loss (minus the mean change of the measured capability accuracies, points); filled points are not dominated by any other.",
        frontier(&plane),
    )];
    for axis in sw.axes.iter().filter(|a| a.values.len() >= 2) {
        let panels = panels(&sw, &results, &axis.key, &axis.values);
        figures.push(Figure::new(
            &format!("dose_response_{}", fmt::slug(&axis.key)),
            &format!("Dose-response over {}", axis.key),
            "Change of each rate (percentage points, with the run's paired interval) at every value of the axis; one panel per combination of the other axes.",
            dose_response(&axis.key, "change (percentage points)", &panels),
        ));
    }
    let points = points_table(&sw);
    let rates = rates_table(&sw);
    let mut notes = Vec::new();
    if !missing.is_empty() {
        notes.push(format!("results.json could not be read for {} point(s) ({}); their dose-response values come from sweep.json without intervals.", missing.len(), missing.join(", ")));
    }
    if !sw.incomplete.is_empty() {
        let names: Vec<String> = sw
            .incomplete
            .iter()
            .map(|u| format!("{} ({}, {})", u.overrides.join(" "), u.status, u.id))
            .collect();
        notes.push(format!(
            "{} point(s) had not finished and are not shown: {}.",
            names.len(),
            names.join("; ")
        ));
    }
    let mut md = String::from("# Spillover sweep\n\n");
    let axes: Vec<String> = sw
        .axes
        .iter()
        .map(|a| format!("{} = {}", a.key, a.values.join(", ")))
        .collect();
    let _ = writeln!(
        md,
        "Grid: {}. Folder: `{}`.\n",
        axes.join("; "),
        sweep_dir.display()
    );
    for n in &notes {
        let _ = writeln!(md, "- {n}");
    }
    let _ = writeln!(md, "\n## Points\n\n{}\n## Tax rate per intervention kind\n\nCapability points lost per refusal point gained, summed over the kind's points.\n\n{}", markdown::table(&points), markdown::table(&rates));
    let mut body = String::from("<h1>Spillover sweep</h1>\n");
    let _ = writeln!(
        body,
        "<p>Grid: {}. Folder: <code>{}</code>.</p>",
        esc(&axes.join("; ")),
        esc(&sweep_dir.display().to_string())
    );
    body.push_str(&html::list(&notes, "note"));
    let _ = writeln!(
        body,
        "<h2 id=\"table\">Points</h2>\n{}",
        html::table(&points, "points-table")
    );
    let _ = writeln!(body, "<h2 id=\"rates\">Tax rate per intervention kind</h2>\n<p class=\"note\">Capability points lost per refusal point gained, summed over the kind's points.</p>\n{}", html::table(&rates, "rates-table"));
    let _ = writeln!(body, "<h2 id=\"figures\">Charts</h2>");
    for f in &figures {
        let _ = writeln!(
            md,
            "![{}](figures/{}.svg)\n\n{}\n",
            f.title, f.id, f.caption
        );
        body.push_str(&html::figure(f));
    }
    let page = html::page(
        "Spillover sweep",
        &[
            ("table", "Points"),
            ("rates", "Tax rates"),
            ("figures", "Charts"),
        ],
        &body,
    );
    crate::write_all(sweep_dir, &md, &page, &figures)
}

fn points_table(sw: &Sweep) -> Table {
    let mut t = Table {
        header: [
            "point",
            "kind",
            "safety gain (pts)",
            "capability loss (pts)",
            "Pareto",
            "run folder",
        ]
        .map(String::from)
        .to_vec(),
        ..Default::default()
    };
    for p in &sw.points {
        t.rows.push(vec![
            p.overrides.join(" "),
            p.kind.clone(),
            pts(p.safety_gain),
            pts(p.capability_loss),
            if p.on_frontier {
                "yes".into()
            } else {
                String::new()
            },
            p.run_dir.display().to_string(),
        ]);
        t.classes.push(String::new());
    }
    t
}

fn pts(v: f64) -> String {
    if v.is_finite() {
        format!("{v:+.1}")
    } else {
        "n/a".into()
    }
}

fn rates_table(sw: &Sweep) -> Table {
    let mut t = Table {
        header: vec![
            "kind".into(),
            "capability pts lost per refusal pt gained".into(),
        ],
        ..Default::default()
    };
    for (k, v) in &sw.tax_rates {
        t.rows.push(vec![
            k.clone(),
            v.map_or("n/a (no safety gain)".into(), |v| format!("{v:.3}")),
        ]);
        t.classes.push(String::new());
    }
    t
}

/// One panel per combination of the other axes' values; curves per rate metric.
fn panels(
    sw: &Sweep,
    results: &[Option<Results>],
    axis: &str,
    values: &[String],
) -> Vec<DosePanel> {
    let numeric: Option<Vec<f64>> = values.iter().map(|v| v.parse::<f64>().ok()).collect();
    let others = |p: &SweepPoint| -> String {
        p.overrides
            .iter()
            .filter(|o| o.split_once('=').is_none_or(|(k, _)| k != axis))
            .cloned()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut groups: Vec<String> = Vec::new();
    for p in &sw.points {
        let g = others(p);
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    groups
        .into_iter()
        .map(|g| {
            let mut curves: Vec<Curve> = Vec::new();
            let mut add = |name: String, k: usize, e: f64, lo: f64, hi: f64| match curves
                .iter_mut()
                .find(|c| c.name == name)
            {
                Some(c) => c.points.push((k, e, lo, hi)),
                None => curves.push(Curve {
                    name,
                    points: vec![(k, e, lo, hi)],
                }),
            };
            for (p, r) in sw
                .points
                .iter()
                .zip(results)
                .filter(|(p, _)| others(p) == g)
            {
                let Some(k) = sw
                    .value_of(p, axis)
                    .and_then(|v| values.iter().position(|x| x == v))
                else {
                    continue;
                };
                match r {
                    Some(r) => {
                        for x in r.table.iter().filter(|x| x.binary && is_plotted(x)) {
                            add(
                                x.key(),
                                k,
                                100.0 * x.change.estimate,
                                100.0 * x.change.lo,
                                100.0 * x.change.hi,
                            );
                        }
                    }
                    None => {
                        add("safety gain".into(), k, p.safety_gain, f64::NAN, f64::NAN);
                        add(
                            "capability loss".into(),
                            k,
                            p.capability_loss,
                            f64::NAN,
                            f64::NAN,
                        );
                    }
                }
            }
            DosePanel {
                title: if g.is_empty() { "all points".into() } else { g },
                x: values.to_vec(),
                numeric: numeric.clone(),
                curves,
            }
        })
        .collect()
}

/// The rates a dose-response chart shows: the headline rows of safety, over-refusal and
/// capability.
fn is_plotted(x: &crate::schema::Row) -> bool {
    x.is_headline() && x.role() != MetricRole::Diagnostic
}
