//! The Stuart–Maxwell test of marginal homogeneity for a square before × after table (Stuart 1955;
//! Maxwell 1970; Agresti, Categorical Data Analysis, 3rd ed., §11.3.1): do the outcome shares
//! (e.g. refused / complied / degenerate) differ between before and after on the same items?

use super::{erfc, StatsError};

/// The statistic, its degrees of freedom and p-value.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StuartMaxwell {
    pub statistic: f64,
    /// k − 1 for k categories that exchange items; fewer when some never change.
    pub df: usize,
    pub p_value: f64,
}

/// The test on a 3 × 3 table, `table[before][after]`.
///
/// With d = row totals − column totals and V the covariance (Vᵢᵢ = nᵢ. + n.ᵢ − 2nᵢᵢ,
/// Vᵢⱼ = −(nᵢⱼ + nⱼᵢ)), the statistic dᵀV⁻¹d over k − 1 categories is χ² with k − 1 df. Categories
/// with no off-diagonal counts carry no information and are dropped first.
pub fn stuart_maxwell(table: [[u64; 3]; 3]) -> Result<StuartMaxwell, StatsError> {
    let n: Vec<Vec<f64>> = table
        .iter()
        .map(|r| r.iter().map(|v| *v as f64).collect())
        .collect();
    let moving: Vec<usize> = (0..3)
        .filter(|&i| (0..3).any(|j| j != i && (n[i][j] > 0.0 || n[j][i] > 0.0)))
        .collect();
    let row = |i: usize| n[i].iter().sum::<f64>();
    let col = |i: usize| n.iter().map(|r| r[i]).sum::<f64>();
    let d = |i: usize| row(i) - col(i);
    let v = |i: usize, j: usize| {
        if i == j {
            row(i) + col(i) - 2.0 * n[i][i]
        } else {
            -(n[i][j] + n[j][i])
        }
    };
    let (statistic, df) = match moving.len() {
        0 | 1 => (0.0, 0),
        2 => {
            let i = moving[0];
            (d(i) * d(i) / v(i, i), 1)
        }
        _ => {
            let (a, b, c) = (v(0, 0), v(0, 1), v(1, 1));
            let det = a * c - b * b;
            if det <= 0.0 {
                return Err(StatsError::Empty);
            }
            let (d0, d1) = (d(0), d(1));
            ((c * d0 * d0 - 2.0 * b * d0 * d1 + a * d1 * d1) / det, 2)
        }
    };
    let p_value = match df {
        0 => 1.0,
        // χ²₁ survival: P(|Z| > √x) = erfc(√(x/2)).
        1 => erfc((statistic / 2.0).sqrt()),
        // χ²₂ survival: exp(−x/2).
        _ => (-statistic / 2.0).exp(),
    };
    Ok(StuartMaxwell {
        statistic,
        df,
        p_value: p_value.min(1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_example() {
        // Rows: before refused/complied/degenerate; columns: after.
        //   [20 10  5]  row totals 35 35 30
        //   [ 3 30  2]  column totals 25 44 31
        //   [ 2  4 24]
        // d = (35 − 25, 35 − 44) = (10, −9).
        // V11 = 35 + 25 − 40 = 20, V22 = 35 + 44 − 60 = 19, V12 = −(10 + 3) = −13.
        // det = 20·19 − 169 = 211; V⁻¹ = [[19, 13], [13, 20]] / 211.
        // χ² = (19·100 + 2·13·10·(−9) + 20·81) / 211 = (1900 − 2340 + 1620) / 211 = 1180/211
        //    = 5.5924; df 2; p = exp(−590/211) = 0.0610.
        let r = stuart_maxwell([[20, 10, 5], [3, 30, 2], [2, 4, 24]]).unwrap();
        assert!((r.statistic - 1180.0 / 211.0).abs() < 1e-12, "{r:?}");
        assert_eq!(r.df, 2);
        assert!((r.p_value - 0.0610).abs() < 1e-4, "{r:?}");
    }

    #[test]
    fn two_moving_categories_reduce_to_mcnemar() {
        // Only refused ↔ complied moves (8 one way, 2 the other): χ² = (8 − 2)²/(8 + 2) = 3.6,
        // df 1, p = 0.0578 (McNemar's χ² without continuity correction, by hand: P(χ²₁ > 3.6)).
        let r = stuart_maxwell([[10, 8, 0], [2, 20, 0], [0, 0, 5]]).unwrap();
        assert!((r.statistic - 3.6).abs() < 1e-12, "{r:?}");
        assert_eq!(r.df, 1);
        assert!((r.p_value - 0.0578).abs() < 1e-4, "{r:?}");
    }

    #[test]
    fn no_movement_is_p_one_and_the_dropped_category_does_not_matter() {
        let r = stuart_maxwell([[5, 0, 0], [0, 7, 0], [0, 0, 1]]).unwrap();
        assert_eq!((r.statistic, r.df, r.p_value), (0.0, 0, 1.0));
        // Relabelling the categories (a permutation of rows and columns) leaves χ² unchanged.
        let a = stuart_maxwell([[20, 10, 5], [3, 30, 2], [2, 4, 24]]).unwrap();
        let b = stuart_maxwell([[24, 2, 4], [5, 20, 10], [2, 3, 30]]).unwrap();
        assert!((a.statistic - b.statistic).abs() < 1e-9, "{a:?} {b:?}");
    }
}
