//! The refusal judge: refusal, compliance or degenerate.
//!
//! - [`KeywordJudge`]: degenerate-text rules and refusal phrases, every one listed.
//! - [`LearnedJudge`]: all-MiniLM-L6-v2 embeddings ([`minilm`]) + text features through a small
//!   multinomial logistic regression ([`head::Head`]) trained on human labels ([`train`]).
//! - [`make_judge`]: the one factory every command and stage builds its judge with.
//! - [`audit`], [`audit_page`], [`calibrate`]: a stratified sample of a run's judged replies for a
//!   person to label, and the judge's error rates and corrected refusal rates from those labels.
//! - [`eval`]: agreement, Cohen's kappa and confusion matrices against human labels;
//!   [`validate`]: leave-one-model-out validation (the numbers in `docs/judge.md`).

pub mod audit;
pub mod audit_page;
pub mod calibrate;
mod csv;
pub mod data;
mod error;
pub mod eval;
mod factory;
pub mod features;
pub mod featurize;
pub mod head;
pub mod keyword;
pub mod learned;
pub mod locate;
pub mod logreg;
pub mod minilm;
pub mod phrases;
pub mod sentences;
pub mod synth;
pub mod train;
pub mod validate;
mod verdict;

pub use error::{Error, Result};
pub use factory::{make_judge, refusal_flags, BoxJudge, JudgeKind};
pub use keyword::KeywordJudge;
pub use learned::LearnedJudge;
pub use verdict::{Label, RefusalJudge, Verdict};
