//! Findings: sentences computed from the table (and the MRI summary), stating only what the numbers
//! show — which metrics moved beyond noise after Holm's correction, by how much, with what
//! interval; which moved only nominally; which did not move detectably; and which components the
//! MRI implicates.

use crate::fmt;
use crate::schema::{Results, Row};
use serde_json::Value;
use spillover_evals::benchmarks::MetricRole;

pub(crate) fn moved(r: &Row) -> String {
    let word = if r.change.estimate > 0.0 {
        "rose from"
    } else if r.change.estimate < 0.0 {
        "fell from"
    } else {
        "went from"
    };
    let mut s = format!(
        "{} {word} {} to {} (change {}, n={}, Holm-corrected p={})",
        r.key(),
        fmt::value(r, r.before.estimate),
        fmt::value(r, r.after.estimate),
        fmt::change(r),
        r.n,
        fmt::p(r.p_holm)
    );
    if let Some((down, up)) = r.discordant {
        s.push_str(&format!(
            "; {down} item(s) went from 1 to 0 and {up} from 0 to 1"
        ));
    }
    s
}

pub(crate) fn list(keys: &[String]) -> String {
    match keys.len() {
        0 => String::new(),
        1 => keys[0].clone(),
        _ => format!(
            "{} and {}",
            keys[..keys.len() - 1].join(", "),
            keys[keys.len() - 1]
        ),
    }
}

/// Warnings first: the run did not do all that was asked (a benign mix that kept fewer examples
/// than asked, training examples with nothing to learn).
fn warnings(r: &Results) -> Vec<String> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(|w| format!("Warning: {w}."))
            .collect()
    };
    let mut out = strings(&r.data["refusal_set"]["warnings"]);
    for split in r.data["splits"].as_array().into_iter().flatten() {
        for w in strings(&split["refusal_set"]["warnings"]) {
            if !out.contains(&w) {
                out.push(w);
            }
        }
    }
    for s in &r.seeds {
        for w in strings(&s.intervention_detail["warnings"]) {
            if !out.contains(&w) {
                out.push(w);
            }
        }
    }
    out
}

