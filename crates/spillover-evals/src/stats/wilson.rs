//! Wilson score interval for a binomial proportion (Wilson 1927; recommended by Newcombe 1998
//! and Agresti & Coull 1998 over the Wald interval, which fails near 0 and 1).

use super::{check_confidence, normal_quantile, Interval, StatsError};

/// The rate `successes / n` with its Wilson score interval at `confidence` (e.g. 0.95):
/// `(p̂ + z²/2n ± z·√(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)`.
pub fn wilson(successes: u64, n: u64, confidence: f64) -> Result<Interval, StatsError> {
    check_confidence(confidence)?;
    if n == 0 {
        return Err(StatsError::Empty);
    }
    if successes > n {
        return Err(StatsError::TooManySuccesses { successes, n });
    }
    let z = normal_quantile(1.0 - (1.0 - confidence) / 2.0);
    let (nf, p) = (n as f64, successes as f64 / n as f64);
    let z2 = z * z;
    let denom = 1.0 + z2 / nf;
    let centre = p + z2 / (2.0 * nf);
    let half = z * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt();
    // Clamp rounding at the edges: the interval is [0, ·] at 0 successes and [·, 1] at n.
    let lo = if successes == 0 {
        0.0
    } else {
        ((centre - half) / denom).max(0.0)
    };
    let hi = if successes == n {
        1.0
    } else {
        ((centre + half) / denom).min(1.0)
    };
    Ok(Interval {
        estimate: p,
        lo,
        hi,
        confidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_newcombe_1998_table_ii() {
        // Newcombe RG (1998), "Two-sided confidence intervals for the single proportion:
        // comparison of seven methods", Stat Med 17:857–872, Table II, method 3 (score, no
        // continuity correction), 95%.
        for (x, n, lo, hi) in [
            (81, 263, 0.2553, 0.3662),
            (15, 148, 0.0624, 0.1605),
            (0, 20, 0.0, 0.1611),
            (1, 29, 0.0061, 0.1718),
        ] {
            let w = wilson(x, n, 0.95).unwrap();
            assert!(
                (w.lo - lo).abs() < 5e-5 && (w.hi - hi).abs() < 5e-5,
                "{x}/{n}: {w:?}"
            );
        }
    }

    #[test]
    fn intervals_contain_the_estimate_stay_in_unit_range_and_widen_with_confidence() {
        for n in [1u64, 2, 7, 30, 500] {
            for x in 0..=n {
                let w90 = wilson(x, n, 0.90).unwrap();
                let w99 = wilson(x, n, 0.99).unwrap();
                assert!(w90.contains(w90.estimate), "{x}/{n}");
                assert!(0.0 <= w99.lo && w99.hi <= 1.0);
                assert!(w99.lo <= w90.lo && w90.hi <= w99.hi, "{x}/{n}");
            }
        }
    }

    #[test]
    fn successes_and_failures_are_symmetric() {
        let (a, b) = (wilson(3, 17, 0.95).unwrap(), wilson(14, 17, 0.95).unwrap());
        assert!((a.lo - (1.0 - b.hi)).abs() < 1e-12 && (a.hi - (1.0 - b.lo)).abs() < 1e-12);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert_eq!(wilson(0, 0, 0.95), Err(StatsError::Empty));
        assert!(wilson(3, 2, 0.95).is_err());
        assert_eq!(wilson(1, 2, 1.0), Err(StatsError::BadConfidence(1.0)));
    }
}
