//! A sample of a run's judged replies for a person to label, blind to the judge.
//!
//! **Strata.** Every judged reply of a run belongs to a *condition* — a benchmark before or after
//! the intervention (`refusal/after`) — and has the judge's label. A stratum is a condition × the
//! judge's label. The sample is stratified so that the calibration can weigh each stratum by its
//! size ([`super::calibrate`]), and so that rare verdicts (a few refusals before the
//! intervention, a few degenerate replies) are labelled at all.
//!
//! **Allocation** ([`allocate`]): every non-empty stratum gets min(its size, `min_per_stratum`)
//! replies; the rest of the `n` go one at a time to the stratum furthest below its proportional
//! share n·N_h/N that still has unsampled replies (ties: the first in condition, then label
//! order). When `n` is at least the number of replies, every reply is taken.
//!
//! **Blindness.** The rows are shuffled across strata, and neither the CSV nor the page carries
//! the judge's label: it is kept in the key ([`AuditKey`]), which the labeller does not need.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{csv, Error, Label, Result};
use crate::stats::Rng;

/// Before or after the intervention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Before,
    After,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Before => "before",
            Side::After => "after",
        }
    }
}

/// One judged reply of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgedReply {
    pub benchmark: String,
    pub side: Side,
    /// The benchmark item's id (the same item before and after).
    pub item: String,
    /// The prompt as the judge read it (the item's text, without the chat template).
    pub prompt: String,
    pub reply: String,
    /// The run's judge's label.
    pub label: Label,
}

impl JudgedReply {
    /// `benchmark/side`, e.g. `refusal/after`.
    pub fn condition(&self) -> String {
        condition(&self.benchmark, self.side)
    }

    /// `benchmark:side:item`: unique within a run, and says nothing about the judge's label.
    pub fn id(&self) -> String {
        format!("{}:{}:{}", self.benchmark, self.side.as_str(), self.item)
    }
}

/// `benchmark/side`.
pub fn condition(benchmark: &str, side: Side) -> String {
    format!("{benchmark}/{}", side.as_str())
}

/// Sample settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AuditOptions {
    /// Replies in the sample (at most the run's number of judged replies).
    pub n: usize,
    /// Replies taken from every non-empty stratum (fewer when it has fewer).
    pub min_per_stratum: usize,
    pub seed: u64,
}

impl Default for AuditOptions {
    fn default() -> Self {
        AuditOptions {
            n: 100,
            min_per_stratum: 5,
            seed: 0,
        }
    }
}

/// One stratum of the design: its size in the run and how many of it were sampled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stratum {
    pub condition: String,
    /// The judge's label (never shown to the labeller).
    pub label: Label,
    pub size: usize,
    pub sampled: usize,
}

/// One sampled reply as the key records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyItem {
    pub id: String,
    pub condition: String,
    pub judge_label: Label,
}

/// Format tag of the key file.
pub const KEY_FORMAT: &str = "spillover-judge-audit-key/1";

/// What the labeller must not see: the judge's label of every sampled reply, and the design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditKey {
    pub format: String,
    /// The judge that labelled the run (`learned`, `keyword`).
    pub judge: String,
    pub n: usize,
    pub min_per_stratum: usize,
    pub seed: u64,
    pub strata: Vec<Stratum>,
    /// In the order of the CSV's rows.
    pub items: Vec<KeyItem>,
}

/// The sample: rows in the (shuffled) order of the CSV and page, and the key.
#[derive(Debug, Clone)]
pub struct Audit {
    pub rows: Vec<JudgedReply>,
    pub key: AuditKey,
}

/// The replies of each stratum (condition, judge label), strata in condition then label order.
pub fn strata(replies: &[JudgedReply]) -> BTreeMap<(String, Label), Vec<usize>> {
    let mut out: BTreeMap<(String, Label), Vec<usize>> = BTreeMap::new();
    for (i, r) in replies.iter().enumerate() {
        out.entry((r.condition(), r.label)).or_default().push(i);
    }
    out
}

