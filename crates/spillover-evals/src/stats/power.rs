//! Minimum detectable effects at a given power, per row: how large a change the row's sample
//! could have found.
//!
//! - Paired binary outcomes: Connor's (1987, Biometrics 43:207–211) normal approximation to the
//!   power of McNemar's test. With discordant-pair probability ψ and change θ = p01 − p10,
//!   power = Φ((|θ|·√n − z₁₋α/₂·√ψ) / √(ψ − θ²)). ψ is the observed discordance, but never below
//!   |θ| (a change of θ needs at least that many discordant pairs) — so at a floor with no
//!   discordant pairs the MDE assumes every changed item moved one way, the most favourable case.
//! - Paired continuous values: the normal approximation (z₁₋α/₂ + z_power)·sd/√n, sd the observed
//!   standard deviation of the differences.

use super::{normal_cdf, normal_quantile};

/// Approximate power of the paired binary test (see the module notes).
pub fn power_paired_binary(n: usize, discordance: f64, theta: f64, alpha: f64) -> f64 {
    let t = theta.abs();
    let psi = discordance.max(t).min(1.0);
    let z = normal_quantile(1.0 - alpha / 2.0);
    let signal = t * (n as f64).sqrt() - z * psi.sqrt();
    let var = psi - t * t;
    if var <= 1e-15 {
        return if signal > 0.0 { 1.0 } else { 0.0 };
    }
    normal_cdf(signal / var.sqrt())
}

/// The smallest change (as a fraction, 0–1) detected with probability `power` by the paired
/// binary test at two-sided level `alpha`; `None` when not even a change of 1 would be.
pub fn mde_paired_binary(n: usize, discordance: f64, alpha: f64, power: f64) -> Option<f64> {
    if n == 0 {
        return None;
    }
    let ok = |t: f64| power_paired_binary(n, discordance, t, alpha) >= power;
    let step = 1e-3;
    let mut prev = 0.0;
    let mut t = step;
    while t <= 1.0 + 1e-12 {
        if ok(t) {
            let (mut lo, mut hi) = (prev, t);
            for _ in 0..40 {
                let mid = (lo + hi) / 2.0;
                if ok(mid) {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            return Some(hi);
        }
        prev = t;
        t += step;
    }
    None
}

/// The smallest mean shift detected with probability `power` at two-sided level `alpha`, for `n`
/// paired differences with standard deviation `sd`.
pub fn mde_paired_continuous(n: usize, sd: f64, alpha: f64, power: f64) -> f64 {
    (normal_quantile(1.0 - alpha / 2.0) + normal_quantile(power)) * sd / (n as f64).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Rng;

    fn uniform(rng: &mut Rng) -> f64 {
        (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn the_binary_mde_falls_with_n_and_rises_with_stricter_alpha() {
        let mut last = f64::INFINITY;
        for n in [16, 32, 64, 128, 256, 1024] {
            let m = mde_paired_binary(n, 0.2, 0.05, 0.8).unwrap();
            assert!(m < last, "n={n}: {m} ≥ {last}");
            last = m;
        }
        let loose = mde_paired_binary(100, 0.2, 0.05, 0.8).unwrap();
        let strict = mde_paired_binary(100, 0.2, 0.05 / 17.0, 0.8).unwrap();
        assert!(strict > loose);
        // Eight items at α = 0.05/17: the z-bound is √8·θ > 2.97·√θ, so θ > 1.1 — impossible.
        assert_eq!(mde_paired_binary(8, 0.0, 0.05 / 17.0, 0.8), None);
    }

    #[test]
    fn the_binary_mde_matches_a_simulated_mcnemar_test() {
        // n = 200, 20% discordant pairs, α = 0.05: at the MDE, the uncorrected McNemar z-test
        // (|c − b|/√(b + c) > 1.96) should reject in about 80% of simulated samples.
        let (n, psi, alpha) = (200usize, 0.2, 0.05);
        let theta = mde_paired_binary(n, psi, alpha, 0.8).unwrap();
        let (p10, p01) = ((psi - theta) / 2.0, (psi + theta) / 2.0);
        let mut rng = Rng::new(7);
        let reps = 4000;
        let mut rejected = 0;
        for _ in 0..reps {
            let (mut b, mut c) = (0f64, 0f64);
            for _ in 0..n {
                let u = uniform(&mut rng);
                if u < p10 {
                    b += 1.0;
                } else if u < p10 + p01 {
                    c += 1.0;
                }
            }
            if b + c > 0.0 && (c - b).abs() / (b + c).sqrt() > 1.959964 {
                rejected += 1;
            }
        }
        let power = rejected as f64 / reps as f64;
        assert!(
            (power - 0.8).abs() < 0.03,
            "simulated power {power} at θ={theta}"
        );
    }

    #[test]
    fn the_continuous_mde_falls_with_n_and_matches_a_simulation() {
        let mut last = f64::INFINITY;
        for n in [6, 20, 100, 1000] {
            let m = mde_paired_continuous(n, 1.0, 0.05, 0.8);
            assert!(m < last);
            last = m;
        }
        // (1.959964 + 0.841621)·1/√100 = 0.2801585 (table values of z).
        assert!((mde_paired_continuous(100, 1.0, 0.05, 0.8) - 0.280_158_5).abs() < 1e-6);
        // Simulated: 100 normal differences with that mean and sd 1, z on the sample sd.
        let (n, shift) = (100usize, mde_paired_continuous(100, 1.0, 0.05, 0.8));
        let mut rng = Rng::new(11);
        let reps = 4000;
        let mut rejected = 0;
        for _ in 0..reps {
            let d: Vec<f64> = (0..n)
                .map(|_| {
                    let (u1, u2) = (uniform(&mut rng).max(1e-300), uniform(&mut rng));
                    shift + (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
                })
                .collect();
            let m = d.iter().sum::<f64>() / n as f64;
            let s = (d.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt();
            if m.abs() / (s / (n as f64).sqrt()) > 1.959964 {
                rejected += 1;
            }
        }
        let power = rejected as f64 / reps as f64;
        assert!((power - 0.8).abs() < 0.03, "simulated power {power}");
    }
}
