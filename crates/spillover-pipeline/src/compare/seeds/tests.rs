use super::*;
use crate::compare::{aggregate, tax_table};
use spillover_evals::stats::Rng;

/// A series of `bench/metric` on items `ids` (ids, not positions, pair the values).
fn series(
    metric: &str,
    binary: bool,
    ids: &[String],
    before: Vec<f64>,
    after: Vec<f64>,
) -> MetricSeries {
    let b: Vec<(String, f64)> = ids.iter().cloned().zip(before).collect();
    let a: Vec<(String, f64)> = ids.iter().cloned().zip(after).collect();
    MetricSeries::paired("b", metric, "", binary, true, &b, &a).unwrap()
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

fn uniform(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// Continuous values on `n` items: before uniform, after = before + shift + noise.
fn shifted(rng: &mut Rng, n: usize, shift: f64) -> (Vec<f64>, Vec<f64>) {
    let b: Vec<f64> = (0..n).map(|_| uniform(rng)).collect();
    let a: Vec<f64> = b
        .iter()
        .map(|v| v + shift + (uniform(rng) - 0.5) * 0.4)
        .collect();
    (b, a)
}

/// Per seed: its series and its own table.
fn tables(series: Vec<Vec<MetricSeries>>) -> Vec<(u64, Vec<MetricSeries>, Vec<TaxRow>)> {
    series
        .into_iter()
        .enumerate()
        .map(|(k, s)| {
            let rows = tax_table(&s, &StatsSection::default(), k as u64).unwrap();
            (k as u64, s, rows)
        })
        .collect()
}

fn across(t: &[(u64, Vec<MetricSeries>, Vec<TaxRow>)]) -> Vec<AcrossRow> {
    let seeds: Vec<SeedTable> = t
        .iter()
        .map(|(seed, series, rows)| SeedTable {
            seed: *seed,
            series,
            rows,
        })
        .collect();
    across_seeds(&seeds, &StatsSection::default(), 0).unwrap()
}

#[test]
fn seeds_with_different_items_and_rows_are_matched_by_key_and_id() {
    let mut rng = Rng::new(1);
    // Seed 0 has rows x, y on items a0..a39; seed 1 has y, z, x (another order) on a5..a44,
    // so the seeds share 35 items and two rows.
    let (i0, i1) = (ids("a", 40), ids("a", 45).split_off(5));
    let (xb0, xa0) = shifted(&mut rng, 40, 0.3);
    let (yb0, ya0) = shifted(&mut rng, 40, 0.0);
    let (xb1, xa1) = shifted(&mut rng, 40, 0.3);
    let (yb1, ya1) = shifted(&mut rng, 40, 0.0);
    let (zb1, za1) = shifted(&mut rng, 40, -0.3);
    let t = tables(vec![
        vec![
            series("x", false, &i0, xb0.clone(), xa0.clone()),
            series("y", false, &i0, yb0, ya0),
        ],
        vec![
            series("y", false, &i1, yb1, ya1),
            series("z", false, &i1, zb1, za1.clone()),
            series("x", false, &i1, xb1.clone(), xa1.clone()),
        ],
    ]);
    let rows = across(&t);
    let keys: Vec<&str> = rows.iter().map(|r| r.metric.as_str()).collect();
    assert_eq!(keys, ["x", "y", "z"]);
    let x = &rows[0];
    assert_eq!((x.n_seeds, x.n), (2, 45));
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let own = [mean(&xa0) - mean(&xb0), mean(&xa1) - mean(&xb1)];
    assert_eq!(x.per_seed[0].seed, 0);
    assert!((x.per_seed[0].change - own[0]).abs() < 1e-12);
    assert!((x.per_seed[1].change - own[1]).abs() < 1e-12);
    assert!((x.change.estimate - (own[0] + own[1]) / 2.0).abs() < 1e-12);
    assert_eq!(x.verdict, Verdict::Gain, "{x:?}");
    assert_eq!(x.stable, Some(true));
    // The seeds' own tables found the row under its key, wherever it stood.
    assert_eq!(x.per_seed[1].verdict, Some(t[1].2[2].verdict));
    let z = &rows[2];
    assert_eq!((z.n_seeds, z.n, z.per_seed[0].seed), (1, 40, 1));
    assert_eq!(z.verdict, Verdict::Loss, "{z:?}");

    // The mean ± sd summary matches rows by key too (it once required the same rows in order).
    let by_seed: Vec<(u64, Vec<TaxRow>)> = t.iter().map(|(s, _, r)| (*s, r.clone())).collect();
    let summary = aggregate(&by_seed).unwrap();
    let keys: Vec<&str> = summary.iter().map(|r| r.metric.as_str()).collect();
    assert_eq!(keys, ["x", "y", "z"]);
    let x = &summary[0];
    assert_eq!(x.change.values.len(), 2);
    assert!((x.change.values[1].1 - t[1].2[2].change.estimate).abs() < 1e-15);
    assert_eq!(summary[2].change.values.len(), 1);
    assert_eq!(summary[2].change.values[0].0, 1);
}

#[test]
fn a_floor_over_seeds_has_width_and_is_not_equivalent() {
    // 0/8 → 0/8 on three seeds: the bootstrap alone would say [0, 0] and "equivalent".
    let i = ids("q", 8);
    let t = tables(
        (0..3)
            .map(|_| vec![series("acc", true, &i, vec![0.0; 8], vec![0.0; 8])])
            .collect(),
    );
    let r = &across(&t)[0];
    assert!(r.change.lo < -0.05 && r.change.hi > 0.05, "{r:?}");
    // The rates before and after have Wilson-like width too.
    assert!(r.before.lo == 0.0 && r.before.hi > 0.1, "{r:?}");
    assert!(r.after.hi > 0.1, "{r:?}");
    assert_eq!(r.verdict, Verdict::Inconclusive, "{r:?}");
    assert_eq!(r.stable, None);
    assert!(!r.equivalence.unwrap().equivalent);
}

#[test]
fn one_seed_against_the_others_makes_a_gain_unstable() {
    let mut rng = Rng::new(3);
    let i = ids("p", 200);
    let mut seeds = Vec::new();
    for shift in [0.4, 0.4, 0.4, 0.4, -0.05] {
        let (b, a) = shifted(&mut rng, 200, shift);
        seeds.push(vec![series("m", false, &i, b, a)]);
    }
    let rows = across(&tables(seeds));
    let r = &rows[0];
    assert_eq!(r.verdict, Verdict::Gain, "{r:?}");
    assert_eq!(r.stable, Some(false), "{r:?}");
    assert!(r.per_seed[4].change < 0.0);
    // The same seeds without the dissenter: stable.
    let mut rng = Rng::new(3);
    let mut seeds = Vec::new();
    for shift in [0.4, 0.4, 0.4, 0.4] {
        let (b, a) = shifted(&mut rng, 200, shift);
        seeds.push(vec![series("m", false, &i, b, a)]);
    }
    assert_eq!(across(&tables(seeds))[0].stable, Some(true));
}

#[test]
fn seed_to_seed_variation_widens_the_interval_beyond_item_noise() {
    // Two seeds that disagree (+0.3 and −0.3, each precisely measured): every seed's own row
    // is significant, but the change over seeds is not.
    let mut rng = Rng::new(4);
    let i = ids("r", 200);
    let mut seeds = Vec::new();
    for shift in [0.3, -0.3] {
        let (b, a) = shifted(&mut rng, 200, shift);
        seeds.push(vec![series("m", false, &i, b, a)]);
    }
    let t = tables(seeds);
    assert!(t
        .iter()
        .all(|(_, _, rows)| matches!(rows[0].verdict, Verdict::Gain | Verdict::Loss)));
    let r = &across(&t)[0];
    assert_eq!(r.verdict, Verdict::Inconclusive, "{r:?}");
    assert!(r.change.lo < -0.2 && r.change.hi > 0.2, "{r:?}");
    // The stratified test alone sees no change either (the seeds cancel).
    assert!(r.p_test > 0.05, "{r:?}");
}

#[test]
fn no_interval_over_seeds_excluding_zero_is_labelled_inconclusive_or_equivalent() {
    let mut rng = Rng::new(5);
    for trial in 0..6 {
        let mut per_seed = vec![Vec::new(); 3];
        for k in 0..5 {
            let n = [8, 20, 60][(trial + k) % 3];
            let binary = k % 2 == 0;
            let shift = [0.0, 0.1, 0.3][k % 3];
            for (s, seed) in per_seed.iter_mut().enumerate() {
                // Each seed drops a different item.
                let mut item_ids = ids("t", n + 1);
                item_ids.remove(s);
                let (mut b, mut a) = (Vec::new(), Vec::new());
                for _ in 0..n {
                    let (u, v) = (uniform(&mut rng), uniform(&mut rng));
                    if binary {
                        b.push(f64::from(u8::from(u < 0.5)));
                        a.push(f64::from(u8::from(v < 0.5 + shift)));
                    } else {
                        b.push(u);
                        a.push(u + shift + (v - 0.5) * 0.5);
                    }
                }
                seed.push(series(&format!("m{k}"), binary, &item_ids, b, a));
            }
        }
        for r in across(&tables(per_seed)) {
            let excludes = r.change.lo > 0.0 || r.change.hi < 0.0;
            let changed = matches!(r.verdict, Verdict::Gain | Verdict::Loss);
            assert_eq!(excludes, changed, "trial {trial}: {r:?}");
            assert!(r.p_value >= r.p_test && r.p_value >= r.p_bootstrap);
        }
    }
}

#[test]
fn rows_over_seeds_read_back_from_json() {
    let mut rng = Rng::new(6);
    let i = ids("j", 6);
    let mut seeds = Vec::new();
    for _ in 0..2 {
        let (b, a) = shifted(&mut rng, 6, 1.0);
        let mut d = series("d", false, &i, b.clone(), a.clone());
        d.tested = false;
        let mut s = vec![d];
        for k in 0..4 {
            s.push(series(&format!("m{k}"), false, &i, b.clone(), a.clone()));
        }
        seeds.push(s);
    }
    let rows = across(&tables(seeds));
    assert!(rows[0].p_value.is_nan() && rows[0].verdict == Verdict::Descriptive);
    // Six items, four tested rows: the smallest possible p (2/64) is above every Holm level, so
    // the rows are blind, with unbounded intervals.
    assert!(
        rows[1].blind && rows[1].change.hi == f64::INFINITY,
        "{:?}",
        rows[1]
    );
    let text = serde_json::to_string(&rows).unwrap();
    let back: Vec<AcrossRow> = serde_json::from_str(&text).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), text);
}
