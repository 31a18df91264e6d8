use super::*;
use spillover_evals::stats::Rng;

fn series(binary: bool, before: Vec<f64>, after: Vec<f64>, higher: bool) -> MetricSeries {
    let ids: Vec<(String, f64)> = before
        .iter()
        .enumerate()
        .map(|(i, v)| (i.to_string(), *v))
        .collect();
    let a: Vec<(String, f64)> = after
        .iter()
        .enumerate()
        .map(|(i, v)| (i.to_string(), *v))
        .collect();
    MetricSeries::paired("b", "m", "", binary, higher, &ids, &a).unwrap()
}

fn bits(ones: usize, zeros: usize) -> Vec<f64> {
    let mut v = vec![1.0; ones];
    v.extend(vec![0.0; zeros]);
    v
}

#[test]
fn a_large_drop_in_accuracy_is_a_loss_and_four_unchanged_items_are_inconclusive() {
    let same = vec![1.0, 0.0, 1.0, 0.0];
    let rows = tax_table(
        &[
            series(true, vec![1.0; 40], bits(10, 30), true),
            series(true, same.clone(), same, true),
        ],
        &StatsSection::default(),
        0,
    )
    .unwrap();
    assert_eq!(rows[0].verdict, Verdict::Loss);
    assert_eq!(rows[0].discordant, Some((30, 0)));
    assert!((rows[0].change.estimate + 0.75).abs() < 1e-12);
    assert!(rows[0].change.hi < 0.0 && rows[0].change.lo <= -0.75);
    // Rejected first of two: judged at α/2, with the 97.5% interval.
    assert_eq!(rows[0].holm_step, Some(1));
    assert!((rows[0].alpha_row - 0.025).abs() < 1e-15);
    assert!((rows[0].change.confidence - 0.975).abs() < 1e-12);
    assert_eq!(rows[1].verdict, Verdict::Inconclusive);
    assert_eq!(rows[1].p_value, 1.0);
    assert!((rows[0].p_holm - (2.0 * rows[0].p_value).min(1.0)).abs() < 1e-15);
}

#[test]
fn direction_decides_gain_or_loss() {
    let before: Vec<f64> = (0..30).map(|i| i as f64 * 0.01).collect();
    let after: Vec<f64> = before.iter().map(|v| v + 1.0).collect();
    let st = StatsSection::default();
    let up_good = tax_table(
        &[series(false, before.clone(), after.clone(), true)],
        &st,
        0,
    )
    .unwrap();
    let up_bad = tax_table(&[series(false, before, after, false)], &st, 0).unwrap();
    assert_eq!(up_good[0].verdict, Verdict::Gain);
    assert_eq!(up_bad[0].verdict, Verdict::Loss);
    assert_eq!(up_good[0].test, "sign_flip_permutation");
}

#[test]
fn a_floor_has_a_real_interval_and_is_not_a_change() {
    // 0/8 → 0/8 among 17 tested rows: the interval has width; 80% power is out of reach.
    let mut s = vec![series(true, vec![0.0; 8], vec![0.0; 8], true)];
    // Six passages, one value each: the sign-flip test cannot go below 2/64 > 0.05/17.
    let before: Vec<f64> = (0..6).map(|i| i as f64).collect();
    let after: Vec<f64> = before.iter().map(|v| v + 1.0).collect();
    s.push(series(false, before, after, false));
    for _ in 0..15 {
        s.push(series(true, bits(20, 20), bits(20, 20), true));
    }
    let rows = tax_table(&s, &StatsSection::default(), 0).unwrap();
    let r = &rows[0];
    assert!(r.change.lo < -0.05 && r.change.hi > 0.05, "{:?}", r.change);
    assert_eq!(r.verdict, Verdict::Inconclusive);
    assert!(r.mde.is_none(), "{r:?}");
    // Every passage got worse by 1 nat, yet no verdict is possible: blind, unbounded interval.
    let p = &rows[1];
    assert!(p.blind && p.mde.is_none(), "{p:?}");
    assert_eq!(p.verdict, Verdict::Inconclusive);
    assert!(p.change.hi == f64::INFINITY && p.change.lo == f64::NEG_INFINITY);
    assert!(!rows[2].blind, "{:?}", rows[2]);
}

