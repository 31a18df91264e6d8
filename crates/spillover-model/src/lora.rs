//! LoRA adapters on a model, in PEFT's format: `adapter_config.json` + `adapter_model.safetensors`
//! with tensors named `base_model.model.<module>.lora_{A,B}.weight`, so adapters move between
//! Spillover and Python PEFT unchanged.

use crate::linear::{DropoutRng, Lora};
use crate::weights::read_safetensors;
use crate::{Arch, Error, Model, Result};
use candle_core::{DType, Tensor};
use serde_json::{json, Value};
use spillover_core::fs::{write_atomic, write_atomic_with};
use spillover_core::rng::SplitMix64;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LoraConfig {
    pub r: usize,
    pub alpha: f64,
    pub dropout: f32,
    /// Module names (last path component, e.g. `q_proj`) or full module paths to adapt.
    pub targets: Vec<String>,
    /// Scale alpha/sqrt(r) instead of alpha/r.
    pub use_rslora: bool,
}

impl LoraConfig {
    pub fn scale(&self) -> f64 {
        if self.use_rslora {
            self.alpha / (self.r as f64).sqrt()
        } else {
            self.alpha / self.r as f64
        }
    }

    /// PEFT's rule for a list of targets: the module path equals a target or ends with `.target`.
    pub fn matches(&self, module: &str) -> bool {
        self.targets
            .iter()
            .any(|t| module == t || module.ends_with(&format!(".{t}")))
    }

    /// Parses `r=8,alpha=16,targets=q_proj,v_proj[,dropout=0.05][,rslora]`: names after `targets=`
    /// run until the next `key=value`.
    pub fn parse(spec: &str) -> std::result::Result<Self, String> {
        let mut cfg = LoraConfig {
            r: 8,
            alpha: 16.0,
            dropout: 0.0,
            targets: vec![],
            use_rslora: false,
        };
        let mut in_targets = false;
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = match part.split_once('=') {
                Some((k, v)) => (k.trim(), v.trim()),
                None if part == "rslora" => {
                    cfg.use_rslora = true;
                    continue;
                }
                None if in_targets => {
                    cfg.targets.push(part.to_string());
                    continue;
                }
                None => {
                    return Err(format!(
                        "{part:?}: expected key=value (r, alpha, dropout, targets, rslora)"
                    ))
                }
            };
            in_targets = key == "targets";
            let num = |v: &str| {
                v.parse::<f64>()
                    .map_err(|_| format!("{key}={v}: expected a number"))
            };
            match key {
                "r" => cfg.r = num(value)? as usize,
                "alpha" => cfg.alpha = num(value)?,
                "dropout" => cfg.dropout = num(value)? as f32,
                "targets" => cfg.targets.push(value.to_string()),
                "rslora" => cfg.use_rslora = matches!(value, "true" | "1" | "yes"),
                other => {
                    return Err(format!(
                        "unknown LoRA key {other:?}; expected r, alpha, dropout, targets, rslora"
                    ))
                }
            }
        }
        if cfg.r == 0 {
            return Err("r must be at least 1".into());
        }
        if cfg.targets.is_empty() {
            return Err("targets=... names no module (e.g. targets=q_proj,v_proj)".into());
        }
        if !(0.0..1.0).contains(&cfg.dropout) {
            return Err(format!("dropout={} must be in [0, 1)", cfg.dropout));
        }
        Ok(cfg)
    }
}

/// Uniform(−1/√in, 1/√in): torch's kaiming_uniform_(a=√5), which PEFT uses for A.
fn kaiming_a(
    r: usize,
    inp: usize,
    rng: &mut SplitMix64,
    dtype: DType,
    dev: &candle_core::Device,
) -> Result<Tensor> {
    let bound = 1.0 / (inp as f64).sqrt();
    let vals: Vec<f32> = (0..r * inp)
        .map(|_| {
            let u = rng.unit();
            ((2.0 * u - 1.0) * bound) as f32
        })
        .collect();
    Ok(Tensor::from_vec(vals, (r, inp), dev)?.to_dtype(dtype)?)
}

