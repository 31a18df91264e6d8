//! One error type for the runtime. `BadInput` marks problems the user can fix (a missing or corrupt
//! file, an unsupported architecture or quant type, a config key that is absent); the CLI maps it to
//! exit code 2. Everything else is an internal failure.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user's input is wrong: names the file and says what was expected.
    #[error("{}: {msg}", path.display())]
    BadInput { path: PathBuf, msg: String },
    /// A tensor operation failed (shape mismatch inside our own code, out of memory, ...).
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// Anything else that is our fault rather than the user's.
    #[error("{0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn bad_input(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Error::BadInput {
            path: path.as_ref().to_path_buf(),
            msg: msg.into(),
        }
    }

    pub fn internal(msg: impl Into<String>) -> Self {
        Error::Internal(msg.into())
    }
}

impl spillover_errors::UserFixable for Error {
    /// True when the user can fix this by changing their input (exit code 2 in the CLI).
    fn user_can_fix(&self) -> bool {
        matches!(self, Error::BadInput { .. })
    }
}
