//! The paired sign-flip test of a shift θ, and the interval that inverts it (Hartigan 1969;
//! Good, Permutation Tests, 2nd ed., §3.1 and §3.3): θ is in the (1 − α) interval when the test
//! of "the differences d − θ are symmetric about 0" has p > α. The interval and the p-value come
//! from one set of sign assignments, so an interval excludes 0 exactly when p ≤ α.
//!
//! Every assignment is enumerated for up to [`EXACT_MAX`] items; beyond that `resamples` random
//! assignments are drawn (seeded), the same ones for every θ, and p = (hits + 1) / (resamples + 1).

use super::{check_confidence, check_paired, Interval, Rng, StatsError, EXACT_MAX, MIN_RESAMPLES};

/// The precomputed sign assignments of one paired sample.
#[derive(Debug, Clone)]
pub struct SignFlip {
    d: Vec<f64>,
    /// Per assignment: Σ sᵢ dᵢ and Σ sᵢ (sᵢ = ±1), so the flipped sum of d − θ is a − θ·b.
    a: Vec<f64>,
    b: Vec<f64>,
    exact: bool,
}

impl SignFlip {
    /// Prepares the test on `after − before`.
    pub fn new(
        before: &[f64],
        after: &[f64],
        resamples: usize,
        seed: u64,
    ) -> Result<SignFlip, StatsError> {
        check_paired(before, after)?;
        let d: Vec<f64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
        let n = d.len();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let exact = n <= EXACT_MAX;
        let mut push = |neg: &dyn Fn(usize) -> bool| {
            let (mut sa, mut sb) = (0.0, 0.0);
            for (i, x) in d.iter().enumerate() {
                let s = if neg(i) { -1.0 } else { 1.0 };
                sa += s * x;
                sb += s;
            }
            a.push(sa);
            b.push(sb);
        };
        if exact {
            for mask in 0..(1u64 << n) {
                push(&|i| mask >> i & 1 == 1);
            }
        } else {
            if resamples < MIN_RESAMPLES {
                return Err(StatsError::TooFewFlips(resamples));
            }
            let mut rng = Rng::new(seed);
            let mut signs = vec![false; n];
            for _ in 0..resamples {
                for s in signs.iter_mut() {
                    *s = rng.next_u64() >> 63 == 1;
                }
                push(&|i| signs[i]);
            }
        }
        Ok(SignFlip { d, a, b, exact })
    }

    /// The mean difference.
    pub fn estimate(&self) -> f64 {
        self.d.iter().sum::<f64>() / self.d.len() as f64
    }

    /// Two-sided p-value of "the differences are symmetric about `theta`".
    pub fn p_value_at(&self, theta: f64) -> f64 {
        let observed = (self.d.iter().sum::<f64>() - theta * self.d.len() as f64).abs();
        // Sums equal to the observed one up to rounding count as "at least as extreme".
        let tol = 1e-9 * self.d.iter().map(|x| (x - theta).abs()).sum::<f64>();
        let hits = self
            .a
            .iter()
            .zip(&self.b)
            .filter(|(a, b)| (*a - theta * *b).abs() >= observed - tol)
            .count();
        if self.exact {
            hits as f64 / self.a.len() as f64
        } else {
            (hits + 1) as f64 / (self.a.len() + 1) as f64
        }
    }

    /// The p-value of "no change" (θ = 0).
    pub fn p_value(&self) -> f64 {
        self.p_value_at(0.0)
    }

    /// The smallest p-value any data of this size could give: 2/2ⁿ exactly, 1/(resamples + 1)
    /// by Monte Carlo.
    pub fn p_min(&self) -> f64 {
        if self.exact {
            2.0 / self.a.len() as f64
        } else {
            1.0 / (self.a.len() + 1) as f64
        }
    }