#[test]
fn many_items_with_few_changes_are_equivalent() {
    let mut after = bits(200, 200);
    after[0] = 0.0;
    after[399] = 1.0;
    after[398] = 1.0;
    let rows = tax_table(
        &[series(true, bits(200, 200), after, true)],
        &StatsSection::default(),
        0,
    )
    .unwrap();
    assert_eq!(rows[0].verdict, Verdict::Equivalent, "{:?}", rows[0]);
    let e = rows[0].equivalence.unwrap();
    assert!(e.interval.lo > -0.05 && e.interval.hi < 0.05);
    let mde = rows[0].mde.unwrap();
    assert!(mde > 0.0 && mde < 0.05, "{mde}");
}

#[test]
fn descriptive_rows_are_outside_the_family() {
    let before: Vec<f64> = (0..30).map(|i| i as f64 * 0.01).collect();
    let after: Vec<f64> = before.iter().map(|v| v + 1.0).collect();
    let mut d = series(false, before.clone(), after.clone(), false);
    d.tested = false;
    let rows = tax_table(
        &[d, series(false, before, after, true)],
        &StatsSection::default(),
        0,
    )
    .unwrap();
    assert_eq!(rows[0].verdict, Verdict::Descriptive);
    assert!(rows[0].p_value.is_nan() && rows[0].holm_step.is_none());
    assert!((rows[0].change.confidence - 0.95).abs() < 1e-12);
    // One tested row: it is judged at the full α.
    assert!((rows[1].alpha_row - 0.05).abs() < 1e-15);
    assert_eq!(rows[1].p_holm, rows[1].p_value);
}

#[test]
fn no_interval_excluding_zero_is_labelled_inconclusive_or_equivalent() {
    // Random tables of binary and continuous rows of mixed sizes and effects.
    let mut rng = Rng::new(5);
    for trial in 0..12 {
        let mut s = Vec::new();
        for k in 0..6 {
            let n = [8, 20, 60][(trial + k) % 3];
            let binary = k % 2 == 0;
            let shift = [0.0, 0.1, 0.3][k % 3];
            let (mut b, mut a) = (Vec::new(), Vec::new());
            for _ in 0..n {
                let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                let v = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                if binary {
                    b.push(f64::from(u < 0.5));
                    a.push(f64::from(v < 0.5 + shift));
                } else {
                    b.push(u);
                    a.push(u + shift + (v - 0.5) * 0.5);
                }
            }
            s.push(series(binary, b, a, true));
        }
        for r in tax_table(&s, &StatsSection::default(), trial as u64).unwrap() {
            let excludes = r.change.lo > 0.0 || r.change.hi < 0.0;
            let changed = matches!(r.verdict, Verdict::Gain | Verdict::Loss);
            assert_eq!(excludes, changed, "trial {trial}: {r:?}");
        }
    }
}

#[test]
fn pairing_by_id_rejects_different_items() {
    let b = vec![("a".to_string(), 1.0), ("b".to_string(), 0.0)];
    let a = vec![("a".to_string(), 1.0), ("c".to_string(), 0.0)];
    assert!(MetricSeries::paired("x", "y", "", true, true, &b, &a).is_err());
    let a2 = vec![("b".to_string(), 1.0), ("a".to_string(), 0.0)];
    let s = MetricSeries::paired("x", "y", "", true, true, &b, &a2).unwrap();
    assert_eq!(
        s.after,
        vec![0.0, 1.0],
        "values follow the before order of ids"
    );
}

