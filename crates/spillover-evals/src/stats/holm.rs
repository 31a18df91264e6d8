//! Holm–Bonferroni step-down correction (Holm 1979) for the family of tests in one report.

use super::StatsError;

/// Holm-adjusted p-values, in the input order: sort ascending, multiply the i-th smallest
/// (0-based) by m − i, take running maxima, cap at 1.
pub fn holm(p_values: &[f64]) -> Result<Vec<f64>, StatsError> {
    if let Some(p) = p_values.iter().find(|p| !(0.0..=1.0).contains(*p)) {
        return Err(StatsError::BadPValue(*p));
    }
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]).then(a.cmp(&b)));
    let mut adjusted = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (rank, &i) in order.iter().enumerate() {
        running = running.max(((m - rank) as f64 * p_values[i]).min(1.0));
        adjusted[i] = running;
    }
    Ok(adjusted)
}

/// Which hypotheses Holm's procedure rejects at family-wise level `alpha`.
pub fn holm_reject(p_values: &[f64], alpha: f64) -> Result<Vec<bool>, StatsError> {
    Ok(holm(p_values)?.into_iter().map(|p| p <= alpha).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wikipedia_worked_example() {
        // Wikipedia, "Holm–Bonferroni method", example: four hypotheses with p = 0.01, 0.04,
        // 0.03, 0.005 at α = 0.05: H4 (0.005 < 0.05/4) and H1 (0.01 < 0.05/3) are rejected; the
        // procedure stops at H3 (0.03 > 0.05/2), so H2 and H3 are not.
        let p = [0.01, 0.04, 0.03, 0.005];
        assert_eq!(
            holm_reject(&p, 0.05).unwrap(),
            vec![true, false, false, true]
        );
        // Adjusted: 0.005·4, 0.01·3, 0.03·2, max(0.04·1, 0.06).
        let want = [0.03, 0.06, 0.06, 0.02];
        for (got, w) in holm(&p).unwrap().iter().zip(want) {
            assert!((got - w).abs() < 1e-12, "{got} vs {w}");
        }
    }

    #[test]
    fn adjusted_p_values_are_at_least_the_raw_ones_capped_at_one_and_order_preserving() {
        let p = [0.5, 0.001, 0.2, 0.04, 0.9, 0.04];
        let adj = holm(&p).unwrap();
        for (a, r) in adj.iter().zip(&p) {
            assert!(*a >= *r && *a <= 1.0);
        }
        for i in 0..p.len() {
            for j in 0..p.len() {
                if p[i] < p[j] {
                    assert!(adj[i] <= adj[j]);
                }
            }
        }
        assert_eq!(
            holm(&[0.03]).unwrap(),
            vec![0.03],
            "one test is not corrected"
        );
    }

    #[test]
    fn p_values_outside_the_unit_interval_are_errors() {
        assert_eq!(holm(&[0.1, 1.5]), Err(StatsError::BadPValue(1.5)));
        assert!(holm(&[f64::NAN]).is_err());
    }
}