    /// The (`confidence`) interval for the mean shift: every θ the test does not reject at
    /// α = 1 − confidence. Unbounded (±∞) on a side where no shift can be rejected (α below
    /// [`SignFlip::p_min`]). It contains 0 exactly when [`SignFlip::p_value`] > α.
    pub fn interval(&self, confidence: f64) -> Result<Interval, StatsError> {
        check_confidence(confidence)?;
        let alpha = 1.0 - confidence;
        let est = self.estimate();
        let lo_d = self.d.iter().copied().fold(f64::INFINITY, f64::min);
        let hi_d = self.d.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let pad = (hi_d - lo_d).max(est.abs()).max(1e-12);
        let rejects_zero = self.p_value() <= alpha;
        let edge = |far: f64| -> f64 {
            // Start the search at 0 when 0 is rejected and lies on this side, so the interval
            // agrees with the p-value even where p(θ) is not monotone.
            let far = if rejects_zero && (0.0 - est) * (far - est) > 0.0 {
                0.0
            } else if self.p_value_at(far) > alpha {
                return if far > est {
                    f64::INFINITY
                } else {
                    f64::NEG_INFINITY
                };
            } else {
                far
            };
            let (mut inside, mut outside) = (est, far);
            for _ in 0..100 {
                let mid = (inside + outside) / 2.0;
                if mid == inside || mid == outside {
                    break;
                }
                if self.p_value_at(mid) > alpha {
                    inside = mid;
                } else {
                    outside = mid;
                }
            }
            inside
        };
        let (mut lo, mut hi) = (edge(lo_d - pad), edge(hi_d + pad));
        if !rejects_zero {
            lo = lo.min(0.0);
            hi = hi.max(0.0);
        }
        Ok(Interval {
            estimate: est,
            lo,
            hi,
            confidence,
        })
    }

    /// The sample standard deviation of the differences (n − 1; 0 for one item).
    pub fn sd(&self) -> f64 {
        let n = self.d.len() as f64;
        if n < 2.0 {
            return 0.0;
        }
        let m = self.estimate();
        (self.d.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    }

    pub fn n(&self) -> usize {
        self.d.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::paired_permutation;

    #[test]
    fn the_p_value_at_zero_matches_the_plain_sign_flip_test() {
        let before = [0.0; 3];
        let after = [1.0, 2.0, 3.0];
        let s = SignFlip::new(&before, &after, MIN_RESAMPLES, 0).unwrap();
        // By hand: of 8 sign patterns only (+,+,+) and (−,−,−) reach |sum| 6, so p = 2/8.
        assert!((s.p_value() - 0.25).abs() < 1e-12);
        assert_eq!(s.p_min(), 0.25);
        let b: Vec<f64> = (0..40).map(|i| i as f64 * 0.1).collect();
        let a: Vec<f64> = b
            .iter()
            .enumerate()
            .map(|(i, v)| v + ((i % 5) as f64 - 1.5) * 0.3)
            .collect();
        let s = SignFlip::new(&b, &a, 20_000, 3).unwrap();
        let p = paired_permutation(&b, &a, 20_000, 3).unwrap();
        assert!((s.p_value() - p).abs() < 0.02, "{} vs {p}", s.p_value());
    }

    #[test]
    fn the_interval_agrees_with_the_test_and_covers_the_shift() {
        // Differences 0.5 + symmetric noise: the 95% interval holds 0.5, excludes 0.
        let b = vec![0.0; 30];
        let a: Vec<f64> = (0..30)
            .map(|i| 0.5 + ((i * 7 % 11) as f64 - 5.0) * 0.1)
            .collect();
        let s = SignFlip::new(&b, &a, MIN_RESAMPLES, 1).unwrap();
        let iv = s.interval(0.95).unwrap();
        assert!(iv.contains(0.5) && iv.lo > 0.0, "{iv:?}");
        assert!(s.p_value_at(iv.lo - 1e-6) <= 0.05 && s.p_value_at(iv.lo + 1e-6) > 0.05);
        // At the level of the p-value itself, the interval's edge sits at 0.
        for conf in [0.9, 0.99, 0.9999] {
            let iv = s.interval(conf).unwrap();
            assert_eq!(iv.lo > 0.0, s.p_value() <= 1.0 - conf, "{conf} {iv:?}");
        }
    }

    #[test]
    fn a_sample_too_small_for_the_level_gives_an_unbounded_interval() {
        // Six items: p can never go below 2/64 ≈ 0.031, so a 99% interval is unbounded.
        let s = SignFlip::new(&[0.0; 6], &[1.0, 1.1, 0.9, 1.2, 1.0, 1.05], 0, 0).unwrap();
        assert!((s.p_min() - 2.0 / 64.0).abs() < 1e-15);
        let iv = s.interval(0.99).unwrap();
        assert!(
            iv.lo == f64::NEG_INFINITY && iv.hi == f64::INFINITY,
            "{iv:?}"
        );
        let iv = s.interval(0.9).unwrap();
        assert!(iv.lo > 0.0 && iv.hi.is_finite(), "{iv:?}");
    }
}
