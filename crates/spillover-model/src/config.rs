//! One flat configuration for every architecture, read from HF `config.json` or GGUF metadata.
//! Every required key that is absent is a `BadInput` error naming the file and the key.

use crate::{Error, Result};
use serde_json::Value;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Gpt2,
    Llama,
    Gemma3,
    Qwen2,
    Qwen3,
    Mistral,
    Phi3,
    Gemma2,
    Olmo2,
}

impl Arch {
    /// Every supported architecture.
    pub const ALL: [Arch; 9] = [
        Arch::Gpt2,
        Arch::Llama,
        Arch::Gemma3,
        Arch::Qwen2,
        Arch::Qwen3,
        Arch::Mistral,
        Arch::Phi3,
        Arch::Gemma2,
        Arch::Olmo2,
    ];

    /// The short name (also llama.cpp's `general.architecture`).
    pub fn name(self) -> &'static str {
        match self {
            Arch::Gpt2 => "gpt2",
            Arch::Llama => "llama",
            Arch::Gemma3 => "gemma3",
            Arch::Qwen2 => "qwen2",
            Arch::Qwen3 => "qwen3",
            Arch::Mistral => "mistral",
            Arch::Phi3 => "phi3",
            Arch::Gemma2 => "gemma2",
            Arch::Olmo2 => "olmo2",
        }
    }
}

/// The HF `model_type` values `ModelConfig::from_hf_json` accepts.
pub const HF_MODEL_TYPES: &str =
    "gpt2, llama, gemma3_text (or gemma3), qwen2, qwen3, mistral, phi3, gemma2, olmo2";

/// Which keys a layer's attention may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum AttnKind {
    /// Causal over the whole context.
    Global,
    /// Causal, limited to the last `sliding_window` positions (Gemma local layers, Mistral).
    Sliding,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelConfig {
    pub arch: Arch,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub intermediate_size: usize,
    pub norm_eps: f64,
    pub max_positions: usize,
    pub tie_word_embeddings: bool,
    /// RoPE base of global layers (unused by GPT-2).
    pub rope_theta: f64,
    /// RoPE base of sliding-window layers (Gemma-3), equal to `rope_theta` elsewhere.
    pub rope_local_theta: f64,
    pub sliding_window: Option<usize>,
    pub layer_types: Vec<AttnKind>,
    /// Multiplier applied to q·k (1/sqrt(head_dim), or query_pre_attn_scalar^-1/2 for Gemma-3).
    pub attn_scale: f64,
    pub attn_logit_softcap: Option<f64>,
    pub final_logit_softcap: Option<f64>,
    pub attention_bias: bool,
    pub mlp_bias: bool,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
    pub pad_token_id: Option<u32>,
}

impl ModelConfig {
    pub fn q_dim(&self) -> usize {
        self.num_heads * self.head_dim
    }
    pub fn kv_dim(&self) -> usize {
        self.num_kv_heads * self.head_dim
    }

    /// Reads an HF `config.json`.
    pub fn from_hf_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::bad_input(path, format!("cannot read config: {e}")))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| Error::bad_input(path, format!("not valid JSON: {e}")))?;
        Self::from_hf_json(path, &v)
    }

    pub fn from_hf_json(path: &Path, v: &Value) -> Result<Self> {
        let keys = Keys { path, v };
        let model_type = keys.str("model_type")?;
        let cfg = match model_type.as_str() {
            "gpt2" => gpt2_from_hf(&keys)?,
            "llama" => llama_from_hf(&keys, Arch::Llama)?,
            "qwen2" => llama_from_hf(&keys, Arch::Qwen2)?,
            "qwen3" => llama_from_hf(&keys, Arch::Qwen3)?,
            "mistral" => llama_from_hf(&keys, Arch::Mistral)?,
            "phi3" => llama_from_hf(&keys, Arch::Phi3)?,
            "olmo2" => llama_from_hf(&keys, Arch::Olmo2)?,
            "gemma2" => gemma_from_hf(&keys, Arch::Gemma2)?,
            "gemma3_text" => gemma_from_hf(&keys, Arch::Gemma3)?,
            "gemma3" => match v.get("text_config") {
                Some(t) => gemma_from_hf(&Keys { path, v: t }, Arch::Gemma3)?,
                None => {
                    return Err(Error::bad_input(
                        path,
                        "model_type gemma3 without text_config",
                    ))
                }
            },
            other => {
                return Err(Error::bad_input(
                    path,
                    format!(
                        "unsupported architecture model_type={other:?}; supported: {HF_MODEL_TYPES}"
                    ),
                ))
            }
        };
        cfg.validate(path)?;
        Ok(cfg)
    }

    pub fn validate(&self, path: &Path) -> Result<()> {
        let bad = |m: String| Err(Error::bad_input(path, m));
        if self.num_heads == 0
            || self.num_kv_heads == 0
            || !self.num_heads.is_multiple_of(self.num_kv_heads)
        {
            return bad(format!(
                "num_attention_heads ({}) must be a positive multiple of num_key_value_heads ({})",
                self.num_heads, self.num_kv_heads
            ));
        }
        if self.arch != Arch::Gpt2 && !self.head_dim.is_multiple_of(2) {
            return bad(format!(
                "head_dim {} must be even for rotary embeddings",
                self.head_dim
            ));
        }
        if self.layer_types.len() != self.num_layers {
            return bad(format!(
                "layer_types has {} entries for {} layers",
                self.layer_types.len(),
                self.num_layers
            ));
        }
        Ok(())
    }
}

