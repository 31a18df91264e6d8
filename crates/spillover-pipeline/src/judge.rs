//! The refusal judge named by the experiment.

use crate::config::JudgeKind;
use crate::error::ConfigError;
use anyhow::Result;
use spillover_errors::UserFixable;
use spillover_evals::judge::{
    head::Head, locate, minilm, KeywordJudge, LearnedJudge, RefusalJudge,
};

/// A boxed judge; sendable so stages may run on other threads.
pub type BoxJudge = Box<dyn RefusalJudge + Send + Sync>;

/// Builds the judge: `keyword`, or `learned` (the packaged MiniLM encoder + the committed head).
pub fn make_judge(kind: JudgeKind) -> Result<BoxJudge> {
    Ok(match kind {
        JudgeKind::Keyword => Box::new(KeywordJudge::default()),
        JudgeKind::Learned => {
            let dir = locate::resolve_asset(&spillover_data::cache_root(), minilm::ASSET_ID)
                .map_err(|e| user(e, "judge.kind = \"learned\""))?;
            let encoder = minilm::MiniLm::load(&dir, &candle_core::Device::Cpu)
                .map_err(|e| user(e, minilm::ASSET_ID))?;
            Box::new(
                LearnedJudge::new(encoder, Head::bundled()).map_err(|e| user(e, "judge head"))?,
            )
        }
    })
}

fn user(e: spillover_evals::judge::Error, what: &str) -> anyhow::Error {
    if e.user_can_fix() {
        ConfigError::new(what, e).into()
    } else {
        anyhow::Error::new(e).context(what.to_string())
    }
}
