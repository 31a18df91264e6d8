//! Stop strings: a sequence ends once its decoded text contains one of them. Only the tail of the
//! new tokens is decoded at each step (enough tokens to spell the longest stop string, since every
//! token adds at least one byte), so checking stays cheap on long generations.

/// Turns token ids into text (usually the tokenizer's decode without special tokens).
pub type Decode<'a> = dyn Fn(&[u32]) -> String + Sync + 'a;

pub struct StopStrings<'a> {
    strings: Vec<String>,
    decode: &'a Decode<'a>,
    tail: usize,
}

impl<'a> StopStrings<'a> {
    pub fn new(strings: Vec<String>, decode: &'a Decode<'a>) -> Self {
        let longest = strings.iter().map(String::len).max().unwrap_or(0);
        StopStrings {
            strings: strings.into_iter().filter(|s| !s.is_empty()).collect(),
            decode,
            tail: longest + 4,
        }
    }

    /// Index of the first stop string found in the decoded tail of `ids`.
    pub fn find(&self, ids: &[u32]) -> Option<usize> {
        if self.strings.is_empty() || ids.is_empty() {
            return None;
        }
        let text = (self.decode)(&ids[ids.len().saturating_sub(self.tail)..]);
        self.strings.iter().position(|s| text.contains(s.as_str()))
    }
}

/// `text` cut before the first occurrence of any stop string (lm-evaluation-harness's `until`).
pub fn truncate_at_stop<'t>(text: &'t str, stops: &[String]) -> &'t str {
    let cut = stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|s| text.find(s.as_str()))
        .min()
        .unwrap_or(text.len());
    &text[..cut]
}
