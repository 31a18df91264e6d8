//! Turning a `--model` value into a loaded model: packaged names are resolved through the asset
//! cache, hub ids through the HF cache, everything else is a tiny model name or a local path.

use crate::cli::{DTypeArg, ModelArgs};
use crate::exit::UsageError;
use anyhow::{Context, Result};
use candle_core::{DType, Device};
use spillover_model::tiny::TINY_MODELS;
use spillover_model::{load, load_path, LoadOptions, LoadedModel};

/// Packaged model names and the asset ids they resolve to.
pub const PACKAGED_MODELS: &[&str] = &["smollm2-135m-instruct", "gemma-3-270m"];

pub fn device(spec: &str) -> Result<Device> {
    match spec {
        "cpu" => Ok(Device::Cpu),
        s if s == "cuda" || s.starts_with("cuda:") => {
            let ordinal = s
                .strip_prefix("cuda:")
                .map_or(Ok(0), str::parse::<usize>)
                .map_err(|_| {
                    UsageError(format!(
                        "--device {s}: expected cuda or cuda:N with N a GPU index"
                    ))
                })?;
            Device::new_cuda(ordinal).with_context(|| {
                format!("--device {s}: CUDA is not available (build with `--features cuda` on a machine with a GPU)")
            })
        }
        other => Err(UsageError(format!("--device {other}: expected cpu, cuda or cuda:N")).into()),
    }
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
    let opts = LoadOptions {
        dtype: dtype(args.dtype),
        device: device(&args.device)?,
    };
    let spec = args.model.as_str();
    if PACKAGED_MODELS.contains(&spec) {
        let asset = spillover_data::resolve(&spillover_data::cache_root(), spec)?;
        return Ok(load_path(&asset.path, &opts)?);
    }
    if let Some(repo) = spec.strip_prefix("hf:") {
        let dir = spillover_data::hub::model_dir(repo)?;
        return Ok(load_path(&dir, &opts)?);
    }
    if TINY_MODELS.contains(&spec) || std::path::Path::new(spec).exists() {
        return Ok(load(spec, &opts)?);
    }
    Err(UsageError(format!(
        "--model {spec:?}: not a packaged model ({}), a tiny model ({}), an existing path, or hf:ORG/NAME",
        PACKAGED_MODELS.join(", "),
        TINY_MODELS.join(", ")
    ))
    .into())
}
