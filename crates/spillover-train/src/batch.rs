//! Collating tokenized examples into batches with aligned labels — left-padded (one example per
//! row) or packed (several examples per row) — and cutting an epoch into micro-batches that fit a
//! token budget, in a seeded order.
//!
//! Packing (`pack_rows`, `group_rows`, `collate_packed`): the examples of one optimizer step are
//! placed into rows by first-fit decreasing — longest first (ties: the earlier in the step's
//! order), each into the first row, in the order rows were opened, that still has room, else a
//! new row — so the same examples in the same order always give the same rows. Consecutive rows
//! then form micro-batches within the token budget. In a row each example keeps its own positions
//! (from 0) and attends only to itself (`Step::packed`), and its first label is dropped (nothing
//! in the row before it predicts it), so every example contributes exactly the loss terms it has
//! on its own.

use crate::loss::IGNORE;
use candle_core::Device;
use spillover_core::rng::SplitMix64;
use spillover_model::Step;

/// One training example: token ids and a label per position (`IGNORE` where no loss is taken).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Example {
    pub ids: Vec<u32>,
    pub labels: Vec<i64>,
}

/// A batch ready for the model: the step and its labels (padding labelled `IGNORE`).
pub struct Batch {
    pub step: Step,
    pub labels: Vec<Vec<i64>>,
    /// Number of labelled positions (tokens that carry loss).
    pub target_tokens: usize,
    /// Real (non-padding) tokens the forward pass processes.
    pub tokens: usize,
}

/// An example's labels with the first one `IGNORE`: no token of the example precedes it, so in a
/// batch row it would be predicted by padding or by the end of another example.
fn own_labels(e: &Example) -> impl Iterator<Item = i64> + '_ {
    e.labels
        .iter()
        .enumerate()
        .map(|(i, &l)| if i == 0 { IGNORE } else { l })
}

/// Labelled positions of batch rows (labels are shifted by one: a row's first never counts).
fn count_targets(labels: &[Vec<i64>]) -> usize {
    labels
        .iter()
        .map(|r| r.iter().skip(1).filter(|&&l| l != IGNORE).count())
        .sum()
}

pub fn collate(examples: &[&Example], pad_id: u32, device: &Device) -> candle_core::Result<Batch> {
    let seqs: Vec<Vec<u32>> = examples.iter().map(|e| e.ids.clone()).collect();
    let step = Step::left_padded(&seqs, pad_id, device).map_err(candle_core::Error::wrap)?;
    let t = step.mask.t;
    // An example's first label is predicted by nothing of its own: left of it is padding, so it
    // takes no part (as when the example is alone or packed).
    let labels: Vec<Vec<i64>> = examples
        .iter()
        .map(|e| {
            std::iter::repeat_n(IGNORE, t - e.labels.len())
                .chain(own_labels(e))
                .collect()
        })
        .collect();
    Ok(Batch {
        target_tokens: count_targets(&labels),
        tokens: examples.iter().map(|e| e.ids.len()).sum(),
        step,
        labels,
    })
}

/// Rows of several examples each, right-padded with `pad_id` (see the module notes).
pub fn collate_packed(
    rows: &[Vec<&Example>],
    pad_id: u32,
    device: &Device,
) -> candle_core::Result<Batch> {
    let seqs: Vec<Vec<&[u32]>> = rows
        .iter()
        .map(|r| r.iter().map(|e| e.ids.as_slice()).collect())
        .collect();
    let step = Step::packed(&seqs, pad_id, device).map_err(candle_core::Error::wrap)?;
    let t = step.mask.t;
    let labels: Vec<Vec<i64>> = rows
        .iter()
        .map(|r| {
            let mut l: Vec<i64> = Vec::with_capacity(t);
            for e in r {
                l.extend(own_labels(e));
            }
            l.resize(t, IGNORE);
            l
        })
        .collect();
    Ok(Batch {
        target_tokens: count_targets(&labels),
        tokens: rows.iter().flatten().map(|e| e.ids.len()).sum(),
        step,
        labels,
    })
}

/// Packs the examples `items` (indices into `lens`) into rows of at most `capacity` tokens by
/// first-fit decreasing (see the module notes); an example longer than `capacity` gets a row of
/// its own. Every item appears in exactly one row.
pub fn pack_rows(items: &[usize], lens: &[usize], capacity: usize) -> Vec<Vec<usize>> {
    let mut by_len: Vec<usize> = items.to_vec();
    // Stable: equal lengths keep the step's order.
    by_len.sort_by_key(|&i| std::cmp::Reverse(lens[i]));
    let mut rows: Vec<(usize, Vec<usize>)> = Vec::new();
    for i in by_len {
        match rows.iter_mut().find(|(used, _)| used + lens[i] <= capacity) {
            Some((used, row)) => {
                *used += lens[i];
                row.push(i);
            }
            None => rows.push((lens[i], vec![i])),
        }
    }
    rows.into_iter().map(|(_, r)| r).collect()
}

