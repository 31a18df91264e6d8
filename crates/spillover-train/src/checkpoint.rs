//! Checkpoints for exact resume: the trainable tensors, AdamW's moments and step count, the position
//! in the data order, the dropout stream and the loss history. Each checkpoint is written into a
//! temporary folder and renamed into place, so a kill at any moment leaves only whole checkpoints.

use crate::adamw::AdamW;
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    /// Optimizer steps taken.
    pub step: u64,
    /// Loss of each optimizer step so far.
    pub losses: Vec<f64>,
    pub dropout_rng: Option<u64>,
    /// Hash of the training setup the checkpoint belongs to (data, config, seed).
    pub setup_hash: String,
}

fn io(path: &Path, e: std::io::Error) -> candle_core::Error {
    candle_core::Error::Msg(format!("{}: {e}", path.display()))
}

/// Writes `ckpt_dir/step-{N}` atomically and removes older checkpoints.
pub fn save(
    ckpt_dir: &Path,
    names: &[String],
    opt: &AdamW,
    progress: &Progress,
) -> candle_core::Result<PathBuf> {
    std::fs::create_dir_all(ckpt_dir).map_err(|e| io(ckpt_dir, e))?;
    let tmp = ckpt_dir.join(format!(
        ".tmp-step-{}-{}",
        progress.step,
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for ((name, var), mom) in names.iter().zip(&opt.vars).zip(&opt.moments) {
        tensors.insert(format!("param/{name}"), var.as_tensor().clone());
        tensors.insert(format!("adam_m/{name}"), mom.m.clone());
        tensors.insert(format!("adam_v/{name}"), mom.v.clone());
    }
    candle_core::safetensors::save(&tensors, tmp.join("state.safetensors"))?;
    let json = serde_json::to_string_pretty(progress).map_err(candle_core::Error::wrap)?;
    std::fs::write(tmp.join("progress.json"), json).map_err(|e| io(&tmp, e))?;
    let dest = ckpt_dir.join(format!("step-{:08}", progress.step));
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::rename(&tmp, &dest).map_err(|e| io(&dest, e))?;
    for old in list(ckpt_dir).into_iter().filter(|p| p != &dest) {
        let _ = std::fs::remove_dir_all(old);
    }
    Ok(dest)
}

/// Complete checkpoints in `ckpt_dir`, oldest first.
fn list(ckpt_dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(ckpt_dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("step-"))
    });
    v.sort();
    v
}

/// The newest complete checkpoint, if any.
pub fn latest(ckpt_dir: &Path) -> Option<PathBuf> {
    list(ckpt_dir).pop()
}

/// Restores parameters and optimizer state from `dir` into `opt`; returns the saved progress.
pub fn restore(dir: &Path, names: &[String], opt: &mut AdamW) -> candle_core::Result<Progress> {
    let text = std::fs::read_to_string(dir.join("progress.json")).map_err(|e| io(dir, e))?;
    let progress: Progress = serde_json::from_str(&text).map_err(candle_core::Error::wrap)?;
    let dev: Device = opt
        .vars
        .first()
        .map(|v| v.device().clone())
        .unwrap_or(Device::Cpu);
    let t = candle_core::safetensors::load(dir.join("state.safetensors"), &dev)?;
    let get = |k: String| {
        t.get(&k).cloned().ok_or_else(|| {
            candle_core::Error::Msg(format!("{}: checkpoint lacks {k}", dir.display()))
        })
    };
    for ((name, var), mom) in names.iter().zip(&opt.vars).zip(opt.moments.iter_mut()) {
        var.set(&get(format!("param/{name}"))?)?;
        mom.m = get(format!("adam_m/{name}"))?;
        mom.v = get(format!("adam_v/{name}"))?;
    }
    opt.step = progress.step;
    Ok(progress)
}