/// Typed access to config keys with errors that name the file and the key.
struct Keys<'a> {
    path: &'a Path,
    v: &'a Value,
}

impl Keys<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.v.get(key).filter(|x| !x.is_null())
    }
    fn missing(&self, key: &str, what: &str) -> Error {
        Error::bad_input(self.path, format!("key {key:?} is missing or not {what}"))
    }
    fn usize(&self, key: &str) -> Result<usize> {
        self.get(key)
            .and_then(Value::as_u64)
            .map(|x| x as usize)
            .ok_or_else(|| self.missing(key, "an integer"))
    }
    fn usize_or(&self, key: &str, default: usize) -> Result<usize> {
        if self.get(key).is_none() {
            return Ok(default);
        }
        self.usize(key)
    }
    fn f64(&self, key: &str) -> Result<f64> {
        self.get(key)
            .and_then(Value::as_f64)
            .ok_or_else(|| self.missing(key, "a number"))
    }
    fn f64_opt(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(Value::as_f64)
    }
    fn bool_or(&self, key: &str, default: bool) -> bool {
        self.get(key).and_then(Value::as_bool).unwrap_or(default)
    }
    fn str(&self, key: &str) -> Result<String> {
        self.get(key)
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| self.missing(key, "a string"))
    }
    fn token_id(&self, key: &str) -> Option<u32> {
        self.get(key).and_then(Value::as_u64).map(|x| x as u32)
    }
    /// `eos_token_id` may be a number or a list of numbers.
    fn token_ids(&self, key: &str) -> Vec<u32> {
        match self.get(key) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_u64)
                .map(|x| x as u32)
                .collect(),
            Some(v) => v.as_u64().map(|x| vec![x as u32]).unwrap_or_default(),
            None => vec![],
        }
    }
    /// RoPE base: `rope_theta` (transformers 4.x) or `rope_parameters.rope_theta` (5.x).
    fn rope_theta(&self, default: f64) -> Result<f64> {
        if let Some(t) = self.f64_opt("rope_theta") {
            return Ok(t);
        }
        match self.get("rope_parameters") {
            Some(p) => {
                check_rope_type(self.path, p)?;
                Ok(p.get("rope_theta")
                    .and_then(Value::as_f64)
                    .unwrap_or(default))
            }
            None => Ok(default),
        }
    }
}

/// Phi-3's `partial_rotary_factor` (top level or in `rope_parameters`) must be 1: rotary
/// embeddings over part of each head are not implemented.
fn check_partial_rotary(k: &Keys) -> Result<()> {
    let f = k.f64_opt("partial_rotary_factor").or_else(|| {
        k.get("rope_parameters")
            .and_then(|p| p.get("partial_rotary_factor"))
            .and_then(Value::as_f64)
    });
    match f {
        Some(f) if f != 1.0 => Err(Error::bad_input(
            k.path,
            format!("partial_rotary_factor {f} is not supported (only 1.0)"),
        )),
        _ => Ok(()),
    }
}

fn check_rope_type(path: &Path, p: &Value) -> Result<()> {
    let ty = p
        .get("rope_type")
        .or_else(|| p.get("type"))
        .and_then(Value::as_str)
        .unwrap_or("default");
    if ty != "default" {
        return Err(Error::bad_input(
            path,
            format!(
                "unsupported rope_type {ty:?}: only \"default\" rotary embeddings are implemented"
            ),
        ));
    }
    Ok(())
}