#[test]
fn rows_with_null_numbers_read_back() {
    // Descriptive rows (p null) and blind rows (unbounded interval) must survive tax.json.
    let before: Vec<f64> = (0..6).map(|i| i as f64).collect();
    let after: Vec<f64> = before.iter().map(|v| v + 1.0).collect();
    let mut d = series(false, before.clone(), after.clone(), true);
    d.tested = false;
    let mut s = vec![d];
    for _ in 0..5 {
        s.push(series(false, before.clone(), after.clone(), true));
    }
    let rows = tax_table(&s, &StatsSection::default(), 0).unwrap();
    assert!(rows[1].blind && rows[1].change.hi == f64::INFINITY);
    let text = serde_json::to_string(&rows).unwrap();
    let back: Vec<TaxRow> = serde_json::from_str(&text).unwrap();
    assert!(back[0].p_value.is_nan());
    assert_eq!(back[1].change.hi, f64::INFINITY);
    assert_eq!(back[1].change.lo, f64::NEG_INFINITY);
    assert_eq!(serde_json::to_string(&back).unwrap(), text);
}

#[test]
fn rows_at_the_floor_or_at_chance_are_marked_and_stay_in_the_family() {
    let mut floor = series(true, bits(1, 39), bits(0, 40), true);
    floor.chance = Some(0.0);
    let mut chance = series(true, bits(10, 30), bits(9, 31), true);
    chance.chance = Some(0.25);
    let mut able = series(true, bits(20, 20), bits(10, 30), true);
    able.chance = Some(0.25);
    let refusal = series(true, bits(0, 40), bits(0, 40), true);
    let rows = tax_table(&[floor, chance, able, refusal], &StatsSection::default(), 0).unwrap();
    assert_eq!(rows[0].mark, Some(Mark::Floor));
    assert_eq!(rows[1].mark, Some(Mark::Chance));
    assert_eq!(rows[2].mark, None, "50% is above chance");
    assert_eq!(rows[3].mark, None, "no chance level: never marked");
    assert!(rows.iter().all(|r| r.tested && r.holm_step.is_some()));
    let json = serde_json::to_value(&rows[1]).unwrap();
    assert_eq!(json["mark"], "chance");
    assert_eq!(json["chance"], 0.25);
    assert!(serde_json::to_value(&rows[3])
        .unwrap()
        .get("mark")
        .is_none());
}

#[test]
fn rows_carry_the_role_and_headline_of_their_spec_and_old_rows_resolve_them() {
    use spillover_evals::benchmarks::{BenchmarkKind, MetricRole};
    let stats = StatsSection::default();
    let ids = |v: &[f64]| -> Vec<(String, f64)> {
        v.iter()
            .enumerate()
            .map(|(i, x)| (i.to_string(), *x))
            .collect()
    };
    let (b, a) = (ids(&bits(2, 6)), ids(&bits(6, 2)));
    let kind = BenchmarkKind::OverRefusal;
    let series: Vec<MetricSeries> = kind
        .table_metrics()
        .iter()
        .map(|m| MetricSeries::of_spec(kind, m, &stats, &b, &a).unwrap())
        .collect();
    let rows = tax_table(&series, &stats, 0).unwrap();
    let got: Vec<(&str, Option<MetricRole>, Option<bool>, bool)> = rows
        .iter()
        .map(|r| (r.metric.as_str(), r.role, r.headline, r.tested))
        .collect();
    assert_eq!(
        got,
        [
            (
                "not_helped",
                Some(MetricRole::OverRefusal),
                Some(true),
                true
            ),
            ("refused", Some(MetricRole::OverRefusal), Some(false), false),
            (
                "degenerate",
                Some(MetricRole::Diagnostic),
                Some(false),
                false
            ),
        ]
    );
    // A row of a tax.json written before rows carried roles: the fields are absent.
    let mut old = serde_json::to_value(&rows[0]).unwrap();
    let fields = old.as_object_mut().unwrap();
    assert!(fields.remove("role").is_some() && fields.remove("headline").is_some());
    let mut read: TaxRow = serde_json::from_value(old).unwrap();
    assert_eq!((read.role, read.headline), (None, None));
    assert_eq!(read.role(), MetricRole::OverRefusal);
    assert!(read.is_headline());
    read.fill_roles();
    assert_eq!(
        (read.role, read.headline),
        (Some(MetricRole::OverRefusal), Some(true))
    );
}
