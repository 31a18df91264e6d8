//! Number and text formatting shared by the Markdown, HTML and SVG outputs.

use crate::schema::{Interval, Row};

/// A number with about four significant digits (scientific notation for very small or large
/// magnitudes); `n/a` for NaN.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "n/a".into()
        } else {
            format!("{v}")
        };
    }
    let a = v.abs();
    if a < 1e-12 {
        // Rounding noise of sums of opposite values (e.g. a mean change of +1/3 and -1/3).
        "0".into()
    } else if !(1e-3..1e5).contains(&a) {
        format!("{v:.2e}")
    } else if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 10.0 {
        format!("{v:.2}")
    } else if a >= 1.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    }
}

/// A signed [`num`].
pub fn signed(v: f64) -> String {
    let s = num(v);
    if v.is_finite() && v >= 0.0 {
        format!("+{s}")
    } else {
        s
    }
}

/// A value of `row`'s metric: a percentage for binary metrics, else [`num`].
pub fn value(row: &Row, v: f64) -> String {
    if row.binary && v.is_finite() {
        format!("{:.1}%", 100.0 * v)
    } else {
        num(v)
    }
}

/// `value [lo, hi]` of `row`'s metric.
pub fn interval(row: &Row, i: &Interval) -> String {
    if row.binary {
        format!(
            "{} [{:.1}, {:.1}]",
            value(row, i.estimate),
            100.0 * i.lo,
            100.0 * i.hi
        )
    } else {
        format!("{} [{}, {}]", num(i.estimate), num(i.lo), num(i.hi))
    }
}

/// The change of `row` with its interval: percentage points for binary metrics.
pub fn change(row: &Row) -> String {
    let c = &row.change;
    if row.blind && !(c.lo.is_finite() && c.hi.is_finite()) {
        // An unbounded interval (written as null): no data of this size could bound it.
        let est = if row.binary {
            format!("{} pts", pts(c.estimate))
        } else {
            signed(c.estimate)
        };
        return format!("{est} [unbounded]");
    }
    if row.binary {
        format!("{} pts [{}, {}]", pts(c.estimate), pts(c.lo), pts(c.hi))
    } else {
        format!(
            "{} [{}, {}]",
            signed(c.estimate),
            signed(c.lo),
            signed(c.hi)
        )
    }
}

/// A rate difference in signed percentage points with one decimal.
pub fn pts(v: f64) -> String {
    if v.is_finite() {
        format!("{:+.1}", 100.0 * v)
    } else {
        "n/a".into()
    }
}

/// A p-value: four decimals, scientific below 1e-4.
pub fn p(v: f64) -> String {
    if !v.is_finite() {
        "n/a".into()
    } else if v < 1e-4 {
        format!("{v:.1e}")
    } else {
        format!("{v:.4}")
    }
}

/// The verdict as words.
pub fn verdict(v: &str) -> String {
    v.replace('_', " ")
}

/// The verdict of a row, with "blind at this n" when no data of its size could decide it, and
/// the floor or chance mark.
pub fn row_verdict(row: &Row) -> String {
    let mut s = verdict(&row.verdict);
    if let Some(e) = equivalence(row) {
        s.push_str(&format!(" ({e})"));
    }
    if row.blind {
        s.push_str(" (blind at this n)");
    }
    if let Some(m) = mark(row) {
        s.push_str(&format!(" ({m})"));
    }
    s
}

/// For an equivalent row, the evidence a reader can check: the (1 − 2α') interval of the change
/// and the margin it lies inside, e.g. `99% interval [-1.5, +0.9] pts within ±5.0`.
pub fn equivalence(row: &Row) -> Option<String> {
    let e = row.equivalence.as_ref()?;
    if row.verdict != "equivalent" || !(e.interval.lo.is_finite() && e.interval.hi.is_finite()) {
        return None;
    }
    let lvl = format!("{} interval", level(e.interval.confidence));
    Some(if row.binary {
        format!(
            "{lvl} [{}, {}] pts within ±{:.1}",
            pts(e.interval.lo),
            pts(e.interval.hi),
            100.0 * e.margin
        )
    } else {
        format!(
            "{lvl} [{}, {}] within ±{}",
            signed(e.interval.lo),
            signed(e.interval.hi),
            num(e.margin)
        )
    })
}

