//! Scorers on plain strings: numbers in free text, GSM8K's final answer, the choice a set of
//! log-likelihoods picks, and the lexical diversity measures. Everything here is pure and tested
//! on canned strings.

use std::collections::HashSet;

/// A number found in text: where it is and its canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number {
    /// Byte offset of its first character (the sign, if any) in the text.
    pub start: usize,
    /// Byte offset just past it.
    pub end: usize,
    /// Canonical form: no thousands separators, no leading zeros, no trailing fractional zeros
    /// (`1,234.50` → `1234.5`, `27.0` → `27`, `-0` → `0`).
    pub value: String,
}

/// Every number in `text`, left to right. A `-` (or `−`) right before the digits is a sign
/// unless it follows a letter or digit (`5-3` is 5 and 3); `,` groups of exactly three digits
/// are thousands separators; a `.` followed by a digit starts the fraction (`27.` is 27).
pub fn numbers(text: &str) -> Vec<Number> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = sign_start(text, i);
        let (end, digits) = scan_number(b, i);
        let negative = start < i;
        out.push(Number {
            start,
            end,
            value: canonical(negative, &digits),
        });
        i = end;
    }
    out
}

/// Where the number whose first digit is at `i` starts: at a sign right before it, if any.
fn sign_start(text: &str, i: usize) -> usize {
    let before = &text[..i];
    let sign_len = if before.ends_with('-') {
        1
    } else if before.ends_with('−') {
        '−'.len_utf8()
    } else {
        return i;
    };
    let prev = before[..i - sign_len].chars().next_back();
    match prev {
        Some(c) if c.is_alphanumeric() => i,
        _ => i - sign_len,
    }
}

/// Scans digits from `i` with thousands groups and a fraction; returns the end and the digits
/// (with a `.` for the fraction, separators dropped).
fn scan_number(b: &[u8], mut i: usize) -> (usize, String) {
    let digit_run = |mut j: usize| {
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        j
    };
    let mut digits = String::new();
    let end = digit_run(i);
    digits.push_str(std::str::from_utf8(&b[i..end]).unwrap_or_default());
    i = end;
    // ",ddd" groups, each exactly three digits.
    while i < b.len() && b[i] == b',' {
        let group_end = digit_run(i + 1);
        if group_end - (i + 1) != 3 {
            break;
        }
        digits.push_str(std::str::from_utf8(&b[i + 1..group_end]).unwrap_or_default());
        i = group_end;
    }
    if i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
        let frac_end = digit_run(i + 1);
        digits.push('.');
        digits.push_str(std::str::from_utf8(&b[i + 1..frac_end]).unwrap_or_default());
        i = frac_end;
    }
    (i, digits)
}

/// The canonical form of a number given its sign and digits (`"0012.50"` → `"12.5"`).
fn canonical(negative: bool, digits: &str) -> String {
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, f.trim_end_matches('0')),
        None => (digits, ""),
    };
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let body = if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    };
    if negative && body != "0" {
        format!("-{body}")
    } else {
        body
    }
}

/// The canonical form of a gold answer written as a number (`"1,234"` → `"1234"`), or None
/// when it is not exactly one number.
pub fn canonical_number(s: &str) -> Option<String> {
    let found = numbers(s.trim());
    match found.as_slice() {
        [n] if n.start == 0 && n.end == s.trim().len() => Some(n.value.clone()),
        _ => None,
    }
}

/// The first number in `text`.
pub fn first_number(text: &str) -> Option<String> {
    numbers(text).into_iter().next().map(|n| n.value)
}

/// The answer to an arithmetic question: the first number after the first `=` when the text
/// has one (so "15 + 12 = 27" gives 27, not the echoed 15), else the first number.
pub fn arithmetic_answer(text: &str) -> Option<String> {
    if let Some(at) = text.find('=') {
        if let Some(n) = first_number(&text[at + 1..]) {
            return Some(n);
        }
    }
    first_number(text)
}

