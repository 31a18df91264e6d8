//! Applying fine-tuning results (PEFT LoRA folders and full fine-tuning folders): shared with the
//! experiment pipeline, which owns the code.

pub use spillover_pipeline::adapters::{apply, save_trained};
