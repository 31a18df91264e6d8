//! A small seeded generator for the MRI's nulls and bootstraps (SplitMix64, Steele, Lea & Flood
//! 2014): its stream is fixed by this file, so a null drawn twice is the same null.

/// SplitMix64 with a Gaussian sampler (Box–Muller).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform index in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.uniform() * n as f64) as usize).min(n - 1)
    }

    /// A standard normal draw.
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // (0, 1]
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// A uniformly random unit vector in `d` dimensions.
    pub fn unit_vector(&mut self, d: usize) -> Vec<f32> {
        let v: Vec<f64> = (0..d).map(|_| self.normal()).collect();
        let n = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-300);
        v.iter().map(|x| (x / n) as f32).collect()
    }
}

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

    #[test]
    fn unit_vectors_have_unit_norm_and_vary() {
        let mut r = Rng::new(1);
        let a = r.unit_vector(16);
        let b = r.unit_vector(16);
        let n: f32 = a.iter().map(|x| x * x).sum();
        assert!((n - 1.0).abs() < 1e-5);
        assert_ne!(a, b);
        // Mean of many normals near 0 and variance near 1.
        let xs: Vec<f64> = (0..20_000).map(|_| r.normal()).collect();
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / xs.len() as f64;
        assert!(m.abs() < 0.03 && (var - 1.0).abs() < 0.05, "{m} {var}");
    }
}
