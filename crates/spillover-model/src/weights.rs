//! A name → tensor map with the HF parameter names, filled from safetensors (single or sharded) or from
//! a GGUF file (see `gguf.rs`). Architectures take their tensors from here by name and shape, so a
//! missing or misshapen tensor is reported with the file it should have come from.

use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub struct Weights {
    tensors: HashMap<String, Tensor>,
    /// The file or folder the weights came from (for error messages).
    pub source: PathBuf,
    pub dtype: DType,
    pub device: Device,
}

impl Weights {
    pub fn new(
        tensors: HashMap<String, Tensor>,
        source: PathBuf,
        dtype: DType,
        device: Device,
    ) -> Self {
        Weights {
            tensors,
            source,
            dtype,
            device,
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.tensors.keys()
    }

    /// The tensors by name (to write them elsewhere).
    pub fn into_tensors(self) -> HashMap<String, Tensor> {
        self.tensors
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The tensor `name` with exactly `shape`, in the model's dtype.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        let t = self.tensors.get(name).ok_or_else(|| {
            Error::bad_input(
                &self.source,
                format!("tensor {name:?} is missing from the weights"),
            )
        })?;
        if t.dims() != shape {
            return Err(Error::bad_input(
                &self.source,
                format!(
                    "tensor {name:?} has shape {:?}, expected {shape:?}",
                    t.dims()
                ),
            ));
        }
        Ok(t.to_dtype(self.dtype)?)
    }

    /// Like `get`, but `None` when the tensor is absent (optional biases, untied heads).
    pub fn get_opt(&self, name: &str, shape: &[usize]) -> Result<Option<Tensor>> {
        if self.contains(name) {
            self.get(name, shape).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Reads `model.safetensors`, or every shard listed in `model.safetensors.index.json`, from `dir`.
    pub fn from_hf_dir(dir: &Path, dtype: DType, device: &Device) -> Result<Self> {
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        let files = if single.exists() {
            vec![single]
        } else if index.exists() {
            shard_files(&index)?
        } else {
            return Err(Error::bad_input(
                dir,
                "no model.safetensors or model.safetensors.index.json in this folder",
            ));
        };
        let mut tensors = HashMap::new();
        for f in &files {
            tensors.extend(read_safetensors(f, device)?);
        }
        Ok(Weights::new(
            tensors,
            dir.to_path_buf(),
            dtype,
            device.clone(),
        ))
    }
}

fn shard_files(index: &Path) -> Result<Vec<PathBuf>> {
    let text =
        std::fs::read_to_string(index).map_err(|e| Error::bad_input(index, e.to_string()))?;
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::bad_input(index, format!("not valid JSON: {e}")))?;
    let map = v
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| Error::bad_input(index, "key \"weight_map\" is missing or not an object"))?;
    let mut files: Vec<PathBuf> = map
        .values()
        .filter_map(|f| f.as_str())
        .map(|f| index.with_file_name(f))
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

/// Reads one safetensors file fully, validating its header and sizes (a truncated file is an error).
pub fn read_safetensors(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    let bytes =
        std::fs::read(path).map_err(|e| Error::bad_input(path, format!("cannot read: {e}")))?;
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| {
        Error::bad_input(
            path,
            format!("not a valid safetensors file (truncated or corrupt?): {e}"),
        )
    })?;
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        let dtype = match view.dtype() {
            safetensors::Dtype::F32 => DType::F32,
            safetensors::Dtype::F16 => DType::F16,
            safetensors::Dtype::BF16 => DType::BF16,
            safetensors::Dtype::F64 => DType::F64,
            other => {
                return Err(Error::bad_input(
                    path,
                    format!(
                    "tensor {name:?} has unsupported dtype {other:?}; expected F32, F16 or BF16"
                ),
                ))
            }
        };
        let t = Tensor::from_raw_buffer(view.data(), dtype, view.shape(), device)?;
        out.insert(name, t);
    }
    Ok(out)
}

/// Writes tensors to a safetensors file atomically ([`spillover_core::fs::write_atomic_with`]).
pub fn write_safetensors(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<()> {
    spillover_core::fs::write_atomic_with(path, |tmp| {
        candle_core::safetensors::save(tensors, tmp).map_err(std::io::Error::other)
    })
    .map_err(|e| Error::internal(format!("writing {}: {e}", path.display())))
}
