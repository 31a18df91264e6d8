use super::*;
use crate::stats::{mcnemar_exact, mean_difference, paired_bootstrap, BootstrapOptions};

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut Rng) -> f64 {
    let u = ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let v = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// Owned per-seed samples.
struct Data {
    ids: Vec<Vec<String>>,
    before: Vec<Vec<f64>>,
    after: Vec<Vec<f64>>,
}

impl Data {
    fn samples(&self) -> Vec<SeedSample<'_>> {
        (0..self.ids.len())
            .map(|s| SeedSample {
                ids: &self.ids[s],
                before: &self.before[s],
                after: &self.after[s],
            })
            .collect()
    }
    /// Every (seed, item) pair pooled as one sample of distinct items.
    fn pooled(&self) -> (Vec<String>, Vec<f64>, Vec<f64>) {
        let ids = (0..self.ids.len())
            .flat_map(|s| self.ids[s].iter().map(move |i| format!("{s}/{i}")))
            .collect();
        (ids, self.before.concat(), self.after.concat())
    }
}

/// Two levels: seed s shifts every change by uₛ ~ N(0, τ²); item i (shared by the seeds when
/// `crossed`, else each seed's own) by vᵢ ~ N(0, ν²); plus noise N(0, σ²) per (seed, item). The
/// true mean change is `mu`.
#[allow(clippy::too_many_arguments)]
fn two_level(
    rng: &mut Rng,
    seeds: usize,
    items: usize,
    mu: f64,
    tau: f64,
    nu: f64,
    sigma: f64,
    crossed: bool,
) -> Data {
    let shared: Vec<f64> = (0..items).map(|_| nu * normal(rng)).collect();
    let mut d = Data {
        ids: Vec::new(),
        before: Vec::new(),
        after: Vec::new(),
    };
    for s in 0..seeds {
        let u = tau * normal(rng);
        let (mut ids, mut b, mut a) = (Vec::new(), Vec::new(), Vec::new());
        for (i, common) in shared.iter().enumerate() {
            let v = if crossed { *common } else { nu * normal(rng) };
            let before = normal(rng);
            ids.push(if crossed {
                format!("i{i}")
            } else {
                format!("s{s}i{i}")
            });
            b.push(before);
            a.push(before + mu + u + v + sigma * normal(rng));
        }
        d.ids.push(ids);
        d.before.push(b);
        d.after.push(a);
    }
    d
}

/// Coverage of `mu` by the hierarchical and the naive (pooled item) 95% intervals, and their
/// mean widths, over `sims` simulated data sets.
#[allow(clippy::too_many_arguments)]
fn coverage(
    sims: usize,
    seeds: usize,
    items: usize,
    mu: f64,
    tau: f64,
    nu: f64,
    sigma: f64,
    crossed: bool,
) -> [(f64, f64); 2] {
    let mut rng = Rng::new(2024);
    let (mut hits, mut widths) = ([0usize; 2], [0.0f64; 2]);
    for k in 0..sims {
        let d = two_level(&mut rng, seeds, items, mu, tau, nu, sigma, crossed);
        let h = Hierarchical::with_resamples(&d.samples(), 2000, k as u64)
            .unwrap()
            .change(0.95)
            .unwrap();
        // The naive item bootstrap: the pooled pairs as one seed's items.
        let (ids, before, after) = d.pooled();
        let pooled = SeedSample {
            ids: &ids,
            before: &before,
            after: &after,
        };
        let naive = Hierarchical::with_resamples(&[pooled], 2000, k as u64)
            .unwrap()
            .change(0.95)
            .unwrap();
        for (j, iv) in [h, naive].iter().enumerate() {
            hits[j] += usize::from(iv.contains(mu));
            widths[j] += iv.hi - iv.lo;
        }
    }
    let n = sims as f64;
    [
        (hits[0] as f64 / n, widths[0] / n),
        (hits[1] as f64 / n, widths[1] / n),
    ]
}

#[test]
fn with_seed_variance_it_covers_the_mean_and_the_item_bootstrap_does_not() {
    // 12 seeds × 20 items of their own, seed sd 0.5 and item sd 1: the true standard error of the
    // mean is about √(0.25/12 + 1/240) ≈ 0.16; pooling the 240 items as one sample sees ≈ 0.07.
    let [(hier, hier_width), (naive, naive_width)] =
        coverage(300, 12, 20, 0.3, 0.5, 0.0, 1.0, false);
    // 300 simulations: the Monte Carlo sd of a 95% coverage is about 1.3 points.
    assert!(
        (0.92..=0.99).contains(&hier),
        "hierarchical coverage {hier}"
    );
    assert!(naive < 0.75, "the item bootstrap covered {naive}");
    assert!(
        hier_width > 2.0 * naive_width,
        "{hier_width} vs {naive_width}"
    );
}

