//! Heatmaps: small matrices (layers × heads, layers × sites) as one rectangle per cell with a
//! tooltip, and dense ones (attention patterns, tokens × tokens) as an embedded PNG.

use super::{png, tick_label, Svg};
use crate::fmt;

/// A row-major matrix of values.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f32>,
}

impl Matrix {
    /// A matrix from equal-length rows; `None` when the rows are ragged or empty.
    pub fn from_rows(rows: &[Vec<f32>]) -> Option<Matrix> {
        let cols = rows.first()?.len();
        if cols == 0 || rows.iter().any(|r| r.len() != cols) {
            return None;
        }
        Some(Matrix {
            rows: rows.len(),
            cols,
            data: rows.iter().flatten().copied().collect(),
        })
    }

    /// The value at (`r`, `c`).
    pub fn at(&self, r: usize, c: usize) -> f32 {
        self.data[r * self.cols + c]
    }

    fn finite(&self) -> impl Iterator<Item = f32> + '_ {
        self.data.iter().copied().filter(|v| v.is_finite())
    }
}

/// How values map to colours.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Palette {
    /// White (0 or the minimum) to dark blue (the maximum).
    Sequential,
    /// Blue (negative) – white (0) – red (positive), symmetric in magnitude.
    Diverging,
}

/// The value range a palette spans over `values`.
fn domain(p: Palette, values: impl Iterator<Item = f32>) -> (f32, f32) {
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for v in values {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if lo > hi {
        return (0.0, 1.0);
    }
    match p {
        Palette::Diverging => {
            let m = lo.abs().max(hi.abs()).max(f32::MIN_POSITIVE);
            (-m, m)
        }
        Palette::Sequential => {
            let lo = lo.min(0.0);
            (lo, if hi > lo { hi } else { lo + 1.0 })
        }
    }
}

/// The colour of `v` on `p` over `[lo, hi]`.
pub fn colour(p: Palette, v: f32, lo: f32, hi: f32) -> [u8; 3] {
    if !v.is_finite() {
        return [200, 200, 200];
    }
    let t = ((v - lo) / (hi - lo)).clamp(0.0, 1.0);
    let mix = |a: [f32; 3], b: [f32; 3], t: f32| -> [u8; 3] {
        [0, 1, 2].map(|i| (a[i] + (b[i] - a[i]) * t).round() as u8)
    };
    match p {
        Palette::Sequential => {
            if t < 0.5 {
                mix([255.0, 255.0, 255.0], [107.0, 174.0, 214.0], t * 2.0)
            } else {
                mix([107.0, 174.0, 214.0], [8.0, 48.0, 107.0], (t - 0.5) * 2.0)
            }
        }
        Palette::Diverging => {
            if t < 0.5 {
                mix([33.0, 102.0, 172.0], [255.0, 255.0, 255.0], t * 2.0)
            } else {
                mix([255.0, 255.0, 255.0], [178.0, 24.0, 43.0], (t - 0.5) * 2.0)
            }
        }
    }
}

fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

/// Labels of one heatmap.
pub struct Labels<'a> {
    pub title: &'a str,
    /// Axis names, e.g. "layer" and "head".
    pub row_axis: &'a str,
    pub col_axis: &'a str,
    /// Column names (e.g. site names); numbers when empty.
    pub cols: &'a [String],
    /// What a cell's value is (for the colour bar and tooltips).
    pub value: &'a str,
}

/// One rectangle per cell, rows top to bottom, with a colour bar.
pub fn grid(m: &Matrix, l: &Labels, p: Palette) -> String {
    let cell = (360.0 / m.cols as f64)
        .clamp(10.0, 44.0)
        .min((420.0 / m.rows as f64).max(10.0));
    let (left, top) = (58.0, 44.0);
    let gw = cell * m.cols as f64;
    let gh = cell * m.rows as f64;
    let w = (left + gw + 120.0)
        .max(20.0 + 7.0 * l.title.chars().count() as f64)
        .max(420.0);
    let h = top + gh + 60.0;
    let mut s = Svg::new(w, h, l.title);
    s.bold(10.0, 16.0, l.title, "start", 12.0);
    let (lo, hi) = domain(p, m.finite());
    for r in 0..m.rows {
        for c in 0..m.cols {
            let v = m.at(r, c);
            let col = l.cols.get(c).cloned().unwrap_or_else(|| c.to_string());
            let tip = format!(
                "{} {r}, {} {col}: {}",
                l.row_axis,
                l.col_axis,
                fmt::num(f64::from(v))
            );
            s.rect(
                left + cell * c as f64,
                top + cell * r as f64,
                cell - 1.0,
                cell - 1.0,
                &hex(colour(p, v, lo, hi)),
                Some(&tip),
            );
        }
    }
    let every = (m.rows / 16).max(1);
    for r in (0..m.rows).step_by(every) {
        s.text(
            left - 4.0,
            top + cell * (r as f64 + 0.5) + 3.5,
            &r.to_string(),
            "end",
            9.0,
        );
    }
    let every = if l.cols.is_empty() {
        (m.cols / 16).max(1)
    } else {
        1
    };
    for c in (0..m.cols).step_by(every) {
        let name = l.cols.get(c).cloned().unwrap_or_else(|| c.to_string());
        s.text(
            left + cell * (c as f64 + 0.5),
            top - 4.0,
            &name,
            "middle",
            9.0,
        );
    }
    s.vtext(16.0, top + gh / 2.0, l.row_axis, 10.0);
    s.text(left + gw / 2.0, top - 16.0, l.col_axis, "middle", 10.0);
    colour_bar(
        &mut s,
        p,
        lo,
        hi,
        left,
        top + gh + 12.0,
        gw.max(240.0),
        l.value,
    );
    s.finish()
}

