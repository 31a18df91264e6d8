//! Generation and scoring on top of the model runtime: left-padded batches, a KV cache, per-sequence
//! stopping with finished rows leaving the batch, and per-token log-likelihoods.

pub mod generate;
pub mod score;

pub use generate::{generate, FinishReason, GenerateOptions, Generation};
pub use score::{token_logprobs, top_k_next};
