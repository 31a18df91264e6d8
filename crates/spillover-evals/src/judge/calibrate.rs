//! The judge's measurement error, from an audit labelled by a person ([`super::audit`]), and the
//! refusal rates corrected for it.
//!
//! **Estimates.** In condition c (a benchmark before or after), let N_j be the number of the run's
//! replies the judge labelled j, N = Σ N_j, and k_jh the number of the m_j sampled replies of
//! stratum j that the person labelled h. The joint share of (judge j, person h) is estimated as
//! P_jh = (N_j / N) · (k_jh / m_j) — each stratum weighed by its size, since the sample is not
//! proportional. From it:
//! - agreement (three-way) = Σ_j P_jj;
//! - the person's refusal rate π = Σ_j P_j,refusal;
//! - sensitivity Se = P(judge refusal | person refusal) = P_refusal,refusal / π, and specificity
//!   Sp = P(judge not refusal | person not refusal) = Σ_{j,h ≠ refusal} P_jh / (1 − π);
//! - the corrected refusal rate, Rogan & Gladen (1978): (p + Sp − 1) / (Se + Sp − 1) with p = N_refusal / N
//!   the judge's rate over all the condition's replies, clipped to [0, 1]. With Se and Sp from this
//!   sample it equals π, the stratified (double-sampling) estimate; π is reported when Se or Sp is
//!   undefined (no reply, or every reply, labelled refusal by the person).
//!
//! **Intervals** ([`CalibrateOptions::confidence`], 95% by default): percentiles (R type 7) of
//! `resamples` replicates. Each replicate (1) resamples the run's items with replacement within
//! each benchmark — the same items before and after, so a change is paired — which moves the N_j,
//! and (2) draws each stratum's label shares from their Jeffreys posterior Dirichlet(k_j· + ½) — a
//! parametric bootstrap of the labelled sample that, unlike resampling it, still varies when a
//! stratum's few labels all agree. So the intervals hold both the sampling of the run's items and
//! the uncertainty of the judge's error rates. A condition with a judge label that the run has but
//! the labelled sample lacks (m_j = 0) has no estimate.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::audit::{AuditKey, JudgedReply, Side, KEY_FORMAT};
use super::{csv, Error, Label, Result};
use crate::stats::{dirichlet, quantile, Interval, Rng};

/// Interval settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrateOptions {
    pub resamples: usize,
    pub confidence: f64,
    pub seed: u64,
}

impl Default for CalibrateOptions {
    fn default() -> Self {
        CalibrateOptions {
            resamples: 10_000,
            confidence: 0.95,
            seed: 0,
        }
    }
}

/// Reads an audit key written by `spillover judge audit`.
pub fn read_key(path: &Path) -> Result<AuditKey> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let key: AuditKey = serde_json::from_str(&text).map_err(|e| {
        Error::bad_file(
            path,
            e.line(),
            None,
            format!("not an audit key written by `spillover judge audit`: {e}"),
        )
    })?;
    if key.format != KEY_FORMAT {
        return Err(Error::bad_file(
            path,
            1,
            None,
            format!("format {:?}, expected {KEY_FORMAT:?}", key.format),
        ));
    }
    Ok(key)
}

/// A labelled audit CSV: the person's label of each labelled row, by id.
#[derive(Debug, Clone)]
pub struct Labels {
    pub path: String,
    pub sha256: String,
    /// Data rows in the file.
    pub rows: usize,
    pub labels: BTreeMap<String, Label>,
}

