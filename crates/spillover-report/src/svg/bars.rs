//! Before/after bars with confidence intervals: one small panel per metric (each with its own
//! scale; rates on 0–100%).

use super::{extent, tick_label, verdict_colour, Scale, Svg, AFTER, BEFORE};
use crate::fmt;
use crate::schema::Row;

const PANEL_W: f64 = 200.0;
const PANEL_H: f64 = 192.0;
const COLS: usize = 4;

/// The before/after chart of `rows`.
pub fn before_after(rows: &[Row], confidence: f64) -> String {
    let cols = rows.len().clamp(1, COLS);
    let nrows = rows.len().div_ceil(cols).max(1);
    let w = cols as f64 * PANEL_W + 20.0;
    let h = nrows as f64 * PANEL_H + 44.0;
    let mut s = Svg::new(w, h, "Before and after intervention, per metric");
    s.bold(
        10.0,
        16.0,
        &format!(
            "Before and after, mean with {:.0}% interval, per metric",
            100.0 * confidence
        ),
        "start",
        12.0,
    );
    legend(&mut s, w - 190.0, 10.0);
    for (i, row) in rows.iter().enumerate() {
        let x = 10.0 + (i % cols) as f64 * PANEL_W;
        let y = 32.0 + (i / cols) as f64 * PANEL_H;
        panel(&mut s, row, x, y);
    }
    s.finish()
}

fn legend(s: &mut Svg, x: f64, y: f64) {
    s.rect(x, y, 12.0, 10.0, BEFORE, None);
    s.text(x + 16.0, y + 9.0, "before", "start", 11.0);
    s.rect(x + 70.0, y, 12.0, 10.0, AFTER, None);
    s.text(x + 86.0, y + 9.0, "after", "start", 11.0);
}

fn panel(s: &mut Svg, row: &Row, x: f64, y: f64) {
    let arrow = if row.higher_is_better { "↑" } else { "↓" };
    s.bold(
        x + PANEL_W / 2.0,
        y + 12.0,
        &format!("{} {arrow}", row.key()),
        "middle",
        11.0,
    );
    let (top, bottom) = (y + 24.0, y + PANEL_H - 40.0);
    let (left, right) = (x + 46.0, x + PANEL_W - 14.0);
    let (d0, d1) = if row.binary {
        (0.0, 1.0)
    } else {
        let (lo, hi) = extent(
            [
                row.before.lo,
                row.before.hi,
                row.after.lo,
                row.after.hi,
                row.before.estimate,
                row.after.estimate,
            ],
            Some(0.0),
        );
        let pad = 0.06 * (hi - lo);
        (
            if lo < 0.0 { lo - pad } else { lo },
            if hi > 0.0 { hi + pad } else { hi },
        )
    };
    let sc = Scale::new(d0, d1, bottom, top);
    for t in sc.ticks(4) {
        let ty = sc.at(t);
        s.line(left - 3.0, ty, right, ty, "#e4e4e4", 1.0);
        let label = if row.binary {
            format!("{:.0}%", 100.0 * t)
        } else {
            tick_label(t)
        };
        s.text(left - 5.0, ty + 3.5, &label, "end", 9.0);
    }
    s.line(left, top, left, bottom, "#444", 1.0);
    let zero = sc.at(0.0f64.clamp(sc.d0, sc.d1));
    s.line(left, zero, right, zero, "#444", 1.0);
    let bw = (right - left) / 5.0;
    for (k, (name, iv, colour)) in [
        ("before", &row.before, BEFORE),
        ("after", &row.after, AFTER),
    ]
    .iter()
    .enumerate()
    {
        let cx = left + (1.5 + 2.0 * k as f64) * bw;
        let v = sc.at(iv.estimate);
        let tip = format!(
            "{} {name}: {} (n={})",
            row.key(),
            fmt::interval(row, iv),
            row.n
        );
        if iv.estimate.is_finite() {
            s.rect(
                cx - bw / 2.0,
                v.min(zero),
                bw,
                (v - zero).abs().max(0.8),
                colour,
                Some(&tip),
            );
        }
        if iv.lo.is_finite() && iv.hi.is_finite() {
            let (lo, hi) = (sc.at(iv.lo), sc.at(iv.hi));
            s.line(cx, lo, cx, hi, "#222", 1.2);
            s.line(cx - 5.0, lo, cx + 5.0, lo, "#222", 1.2);
            s.line(cx - 5.0, hi, cx + 5.0, hi, "#222", 1.2);
        }
        s.text(cx, bottom + 13.0, name, "middle", 10.0);
        s.text(
            cx,
            bottom + 25.0,
            &fmt::value(row, iv.estimate),
            "middle",
            9.0,
        );
    }
    let note = format!("n={} · {}", row.n, fmt::verdict(&row.verdict));
    s.text_colour(
        x + PANEL_W / 2.0,
        y + PANEL_H - 4.0,
        &note,
        "middle",
        10.0,
        verdict_colour(&row.verdict),
    );
}

/// Horizontal before/after bars per named component (e.g. attribution of heads and MLPs),
/// one shared axis through zero.
pub fn components(items: &[(String, f64, f64)], title: &str, axis: &str) -> String {
    let row_h = 22.0;
    let (label_w, plot_w) = (110.0, 420.0);
    let h = 70.0 + row_h * items.len() as f64 + 30.0;
    let w = label_w + plot_w + 40.0;
    let mut s = Svg::new(w, h, title);
    s.bold(10.0, 16.0, title, "start", 12.0);
    legend(&mut s, 10.0, 26.0);
    let (lo, hi) = extent(items.iter().flat_map(|(_, b, a)| [*b, *a]), Some(0.0));
    let pad = 0.05 * (hi - lo).max(1e-12);
    let sc = Scale::new(lo - pad, hi + pad, label_w, label_w + plot_w);
    let top = 58.0;
    let bottom = top + row_h * items.len() as f64;
    for t in sc.ticks(6) {
        s.line(sc.at(t), top - 4.0, sc.at(t), bottom, "#eeeeee", 1.0);
        s.text(sc.at(t), bottom + 12.0, &tick_label(t), "middle", 9.0);
    }
    s.line(sc.at(0.0), top - 4.0, sc.at(0.0), bottom, "#444", 1.0);
    s.text(label_w + plot_w / 2.0, bottom + 26.0, axis, "middle", 10.0);
    for (i, (name, b, a)) in items.iter().enumerate() {
        let y = top + row_h * i as f64;
        s.text(label_w - 6.0, y + 14.0, name, "end", 10.0);
        for (k, (v, c, which)) in [(*b, BEFORE, "before"), (*a, AFTER, "after")]
            .iter()
            .enumerate()
        {
            if !v.is_finite() {
                continue;
            }
            let (x0, x1) = (sc.at(0.0), sc.at(*v));
            let tip = format!("{name} {which}: {}", fmt::num(*v));
            s.rect(
                x0.min(x1),
                y + 2.0 + 9.0 * k as f64,
                (x1 - x0).abs().max(0.8),
                8.0,
                c,
                Some(&tip),
            );
        }
    }
    s.finish()
}
