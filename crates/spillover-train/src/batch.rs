//! Collating tokenized examples into left-padded batches with aligned labels, and cutting an epoch
//! into micro-batches that fit a token budget, in a seeded order.

use crate::loss::IGNORE;
use candle_core::Device;
use spillover_model::Step;

/// One training example: token ids and a label per position (`IGNORE` where no loss is taken).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Example {
    pub ids: Vec<u32>,
    pub labels: Vec<i64>,
}

/// A batch ready for the model: the left-padded step and its labels (padding labelled `IGNORE`).
pub struct Batch {
    pub step: Step,
    pub labels: Vec<Vec<i64>>,
    /// Number of labelled positions (tokens that carry loss).
    pub target_tokens: usize,
}

pub fn collate(examples: &[&Example], pad_id: u32, device: &Device) -> candle_core::Result<Batch> {
    let seqs: Vec<Vec<u32>> = examples.iter().map(|e| e.ids.clone()).collect();
    let step = Step::left_padded(&seqs, pad_id, device).map_err(candle_core::Error::wrap)?;
    let t = step.mask.t;
    let labels: Vec<Vec<i64>> = examples
        .iter()
        .map(|e| {
            std::iter::repeat_n(IGNORE, t - e.labels.len())
                .chain(e.labels.iter().copied())
                .collect()
        })
        .collect();
    let target_tokens = labels
        .iter()
        .map(|r| r[1..].iter().filter(|&&l| l != IGNORE).count())
        .sum();
    Ok(Batch {
        step,
        labels,
        target_tokens,
    })
}

/// A permutation of 0..n from `seed` (Fisher–Yates over splitmix64).
pub fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut s = seed;
    for i in (1..n).rev() {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        let j = ((z ^ (z >> 31)) % (i as u64 + 1)) as usize;
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
}
