//! Top-k and top-p on hand-written logits, temperature, and the seeded random stream.

use spillover_engine::sampling::{argmax, top_p_len};
use spillover_engine::{Rng, Sampling};

fn s(temperature: f32, top_k: usize, top_p: f32) -> Sampling {
    Sampling {
        temperature,
        top_k,
        top_p,
        seed: 0,
    }
}

const LOGITS: [f32; 6] = [1.0, 3.0, 2.0, 0.5, 3.0, -1.0];

#[test]
fn top_k_keeps_the_k_best_ties_by_id() {
    let d = s(1.0, 3, 1.0).distribution(&LOGITS);
    let ids: Vec<u32> = d.iter().map(|x| x.0).collect();
    assert_eq!(ids, vec![1, 4, 2]);
    let total: f64 = d.iter().map(|x| x.1).sum();
    assert!((total - 1.0).abs() < 1e-12);
    // Renormalized softmax over the kept logits.
    let z = 2.0 * 3f64.exp() + 2f64.exp();
    assert!((d[0].1 - 3f64.exp() / z).abs() < 1e-12);
    assert!((d[2].1 - 2f64.exp() / z).abs() < 1e-12);
}

#[test]
fn top_p_keeps_the_smallest_set_reaching_p() {
    // probabilities 0.5, 0.3, 0.15, 0.05
    let logits: Vec<f32> = [0.5f64, 0.3, 0.15, 0.05]
        .iter()
        .map(|p| p.ln() as f32)
        .collect();
    for (p, want) in [
        (0.4, 1),
        (0.6, 2),
        (0.79, 2),
        (0.81, 3),
        (0.96, 4),
        (1.0, 4),
    ] {
        let d = s(1.0, 0, p).distribution(&logits);
        assert_eq!(d.len(), want, "top_p {p}");
    }
    assert_eq!(top_p_len(&[0.5, 0.3, 0.2], 0.79), 2);
    // top-k applies before top-p: with k = 2 the two survivors are renormalized to 0.625 / 0.375.
    let d = s(1.0, 2, 0.6).distribution(&logits);
    assert_eq!(d.len(), 1);
    let d = s(1.0, 2, 0.7).distribution(&logits);
    assert_eq!(d.len(), 2);
    assert!((d[0].1 - 0.625).abs() < 1e-6);
}

#[test]
fn top_p_searches_past_the_first_candidates_on_flat_distributions() {
    let flat = vec![0.0f32; 5000];
    let d = s(1.0, 0, 0.5).distribution(&flat);
    assert!((2500..=2501).contains(&d.len()), "{}", d.len());
}

#[test]
fn temperature_sharpens_and_zero_is_greedy() {
    let cold = s(0.1, 0, 1.0).distribution(&LOGITS);
    let warm = s(2.0, 0, 1.0).distribution(&LOGITS);
    assert!(cold[0].1 > warm[0].1);
    assert_eq!(s(0.0, 0, 1.0).distribution(&LOGITS), vec![(1, 1.0)]);
    assert_eq!(argmax(&LOGITS), 1, "first of the tied maxima");
    let mut r = Rng::new(3);
    for _ in 0..20 {
        assert_eq!(s(0.0, 0, 1.0).choose(&LOGITS, &mut r), 1);
    }
}

#[test]
fn draws_follow_the_distribution_and_repeat_under_a_seed() {
    let sm = s(1.0, 0, 1.0);
    let draw = |seed| {
        let mut r = Rng::new(seed);
        (0..4000)
            .map(|_| sm.choose(&LOGITS, &mut r))
            .collect::<Vec<_>>()
    };
    assert_eq!(draw(5), draw(5));
    assert_ne!(draw(5), draw(6));
    let d = sm.distribution(&LOGITS);
    let xs = draw(5);
    for (id, p) in d {
        let freq = xs.iter().filter(|&&x| x == id).count() as f64 / xs.len() as f64;
        assert!(
            (freq - p).abs() < 0.03,
            "token {id}: frequency {freq} vs probability {p}"
        );
    }
    let filtered = s(1.0, 2, 1.0);
    let mut r = Rng::new(9);
    assert!((0..500).all(|_| [1, 4].contains(&filtered.choose(&LOGITS, &mut r))));
}

#[test]
fn bad_ranges_are_rejected() {
    assert!(s(-1.0, 0, 1.0).validate().is_err());
    assert!(s(1.0, 0, 0.0).validate().is_err());
    assert!(s(1.0, 0, 1.5).validate().is_err());
    assert!(s(f32::NAN, 0, 1.0).validate().is_err());
    assert!(s(0.7, 40, 0.9).validate().is_ok());
}