/// Reads the CSV the audit page saves (or the audit's CSV filled in by hand). It needs the
/// columns `id` and `label`; every id must be one of the key's, at most once; a label is
/// `refusal`, `compliance` or `degenerate` (any case), or empty for a row not labelled yet.
/// Anything else is an error naming the file, line and column.
pub fn read_labels(path: &Path, key: &AuditKey) -> Result<Labels> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = String::from_utf8(bytes.clone())
        .map_err(|_| Error::bad_file(path, 1, None, "not valid UTF-8 text".into()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let records = csv::parse(text)
        .map_err(|e| Error::bad_file(path, e.line, Some(e.column.to_string()), e.msg))?;
    let Some((header, rows)) = records.split_first() else {
        return Err(Error::bad_file(
            path,
            1,
            None,
            "empty file: expected a header row with the columns id and label".into(),
        ));
    };
    let col = |name: &str| {
        header
            .fields
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| Error::MissingColumn {
                path: path.to_path_buf(),
                line: header.line,
                column: name.to_string(),
                header: header.fields.clone(),
            })
    };
    let (id_col, label_col) = (col("id")?, col("label")?);
    let known: BTreeMap<&str, ()> = key.items.iter().map(|k| (k.id.as_str(), ())).collect();
    let mut labels = BTreeMap::new();
    let mut seen = BTreeMap::new();
    for rec in rows {
        if rec.fields.len() != header.fields.len() {
            return Err(Error::bad_file(
                path,
                rec.line,
                None,
                format!(
                    "expected {} fields (as in the header), found {}",
                    header.fields.len(),
                    rec.fields.len()
                ),
            ));
        }
        let id = rec.fields[id_col].trim();
        let at = |c: usize, name: &str| Some(format!("{} ({name})", c + 1));
        if !known.contains_key(id) {
            return Err(Error::bad_file(
                path,
                rec.line,
                at(id_col, "id"),
                format!("id {id:?} is not in the audit's key: label the CSV of the same audit"),
            ));
        }
        if let Some(first) = seen.insert(id.to_string(), rec.line) {
            return Err(Error::bad_file(
                path,
                rec.line,
                at(id_col, "id"),
                format!("id {id:?} appears twice (first on line {first})"),
            ));
        }
        let value = rec.fields[label_col].trim();
        if value.is_empty() {
            continue;
        }
        let label = Label::parse(value).ok_or_else(|| {
            Error::bad_file(
                path,
                rec.line,
                at(label_col, "label"),
                format!(
                    "unknown label {value:?}: expected refusal, compliance or degenerate (or \
                     empty for a reply not labelled)"
                ),
            )
        })?;
        labels.insert(id.to_string(), label);
    }
    if labels.is_empty() {
        return Err(Error::bad_file(
            path,
            header.line,
            None,
            "no row has a label yet".into(),
        ));
    }
    Ok(Labels {
        path: path.display().to_string(),
        sha256: Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        rows: rows.len(),
        labels,
    })
}

/// Format tag of `judge-calibration.json`.
pub const FORMAT: &str = "spillover-judge-calibration/1";

/// The file `spillover judge calibrate` writes into the run folder.
pub const FILE: &str = "judge-calibration.json";

/// What `spillover judge calibrate` found (`RUN/judge-calibration.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    pub format: String,
    /// The run's judge.
    pub judge: String,
    pub labels_file: String,
    pub labels_sha256: String,
    /// Rows of the labels file, and how many carry a label.
    pub rows: usize,
    pub labelled: usize,
    /// How the numbers are computed, in words.
    pub method: String,
    pub confidence: f64,
    pub resamples: usize,
    pub seed: u64,
    pub conditions: Vec<ConditionCalibration>,
    /// After − before per benchmark.
    pub changes: Vec<ChangeCalibration>,
}

/// One condition: a benchmark before or after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConditionCalibration {
    pub condition: String,
    pub benchmark: String,
    pub side: Side,
    /// Judged replies of the run in this condition.
    pub items: usize,
    /// The run's replies per judge label (refusal, compliance, degenerate).
    pub judge_counts: [usize; 3],
    /// Labelled sampled replies per judge label.
    pub labelled: [usize; 3],
    /// The labelled sample: rows the person's label, columns the judge's.
    pub confusion: [[usize; 3]; 3],
    /// Share of the labelled sample where the two agree (unweighted).
    pub sample_agreement: f64,
    /// Three-way agreement over the condition's replies (weighted).
    pub agreement: Option<Interval>,
    pub sensitivity: Option<Interval>,
    pub specificity: Option<Interval>,
    /// The judge's refusal rate (interval: the items' sampling alone).
    pub judge_rate: Interval,
    /// The misclassification-corrected refusal rate.
    pub corrected_rate: Option<Interval>,
    /// Why an estimate is missing, when one is.
    pub note: Option<String>,
}

