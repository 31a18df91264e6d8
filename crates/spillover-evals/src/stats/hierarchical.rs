//! The across-seed change of one metric: several intervention seeds, each evaluated before and
//! after on its own items (mostly the same items, since every seed shares the baseline).
//!
//! The estimate is the mean over seeds of each seed's mean change (after − before).
//!
//! - [`Hierarchical`]: a two-level (seed × item) bootstrap (Davison & Hinkley 1997, §3.8; for
//!   crossed factors Owen 2007, "The pigeonhole bootstrap", Ann. Appl. Stat. 1:386–411). Each
//!   replicate draws the seeds with replacement, then the items with replacement, keeping each
//!   item's before and after values together. One draw of items is shared by every seed of the
//!   replicate: the seeds are evaluated on the same items against the same baseline, so an item's
//!   changes under different seeds are correlated, and drawing items independently per seed would
//!   understate the item-level variance. A seed simply has no values for the items it did not
//!   evaluate (its own near-duplicates of its training prompts); with disjoint item sets this is
//!   the nested bootstrap with items resampled within seeds. Percentile intervals (type-7
//!   quantiles) of the before, after and change means come from the same replicates.
//! - [`stratified_sign_flip`]: the test of "no change" with seeds as strata. The statistic is the
//!   estimate itself, a sum of one contribution per item, cᵢ = Σₛ dₛᵢ / (S·nₛ) over the seeds s
//!   that evaluated item i; under the null each item's changes are symmetric about 0, so each
//!   cᵢ's sign is flipped (one flip per item, shared by the seeds, for the same reason as the
//!   shared item draw). For binary outcomes a flip only moves the discordant pairs, so with one
//!   seed this is the exact conditional McNemar test.
//!
//! The bootstrap treats seeds as a sample (the interval is about seeds in general); the test
//! conditions on the seeds that were run. With few seeds the seed level of the bootstrap has few
//! distinct draws (10 for 3 seeds): its interval is close to the range of the seed means widened
//! by item noise, and it undercovers when the seeds differ much more than item noise explains.

use super::bootstrap::quantile;
use super::{check_confidence, Interval, Rng, SignFlip, StatsError, MIN_RESAMPLES};
use std::collections::HashMap;

/// One seed's paired values of a metric, by item id.
#[derive(Debug, Clone, Copy)]
pub struct SeedSample<'a> {
    pub ids: &'a [String],
    pub before: &'a [f64],
    pub after: &'a [f64],
}

/// The seeds' values indexed by one list of distinct items.
struct Layout {
    /// Distinct items over all seeds.
    n_items: usize,
    /// Per seed: (item index, before, after).
    seeds: Vec<Vec<(usize, f64, f64)>>,
}

impl Layout {
    fn new(samples: &[SeedSample]) -> Result<Layout, StatsError> {
        if samples.is_empty() {
            return Err(StatsError::Empty);
        }
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut seeds = Vec::with_capacity(samples.len());
        for s in samples {
            super::check_paired(s.before, s.after)?;
            if s.ids.len() != s.before.len() {
                return Err(StatsError::LengthMismatch {
                    before: s.ids.len(),
                    after: s.before.len(),
                });
            }
            let mut rows = Vec::with_capacity(s.ids.len());
            let mut seen = std::collections::HashSet::new();
            for ((id, b), a) in s.ids.iter().zip(s.before).zip(s.after) {
                if !seen.insert(id.as_str()) {
                    return Err(StatsError::DuplicateItem(id.clone()));
                }
                let next = index.len();
                let i = *index.entry(id.as_str()).or_insert(next);
                rows.push((i, *b, *a));
            }
            seeds.push(rows);
        }
        Ok(Layout {
            n_items: index.len(),
            seeds,
        })
    }

    /// Per seed: the mean before and after.
    fn means(&self) -> Vec<(f64, f64)> {
        self.seeds
            .iter()
            .map(|rows| {
                let n = rows.len() as f64;
                let b = rows.iter().map(|r| r.1).sum::<f64>() / n;
                let a = rows.iter().map(|r| r.2).sum::<f64>() / n;
                (b, a)
            })
            .collect()
    }
}

/// The two-level bootstrap of one metric's before, after and change means over seeds.
#[derive(Debug, Clone)]
pub struct Hierarchical {
    estimate: [f64; 3],
    /// Sorted replicates of the before, after and change means.
    replicates: [Vec<f64>; 3],
    seeds: usize,
    items: usize,
}

const BEFORE: usize = 0;
const AFTER: usize = 1;
const CHANGE: usize = 2;

impl Hierarchical {
    /// Draws `resamples` (at least [`MIN_RESAMPLES`]) replicates, seeded.
    pub fn new(
        samples: &[SeedSample],
        resamples: usize,
        seed: u64,
    ) -> Result<Hierarchical, StatsError> {
        if resamples < MIN_RESAMPLES {
            return Err(StatsError::TooFewResamples(resamples));
        }
        Self::with_resamples(samples, resamples, seed)
    }