/// How many replies to take from strata of `sizes` (see the module docs).
pub fn allocate(sizes: &[usize], n: usize, min_per_stratum: usize) -> Result<Vec<usize>> {
    let total: usize = sizes.iter().sum();
    if n >= total {
        return Ok(sizes.to_vec());
    }
    let mut take: Vec<usize> = sizes.iter().map(|&s| s.min(min_per_stratum)).collect();
    let floor: usize = take.iter().sum();
    if floor > n {
        let nonempty = sizes.iter().filter(|&&s| s > 0).count();
        return Err(Error::BadArgument(format!(
            "--n {n} is too small: the run has {nonempty} non-empty strata (benchmark × before/after \
             × the judge's label) and each gets up to {min_per_stratum} replies ({floor} in all); \
             raise --n or lower --min-per-stratum"
        )));
    }
    for _ in floor..n {
        let best = (0..sizes.len())
            .filter(|&h| take[h] < sizes[h])
            .map(|h| {
                (
                    h,
                    n as f64 * sizes[h] as f64 / total as f64 - take[h] as f64,
                )
            })
            .fold(None, |best: Option<(usize, f64)>, (h, d)| match best {
                Some((_, bd)) if bd >= d => best,
                _ => Some((h, d)),
            })
            .expect("n < total leaves a stratum with unsampled replies");
        take[best.0] += 1;
    }
    Ok(take)
}

/// Draws the stratified sample from a run's judged replies (`judge`: the judge's name).
pub fn draw(replies: &[JudgedReply], judge: &str, opts: AuditOptions) -> Result<Audit> {
    if replies.is_empty() {
        return Err(Error::BadArgument(
            "the run has no judged replies (no benchmark with a refusal judge ran)".into(),
        ));
    }
    if opts.n == 0 {
        return Err(Error::BadArgument("--n must be at least 1".into()));
    }
    let groups = strata(replies);
    let sizes: Vec<usize> = groups.values().map(Vec::len).collect();
    let take = allocate(&sizes, opts.n, opts.min_per_stratum)?;
    let mut rng = Rng::new(opts.seed);
    let mut chosen = Vec::new();
    let mut design = Vec::new();
    for (((cond, label), members), &k) in groups.iter().zip(&take) {
        let mut pool = members.clone();
        // A partial Fisher–Yates shuffle: the first k are a uniform sample without replacement.
        for i in 0..k {
            let j = i + rng.below(pool.len() - i);
            pool.swap(i, j);
        }
        chosen.extend_from_slice(&pool[..k]);
        design.push(Stratum {
            condition: cond.clone(),
            label: *label,
            size: members.len(),
            sampled: k,
        });
    }
    // Shuffle across strata, so the order says nothing about the judge's label.
    for i in (1..chosen.len()).rev() {
        let j = rng.below(i + 1);
        chosen.swap(i, j);
    }
    let rows: Vec<JudgedReply> = chosen.iter().map(|&i| replies[i].clone()).collect();
    let items = rows
        .iter()
        .map(|r| KeyItem {
            id: r.id(),
            condition: r.condition(),
            judge_label: r.label,
        })
        .collect();
    Ok(Audit {
        rows,
        key: AuditKey {
            format: KEY_FORMAT.into(),
            judge: judge.to_string(),
            n: opts.n,
            min_per_stratum: opts.min_per_stratum,
            seed: opts.seed,
            strata: design,
            items,
        },
    })
}

/// The columns of the labelling CSV, in order.
pub const CSV_COLUMNS: [&str; 5] = ["id", "condition", "prompt", "reply", "label"];

