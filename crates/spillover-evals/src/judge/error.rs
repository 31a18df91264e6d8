//! The judge's error type. Messages name the file, line and column where the input is wrong.

use spillover_errors::UserFixable;
use std::path::{Path, PathBuf};

/// Everything that can go wrong while loading data, models or heads, or running the judge.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A malformed or unexpected value in an input file, at a 1-based line (and column).
    #[error("{}:{line}{}: {msg}", path.display(), column.as_ref().map(|c| format!(": column {c}")).unwrap_or_default())]
    BadFile {
        path: PathBuf,
        line: usize,
        /// The column, as `N (name)` or `N` (1-based), when the problem is in one field.
        column: Option<String>,
        msg: String,
    },
    /// A column asked for on the command line is not in the file's header.
    #[error("{}:{line}: no column named {column:?} in the header; the columns are: {}", path.display(), header.join(", "))]
    MissingColumn {
        path: PathBuf,
        line: usize,
        column: String,
        header: Vec<String>,
    },
    /// A bad argument (label map, option value, ...).
    #[error("{0}")]
    BadArgument(String),
    /// A file could not be read or written.
    #[error("{}: {cause}", path.display())]
    Io {
        path: PathBuf,
        cause: std::io::Error,
    },
    /// A judge head file that is not a valid head.
    #[error("{what}: not a valid judge head: {msg}")]
    BadHead { what: String, msg: String },
    /// The encoder's files are unusable (tokenizer, config, weights).
    #[error("{}: {msg}", path.display())]
    BadModel { path: PathBuf, msg: String },
    /// A failure inside the tensor library while running the encoder.
    #[error("running the sentence encoder: {0}")]
    Candle(#[from] candle_core::Error),
    /// An asset could not be resolved.
    #[error(transparent)]
    Asset(#[from] spillover_data::AssetError),
    /// The learned judge could not be built (its encoder is missing or unusable, or the head does
    /// not fit it). Never replaced by the keyword judge behind the user's back.
    #[error(
        "the learned refusal judge cannot be loaded: {cause}\nFetch its encoder with `spillover \
         fetch all-minilm-l6-v2`, or choose the keyword judge explicitly (`--judge keyword`, or \
         `[judge] kind = \"keyword\"` in an experiment file)."
    )]
    LearnedUnavailable { cause: Box<Error> },
}

impl UserFixable for Error {
    /// True when the user can fix it (a bad file, column, argument or asset request).
    fn user_can_fix(&self) -> bool {
        match self {
            Error::BadFile { .. }
            | Error::MissingColumn { .. }
            | Error::BadArgument(_)
            | Error::Io { .. }
            | Error::BadHead { .. }
            | Error::BadModel { .. } => true,
            Error::Asset(a) => a.user_can_fix(),
            // The user can fetch the encoder or choose the keyword judge.
            Error::LearnedUnavailable { .. } => true,
            Error::Candle(_) => false,
        }
    }
}

impl Error {
    pub(crate) fn io(path: &Path, cause: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            cause,
        }
    }

    pub(crate) fn bad_file(path: &Path, line: usize, column: Option<String>, msg: String) -> Self {
        Error::BadFile {
            path: path.to_path_buf(),
            line,
            column,
            msg,
        }
    }
}

/// The judge's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
