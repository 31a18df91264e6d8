//! Misclassification-corrected refusal rates on simulated runs with known error rates: a true
//! refusal rate per condition, a judge that misses refusals and invents a few at set rates, a
//! person who labels the audit sample correctly. The corrected rate must recover the true rate,
//! and its interval must cover it at about the nominal rate over many simulated runs, where the
//! judge's own rate does not.

use std::collections::BTreeMap;

use spillover_evals::judge::audit::{self, AuditOptions, JudgedReply, Side};
use spillover_evals::judge::calibrate::{self, CalibrateOptions, Labels};
use spillover_evals::judge::Label;
use spillover_evals::stats::{uniform, Rng};

/// True refusal rates before and after, the judge's sensitivity and specificity.
const TRUE_BEFORE: f64 = 0.10;
const TRUE_AFTER: f64 = 0.70;
const SENSITIVITY: f64 = 0.60;
const SPECIFICITY: f64 = 0.95;
const ITEMS: usize = 150;

/// One simulated run: per item a true label on each side and the judge's label.
fn simulate(rng: &mut Rng) -> (Vec<JudgedReply>, BTreeMap<String, Label>) {
    let mut replies = Vec::new();
    let mut truth = BTreeMap::new();
    for i in 0..ITEMS {
        for (side, rate) in [(Side::Before, TRUE_BEFORE), (Side::After, TRUE_AFTER)] {
            let refused = uniform(rng) < rate;
            let true_label = if refused {
                Label::Refusal
            } else if uniform(rng) < 0.85 {
                Label::Compliance
            } else {
                Label::Degenerate
            };
            let judge_label = match (refused, uniform(rng)) {
                // A missed refusal is called compliance or degenerate, half and half.
                (true, u) if u >= SENSITIVITY => {
                    if u < SENSITIVITY + (1.0 - SENSITIVITY) / 2.0 {
                        Label::Compliance
                    } else {
                        Label::Degenerate
                    }
                }
                (true, _) => Label::Refusal,
                (false, u) if u >= SPECIFICITY => Label::Refusal,
                (false, _) => true_label,
            };
            let r = JudgedReply {
                benchmark: "refusal".into(),
                side,
                item: format!("item-{i:03}"),
                prompt: String::new(),
                reply: String::new(),
                label: judge_label,
            };
            truth.insert(r.id(), true_label);
            replies.push(r);
        }
    }
    (replies, truth)
}

/// Audits a simulated run with `n` replies, labels the sample with the truth, calibrates.
fn calibrated(seed: u64, n: usize, resamples: usize) -> calibrate::Calibration {
    let mut rng = Rng::new(seed);
    let (replies, truth) = simulate(&mut rng);
    let opts = AuditOptions {
        n,
        min_per_stratum: 5,
        seed,
    };
    let a = audit::draw(&replies, "simulated", opts).unwrap();
    let labels = Labels {
        path: "simulated".into(),
        sha256: String::new(),
        rows: a.rows.len(),
        labels: a.rows.iter().map(|r| (r.id(), truth[&r.id()])).collect(),
    };
    let copts = CalibrateOptions {
        resamples,
        confidence: 0.95,
        seed: seed ^ 0xC0FFEE,
    };
    calibrate::calibrate(&replies, &a.key, &labels, copts).unwrap()
}

#[test]
fn the_corrected_rate_recovers_the_true_rate_where_the_judge_does_not() {
    let c = calibrated(1, 200, 10_000);
    let after = c
        .conditions
        .iter()
        .find(|x| x.condition == "refusal/after")
        .unwrap();
    let corrected = after.corrected_rate.unwrap();
    // The judge sees about 0.7 · 0.6 + 0.3 · 0.05 = 43.5% refusals.
    assert!(
        !after.judge_rate.contains(TRUE_AFTER),
        "the judge's own rate should miss: {:?}",
        after.judge_rate
    );
    assert!(corrected.contains(TRUE_AFTER), "{corrected:?}");
    assert!(
        (corrected.estimate - TRUE_AFTER).abs() < 0.1,
        "{corrected:?}"
    );
    let se = after.sensitivity.unwrap();
    let sp = after.specificity.unwrap();
    assert!(
        se.contains(SENSITIVITY) && sp.contains(SPECIFICITY),
        "{se:?} {sp:?}"
    );
    let change = c.changes[0].corrected_change.unwrap();
    assert!(change.contains(TRUE_AFTER - TRUE_BEFORE), "{change:?}");
}

#[test]
fn the_intervals_cover_the_true_rates_at_about_the_nominal_rate() {
    let sims = 300;
    let (mut before, mut after, mut change, mut judge) = (0, 0, 0, 0);
    let mut sum_after = 0.0;
    for s in 0..sims {
        let c = calibrated(100 + s, 100, 1000);
        let get = |name: &str| c.conditions.iter().find(|x| x.condition == name).unwrap();
        let (b, a) = (get("refusal/before"), get("refusal/after"));
        let ca = a.corrected_rate.unwrap();
        sum_after += ca.estimate;
        before += usize::from(b.corrected_rate.unwrap().contains(TRUE_BEFORE));
        after += usize::from(ca.contains(TRUE_AFTER));
        change += usize::from(
            c.changes[0]
                .corrected_change
                .unwrap()
                .contains(TRUE_AFTER - TRUE_BEFORE),
        );
        judge += usize::from(a.judge_rate.contains(TRUE_AFTER));
    }
    let rate = |k: usize| k as f64 / sims as f64;
    println!(
        "coverage over {sims} runs: before {:.3}, after {:.3}, change {:.3}; the judge's own rate {:.3}; mean corrected rate after {:.3}",
        rate(before),
        rate(after),
        rate(change),
        rate(judge),
        sum_after / sims as f64
    );
    // Nominal 95%; with 300 runs the binomial sd of the coverage is about 1.3 points.
    for (what, k) in [("before", before), ("after", after), ("change", change)] {
        assert!(
            (0.90..=0.99).contains(&rate(k)),
            "{what}: coverage {:.3}",
            rate(k)
        );
    }
    assert!(
        rate(judge) < 0.05,
        "the uncorrected rate covers the truth {:.3} of the time",
        rate(judge)
    );
    let bias = sum_after / sims as f64 - TRUE_AFTER;
    assert!(bias.abs() < 0.02, "mean corrected rate off by {bias:.3}");
}
