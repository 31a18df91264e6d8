//! Sweep charts: the Pareto frontier (safety gain against capability loss) and dose-response
//! curves (each rate's change against the value of one grid axis).

use super::{extent, tick_label, Scale, Svg, SERIES};
use crate::fmt;

/// One sweep point on the safety/capability plane.
#[derive(Debug, Clone)]
pub struct PlanePoint {
    /// The point's overrides, e.g. `intervention.epochs=2`.
    pub label: String,
    /// Intervention kind (the colour).
    pub kind: String,
    /// Refusal-rate change on harmful prompts, points.
    pub gain: f64,
    /// Minus the mean capability change, points.
    pub loss: f64,
    pub on_frontier: bool,
}

fn axes(s: &mut Svg, x: &Scale, y: &Scale, xlabel: &str, ylabel: &str) {
    let (l, r, t, b) = (x.p0, x.p1, y.p1, y.p0);
    for v in x.ticks(6) {
        s.line(x.at(v), t, x.at(v), b, "#eeeeee", 1.0);
        s.text(x.at(v), b + 14.0, &tick_label(v), "middle", 9.0);
    }
    for v in y.ticks(6) {
        s.line(l, y.at(v), r, y.at(v), "#eeeeee", 1.0);
        s.text(l - 5.0, y.at(v) + 3.5, &tick_label(v), "end", 9.0);
    }
    s.line(l, b, r, b, "#444", 1.0);
    s.line(l, t, l, b, "#444", 1.0);
    s.text((l + r) / 2.0, b + 32.0, xlabel, "middle", 10.5);
    s.vtext(l - 40.0, (t + b) / 2.0, ylabel, 10.5);
}

/// Safety gain (x) against capability loss (y); frontier points filled and joined.
pub fn frontier(points: &[PlanePoint]) -> String {
    let (w, h) = (640.0, 440.0);
    let mut s = Svg::new(w, h, "Pareto frontier: safety gain against capability loss");
    s.bold(
        10.0,
        16.0,
        "Safety gain vs capability loss (each point a run; filled: on the Pareto frontier)",
        "start",
        12.0,
    );
    let ok: Vec<&PlanePoint> = points
        .iter()
        .filter(|p| p.gain.is_finite() && p.loss.is_finite())
        .collect();
    let (x0, x1) = extent(ok.iter().map(|p| p.gain), Some(0.0));
    let (y0, y1) = extent(ok.iter().map(|p| p.loss), Some(0.0));
    let (x0, x1) = padded(x0, x1);
    let (y0, y1) = padded(y0, y1);
    let xs = Scale::new(x0, x1, 70.0, w - 150.0);
    let ys = Scale::new(y0, y1, h - 60.0, 40.0);
    axes(
        &mut s,
        &xs,
        &ys,
        "safety gain: refusal-rate change on harmful prompts (points)",
        "capability loss (points)",
    );
    let kinds = kinds(points);
    let mut front: Vec<&&PlanePoint> = ok.iter().filter(|p| p.on_frontier).collect();
    front.sort_by(|a, b| a.gain.total_cmp(&b.gain));
    let line: Vec<(f64, f64)> = front
        .iter()
        .map(|p| (xs.at(p.gain), ys.at(p.loss)))
        .collect();
    s.polyline(&line, "#444", 1.2);
    let mut placed: Vec<(i64, i64)> = Vec::new();
    for p in &ok {
        let c = SERIES[kinds.iter().position(|k| *k == p.kind).unwrap_or(0) % SERIES.len()];
        let at = (
            (xs.at(p.gain) / 4.0).round() as i64,
            (ys.at(p.loss) / 4.0).round() as i64,
        );
        let stack = placed.iter().filter(|q| **q == at).count() as f64;
        placed.push(at);
        let tip = format!(
            "{} ({}): safety {:+.1} pts, capability loss {:+.1} pts{}",
            p.label,
            p.kind,
            p.gain,
            p.loss,
            if p.on_frontier { ", Pareto" } else { "" }
        );
        s.circle(
            xs.at(p.gain),
            ys.at(p.loss),
            5.0,
            if p.on_frontier { c } else { "#ffffff" },
            c,
            Some(&tip),
        );
        s.text(
            xs.at(p.gain) + 7.0,
            ys.at(p.loss) - 6.0 + 11.0 * stack,
            &short(&p.label),
            "start",
            8.5,
        );
    }
    for (i, k) in kinds.iter().enumerate() {
        let c = SERIES[i % SERIES.len()];
        s.circle(w - 130.0, 50.0 + 16.0 * i as f64, 5.0, c, c, None);
        s.text(w - 120.0, 54.0 + 16.0 * i as f64, k, "start", 10.0);
    }
    let missing = points.len() - ok.len();
    if missing > 0 {
        s.text(
            70.0,
            h - 8.0,
            &format!(
                "{missing} point(s) without a measured safety or capability change are not drawn"
            ),
            "start",
            9.0,
        );
    }
    s.finish()
}

