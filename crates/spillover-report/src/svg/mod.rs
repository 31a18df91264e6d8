//! Small SVG building blocks: a document builder that escapes every piece of text, linear scales
//! with readable ticks, and the palettes. Charts are in the sibling modules.

pub mod bars;
pub mod forest;
pub mod heatmap;
pub mod png;
pub mod sweep;

use crate::fmt::html as esc;
use std::fmt::Write;

/// Colour of the "before" series.
pub const BEFORE: &str = "#7b8fbf";
/// Colour of the "after" series.
pub const AFTER: &str = "#e07b39";
/// Colours of verdicts.
pub const GAIN: &str = "#1a9850";
pub const LOSS: &str = "#d73027";
pub const NONE: &str = "#6b6b6b";
pub const EQUIVALENT: &str = "#4575b4";
/// Colours of series in comparisons and dose-response charts.
pub const SERIES: &[&str] = &[
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
];

/// The colour of a verdict string (`gain`, `loss`, `equivalent`, anything else).
pub fn verdict_colour(v: &str) -> &'static str {
    match v {
        "gain" => GAIN,
        "loss" => LOSS,
        "equivalent" => EQUIVALENT,
        _ => NONE,
    }
}

/// An SVG document under construction. Coordinates are user units; the document scales to the
/// width of its container in the HTML report.
pub struct Svg {
    w: f64,
    h: f64,
    title: String,
    body: String,
}

impl Svg {
    /// A `w` × `h` document; `title` becomes its `<title>` (read by screen readers and tooltips).
    pub fn new(w: f64, h: f64, title: &str) -> Svg {
        Svg {
            w,
            h,
            title: title.to_string(),
            body: String::new(),
        }
    }

    /// Width of the document.
    pub fn width(&self) -> f64 {
        self.w
    }

    /// A filled rectangle with an optional tooltip.
    #[allow(clippy::too_many_arguments)]
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, tip: Option<&str>) {
        let _ = write!(
            self.body,
            "<rect x=\"{x:.2}\" y=\"{y:.2}\" width=\"{:.2}\" height=\"{:.2}\" fill=\"{}\"",
            w.max(0.0),
            h.max(0.0),
            esc(fill)
        );
        self.close_with_tip(tip, "rect");
    }

    /// A straight line.
    pub fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, stroke: &str, width: f64) {
        let _ = writeln!(
            self.body,
            "<line x1=\"{x1:.2}\" y1=\"{y1:.2}\" x2=\"{x2:.2}\" y2=\"{y2:.2}\" stroke=\"{}\" stroke-width=\"{width}\"/>",
            esc(stroke)
        );
    }

    /// A dashed line.
    pub fn dashed(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, stroke: &str) {
        let _ = writeln!(
            self.body,
            "<line x1=\"{x1:.2}\" y1=\"{y1:.2}\" x2=\"{x2:.2}\" y2=\"{y2:.2}\" stroke=\"{}\" stroke-dasharray=\"4 3\"/>",
            esc(stroke)
        );
    }

    /// Text; `anchor` is `start`, `middle` or `end`.
    pub fn text(&mut self, x: f64, y: f64, s: &str, anchor: &str, size: f64) {
        let _ = writeln!(
            self.body,
            "<text x=\"{x:.2}\" y=\"{y:.2}\" text-anchor=\"{anchor}\" font-size=\"{size}\">{}</text>",
            esc(s)
        );
    }

    /// Coloured text.
    pub fn text_colour(&mut self, x: f64, y: f64, s: &str, anchor: &str, size: f64, fill: &str) {
        let _ = writeln!(
            self.body,
            "<text x=\"{x:.2}\" y=\"{y:.2}\" text-anchor=\"{anchor}\" font-size=\"{size}\" fill=\"{}\">{}</text>",
            esc(fill),
            esc(s)
        );
    }

    /// Bold text.
    pub fn bold(&mut self, x: f64, y: f64, s: &str, anchor: &str, size: f64) {
        let _ = writeln!(
            self.body,
            "<text x=\"{x:.2}\" y=\"{y:.2}\" text-anchor=\"{anchor}\" font-size=\"{size}\" font-weight=\"bold\">{}</text>",
            esc(s)
        );
    }

    /// Text rotated by -90° around its anchor (y-axis labels).
    pub fn vtext(&mut self, x: f64, y: f64, s: &str, size: f64) {
        let _ = writeln!(
            self.body,
            "<text x=\"{x:.2}\" y=\"{y:.2}\" text-anchor=\"middle\" font-size=\"{size}\" transform=\"rotate(-90 {x:.2} {y:.2})\">{}</text>",
            esc(s)
        );
    }

    /// A circle with an optional tooltip.
    pub fn circle(
        &mut self,
        cx: f64,
        cy: f64,
        r: f64,
        fill: &str,
        stroke: &str,
        tip: Option<&str>,
    ) {
        let _ = write!(
            self.body,
            "<circle cx=\"{cx:.2}\" cy=\"{cy:.2}\" r=\"{r}\" fill=\"{}\" stroke=\"{}\"",
            esc(fill),
            esc(stroke)
        );
        self.close_with_tip(tip, "circle");
    }

    /// An open polyline through `points`.
    pub fn polyline(&mut self, points: &[(f64, f64)], stroke: &str, width: f64) {
        if points.len() < 2 {
            return;
        }
        let pts: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{x:.2},{y:.2}"))
            .collect();
        let _ = writeln!(
            self.body,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{width}\"/>",
            pts.join(" "),
            esc(stroke)
        );
    }

    /// An embedded PNG image (a data URI) drawn at `x, y` with size `w` × `h`, pixels kept sharp.
    pub fn png(&mut self, x: f64, y: f64, w: f64, h: f64, png: &[u8]) {
        let _ = writeln!(
            self.body,
            "<image x=\"{x:.2}\" y=\"{y:.2}\" width=\"{w:.2}\" height=\"{h:.2}\" preserveAspectRatio=\"none\" style=\"image-rendering:pixelated\" href=\"data:image/png;base64,{}\"/>",
            png::base64(png)
        );
    }

    fn close_with_tip(&mut self, tip: Option<&str>, tag: &str) {
        match tip {
            Some(t) => {
                let _ = writeln!(self.body, "><title>{}</title></{tag}>", esc(t));
            }
            None => self.body.push_str("/>\n"),
        }
    }

    /// The finished document.
    pub fn finish(self) -> String {
        format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" font-family=\"Helvetica, Arial, sans-serif\" font-size=\"11\" role=\"img\">\n<title>{}</title>\n<rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>\n{}</svg>\n",
            esc(&self.title),
            self.body,
            w = self.w,
            h = self.h
        )
    }
}