/// Attaches fresh adapters (A kaiming-uniform from `seed`, B zero) to every matching linear layer;
/// returns the adapted module paths. A fresh adapter leaves the model's outputs unchanged.
pub fn add_lora(model: &mut Model, cfg: &LoraConfig, seed: u64) -> Result<Vec<String>> {
    let mut rng = SplitMix64::new(seed);
    let dropout_rng = DropoutRng::new(seed ^ 0xD5);
    let mut names = Vec::new();
    for (name, lin) in model.linears_mut() {
        if !cfg.matches(&name) {
            continue;
        }
        let (dt, dev) = (lin.weight.dtype(), lin.weight.device().clone());
        let a = kaiming_a(cfg.r, lin.in_dim(), &mut rng, dt, &dev)?;
        let b = Tensor::zeros((lin.out_dim(), cfg.r), dt, &dev)?;
        lin.lora = Some(new_lora(a, b, cfg, &dropout_rng));
        names.push(name);
    }
    if names.is_empty() {
        return Err(Error::bad_input(
            "--lora targets",
            format!("no linear layer matches {:?}", cfg.targets),
        ));
    }
    Ok(names)
}

fn new_lora(a: Tensor, b: Tensor, cfg: &LoraConfig, rng: &DropoutRng) -> Lora {
    Lora {
        a,
        b,
        scale: cfg.scale(),
        dropout: cfg.dropout,
        training: false,
        rng: Some(rng.clone()),
        enabled: true,
        merged: false,
    }
}

fn peft_name(module: &str, ab: &str) -> String {
    format!("base_model.model.{module}.lora_{ab}.weight")
}

/// Reads a PEFT adapter folder and attaches it to `model`.
pub fn load_peft(model: &mut Model, dir: &Path) -> Result<LoraConfig> {
    let cfg_path = dir.join("adapter_config.json");
    let cfg = read_peft_config(&cfg_path)?;
    let st_path = dir.join("adapter_model.safetensors");
    if !st_path.exists() {
        return Err(Error::bad_input(
            dir,
            "no adapter_model.safetensors in this folder",
        ));
    }
    let dev = model.device().clone();
    let mut tensors: HashMap<String, Tensor> = read_safetensors(&st_path, &dev)?;
    let rng = DropoutRng::new(0);
    for (name, lin) in model.linears_mut() {
        let (ka, kb) = (peft_name(&name, "A"), peft_name(&name, "B"));
        let (Some(a), Some(b)) = (tensors.remove(&ka), tensors.remove(&kb)) else {
            continue;
        };
        let (r, out, inp) = (cfg.r, lin.out_dim(), lin.in_dim());
        if a.dims() != [r, inp] || b.dims() != [out, r] {
            return Err(Error::bad_input(
                &st_path,
                format!(
                    "{name}: lora_A {:?} / lora_B {:?}, expected [{r}, {inp}] / [{out}, {r}]",
                    a.dims(),
                    b.dims()
                ),
            ));
        }
        let dt = lin.weight.dtype();
        lin.lora = Some(new_lora(a.to_dtype(dt)?, b.to_dtype(dt)?, &cfg, &rng));
    }
    if let Some(left) = tensors.keys().next() {
        return Err(Error::bad_input(
            &st_path,
            format!("tensor {left:?} matches no linear layer of this model"),
        ));
    }
    Ok(cfg)
}

fn read_peft_config(path: &Path) -> Result<LoraConfig> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::bad_input(path, format!("cannot read: {e}")))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| Error::bad_input(path, format!("not valid JSON: {e}")))?;
    let bad = |m: String| Error::bad_input(path, m);
    if v["peft_type"].as_str().is_some_and(|t| t != "LORA") {
        return Err(bad(format!(
            "peft_type {} is not supported (only LORA)",
            v["peft_type"]
        )));
    }
    for (key, ok) in [
        ("use_dora", v["use_dora"].as_bool() != Some(true)),
        ("bias", v["bias"].as_str().is_none_or(|b| b == "none")),
    ] {
        if !ok {
            return Err(bad(format!("{key} = {} is not supported", v[key])));
        }
    }
    for key in ["rank_pattern", "alpha_pattern"] {
        if v[key].as_object().is_some_and(|m| !m.is_empty()) {
            return Err(bad(format!("{key} is not supported (per-module ranks)")));
        }
    }
    if v["modules_to_save"]
        .as_array()
        .is_some_and(|m| !m.is_empty())
    {
        return Err(bad("modules_to_save is not supported".into()));
    }
    let r = v["r"]
        .as_u64()
        .ok_or_else(|| bad("key \"r\" is missing or not an integer".into()))? as usize;
    let alpha = v["lora_alpha"]
        .as_f64()
        .ok_or_else(|| bad("key \"lora_alpha\" is missing".into()))?;
    let targets = match &v["target_modules"] {
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        Value::String(s) => vec![s.clone()],
        _ => vec![],
    };
    Ok(LoraConfig {
        r,
        alpha,
        dropout: v["lora_dropout"].as_f64().unwrap_or(0.0) as f32,
        targets,
        use_rslora: v["use_rslora"].as_bool().unwrap_or(false),
    })
}