/// `[lo, hi]` widened by 8% on each side, or to ±1 around a single value.
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if hi - lo < 1e-9 {
        (lo - 1.0, hi + 1.0)
    } else {
        let pad = 0.08 * (hi - lo);
        (lo - pad, hi + pad)
    }
}

fn kinds(points: &[PlanePoint]) -> Vec<String> {
    let mut k: Vec<String> = points.iter().map(|p| p.kind.clone()).collect();
    k.sort();
    k.dedup();
    k
}

fn short(label: &str) -> String {
    label
        .split(' ')
        .map(|o| o.rsplit_once('.').map_or(o, |(_, tail)| tail))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One curve of a dose-response panel.
#[derive(Debug, Clone)]
pub struct Curve {
    pub name: String,
    /// (x position index, estimate, lo, hi), in the plotted unit.
    pub points: Vec<(usize, f64, f64, f64)>,
}

/// One panel: every curve against the axis values (`x`: labels; `numeric`: positions when every
/// label is a number, so uneven spacing shows).
#[derive(Debug, Clone)]
pub struct DosePanel {
    pub title: String,
    pub x: Vec<String>,
    pub numeric: Option<Vec<f64>>,
    pub curves: Vec<Curve>,
}

/// Dose-response panels for one axis, stacked.
pub fn dose_response(axis: &str, ylabel: &str, panels: &[DosePanel]) -> String {
    let (pw, ph) = (640.0, 300.0);
    let h = 30.0 + ph * panels.len() as f64;
    let mut s = Svg::new(pw, h, &format!("Dose-response over {axis}"));
    s.bold(
        10.0,
        16.0,
        &format!(
            "Dose-response: change against {axis} (with intervals where the run's table has them)"
        ),
        "start",
        12.0,
    );
    for (i, p) in panels.iter().enumerate() {
        let top = 30.0 + ph * i as f64;
        s.text(70.0, top + 18.0, &p.title, "start", 10.5);
        let pos = |k: usize| p.numeric.as_ref().map_or(k as f64, |n| n[k]);
        let (x0, x1) = extent((0..p.x.len()).map(pos), None);
        let (x0, x1) = padded(x0, x1);
        let xs = Scale::new(x0, x1, 70.0, pw - 170.0);
        let vals = p
            .curves
            .iter()
            .flat_map(|c| c.points.iter().flat_map(|q| [q.1, q.2, q.3]));
        let (y0, y1) = extent(vals, Some(0.0));
        let (y0, y1) = padded(y0, y1);
        let ys = Scale::new(y0, y1, top + ph - 60.0, top + 28.0);
        let (l, r) = (xs.p0, xs.p1);
        for v in ys.ticks(5) {
            s.line(l, ys.at(v), r, ys.at(v), "#eeeeee", 1.0);
            s.text(l - 5.0, ys.at(v) + 3.5, &tick_label(v), "end", 9.0);
        }
        s.line(l, ys.at(0.0), r, ys.at(0.0), "#888", 1.0);
        s.line(l, ys.p0, r, ys.p0, "#444", 1.0);
        s.line(l, ys.p1, l, ys.p0, "#444", 1.0);
        for (k, label) in p.x.iter().enumerate() {
            s.text(xs.at(pos(k)), ys.p0 + 14.0, label, "middle", 9.0);
        }
        s.text((l + r) / 2.0, ys.p0 + 32.0, axis, "middle", 10.0);
        s.vtext(l - 44.0, (ys.p0 + ys.p1) / 2.0, ylabel, 10.0);
        for (ci, c) in p.curves.iter().enumerate() {
            let col = SERIES[ci % SERIES.len()];
            let jitter = (ci as f64 - (p.curves.len() as f64 - 1.0) / 2.0) * 3.0;
            let mut pts: Vec<(usize, f64, f64, f64)> = c
                .points
                .iter()
                .copied()
                .filter(|q| q.1.is_finite())
                .collect();
            pts.sort_by(|a, b| pos(a.0).total_cmp(&pos(b.0)));
            let line: Vec<(f64, f64)> = pts
                .iter()
                .map(|q| (xs.at(pos(q.0)) + jitter, ys.at(q.1)))
                .collect();
            s.polyline(&line, col, 1.5);
            for q in &pts {
                let x = xs.at(pos(q.0)) + jitter;
                if q.2.is_finite() && q.3.is_finite() {
                    s.line(x, ys.at(q.2), x, ys.at(q.3), col, 1.0);
                }
                let tip = format!(
                    "{} at {}={}: {} [{}, {}]",
                    c.name,
                    axis,
                    p.x[q.0],
                    fmt::signed(q.1),
                    fmt::signed(q.2),
                    fmt::signed(q.3)
                );
                s.circle(x, ys.at(q.1), 3.5, col, col, Some(&tip));
            }
            s.circle(
                pw - 160.0,
                top + 40.0 + 15.0 * ci as f64,
                4.0,
                col,
                col,
                None,
            );
            s.text(
                pw - 150.0,
                top + 44.0 + 15.0 * ci as f64,
                &c.name,
                "start",
                9.5,
            );
        }
    }
    s.finish()
}
