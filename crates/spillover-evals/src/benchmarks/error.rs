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
    /// A forward pass failed.
    #[error("running the model: {0}")]
    Engine(#[from] candle_core::Error),
    /// The refusal judge failed.
    #[error("refusal judge: {0}")]
    Judge(#[from] crate::judge::Error),
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