/// The adapter tensors under their PEFT names (f32, contiguous).
pub fn lora_tensors(model: &mut Model) -> Result<Vec<(String, Tensor)>> {
    let mut out = Vec::new();
    for (name, lin) in model.linears_mut() {
        if let Some(l) = &lin.lora {
            out.push((
                peft_name(&name, "A"),
                l.a.to_dtype(DType::F32)?.contiguous()?,
            ));
            out.push((
                peft_name(&name, "B"),
                l.b.to_dtype(DType::F32)?.contiguous()?,
            ));
        }
    }
    Ok(out)
}

/// The base model as `adapter_config.json` names it, so Python PEFT can load the adapter:
/// `base_model_name_or_path` (a hub repo id or a path) and the base's `revision` on the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeftBase {
    pub name_or_path: String,
    pub revision: Option<String>,
}

impl PeftBase {
    /// A base known by `name` alone (no revision).
    pub fn named(name: impl Into<String>) -> PeftBase {
        PeftBase {
            name_or_path: name.into(),
            revision: None,
        }
    }
}

/// Writes the model's adapters as a PEFT adapter folder (files written atomically).
pub fn save_peft(model: &mut Model, cfg: &LoraConfig, base: &PeftBase, dir: &Path) -> Result<()> {
    let io = |e: std::io::Error| Error::internal(format!("{}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    let tensors = lora_tensors(model)?;
    if tensors.is_empty() {
        return Err(Error::internal("the model has no LoRA adapter to save"));
    }
    let modules: BTreeSet<String> = tensors
        .iter()
        .filter_map(|(n, _)| n.strip_suffix(".lora_A.weight"))
        .filter_map(|n| n.rsplit('.').next().map(String::from))
        .collect();
    let config = json!({
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": base.name_or_path,
        "r": cfg.r, "lora_alpha": cfg.alpha, "lora_dropout": cfg.dropout, "use_rslora": cfg.use_rslora,
        "target_modules": modules, "bias": "none", "fan_in_fan_out": model.config().arch == Arch::Gpt2,
        "use_dora": false, "init_lora_weights": true, "inference_mode": true, "modules_to_save": null,
        "layers_to_transform": null, "layers_pattern": null, "rank_pattern": {}, "alpha_pattern": {},
        "revision": base.revision,
    });
    let written = |path: &Path, r: std::io::Result<()>| {
        r.map_err(|e| Error::internal(format!("writing {}: {e}", path.display())))
    };
    let path = dir.join("adapter_config.json");
    let json = serde_json::to_string_pretty(&config).expect("json");
    written(&path, write_atomic(&path, json.as_bytes()))?;
    let path = dir.join("adapter_model.safetensors");
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    let saved = write_atomic_with(&path, |tmp| {
        safetensors::serialize_to_file(
            tensors.iter().map(|(n, t)| (n.as_str(), t)),
            Some(meta),
            tmp,
        )
        .map_err(std::io::Error::other)
    });
    written(&path, saved)?;
    Ok(())
}

/// Folds every adapter into its base weight, or takes it back out.
pub fn set_merged(model: &mut Model, merged: bool) -> Result<()> {
    for (_, lin) in model.linears_mut() {
        if merged {
            lin.merge()?;
        } else {
            lin.unmerge()?;
        }
    }
    Ok(())
}

/// Runs with or without the adapters (PEFT's `disable_adapter()`), without reloading anything.
pub fn set_enabled(model: &mut Model, enabled: bool) {
    for (_, lin) in model.linears_mut() {
        if let Some(l) = lin.lora.as_mut() {
            l.enabled = enabled;
        }
    }
}
