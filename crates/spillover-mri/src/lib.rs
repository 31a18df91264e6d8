//! Spillover's MRI: mechanistic analysis of what a safety intervention changed in a model.
//!
//! Interventions: difference-in-means refusal directions ([`direction`]), steering and directional
//! ablation as hooks ([`steer`]), and the same ablation baked into the weights ([`orthogonalize`]).
//!
//! Analyses, each on the base and the tuned model over the same tokens: attention maps and per-head
//! change scores ([`attention`]), direct logit attribution ([`attribution`]), activation patching
//! ([`patching`]), the refusal direction against the weight update ([`direction_analysis`]), causal
//! validation ([`validate`]); [`pipeline::mri`] runs them all, [`findings`] draws the conclusions and
//! [`export`] writes JSON + safetensors.

pub mod attention;
pub mod attribution;
pub mod claims;
pub mod direction;
pub mod direction_analysis;
pub mod export;
pub mod findings;
pub mod linalg;
pub mod orthogonalize;
pub mod patching;
pub mod pipeline;
pub mod prepare;
pub mod probe;
pub mod rng;
pub mod steer;
pub mod subject;
pub mod validate;

pub use direction::{diff_in_means, unit, Directions};
pub use orthogonalize::orthogonalize;
pub use pipeline::{mri, MriInputs, MriOptions, MriResult};
pub use steer::{ablate_hooks, actadd_hooks};