/// The floor or chance mark of a row in words, e.g. "at chance (25%)".
pub fn mark(row: &Row) -> Option<String> {
    match row.mark.as_deref()? {
        "floor" => Some("at floor".into()),
        "chance" => Some(match row.chance {
            Some(c) => format!("at chance ({})", value(row, c)),
            None => "at chance".into(),
        }),
        other => Some(other.replace('_', " ")),
    }
}

/// The interval's confidence level as a percentage, e.g. `99.7%`.
pub fn level(c: f64) -> String {
    if !c.is_finite() {
        return "n/a".into();
    }
    let s = format!("{:.2}", 100.0 * c);
    format!("{}%", s.trim_end_matches('0').trim_end_matches('.'))
}

/// The minimum detectable effect of a row (points for rates), or `out of reach`.
pub fn mde(row: &Row) -> String {
    match row.mde {
        _ if !row.tested => "—".into(),
        Some(m) if row.binary => format!("{:.1} pts", 100.0 * m),
        Some(m) => num(m),
        None => "out of reach".into(),
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn html(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Makes text safe inside a Markdown table cell (pipes and line breaks would break the row).
pub fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// `n` seconds as `m:ss` (or `h:mm:ss`).
pub fn clock(seconds: f64) -> String {
    if !seconds.is_finite() {
        return "n/a".into();
    }
    let s = seconds.round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

/// A file-name-safe version of `s` (letters, digits, `-`, `_`).
pub fn slug(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() {
        "x".into()
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_magnitude() {
        assert_eq!(num(0.0), "0");
        assert_eq!(num(1.65e-5), "1.65e-5");
        assert_eq!(num(-12.99180269), "-12.99");
        assert_eq!(num(273.6158), "273.6");
        assert_eq!(signed(0.25), "+0.2500");
        assert_eq!(num(f64::NAN), "n/a");
        assert_eq!(pts(-0.125), "-12.5");
    }

    fn row(binary: bool, verdict: &str, lo: f64, hi: f64) -> Row {
        let json = serde_json::json!({
            "benchmark": "b", "metric": "m", "binary": binary, "higher_is_better": true, "n": 8,
            "before": {"estimate": 0.5, "lo": 0.4, "hi": 0.6, "confidence": 0.95},
            "after": {"estimate": 0.5, "lo": 0.4, "hi": 0.6, "confidence": 0.95},
            "change": {"estimate": 0.0, "lo": null, "hi": null, "confidence": 0.99},
            "p_value": 1.0, "p_holm": 1.0, "verdict": verdict, "blind": true,
            "equivalence": {"margin": 0.05, "equivalent": verdict == "equivalent",
                "interval": {"estimate": 0.0, "lo": lo, "hi": hi, "confidence": 0.98}}
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn an_equivalent_verdict_shows_the_interval_that_decided_it() {
        assert_eq!(
            row_verdict(&row(false, "equivalent", -0.015, 0.009)),
            "equivalent (98% interval [-0.0150, +0.0090] within ±0.0500) (blind at this n)"
        );
        assert_eq!(
            row_verdict(&row(true, "equivalent", -0.015, 0.009)),
            "equivalent (98% interval [-1.5, +0.9] pts within ±5.0) (blind at this n)"
        );
        // Other verdicts keep their words only.
        assert_eq!(
            row_verdict(&row(true, "inconclusive", -0.2, 0.3)),
            "inconclusive (blind at this n)"
        );
    }

    #[test]
    fn html_escapes_markup_and_quotes() {
        assert_eq!(
            html("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
        assert_eq!(md_cell("a|b\nc"), "a\\|b c");
        assert_eq!(slug("L1.attn out/x"), "L1_attn_out_x");
    }
}
