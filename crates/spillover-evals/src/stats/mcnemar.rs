//! The exact McNemar test for paired binary outcomes (McNemar 1947; exact form as in Agresti,
//! Categorical Data Analysis, 3rd ed., §11.1): only the discordant pairs carry information, and
//! under "no change" each is equally likely to go either way.

use super::StatsError;

/// The test's inputs and result.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct McNemar {
    /// Pairs that were true before and false after.
    pub b: u64,
    /// Pairs that were false before and true after.
    pub c: u64,
    /// Two-sided exact p-value: min(1, 2·P(X ≤ min(b, c))) with X ~ Binomial(b + c, 1/2).
    pub p_value: f64,
}

/// Two-sided binomial test of `k` successes in `n` trials with p = 1/2 (doubling the smaller
/// tail, capped at 1; `p_value` 1 when n = 0).
pub fn binomial_two_sided(k: u64, n: u64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let m = k.min(n - k);
    // log C(n, i) − n·ln 2, accumulated term by term; summed with log-sum-exp.
    let ln2n = n as f64 * std::f64::consts::LN_2;
    let mut log_terms = Vec::with_capacity(m as usize + 1);
    let mut log_c = 0.0;
    for i in 0..=m {
        if i > 0 {
            log_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        log_terms.push(log_c - ln2n);
    }
    let max = log_terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let tail = max.exp() * log_terms.iter().map(|t| (t - max).exp()).sum::<f64>();
    (2.0 * tail).min(1.0)
}

/// The exact McNemar test from the discordant counts.
pub fn mcnemar_exact(b: u64, c: u64) -> McNemar {
    McNemar {
        b,
        c,
        p_value: binomial_two_sided(b, b + c),
    }
}

/// The exact McNemar test from paired outcomes on the same items (e.g. refused before / after).
pub fn mcnemar_paired(before: &[bool], after: &[bool]) -> Result<McNemar, StatsError> {
    if before.len() != after.len() {
        return Err(StatsError::LengthMismatch {
            before: before.len(),
            after: after.len(),
        });
    }
    let b = before
        .iter()
        .zip(after)
        .filter(|(x, y)| **x && !**y)
        .count() as u64;
    let c = before
        .iter()
        .zip(after)
        .filter(|(x, y)| !**x && **y)
        .count() as u64;
    Ok(mcnemar_exact(b, c))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2·Σ_{i ≤ min(k, n−k)} C(n, i) / 2ⁿ in exact integer arithmetic (n ≤ 120 fits in u128).
    fn exact(k: u64, n: u64) -> f64 {
        let m = k.min(n - k);
        let mut c: u128 = 1;
        let mut sum: u128 = 0;
        for i in 0..=m {
            if i > 0 {
                c = c * u128::from(n - i + 1) / u128::from(i);
            }
            sum += c;
        }
        (2.0 * sum as f64 / 2f64.powi(n as i32)).min(1.0)
    }

    #[test]
    fn matches_exact_integer_binomial_tails() {
        for n in [1u64, 2, 5, 10, 25, 60, 120] {
            for k in 0..=n {
                let (got, want) = (binomial_two_sided(k, n), exact(k, n));
                assert!(
                    (got - want).abs() <= 1e-12 * want.max(1e-300) + 1e-300,
                    "{k}/{n}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn hand_computed_examples() {
        // 1 of 10 discordant pairs: 2·(1 + 10)/1024 = 22/1024.
        assert!((mcnemar_exact(1, 9).p_value - 22.0 / 1024.0).abs() < 1e-15);
        // 0 of 5: 2/32; all pairs concordant: nothing to test, p = 1.
        assert!((mcnemar_exact(0, 5).p_value - 2.0 / 32.0).abs() < 1e-15);
        assert_eq!(mcnemar_exact(0, 0).p_value, 1.0);
        // A balanced split cannot be significant: p capped at 1.
        assert_eq!(mcnemar_exact(4, 4).p_value, 1.0);
    }

    #[test]
    fn paired_outcomes_count_only_discordant_pairs_and_the_test_is_symmetric() {
        let before = [true, true, false, false, true, false];
        let after = [false, true, true, true, false, false];
        let m = mcnemar_paired(&before, &after).unwrap();
        assert_eq!((m.b, m.c), (2, 2));
        assert_eq!(mcnemar_exact(3, 11).p_value, mcnemar_exact(11, 3).p_value);
        assert!(mcnemar_paired(&before, &after[..3]).is_err());
    }

    #[test]
    fn large_counts_do_not_underflow() {
        // 2000 discordant pairs split 1000/1000 → p = 1; 900/1100 → tiny but positive.
        assert_eq!(mcnemar_exact(1000, 1000).p_value, 1.0);
        let p = mcnemar_exact(900, 1100).p_value;
        assert!(p > 0.0 && p < 1e-5, "{p}");
    }
}