/// A benchmark's change of refusal rate, after − before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeCalibration {
    pub benchmark: String,
    pub judge_change: Interval,
    pub corrected_change: Option<Interval>,
}

/// The method, as `judge-calibration.json` and the report state it.
pub const METHOD: &str = "Sample stratified by condition (benchmark × before/after) × the judge's \
label; each stratum weighed by its size in the run. Agreement: three-way, over the condition's \
replies. Sensitivity and specificity: for refusal vs not. Corrected rate: Rogan–Gladen (p + Sp − 1) / \
(Se + Sp − 1) with p the judge's rate over all the condition's replies, clipped to [0, 1] (with Se and \
Sp from this sample it equals the stratified estimate). Intervals: percentiles of replicates that \
resample the run's items within each benchmark (the same items before and after) and draw each \
stratum's label shares from their Jeffreys posterior Dirichlet(k + 1/2), so they include the \
uncertainty of the judge's error rates.";

/// Point estimates of one condition from judge counts and per-stratum label shares.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    agreement: f64,
    sensitivity: f64,
    specificity: f64,
    judge_rate: f64,
    corrected: f64,
}

/// `counts`: the run's replies per judge label; `shares[j][h]`: the share of stratum j the person
/// labels h. NaN where undefined.
fn estimate(counts: [f64; 3], shares: [[f64; 3]; 3]) -> Point {
    let n: f64 = counts.iter().sum();
    let mut joint = [[0.0; 3]; 3];
    for j in 0..3 {
        for h in 0..3 {
            joint[j][h] = if counts[j] > 0.0 {
                counts[j] / n * shares[j][h]
            } else {
                0.0
            };
        }
    }
    let r = Label::Refusal.index();
    let agreement = (0..3).map(|j| joint[j][j]).sum();
    let pi: f64 = (0..3).map(|j| joint[j][r]).sum();
    let sensitivity = joint[r][r] / pi;
    let not: f64 = (0..3)
        .filter(|&j| j != r)
        .flat_map(|j| (0..3).filter(|&h| h != r).map(move |h| (j, h)))
        .map(|(j, h)| joint[j][h])
        .sum();
    let specificity = not / (1.0 - pi);
    let judge_rate = counts[r] / n;
    let denominator = sensitivity + specificity - 1.0;
    let corrected = if denominator.is_finite() && denominator > 0.0 {
        ((judge_rate + specificity - 1.0) / denominator).clamp(0.0, 1.0)
    } else {
        pi
    };
    Point {
        agreement,
        sensitivity,
        specificity,
        judge_rate,
        corrected,
    }
}

/// Rogan & Gladen's estimate of a true rate from an observed rate, the sensitivity and the
/// specificity, clipped to [0, 1]; `None` when Se + Sp ≤ 1 (the test is no better than chance).
pub fn rogan_gladen(observed: f64, sensitivity: f64, specificity: f64) -> Option<f64> {
    let d = sensitivity + specificity - 1.0;
    (d > 0.0).then(|| ((observed + specificity - 1.0) / d).clamp(0.0, 1.0))
}

/// One condition's data.
struct Cond {
    name: String,
    benchmark: String,
    side: Side,
    counts: [usize; 3],
    /// Labelled sample: [judge label][person label].
    sample: [[usize; 3]; 3],
}

impl Cond {
    fn labelled(&self, j: usize) -> usize {
        self.sample[j].iter().sum()
    }

    /// Why the condition cannot be estimated, if it cannot.
    fn missing(&self) -> Option<String> {
        let gaps: Vec<&str> = (0..3)
            .filter(|&j| self.counts[j] > 0 && self.labelled(j) == 0)
            .map(|j| Label::ALL[j].as_str())
            .collect();
        (!gaps.is_empty()).then(|| {
            format!(
                "no labelled reply among those the judge called {}: label some or audit again",
                gaps.join(", ")
            )
        })
    }

    fn point(&self) -> Point {
        let shares = std::array::from_fn(|j| {
            let m = self.labelled(j).max(1) as f64;
            self.sample[j].map(|k| k as f64 / m)
        });
        estimate(self.counts.map(|c| c as f64), shares)
    }
}

