//! The architectures. GPT-2 has its own module; every other one is the shared `decoder::Decoder`
//! with its `layout::Layout` (which norms, q/k norms, biases, fused projections). Each takes its
//! tensors by HF name from `Weights` and runs a forward pass over a `Step` (new tokens + their
//! positions + which keys are valid), optionally with a KV cache and hooks, returning the final
//! normalized hidden states.

pub mod decoder;
pub mod gpt2;
pub mod layout;
