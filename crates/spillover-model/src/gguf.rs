//! GGUF files: the model config from metadata, and every tensor dequantized to float and renamed to
//! its HF name, undoing llama.cpp's conversion steps as HF transformers does on load (the Q/K row
//! permutation of Llama, the +1 stored in Gemma's norm weights, GPT-2's Conv1D transpose).
//! Architectures (`general.architecture`): llama, gemma3, gpt2, qwen2, qwen3, phi3, gemma2, olmo2
//! (llama.cpp converts Mistral models to `llama`).
//! Quantized matrices are always dequantized: a pure Q4×Q8 path drifts enough to flip greedy choices.

use crate::config::{gemma3_layer_types, Arch, AttnKind, ModelConfig};
use crate::weights::Weights;
use crate::{Error, Result};
use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::GgmlDType;
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

/// An opened GGUF file: its header (metadata + tensor index), validated against the file size.
pub struct GgufFile {
    pub content: Content,
    pub path: std::path::PathBuf,
}

impl GgufFile {
    pub fn open(path: &Path) -> Result<Self> {
        let file =
            File::open(path).map_err(|e| Error::bad_input(path, format!("cannot open: {e}")))?;
        let len = file
            .metadata()
            .map_err(|e| Error::bad_input(path, e.to_string()))?
            .len();
        let mut r = BufReader::new(file);
        let content = Content::read(&mut r).map_err(|e| {
            Error::bad_input(path, format!("not a readable GGUF file (corrupt, truncated or an unsupported tensor type): {e}"))
        })?;
        for (name, info) in &content.tensor_infos {
            let n = info.shape.elem_count();
            let block = info.ggml_dtype.block_size();
            let bytes = n / block * info.ggml_dtype.type_size();
            let end = content.tensor_data_offset + info.offset + bytes as u64;
            if end > len {
                return Err(Error::bad_input(
                    path,
                    format!("file is truncated: tensor {name:?} ends at byte {end} but the file has {len} bytes"),
                ));
            }
        }
        Ok(GgufFile {
            content,
            path: path.to_path_buf(),
        })
    }

    fn meta(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.meta(key)
            .and_then(|v| v.to_string().ok())
            .map(String::as_str)
    }

    fn get_u32(&self, key: &str) -> Option<u32> {
        let v = self.meta(key)?;
        v.to_u32()
            .ok()
            .or_else(|| v.to_u64().ok().map(|x| x as u32))
            .or_else(|| v.to_i32().ok().map(|x| x as u32))
    }

    fn get_f64(&self, key: &str) -> Option<f64> {
        let v = self.meta(key)?;
        v.to_f32().ok().map(f64::from).or_else(|| v.to_f64().ok())
    }

    fn need_u32(&self, key: &str) -> Result<usize> {
        self.get_u32(key).map(|x| x as usize).ok_or_else(|| {
            Error::bad_input(
                &self.path,
                format!("metadata key {key:?} is missing or not an integer"),
            )
        })
    }

    pub fn architecture(&self) -> Result<Arch> {
        let gguf_archs = || Arch::ALL.into_iter().filter(|a| *a != Arch::Mistral);
        match self.get_str("general.architecture") {
            Some(name) => gguf_archs().find(|a| a.name() == name).ok_or_else(|| {
                let names: Vec<&str> = gguf_archs().map(Arch::name).collect();
                Error::bad_input(
                    &self.path,
                    format!(
                        "unsupported architecture {name:?} (general.architecture); supported: {}",
                        names.join(", ")
                    ),
                )
            }),
            None => Err(Error::bad_input(
                &self.path,
                "metadata key \"general.architecture\" is missing",
            )),
        }
    }