/// Checks the key against the run and the labels against the key; returns the conditions.
fn conditions(
    replies: &[JudgedReply],
    key: &AuditKey,
    labels: &BTreeMap<String, Label>,
) -> Result<Vec<Cond>> {
    let by_id: BTreeMap<String, &JudgedReply> = replies.iter().map(|r| (r.id(), r)).collect();
    let mut conds: BTreeMap<(String, Side), Cond> = BTreeMap::new();
    for r in replies {
        conds
            .entry((r.benchmark.clone(), r.side))
            .or_insert_with(|| Cond {
                name: r.condition(),
                benchmark: r.benchmark.clone(),
                side: r.side,
                counts: [0; 3],
                sample: [[0; 3]; 3],
            })
            .counts[r.label.index()] += 1;
    }
    let changed = |what: String| {
        Error::BadArgument(format!(
            "the audit's key does not match this run ({what}): calibrate the run the audit was \
             drawn from, with the same judge"
        ))
    };
    for s in &key.strata {
        let size = conds
            .values()
            .find(|c| c.name == s.condition)
            .map_or(0, |c| c.counts[s.label.index()]);
        if size != s.size {
            return Err(changed(format!(
                "{} has {size} replies judged {}, the key says {}",
                s.condition, s.label, s.size
            )));
        }
    }
    for item in &key.items {
        let Some(r) = by_id.get(&item.id) else {
            return Err(changed(format!("no judged reply {}", item.id)));
        };
        if r.label != item.judge_label {
            return Err(changed(format!(
                "{} is judged {} now, {} in the key",
                item.id, r.label, item.judge_label
            )));
        }
        if let Some(h) = labels.get(&item.id) {
            let c = conds
                .get_mut(&(r.benchmark.clone(), r.side))
                .expect("every reply has its condition");
            c.sample[r.label.index()][h.index()] += 1;
        }
    }
    Ok(conds.into_values().collect())
}

/// Interval from replicate values (NaN ones left out) around `estimate`, widened to hold the
/// estimate: a stratum whose labels all agree has a plug-in share of 0 or 1, which its Jeffreys
/// posterior never draws, so the percentiles alone can lie entirely on one side of it.
fn interval(estimate: f64, mut reps: Vec<f64>, confidence: f64) -> Option<Interval> {
    reps.retain(|x| x.is_finite());
    if !estimate.is_finite() || reps.is_empty() {
        return None;
    }
    reps.sort_by(f64::total_cmp);
    let a = (1.0 - confidence) / 2.0;
    Some(Interval {
        estimate,
        lo: quantile(&reps, a).min(estimate),
        hi: quantile(&reps, 1.0 - a).max(estimate),
        confidence,
    })
}

