//! Generation and scoring on top of the model runtime: left-padded batches within a token budget,
//! a preallocated KV cache, greedy and seeded sampling with stop ids / stop strings (finished rows
//! leave the batch), log-likelihoods with shared-context reuse and greedy flags, rolling
//! log-likelihoods for perplexity, and the engine benchmark.

pub mod batching;
pub mod bench;
pub mod generate;
pub mod loglik;
mod prefill_plan;
pub mod rolling;
pub mod sampling;
pub mod score;
pub mod stop;
pub mod threads;

pub use batching::{Batching, DEFAULT_TOKEN_BUDGET};
pub use generate::{generate, FinishReason, GenerateOptions, Generation, Generator};
pub use loglik::{loglikelihood, Loglik, LoglikOptions, LoglikRequest};
pub use rolling::{rolling_loglikelihood, rolling_requests, RollingOptions, RollingScore};
pub use sampling::{Rng, Sampling};
pub use score::{check_context, token_logprobs, top_k_next};
pub use stop::{truncate_at_stop, Decode};
