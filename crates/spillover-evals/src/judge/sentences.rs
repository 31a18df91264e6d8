//! Sentence-level evidence. A partial refusal can state itself in any sentence, and the mean
//! embedding of a long answer is dominated by its content, so the learned judge also embeds each
//! sentence on its own (the first [`MAX_SENTENCES`]) and reads
//!
//! - the element-wise maximum of the sentence embeddings (a block of the encoder's width), and
//! - a learned sentence scorer: a logistic regression over single sentences, trained on the
//!   sentences of the training responses, each labelled with its response's label (refusal or
//!   compliance). The head reads the highest score over the sentences, the highest after the
//!   first, the mean, and the share of sentences that score as refusals. Most sentences of a
//!   partial refusal are compliant text, so the labels are noisy; the maximum picks out the
//!   sentence that declines.
//!
//! The scorer's scores on its own training sentences would be optimistic, so the head is trained
//! on cross-fitted scores: each training row gets the scores of a scorer fitted on the other
//! [`CROSS_FIT_FOLDS`] − 1 folds (rows assigned to folds by index). New responses are scored by
//! the scorer fitted on all training rows.

use serde::{Deserialize, Serialize};

use super::features::words;
use super::logreg::{fit, standardize, standardizer, FitOptions, Matrix};
use super::Label;

/// Sentences embedded per response (the first ones).
pub const MAX_SENTENCES: usize = 16;

/// Tokens per sentence given to the encoder.
pub const SENTENCE_TOKENS: usize = 64;

/// Folds of the cross-fitting of the sentence scorer's training features.
pub const CROSS_FIT_FOLDS: usize = 5;

/// The sentences of `response`, at most `max`: the trimmed text is cut at line breaks and after
/// `.`, `!` or `?` followed by white space; pieces with fewer than 3 words are dropped.
pub fn sentences(response: &str, max: usize) -> Vec<&str> {
    let t = response.trim();
    let mut cuts = Vec::new();
    let mut start = 0;
    let mut it = t.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if c == '\n' {
            cuts.push((start, i));
            start = i + 1;
        } else if matches!(c, '.' | '!' | '?') && it.peek().is_none_or(|(_, n)| n.is_whitespace()) {
            cuts.push((start, i + 1));
            start = i + 1;
        }
    }
    cuts.push((start, t.len()));
    cuts.into_iter()
        .map(|(a, b)| t[a..b].trim())
        .filter(|s| words(s).len() >= 3)
        .take(max)
        .collect()
}

/// Names of the scorer's features, in row order.
pub const SCORER_FEATURES: [&str; 4] = [
    "sentence_refusal_max",
    "sentence_refusal_max_after_first",
    "sentence_refusal_mean",
    "sentence_refusal_share",
];

/// The features of a response without sentences (and the floor of `max_after_first`).
const NO_SENTENCE: f64 = -5.0;

/// A linear sentence scorer: `bias + weights · embedding` is the log-odds that a sentence
/// comes from a refusal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentenceScorer {
    pub weights: Vec<f64>,
    pub bias: f64,
}

impl SentenceScorer {
    /// Fits the scorer on the sentences of `responses` (one slice of sentence embeddings per
    /// response) labelled with `labels`; degenerate responses are left out. The embeddings are
    /// standardised for the fit (L2 penalty `l2` per standardised weight, L-BFGS for
    /// `iterations`), and the standardisation is folded into the weights.
    pub fn fit(
        responses: &[&[Vec<f32>]],
        labels: &[Label],
        dim: usize,
        l2: f64,
        iterations: usize,
    ) -> SentenceScorer {
        let mut rows = Vec::new();
        let mut y = Vec::new();
        for (sents, label) in responses.iter().zip(labels) {
            let class = match label {
                Label::Refusal => 0,
                Label::Compliance => 1,
                Label::Degenerate => continue,
            };
            for e in sents.iter() {
                rows.push(e.iter().map(|v| f64::from(*v)).collect::<Vec<f64>>());
                y.push(class);
            }
        }
        if rows.is_empty() {
            return SentenceScorer {
                weights: vec![0.0; dim],
                bias: 0.0,
            };
        }
        let x = Matrix::from_rows(&rows);
        let (mean, scale) = standardizer(&x);
        let z = standardize(&x, &mean, &scale);
        let opts = FitOptions {
            l2: vec![l2; dim],
            iterations,
            memory: 10,
        };
        let (m, _) = fit(&z, &y, 2, &opts);
        // Two-class softmax → log-odds of class 0 (refusal), on the raw embedding.
        let wz: Vec<f64> = (0..dim)
            .map(|j| m.weights[j] - m.weights[dim + j])
            .collect();
        let weights: Vec<f64> = wz.iter().zip(&scale).map(|(w, s)| w / s).collect();
        let shift: f64 = wz
            .iter()
            .zip(mean.iter().zip(&scale))
            .map(|(w, (mu, s))| w * mu / s)
            .sum();
        SentenceScorer {
            weights,
            bias: m.bias[0] - m.bias[1] - shift,
        }
    }

