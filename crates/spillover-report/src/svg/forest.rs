//! The change chart (a forest plot): each metric's change after − before with its interval, zero
//! marked. Rates share one axis in percentage points; every continuous metric gets its own scale
//! (their units differ), with its range printed at the row's ends. With several series (runs in a
//! comparison) each row holds one line per series.

use super::{tick_label, verdict_colour, Scale, Svg, EQUIVALENT, GAIN, LOSS, NONE, SERIES};
use crate::fmt;

/// One estimate with its interval.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Index into the series names.
    pub series: usize,
    pub estimate: f64,
    pub lo: f64,
    pub hi: f64,
    /// `gain`, `loss`, `equivalent`, `inconclusive` or `descriptive`.
    pub verdict: String,
    /// Per-seed changes, drawn as small dots.
    pub seeds: Vec<f64>,
}

/// One metric.
#[derive(Debug, Clone)]
pub struct ForestRow {
    /// `benchmark/metric ↑`.
    pub label: String,
    /// A rate (drawn in percentage points on the shared axis).
    pub binary: bool,
    pub entries: Vec<Entry>,
}

const LABEL_W: f64 = 190.0;
const PLOT_W: f64 = 340.0;
const TEXT_W: f64 = 200.0;

/// The forest plot of `rows`; `series` names the series (one name: colours show verdicts).
pub fn forest(rows: &[ForestRow], series: &[String], confidence: f64) -> String {
    let per = series.len().max(1);
    let row_h = 10.0 + 12.0 * per as f64;
    let binary: Vec<&ForestRow> = rows.iter().filter(|r| r.binary).collect();
    let continuous: Vec<&ForestRow> = rows.iter().filter(|r| !r.binary).collect();
    let mut h = 62.0;
    if !binary.is_empty() {
        h += 44.0 + row_h * binary.len() as f64;
    }
    if !continuous.is_empty() {
        h += 30.0 + (row_h + 10.0) * continuous.len() as f64;
    }
    let w = LABEL_W + PLOT_W + TEXT_W + 20.0;
    let mut s = Svg::new(w, h, "Change after intervention, per metric");
    s.bold(
        10.0,
        16.0,
        &format!(
            "Change (after − before) with {:.0}% interval",
            100.0 * confidence
        ),
        "start",
        12.0,
    );
    legend(&mut s, series, 10.0, 34.0);
    let mut y = 62.0;
    if !binary.is_empty() {
        let vals = binary
            .iter()
            .flat_map(|r| r.entries.iter())
            .flat_map(|e| [e.lo, e.hi, e.estimate])
            .map(|v| 100.0 * v);
        let (lo, hi) = symmetric(vals);
        let sc = Scale::new(lo, hi, LABEL_W, LABEL_W + PLOT_W);
        s.bold(
            10.0,
            y + 10.0,
            "Rates: change in percentage points",
            "start",
            11.0,
        );
        y += 26.0;
        for t in sc.ticks(6) {
            s.text(sc.at(t), y, &tick_label(t), "middle", 9.0);
        }
        y += 18.0;
        let y_end = y + row_h * binary.len() as f64;
        for t in sc.ticks(6) {
            s.line(sc.at(t), y - 6.0, sc.at(t), y_end, "#ececec", 1.0);
        }
        s.line(sc.at(0.0), y - 6.0, sc.at(0.0), y_end, "#444", 1.0);
        for r in &binary {
            draw_row(&mut s, r, &sc, y, row_h, 100.0, series.len() > 1);
            y += row_h;
        }
    }
    if !continuous.is_empty() {
        s.bold(
            10.0,
            y + 16.0,
            "Other metrics: change in each metric's own units (own scale per row)",
            "start",
            11.0,
        );
        y += 30.0;
        for r in &continuous {
            let vals = r.entries.iter().flat_map(|e| {
                [e.lo, e.hi, e.estimate]
                    .into_iter()
                    .chain(e.seeds.iter().copied())
            });
            let (lo, hi) = symmetric(vals);
            let sc = Scale::new(lo, hi, LABEL_W, LABEL_W + PLOT_W);
            s.line(
                sc.at(0.0),
                y + 2.0,
                sc.at(0.0),
                y + row_h - 2.0,
                "#444",
                1.0,
            );
            s.line(
                LABEL_W,
                y + row_h,
                LABEL_W + PLOT_W,
                y + row_h,
                "#dddddd",
                1.0,
            );
            s.text_colour(
                LABEL_W,
                y + row_h + 8.0,
                &tick_label(lo),
                "start",
                8.0,
                "#777777",
            );
            s.text_colour(sc.at(0.0), y + row_h + 8.0, "0", "middle", 8.0, "#777777");
            s.text_colour(
                LABEL_W + PLOT_W,
                y + row_h + 8.0,
                &tick_label(hi),
                "end",
                8.0,
                "#777777",
            );
            draw_row(&mut s, r, &sc, y, row_h, 1.0, series.len() > 1);
            y += row_h + 10.0;
        }
    }
    s.finish()
}

