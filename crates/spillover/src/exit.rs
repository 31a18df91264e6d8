//! Exit codes: 0 success, 1 internal failure, 2 bad input (a missing or corrupt file, an unknown
//! model name, an unsupported architecture, a malformed argument) — the user can fix those.

use std::process::ExitCode;

/// An error in the user's input that is not a model or asset error (e.g. an argument out of range).
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Whether any error in the chain is the user's to fix.
pub fn is_bad_input(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<UsageError>().is_some()
            || c.downcast_ref::<spillover_model::Error>()
                .is_some_and(|m| m.is_bad_input())
            || c.downcast_ref::<spillover_data::AssetError>()
                .is_some_and(|a| a.is_bad_input())
            || c.downcast_ref::<spillover_data::datasets::DatasetError>()
                .is_some_and(|d| d.is_bad_input())
            || c.downcast_ref::<spillover_train::data::DataError>()
                .is_some()
            || c.downcast_ref::<spillover_evals::benchmarks::Error>()
                .is_some_and(|b| b.is_bad_input())
            || c.downcast_ref::<spillover_pipeline::ConfigError>()
                .is_some()
            || c.downcast_ref::<spillover_pipeline::RunInUse>().is_some()
            || c.downcast_ref::<spillover_report::ReportError>().is_some()
    })
}

pub fn report(e: &anyhow::Error) -> ExitCode {
    eprintln!("error: {e:#}");
    if is_bad_input(e) {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    }
}
