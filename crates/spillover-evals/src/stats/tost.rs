//! Equivalence by two one-sided tests (Schuirmann 1987; Wellek, Testing Statistical Hypotheses of
//! Equivalence, 2nd ed., §3.1): "the change is within ±margin" is accepted at level α when the
//! (1 − 2α) interval of the change lies inside (−margin, +margin).

use super::{Interval, StatsError};

/// The outcome of an equivalence test.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tost {
    /// The equivalence margin (the change's units: rate points as fractions, nats, …).
    pub margin: f64,
    /// The (1 − 2α) interval the decision used.
    pub interval: Interval,
    /// Whether the interval lies strictly inside ±margin.
    pub equivalent: bool,
}

/// TOST at level `alpha`, given `ci`, which returns the interval at a confidence level.
pub fn tost(
    ci: impl Fn(f64) -> Result<Interval, StatsError>,
    alpha: f64,
    margin: f64,
) -> Result<Tost, StatsError> {
    if !(alpha > 0.0 && alpha < 0.5) {
        return Err(StatsError::BadConfidence(1.0 - 2.0 * alpha));
    }
    if !(margin > 0.0 && margin.is_finite()) {
        return Err(StatsError::NonFinite(margin));
    }
    let interval = ci(1.0 - 2.0 * alpha)?;
    Ok(Tost {
        margin,
        interval,
        equivalent: interval.lo > -margin && interval.hi < margin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{newcombe_paired, PairedTable, SignFlip, MIN_RESAMPLES};

    fn table(lost: u64, gained: u64, n: u64) -> PairedTable {
        let concordant = n - lost - gained;
        PairedTable {
            both: concordant / 2,
            lost,
            gained,
            neither: concordant - concordant / 2,
        }
    }

    #[test]
    fn a_large_sample_with_few_changes_is_equivalent_within_five_points() {
        // 400 items, 3 lost and 2 gained: the 90% interval is about ±1.5 points.
        let t = table(3, 2, 400);
        let r = tost(|c| newcombe_paired(t, c), 0.05, 0.05).unwrap();
        assert!(r.equivalent, "{r:?}");
        assert!((r.interval.confidence - 0.9).abs() < 1e-12);
        // The same margin cannot be met by 40 items with 5 changes each way (±~20 points).
        let t = table(5, 5, 40);
        let r = tost(|c| newcombe_paired(t, c), 0.05, 0.05).unwrap();
        assert!(!r.equivalent, "{r:?}");
    }

    #[test]
    fn a_real_shift_is_not_equivalent_even_when_precise() {
        // 400 items, 2 lost and 60 gained: +14.5 points, precisely measured, outside ±5.
        let t = table(2, 60, 400);
        let r = tost(|c| newcombe_paired(t, c), 0.05, 0.05).unwrap();
        assert!(!r.equivalent && r.interval.lo > 0.05, "{r:?}");
    }

    #[test]
    fn continuous_differences_inside_and_outside_the_margin() {
        let b = vec![0.0; 200];
        // Noise ±0.05 around 0: equivalent within 0.1 nats, not within 0.001.
        let a: Vec<f64> = (0..200)
            .map(|i| ((i * 37 % 21) as f64 - 10.0) * 0.005)
            .collect();
        let s = SignFlip::new(&b, &a, MIN_RESAMPLES, 2).unwrap();
        assert!(tost(|c| s.interval(c), 0.05, 0.1).unwrap().equivalent);
        assert!(!tost(|c| s.interval(c), 0.05, 0.001).unwrap().equivalent);
        // A shift of 0.3 with the same noise: not equivalent within 0.1.
        let a2: Vec<f64> = a.iter().map(|v| v + 0.3).collect();
        let s = SignFlip::new(&b, &a2, MIN_RESAMPLES, 2).unwrap();
        assert!(!tost(|c| s.interval(c), 0.05, 0.1).unwrap().equivalent);
    }

    #[test]
    fn bad_settings_are_errors() {
        let t = table(1, 1, 10);
        assert!(tost(|c| newcombe_paired(t, c), 0.5, 0.05).is_err());
        assert!(tost(|c| newcombe_paired(t, c), 0.05, 0.0).is_err());
    }
}
