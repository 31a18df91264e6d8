//! Fine-tuning for Spillover: LoRA (PEFT-compatible) and full fine-tuning, with a training loop that
//! matches PyTorch's AdamW, masks the loss to the completion, and resumes exactly from checkpoints.
//!
//! Data flow: `data` (JSONL → token ids + loss masks) → `batch` (a seeded order; each step's
//! examples padded one per row or packed several per row, in token-budget micro-batches) → `loss`
//! (masked cross-entropy, the vocabulary projection a chunk of positions at a time) → `params`
//! (the trainable tensors) → `adamw` + `schedule` → `trainer` (the loop, checkpoints) →
//! `spillover_model::lora::save_peft`.

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
