//! Turning a `--model` value into a loaded model: packaged names are resolved through the asset
//! cache, hub ids through the HF cache, everything else is a tiny model name or a local path.

use crate::cli::{DTypeArg, ModelArgs};
use anyhow::Result;
use candle_core::{DType, Device};
use spillover_model::LoadedModel;

pub fn device(spec: &str) -> Result<Device> {
    spillover_pipeline::models::device(spec, "--device")
}

pub fn dtype(d: DTypeArg) -> DType {
    match d {
        DTypeArg::F32 => DType::F32,
        DTypeArg::Bf16 => DType::BF16,
        DTypeArg::F16 => DType::F16,
    }
}

/// Loads the model named by `args.model` and applies `args.adapter` when given.
pub fn load_model(args: &ModelArgs) -> Result<LoadedModel> {
    let mut lm = load_base(args)?;
    if let Some(dir) = &args.adapter {
        crate::adapters::apply(&mut lm.model, dir)?;
    }
    Ok(lm)
}

fn load_base(args: &ModelArgs) -> Result<LoadedModel> {
    spillover_pipeline::models::load_model(&args.model, dtype(args.dtype), &device(&args.device)?)
}
