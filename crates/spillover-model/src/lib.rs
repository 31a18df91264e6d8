//! Spillover's transformer runtime: configs, weights (safetensors and GGUF), tokenizers, chat templates,
//! the architectures (GPT-2, Llama, Mistral, Qwen2, Qwen3, Phi-3, OLMo-2, Gemma-2, Gemma-3) and their
//! TransformerLens-style hook points.

pub mod arch;
pub mod attention;
pub mod blocks;
pub mod chat;
pub mod config;
pub mod error;
#[cfg(feature = "test-support")]
pub mod fixtures;
pub mod frozen;
pub mod fused;
pub mod gguf;
pub mod hooks;
pub mod layers;
pub mod linear;
pub mod load;
pub mod lora;
pub mod model;
pub mod packed;
pub mod tiny;
pub mod tokenizer;
pub mod weights;

pub use config::{Arch, ModelConfig};
pub use error::{Error, Result};
pub use hooks::{HookFactory, Hooks};
pub use layers::KvCache;
pub use load::{load, load_header, load_path, LoadOptions, LoadedModel};
pub use model::{FinalNorm, Model, Step};
pub use weights::Weights;
