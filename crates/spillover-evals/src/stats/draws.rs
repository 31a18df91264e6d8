//! Random draws beyond uniform integers, from the crate's own generator ([`Rng`]): uniform reals,
//! standard normals, gamma and Dirichlet variates (for parametric bootstraps of proportions).

use super::Rng;

/// Uniform in the open interval (0, 1), with 53 random bits.
pub fn uniform(rng: &mut Rng) -> f64 {
    loop {
        let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        if u > 0.0 {
            return u;
        }
    }
}

/// A standard normal draw (Box–Muller, one of the pair).
pub fn normal(rng: &mut Rng) -> f64 {
    let (u, v) = (uniform(rng), uniform(rng));
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// A Gamma(`shape`, 1) draw, `shape` > 0: Marsaglia & Tsang (2000) for shape ≥ 1, and for
/// shape < 1 their boost Gamma(shape + 1) · U^(1/shape).
pub fn gamma(rng: &mut Rng, shape: f64) -> f64 {
    assert!(shape > 0.0, "gamma shape {shape} must be positive");
    if shape < 1.0 {
        return gamma(rng, shape + 1.0) * uniform(rng).powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = uniform(rng);
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// A Dirichlet(`alpha`) draw: independent gammas, normalised.
pub fn dirichlet<const K: usize>(rng: &mut Rng, alpha: [f64; K]) -> [f64; K] {
    let g = alpha.map(|a| gamma(rng, a));
    let sum: f64 = g.iter().sum();
    g.map(|x| x / sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moments(xs: &[f64]) -> (f64, f64) {
        let n = xs.len() as f64;
        let m = xs.iter().sum::<f64>() / n;
        (
            m,
            xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0),
        )
    }

    #[test]
    fn gamma_draws_have_the_right_mean_and_variance() {
        let mut rng = Rng::new(3);
        for shape in [0.5, 1.0, 2.5, 12.0] {
            let xs: Vec<f64> = (0..200_000).map(|_| gamma(&mut rng, shape)).collect();
            let (m, v) = moments(&xs);
            // Mean and variance of Gamma(k, 1) are both k; the mean's sd is sqrt(k / n).
            let sd = (shape / xs.len() as f64).sqrt();
            assert!((m - shape).abs() < 5.0 * sd, "shape {shape}: mean {m}");
            assert!(
                (v / shape - 1.0).abs() < 0.03,
                "shape {shape}: variance {v}"
            );
        }
    }

    #[test]
    fn normal_and_uniform_draws_look_right() {
        let mut rng = Rng::new(11);
        let z: Vec<f64> = (0..200_000).map(|_| normal(&mut rng)).collect();
        let (m, v) = moments(&z);
        assert!(m.abs() < 0.012 && (v - 1.0).abs() < 0.015, "{m} {v}");
        let below = z.iter().filter(|&&x| x < -1.959964).count() as f64 / z.len() as f64;
        assert!((below - 0.025).abs() < 0.002, "{below}");
        assert!((0..10_000).all(|_| {
            let u = uniform(&mut rng);
            u > 0.0 && u < 1.0
        }));
    }

    #[test]
    fn dirichlet_draws_sum_to_one_with_beta_marginals() {
        let mut rng = Rng::new(5);
        let a = [3.5, 0.5, 1.0];
        let draws: Vec<[f64; 3]> = (0..100_000).map(|_| dirichlet(&mut rng, a)).collect();
        assert!(draws
            .iter()
            .all(|d| (d.iter().sum::<f64>() - 1.0).abs() < 1e-12));
        // The first share is Beta(3.5, 1.5): mean 0.7, variance 0.7 · 0.3 / 6 = 0.035.
        let first: Vec<f64> = draws.iter().map(|d| d[0]).collect();
        let (m, v) = moments(&first);
        assert!(
            (m - 0.7).abs() < 0.003 && (v - 0.035).abs() < 0.001,
            "{m} {v}"
        );
    }
}