    /// The model configuration from `<arch>.*` metadata.
    pub fn config(&self) -> Result<ModelConfig> {
        let arch = self.architecture()?;
        let a = arch.name();
        let k = |s: &str| format!("{a}.{s}");
        let d = self.need_u32(&k("embedding_length"))?;
        let layers = self.need_u32(&k("block_count"))?;
        let heads = self.need_u32(&k("attention.head_count"))?;
        let kv_heads = self
            .get_u32(&k("attention.head_count_kv"))
            .map_or(heads, |x| x as usize);
        let head_dim = self
            .get_u32(&k("attention.key_length"))
            .map_or(d / heads, |x| x as usize);
        let vocab = self.vocab_size()?;
        let theta = self.get_f64(&k("rope.freq_base")).unwrap_or(10000.0);
        let tied = !self.content.tensor_infos.contains_key("output.weight");
        let eps_key = if arch == Arch::Gpt2 {
            "attention.layer_norm_epsilon"
        } else {
            "attention.layer_norm_rms_epsilon"
        };
        let mut cfg = ModelConfig {
            arch,
            vocab_size: vocab,
            hidden_size: d,
            num_layers: layers,
            num_heads: heads,
            num_kv_heads: kv_heads,
            head_dim,
            intermediate_size: self.need_u32(&k("feed_forward_length"))?,
            norm_eps: self.get_f64(&k(eps_key)).unwrap_or(1e-5),
            max_positions: self.need_u32(&k("context_length"))?,
            tie_word_embeddings: tied,
            rope_theta: theta,
            rope_local_theta: theta,
            sliding_window: None,
            layer_types: vec![AttnKind::Global; layers],
            attn_scale: 1.0 / (head_dim as f64).sqrt(),
            attn_logit_softcap: self.get_f64(&k("attn_logit_softcapping")),
            final_logit_softcap: self.get_f64(&k("final_logit_softcapping")),
            attention_bias: self.content.tensor_infos.contains_key("blk.0.attn_q.bias"),
            mlp_bias: false,
            bos_token_id: self.get_u32("tokenizer.ggml.bos_token_id"),
            eos_token_ids: self
                .get_u32("tokenizer.ggml.eos_token_id")
                .into_iter()
                .collect(),
            pad_token_id: self.get_u32("tokenizer.ggml.padding_token_id"),
        };
        let window = self
            .get_u32(&k("attention.sliding_window"))
            .map(|w| w as usize);
        match arch {
            Arch::Gemma3 => {
                // llama.cpp fixes the local RoPE base at 10k and a global layer every 6th.
                cfg.rope_local_theta = 10_000.0;
                cfg.sliding_window = Some(window.unwrap_or(4096));
                cfg.layer_types = gemma3_layer_types(layers, 6);
            }
            Arch::Gemma2 => {
                // Sliding and global layers alternate, sliding first; one RoPE base.
                cfg.sliding_window = Some(window.unwrap_or(4096));
                cfg.layer_types = gemma3_layer_types(layers, 2);
            }
            Arch::Phi3 if window.is_some() => {
                cfg.sliding_window = window;
                cfg.layer_types = vec![AttnKind::Sliding; layers];
            }
            _ => {}
        }
        cfg.validate(&self.path)?;
        Ok(cfg)
    }

    fn vocab_size(&self) -> Result<usize> {
        if let Some(info) = self.content.tensor_infos.get("token_embd.weight") {
            return Ok(info.shape.dims()[0]);
        }
        Err(Error::bad_input(
            &self.path,
            "tensor \"token_embd.weight\" is missing",
        ))
    }

    /// Every tensor, dequantized to f32 and converted to `dtype`, under its HF name.
    pub fn weights(&self, cfg: &ModelConfig, dtype: DType, device: &Device) -> Result<Weights> {
        let file =
            File::open(&self.path).map_err(|e| Error::bad_input(&self.path, e.to_string()))?;
        let mut r = BufReader::new(file);
        let mut tensors = HashMap::new();
        let mut names: Vec<&String> = self.content.tensor_infos.keys().collect();
        names.sort();
        for name in names {
            let Some(hf) = hf_name(cfg.arch, name) else {
                continue;
            };
            let q = self
                .content
                .tensor(&mut r, name, &Device::Cpu)
                .map_err(|e| {
                    Error::bad_input(&self.path, format!("cannot read tensor {name:?}: {e}"))
                })?;
            check_dtype(&self.path, name, q.dtype())?;
            let t = q.dequantize(&Device::Cpu)?;
            let t = undo_conversion(cfg, &hf, t)?;
            tensors.insert(hf, t.to_dtype(dtype)?.to_device(device)?);
        }
        Ok(Weights::new(
            tensors,
            self.path.clone(),
            dtype,
            device.clone(),
        ))
    }
}

