//! Tiny random-init models (`tiny-gpt2`, `tiny-llama`, `tiny-gemma3`) for tests and demos: a fixed
//! seed gives the same weights on every machine (our own PRNG, not the framework's).

use crate::arch::layout::{Layout, QkNorm};
use crate::config::{gemma3_layer_types, Arch, AttnKind, ModelConfig};
use crate::weights::Weights;
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use spillover_core::rng::SplitMix64;
use std::collections::HashMap;
use std::path::PathBuf;

/// Names accepted by [`tiny_config`].
pub const TINY_MODELS: &[&str] = &["tiny-gpt2", "tiny-llama", "tiny-gemma3"];

/// Vocabulary of the tiny models: 256 byte tokens + a few special tokens (see `tiny_tokenizer`).
pub const TINY_VOCAB: usize = 264;

pub fn tiny_config(name: &str) -> Result<ModelConfig> {
    let (arch, layers, kv_heads) = match name {
        "tiny-gpt2" => (Arch::Gpt2, 2, 4),
        "tiny-llama" => (Arch::Llama, 2, 2),
        "tiny-gemma3" => (Arch::Gemma3, 4, 1),
        other => {
            return Err(Error::bad_input(
                other,
                format!(
                    "unknown tiny model; expected one of {}",
                    TINY_MODELS.join(", ")
                ),
            ))
        }
    };
    let (d, heads, head_dim) = (64, 4, 16);
    Ok(ModelConfig {
        arch,
        vocab_size: TINY_VOCAB,
        hidden_size: d,
        num_layers: layers,
        num_heads: heads,
        num_kv_heads: kv_heads,
        head_dim,
        intermediate_size: if arch == Arch::Gpt2 { 4 * d } else { 128 },
        norm_eps: if arch == Arch::Gemma3 { 1e-6 } else { 1e-5 },
        max_positions: 256,
        tie_word_embeddings: true,
        rope_theta: if arch == Arch::Gemma3 {
            1_000_000.0
        } else {
            10_000.0
        },
        rope_local_theta: 10_000.0,
        sliding_window: (arch == Arch::Gemma3).then_some(8),
        layer_types: if arch == Arch::Gemma3 {
            gemma3_layer_types(layers, 2)
        } else {
            vec![AttnKind::Global; layers]
        },
        attn_scale: 1.0 / (head_dim as f64).sqrt(),
        attn_logit_softcap: None,
        final_logit_softcap: None,
        attention_bias: arch == Arch::Gpt2,
        mlp_bias: arch == Arch::Gpt2,
        bos_token_id: Some(257),
        eos_token_ids: vec![258],
        pad_token_id: Some(256),
    })
}

/// Normal(0, std) by Box–Muller from two `(0, 1]` draws (the cosine half).
fn normal(rng: &mut SplitMix64, std: f64) -> f32 {
    let (u, v) = (rng.unit_nonzero(), rng.unit_nonzero());
    (std * (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
}

/// (HF name, shape, init) of every tensor the architecture loads.
fn tensor_specs(c: &ModelConfig) -> Vec<(String, Vec<usize>, Init)> {
    let (d, m, v) = (c.hidden_size, c.intermediate_size, c.vocab_size);
    let mut s: Vec<(String, Vec<usize>, Init)> = Vec::new();
    let mut add = |n: String, shape: Vec<usize>, i: Init| s.push((n, shape, i));
    match c.arch {
        Arch::Gpt2 => {
            add("transformer.wte.weight".into(), vec![v, d], Init::Normal);
            add(
                "transformer.wpe.weight".into(),
                vec![c.max_positions, d],
                Init::Normal,
            );
            for l in 0..c.num_layers {
                let p = format!("transformer.h.{l}");
                for (n, i, o) in [
                    ("attn.c_attn", d, 3 * d),
                    ("attn.c_proj", d, d),
                    ("mlp.c_fc", d, m),
                    ("mlp.c_proj", m, d),
                ] {
                    add(format!("{p}.{n}.weight"), vec![i, o], Init::Normal);
                    add(format!("{p}.{n}.bias"), vec![o], Init::Zero);
                }
                for n in ["ln_1", "ln_2"] {
                    add(format!("{p}.{n}.weight"), vec![d], Init::One);
                    add(format!("{p}.{n}.bias"), vec![d], Init::Zero);
                }
            }
            add("transformer.ln_f.weight".into(), vec![d], Init::One);
            add("transformer.ln_f.bias".into(), vec![d], Init::Zero);
        }
        _ => {
            let lay = Layout::of(c.arch).expect("every architecture but GPT-2 has a layout");
            // Gemma stores norm weights as w in (1 + w): zero means identity.
            let norm = if lay.gemma { Init::Zero } else { Init::One };
            add("model.embed_tokens.weight".into(), vec![v, d], Init::Normal);
            let (q, kv) = (c.q_dim(), c.kv_dim());
            for l in 0..c.num_layers {
                let p = format!("model.layers.{l}");
                // Drawn in this order (q, k, v, o, gate, up, down): the seed fixes the weights.
                let mut mats = if lay.fused_qkv {
                    vec![("self_attn.qkv_proj", q + 2 * kv, d)]
                } else {
                    vec![
                        ("self_attn.q_proj", q, d),
                        ("self_attn.k_proj", kv, d),
                        ("self_attn.v_proj", kv, d),
                    ]
                };
                mats.push(("self_attn.o_proj", d, q));
                if lay.fused_gate_up {
                    mats.push(("mlp.gate_up_proj", 2 * m, d));
                } else {
                    mats.extend([("mlp.gate_proj", m, d), ("mlp.up_proj", m, d)]);
                }
                mats.push(("mlp.down_proj", d, m));
                for (n, o, i) in mats {
                    add(format!("{p}.{n}.weight"), vec![o, i], Init::Normal);
                }
                let (qn, kn) = match lay.qk_norm {
                    QkNorm::None => (0, 0),
                    QkNorm::PerHead => (c.head_dim, c.head_dim),
                    QkNorm::AllHeads => (q, kv),
                };
                if qn > 0 {
                    add(format!("{p}.self_attn.q_norm.weight"), vec![qn], norm);
                    add(format!("{p}.self_attn.k_norm.weight"), vec![kn], norm);
                }
                let norms = [
                    lay.input_norm,
                    lay.post_attn_norm,
                    lay.pre_mlp_norm,
                    lay.post_mlp_norm,
                ];
                for n in norms.into_iter().flatten() {
                    add(format!("{p}.{n}.weight"), vec![d], norm);
                }
            }
            add("model.norm.weight".into(), vec![d], norm);
        }
    }
    s
}

#[derive(Clone, Copy)]
enum Init {
    Normal,
    Zero,
    One,
}

/// Random weights for `cfg` (normal(0, 0.02) matrices, identity norms, zero biases) from `seed`.
pub fn tiny_weights(cfg: &ModelConfig, seed: u64, device: &Device) -> Result<Weights> {
    let mut rng = SplitMix64::new(seed);
    let mut tensors = HashMap::new();
    for (name, shape, init) in tensor_specs(cfg) {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = match init {
            Init::Normal => (0..n).map(|_| normal(&mut rng, 0.02)).collect(),
            Init::Zero => vec![0.0; n],
            Init::One => vec![1.0; n],
        };
        tensors.insert(name, Tensor::from_vec(data, shape, device)?);
    }
    Ok(Weights::new(
        tensors,
        PathBuf::from("tiny"),
        DType::F32,
        device.clone(),
    ))
}
