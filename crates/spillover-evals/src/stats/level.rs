//! The level of one metric on one model (no comparison): the mean of its per-item values with a
//! confidence interval — Wilson's score interval for a rate (every value 0 or 1), a percentile
//! bootstrap of the mean otherwise.

use super::{paired_bootstrap, wilson, BootstrapOptions, StatsError};
use serde::{Deserialize, Serialize};

/// A mean with its interval, the number of items and how the interval was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Level {
    pub estimate: f64,
    pub lo: f64,
    pub hi: f64,
    /// Confidence level, e.g. 0.95.
    pub confidence: f64,
    pub n: usize,
    /// `wilson` or `bootstrap_percentile`.
    pub method: String,
}

/// The mean of `values` with its interval at `opts.confidence`: Wilson's when `binary` and every
/// value is 0 or 1, else a percentile bootstrap of the mean (`opts` resamples, seeded).
pub fn level(values: &[f64], binary: bool, opts: BootstrapOptions) -> Result<Level, StatsError> {
    if values.is_empty() {
        return Err(StatsError::Empty);
    }
    let n = values.len();
    let zero_one = values.iter().all(|v| *v == 0.0 || *v == 1.0);
    let (interval, method) = if binary && zero_one {
        let successes = values.iter().filter(|v| **v == 1.0).count() as u64;
        (wilson(successes, n as u64, opts.confidence)?, "wilson")
    } else {
        let mean = |v: &[f64], _: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        (
            paired_bootstrap(values, values, mean, opts)?,
            "bootstrap_percentile",
        )
    };
    Ok(Level {
        estimate: interval.estimate,
        lo: interval.lo,
        hi: interval.hi,
        confidence: interval.confidence,
        n,
        method: method.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_gets_wilsons_interval() {
        let v = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let l = level(&v, true, BootstrapOptions::default()).unwrap();
        let w = wilson(2, 10, 0.95).unwrap();
        assert_eq!(l.method, "wilson");
        assert_eq!((l.estimate, l.lo, l.hi, l.n), (0.2, w.lo, w.hi, 10));
    }

    #[test]
    fn a_mean_gets_a_bootstrap_interval_around_it() {
        let v: Vec<f64> = (0..20).map(|i| (i as f64 * 0.37).sin()).collect();
        let l = level(&v, false, BootstrapOptions::default()).unwrap();
        let mean = v.iter().sum::<f64>() / 20.0;
        assert_eq!(l.method, "bootstrap_percentile");
        assert!((l.estimate - mean).abs() < 1e-15);
        assert!(l.lo < mean && mean < l.hi, "{l:?}");
        // The bootstrap spread is about the standard error, not zero and not the data's range.
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 19.0).sqrt();
        let se = sd / 20f64.sqrt();
        assert!(
            l.hi - l.lo > 2.0 * se && l.hi - l.lo < 6.0 * se,
            "{l:?} se {se}"
        );
    }

    #[test]
    fn fractions_of_a_binary_metric_are_bootstrapped_and_empty_is_an_error() {
        let l = level(&[0.5, 1.0, 0.0, 0.25], true, BootstrapOptions::default()).unwrap();
        assert_eq!(l.method, "bootstrap_percentile");
        assert_eq!(
            level(&[], true, BootstrapOptions::default()),
            Err(StatsError::Empty)
        );
    }
}
