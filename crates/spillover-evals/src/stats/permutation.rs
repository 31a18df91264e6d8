//! The paired sign-flip permutation test (Fisher 1935, §21; Good, Permutation Tests, 2nd ed.,
//! §3.1): under "no change" each item's difference `after − before` is as likely to have either
//! sign, so the p-value is the share of sign assignments whose |mean| is at least the observed one.
//! With at most [`EXACT_MAX`] non-zero differences every assignment is enumerated; otherwise
//! `resamples` random assignments are drawn (seeded) and the p-value is (hits + 1) / (resamples + 1),
//! which is never 0 and is valid for a Monte Carlo test.

use super::{check_paired, Rng, StatsError, MIN_RESAMPLES};

/// Differences up to this count are tested exactly (2^n assignments).
pub const EXACT_MAX: usize = 16;

/// Two-sided p-value of the paired sign-flip test on `after − before`.
pub fn paired_permutation(
    before: &[f64],
    after: &[f64],
    resamples: usize,
    seed: u64,
) -> Result<f64, StatsError> {
    check_paired(before, after)?;
    let d: Vec<f64> = after
        .iter()
        .zip(before)
        .map(|(a, b)| a - b)
        .filter(|x| *x != 0.0)
        .collect();
    if d.is_empty() {
        return Ok(1.0);
    }
    let observed = d.iter().sum::<f64>().abs();
    // Sums equal to the observed one up to rounding count as "at least as extreme".
    let tol = 1e-9 * d.iter().map(|x| x.abs()).sum::<f64>();
    if d.len() <= EXACT_MAX {
        let total = 1u64 << d.len();
        let hits = (0..total)
            .filter(|mask| signed_sum(&d, |i| mask >> i & 1 == 1).abs() >= observed - tol)
            .count();
        return Ok(hits as f64 / total as f64);
    }
    if resamples < MIN_RESAMPLES {
        return Err(StatsError::TooFewFlips(resamples));
    }
    let mut rng = Rng::new(seed);
    let mut hits = 0usize;
    let mut signs = vec![false; d.len()];
    for _ in 0..resamples {
        for s in signs.iter_mut() {
            *s = rng.next_u64() >> 63 == 1;
        }
        if signed_sum(&d, |i| signs[i]).abs() >= observed - tol {
            hits += 1;
        }
    }
    Ok((hits + 1) as f64 / (resamples + 1) as f64)
}

fn signed_sum(d: &[f64], negative: impl Fn(usize) -> bool) -> f64 {
    d.iter()
        .enumerate()
        .map(|(i, x)| if negative(i) { -x } else { *x })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_small_case_by_hand() {
        // Differences 1, 2, 3 (all positive): of the 8 sign patterns, |sum| >= 6 only for
        // (+,+,+) and (−,−,−), so p = 2/8.
        let p = paired_permutation(&[0.0; 3], &[1.0, 2.0, 3.0], MIN_RESAMPLES, 0).unwrap();
        assert!((p - 0.25).abs() < 1e-12, "{p}");
        // Differences 1, −1: every pattern has |sum| >= 0, p = 1.
        let p = paired_permutation(&[0.0, 1.0], &[1.0, 0.0], MIN_RESAMPLES, 0).unwrap();
        assert!((p - 1.0).abs() < 1e-12, "{p}");
    }

    #[test]
    fn no_change_gives_one_and_large_shift_gives_small_p() {
        let x: Vec<f64> = (0..50).map(|i| i as f64).collect();
        assert_eq!(paired_permutation(&x, &x, MIN_RESAMPLES, 0).unwrap(), 1.0);
        let y: Vec<f64> = x.iter().map(|v| v + 1.0 + (v * 7.0 % 3.0) * 0.1).collect();
        let p = paired_permutation(&x, &y, MIN_RESAMPLES, 1).unwrap();
        // All 50 differences positive: the exact p is 2/2^50; the Monte Carlo floor is 1/10001.
        assert!((p - 1.0 / 10_001.0).abs() < 1e-12, "{p}");
    }

    #[test]
    fn monte_carlo_agrees_with_the_normal_approximation() {
        // 40 differences of ±1 with 26 positive: the sign-flip distribution of the sum is
        // 2·Binomial(40, 1/2) − 40, so P(|S| >= 12) = P(|B − 20| >= 6) = 2·P(B >= 26) = 0.0807
        // (binomial tail computed independently, e.g. scipy.stats.binomtest(26, 40) = 0.0807).
        let before = vec![0.0; 40];
        let after: Vec<f64> = (0..40).map(|i| if i < 26 { 1.0 } else { -1.0 }).collect();
        let p = paired_permutation(&before, &after, 200_000, 7).unwrap();
        assert!((p - 0.0807).abs() < 0.004, "{p}");
    }
}
