//! The Spillover experiment pipeline.
//!
//! ```text
//! experiment.toml ─▶ config ─▶ data (splits, dedup, refusal set)
//!                           ─▶ baseline (benchmarks on the base model; shared between runs)
//!                           ─▶ intervention (per seed) ─▶ after (same benchmarks, same items)
//!                           ─▶ compare (the alignment-tax table) ─▶ tables (items and metrics,
//!                              CSV and Parquet) ─▶ explain (MRI) ─▶ results.json
//! ```
//!
//! Every stage is cached in the run folder by the hash of its inputs ([`rundir`]).

pub mod adapters;
pub mod compare;
pub mod config;
pub mod error;
pub mod experiment;
pub mod interventions;
pub mod judge;
pub mod keys;
pub mod models;
pub mod progress;
pub mod results;
pub mod rundir;
pub mod stages;
pub mod sweep;
pub mod tables;

pub use error::{ConfigError, RunInUse};
pub use experiment::{run, run_dir, RunOptions};

/// Version of the `results.json` schema (docs/results-schema.md); part of every run's hash.
pub const SCHEMA_VERSION: u32 = 1;
