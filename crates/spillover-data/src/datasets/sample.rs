//! Seeded subsampling: plain and stratified by `category` (e.g. MMLU subject).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::{DatasetError, Result};
use super::item::Dataset;
use super::SplitMix64;

/// How a stratified subsample sizes its groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stratify {
    /// `n` items in total, split across categories in proportion to their sizes (largest
    /// remainder rounding, so the total is exactly `n`).
    Proportional(usize),
    /// Up to `k` items from every category (all of a category smaller than `k`).
    PerCategory(usize),
}

impl Dataset {
    /// `n` items chosen uniformly by `seed`, kept in their original order.
    pub fn sample(&self, n: usize, seed: u64) -> Result<Dataset> {
        if n > self.len() {
            return Err(too_many(self, n));
        }
        let mut rng = SplitMix64::for_purpose(seed, &format!("sample:{}", self.name));
        let keep = rng.sample_indices(self.len(), n);
        Ok(self.subset(
            &keep,
            format!("sampled {n} of {} (seed {seed})", self.len()),
        ))
    }

    /// A subsample stratified by `category` (items without one form their own group),
    /// chosen by `seed` independently within each category, kept in original order.
    pub fn stratified_sample(&self, how: Stratify, seed: u64) -> Result<Dataset> {
        let groups = self.groups();
        let quotas = match how {
            Stratify::Proportional(n) if n > self.len() => return Err(too_many(self, n)),
            Stratify::Proportional(n) => proportional_quotas(&groups, self.len(), n),
            Stratify::PerCategory(k) => groups
                .iter()
                .map(|(c, g)| (c.clone(), k.min(g.len())))
                .collect(),
        };
        let mut keep = Vec::new();
        for (category, members) in &groups {
            let purpose = format!("stratified:{}:{category}", self.name);
            let mut rng = SplitMix64::for_purpose(seed, &purpose);
            let picked = rng.sample_indices(members.len(), quotas[category]);
            keep.extend(picked.into_iter().map(|k| members[k]));
        }
        keep.sort_unstable();
        let note = format!(
            "stratified by category ({how:?}): {} of {} items in {} categories (seed {seed})",
            keep.len(),
            self.len(),
            groups.len()
        );
        Ok(self.subset(&keep, note))
    }

    /// Item indices per category, categories sorted by name.
    fn groups(&self) -> BTreeMap<String, Vec<usize>> {
        let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, item) in self.items.iter().enumerate() {
            let key = item.category.clone().unwrap_or_default();
            groups.entry(key).or_default().push(i);
        }
        groups
    }

    /// The items at `keep` (ascending indices) with `note` appended.
    fn subset(&self, keep: &[usize], note: String) -> Dataset {
        let mut out = self.clone();
        out.items = keep.iter().map(|&i| self.items[i].clone()).collect();
        out.notes.push(note);
        out
    }
}

/// Per-category quotas summing to `n`: floors of the proportional shares, then one more for
/// the largest remainders (ties broken by category name).
fn proportional_quotas(
    groups: &BTreeMap<String, Vec<usize>>,
    total: usize,
    n: usize,
) -> BTreeMap<String, usize> {
    let mut quotas: BTreeMap<String, usize> = BTreeMap::new();
    let mut remainders = Vec::new();
    for (category, members) in groups {
        let share = n * members.len();
        quotas.insert(category.clone(), share / total.max(1));
        remainders.push((share % total.max(1), category.clone()));
    }
    let assigned: usize = quotas.values().sum();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    for (_, category) in remainders.into_iter().take(n - assigned) {
        *quotas.get_mut(&category).expect("known category") += 1;
    }
    quotas
}

/// The error for asking more items than a dataset has.
fn too_many(ds: &Dataset, n: usize) -> DatasetError {
    DatasetError::Config(format!(
        "cannot take {n} items from `{}`, which has {}",
        ds.name,
        ds.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::item::{Item, Source};

    fn grouped(sizes: &[(&str, usize)]) -> Dataset {
        let mut items = Vec::new();
        for (cat, n) in sizes {
            for _ in 0..*n {
                let mut item = Item::new(format!("t-{}", items.len()), "x");
                item.category = Some(cat.to_string());
                items.push(item);
            }
        }
        Dataset::new("t", Source::Derived { from: vec![] }, items)
    }

    fn count(ds: &Dataset, cat: &str) -> usize {
        ds.items
            .iter()
            .filter(|i| i.category.as_deref() == Some(cat))
            .count()
    }

    #[test]
    fn proportional_sums_to_n_and_tracks_shares() {
        let ds = grouped(&[("a", 60), ("b", 30), ("c", 10)]);
        let s = ds.stratified_sample(Stratify::Proportional(10), 1).unwrap();
        assert_eq!((count(&s, "a"), count(&s, "b"), count(&s, "c")), (6, 3, 1));
        let s = ds.stratified_sample(Stratify::Proportional(7), 1).unwrap();
        assert_eq!(s.len(), 7);
        assert!(ds
            .stratified_sample(Stratify::Proportional(101), 1)
            .is_err());
    }

    #[test]
    fn per_category_caps_each_group_and_is_seeded() {
        let ds = grouped(&[("a", 60), ("b", 3)]);
        let s = ds.stratified_sample(Stratify::PerCategory(5), 9).unwrap();
        assert_eq!((count(&s, "a"), count(&s, "b")), (5, 3));
        let again = ds.stratified_sample(Stratify::PerCategory(5), 9).unwrap();
        let other = ds.stratified_sample(Stratify::PerCategory(5), 10).unwrap();
        assert_eq!(s.ids(), again.ids());
        assert_ne!(s.ids(), other.ids());
    }
}
