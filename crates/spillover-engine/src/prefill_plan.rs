//! How generation prefills a batch of prompts: the prefix they all share (computed once), and
//! the groups of similar length whose forwards cost least in all.

/// Tokens that every prompt starts with, computed once for a batch when there are at least
/// `MIN_SHARED` of them; each prompt keeps at least its last token for its own forward (its logits
/// start the generation). 0 for a batch of one.
pub(crate) fn shared_prefix<'p>(mut prompts: impl Iterator<Item = &'p [u32]>) -> usize {
    const MIN_SHARED: usize = 8;
    let Some(first) = prompts.next() else {
        return 0;
    };
    let (mut n, mut rows) = (first.len() - 1, 1);
    for p in prompts {
        n = first[..n.min(p.len() - 1)]
            .iter()
            .zip(p)
            .take_while(|(a, b)| a == b)
            .count();
        rows += 1;
    }
    if rows < 2 || n < MIN_SHARED {
        0
    } else {
        n
    }
}

/// Most padded positions of one prefill group (unless it is a single row).
const PREFILL_TOKENS: usize = crate::batching::CPU_FORWARD_POSITIONS;
/// The cost of one prefill forward besides its positions, in positions: with 0 every prompt is
/// prefilled alone and with 200 padding grows; 32 was fastest on the benchmark's 64 chat prompts
/// (8.35 s against 8.8 s and 9.8 s on the 2-core machine).
const FORWARD_COST: usize = 32;

/// Rows (of prompts sorted longest first) prefilled together: the consecutive groups that cost
/// least in all, a group costing its padded positions (rows × its longest prompt) plus
/// `FORWARD_COST` for the forward call itself (every weight is read again, and small products
/// run below the kernel's speed), with at most `PREFILL_TOKENS` padded positions per group
/// unless it is a single row.
pub(crate) fn prefill_groups(lens: Vec<usize>) -> Vec<std::ops::Range<usize>> {
    let n = lens.len();
    // best[j]: least cost of rows 0..j, reached with a last group starting at from[j].
    let mut best = vec![usize::MAX; n + 1];
    let mut from = vec![0; n + 1];
    best[0] = 0;
    for j in 1..=n {
        for i in (0..j).rev() {
            let padded = lens[i] * (j - i);
            if j - i > 1 && padded > PREFILL_TOKENS {
                break;
            }
            let cost = best[i] + padded + FORWARD_COST;
            if cost < best[j] {
                (best[j], from[j]) = (cost, i);
            }
        }
    }
    let mut out = Vec::new();
    let mut j = n;
    while j > 0 {
        out.push(from[j]..j);
        j = from[j];
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_prefix_leaves_every_prompt_a_token_of_its_own() {
        let p = |v: &[u32]| v.to_vec();
        let base: Vec<u32> = (1..=12).collect();
        let longer: Vec<u32> = (1..=15).collect();
        let other: Vec<u32> = [&base[..9], &[50, 51]].concat();
        let share = |ps: &[Vec<u32>]| shared_prefix(ps.iter().map(Vec::as_slice));
        // The shorter prompt keeps its last token: 11 shared, not 12.
        assert_eq!(share(&[p(&longer), p(&base)]), 11);
        assert_eq!(share(&[p(&base), p(&base)]), 11);
        assert_eq!(share(&[p(&longer), p(&base), p(&other)]), 9);
        // Too short to be worth a forward of its own, or only one row.
        assert_eq!(share(&[p(&base[..7]), p(&base[..7])]), 0);
        assert_eq!(share(&[p(&base), [&base[..7], &[99]].concat()]), 0);
        assert_eq!(share(&[p(&longer)]), 0);
    }

    /// The cost `prefill_groups` minimizes, or None when a group breaks the size limit.
    fn groups_cost(lens: &[usize], groups: &[std::ops::Range<usize>]) -> Option<usize> {
        groups.iter().try_fold(0, |acc, g| {
            let padded = lens[g.start] * g.len();
            (g.len() == 1 || padded <= PREFILL_TOKENS).then_some(acc + padded + FORWARD_COST)
        })
    }

    #[test]
    fn prefill_groups_are_the_cheapest_split() {
        let mut rng = crate::sampling::sequence_rng(7, 0);
        for case in 0..200 {
            let n = 1 + case % 9;
            let mut lens: Vec<usize> = (0..n)
                .map(|_| 1 + (rng.unit() * if case % 2 == 0 { 60.0 } else { 900.0 }) as usize)
                .collect();
            lens.sort_unstable_by(|a, b| b.cmp(a));
            let groups = prefill_groups(lens.clone());
            // Consecutive, covering every row once.
            assert_eq!(groups.first().map(|g| g.start), Some(0));
            assert_eq!(groups.last().map(|g| g.end), Some(n));
            assert!(groups.windows(2).all(|w| w[0].end == w[1].start));
            let got = groups_cost(&lens, &groups).expect("a group over the size limit");
            // No other split (2^(n-1) of them) costs less.
            for cuts in 0u32..1 << (n - 1) {
                let mut other = Vec::new();
                let mut start = 0;
                for i in 1..n {
                    if cuts >> (i - 1) & 1 == 1 {
                        other.push(start..i);
                        start = i;
                    }
                }
                other.push(start..n);
                if let Some(c) = groups_cost(&lens, &other) {
                    assert!(got <= c, "{lens:?}: {groups:?} costs {got}, {other:?} {c}");
                }
            }
        }
    }
}