/// Groups consecutive rows into micro-batches whose padded size (rows × longest row) stays within
/// `token_budget` (a row over the budget still gets a micro-batch of its own).
pub fn group_rows(
    rows: Vec<Vec<usize>>,
    lens: &[usize],
    token_budget: usize,
) -> Vec<Vec<Vec<usize>>> {
    let mut out: Vec<Vec<Vec<usize>>> = Vec::new();
    let mut cur: Vec<Vec<usize>> = Vec::new();
    let mut longest = 0;
    for row in rows {
        let len: usize = row.iter().map(|&i| lens[i]).sum();
        if !cur.is_empty() && (cur.len() + 1) * len.max(longest) > token_budget {
            out.push(std::mem::take(&mut cur));
            longest = 0;
        }
        longest = longest.max(len);
        cur.push(row);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A permutation of 0..n from `seed` (Fisher–Yates over SplitMix64, indices by modulo: the
/// training order every run so far has used).
pub fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = SplitMix64::new(seed);
    for i in (1..n).rev() {
        let j = rng.below_by_modulo(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    order
}

/// Splits `order` into consecutive micro-batches of at most `batch_size` examples whose padded size
/// (rows × longest) stays within `token_budget` (a single over-long example still gets its own batch).
pub fn micro_batches(
    order: &[usize],
    lens: &[usize],
    batch_size: usize,
    token_budget: usize,
) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut cur: Vec<usize> = Vec::new();
    let mut longest = 0;
    for &i in order {
        let l = lens[i].max(longest);
        if !cur.is_empty() && (cur.len() + 1 > batch_size || (cur.len() + 1) * l > token_budget) {
            out.push(std::mem::take(&mut cur));
            longest = 0;
        }
        longest = longest.max(lens[i]);
        cur.push(i);
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let a = shuffled(50, 7);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_eq!(a, shuffled(50, 7));
        assert_ne!(a, shuffled(50, 8));
    }

    #[test]
    fn micro_batches_respect_size_and_budget() {
        let lens = vec![10, 10, 30, 5, 5, 5, 100];
        let order: Vec<usize> = (0..lens.len()).collect();
        let mb = micro_batches(&order, &lens, 3, 60);
        let flat: Vec<usize> = mb.iter().flatten().copied().collect();
        assert_eq!(flat, order, "every example once, in order");
        for b in &mb {
            let longest = b.iter().map(|&i| lens[i]).max().unwrap();
            assert!(b.len() <= 3);
            assert!(b.len() == 1 || b.len() * longest <= 60, "{b:?}");
        }
    }

    #[test]
    fn a_padded_row_takes_only_its_own_loss_terms() {
        // The short example's first token carries a label; left of it is padding, which must
        // not be asked to predict it (alone, nothing would).
        let long = Example {
            ids: vec![1, 2, 3, 4],
            labels: vec![IGNORE, IGNORE, 3, 4],
        };
        let short = Example {
            ids: vec![5, 6],
            labels: vec![5, 6],
        };
        let b = collate(&[&long, &short], 0, &Device::Cpu).unwrap();
        assert_eq!(b.labels[1], vec![IGNORE, IGNORE, IGNORE, 6]);
        assert_eq!(b.target_tokens, 3);
        assert_eq!(b.tokens, 6);
        let p = collate_packed(&[vec![&long, &short]], 0, &Device::Cpu).unwrap();
        assert_eq!(p.labels, vec![vec![IGNORE, IGNORE, 3, 4, IGNORE, 6]]);
        assert_eq!((p.target_tokens, p.tokens), (3, 6));
    }

    #[test]
    fn first_fit_decreasing_rows() {
        let lens = vec![5, 9, 3, 7, 4, 9, 12];
        let items = [0, 1, 2, 3, 4, 5];
        // Longest first (9 of item 1 before the 9 of item 5), each into the first row with room.
        assert_eq!(
            pack_rows(&items, &lens, 12),
            vec![vec![1, 2], vec![5], vec![3, 0], vec![4]]
        );
        // An example over the capacity gets its own row; order of items does not matter for
        // distinct lengths, but ties keep the given order.
        assert_eq!(pack_rows(&[6, 2], &lens, 10), vec![vec![6], vec![2]]);
        assert_eq!(pack_rows(&[5, 1], &lens, 30), vec![vec![5, 1]]);
        let mut all: Vec<usize> = pack_rows(&items, &lens, 12).concat();
        all.sort();
        assert_eq!(all, items);
    }

    #[test]
    fn rows_group_within_the_budget() {
        let lens = vec![10, 10, 30, 5];
        let rows = vec![vec![2], vec![0, 1], vec![3]];
        // 30-token row, then 20 (2 × 30 > 50 cuts), then 5 (2 × 20 ≤ 50).
        assert_eq!(
            group_rows(rows.clone(), &lens, 50),
            vec![vec![vec![2]], vec![vec![0, 1], vec![3]]]
        );
        assert_eq!(
            group_rows(rows.clone(), &lens, 10),
            vec![vec![vec![2]], vec![vec![0, 1]], vec![vec![3]]]
        );
        assert_eq!(
            group_rows(rows, &lens, 90),
            vec![vec![vec![2], vec![0, 1], vec![3]]]
        );
    }
}
