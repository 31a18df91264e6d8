//! The MRI's seeded draws and the order statistics of its nulls and bootstraps. The generator is
//! the workspace's one SplitMix64 (`spillover_core::rng`), so a null drawn twice is the same null;
//! indices are drawn by scaling (`below_by_scaling`), as they always were here.

/// The MRI's generator: SplitMix64 with its Gaussian (Box–Muller) and unit-vector draws.
pub use spillover_core::rng::SplitMix64 as Rng;

/// The `q` quantile (0..=1) of `v` by linear interpolation between order statistics (`NaN` when
/// empty).
pub fn quantile(v: &[f32], q: f64) -> f32 {
    if v.is_empty() {
        return f32::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f32::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (s.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let w = (pos - lo as f64) as f32;
    s[lo] * (1.0 - w) + s[hi] * w
}

/// Percentile (0..=100) of `observed` in `null`: the share of null draws strictly below it, ties
/// counted half (so an observation equal to every draw sits at 50, never beyond the null).
pub fn percentile_in(observed: f32, null: &[f32]) -> f32 {
    if null.is_empty() {
        return f32::NAN;
    }
    let below = null.iter().filter(|x| **x < observed).count() as f32;
    let ties = null.iter().filter(|x| **x == observed).count() as f32;
    100.0 * (below + 0.5 * ties) / null.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_percentiles_of_a_known_sample() {
        let v = [4.0, 1.0, 3.0, 2.0, 5.0];
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 0.0), 1.0);
        assert_eq!(quantile(&v, 1.0), 5.0);
        assert_eq!(quantile(&v, 0.25), 2.0);
        assert_eq!(quantile(&v, 0.125), 1.5);
        assert_eq!(percentile_in(6.0, &v), 100.0);
        assert_eq!(percentile_in(0.0, &v), 0.0);
        assert_eq!(percentile_in(3.0, &v), 50.0);
        assert_eq!(percentile_in(0.0, &[0.0; 4]), 50.0);
    }
}
