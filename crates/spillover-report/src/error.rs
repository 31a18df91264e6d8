//! Errors the user can fix (the CLI maps them to exit code 2): a missing or corrupt input file, or
//! one whose layout is not the documented schema.

use std::path::{Path, PathBuf};

/// A problem with an input file of the report, naming the file and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The file does not exist or cannot be read.
    #[error("{}: cannot read it ({detail}); {hint}", path.display())]
    Missing {
        path: PathBuf,
        detail: String,
        hint: String,
    },
    /// The file is not valid JSON / JSON Lines, or does not follow the schema.
    #[error("{}{}: {detail}", path.display(), line.map(|l| format!(" line {l}")).unwrap_or_default())]
    Corrupt {
        path: PathBuf,
        /// 1-based line, when known.
        line: Option<usize>,
        detail: String,
    },
    /// A bad argument (e.g. no run folders to compare).
    #[error("{0}")]
    Usage(String),
}

impl ReportError {
    /// A missing file, with what to do about it.
    pub fn missing(path: &Path, err: &std::io::Error, hint: &str) -> Self {
        ReportError::Missing {
            path: path.to_path_buf(),
            detail: err.to_string(),
            hint: hint.to_string(),
        }
    }

    /// A file whose content is wrong.
    pub fn corrupt(path: &Path, line: Option<usize>, detail: impl std::fmt::Display) -> Self {
        ReportError::Corrupt {
            path: path.to_path_buf(),
            line,
            detail: detail.to_string(),
        }
    }
}

impl spillover_errors::UserFixable for ReportError {
    /// Always: a missing or corrupt input file, or a bad argument.
    fn user_can_fix(&self) -> bool {
        true
    }
}
