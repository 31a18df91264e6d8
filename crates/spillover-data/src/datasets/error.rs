//! The error type of the dataset loaders, splits and training-set writers.

use std::io;
use std::path::{Path, PathBuf};

use crate::AssetError;

/// A boxed error from a caller-supplied function (e.g. the base model's generation).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong while loading, splitting or writing datasets.
///
/// Messages name the file and, where it makes sense, the line (1-based), so `{}` alone tells a
/// user what to fix.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// Resolving a packaged asset failed (unknown id, offline, bad pin, ...).
    #[error(transparent)]
    Asset(#[from] AssetError),
    /// A file or folder could not be read or written.
    #[error("I/O error on {}: {cause}", path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The OS error.
        cause: io::Error,
    },
    /// The file has no data rows at all.
    #[error("{}: the file is empty (no data rows)", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The file is not valid UTF-8.
    #[error("{}:{line}: invalid UTF-8 (byte offset {offset}); save the file as UTF-8", path.display())]
    BadUtf8 {
        /// The file.
        path: PathBuf,
        /// Line of the first invalid byte.
        line: usize,
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// The requested column or key does not exist.
    #[error(
        "{}:{line}: no column `{column}`; available: {}",
        path.display(),
        if available.is_empty() { "(none)".to_string() } else { available.join(", ") }
    )]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The header line (CSV) or the row (JSONL) that lacks it.
        line: usize,
        /// The column that was asked for.
        column: String,
        /// The columns that do exist there.
        available: Vec<String>,
    },
    /// A row that cannot be parsed or lacks a usable value.
    #[error("{}:{line}: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line of the row.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A file as a whole does not have the expected shape (missing markers, wrong count, ...).
    #[error("{}: {reason}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A parameter that cannot be satisfied (more items than the pool holds, bad ratio, ...).
    #[error("{0}")]
    Config(String),
    /// The caller-supplied generation function failed or misbehaved.
    #[error("generating benign answers failed: {0}")]
    Generation(BoxError),
}

impl DatasetError {
    /// True when the input (a file, a column mapping, a parameter) is at fault rather than the
    /// machine, so a CLI can exit with status 2.
    pub fn is_bad_input(&self) -> bool {
        match self {
            DatasetError::Asset(e) => e.is_bad_input(),
            DatasetError::Io { cause, .. } => cause.kind() == io::ErrorKind::NotFound,
            DatasetError::Empty { .. }
            | DatasetError::BadUtf8 { .. }
            | DatasetError::MissingColumn { .. }
            | DatasetError::Malformed { .. }
            | DatasetError::BadFile { .. }
            | DatasetError::Config(_) => true,
            DatasetError::Generation(_) => false,
        }
    }

    /// Wraps an error of the caller's generation function.
    pub fn generation(e: impl Into<BoxError>) -> Self {
        DatasetError::Generation(e.into())
    }

    /// A malformed row at `line` of `path`.
    pub(crate) fn malformed(path: &Path, line: usize, reason: impl Into<String>) -> Self {
        DatasetError::Malformed {
            path: path.to_path_buf(),
            line,
            reason: reason.into(),
        }
    }

    /// A whole-file problem.
    pub(crate) fn bad_file(path: &Path, reason: impl Into<String>) -> Self {
        DatasetError::BadFile {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// An I/O error on `path`.
    pub(crate) fn io(path: &Path, cause: io::Error) -> Self {
        DatasetError::Io {
            path: path.to_path_buf(),
            cause,
        }
    }
}

/// Shorthand for results of the dataset layer.
pub type Result<T, E = DatasetError> = std::result::Result<T, E>;