/// Notes on how the run was made that a reader needs (an external intervention: no training
/// seed, the MRI's prompts from the experiment's own split), each once.
fn notes(r: &Results) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in &r.seeds {
        for n in s.intervention_detail["notes"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if let Some(n) = n.as_str().map(|n| format!("Note: {n}")) {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
    }
    out
}

/// The findings of a run, in reading order.
pub fn findings(r: &Results) -> Vec<String> {
    let alpha = r.alpha();
    let mut out = warnings(r);
    out.extend(notes(r));
    // With several seeds, the table over seeds first; the sentences below are the first seed's.
    out.extend(crate::across::findings(r));
    let own = if r.across_seeds.is_empty() {
        String::new()
    } else {
        format!(
            "In seed {}'s own table: ",
            r.first_seed().map_or("?".into(), |s| s.to_string())
        )
    };
    let t = &r.table;
    if t.is_empty() {
        out.push("The table has no rows: nothing was compared.".into());
        return out;
    }
    // Rows at the floor or at chance for this model are kept out of the headline sentences and
    // listed on their own (`spillover_pipeline::compare::marks` says when a row is).
    let headline = |x: &&Row| x.tested && !x.is_marked();
    let losses: Vec<&Row> = t.iter().filter(headline).filter(|x| x.is_loss()).collect();
    let gains: Vec<&Row> = t.iter().filter(headline).filter(|x| x.is_gain()).collect();
    let tested = t.iter().filter(headline).count();
    let marked: Vec<&Row> = t.iter().filter(|x| x.is_marked()).collect();
    let keys = |v: &str| -> Vec<String> {
        t.iter()
            .filter(headline)
            .filter(|x| x.verdict == v)
            .map(|x| x.key())
            .collect()
    };
    let (equivalent, inconclusive) = (keys("equivalent"), keys("inconclusive"));
    let marked_note = if marked.is_empty() {
        String::new()
    } else {
        format!(
            " ({} more at the floor or at chance for this model, listed below)",
            marked.len()
        )
    };
    out.push(format!(
        "{own}{}f {tested} tested metrics{marked_note}, {} got significantly worse and {} significantly better (paired tests, Holm-corrected across the table, α={alpha}); {} were shown equivalent within their margins and {} are inconclusive; {} more are descriptive.",
        if own.is_empty() { "O" } else { "o" },
        losses.len(),
        gains.len(),
        equivalent.len(),
        inconclusive.len(),
        t.iter().filter(|x| !x.tested).count()
    ));
    if let Some(s) = t.iter().find(|x| x.is_safety_target()) {
        let what = match s.verdict.as_str() {
            "gain" => "a significant gain",
            "loss" => "a significant loss",
            "equivalent" => "equivalent within its margin (no change)",
            _ => "inconclusive",
        };
        out.push(format!("Safety target: {}; {what}.", moved(s)));
    }
    by_source(t, r.confidence(), "", &mut out);
    for x in &losses {
        if !x.is_safety_target() {
            out.push(format!("Loss: {}.", moved(x)));
        }
    }
    for x in &gains {
        if !x.is_safety_target() {
            out.push(format!("Gain: {}.", moved(x)));
        }
    }
    let nominal: Vec<String> = t
        .iter()
        .filter(headline)
        .filter(|x| !x.is_loss() && !x.is_gain() && x.p_value <= alpha)
        .map(|x| {
            format!(
                "{} (p={}, Holm {})",
                x.key(),
                fmt::p(x.p_value),
                fmt::p(x.p_holm)
            )
        })
        .collect();
    if !nominal.is_empty() {
        out.push(format!(
            "Not confirmed: {} moved with an uncorrected p ≤ {alpha} but not after correcting for the {} comparisons.",
            list(&nominal),
            t.iter().filter(|x| x.tested).count()
        ));
    }
    if !equivalent.is_empty() {
        out.push(format!(
            "Equivalent (the change is shown to lie within the metric's margin): {}.",
            list(&equivalent)
        ));
    }
    if !inconclusive.is_empty() {
        out.push(format!(
            "Inconclusive (neither a change nor equivalence could be shown — not evidence of no change): {}.",
            list(&inconclusive)
        ));
    }
    if !marked.is_empty() {
        let each: Vec<String> = marked
            .iter()
            .map(|x| {
                format!(
                    "{} ({}: {} before, {} after; verdict {})",
                    x.key(),
                    fmt::mark(x).unwrap_or_default(),
                    fmt::interval(x, &x.before),
                    fmt::value(x, x.after.estimate),
                    fmt::verdict(&x.verdict)
                )
            })
            .collect();
        out.push(format!(
            "At the floor or at chance for this model, so the change says little about the capability: {}.",
            list(&each)
        ));
    }
    let blind: Vec<String> = t.iter().filter(|x| x.blind).map(|x| x.key()).collect();
    if !blind.is_empty() {
        out.push(format!(
            "Blind at this n: {} — even the most extreme data of this size could not reach the row's Holm level, so these rows cannot show a change.",
            list(&blind)
        ));
    }
    let still: Vec<String> = t
        .iter()
        .filter(|x| x.discordant == Some((0, 0)))
        .map(|x| x.key())
        .collect();
    if !still.is_empty() {
        out.push(format!("No item changed its outcome on {}.", list(&still)));
    }
    capability(r, &mut out);
    degenerate(t, &mut out);
    sizes(t, &mut out);
    seeds(r, &mut out);
    out
}

fn capability(r: &Results, out: &mut Vec<String>) {
    // The headline capability rows: the accuracies the sweep's capability loss averages.
    let rows: Vec<&Row> = r
        .table
        .iter()
        .filter(|x| x.is_headline_of(MetricRole::Capability) && !x.is_marked())
        .collect();
    if rows.is_empty() {
        return;
    }
    let lost: Vec<String> = rows
        .iter()
        .filter(|x| x.is_loss())
        .map(|x| x.key())
        .collect();
    let mean = rows.iter().map(|x| x.change.estimate).sum::<f64>() / rows.len() as f64;
    let mut s = format!(
        "Capability accuracies measured: {}; mean change {} points",
        list(&rows.iter().map(|x| x.key()).collect::<Vec<_>>()),
        fmt::pts(mean)
    );
    if lost.is_empty() {
        s.push_str("; none lost significantly.");
    } else {
        s.push_str(&format!("; significant losses: {}.", list(&lost)));
    }
    out.push(s);
}

/// The per-source breakdowns (`metric@source`, descriptive) of each benchmark, in one sentence
/// each, starting with `lead`.
pub(crate) fn by_source(t: &[Row], confidence: f64, lead: &str, out: &mut Vec<String>) {
    let mut benches: Vec<&str> = Vec::new();
    for x in t.iter().filter(|x| x.metric.contains('@')) {
        if !benches.contains(&x.benchmark.as_str()) {
            benches.push(&x.benchmark);
        }
    }
    for b in benches {
        let parts: Vec<String> = t
            .iter()
            .filter(|x| x.benchmark == b && x.metric.contains('@'))
            .map(|x| {
                format!(
                    "{} {} → {} ({}, n={})",
                    x.metric,
                    fmt::value(x, x.before.estimate),
                    fmt::value(x, x.after.estimate),
                    fmt::change(x),
                    x.n
                )
            })
            .collect();
        out.push(format!(
            "{lead}{b} by source (descriptive, {:.0}% intervals; the pooled row is the tested one): {}.",
            100.0 * confidence,
            parts.join("; ")
        ));
    }
}

fn degenerate(t: &[Row], out: &mut Vec<String>) {
    for x in t
        .iter()
        .filter(|x| x.metric == "degenerate" && (x.before.estimate > 0.0 || x.after.estimate > 0.0))
    {
        out.push(format!(
            "On {}, {} of outputs were degenerate (empty or repetitive) before and {} after.",
            x.benchmark,
            fmt::value(x, x.before.estimate),
            fmt::value(x, x.after.estimate)
        ));
    }
}

fn sizes(t: &[Row], out: &mut Vec<String>) {
    let lo = t.iter().map(|x| x.n).min().unwrap_or(0);
    let hi = t.iter().map(|x| x.n).max().unwrap_or(0);
    let widest = t
        .iter()
        .filter(|x| x.binary && x.change.hi.is_finite() && x.change.lo.is_finite())
        .max_by(|a, b| (a.change.hi - a.change.lo).total_cmp(&(b.change.hi - b.change.lo)));
    let mut s = if lo == hi {
        format!("Every metric was measured on {lo} items")
    } else {
        format!("Metrics were measured on {lo} to {hi} items")
    };
    if let Some(w) = widest.filter(|w| w.change.hi > w.change.lo) {
        s.push_str(&format!(
            "; the widest rate-change interval is {} points wide ({})",
            fmt::num(100.0 * (w.change.hi - w.change.lo)),
            w.key()
        ));
    }
    s.push('.');
    out.push(s);
}

fn seeds(r: &Results, out: &mut Vec<String>) {
    let k = r.seeds.len();
    if r.seed_summary.is_empty() || k < 2 {
        return;
    }
    for row in &r.seed_summary {
        let v = row.verdicts;
        let (g, l) = (v.gain, v.loss);
        if g == 0 && l == 0 {
            continue;
        }
        out.push(format!(
            "Over {k} seeds, {}/{} was a loss in {l}, a gain in {g}, equivalent in {} and inconclusive in {}; mean change {} (sd {}).",
            row.benchmark,
            row.metric,
            v.equivalent,
            v.inconclusive,
            fmt::signed(row.change.mean),
            fmt::num(row.change.sd)
        ));
    }
}

/// Sentences on which components the MRI implicates (from its summary's findings).
pub fn mri_findings(m: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let f = &m["findings"];
    let top = |key: &str| -> Vec<String> {
        f[key]
            .as_array()
            .into_iter()
            .flatten()
            .take(3)
            .filter_map(|c| {
                let v = c["value"].as_f64()?;
                Some(format!(
                    "{} ({} on probe \"{}\")",
                    c["name"].as_str()?,
                    fmt::signed(v),
                    c["probe"].as_str().unwrap_or("?")
                ))
            })
            .collect()
    };
    let heads = top("restoring_heads");
    if !heads.is_empty() {
        out.push(format!("MRI: patching the base model's activations into the intervened model, the heads that restore most of the lost answer log-probability (fraction of the gap) are {}.", list(&heads)));
    }
    let layers = top("restoring_layers");
    if !layers.is_empty() {
        out.push(format!(
            "MRI: the layer-wide sites that restore most are {}.",
            list(&layers)
        ));
    }
    let attr = top("attribution_change");
    if !attr.is_empty() {
        out.push(format!(
            "MRI: the largest changes of direct logit attribution (refusal − answer token) are {}.",
            list(&attr)
        ));
    }
    match f["story_holds"].as_bool() {
        Some(true) => out.push("MRI: every measured claim of the late-layer refusal-head story passed.".into()),
        Some(false) => out.push("MRI: at least one measured claim of the late-layer refusal-head story failed (see the checks below).".into()),
        None => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Interval;

    fn iv(e: f64, lo: f64, hi: f64) -> Interval {
        Interval {
            estimate: e,
            lo,
            hi,
            confidence: 0.95,
        }
    }

    fn row(
        bench: &str,
        metric: &str,
        before: f64,
        after: f64,
        p: f64,
        p_holm: f64,
        verdict: &str,
    ) -> Row {
        Row {
            benchmark: bench.into(),
            metric: metric.into(),
            // Rows of a results.json written before rows carried roles: resolved by name.
            role: None,
            headline: None,
            description: String::new(),
            binary: true,
            higher_is_better: true,
            n: 200,
            before: iv(before, before - 0.05, before + 0.05),
            after: iv(after, after - 0.05, after + 0.05),
            change: iv(after - before, after - before - 0.04, after - before + 0.04),
            test: "mcnemar_exact".into(),
            p_value: p,
            p_holm,
            verdict: verdict.into(),
            discordant: Some((30, 2)),
            tested: true,
            alpha_row: 0.05,
            holm_step: Some(1),
            equivalence: None,
            mde: Some(0.1),
            p_min: 1e-9,
            blind: false,
            outcomes: None,
            chance: None,
            mark: None,
        }
    }

    fn results(table: Vec<Row>) -> Results {
        let mut v: Results = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "table": [], "config": {"stats": {"alpha": 0.05, "confidence": 0.95}}
        }))
        .unwrap();
        v.table = table;
        v
    }

    #[test]
    fn a_partial_benign_mix_is_a_warning_at_the_top() {
        let mut r = results(vec![row(
            "refusal", "refused", 0.2, 0.9, 1e-9, 1e-8, "gain",
        )]);
        r.data = serde_json::json!({"refusal_set": {"warnings": ["benign mix: kept 3 of the 12"]}});
        let f = findings(&r);
        assert_eq!(f[0], "Warning: benign mix: kept 3 of the 12.", "{f:#?}");
    }

    #[test]
    fn a_significant_loss_is_named_with_its_numbers() {
        let r = results(vec![
            row("refusal", "refused", 0.2, 0.9, 1e-9, 1e-8, "gain"),
            row("arithmetic", "correct", 0.6, 0.4, 1e-4, 4e-4, "loss"),
            row("mmlu", "correct", 0.5, 0.49, 0.6, 1.0, "inconclusive"),
        ]);
        let f = findings(&r);
        let loss: Vec<&String> = f.iter().filter(|s| s.starts_with("Loss:")).collect();
        assert_eq!(loss.len(), 1, "{f:#?}");
        assert!(
            loss[0].contains("arithmetic/correct") && loss[0].contains("fell from 60.0% to 40.0%"),
            "{}",
            loss[0]
        );
        assert!(loss[0].contains("-20.0 pts"), "{}", loss[0]);
        assert!(
            f.iter()
                .any(|s| s.starts_with("Safety target:") && s.contains("a significant gain")),
            "{f:#?}"
        );
        assert!(
            f[0].contains("1 got significantly worse and 1 significantly better"),
            "{}",
            f[0]
        );
        assert!(
            f.iter()
                .any(|s| s.contains("significant losses: arithmetic/correct")),
            "{f:#?}"
        );
    }

    #[test]
    fn the_safety_target_and_capability_rows_are_chosen_by_the_recorded_role() {
        use spillover_evals::benchmarks::MetricRole;
        // A benchmark this report has never heard of, whose rows say what they measure.
        let mut target = row("jailbreaks", "resisted", 0.3, 0.8, 1e-9, 1e-8, "gain");
        target.role = Some(MetricRole::Safety);
        target.headline = Some(true);
        let mut cap = row("trivia", "exact", 0.7, 0.5, 1e-4, 4e-4, "loss");
        cap.role = Some(MetricRole::Capability);
        cap.headline = Some(true);
        // The old safety target's names with a recorded role that is not the target.
        let mut not_target = row("refusal", "refused", 0.2, 0.9, 1e-9, 1e-8, "gain");
        not_target.role = Some(MetricRole::Diagnostic);
        let f = findings(&results(vec![target, cap, not_target]));
        let safety: Vec<&String> = f
            .iter()
            .filter(|s| s.starts_with("Safety target:"))
            .collect();
        assert_eq!(safety.len(), 1, "{f:#?}");
        assert!(safety[0].contains("jailbreaks/resisted"), "{}", safety[0]);
        assert!(
            f.iter().any(|s| s.starts_with("Gain: refusal/refused")),
            "{f:#?}"
        );
        assert!(
            f.iter()
                .any(|s| s.starts_with("Capability accuracies measured: trivia/exact")),
            "{f:#?}"
        );
    }

    #[test]
    fn rows_of_an_old_results_file_resolve_their_role_by_name() {
        use spillover_evals::benchmarks::MetricRole;
        let old = row("refusal", "refused", 0.2, 0.9, 1e-9, 1e-8, "gain");
        assert_eq!(old.role, None);
        assert_eq!(old.role(), MetricRole::Safety);
        assert!(old.is_safety_target());
        let by_source = row("refusal", "refused@harmbench", 0.2, 0.9, 1e-9, 1e-8, "gain");
        assert_eq!(by_source.role(), MetricRole::Safety);
        assert!(!by_source.is_headline());
        assert!(row("gsm8k", "correct", 0.2, 0.2, 1.0, 1.0, "inconclusive")
            .is_headline_of(MetricRole::Capability));
        assert!(!row("gsm8k", "gold_logprob", 0.2, 0.2, 1.0, 1.0, "inconclusive").is_headline());
    }

    #[test]
    fn blind_and_equivalent_rows_are_named() {
        let mut blind = row("gsm8k", "correct", 0.0, 0.0, 1.0, 1.0, "inconclusive");
        blind.blind = true;
        let r = results(vec![
            blind,
            row("mmlu", "correct", 0.5, 0.5, 0.9, 1.0, "equivalent"),
        ]);
        let f = findings(&r);
        assert!(
            f.iter()
                .any(|s| s.starts_with("Blind at this n: gsm8k/correct")),
            "{f:#?}"
        );
        assert!(
            f.iter()
                .any(|s| s.starts_with("Equivalent") && s.contains("mmlu/correct")),
            "{f:#?}"
        );
        assert!(f[0].contains("1 were shown equivalent"), "{}", f[0]);
    }

    #[test]
    fn rows_without_a_detectable_change_are_not_called_losses() {
        // Both fall, one nominally significant: neither is a loss after Holm's correction.
        let r = results(vec![
            row("mmlu", "correct", 0.5, 0.45, 0.03, 0.09, "inconclusive"),
            row("arithmetic", "correct", 0.6, 0.58, 0.5, 0.5, "inconclusive"),
        ]);
        let f = findings(&r);
        assert!(
            !f.iter()
                .any(|s| s.starts_with("Loss:") || s.contains("significant losses")),
            "{f:#?}"
        );
        assert!(
            f[0].contains("0 got significantly worse and 0 significantly better"),
            "{}",
            f[0]
        );
        let nominal = f
            .iter()
            .find(|s| s.starts_with("Not confirmed:"))
            .expect("nominal sentence");
        assert!(
            nominal.contains("mmlu/correct") && !nominal.contains("arithmetic/correct"),
            "{nominal}"
        );
        assert!(
            f.iter().any(|s| s.starts_with("Inconclusive")
                && s.contains("mmlu/correct and arithmetic/correct")),
            "{f:#?}"
        );
        assert!(
            f.iter().any(|s| s.ends_with("none lost significantly.")),
            "{f:#?}"
        );
    }

    #[test]
    fn floor_and_chance_rows_are_kept_out_of_the_headline_and_listed() {
        let mut floor = row("humaneval", "passed", 0.0, 0.0, 1.0, 1.0, "inconclusive");
        floor.mark = Some("floor".into());
        let mut chance = row("mmlu", "correct", 0.26, 0.20, 1e-4, 4e-4, "loss");
        chance.mark = Some("chance".into());
        chance.chance = Some(0.25);
        let r = results(vec![
            row("refusal", "refused", 0.2, 0.9, 1e-9, 1e-8, "gain"),
            row("arithmetic", "correct", 0.5, 0.48, 0.6, 1.0, "inconclusive"),
            floor,
            chance,
        ]);
        let f = findings(&r);
        assert!(
            f[0].starts_with("Of 2 tested metrics (2 more at the floor or at chance"),
            "{}",
            f[0]
        );
        assert!(f[0].contains("0 got significantly worse"), "{}", f[0]);
        assert!(!f.iter().any(|s| s.starts_with("Loss:")), "{f:#?}");
        let inconclusive = f.iter().find(|s| s.starts_with("Inconclusive")).unwrap();
        assert!(!inconclusive.contains("humaneval"), "{inconclusive}");
        let capability = f.iter().find(|s| s.starts_with("Capability")).unwrap();
        assert!(
            capability.contains("arithmetic/correct") && !capability.contains("mmlu"),
            "{capability}"
        );
        let listed = f
            .iter()
            .find(|s| s.starts_with("At the floor or at chance"))
            .expect("the marked rows are listed");
        assert!(
            listed.contains("humaneval/passed (at floor")
                && listed.contains("mmlu/correct (at chance (25.0%)")
                && listed.contains("verdict loss"),
            "{listed}"
        );
    }

    #[test]
    fn per_source_rows_are_one_descriptive_sentence() {
        let mut a = row(
            "refusal",
            "refused@harmbench",
            0.1,
            0.6,
            f64::NAN,
            f64::NAN,
            "descriptive",
        );
        a.tested = false;
        let mut b = row(
            "refusal",
            "refused@xstest-unsafe",
            0.0,
            0.1,
            f64::NAN,
            f64::NAN,
            "descriptive",
        );
        b.tested = false;
        let r = results(vec![
            row("refusal", "refused", 0.05, 0.35, 1e-9, 1e-8, "gain"),
            a,
            b,
        ]);
        let f = findings(&r);
        let s = f
            .iter()
            .find(|s| s.starts_with("refusal by source"))
            .expect("a by-source sentence");
        assert!(
            s.contains("refused@harmbench 10.0% → 60.0%")
                && s.contains("refused@xstest-unsafe 0.0% → 10.0%"),
            "{s}"
        );
        assert!(f[0].contains("2 more are descriptive"), "{}", f[0]);
    }

    #[test]
    fn mri_sentences_name_the_components() {
        let m = serde_json::json!({"findings": {
            "restoring_heads": [{"name": "L5H3", "value": 0.42, "probe": "arithmetic"}],
            "story_holds": false
        }});
        let f = mri_findings(&m);
        assert!(
            f[0].contains("L5H3 (+0.4200 on probe \"arithmetic\")"),
            "{f:?}"
        );
        assert!(f[1].contains("failed"), "{f:?}");
    }
}
