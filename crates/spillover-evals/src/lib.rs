//! Spillover's evaluations.
//!
//! - [`judge`]: is a response a refusal, a compliance, or degenerate text? A transparent
//!   keyword/prefix judge and a learned judge (all-MiniLM-L6-v2 embeddings in candle + a small
//!   multinomial logistic regression trained on human labels), with agreement/kappa evaluation.
//! - [`stats`]: Wilson intervals, the exact McNemar test, paired bootstrap intervals,
//!   Holm–Bonferroni correction and aggregation over training seeds.
//!
//! - [`benchmarks`]: the measurements (refusal, over-refusal, arithmetic, GSM8K, HumanEval, MMLU,
//!   perplexity, KL, diversity): items → prompt → engine → extraction → score, one record per
//!   item. Refusal benchmarks use a [`judge`]; HumanEval runs code in `spillover-sandbox`.
//!
//! `judge` and `stats` are independent of each other.

pub mod benchmarks;
pub mod judge;
pub mod stats;