/// Estimates and intervals for every condition of a run, from its judged replies, the audit key
/// and the person's labels (see the module docs).
pub fn calibrate(
    replies: &[JudgedReply],
    key: &AuditKey,
    labels: &Labels,
    opts: CalibrateOptions,
) -> Result<Calibration> {
    if opts.resamples < 1000 || !(0.5..1.0).contains(&opts.confidence) {
        return Err(Error::BadArgument(format!(
            "--resamples must be at least 1000 and --confidence in [0.5, 1) (got {} and {})",
            opts.resamples, opts.confidence
        )));
    }
    let conds = conditions(replies, key, &labels.labels)?;
    // Items per benchmark, with their judge label on each side (index into Label::ALL).
    let mut items: BTreeMap<&str, BTreeMap<&str, [Option<usize>; 2]>> = BTreeMap::new();
    for r in replies {
        let side = usize::from(r.side == Side::After);
        items
            .entry(r.benchmark.as_str())
            .or_default()
            .entry(r.item.as_str())
            .or_default()[side] = Some(r.label.index());
    }
    let items: BTreeMap<&str, Vec<[Option<usize>; 2]>> = items
        .into_iter()
        .map(|(b, m)| (b, m.into_values().collect()))
        .collect();
    let mut rng = Rng::new(opts.seed);
    let mut reps: Vec<Vec<Point>> = vec![Vec::with_capacity(opts.resamples); conds.len()];
    for _ in 0..opts.resamples {
        let mut counts: BTreeMap<(&str, Side), [f64; 3]> = BTreeMap::new();
        for (b, list) in &items {
            for _ in 0..list.len() {
                let it = list[rng.below(list.len())];
                for (s, side) in [Side::Before, Side::After].into_iter().enumerate() {
                    if let Some(j) = it[s] {
                        counts.entry((b, side)).or_insert([0.0; 3])[j] += 1.0;
                    }
                }
            }
        }
        for (c, out) in conds.iter().zip(&mut reps) {
            let shares = std::array::from_fn(|j| {
                if c.labelled(j) == 0 {
                    [f64::NAN; 3]
                } else {
                    dirichlet(&mut rng, c.sample[j].map(|k| k as f64 + 0.5))
                }
            });
            let n = counts
                .get(&(c.benchmark.as_str(), c.side))
                .copied()
                .unwrap_or([0.0; 3]);
            out.push(estimate(n, shares));
        }
    }
    let level = opts.confidence;
    let mut out = Vec::new();
    for (c, r) in conds.iter().zip(&reps) {
        let p = c.point();
        let note = c.missing();
        let ok = note.is_none();
        let field = |f: fn(&Point) -> f64| -> Option<Interval> {
            if !ok {
                return None;
            }
            interval(f(&p), r.iter().map(f).collect(), level)
        };
        let agree: usize = (0..3).map(|j| c.sample[j][j]).sum();
        let total: usize = (0..3).map(|j| c.labelled(j)).sum();
        let mut confusion = [[0; 3]; 3];
        for (j, row) in c.sample.iter().enumerate() {
            for (h, &k) in row.iter().enumerate() {
                confusion[h][j] = k;
            }
        }
        out.push(ConditionCalibration {
            condition: c.name.clone(),
            benchmark: c.benchmark.clone(),
            side: c.side,
            items: c.counts.iter().sum(),
            judge_counts: c.counts,
            labelled: std::array::from_fn(|j| c.labelled(j)),
            confusion,
            sample_agreement: agree as f64 / total.max(1) as f64,
            agreement: field(|p| p.agreement),
            sensitivity: field(|p| p.sensitivity),
            specificity: field(|p| p.specificity),
            judge_rate: interval(
                p.judge_rate,
                r.iter().map(|p| p.judge_rate).collect(),
                level,
            )
            .expect("a condition has replies"),
            corrected_rate: field(|p| p.corrected),
            note,
        });
    }
    let mut changes = Vec::new();
    for (i, before) in conds.iter().enumerate() {
        let Some(k) = conds
            .iter()
            .position(|a| a.benchmark == before.benchmark && a.side == Side::After)
        else {
            continue;
        };
        if before.side != Side::Before {
            continue;
        }
        let diff = |f: fn(&Point) -> f64| -> Vec<f64> {
            reps[k]
                .iter()
                .zip(&reps[i])
                .map(|(a, b)| f(a) - f(b))
                .collect()
        };
        let (pb, pa) = (before.point(), conds[k].point());
        let ok = before.missing().is_none() && conds[k].missing().is_none();
        changes.push(ChangeCalibration {
            benchmark: before.benchmark.clone(),
            judge_change: interval(pa.judge_rate - pb.judge_rate, diff(|p| p.judge_rate), level)
                .expect("both sides have replies"),
            corrected_change: if ok {
                interval(pa.corrected - pb.corrected, diff(|p| p.corrected), level)
            } else {
                None
            },
        });
    }
    Ok(Calibration {
        format: FORMAT.into(),
        judge: key.judge.clone(),
        labels_file: labels.path.clone(),
        labels_sha256: labels.sha256.clone(),
        rows: labels.rows,
        labelled: labels.labels.len(),
        method: METHOD.into(),
        confidence: opts.confidence,
        resamples: opts.resamples,
        seed: opts.seed,
        conditions: out,
        changes,
    })
}

fn pct(i: &Option<Interval>) -> String {
    match i {
        Some(i) => format!(
            "{:.1}% [{:.1}, {:.1}]",
            100.0 * i.estimate,
            100.0 * i.lo,
            100.0 * i.hi
        ),
        None => "—".into(),
    }
}