    /// [`Hierarchical::new`] without the lower bound on resamples (simulations in tests).
    pub(crate) fn with_resamples(
        samples: &[SeedSample],
        resamples: usize,
        seed: u64,
    ) -> Result<Hierarchical, StatsError> {
        let layout = Layout::new(samples)?;
        let s = layout.seeds.len();
        let means = layout.means();
        let mean_of = |f: &dyn Fn(&(f64, f64)) -> f64| means.iter().map(f).sum::<f64>() / s as f64;
        let estimate = [
            mean_of(&|m| m.0),
            mean_of(&|m| m.1),
            mean_of(&|m| m.1 - m.0),
        ];
        let mut rng = Rng::new(seed);
        let mut weights = vec![0u32; layout.n_items];
        let mut seed_counts = vec![0u32; s];
        let mut replicates = [
            Vec::with_capacity(resamples),
            Vec::with_capacity(resamples),
            Vec::with_capacity(resamples),
        ];
        while replicates[CHANGE].len() < resamples {
            seed_counts.fill(0);
            for _ in 0..s {
                seed_counts[rng.below(s)] += 1;
            }
            weights.fill(0);
            for _ in 0..layout.n_items {
                weights[rng.below(layout.n_items)] += 1;
            }
            let (mut sum_b, mut sum_a, mut total) = (0.0, 0.0, 0.0);
            for (rows, &c) in layout.seeds.iter().zip(&seed_counts) {
                if c == 0 {
                    continue;
                }
                let (mut w, mut wb, mut wa) = (0.0, 0.0, 0.0);
                for &(i, b, a) in rows {
                    let k = f64::from(weights[i]);
                    w += k;
                    wb += k * b;
                    wa += k * a;
                }
                // A seed none of whose items was drawn has no mean in this replicate.
                if w > 0.0 {
                    let c = f64::from(c);
                    sum_b += c * wb / w;
                    sum_a += c * wa / w;
                    total += c;
                }
            }
            if total == 0.0 {
                continue;
            }
            let (b, a) = (sum_b / total, sum_a / total);
            replicates[BEFORE].push(b);
            replicates[AFTER].push(a);
            replicates[CHANGE].push(a - b);
        }
        for r in replicates.iter_mut() {
            r.sort_by(f64::total_cmp);
        }
        Ok(Hierarchical {
            estimate,
            replicates,
            seeds: s,
            items: layout.n_items,
        })
    }

    fn interval(&self, which: usize, confidence: f64) -> Result<Interval, StatsError> {
        check_confidence(confidence)?;
        let r = &self.replicates[which];
        let alpha = 1.0 - confidence;
        Ok(Interval {
            estimate: self.estimate[which],
            lo: quantile(r, alpha / 2.0),
            hi: quantile(r, 1.0 - alpha / 2.0),
            confidence,
        })
    }

    /// The mean over seeds of the mean change, with its percentile interval.
    pub fn change(&self, confidence: f64) -> Result<Interval, StatsError> {
        self.interval(CHANGE, confidence)
    }

    /// The mean over seeds of the mean before.
    pub fn before(&self, confidence: f64) -> Result<Interval, StatsError> {
        self.interval(BEFORE, confidence)
    }

    /// The mean over seeds of the mean after.
    pub fn after(&self, confidence: f64) -> Result<Interval, StatsError> {
        self.interval(AFTER, confidence)
    }

    /// The two-sided p-value of "no change" that the percentile interval inverts (up to the
    /// interpolation of quantiles): 2·(k + 1)/(B + 1), k the replicates on the far side of 0
    /// (at 0 included), capped at 1.
    pub fn p_value(&self) -> f64 {
        let r = &self.replicates[CHANGE];
        let le = r.partition_point(|x| *x <= 0.0);
        let ge = r.len() - r.partition_point(|x| *x < 0.0);
        let k = le.min(ge);
        (2.0 * (k + 1) as f64 / (r.len() + 1) as f64).min(1.0)
    }

    /// The standard deviation of the change replicates (the bootstrap standard error).
    pub fn se(&self) -> f64 {
        let r = &self.replicates[CHANGE];
        let n = r.len() as f64;
        let m = r.iter().sum::<f64>() / n;
        (r.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    }

    /// Seeds.
    pub fn seeds(&self) -> usize {
        self.seeds
    }

    /// Distinct items over the seeds.
    pub fn items(&self) -> usize {
        self.items
    }
}

/// The stratified sign-flip test of "no change" over seeds (see the module notes): a
/// [`SignFlip`] on the per-item contributions to the estimate, whose [`SignFlip::p_value`] and
/// [`SignFlip::p_min`] are the test's. Its estimate is the across-seed mean change divided by
/// the number of distinct items.
pub fn stratified_sign_flip(
    samples: &[SeedSample],
    resamples: usize,
    seed: u64,
) -> Result<SignFlip, StatsError> {
    let layout = Layout::new(samples)?;
    let s = layout.seeds.len() as f64;
    let mut c = vec![0.0; layout.n_items];
    for rows in &layout.seeds {
        let w = 1.0 / (s * rows.len() as f64);
        for &(i, b, a) in rows {
            c[i] += w * (a - b);
        }
    }
    SignFlip::new(&vec![0.0; c.len()], &c, resamples, seed)
}

#[cfg(test)]
mod tests;
