//! Writing the MRI's results: one JSON summary and one safetensors file of named f32 tensors
//! (attention maps, attribution and patching heatmaps, directions), both readable from Python
//! (`json.load`, `safetensors.numpy.load_file`). Files are written to a temporary name and renamed,
//! so a crash never leaves a half-written result.

use anyhow::{ensure, Context, Result};
use candle_core::{DType, Device, Tensor};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// File name of the JSON summary inside the output folder.
pub const SUMMARY_FILE: &str = "mri.json";
/// File name of the tensors inside the output folder.
pub const TENSORS_FILE: &str = "mri.safetensors";

/// Named tensors to export (names like `arithmetic.attn.base`, `direction.base`).
pub type Tensors = BTreeMap<String, Tensor>;

/// Writes `summary` as `dir/mri.json` and `tensors` (as contiguous f32 on the CPU) as
/// `dir/mri.safetensors`, creating `dir`.
pub fn write_outputs(dir: &Path, summary: &impl Serialize, tensors: &Tensors) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut cpu = HashMap::with_capacity(tensors.len());
    for (name, t) in tensors {
        ensure!(!name.is_empty(), "a tensor to export has an empty name");
        let t = t
            .to_device(&Device::Cpu)?
            .to_dtype(DType::F32)?
            .contiguous()?;
        cpu.insert(name.clone(), t);
    }
    spillover_model::weights::write_safetensors(&dir.join(TENSORS_FILE), &cpu)?;
    let json = serde_json::to_string_pretty(summary)?;
    let path = dir.join(SUMMARY_FILE);
    spillover_core::fs::write_atomic(&path, json.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// A [rows, cols] f32 tensor from equal-length rows.
pub fn matrix(rows: &[Vec<f32>]) -> Result<Tensor> {
    let cols = rows.first().map_or(0, Vec::len);
    ensure!(
        rows.iter().all(|r| r.len() == cols),
        "matrix: rows of different lengths"
    );
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Ok(Tensor::from_vec(flat, (rows.len(), cols), &Device::Cpu)?)
}

/// A 1-D f32 tensor.
pub fn vector(v: &[f32]) -> Result<Tensor> {
    Ok(Tensor::from_slice(v, v.len(), &Device::Cpu)?)
}