/// A range symmetric around zero that holds every finite value.
fn symmetric(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let m = values
        .filter(|v| v.is_finite())
        .fold(0.0f64, |a, v| a.max(v.abs()));
    let m = if m > 0.0 { m * 1.08 } else { 1.0 };
    (-m, m)
}

fn legend(s: &mut Svg, series: &[String], x: f64, y: f64) {
    if series.len() <= 1 {
        let mut cx = x;
        for (name, c) in [
            ("gain", GAIN),
            ("loss", LOSS),
            ("equivalent", EQUIVALENT),
            ("inconclusive / descriptive", NONE),
        ] {
            s.circle(cx + 5.0, y - 4.0, 4.0, c, c, None);
            s.text(cx + 13.0, y, name, "start", 10.0);
            cx += 30.0 + 6.0 * name.len() as f64;
        }
        s.text(
            cx + 10.0,
            y,
            "(intervals at the verdict's Holm level)",
            "start",
            10.0,
        );
    } else {
        let mut cx = x;
        for (i, name) in series.iter().enumerate() {
            let c = SERIES[i % SERIES.len()];
            s.circle(cx + 5.0, y - 4.0, 4.0, c, c, None);
            s.text(cx + 13.0, y, name, "start", 10.0);
            cx += 24.0 + 6.0 * name.chars().count().min(40) as f64;
        }
        s.text(
            cx + 6.0,
            y,
            "filled: significant change (Holm); hollow: none detected",
            "start",
            10.0,
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn draw_row(s: &mut Svg, r: &ForestRow, sc: &Scale, y: f64, row_h: f64, unit: f64, multi: bool) {
    s.text(LABEL_W - 8.0, y + row_h / 2.0 + 4.0, &r.label, "end", 10.0);
    for (k, e) in r.entries.iter().enumerate() {
        let cy = y + 11.0 + 12.0 * if multi { e.series } else { k } as f64;
        let colour = if multi {
            SERIES[e.series % SERIES.len()]
        } else {
            verdict_colour(&e.verdict)
        };
        let fill = if !multi || e.verdict == "gain" || e.verdict == "loss" {
            colour
        } else {
            "#ffffff"
        };
        for &d in &e.seeds {
            s.circle(
                sc.at(unit * d),
                cy,
                2.0,
                "#bbbbbb",
                "none",
                Some(&format!("one seed: {}", fmt::signed(unit * d))),
            );
        }
        if e.lo.is_finite() && e.hi.is_finite() {
            s.line(sc.at(unit * e.lo), cy, sc.at(unit * e.hi), cy, colour, 2.0);
        }
        let text = if r.binary {
            format!(
                "{} pts [{}, {}]",
                fmt::pts(e.estimate),
                fmt::pts(e.lo),
                fmt::pts(e.hi)
            )
        } else {
            format!(
                "{} [{}, {}]",
                fmt::signed(e.estimate),
                fmt::signed(e.lo),
                fmt::signed(e.hi)
            )
        };
        if e.estimate.is_finite() {
            let tip = format!("{}: {text} ({})", r.label, fmt::verdict(&e.verdict));
            s.circle(sc.at(unit * e.estimate), cy, 4.0, fill, colour, Some(&tip));
        }
        s.text(LABEL_W + PLOT_W + 10.0, cy + 4.0, &text, "start", 9.5);
    }
}
