//! The benchmarks' error type: bad input (an item without a gold answer, an unknown benchmark
//! name, a bad option) is told apart from failures of the machine (the model, the judge).

use spillover_errors::UserFixable;

/// Everything that can go wrong while running a benchmark.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller's input is wrong: an item lacks a field the benchmark scores against, an
    /// option is out of range, a name is unknown. The message says what was expected.
    #[error("{0}")]
    BadInput(String),
    /// Loading a dataset failed.
    #[error(transparent)]
    Dataset(#[from] spillover_data::datasets::DatasetError),
    /// The model runtime failed (tokenizer, chat template).
    #[error(transparent)]
    Model(#[from] spillover_model::Error),
    /// A forward pass failed. (The message includes the cause, so it is not also a `source`:
    /// an error chain printed with `{:#}` would say it twice.)
    #[error("running the model: {0}")]
    Engine(candle_core::Error),
    /// The refusal judge failed (the message includes the cause, as for `Engine`).
    #[error("refusal judge: {0}")]
    Judge(crate::judge::Error),
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Engine(e)
    }
}

impl From<crate::judge::Error> for Error {
    fn from(e: crate::judge::Error) -> Self {
        Error::Judge(e)
    }
}

impl UserFixable for Error {
    /// True when the user can fix it (bad items, options, files or names).
    fn user_can_fix(&self) -> bool {
        match self {
            Error::BadInput(_) => true,
            Error::Dataset(e) => e.user_can_fix(),
            Error::Model(e) => e.user_can_fix(),
            Error::Judge(e) => e.user_can_fix(),
            Error::Engine(_) => false,
        }
    }
}

impl Error {
    /// A bad-input error for item `id`: `what` says what was expected.
    pub(crate) fn item(id: &str, what: impl std::fmt::Display) -> Error {
        Error::BadInput(format!("item {id}: {what}"))
    }
}

/// The benchmarks' result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #22, case 5: `eval --bench perplexity` on tiny-gpt2 printed its message twice (the
    /// cause was both in the message and the error's source).
    #[test]
    fn an_engine_error_says_its_cause_once() {
        let e = Error::from(candle_core::Error::msg("window too large"));
        let text = e.to_string(); // candle may append a backtrace (RUST_BACKTRACE)
        assert!(
            text.starts_with("running the model: window too large"),
            "{text}"
        );
        assert_eq!(text.matches("window too large").count(), 1, "{text}");
        assert!(std::error::Error::source(&e).is_none());
    }
}