#[allow(clippy::too_many_arguments)]
fn colour_bar(s: &mut Svg, p: Palette, lo: f32, hi: f32, x: f64, y: f64, w: f64, what: &str) {
    let steps = 24;
    for i in 0..steps {
        let v = lo + (hi - lo) * (i as f32 + 0.5) / steps as f32;
        s.rect(
            x + w * i as f64 / steps as f64,
            y,
            w / steps as f64 + 0.5,
            8.0,
            &hex(colour(p, v, lo, hi)),
            None,
        );
    }
    s.text(x, y + 19.0, &tick_label(f64::from(lo)), "start", 9.0);
    s.text(x + w, y + 19.0, &tick_label(f64::from(hi)), "end", 9.0);
    s.text(x, y + 32.0, what, "start", 9.0);
}

/// Two tokens × tokens attention patterns side by side (query rows, key columns), as PNG images
/// on one shared colour scale (0 to the larger maximum), with token labels when they fit.
pub fn attention_pair(base: &Matrix, tuned: &Matrix, tokens: &[String], title: &str) -> String {
    let t = base.rows;
    let size = 300.0;
    let (left, top) = (110.0, 48.0);
    let gap = 130.0;
    let w = left + 2.0 * size + gap + 20.0;
    let h = top + size + 76.0;
    let mut s = Svg::new(w, h, title);
    s.bold(10.0, 16.0, title, "start", 12.0);
    let hi = base
        .finite()
        .chain(tuned.finite())
        .fold(0.0f32, f32::max)
        .max(f32::MIN_POSITIVE);
    for (k, (name, m)) in [("before (base model)", base), ("after (intervened)", tuned)]
        .iter()
        .enumerate()
    {
        let x = left + k as f64 * (size + gap);
        let pixels: Vec<u8> = m
            .data
            .iter()
            .map(|v| (255.0 * (v / hi).clamp(0.0, 1.0)).round() as u8)
            .collect();
        let palette: Vec<[u8; 3]> = (0..256)
            .map(|i| colour(Palette::Sequential, i as f32, 0.0, 255.0))
            .collect();
        let img = png::encode_indexed(m.cols as u32, m.rows as u32, &pixels, &palette);
        s.png(x, top, size, size, &img);
        s.text(x + size / 2.0, top - 8.0, name, "middle", 11.0);
        s.line(x, top, x + size, top, "#888", 0.5);
        s.line(x, top + size, x + size, top + size, "#888", 0.5);
        s.line(x, top, x, top + size, "#888", 0.5);
        s.line(x + size, top, x + size, top + size, "#888", 0.5);
        let every = t.div_ceil(24).max(1);
        let cell = size / t.max(1) as f64;
        for (i, tok) in tokens.iter().enumerate().take(t).step_by(every) {
            let label: String = tok.chars().take(12).collect::<String>().replace('\n', "⏎");
            s.text(
                x - 3.0,
                top + cell * (i as f64 + 0.5) + 3.0,
                &label,
                "end",
                7.5,
            );
        }
    }
    s.text(
        left,
        top + size + 14.0,
        "rows: query position (top = first token); columns: key position",
        "start",
        9.0,
    );
    colour_bar(
        &mut s,
        Palette::Sequential,
        0.0,
        hi,
        left,
        top + size + 28.0,
        2.0 * size + gap,
        "attention weight",
    );
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palettes_hit_their_ends_and_centre() {
        assert_eq!(colour(Palette::Sequential, 0.0, 0.0, 1.0), [255, 255, 255]);
        assert_eq!(colour(Palette::Sequential, 1.0, 0.0, 1.0), [8, 48, 107]);
        assert_eq!(colour(Palette::Diverging, 0.0, -1.0, 1.0), [255, 255, 255]);
        assert_eq!(colour(Palette::Diverging, -1.0, -1.0, 1.0), [33, 102, 172]);
        assert_eq!(
            domain(Palette::Diverging, [-0.5f32, 2.0].into_iter()),
            (-2.0, 2.0)
        );
        assert!(Matrix::from_rows(&[vec![1.0], vec![1.0, 2.0]]).is_none());
    }
}
