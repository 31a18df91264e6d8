//! The experiment configuration: one TOML file (or none, for the default experiment), `--set`
//! overrides, a profile that sizes the benchmarks, and the fully resolved result that is written
//! into the run folder and hashed to name it.
//!
//! ```text
//! experiment.toml ─parse─▶ toml::Table ─--set a.b=v─▶ Table ─serde (unknown keys → error)─▶ Experiment
//!                                                               ─resolve (profile, defaults)─▶ Resolved
//! ```

mod benchmarks;
mod keys;
mod overrides;
mod paths;
mod profile;
mod resolve;
mod sections;

pub use benchmarks::Benchmarks;
pub use overrides::apply_override;
pub use paths::{check_inputs, is_model_path, spec_file};
pub use profile::{Profile, ProfileSizes};
pub use resolve::{DEFAULT_ALPHA, DEFAULT_DIRECTION_PROMPTS};
pub use sections::{
    benchmark_names, AnalysisSection, BenchSection, DataSection, Experiment, InterventionKind,
    InterventionSection, JudgeKind, JudgeSection, Margin, ModelSection, ReplyChoice, StatsSection,
};

use crate::error::ConfigError;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::Path;

/// The default experiment, as a commented TOML file (also `examples/default.toml`).
pub const DEFAULT_EXPERIMENT: &str = include_str!("../../../../examples/default.toml");

/// Reads an experiment file (or the default one when `path` is None), applies `overrides`
/// (`a.b=value`, in order) and checks every key. Relative dataset paths in the file are read
/// from the file's folder.
pub fn load(path: Option<&Path>, overrides: &[String]) -> Result<Experiment, ConfigError> {
    load_edited(path, overrides, |_| {})
}

/// [`load`], with `edit` applied to the file's table after its relative paths are read from its
/// folder and before the overrides (`spillover compare` sets the base model and replaces the
/// file's `[intervention]` this way).
pub fn load_edited(
    path: Option<&Path>,
    overrides: &[String],
    edit: impl FnOnce(&mut toml::Table),
) -> Result<Experiment, ConfigError> {
    let (origin, text) = match path {
        Some(p) => (
            p.display().to_string(),
            spillover_data::datasets::read_text(p).map_err(|e| ConfigError::new(p.display(), e))?,
        ),
        None => (
            "<default experiment>".to_string(),
            DEFAULT_EXPERIMENT.to_string(),
        ),
    };
    let text = text.as_str();
    let base = path.map(|p| {
        let dir = p.parent().unwrap_or(Path::new(""));
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
    });
    parse_in(&origin, text, overrides, base.as_deref(), edit)
}

/// Parses experiment TOML text; `origin` names it in errors. Relative dataset paths stay
/// relative to the current directory (see [`load`] for files).
pub fn parse(origin: &str, text: &str, overrides: &[String]) -> Result<Experiment, ConfigError> {
    parse_in(origin, text, overrides, None, |_| {})
}

/// [`parse`], with the relative dataset paths of `text` anchored at `base`, then `edit` applied.
fn parse_in(
    origin: &str,
    text: &str,
    overrides: &[String],
    base: Option<&Path>,
    edit: impl FnOnce(&mut toml::Table),
) -> Result<Experiment, ConfigError> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::new(origin, e))?;
    let before = table.clone();
    if let Some(dir) = base {
        paths::anchor(&mut table, dir);
    }
    edit(&mut table);
    let anchored = table != before;
    for o in overrides {
        apply_override(&mut table, o)?;
    }
    let from_overrides = !overrides.is_empty();
    if anchored && !from_overrides {
        // Errors of the file itself, with the file's line numbers.
        toml::from_str::<Experiment>(text).map_err(|e| keys::explain(origin, text, e, false))?;
    }
    // Deserialise from text so errors carry a line: the file itself, or the merged table.
    let merged;
    let source = if from_overrides || anchored {
        merged = toml::to_string(&table).map_err(|e| ConfigError::new(origin, e))?;
        merged.as_str()
    } else {
        text
    };
    let exp: Experiment =
        toml::from_str(source).map_err(|e| keys::explain(origin, source, e, from_overrides))?;
    exp.validate().map_err(|m| ConfigError::new(origin, m))?;
    Ok(exp.resolved())
}

/// A stable hex digest of any serialisable value (canonical JSON, sha256).
pub fn digest<T: Serialize + ?Sized>(value: &T) -> String {
    let json = serde_json::to_vec(value).expect("config values serialise");
    let mut h = Sha256::new();
    h.update(&json);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