#[test]
fn with_items_shared_by_the_seeds_it_still_covers_the_mean() {
    // The same 20 items for every seed (as when seeds share the baseline), item sd 0.5: the
    // shared item draw keeps the items' common part in the interval.
    let [(hier, _), (naive, _)] = coverage(300, 12, 20, 0.3, 0.5, 0.5, 1.0, true);
    assert!(
        (0.92..=0.99).contains(&hier),
        "hierarchical coverage {hier}"
    );
    assert!(naive < 0.75, "the item bootstrap covered {naive}");
}

#[test]
fn without_seed_variance_it_is_not_narrower_than_nominal() {
    // Resampling both levels counts the item noise in the seed means and again in the items:
    // conservative when the seeds do not differ.
    let [(hier, _), (naive, _)] = coverage(300, 12, 20, 0.3, 0.0, 0.0, 1.0, false);
    assert!(hier >= 0.93, "hierarchical coverage {hier}");
    assert!(
        (0.91..=0.99).contains(&naive),
        "item bootstrap coverage {naive}"
    );
}

#[test]
fn the_estimate_is_the_mean_of_the_seed_means_and_the_resampling_is_seeded() {
    let d = Data {
        ids: vec![ids(&["a", "b"]), ids(&["a", "b", "c", "d"])],
        before: vec![vec![0.0, 0.0], vec![1.0, 1.0, 1.0, 1.0]],
        after: vec![vec![1.0, 2.0], vec![1.5, 1.5, 1.5, 2.5]],
    };
    let h = Hierarchical::new(&d.samples(), MIN_RESAMPLES, 7).unwrap();
    // Seed means of the change: 1.5 and 0.75 (not the pooled 7/6 of six items).
    let c = h.change(0.95).unwrap();
    assert!((c.estimate - 1.125).abs() < 1e-12, "{c:?}");
    assert!((h.before(0.95).unwrap().estimate - 0.5).abs() < 1e-12);
    assert!((h.after(0.95).unwrap().estimate - 1.625).abs() < 1e-12);
    assert_eq!((h.seeds(), h.items()), (2, 4));
    assert!(c.lo < c.estimate && c.estimate < c.hi);
    let again = Hierarchical::new(&d.samples(), MIN_RESAMPLES, 7).unwrap();
    assert_eq!(again.change(0.95).unwrap(), c);
    // Both seeds changed upward only: every replicate is above 0, p at its floor.
    assert!((h.p_value() - 2.0 / (MIN_RESAMPLES + 1) as f64).abs() < 1e-15);
}

#[test]
fn the_p_value_inverts_the_percentile_interval() {
    let mut rng = Rng::new(11);
    for k in 0..20 {
        let d = two_level(&mut rng, 4, 15, 0.15 * (k % 4) as f64, 0.2, 0.2, 1.0, true);
        let h = Hierarchical::new(&d.samples(), MIN_RESAMPLES, k).unwrap();
        let p = h.p_value();
        for alpha in [0.001, 0.01, 0.05, 0.1, 0.3] {
            let iv = h.change(1.0 - alpha).unwrap();
            let excludes = iv.lo > 0.0 || iv.hi < 0.0;
            // Up to the interpolation between two order statistics.
            if (p - alpha).abs() > 4.0 / MIN_RESAMPLES as f64 {
                assert_eq!(excludes, p <= alpha, "p {p}, α {alpha}: {iv:?}");
            }
        }
    }
}

