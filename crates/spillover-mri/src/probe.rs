//! Probes: one token sequence the analyses run on both models, with its token strings (heatmap
//! labels), named sets of positions (operands, refusal words) and the tokens whose logits matter.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One prompt as the analyses see it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// Short label used in file and tensor names (`arithmetic`, `harmful`, ...).
    pub name: String,
    /// Token ids: the prompt (chat template applied by the caller when wanted), optionally followed
    /// by a reply (see `with_reply`).
    pub ids: Vec<u32>,
    /// Number of prompt tokens at the front of `ids`. Attention maps read all of `ids` (so reply
    /// tokens such as refusal words are in context); logit attribution and patching read the
    /// prediction after the prompt, `ids[..prompt_len]`.
    pub prompt_len: usize,
    /// Decoded text of each token (same length as `ids`; labels only).
    pub tokens: Vec<String>,
    /// Named sets of token positions, e.g. `operand` (tokens with digits) or `refusal`.
    pub marks: BTreeMap<String, Vec<usize>>,
    /// First token of the correct answer (capability probes): the patching metric's target.
    pub answer: Option<u32>,
    /// First token of the refusal reply: direct logit attribution reads refusal − answer.
    pub refusal: Option<u32>,
}

/// Mark name of the positions whose token contains a digit.
pub const OPERAND: &str = "operand";
/// Mark name of the positions whose token is a refusal word.
pub const REFUSAL: &str = "refusal";

/// Lower-case word stems that mark a refusal reply (matched inside a token's text).
pub const REFUSAL_WORDS: &[&str] = &[
    "sorry",
    "cannot",
    "can't",
    "can’t",
    "unable",
    "apolog",
    "won't",
    "refuse",
    "not able",
    "illegal",
    "harmful",
    "unethical",
];

impl Probe {
    /// A probe with the default marks: `operand` (tokens with a digit) and `refusal` (tokens that
    /// contain a refusal word); empty sets are left out.
    pub fn new(name: impl Into<String>, ids: Vec<u32>, tokens: Vec<String>) -> Self {
        let mut p = Probe {
            name: name.into(),
            prompt_len: ids.len(),
            ids,
            tokens,
            marks: BTreeMap::new(),
            answer: None,
            refusal: None,
        };
        p.default_marks();
        p
    }

    /// Appends a reply (e.g. the tuned model's greedy continuation) after the prompt and recomputes
    /// the default marks over prompt + reply.
    pub fn with_reply(mut self, ids: &[u32], tokens: Vec<String>) -> Self {
        self.ids.truncate(self.prompt_len);
        self.tokens.truncate(self.prompt_len);
        self.ids.extend_from_slice(ids);
        self.tokens.extend(tokens);
        self.default_marks();
        self
    }

    /// The prompt tokens only.
    pub fn prompt(&self) -> &[u32] {
        &self.ids[..self.prompt_len]
    }

    fn default_marks(&mut self) {
        for (mark, f) in [
            (OPERAND, has_digit as fn(&str) -> bool),
            (REFUSAL, is_refusal_word),
        ] {
            let pos: Vec<usize> = (0..self.tokens.len())
                .filter(|&i| f(&self.tokens[i]))
                .collect();
            if pos.is_empty() {
                self.marks.remove(mark);
            } else {
                self.marks.insert(mark.to_string(), pos);
            }
        }
    }

    /// Sets the correct-answer token.
    pub fn with_answer(mut self, id: u32) -> Self {
        self.answer = Some(id);
        self
    }

    /// Sets the first refusal token.
    pub fn with_refusal(mut self, id: u32) -> Self {
        self.refusal = Some(id);
        self
    }

    /// Checks that the probe is usable: non-empty, one label per token, marks inside the prompt.
    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.prompt_len > 0 && self.prompt_len <= self.ids.len(),
            "probe {:?}: prompt length {} for {} tokens (expected 1..={})",
            self.name,
            self.prompt_len,
            self.ids.len(),
            self.ids.len()
        );
        anyhow::ensure!(
            self.tokens.len() == self.ids.len(),
            "probe {:?}: {} token labels for {} tokens",
            self.name,
            self.tokens.len(),
            self.ids.len()
        );
        for (mark, pos) in &self.marks {
            if let Some(p) = pos.iter().find(|&&p| p >= self.ids.len()) {
                anyhow::bail!(
                    "probe {:?}: mark {mark:?} position {p} is past the last token ({})",
                    self.name,
                    self.ids.len() - 1
                );
            }
        }
        Ok(())
    }
}

fn has_digit(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_digit())
}

/// Whether a token's text contains one of [`REFUSAL_WORDS`] (case-insensitive).
pub fn is_refusal_word(s: &str) -> bool {
    let s = s.to_lowercase();
    let s = s.trim();
    !s.is_empty() && REFUSAL_WORDS.iter().any(|w| s.contains(w))
}