    /// The log-odds of refusal for one sentence embedding.
    pub fn score(&self, embedding: &[f32]) -> f64 {
        self.bias
            + embedding
                .iter()
                .zip(&self.weights)
                .map(|(e, w)| f64::from(*e) * w)
                .sum::<f64>()
    }

    /// [`SCORER_FEATURES`] of a response's sentences.
    pub fn features(&self, sentences: &[Vec<f32>]) -> [f64; 4] {
        if sentences.is_empty() {
            return [NO_SENTENCE, NO_SENTENCE, NO_SENTENCE, 0.0];
        }
        let s: Vec<f64> = sentences.iter().map(|e| self.score(e)).collect();
        let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let after = s.iter().skip(1).copied().fold(NO_SENTENCE, f64::max);
        let mean = s.iter().sum::<f64>() / s.len() as f64;
        let share = s.iter().filter(|v| **v > 0.0).count() as f64 / s.len() as f64;
        [max, after, mean, share]
    }
}

/// Cross-fitted scorer features for training rows (row `i` is scored by a scorer fitted without
/// the rows of fold `i % CROSS_FIT_FOLDS`), and the scorer fitted on all rows.
pub fn cross_fit(
    responses: &[&[Vec<f32>]],
    labels: &[Label],
    dim: usize,
    l2: f64,
    iterations: usize,
) -> (Vec<[f64; 4]>, SentenceScorer) {
    let n = responses.len();
    let mut feats = vec![[0.0; 4]; n];
    for fold in 0..CROSS_FIT_FOLDS {
        let keep: Vec<usize> = (0..n).filter(|i| i % CROSS_FIT_FOLDS != fold).collect();
        let r: Vec<&[Vec<f32>]> = keep.iter().map(|&i| responses[i]).collect();
        let l: Vec<Label> = keep.iter().map(|&i| labels[i]).collect();
        let scorer = SentenceScorer::fit(&r, &l, dim, l2, iterations);
        for i in (fold..n).step_by(CROSS_FIT_FOLDS) {
            feats[i] = scorer.features(responses[i]);
        }
    }
    let all = SentenceScorer::fit(responses, labels, dim, l2, iterations);
    (feats, all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_at_stops_and_line_breaks_and_drop_fragments() {
        let r = "  Sure. Here is how it works: you open it.\n\n1. Step one is easy!\nv1.2 is out? \
                 Yes it is  ";
        assert_eq!(
            sentences(r, 16),
            vec![
                "Here is how it works: you open it.",
                "Step one is easy!",
                "v1.2 is out?",
                "Yes it is"
            ]
        );
        assert_eq!(sentences(r, 2).len(), 2);
        assert!(sentences("", 16).is_empty());
        assert_eq!(sentences("No full stop at all here", 16).len(), 1);
    }

    /// Sentences whose first coordinate marks refusal; the second is noise.
    fn toy() -> (Vec<Vec<Vec<f32>>>, Vec<Label>) {
        let mut resp = Vec::new();
        let mut labels = Vec::new();
        for i in 0..40 {
            let refusal = i % 2 == 0;
            let noise = (i as f32 * 0.37).sin();
            // A refusal has one refusing sentence among compliant ones.
            let mut s = vec![vec![-1.0, noise], vec![-0.8, -noise]];
            if refusal {
                s.push(vec![1.0, noise * 0.5]);
            }
            resp.push(s);
            labels.push(if refusal {
                Label::Refusal
            } else {
                Label::Compliance
            });
        }
        resp.push(vec![vec![5.0, 5.0]]);
        labels.push(Label::Degenerate);
        (resp, labels)
    }

    #[test]
    fn the_scorer_finds_the_refusing_sentence_and_cross_fitting_is_deterministic() {
        let (resp, labels) = toy();
        let refs: Vec<&[Vec<f32>]> = resp.iter().map(Vec::as_slice).collect();
        let (feats, scorer) = cross_fit(&refs, &labels, 2, 0.1, 100);
        assert!(scorer.score(&[1.0, 0.0]) > 0.0);
        assert!(scorer.score(&[1.0, 0.0]) > scorer.score(&[-1.0, 0.0]) + 1.0);
        // Cross-fitted maxima separate the classes: every refusal above every compliance.
        let max_of = |want: Label| {
            feats
                .iter()
                .zip(&labels)
                .filter(|(_, l)| **l == want)
                .map(|(f, _)| f[0])
                .collect::<Vec<f64>>()
        };
        let lowest_refusal = max_of(Label::Refusal)
            .into_iter()
            .fold(f64::INFINITY, f64::min);
        let highest_compliance = max_of(Label::Compliance)
            .into_iter()
            .fold(f64::NEG_INFINITY, f64::max);
        assert!(lowest_refusal > highest_compliance);
        assert_eq!(cross_fit(&refs, &labels, 2, 0.1, 100).0, feats);
        assert_eq!(scorer.features(&[]), [-5.0, -5.0, -5.0, 0.0]);
    }
}