fn gpt2_from_hf(k: &Keys) -> Result<ModelConfig> {
    let hidden = k.usize("n_embd")?;
    let heads = k.usize("n_head")?;
    let layers = k.usize("n_layer")?;
    let act = k
        .get("activation_function")
        .and_then(Value::as_str)
        .unwrap_or("gelu_new");
    if !matches!(act, "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast") {
        return Err(Error::bad_input(
            k.path,
            format!("unsupported activation_function {act:?}: expected gelu_new"),
        ));
    }
    Ok(ModelConfig {
        arch: Arch::Gpt2,
        vocab_size: k.usize("vocab_size")?,
        hidden_size: hidden,
        num_layers: layers,
        num_heads: heads,
        num_kv_heads: heads,
        head_dim: hidden / heads,
        intermediate_size: k.usize_or("n_inner", 4 * hidden)?,
        norm_eps: k.f64_opt("layer_norm_epsilon").unwrap_or(1e-5),
        max_positions: k.usize("n_positions")?,
        tie_word_embeddings: k.bool_or("tie_word_embeddings", true),
        rope_theta: 0.0,
        rope_local_theta: 0.0,
        sliding_window: None,
        layer_types: vec![AttnKind::Global; layers],
        attn_scale: 1.0 / ((hidden / heads) as f64).sqrt(),
        attn_logit_softcap: None,
        final_logit_softcap: None,
        attention_bias: true,
        mlp_bias: true,
        bos_token_id: k.token_id("bos_token_id"),
        eos_token_ids: k.token_ids("eos_token_id"),
        pad_token_id: k.token_id("pad_token_id"),
    })
}

/// Llama and the architectures that differ from it only in the block's structure (Qwen2/3,
/// Mistral, Phi-3, OLMo-2). Mistral and Phi-3 honour `sliding_window` on every layer; Qwen's
/// `use_sliding_window` is refused (its per-layer window rule is not implemented).
fn llama_from_hf(k: &Keys, arch: Arch) -> Result<ModelConfig> {
    let hidden = k.usize("hidden_size")?;
    let heads = k.usize("num_attention_heads")?;
    let layers = k.usize("num_hidden_layers")?;
    let head_dim = k.usize_or("head_dim", hidden / heads.max(1))?;
    if let Some(s) = k.get("rope_scaling") {
        check_rope_type(k.path, s)?;
    }
    let act = k
        .get("hidden_act")
        .and_then(Value::as_str)
        .unwrap_or("silu");
    if act != "silu" {
        return Err(Error::bad_input(
            k.path,
            format!("unsupported hidden_act {act:?}: expected silu"),
        ));
    }
    let theta = k.rope_theta(10000.0)?;
    check_partial_rotary(k)?;
    if k.bool_or("use_sliding_window", false) {
        return Err(Error::bad_input(
            k.path,
            "use_sliding_window=true is not supported (only full attention for Qwen models)",
        ));
    }
    let sliding_window = match arch {
        Arch::Mistral | Arch::Phi3 => match k.get("sliding_window") {
            Some(_) => Some(k.usize("sliding_window")?),
            None => None,
        },
        _ => None,
    };
    let kind = match sliding_window {
        Some(_) => AttnKind::Sliding,
        None => AttnKind::Global,
    };
    Ok(ModelConfig {
        arch,
        vocab_size: k.usize("vocab_size")?,
        hidden_size: hidden,
        num_layers: layers,
        num_heads: heads,
        num_kv_heads: k.usize_or("num_key_value_heads", heads)?,
        head_dim,
        intermediate_size: k.usize("intermediate_size")?,
        norm_eps: k.f64("rms_norm_eps")?,
        max_positions: k.usize_or("max_position_embeddings", 2048)?,
        tie_word_embeddings: k.bool_or("tie_word_embeddings", false),
        rope_theta: theta,
        rope_local_theta: theta,
        sliding_window,
        layer_types: vec![kind; layers],
        attn_scale: 1.0 / (head_dim as f64).sqrt(),
        attn_logit_softcap: None,
        final_logit_softcap: None,
        // Qwen2 always has q/k/v biases (and none on o_proj; see `arch::layout`).
        attention_bias: arch == Arch::Qwen2 || k.bool_or("attention_bias", false),
        mlp_bias: k.bool_or("mlp_bias", false),
        bos_token_id: k.token_id("bos_token_id"),
        eos_token_ids: k.token_ids("eos_token_id"),
        pad_token_id: k.token_id("pad_token_id"),
    })
}

