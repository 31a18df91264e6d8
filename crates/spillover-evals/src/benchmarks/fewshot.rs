//! Choosing worked examples for few-shot prompts from the evaluated items themselves.

use spillover_data::datasets::{Item, SplitMix64};

use super::{BenchmarkKind, Error, Result};

/// For each item, the indices of `k` other items that `eligible(item, other)` accepts, drawn by
/// `seed` and the item's id (not its position), in ascending order. `needs` says what an
/// example must have, for the error when too few qualify.
pub(super) fn choose_examples(
    kind: BenchmarkKind,
    items: &[Item],
    k: usize,
    seed: u64,
    eligible: impl Fn(&Item, &Item) -> bool,
    needs: &str,
) -> Result<Vec<Vec<usize>>> {
    if k == 0 {
        return Ok(vec![Vec::new(); items.len()]);
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let pool: Vec<usize> = (0..items.len())
                .filter(|&j| j != i && eligible(item, &items[j]))
                .collect();
            if pool.len() < k {
                return Err(Error::BadInput(format!(
                    "{kind}: {k}-shot prompts need {k} other items {needs}; item {} has {}",
                    item.id,
                    pool.len()
                )));
            }
            let purpose = format!("{kind}-few-shot:{}", item.id);
            let mut rng = SplitMix64::for_purpose(seed, &purpose);
            Ok(rng
                .sample_indices(pool.len(), k)
                .into_iter()
                .map(|p| pool[p])
                .collect())
        })
        .collect()
}