/// A linear map from a data interval onto a pixel interval.
#[derive(Debug, Clone, Copy)]
pub struct Scale {
    pub d0: f64,
    pub d1: f64,
    pub p0: f64,
    pub p1: f64,
}

impl Scale {
    /// Maps `[d0, d1]` onto `[p0, p1]`; an empty data interval is widened so it maps somewhere.
    pub fn new(d0: f64, d1: f64, p0: f64, p1: f64) -> Scale {
        let (d0, d1) = if d1 > d0 {
            (d0, d1)
        } else {
            let pad = if d0.abs() > 0.0 { d0.abs() * 0.1 } else { 1.0 };
            (d0 - pad, d0 + pad)
        };
        Scale { d0, d1, p0, p1 }
    }

    /// Pixel position of `v` (clamped to the range, so a stray value stays on the chart).
    pub fn at(&self, v: f64) -> f64 {
        let t = ((v - self.d0) / (self.d1 - self.d0)).clamp(-0.02, 1.02);
        self.p0 + t * (self.p1 - self.p0)
    }

    /// About `n` round tick values within the data interval.
    pub fn ticks(&self, n: usize) -> Vec<f64> {
        ticks(self.d0, self.d1, n)
    }
}

/// Round tick values (steps of 1, 2 or 5 × 10^k) covering `[lo, hi]`.
pub fn ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo || n == 0 {
        return Vec::new();
    }
    let raw = (hi - lo) / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// The smallest and largest finite values, widened to include `include` (e.g. zero).
pub fn extent(values: impl IntoIterator<Item = f64>, include: Option<f64>) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for v in values.into_iter().chain(include).filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        (0.0, 1.0)
    } else {
        (lo, hi)
    }
}

/// A tick label: short, without trailing noise.
pub fn tick_label(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.1e}").replace(".0e", "e")
    } else {
        let s = format!("{v:.4}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let t = ticks(0.0, 1.0, 5);
        assert_eq!(t.len(), 6);
        for (i, v) in t.iter().enumerate() {
            assert!((v - 0.2 * i as f64).abs() < 1e-12, "{t:?}");
        }
        let t = ticks(-13.2, -12.9, 3);
        assert!(
            t.iter().all(|v| (-13.2 - 1e-9..=-12.9 + 1e-9).contains(v)),
            "{t:?}"
        );
        assert!(t.len() >= 2);
        assert!(ticks(1.0, 1.0, 4).is_empty());
    }

    #[test]
    fn scale_maps_ends_and_widens_empty_ranges() {
        let s = Scale::new(0.0, 10.0, 100.0, 200.0);
        assert_eq!(s.at(0.0), 100.0);
        assert_eq!(s.at(10.0), 200.0);
        let e = Scale::new(3.0, 3.0, 0.0, 1.0);
        assert!(e.d1 > e.d0 && (e.at(3.0) - 0.5).abs() < 1e-12);
    }
}
