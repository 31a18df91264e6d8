//! Fine-tuning for Spillover: LoRA (PEFT-compatible) and full fine-tuning, with a training loop that
//! matches PyTorch's AdamW, masks the loss to the completion, and resumes exactly from checkpoints.
//!
//! Data flow: `data` (JSONL → token ids + loss masks) → `batch` (token-budget micro-batches in a
//! seeded order) → `loss` (masked cross-entropy) → `params` (the trainable tensors) → `adamw` +
//! `schedule` → `trainer` (the loop, checkpoints) → `spillover_model::lora::save_peft`.

pub mod adamw;
pub mod batch;
pub mod bench;
pub mod checkpoint;
pub mod data;
pub mod loss;
pub mod params;
pub mod schedule;
pub mod trainer;

pub use adamw::{AdamW, AdamWConfig};
pub use loss::masked_cross_entropy;
pub use params::Trainable;
