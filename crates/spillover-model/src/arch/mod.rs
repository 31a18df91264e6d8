//! One readable module per architecture. Each takes its tensors by HF name from `Weights` and runs a
//! forward pass over a `Step` (new tokens + their positions + which keys are valid), optionally with a
//! KV cache and hooks, returning the final normalized hidden states.

pub mod gemma3;
pub mod gpt2;
pub mod llama;
