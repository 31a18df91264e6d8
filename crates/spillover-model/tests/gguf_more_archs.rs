//! GGUF round trip for the architectures beyond Llama: each tiny HF fixture is written as a
//! llama.cpp-style GGUF (llama.cpp tensor names, `<arch>.*` metadata, Gemma's norm weights stored
//! as 1 + w), read back through `GgufFile`, and must give the safetensors model's logits.

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use spillover_model::fixtures::{fixtures_dir, max_abs_diff};
use spillover_model::gguf::GgufFile;
use spillover_model::{Arch, Model, ModelConfig, Step, Weights};
use std::path::Path;

/// HF name → llama.cpp name, as llama.cpp's converter names them for `arch`.
fn gguf_name(arch: Arch, hf: &str) -> String {
    match hf {
        "model.embed_tokens.weight" => return "token_embd.weight".into(),
        "model.norm.weight" => return "output_norm.weight".into(),
        "lm_head.weight" => return "output.weight".into(),
        _ => {}
    }
    let post_norms = matches!(arch, Arch::Gemma2 | Arch::Olmo2);
    let rest = hf.strip_prefix("model.layers.").unwrap();
    let (l, leaf) = rest.split_once('.').unwrap();
    let (module, kind) = leaf.rsplit_once('.').unwrap();
    let g = match module {
        "self_attn.q_proj" => "attn_q",
        "self_attn.k_proj" => "attn_k",
        "self_attn.v_proj" => "attn_v",
        "self_attn.qkv_proj" => "attn_qkv",
        "self_attn.o_proj" => "attn_output",
        "self_attn.q_norm" => "attn_q_norm",
        "self_attn.k_norm" => "attn_k_norm",
        "mlp.gate_proj" => "ffn_gate",
        "mlp.up_proj" | "mlp.gate_up_proj" => "ffn_up",
        "mlp.down_proj" => "ffn_down",
        "input_layernorm" => "attn_norm",
        "post_attention_layernorm" if post_norms => "post_attention_norm",
        "post_attention_layernorm" | "pre_feedforward_layernorm" => "ffn_norm",
        "post_feedforward_layernorm" => "post_ffw_norm",
        other => panic!("no llama.cpp name for {other}"),
    };
    format!("blk.{l}.{g}.{kind}")
}

fn write_gguf(dir: &Path, out: &Path) -> ModelConfig {
    let cfg = ModelConfig::from_hf_file(&dir.join("config.json")).unwrap();
    let w =
        spillover_model::weights::read_safetensors(&dir.join("model.safetensors"), &Device::Cpu)
            .unwrap();
    let gemma = matches!(cfg.arch, Arch::Gemma2 | Arch::Gemma3);
    let mut tensors = Vec::new();
    for (hf, t) in &w {
        let t = if gemma && hf.ends_with("norm.weight") {
            (t + 1.0).unwrap()
        } else {
            t.clone()
        };
        let q = QTensor::quantize(&t, GgmlDType::F32).unwrap();
        tensors.push((gguf_name(cfg.arch, hf), q));
    }
    let a = cfg.arch.name();
    let u = |x: usize| Value::U32(x as u32);
    let f = |x: f64| Value::F32(x as f32);
    let mut meta = vec![
        ("general.architecture".to_string(), Value::String(a.into())),
        (format!("{a}.embedding_length"), u(cfg.hidden_size)),
        (format!("{a}.block_count"), u(cfg.num_layers)),
        (format!("{a}.attention.head_count"), u(cfg.num_heads)),
        (format!("{a}.attention.head_count_kv"), u(cfg.num_kv_heads)),
        (format!("{a}.attention.key_length"), u(cfg.head_dim)),
        (format!("{a}.feed_forward_length"), u(cfg.intermediate_size)),
        (format!("{a}.context_length"), u(cfg.max_positions)),
        (format!("{a}.rope.freq_base"), f(cfg.rope_theta)),
        (
            format!("{a}.attention.layer_norm_rms_epsilon"),
            f(cfg.norm_eps),
        ),
    ];
    if let Some(w) = cfg.sliding_window {
        meta.push((format!("{a}.attention.sliding_window"), u(w)));
    }
    if let Some(c) = cfg.attn_logit_softcap {
        meta.push((format!("{a}.attn_logit_softcapping"), f(c)));
    }
    if let Some(c) = cfg.final_logit_softcap {
        meta.push((format!("{a}.final_logit_softcapping"), f(c)));
    }
    let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = std::fs::File::create(out).unwrap();
    gguf_file::write(&mut file, &meta_refs, &tensor_refs).unwrap();
    cfg
}

fn logits(model: &Model) -> Tensor {
    let step = Step::left_padded(
        &[vec![5, 6, 7, 8, 9, 10, 11], vec![300, 2, 40]],
        0,
        &Device::Cpu,
    )
    .unwrap();
    model.forward(&step, None, None).unwrap()
}

fn round_trip(arch: &str) {
    let Some(fx) = fixtures_dir() else { return };
    let dir = fx.join("tiny").join(arch);
    let tmp = std::env::temp_dir().join(format!("spillover-gguf-{arch}-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let path = tmp.join("model.gguf");
    let hf_cfg = write_gguf(&dir, &path);
    let reference = {
        let w = Weights::from_hf_dir(&dir, DType::F32, &Device::Cpu).unwrap();
        logits(&Model::from_weights(hf_cfg.clone(), &w).unwrap())
    };
    let g = GgufFile::open(&path).unwrap();
    let cfg = g.config().unwrap();
    assert_eq!(cfg.arch, hf_cfg.arch);
    assert_eq!(cfg.layer_types, hf_cfg.layer_types, "{arch}: layer types");
    assert_eq!(cfg.sliding_window, hf_cfg.sliding_window, "{arch}: window");
    assert_eq!(cfg.attention_bias, hf_cfg.attention_bias, "{arch}: biases");
    assert_eq!(cfg.tie_word_embeddings, hf_cfg.tie_word_embeddings);
    let w = g.weights(&cfg, DType::F32, &Device::Cpu).unwrap();
    let got = logits(&Model::from_weights(cfg, &w).unwrap());
    let d = max_abs_diff(&got, &reference);
    println!("{arch}: max |GGUF logit - safetensors logit| = {d:e}");
    assert!(d < 1e-5, "{arch}: GGUF logits differ by {d}");
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn qwen2_gguf_round_trip() {
    round_trip("qwen2");
}
#[test]
fn qwen3_gguf_round_trip() {
    round_trip("qwen3");
}
#[test]
fn phi3_gguf_round_trip() {
    round_trip("phi3");
}
#[test]
fn gemma2_gguf_round_trip() {
    round_trip("gemma2");
}
#[test]
fn olmo2_gguf_round_trip() {
    round_trip("olmo2");
}
