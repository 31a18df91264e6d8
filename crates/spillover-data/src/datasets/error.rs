//! The error type of the dataset loaders, splits and training-set writers.

use spillover_errors::UserFixable;
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
    /// A hub dataset file is not in the local Hugging Face cache and the hub cannot be reached.
    #[error(
        "{spec} is not in the local Hugging Face cache ({}) and the hub could not be reached \
         ({cause}). Pass a local file instead, e.g. {example}; or run `spillover fetch {spec}` on \
         a machine with internet access and copy its Hugging Face cache folder here",
        cache.display()
    )]
    HubUnreachable {
        /// The hub file, `hf:ORG/NAME/PATH`.
        spec: String,
        /// The HF cache folder that was looked in (`$HF_HOME/hub`).
        cache: PathBuf,
        /// What the connection attempt reported.
        cause: String,
        /// A local file with the same data, or a description of one.
        example: String,
    },
    /// The hub answered but has no such file, or refused access to it.
    #[error("{spec}: {reason}")]
    HubRefused {
        /// The hub file, `hf:ORG/NAME/PATH`.
        spec: String,
        /// What the hub said, with what to check.
        reason: String,
    },
    /// A download from the hub broke off or gave a damaged file; nothing of it was kept.
    #[error("downloading {spec} failed: {cause}; nothing of it was kept in the cache, try again")]
    HubDownload {
        /// The hub file, `hf:ORG/NAME/PATH`.
        spec: String,
        /// What went wrong.
        cause: String,
    },
    /// The caller-supplied generation function failed or misbehaved.
    #[error("generating benign answers failed: {0}")]
    Generation(BoxError),
}

impl UserFixable for DatasetError {
    /// True when the input (a file, a column mapping, a parameter) is at fault rather than the
    /// machine, so a CLI can exit with status 2.
    fn user_can_fix(&self) -> bool {
        match self {
            DatasetError::Asset(e) => e.user_can_fix(),
            DatasetError::Io { cause, .. } => cause.kind() == io::ErrorKind::NotFound,
            DatasetError::Empty { .. }
            | DatasetError::BadUtf8 { .. }
            | DatasetError::MissingColumn { .. }
            | DatasetError::Malformed { .. }
            | DatasetError::BadFile { .. }
            | DatasetError::Config(_)
            | DatasetError::HubUnreachable { .. }
            | DatasetError::HubRefused { .. } => true,
            DatasetError::HubDownload { .. } | DatasetError::Generation(_) => false,
        }
    }
}

impl DatasetError {
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