/// The last number in `text`.
pub fn last_number(text: &str) -> Option<String> {
    numbers(text).pop().map(|n| n.value)
}

/// Which rule found a GSM8K answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerRule {
    /// The first number after the last `####`.
    Hashes,
    /// The first number after the last "the answer is" (any case).
    AnswerIs,
    /// The last number in the text.
    LastNumber,
}

impl AnswerRule {
    /// A short name for records.
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerRule::Hashes => "####",
            AnswerRule::AnswerIs => "the answer is",
            AnswerRule::LastNumber => "last number",
        }
    }
}

/// GSM8K's final answer: the number after `#### `, else after "The answer is", else the last
/// number of the text; with the rule that found it.
pub fn gsm8k_answer(text: &str) -> Option<(String, AnswerRule)> {
    if let Some(at) = text.rfind("####") {
        if let Some(n) = first_number(&text[at + 4..]) {
            return Some((n, AnswerRule::Hashes));
        }
    }
    let lower = text.to_ascii_lowercase(); // same byte offsets as `text`
    if let Some(at) = lower.rfind("the answer is") {
        if let Some(n) = first_number(&text[at + "the answer is".len()..]) {
            return Some((n, AnswerRule::AnswerIs));
        }
    }
    last_number(text).map(|n| (n, AnswerRule::LastNumber))
}

/// The index of the largest value (the first on ties, as numpy's argmax); None when empty.
pub fn argmax(values: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &v) in values.iter().enumerate() {
        if best.is_none_or(|b| v > values[b]) {
            best = Some(i);
        }
    }
    best
}

/// The choice log-likelihoods pick: plain (acc) and divided by each continuation's length in
/// bytes (acc_norm, as lm-evaluation-harness normalises).
pub fn choose(logprobs: &[f64], continuation_bytes: &[usize]) -> Option<(usize, usize)> {
    let norm: Vec<f64> = logprobs
        .iter()
        .zip(continuation_bytes)
        .map(|(&l, &n)| l / n.max(1) as f64)
        .collect();
    Some((argmax(logprobs)?, argmax(&norm)?))
}

/// log p(choice `i`) renormalised over the choices: `logprobs[i] − logsumexp(logprobs)`.
pub fn renormalised_logprob(logprobs: &[f64], i: usize) -> f64 {
    let max = logprobs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = max + logprobs.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
    logprobs[i] - lse
}

/// The words of a text for the diversity measures: lowercase runs of letters, digits and
/// apostrophes.
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The word n-grams of `words`, in order.
pub fn ngrams(words: &[String], n: usize) -> Vec<&[String]> {
    if n == 0 || words.len() < n {
        return Vec::new();
    }
    words.windows(n).collect()
}

/// Distinct n-grams / n-grams (0 when the text has no n-gram).
pub fn distinct_n(words: &[String], n: usize) -> f64 {
    let grams = ngrams(words, n);
    if grams.is_empty() {
        return 0.0;
    }
    let unique: HashSet<&[String]> = grams.iter().copied().collect();
    unique.len() as f64 / grams.len() as f64
}

/// The fraction of word 3-grams that repeat an earlier 3-gram of the same text (0 for texts
/// with no 3-gram).
pub fn repetition(words: &[String]) -> f64 {
    let grams = ngrams(words, 3);
    if grams.is_empty() {
        return 0.0;
    }
    let mut seen = HashSet::new();
    let repeats = grams.iter().filter(|g| !seen.insert(**g)).count();
    repeats as f64 / grams.len() as f64
}

/// Distinct n-grams / n-grams over a whole corpus (n-grams do not cross texts).
pub fn corpus_distinct_n(texts: &[Vec<String>], n: usize) -> f64 {
    let mut unique: HashSet<&[String]> = HashSet::new();
    let mut total = 0usize;
    for t in texts {
        for g in ngrams(t, n) {
            unique.insert(g);
            total += 1;
        }
    }
    if total == 0 {
        0.0
    } else {
        unique.len() as f64 / total as f64
    }
}
