//! Measurable properties of a response that separate degenerate text (empty, loops, gibberish,
//! token soup, off-topic) from language. Used as rules by the keyword judge and as inputs by the
//! learned judge.

use std::collections::HashSet;

/// Only this many leading characters are examined (loops and gibberish show early).
const WINDOW: usize = 4000;

/// Length of the character n-grams used to detect loops.
const CHAR_N: usize = 8;

/// Common English function words; prose has many of them, gibberish and token soup few.
pub const FUNCTION_WORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "because",
    "been", "but", "by", "can", "could", "did", "do", "does", "for", "from", "had", "has", "have",
    "he", "her", "here", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "just",
    "me", "more", "most", "my", "no", "not", "of", "on", "one", "only", "or", "other", "our",
    "out", "should", "so", "some", "such", "than", "that", "the", "their", "them", "then", "there",
    "these", "they", "this", "those", "to", "up", "us", "very", "was", "we", "were", "what",
    "when", "where", "which", "while", "who", "why", "will", "with", "would", "you", "your",
];

/// The features of one (prompt, response) pair. Ratios are in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct TextStats {
    /// Characters of the trimmed response.
    pub chars: usize,
    /// Words (maximal runs of letters or digits) in the window.
    pub words: usize,
    /// Distinct words / words (1 when there are none).
    pub distinct_word_ratio: f64,
    /// 1 − distinct word trigrams / word trigrams (0 below 3 words): high in loops.
    pub repeated_word_trigrams: f64,
    /// 1 − distinct character 8-grams / 8-grams (0 below 8 characters): high in loops,
    /// including loops of punctuation or of a single character.
    pub repeated_char_ngrams: f64,
    /// Shannon entropy of the non-space characters, in bits (English prose ≈ 4–4.5).
    pub char_entropy: f64,
    /// Letters / non-space characters (1 when empty).
    pub alpha_ratio: f64,
    /// Share of words that are [`FUNCTION_WORDS`] (prose ≈ 0.3–0.5).
    pub function_word_ratio: f64,
    /// Share of alphabetic words of ≥ 4 letters with no vowel (a, e, i, o, u, y): gibberish.
    pub vowelless_ratio: f64,
    /// Content words (≥ 3 characters, not function words) in the prompt.
    pub prompt_content_words: usize,
    /// Share of the prompt's content words whose 4-character stem occurs in the response.
    pub prompt_overlap: f64,
}

/// Lowercase words: maximal runs of alphanumeric characters (apostrophes dropped).
pub fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’')
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric())
                .collect::<String>()
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

fn window(text: &str) -> &str {
    match text.char_indices().nth(WINDOW) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

fn stem(w: &str) -> String {
    w.chars().take(4).collect()
}

fn is_function_word(w: &str) -> bool {
    FUNCTION_WORDS.binary_search(&w).is_ok()
}

pub(crate) fn content_stems(ws: &[String]) -> HashSet<String> {
    ws.iter()
        .filter(|w| w.chars().count() >= 3 && !is_function_word(w))
        .map(|w| stem(w))
        .collect()
}

fn ratio(num: usize, den: usize, empty: f64) -> f64 {
    if den == 0 {
        empty
    } else {
        num as f64 / den as f64
    }
}

fn repeated<T: std::hash::Hash + Eq>(items: impl Iterator<Item = T>) -> f64 {
    let (mut seen, mut total) = (HashSet::new(), 0usize);
    for it in items {
        seen.insert(it);
        total += 1;
    }
    1.0 - ratio(seen.len(), total, 1.0)
}

fn entropy(chars: &[char]) -> f64 {
    let mut counts = std::collections::HashMap::new();
    for c in chars {
        *counts.entry(*c).or_insert(0usize) += 1;
    }
    let n = chars.len() as f64;
    let mut keys: Vec<_> = counts.into_iter().collect();
    keys.sort_unstable(); // a fixed summation order keeps the value bit-for-bit reproducible
    keys.iter()
        .map(|&(_, k)| {
            let p = k as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// Computes the features of `response` to `prompt`.
pub fn text_stats(prompt: &str, response: &str) -> TextStats {
    let trimmed = response.trim();
    let text = window(trimmed);
    let ws = words(text);
    let chars: Vec<char> = text.chars().collect();
    let dense: Vec<char> = chars
        .iter()
        .copied()
        .filter(|c| !c.is_whitespace())
        .collect();
    let alpha_words: Vec<&String> = ws
        .iter()
        .filter(|w| w.chars().count() >= 4 && w.chars().all(char::is_alphabetic))
        .collect();
    let vowelless = alpha_words
        .iter()
        .filter(|w| !w.chars().any(|c| "aeiouyàáâäèéêëìíîïòóôöùúûü".contains(c)))
        .count();
    let prompt_stems = content_stems(&words(prompt));
    let response_stems: HashSet<String> = ws.iter().map(|w| stem(w)).collect();
    let shared = prompt_stems
        .iter()
        .filter(|s| response_stems.contains(*s))
        .count();
    TextStats {
        chars: trimmed.chars().count(),
        words: ws.len(),
        distinct_word_ratio: ratio(ws.iter().collect::<HashSet<_>>().len(), ws.len(), 1.0),
        repeated_word_trigrams: if ws.len() < 3 {
            0.0
        } else {
            repeated(ws.windows(3))
        },
        repeated_char_ngrams: if chars.len() < CHAR_N {
            0.0
        } else {
            repeated(chars.windows(CHAR_N))
        },
        char_entropy: entropy(&dense),
        alpha_ratio: ratio(
            dense.iter().filter(|c| c.is_alphabetic()).count(),
            dense.len(),
            1.0,
        ),
        function_word_ratio: ratio(
            ws.iter().filter(|w| is_function_word(w)).count(),
            ws.len(),
            0.0,
        ),
        vowelless_ratio: ratio(vowelless, alpha_words.len(), 0.0),
        prompt_content_words: prompt_stems.len(),
        prompt_overlap: ratio(shared, prompt_stems.len(), 1.0),
    }
}

impl TextStats {
    /// Names of [`TextStats::vector`]'s entries, in order.
    pub const NAMES: [&'static str; 10] = [
        "log_chars",
        "log_words",
        "distinct_word_ratio",
        "repeated_word_trigrams",
        "repeated_char_ngrams",
        "char_entropy",
        "alpha_ratio",
        "function_word_ratio",
        "vowelless_ratio",
        "prompt_overlap",
    ];

    /// The features as numbers for a classifier (lengths on a log scale).
    pub fn vector(&self) -> [f64; 10] {
        [
            (1.0 + self.chars as f64).ln(),
            (1.0 + self.words as f64).ln(),
            self.distinct_word_ratio,
            self.repeated_word_trigrams,
            self.repeated_char_ngrams,
            self.char_entropy,
            self.alpha_ratio,
            self.function_word_ratio,
            self.vowelless_ratio,
            self.prompt_overlap,
        ]
    }
}
