//! Aggregation of one metric over training seeds.

use super::StatsError;

/// Mean, sample standard deviation and the per-seed values.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SeedSummary {
    /// (seed, value), in the input order.
    pub values: Vec<(u64, f64)>,
    pub mean: f64,
    /// Sample standard deviation (n − 1 denominator); NaN with a single seed.
    pub sd: f64,
}

/// Summarises `(seed, value)` pairs.
pub fn aggregate_seeds(values: &[(u64, f64)]) -> Result<SeedSummary, StatsError> {
    if values.is_empty() {
        return Err(StatsError::Empty);
    }
    if let Some((_, v)) = values.iter().find(|(_, v)| !v.is_finite()) {
        return Err(StatsError::NonFinite(*v));
    }
    let n = values.len() as f64;
    let mean = values.iter().map(|(_, v)| v).sum::<f64>() / n;
    let sd = if values.len() < 2 {
        f64::NAN
    } else {
        (values.iter().map(|(_, v)| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    };
    Ok(SeedSummary {
        values: values.to_vec(),
        mean,
        sd,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wikipedia_standard_deviation_example() {
        // Wikipedia, "Standard deviation": 2, 4, 4, 4, 5, 5, 7, 9 has mean 5 and population sd 2,
        // so the sample sd is √(32/7).
        let v: Vec<(u64, f64)> = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]
            .iter()
            .enumerate()
            .map(|(i, x)| (i as u64, *x))
            .collect();
        let s = aggregate_seeds(&v).unwrap();
        assert_eq!(s.mean, 5.0);
        assert!((s.sd - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert_eq!(s.values, v);
    }

    #[test]
    fn one_seed_has_no_spread_and_none_is_an_error() {
        let s = aggregate_seeds(&[(3, 0.5)]).unwrap();
        assert_eq!(s.mean, 0.5);
        assert!(s.sd.is_nan());
        assert_eq!(aggregate_seeds(&[]), Err(StatsError::Empty));
    }
}