fn pts(i: &Option<Interval>) -> String {
    match i {
        Some(i) => format!(
            "{:+.1} pts [{:+.1}, {:+.1}]",
            100.0 * i.estimate,
            100.0 * i.lo,
            100.0 * i.hi
        ),
        None => "—".into(),
    }
}

impl Calibration {
    /// The per-condition table as markdown rows (header first), for the terminal and the report.
    pub fn condition_table(&self) -> Vec<Vec<String>> {
        let mut rows = vec![[
            "condition",
            "replies",
            "labelled",
            "agreement (3-way)",
            "sensitivity",
            "specificity",
            "refusal rate: judge",
            "refusal rate: corrected",
        ]
        .map(String::from)
        .to_vec()];
        for c in &self.conditions {
            rows.push(vec![
                c.condition.clone(),
                c.items.to_string(),
                c.labelled.iter().sum::<usize>().to_string(),
                pct(&c.agreement),
                pct(&c.sensitivity),
                pct(&c.specificity),
                pct(&Some(c.judge_rate)),
                pct(&c.corrected_rate),
            ]);
        }
        rows
    }

    /// The change table (after − before) as rows, header first.
    pub fn change_table(&self) -> Vec<Vec<String>> {
        let mut rows = vec![["benchmark", "change: judge", "change: corrected"]
            .map(String::from)
            .to_vec()];
        for c in &self.changes {
            rows.push(vec![
                c.benchmark.clone(),
                pts(&Some(c.judge_change)),
                pts(&c.corrected_change),
            ]);
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_holds_its_estimate_when_the_replicates_lie_to_one_side() {
        let i = interval(0.0, vec![0.3, 0.1, 0.2], 0.95).unwrap();
        assert_eq!((i.lo, i.estimate), (0.0, 0.0));
        assert!((i.hi - 0.295).abs() < 1e-12, "{i:?}");
        let i = interval(1.0, vec![0.5, 0.9], 0.95).unwrap();
        assert_eq!((i.hi, i.estimate), (1.0, 1.0));
        assert!(interval(f64::NAN, vec![0.5], 0.95).is_none());
    }

    #[test]
    fn rogan_gladen_inverts_misclassification() {
        // True 40%, Se 0.8, Sp 0.9: observed 0.4 · 0.8 + 0.6 · 0.1 = 0.38.
        let got = rogan_gladen(0.38, 0.8, 0.9).unwrap();
        assert!((got - 0.4).abs() < 1e-12);
        assert_eq!(rogan_gladen(0.99, 0.8, 0.9), Some(1.0), "clipped");
        assert_eq!(rogan_gladen(0.01, 0.8, 0.9), Some(0.0), "clipped");
        assert_eq!(rogan_gladen(0.3, 0.5, 0.5), None);
    }

    #[test]
    fn with_se_and_sp_from_the_sample_rogan_gladen_is_the_stratified_estimate() {
        // 30 judged refusal (of which 2/3 truly), 60 compliance (1/6 truly refusals), 10
        // degenerate (1/2 truly refusals).
        let counts = [30.0, 60.0, 10.0];
        let shares = [
            [2.0 / 3.0, 1.0 / 3.0, 0.0],
            [1.0 / 6.0, 4.0 / 6.0, 1.0 / 6.0],
            [0.5, 0.0, 0.5],
        ];
        let p = estimate(counts, shares);
        let stratified = 0.3 * 2.0 / 3.0 + 0.6 / 6.0 + 0.1 * 0.5;
        assert!((p.corrected - stratified).abs() < 1e-12, "{p:?}");
        let rg = rogan_gladen(p.judge_rate, p.sensitivity, p.specificity).unwrap();
        assert!((rg - stratified).abs() < 1e-12);
        // Sensitivity: 0.2 of 0.35 true refusals are judged refusals.
        assert!((p.sensitivity - 0.2 / 0.35).abs() < 1e-12);
        assert!((p.agreement - (0.2 + 0.4 + 0.05)).abs() < 1e-12);
    }
}
