//! Paired bootstrap percentile intervals (Efron & Tibshirani 1993, ch. 13): resample items with
//! replacement, keeping each item's before and after values together, recompute the statistic,
//! and read the interval off the resampled statistics' quantiles.

use super::{check_confidence, check_paired, Interval, Rng, StatsError};

/// Fewer resamples make the 2.5% / 97.5% tails noisy.
pub const MIN_RESAMPLES: usize = 10_000;

/// Resampling settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BootstrapOptions {
    pub resamples: usize,
    pub confidence: f64,
    pub seed: u64,
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        BootstrapOptions {
            resamples: MIN_RESAMPLES,
            confidence: 0.95,
            seed: 0,
        }
    }
}

/// The mean of `after − before` (e.g. change in per-item log-prob).
pub fn mean_difference(before: &[f64], after: &[f64]) -> f64 {
    after.iter().zip(before).map(|(a, b)| a - b).sum::<f64>() / before.len() as f64
}

/// `statistic(before, after)` on the data, with a percentile interval from paired resamples.
///
/// Quantiles interpolate linearly between order statistics (Hyndman & Fan type 7, R's
/// default). The same seed gives the same interval on any machine.
pub fn paired_bootstrap(
    before: &[f64],
    after: &[f64],
    statistic: impl Fn(&[f64], &[f64]) -> f64,
    opts: BootstrapOptions,
) -> Result<Interval, StatsError> {
    check_confidence(opts.confidence)?;
    check_paired(before, after)?;
    if opts.resamples < MIN_RESAMPLES {
        return Err(StatsError::TooFewResamples(opts.resamples));
    }
    let n = before.len();
    let mut rng = Rng::new(opts.seed);
    let (mut b, mut a) = (vec![0.0; n], vec![0.0; n]);
    let mut stats = Vec::with_capacity(opts.resamples);
    for _ in 0..opts.resamples {
        for j in 0..n {
            let i = rng.below(n);
            b[j] = before[i];
            a[j] = after[i];
        }
        stats.push(statistic(&b, &a));
    }
    stats.sort_by(f64::total_cmp);
    let alpha = 1.0 - opts.confidence;
    Ok(Interval {
        estimate: statistic(before, after),
        lo: quantile(&stats, alpha / 2.0),
        hi: quantile(&stats, 1.0 - alpha / 2.0),
        confidence: opts.confidence,
    })
}

/// Type-7 quantile of sorted values.
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let (lo, frac) = (h.floor() as usize, h - h.floor());
    match sorted.get(lo + 1) {
        Some(next) if frac > 0.0 => sorted[lo] + frac * (next - sorted[lo]),
        _ => sorted[lo],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> (Vec<f64>, Vec<f64>) {
        let before: Vec<f64> = (0..200).map(|i| ((i * 37 % 101) as f64) / 10.0).collect();
        let after: Vec<f64> = before
            .iter()
            .enumerate()
            .map(|(i, b)| b + ((i * 13 % 7) as f64 - 2.0) / 4.0)
            .collect();
        (before, after)
    }

    #[test]
    fn a_constant_difference_gives_a_point_interval() {
        let before: Vec<f64> = (0..50).map(|i| i as f64 * 0.7).collect();
        let after: Vec<f64> = before.iter().map(|b| b + 0.25).collect();
        let iv = paired_bootstrap(
            &before,
            &after,
            mean_difference,
            BootstrapOptions::default(),
        )
        .unwrap();
        for v in [iv.estimate, iv.lo, iv.hi] {
            assert!((v - 0.25).abs() < 1e-12, "{iv:?}");
        }
    }

    #[test]
    fn the_interval_contains_the_estimate_and_is_reproducible_by_seed() {
        let (b, a) = data();
        let opts = BootstrapOptions {
            seed: 42,
            ..Default::default()
        };
        let iv = paired_bootstrap(&b, &a, mean_difference, opts).unwrap();
        assert!(iv.contains(iv.estimate) && iv.lo < iv.hi, "{iv:?}");
        assert_eq!(iv, paired_bootstrap(&b, &a, mean_difference, opts).unwrap());
        let other = paired_bootstrap(
            &b,
            &a,
            mean_difference,
            BootstrapOptions { seed: 43, ..opts },
        )
        .unwrap();
        assert!(
            (other.lo - iv.lo).abs() < 0.25 * (iv.hi - iv.lo),
            "seeds disagree: {iv:?} {other:?}"
        );
    }

    #[test]
    fn the_width_matches_the_normal_theory_standard_error() {
        // For a mean of differences, the bootstrap sd ≈ sd(d)/√n (with the 1/n variance), so the
        // 95% percentile interval is about ±1.96 of it.
        let (b, a) = data();
        let d: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
        let n = d.len() as f64;
        let m = d.iter().sum::<f64>() / n;
        let se = (d.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt() / n.sqrt();
        let iv = paired_bootstrap(&b, &a, mean_difference, BootstrapOptions::default()).unwrap();
        let half = (iv.hi - iv.lo) / 2.0;
        assert!(
            (half / (1.959964 * se) - 1.0).abs() < 0.1,
            "half-width {half} vs {}",
            1.959964 * se
        );
    }

    #[test]
    fn pairing_matters() {
        // After = before + small noise: the paired interval for the mean difference is far
        // narrower than the spread of either sample.
        let (b, a) = data();
        let iv = paired_bootstrap(&b, &a, mean_difference, BootstrapOptions::default()).unwrap();
        assert!(iv.hi - iv.lo < 0.3, "{iv:?}");
    }

    #[test]
    fn quantiles_interpolate_like_r_type_7() {
        // R: quantile(c(1, 2, 3, 4), c(0.1, 0.5, 0.9)) = 1.3, 2.5, 3.7.
        let s = [1.0, 2.0, 3.0, 4.0];
        for (q, want) in [(0.1, 1.3), (0.5, 2.5), (0.9, 3.7), (0.0, 1.0), (1.0, 4.0)] {
            assert!((quantile(&s, q) - want).abs() < 1e-12);
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let opts = BootstrapOptions::default();
        assert!(paired_bootstrap(&[1.0], &[1.0, 2.0], mean_difference, opts).is_err());
        assert_eq!(
            paired_bootstrap(&[], &[], mean_difference, opts),
            Err(StatsError::Empty)
        );
        let few = BootstrapOptions {
            resamples: 999,
            ..opts
        };
        assert_eq!(
            paired_bootstrap(&[1.0], &[2.0], mean_difference, few),
            Err(StatsError::TooFewResamples(999))
        );
        assert!(paired_bootstrap(&[f64::NAN], &[2.0], mean_difference, opts).is_err());
    }
}
