//! Errors the user can fix (exit code 2): a malformed or inconsistent experiment, a run folder in
//! use, data that cannot make the requested splits.

use std::fmt;

/// A problem with the experiment's input, naming where it is.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {message}")]
pub struct ConfigError {
    /// The file, key or flag at fault.
    pub origin: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(origin: impl fmt::Display, message: impl fmt::Display) -> Self {
        ConfigError {
            origin: origin.to_string(),
            message: message.to_string(),
        }
    }
}

/// Another process holds the run folder.
#[derive(Debug, thiserror::Error)]
#[error("{path} is in use by another spillover process (lock file {path}/.lock); wait for it to finish or use another --runs-dir")]
pub struct RunInUse {
    pub path: String,
}

impl spillover_errors::UserFixable for ConfigError {
    /// Always: the experiment file, a key or a flag is at fault.
    fn user_can_fix(&self) -> bool {
        true
    }
}

impl spillover_errors::UserFixable for RunInUse {
    /// Always: wait for the other process or choose another folder.
    fn user_can_fix(&self) -> bool {
        true
    }
}