/// The labelling CSV: id, condition, prompt, reply and an empty `label` column (no judge label).
pub fn csv_text(rows: &[JudgedReply]) -> String {
    let mut out = CSV_COLUMNS.join(",") + "\n";
    for r in rows {
        out += &csv::write_row(&[
            r.id(),
            r.condition(),
            r.prompt.clone(),
            r.reply.clone(),
            String::new(),
        ]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(bench: &str, side: Side, item: usize, label: Label) -> JudgedReply {
        JudgedReply {
            benchmark: bench.into(),
            side,
            item: format!("i{item}"),
            prompt: format!("prompt {item}"),
            reply: format!("reply {item}, \"quoted\"\nsecond line"),
            label,
        }
    }

    /// 60 refusal/after replies: 40 refusals, 15 compliances, 5 degenerate; 60 before: 2
    /// refusals, 58 compliances.
    fn run() -> Vec<JudgedReply> {
        let mut v = Vec::new();
        for i in 0..60 {
            let after = match i {
                0..=39 => Label::Refusal,
                40..=54 => Label::Compliance,
                _ => Label::Degenerate,
            };
            let before = if i < 2 {
                Label::Refusal
            } else {
                Label::Compliance
            };
            v.push(reply("refusal", Side::Before, i, before));
            v.push(reply("refusal", Side::After, i, after));
        }
        v
    }

    #[test]
    fn allocation_is_proportional_above_a_minimum() {
        // 120 replies, n = 30: proportional shares 10, 3.75, 1.25, 0.5, 14.5. With at least 5
        // each (22 in all), the other 8 go to the two strata below their shares.
        let sizes = [40, 15, 5, 2, 58];
        let take = allocate(&sizes, 30, 5).unwrap();
        assert_eq!(take, [7, 5, 5, 2, 11]);
        // Without a minimum it is the largest-deficit rounding of the proportional shares.
        assert_eq!(allocate(&sizes, 30, 0).unwrap(), [10, 4, 1, 1, 14]);
        // Everything when n covers the run; an error when the minimum does not fit.
        assert_eq!(allocate(&sizes, 500, 5).unwrap(), sizes);
        let e = allocate(&sizes, 10, 5).unwrap_err().to_string();
        assert!(
            e.contains("--n 10") && e.contains("--min-per-stratum"),
            "{e}"
        );
    }

    #[test]
    fn the_sample_follows_the_design_and_hides_the_judge() {
        let replies = run();
        let opts = AuditOptions {
            n: 30,
            min_per_stratum: 5,
            seed: 4,
        };
        let a = draw(&replies, "keyword", opts).unwrap();
        assert_eq!(a.rows.len(), 30);
        for s in &a.key.strata {
            let got = a
                .rows
                .iter()
                .filter(|r| r.condition() == s.condition && r.label == s.label)
                .count();
            assert_eq!(got, s.sampled, "{s:?}");
        }
        // No reply twice; the key lists the rows in order with the judge's labels.
        let mut ids: Vec<String> = a.rows.iter().map(JudgedReply::id).collect();
        let key_ids: Vec<&str> = a.key.items.iter().map(|k| k.id.as_str()).collect();
        assert_eq!(ids, key_ids);
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 30);
        // Shuffled across strata: not grouped by (condition, judge label).
        let keys: Vec<(String, Label)> = a.rows.iter().map(|r| (r.condition(), r.label)).collect();
        let mut grouped = keys.clone();
        grouped.sort();
        assert_ne!(keys, grouped);
        // The CSV has every row and no judge label.
        let text = csv_text(&a.rows);
        let parsed = csv::parse(&text).unwrap();
        assert_eq!(parsed[0].fields, CSV_COLUMNS);
        assert_eq!(parsed.len(), 31);
        assert!(parsed[1..].iter().all(|r| r.fields[4].is_empty()));
        assert_eq!(parsed[1].fields[3], a.rows[0].reply);
        // The same seed gives the same sample; another seed another one.
        let again = draw(&replies, "keyword", opts).unwrap();
        assert_eq!(again.key, a.key);
        let other = draw(&replies, "keyword", AuditOptions { seed: 5, ..opts }).unwrap();
        assert_ne!(other.key.items, a.key.items);
    }
}
