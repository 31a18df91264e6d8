//! Paired statistics for before/after comparisons on the same items.
//!
//! - [`wilson`]: score intervals for a rate (refusal rate, accuracy).
//! - [`mcnemar_exact`]: exact McNemar test for paired binary outcomes.
//! - [`paired_bootstrap`]: percentile intervals for a statistic of paired continuous metrics
//!   (mean log-prob difference, KL, perplexity ratio), seeded and reproducible.
//! - [`paired_permutation`]: sign-flip permutation p-values for paired continuous metrics.
//! - [`holm`]: Holm–Bonferroni adjusted p-values across the metrics of one report.
//! - [`newcombe_paired`]: Newcombe's hybrid score interval for a paired change of rate, and the
//!   p-value that inverts it.
//! - [`SignFlip`]: the sign-flip test of a shift and the interval that inverts it.
//! - [`tost`]: equivalence by two one-sided tests.
//! - [`mde_paired_binary`], [`mde_paired_continuous`]: minimum detectable effects at a power.
//! - [`stuart_maxwell`]: marginal homogeneity of a 3 × 3 before × after table.
//! - [`aggregate_seeds`]: mean, sample sd and per-seed values over training seeds.
//! - [`Hierarchical`], [`stratified_sign_flip`]: the across-seed change with a seed × item
//!   bootstrap interval and a test stratified by seed.
//! - [`level`]: one model's mean of a metric with its interval (Wilson or bootstrap).
//! - [`uniform`], [`normal`], [`gamma`], [`dirichlet`]: draws for parametric bootstraps.

mod bootstrap;
mod draws;
mod hierarchical;
mod holm;
mod level;
mod mcnemar;
mod newcombe;
mod normal;
mod permutation;
mod power;
mod seeds;
mod signflip;
mod stuart_maxwell;
mod tost;
mod wilson;

pub(crate) use bootstrap::quantile;
pub use bootstrap::{mean_difference, paired_bootstrap, BootstrapOptions, MIN_RESAMPLES};
pub use draws::{dirichlet, gamma, normal, uniform};
pub use hierarchical::{stratified_sign_flip, Hierarchical, SeedSample};
pub use holm::{holm, holm_reject};
pub use level::{level, Level};
pub use mcnemar::{binomial_two_sided, mcnemar_exact, mcnemar_paired, McNemar};
pub use newcombe::{newcombe_p_value, newcombe_paired, PairedTable};
pub use normal::{erfc, normal_cdf, normal_quantile};
pub use permutation::{paired_permutation, EXACT_MAX};
pub use power::{mde_paired_binary, mde_paired_continuous, power_paired_binary};
pub use seeds::{aggregate_seeds, SeedSummary};
pub use signflip::SignFlip;
/// The bootstraps' and permutation tests' generator (xoshiro256** seeded through SplitMix64),
/// from the workspace's one home for seeded generators.
pub use spillover_core::rng::Xoshiro256 as Rng;
pub use stuart_maxwell::{stuart_maxwell, StuartMaxwell};
pub use tost::{tost, Tost};
pub use wilson::wilson;

/// A point estimate with a two-sided interval. JSON writes non-finite numbers as null; reading
/// back, a null `lo` is −∞, a null `hi` +∞ (an unbounded side) and a null `estimate` NaN.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Interval {
    #[serde(deserialize_with = "nan_if_null")]
    pub estimate: f64,
    #[serde(deserialize_with = "minus_inf_if_null")]
    pub lo: f64,
    #[serde(deserialize_with = "inf_if_null")]
    pub hi: f64,
    /// Confidence level, e.g. 0.95.
    pub confidence: f64,
}

/// Reads a number written by serde_json, where NaN became null.
pub fn nan_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(<Option<f64> as serde::Deserialize>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn minus_inf_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(<Option<f64> as serde::Deserialize>::deserialize(d)?.unwrap_or(f64::NEG_INFINITY))
}

fn inf_if_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(<Option<f64> as serde::Deserialize>::deserialize(d)?.unwrap_or(f64::INFINITY))
}

impl Interval {
    /// Whether `x` lies in `[lo, hi]`.
    pub fn contains(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }
}

/// Inputs the statistics cannot work with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    #[error("no observations")]
    Empty,
    #[error("{successes} successes out of {n} trials")]
    TooManySuccesses { successes: u64, n: u64 },
    #[error("paired samples differ in length: {before} before, {after} after")]
    LengthMismatch { before: usize, after: usize },
    #[error("confidence {0} is not strictly between 0 and 1")]
    BadConfidence(f64),
    #[error("{0} bootstrap resamples; at least {MIN_RESAMPLES} are needed for stable 95% tails")]
    TooFewResamples(usize),
    #[error("a p-value of {0} is not in [0, 1]")]
    BadPValue(f64),
    #[error("{0} random sign flips; at least {MIN_RESAMPLES} are needed for a stable p-value")]
    TooFewFlips(usize),
    #[error("a non-finite value ({0}) among the observations")]
    NonFinite(f64),
    #[error("item {0} appears twice in one sample")]
    DuplicateItem(String),
}

fn check_confidence(c: f64) -> Result<(), StatsError> {
    if c > 0.0 && c < 1.0 {
        Ok(())
    } else {
        Err(StatsError::BadConfidence(c))
    }
}

/// Paired samples: the same non-zero length, every value finite.
pub(crate) fn check_paired(before: &[f64], after: &[f64]) -> Result<(), StatsError> {
    if before.len() != after.len() {
        return Err(StatsError::LengthMismatch {
            before: before.len(),
            after: after.len(),
        });
    }
    if before.is_empty() {
        return Err(StatsError::Empty);
    }
    if let Some(v) = before.iter().chain(after).find(|v| !v.is_finite()) {
        return Err(StatsError::NonFinite(*v));
    }
    Ok(())
}