/// Gemma-2 and Gemma-3 text models. Gemma-2 has one RoPE base and alternates sliding and global
/// layers (sliding first); Gemma-3 has a local RoPE base and a global layer every 6th by default.
fn gemma_from_hf(k: &Keys, arch: Arch) -> Result<ModelConfig> {
    let hidden = k.usize("hidden_size")?;
    let heads = k.usize("num_attention_heads")?;
    let layers = k.usize("num_hidden_layers")?;
    let head_dim = k.usize_or("head_dim", 256)?;
    let (global_theta, local_theta) = if arch == Arch::Gemma2 {
        let t = k.rope_theta(10_000.0)?;
        (t, t)
    } else {
        gemma3_rope(k)?
    };
    let act = k
        .get("hidden_activation")
        .and_then(Value::as_str)
        .unwrap_or("gelu_pytorch_tanh");
    if act != "gelu_pytorch_tanh" {
        return Err(Error::bad_input(
            k.path,
            format!("unsupported hidden_activation {act:?}: expected gelu_pytorch_tanh"),
        ));
    }
    let default_pattern = if arch == Arch::Gemma2 { 2 } else { 6 };
    let layer_types = match k.get("layer_types").and_then(Value::as_array) {
        Some(a) => a
            .iter()
            .map(|t| match t.as_str() {
                Some("sliding_attention") => Ok(AttnKind::Sliding),
                Some("full_attention") => Ok(AttnKind::Global),
                _ => Err(Error::bad_input(
                    k.path,
                    format!("layer_types: unknown entry {t}"),
                )),
            })
            .collect::<Result<Vec<_>>>()?,
        None => gemma3_layer_types(
            layers,
            k.usize_or("sliding_window_pattern", default_pattern)?,
        ),
    };
    let scalar = k
        .f64_opt("query_pre_attn_scalar")
        .unwrap_or(head_dim as f64);
    Ok(ModelConfig {
        arch,
        vocab_size: k.usize("vocab_size")?,
        hidden_size: hidden,
        num_layers: layers,
        num_heads: heads,
        num_kv_heads: k.usize_or("num_key_value_heads", heads)?,
        head_dim,
        intermediate_size: k.usize("intermediate_size")?,
        norm_eps: k.f64_opt("rms_norm_eps").unwrap_or(1e-6),
        max_positions: k.usize_or("max_position_embeddings", 32768)?,
        tie_word_embeddings: k.bool_or("tie_word_embeddings", true),
        rope_theta: global_theta,
        rope_local_theta: local_theta,
        sliding_window: Some(k.usize_or("sliding_window", 4096)?),
        layer_types,
        attn_scale: 1.0 / scalar.sqrt(),
        attn_logit_softcap: k.f64_opt("attn_logit_softcapping"),
        final_logit_softcap: k.f64_opt("final_logit_softcapping"),
        attention_bias: k.bool_or("attention_bias", false),
        mlp_bias: false,
        bos_token_id: k.token_id("bos_token_id"),
        eos_token_ids: k.token_ids("eos_token_id"),
        pad_token_id: k.token_id("pad_token_id"),
    })
}

/// Gemma layers are sliding except every `pattern`-th one (Gemma-3: 6, Gemma-2: 2).
pub fn gemma3_layer_types(layers: usize, pattern: usize) -> Vec<AttnKind> {
    (0..layers)
        .map(|i| {
            if pattern > 0 && (i + 1) % pattern == 0 {
                AttnKind::Global
            } else {
                AttnKind::Sliding
            }
        })
        .collect()
}

/// (global, local) RoPE bases in either the 4.x (`rope_theta`, `rope_local_base_freq`) or the 5.x
/// (`rope_parameters.{full_attention,sliding_attention}`) layout.
fn gemma3_rope(k: &Keys) -> Result<(f64, f64)> {
    if let Some(p) = k.get("rope_parameters") {
        if let (Some(full), Some(sliding)) = (p.get("full_attention"), p.get("sliding_attention")) {
            check_rope_type(k.path, full)?;
            check_rope_type(k.path, sliding)?;
            let theta =
                |v: &Value, d: f64| v.get("rope_theta").and_then(Value::as_f64).unwrap_or(d);
            return Ok((theta(full, 1_000_000.0), theta(sliding, 10_000.0)));
        }
    }
    if let Some(s) = k.get("rope_scaling") {
        check_rope_type(k.path, s)?;
    }
    Ok((
        k.f64_opt("rope_theta").unwrap_or(1_000_000.0),
        k.f64_opt("rope_local_base_freq").unwrap_or(10_000.0),
    ))
}
