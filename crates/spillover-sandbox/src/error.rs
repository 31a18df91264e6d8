//! The error type of sandbox setup (a failing *program* is an [`crate::Outcome`], not an error).

use std::io;
use std::path::PathBuf;

/// Everything that can stop a [`crate::Sandbox`] from being built, or a HumanEval item from
/// becoming a program. Messages say what to do next.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The kernel lacks something the native sandbox needs (model code never runs without it).
    #[error(
        "the code sandbox needs {feature}, which this system does not provide ({detail}); \
         fix: {fix}. Model-written code is never run unconfined"
    )]
    Unsupported {
        /// What is missing.
        feature: &'static str,
        /// What was observed.
        detail: String,
        /// How to provide it.
        fix: String,
    },
    /// bubblewrap is not installed (or not on PATH) and `SPILLOVER_SANDBOX=bwrap` asked for it.
    #[error(
        "bubblewrap (`bwrap`) was not found on PATH ({searched}); the code sandbox needs it: \
         install Debian's `bubblewrap` package (`apt-get install bubblewrap`), or unset \
         SPILLOVER_SANDBOX to use the built-in sandbox"
    )]
    BwrapMissing {
        /// The PATH that was searched.
        searched: String,
    },
    /// bubblewrap is installed but lacks an option the sandbox relies on.
    #[error(
        "{bwrap} does not support `{option}` ({why}); install a newer bubblewrap \
         (Debian 12's `bubblewrap` 0.8 or later)"
    )]
    BwrapTooOld {
        /// The bwrap binary.
        bwrap: PathBuf,
        /// The missing option.
        option: &'static str,
        /// What the option is needed for.
        why: &'static str,
    },
    /// The Python interpreter could not be run or gave unexpected answers.
    #[error("cannot use python interpreter `{python}`: {reason}")]
    Python {
        /// The interpreter command that was tried.
        python: String,
        /// What went wrong.
        reason: String,
    },
    /// A configuration value is out of range.
    #[error("invalid sandbox config: `{key}` {reason}")]
    Config {
        /// The field of [`crate::SandboxConfig`].
        key: &'static str,
        /// What was expected.
        reason: String,
    },
    /// The trivial self-test program did not run correctly inside the sandbox.
    #[error(
        "the sandbox self-test (`print(6 * 7)`) failed: {reason}; stderr: {stderr:?}. \
         The sandbox needs user namespaces (as non-root: unprivileged ones, \
         sysctl kernel.unprivileged_userns_clone=1 and no AppArmor userns restriction), \
         user.max_user_namespaces > 0, Landlock and seccomp; see docs/sandbox.md"
    )]
    SelfTest {
        /// Why the self-test failed.
        reason: String,
        /// The program's (or bubblewrap's) stderr.
        stderr: String,
    },
    /// An I/O error on the host side, with what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A HumanEval item lacks a field the program needs.
    #[error(
        "HumanEval item `{id}` has no `{key}` field (expected the loader \
         `spillover_data::datasets::humaneval` to provide prompt, test and entry_point)"
    )]
    HumanEvalItem {
        /// The item id.
        id: String,
        /// The missing field.
        key: &'static str,
    },
}

impl SandboxError {
    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

impl spillover_errors::UserFixable for SandboxError {
    /// Whether the user can fix it (a missing kernel feature or tool, a bad setting, a bad
    /// dataset item): every variant except a host I/O error. Command-line tools exit with
    /// status 2 for these.
    fn user_can_fix(&self) -> bool {
        !matches!(self, SandboxError::Io { .. })
    }
}
