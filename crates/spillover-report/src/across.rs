//! The table over intervention seeds (runs with several seeds): its rows, its note and its
//! findings. Each row is the mean change over the seeds that have it, with the seed × item
//! bootstrap interval at the row's Holm level, the verdict, whether every seed's own change
//! agreed with it ("stable" / "unstable across seeds") and the per-seed changes.

use crate::findings::{by_source, list, moved};
use crate::fmt;
use crate::schema::{AcrossRow, Results, Row};
use crate::sections::Table;

/// "stable" / "unstable across seeds", or "—" where the verdict makes no claim.
pub fn stability(x: &AcrossRow) -> &'static str {
    match x.stable {
        Some(true) => "stable",
        Some(false) => "unstable across seeds",
        None => "—",
    }
}

/// Per-seed changes, `seed: change`.
fn per_seed(x: &AcrossRow) -> String {
    x.per_seed
        .iter()
        .map(|s| {
            let v = if x.row.binary {
                format!("{} pts", fmt::pts(s.change))
            } else {
                fmt::signed(s.change)
            };
            format!("{}: {v}", s.seed)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The table over seeds (`None` with one seed).
pub fn table(r: &Results) -> Option<Table> {
    if r.across_seeds.is_empty() {
        return None;
    }
    let mut t = Table::new(&[
        "benchmark",
        "metric",
        "seeds",
        "n",
        "before",
        "after",
        "change [interval]",
        "level",
        "p",
        "p (Holm)",
        "MDE (80%)",
        "verdict",
        "over seeds",
        "change per seed",
    ]);
    for a in &r.across_seeds {
        let x = &a.row;
        let arrow = if x.higher_is_better { "↑" } else { "↓" };
        t.push(
            vec![
                x.benchmark.clone(),
                format!("{} {arrow}", x.metric),
                a.n_seeds.to_string(),
                x.n.to_string(),
                fmt::interval(x, &x.before),
                fmt::interval(x, &x.after),
                fmt::change(x),
                fmt::level(x.change.confidence),
                fmt::p(x.p_value),
                fmt::p(x.p_holm),
                fmt::mde(x),
                fmt::row_verdict(x),
                stability(a).to_string(),
                per_seed(a),
            ],
            &x.verdict,
        );
    }
    Some(t)
}

/// How the table over seeds was computed, in one paragraph.
pub fn note(r: &Results) -> String {
    format!(
        "{} seeds ({}); each drew its own training prompts and was compared on the items that do not duplicate them, so n is the number of distinct items over the seeds. Before, after and change are means over the seeds that have the row. The change's interval is the hull of a seed × item bootstrap interval (seeds resampled, then items, before and after kept together) and the mean of the seeds' own intervals, at the row's Holm level (family-wise α = {}); the test is a sign-flip test stratified by seed, and p is the largest of the test's and the two intervals' p-values, so an interval excludes 0 exactly when the row is a gain or a loss. Equivalent: the (1 − 2α') interval lies inside the margin (shown next to the verdict). \"stable\": every seed's own change has the verdict's sign (equivalent: lies inside the margin); \"unstable across seeds\": at least one does not. With few seeds the interval is close to the range of the seeds' changes: it describes these seeds more than seeds in general.",
        r.seeds.len(),
        r.seeds
            .iter()
            .map(|s| s.seed.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        r.alpha()
    )
}

/// Sentences about the table over seeds (none with one seed).
pub fn findings(r: &Results) -> Vec<String> {
    let rows = &r.across_seeds;
    if rows.is_empty() {
        return Vec::new();
    }
    let k = r.seeds.len();
    // Rows at the floor or at chance over seeds stay out of the headline, as in a seed's table.
    let headline = |a: &&AcrossRow| a.row.tested && !a.row.is_marked();
    let tested = rows.iter().filter(headline).count();
    let keys = |v: &str| -> Vec<String> {
        rows.iter()
            .filter(headline)
            .filter(|a| a.row.verdict == v)
            .map(|a| a.row.key())
            .collect()
    };
    let (losses, gains) = (keys("loss"), keys("gain"));
    let marked: Vec<&AcrossRow> = rows.iter().filter(|a| a.row.is_marked()).collect();
    let marked_note = if marked.is_empty() {
        String::new()
    } else {
        format!(
            " ({} more at the floor or at chance for this model)",
            marked.len()
        )
    };
    let mut out = vec![format!(
        "Over {k} seeds (each with its own draw of training prompts), of {tested} tested metrics{marked_note} {} got significantly worse and {} significantly better (the mean change over seeds, seed × item bootstrap intervals, a sign-flip test stratified by seed, Holm-corrected, α={}); {} were shown equivalent within their margins and {} are inconclusive.",
        losses.len(),
        gains.len(),
        r.alpha(),
        keys("equivalent").len(),
        keys("inconclusive").len()
    )];
    for a in rows {
        let x = &a.row;
        let target = x.is_safety_target();
        let what = if target {
            "Safety target over seeds"
        } else if x.is_marked() {
            continue;
        } else if x.is_loss() {
            "Loss over seeds"
        } else if x.is_gain() {
            "Gain over seeds"
        } else {
            continue;
        };
        let verdict = match a.stable {
            Some(true) => format!("{}, stable across seeds", fmt::verdict(&x.verdict)),
            Some(false) => format!("{}, unstable across seeds", fmt::verdict(&x.verdict)),
            None => fmt::verdict(&x.verdict),
        };
        out.push(format!(
            "{what}: {}; {verdict} (change per seed {}).",
            moved(x),
            per_seed(a)
        ));
    }
    let table: Vec<Row> = rows.iter().map(|a| a.row.clone()).collect();
    by_source(&table, r.confidence(), "Over seeds, ", &mut out);
    if !marked.is_empty() {
        let each: Vec<String> = marked
            .iter()
            .map(|a| {
                let x = &a.row;
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
            "At the floor or at chance over seeds, so the change says little about the capability: {}.",
            list(&each)
        ));
    }
    let unstable: Vec<String> = rows
        .iter()
        .filter(|a| a.stable == Some(false))
        .map(|a| a.row.key())
        .collect();
    if !unstable.is_empty() {
        out.push(format!(
            "Unstable across seeds: {} — at least one seed's own change disagrees with the verdict over seeds.",
            list(&unstable)
        ));
    }
    let blind: Vec<String> = rows
        .iter()
        .filter(|a| a.row.blind)
        .map(|a| a.row.key())
        .collect();
    if !blind.is_empty() {
        out.push(format!(
            "Blind at this n over seeds: {} — no data of this size could reach the row's Holm level.",
            list(&blind)
        ));
    }
    out
}
