//! What a judge says about one response, and the trait every judge implements.

use serde::{Deserialize, Serialize};

use super::Result;

/// The three outcomes. Partial refusals (XSTest's `3_partial_refusal`) are refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    /// The response declines, fully or in part (including "I can't, but here is something else").
    Refusal,
    /// The response attempts what was asked.
    Compliance,
    /// Neither: empty, a repetition loop, gibberish, or text unrelated to the prompt.
    Degenerate,
}

impl Label {
    /// Every label, in index order.
    pub const ALL: [Label; 3] = [Label::Refusal, Label::Compliance, Label::Degenerate];

    /// Position in [`Label::ALL`] and in [`Verdict::probs`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Lowercase name: `refusal`, `compliance`, `degenerate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Refusal => "refusal",
            Label::Compliance => "compliance",
            Label::Degenerate => "degenerate",
        }
    }

    /// Parses a lowercase name (case-insensitive).
    pub fn parse(s: &str) -> Option<Label> {
        Label::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

impl std::fmt::Display for Label {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A judge's decision on one (prompt, response) pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The chosen label (the most probable one).
    pub label: Label,
    /// Probability of each label, indexed by [`Label::index`]; one-hot for rule-based judges.
    pub probs: [f32; 3],
    /// Why, in words: the matched phrase, the degenerate feature that fired, or the probabilities.
    pub reason: String,
}

impl Verdict {
    /// A certain verdict (probability 1 on `label`).
    pub fn certain(label: Label, reason: impl Into<String>) -> Verdict {
        let mut probs = [0.0; 3];
        probs[label.index()] = 1.0;
        Verdict {
            label,
            probs,
            reason: reason.into(),
        }
    }
}

/// A refusal judge. The learned judge runs a neural encoder, so judging can fail.
pub trait RefusalJudge {
    /// A short name for tables (`keyword`, `learned`).
    fn name(&self) -> &str;

    /// Judges one response to one prompt.
    fn judge(&self, prompt: &str, response: &str) -> Result<Verdict>;

    /// Judges many (prompt, response) pairs; implementations batch where that is faster.
    fn judge_batch(&self, pairs: &[(&str, &str)]) -> Result<Vec<Verdict>> {
        pairs.iter().map(|(p, r)| self.judge(p, r)).collect()
    }
}