fn ids(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn bad_samples_are_errors() {
    let d = Data {
        ids: vec![ids(&["a", "a"])],
        before: vec![vec![0.0, 1.0]],
        after: vec![vec![1.0, 1.0]],
    };
    assert_eq!(
        Hierarchical::new(&d.samples(), MIN_RESAMPLES, 0).unwrap_err(),
        StatsError::DuplicateItem("a".into())
    );
    assert_eq!(
        Hierarchical::new(&[], MIN_RESAMPLES, 0).unwrap_err(),
        StatsError::Empty
    );
    let d = Data {
        ids: vec![ids(&["a"])],
        before: vec![vec![0.0, 1.0]],
        after: vec![vec![1.0, 1.0]],
    };
    assert!(stratified_sign_flip(&d.samples(), MIN_RESAMPLES, 0).is_err());
    let d = Data {
        ids: vec![ids(&["a"])],
        before: vec![vec![0.0]],
        after: vec![vec![1.0]],
    };
    assert_eq!(
        Hierarchical::new(&d.samples(), 999, 0).unwrap_err(),
        StatsError::TooFewResamples(999)
    );
}

/// Binary outcomes per seed: before ~ Bernoulli(p), after ~ Bernoulli(p + shift), `n[s]` items
/// of seed s (its own).
fn binary(rng: &mut Rng, n: &[usize], p: &[f64], shift: f64) -> Data {
    let mut d = Data {
        ids: Vec::new(),
        before: Vec::new(),
        after: Vec::new(),
    };
    for (s, (&n, &p)) in n.iter().zip(p).enumerate() {
        let u = |rng: &mut Rng| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        d.ids.push((0..n).map(|i| format!("s{s}i{i}")).collect());
        d.before
            .push((0..n).map(|_| f64::from(u8::from(u(rng) < p))).collect());
        d.after.push(
            (0..n)
                .map(|_| f64::from(u8::from(u(rng) < p + shift)))
                .collect(),
        );
    }
    d
}

/// The rejection rate at α = 0.05 of the stratified test over `sims` data sets from `make`.
fn rejection_rate(sims: usize, mut make: impl FnMut(&mut Rng) -> Data) -> f64 {
    let mut rng = Rng::new(99);
    let mut rejected = 0;
    for k in 0..sims {
        let d = make(&mut rng);
        let t = stratified_sign_flip(&d.samples(), MIN_RESAMPLES, k as u64).unwrap();
        rejected += usize::from(t.p_value() <= 0.05);
    }
    rejected as f64 / sims as f64
}

/// Strata of different sizes and spreads, shifted by `mu`.
fn strata(rng: &mut Rng, mu: f64) -> Data {
    let mut d = Data {
        ids: Vec::new(),
        before: Vec::new(),
        after: Vec::new(),
    };
    for (s, (n, sd)) in [(20, 0.5), (30, 1.0), (40, 2.0)].into_iter().enumerate() {
        d.ids.push((0..n).map(|i| format!("s{s}i{i}")).collect());
        let b: Vec<f64> = (0..n).map(|_| normal(rng)).collect();
        d.after
            .push(b.iter().map(|v| v + mu + sd * normal(rng)).collect());
        d.before.push(b);
    }
    d
}

#[test]
fn the_stratified_test_holds_its_level_under_the_null() {
    // 600 simulations: the Monte Carlo sd of a 5% rate is about 0.9 points.
    let rate = rejection_rate(600, |rng| strata(rng, 0.0));
    assert!((0.03..=0.07).contains(&rate), "continuous: {rate}");
    // Binary strata with different base rates: discrete, so at most the level.
    let rate = rejection_rate(600, |rng| binary(rng, &[30, 40, 50], &[0.2, 0.5, 0.7], 0.0));
    assert!(rate <= 0.065, "binary: {rate}");
}

#[test]
fn the_stratified_test_has_power_against_a_shift() {
    // A shift of 0.3 (continuous; normal-theory power about 60% with these strata's weights):
    let rate = rejection_rate(300, |rng| strata(rng, 0.3));
    assert!(rate > 0.45, "continuous: {rate}");
    // Binary: +20 points on 120 items (McNemar power about 90%).
    let rate = rejection_rate(300, |rng| binary(rng, &[40, 40, 40], &[0.3, 0.4, 0.5], 0.2));
    assert!(rate > 0.75, "binary: {rate}");
    // A larger shift is found more often.
    let strong = rejection_rate(300, |rng| strata(rng, 0.6));
    assert!(strong > 0.9, "continuous, 0.6: {strong}");
}

#[test]
fn with_one_seed_it_is_the_paired_item_bootstrap() {
    let mut rng = Rng::new(12);
    let d = two_level(&mut rng, 1, 50, 0.2, 0.0, 0.0, 1.0, false);
    let h = Hierarchical::new(&d.samples(), MIN_RESAMPLES, 3)
        .unwrap()
        .change(0.95)
        .unwrap();
    let opts = BootstrapOptions {
        seed: 3,
        ..BootstrapOptions::default()
    };
    let p = paired_bootstrap(&d.before[0], &d.after[0], mean_difference, opts).unwrap();
    assert!((h.estimate - p.estimate).abs() < 1e-12);
    // Different draws of the same distribution: ends within a few percent of the width.
    let w = p.hi - p.lo;
    assert!(
        (h.lo - p.lo).abs() < 0.05 * w && (h.hi - p.hi).abs() < 0.05 * w,
        "{h:?} {p:?}"
    );
}

#[test]
fn with_one_seed_the_binary_test_is_exact_mcnemar() {
    // 12 items: 1 went 1 → 0, 7 went 0 → 1, 4 unchanged.
    let before = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0];
    let after = [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0];
    let names: Vec<String> = (0..12).map(|i| i.to_string()).collect();
    let d = [SeedSample {
        ids: &names,
        before: &before,
        after: &after,
    }];
    let t = stratified_sign_flip(&d, MIN_RESAMPLES, 0).unwrap();
    let exact = mcnemar_exact(1, 7).p_value;
    assert!(
        (t.p_value() - exact).abs() < 1e-12,
        "{} vs {exact}",
        t.p_value()
    );
    // 2·P(X ≤ 1) for X ~ Binomial(8, ½) = 2·9/256.
    assert!((exact - 18.0 / 256.0).abs() < 1e-12);
}

#[test]
fn one_flip_per_item_shared_by_the_seeds() {
    // Two seeds on the same 3 items, all changes +1: 8 sign patterns of 3 items (not 64 of 6),
    // so the smallest p is 2/8.
    let names = ids(&["a", "b", "c"]);
    let (b, a) = ([0.0; 3], [1.0; 3]);
    let s = SeedSample {
        ids: &names,
        before: &b,
        after: &a,
    };
    let t = stratified_sign_flip(&[s, s], MIN_RESAMPLES, 0).unwrap();
    assert!((t.p_value() - 0.25).abs() < 1e-12 && (t.p_min() - 0.25).abs() < 1e-12);
}
