//! "Did you mean" suggestions for mistyped ids.

/// The candidate closest to `query`: a candidate containing the query (or contained in it)
/// wins, shortest first; otherwise the smallest edit distance, if it is small enough.
pub fn closest(query: &str, candidates: &[String]) -> Option<String> {
    let q = query.to_ascii_lowercase();
    if q.is_empty() {
        return None;
    }
    let containing = candidates
        .iter()
        .filter(|c| c.contains(q.as_str()) || (q.contains(c.as_str()) && c.len() >= 3))
        .min_by_key(|c| c.len());
    if let Some(c) = containing {
        return Some(c.clone());
    }
    let limit = (q.chars().count() / 3).max(2);
    candidates
        .iter()
        .map(|c| (levenshtein(&q, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

/// Edit distance (insertions, deletions, substitutions) between two strings.
pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> Vec<String> {
        [
            "smollm2-135m-instruct",
            "gemma-3-270m",
            "advbench",
            "gsm8k-100",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    #[test]
    fn distances() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("abc", "abc"), 0);
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            closest("smollm2", &ids()).as_deref(),
            Some("smollm2-135m-instruct")
        );
        assert_eq!(closest("advbnech", &ids()).as_deref(), Some("advbench"));
        assert_eq!(closest("gsm8k", &ids()).as_deref(), Some("gsm8k-100"));
        assert_eq!(closest("zzzzzzzzzz", &ids()), None);
    }
}