fn check_dtype(path: &Path, name: &str, dt: GgmlDType) -> Result<()> {
    use GgmlDType::*;
    match dt {
        F32 | F16 | BF16 | Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | Q2K | Q3K | Q4K | Q5K | Q6K | Q8K => {
            Ok(())
        }
        other => Err(Error::bad_input(
            path,
            format!("tensor {name:?} has unsupported quant type {other:?}"),
        )),
    }
}

/// llama.cpp tensor name → HF parameter name (`None` for tensors we do not use, e.g. rope tables).
pub fn hf_name(arch: Arch, name: &str) -> Option<String> {
    let top = match (arch, name) {
        (Arch::Gpt2, "token_embd.weight") => Some("transformer.wte.weight"),
        (Arch::Gpt2, "position_embd.weight") => Some("transformer.wpe.weight"),
        (Arch::Gpt2, "output_norm.weight") => Some("transformer.ln_f.weight"),
        (Arch::Gpt2, "output_norm.bias") => Some("transformer.ln_f.bias"),
        (_, "token_embd.weight") => Some("model.embed_tokens.weight"),
        (_, "output_norm.weight") => Some("model.norm.weight"),
        (_, "output.weight") => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(t) = top {
        return Some(t.to_string());
    }
    let rest = name.strip_prefix("blk.")?;
    let (layer, leaf) = rest.split_once('.')?;
    let (module, kind) = leaf.rsplit_once('.')?; // kind: weight | bias
    let hf = match arch {
        Arch::Gpt2 => match module {
            "attn_norm" => "ln_1",
            "attn_qkv" => "attn.c_attn",
            "attn_output" => "attn.c_proj",
            "ffn_norm" => "ln_2",
            "ffn_up" => "mlp.c_fc",
            "ffn_down" => "mlp.c_proj",
            _ => return None,
        },
        _ => match module {
            "attn_norm" => "input_layernorm",
            "attn_q" => "self_attn.q_proj",
            "attn_k" => "self_attn.k_proj",
            "attn_v" => "self_attn.v_proj",
            "attn_output" => "self_attn.o_proj",
            "attn_qkv" => "self_attn.qkv_proj",
            "attn_q_norm" => "self_attn.q_norm",
            "attn_k_norm" => "self_attn.k_norm",
            "ffn_gate" => "mlp.gate_proj",
            "ffn_up" if arch == Arch::Phi3 => "mlp.gate_up_proj",
            "ffn_up" => "mlp.up_proj",
            "ffn_down" => "mlp.down_proj",
            "ffn_norm" if matches!(arch, Arch::Gemma2 | Arch::Gemma3) => {
                "pre_feedforward_layernorm"
            }
            "ffn_norm" => "post_attention_layernorm",
            "post_attention_norm" => "post_attention_layernorm",
            "post_ffw_norm" => "post_feedforward_layernorm",
            _ => return None,
        },
    };
    let prefix = if arch == Arch::Gpt2 {
        "transformer.h"
    } else {
        "model.layers"
    };
    Some(format!("{prefix}.{layer}.{hf}.{kind}"))
}

fn undo_conversion(cfg: &ModelConfig, hf: &str, t: Tensor) -> Result<Tensor> {
    Ok(match cfg.arch {
        Arch::Llama if hf.ends_with("self_attn.q_proj.weight") => unpermute(&t, cfg.num_heads)?,
        Arch::Llama if hf.ends_with("self_attn.k_proj.weight") => unpermute(&t, cfg.num_kv_heads)?,
        Arch::Gemma2 | Arch::Gemma3 if hf.ends_with("norm.weight") => (t - 1.0)?,
        Arch::Gpt2 if t.rank() == 2 && hf.starts_with("transformer.h.") => t.t()?.contiguous()?,
        _ => t,
    })
}

/// Inverse of llama.cpp's Q/K permutation, which interleaves the two rotary halves of each head:
/// rows viewed as (heads, half, 2, …) go back to (heads, 2, half, …).
pub fn unpermute(w: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    let (rows, cols) = w.dims2()?;
    let half = rows / heads / 2;
    w.reshape((heads, half, 2, cols))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((rows, cols))
}

/// The inverse of `unpermute` (llama.cpp's permutation), for tests and for writing GGUF files.
pub fn permute(w: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    let (rows, cols) = w.dims2()?;
    let half = rows / heads / 2;
    w.reshape((heads, 2, half, cols))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((rows, cols))
}
