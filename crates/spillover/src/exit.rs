//! Exit codes: 0 success, 1 internal failure, 2 bad input (a missing or corrupt file, an unknown
//! model name, an unsupported architecture, a malformed argument, a missing sandbox feature) — the
//! user can fix those. Every error type says which it is through [`UserFixable`]; here the whole
//! error chain is walked.

use std::process::ExitCode;

use spillover_errors::{probe, Probe, UserFixable};

/// An error in the user's input that is not a model or asset error (e.g. an argument out of range).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

impl UserFixable for UsageError {
    fn user_can_fix(&self) -> bool {
        true
    }
}

/// Every error type of the workspace, each asked through [`UserFixable`].
const PROBES: &[Probe] = &[
    probe::<UsageError>,
    probe::<spillover_model::Error>,
    probe::<spillover_data::AssetError>,
    probe::<spillover_data::datasets::DatasetError>,
    probe::<spillover_train::data::DataError>,
    probe::<spillover_evals::benchmarks::Error>,
    probe::<spillover_evals::judge::Error>,
    probe::<spillover_sandbox::SandboxError>,
    probe::<spillover_pipeline::ConfigError>,
    probe::<spillover_pipeline::RunInUse>,
    probe::<spillover_report::ReportError>,
];

/// Whether any error in the chain is the user's to fix.
pub fn is_bad_input(e: &anyhow::Error) -> bool {
    spillover_errors::chain_is_user_fixable(e.as_ref(), PROBES)
}

pub fn report(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    if is_bad_input(e) {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}
