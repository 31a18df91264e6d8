//! The GGUF path (metadata → config, dequantization, llama.cpp's Q/K permutation undone) checked
//! against the safetensors path on the tiny Llama fixture, and every kind of bad input giving a
//! `BadInput` error that names the file and what is wrong.

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use spillover_errors::UserFixable;
use spillover_model::fixtures::{fixtures_dir, max_abs_diff};
use spillover_model::gguf::{permute, GgufFile};
use spillover_model::{load_path, LoadOptions, Model, ModelConfig, Step, Weights};
use std::path::{Path, PathBuf};

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("spillover-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// HF name → llama.cpp name for the Llama tensors.
fn gguf_name(hf: &str) -> String {
    let map = [
        ("self_attn.q_proj", "attn_q"),
        ("self_attn.k_proj", "attn_k"),
        ("self_attn.v_proj", "attn_v"),
        ("self_attn.o_proj", "attn_output"),
        ("mlp.gate_proj", "ffn_gate"),
        ("mlp.up_proj", "ffn_up"),
        ("mlp.down_proj", "ffn_down"),
        ("input_layernorm", "attn_norm"),
        ("post_attention_layernorm", "ffn_norm"),
    ];
    match hf {
        "model.embed_tokens.weight" => return "token_embd.weight".into(),
        "model.norm.weight" => return "output_norm.weight".into(),
        _ => {}
    }
    let rest = hf.strip_prefix("model.layers.").unwrap();
    let (l, leaf) = rest.split_once('.').unwrap();
    let module = leaf.strip_suffix(".weight").unwrap();
    let g = map.iter().find(|(h, _)| *h == module).unwrap().1;
    format!("blk.{l}.{g}.weight")
}

/// Writes the tiny Llama fixture as a llama.cpp-style GGUF with matrices in `dtype`.
fn write_tiny_llama_gguf(dir: &Path, dtype: GgmlDType, out: &Path) -> ModelConfig {
    let cfg = ModelConfig::from_hf_file(&dir.join("config.json")).unwrap();
    let w =
        spillover_model::weights::read_safetensors(&dir.join("model.safetensors"), &Device::Cpu)
            .unwrap();
    let mut tensors = Vec::new();
    let mut names: Vec<&String> = w.keys().collect();
    names.sort();
    for hf in names {
        let mut t = w[hf].clone();
        if hf.ends_with("q_proj.weight") {
            t = permute(&t, cfg.num_heads).unwrap();
        } else if hf.ends_with("k_proj.weight") {
            t = permute(&t, cfg.num_kv_heads).unwrap();
        }
        let dt = if t.rank() == 2 { dtype } else { GgmlDType::F32 };
        tensors.push((gguf_name(hf), QTensor::quantize(&t, dt).unwrap()));
    }
    let u = |x: usize| Value::U32(x as u32);
    let meta = vec![
        ("general.architecture", Value::String("llama".into())),
        ("llama.embedding_length", u(cfg.hidden_size)),
        ("llama.block_count", u(cfg.num_layers)),
        ("llama.attention.head_count", u(cfg.num_heads)),
        ("llama.attention.head_count_kv", u(cfg.num_kv_heads)),
        ("llama.feed_forward_length", u(cfg.intermediate_size)),
        ("llama.context_length", u(cfg.max_positions)),
        ("llama.rope.freq_base", Value::F32(cfg.rope_theta as f32)),
        (
            "llama.attention.layer_norm_rms_epsilon",
            Value::F32(cfg.norm_eps as f32),
        ),
    ];
    let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (*k, v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut f = std::fs::File::create(out).unwrap();
    gguf_file::write(&mut f, &meta_refs, &tensor_refs).unwrap();
    cfg
}

fn logits(model: &Model) -> Tensor {
    let step = Step::left_padded(&[vec![5, 6, 7, 8, 9], vec![300, 2]], 0, &Device::Cpu).unwrap();
    model.forward(&step, None, None).unwrap()
}

#[test]
fn gguf_dequantized_types_match_safetensors() {
    let Some(fx) = fixtures_dir() else { return };
    let dir = fx.join("tiny/llama");
    let reference = {
        let cfg = ModelConfig::from_hf_file(&dir.join("config.json")).unwrap();
        let w = Weights::from_hf_dir(&dir, DType::F32, &Device::Cpu).unwrap();
        logits(&Model::from_weights(cfg, &w).unwrap())
    };
    let tmp = tmpdir("gguf");
    // F32 and F16 must give the safetensors logits; for every type, each loaded matrix must be
    // exactly the original quantized and dequantized once (so names, layout and llama.cpp's row
    // permutation all round-trip).
    let originals =
        spillover_model::weights::read_safetensors(&dir.join("model.safetensors"), &Device::Cpu)
            .unwrap();
    let cases = [
        (GgmlDType::F32, Some(1e-6f32)),
        (GgmlDType::F16, Some(1e-3)),
        (GgmlDType::Q8_0, None),
        (GgmlDType::Q5_0, None),
        (GgmlDType::Q4_1, None),
        (GgmlDType::Q4_0, None),
    ];
    for (dtype, tol) in cases {
        let path = tmp.join(format!("tiny-{dtype:?}.gguf"));
        write_tiny_llama_gguf(&dir, dtype, &path);
        let g = GgufFile::open(&path).unwrap();
        let cfg = g.config().unwrap();
        let w = g.weights(&cfg, DType::F32, &Device::Cpu).unwrap();
        for (name, orig) in &originals {
            let loaded = w.get(name, orig.dims()).unwrap();
            let want = if orig.rank() == 2 {
                QTensor::quantize(orig, dtype)
                    .unwrap()
                    .dequantize(&Device::Cpu)
                    .unwrap()
            } else {
                orig.clone()
            };
            assert_eq!(
                max_abs_diff(&loaded, &want),
                0.0,
                "{dtype:?}: {name} does not round-trip"
            );
        }
        if let Some(tol) = tol {
            let d = max_abs_diff(&logits(&Model::from_weights(cfg, &w).unwrap()), &reference);
            assert!(
                d < tol,
                "{dtype:?} GGUF logits differ from safetensors by {d}"
            );
        }
    }
}

fn assert_bad_input(err: spillover_model::Error, path: &Path, needle: &str) {
    assert!(err.user_can_fix(), "not a bad-input error: {err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&path.display().to_string()),
        "error does not name {}: {msg}",
        path.display()
    );
    assert!(msg.contains(needle), "error does not say {needle:?}: {msg}");
}

#[test]
fn missing_path_is_bad_input() {
    let p = Path::new("/nonexistent/model.gguf");
    let err = load_path(p, &LoadOptions::default()).err().unwrap();
    assert_bad_input(err, p, "no such file");
}

#[test]
fn truncated_safetensors_is_bad_input() {
    let Some(fx) = fixtures_dir() else { return };
    let tmp = tmpdir("trunc-st");
    std::fs::copy(fx.join("tiny/llama/config.json"), tmp.join("config.json")).unwrap();
    let bytes = std::fs::read(fx.join("tiny/llama/model.safetensors")).unwrap();
    let st = tmp.join("model.safetensors");
    std::fs::write(&st, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_path(&tmp, &LoadOptions::default()).err().unwrap();
    assert_bad_input(err, &st, "truncated or corrupt");
}

#[test]
fn truncated_gguf_is_bad_input() {
    let Some(fx) = fixtures_dir() else { return };
    let tmp = tmpdir("trunc-gguf");
    let full = tmp.join("full.gguf");
    write_tiny_llama_gguf(&fx.join("tiny/llama"), GgmlDType::Q8_0, &full);
    let bytes = std::fs::read(&full).unwrap();
    let cut = tmp.join("cut.gguf");
    std::fs::write(&cut, &bytes[..bytes.len() - 1000]).unwrap();
    assert_bad_input(GgufFile::open(&cut).err().unwrap(), &cut, "truncated");
    let header_only = tmp.join("header.gguf");
    std::fs::write(&header_only, &bytes[..40]).unwrap();
    assert_bad_input(
        GgufFile::open(&header_only).err().unwrap(),
        &header_only,
        "not a readable GGUF",
    );
}

#[test]
fn unsupported_quant_type_is_bad_input() {
    let Some(fx) = fixtures_dir() else { return };
    let tmp = tmpdir("quant");
    let path = tmp.join("m.gguf");
    write_tiny_llama_gguf(&fx.join("tiny/llama"), GgmlDType::Q8_0, &path);
    // Overwrite the type of the first tensor info (token_embd.weight... whichever comes first after
    // its name) with 16 (IQ2_XXS), which we do not support.
    let mut bytes = std::fs::read(&path).unwrap();
    let name = b"blk.0.attn_k.weight";
    let at = bytes.windows(name.len()).position(|w| w == name).unwrap() + name.len();
    let n_dims = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let ty = at + 4 + 8 * n_dims;
    bytes[ty..ty + 4].copy_from_slice(&16u32.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();
    let err = GgufFile::open(&path).err().unwrap();
    assert_bad_input(err, &path, "unsupported tensor type");
}

#[test]
fn unsupported_architecture_is_bad_input() {
    let tmp = tmpdir("arch");
    let cfg = tmp.join("config.json");
    std::fs::write(&cfg, r#"{"model_type": "bert", "hidden_size": 8}"#).unwrap();
    let err = load_path(&tmp, &LoadOptions::default()).err().unwrap();
    assert_bad_input(err, &cfg, "unsupported architecture model_type=\"bert\"");
}

#[test]
fn config_missing_key_is_bad_input() {
    let Some(fx) = fixtures_dir() else { return };
    let tmp = tmpdir("key");
    let text = std::fs::read_to_string(fx.join("tiny/llama/config.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.as_object_mut().unwrap().remove("hidden_size");
    let cfg = tmp.join("config.json");
    std::fs::write(&cfg, v.to_string()).unwrap();
    std::fs::copy(
        fx.join("tiny/llama/model.safetensors"),
        tmp.join("model.safetensors"),
    )
    .unwrap();
    let err = load_path(&tmp, &LoadOptions::default()).err().unwrap();
    assert_bad_input(err, &cfg, "\"hidden_size\" is missing");
}

#[test]
fn weight_with_wrong_shape_is_bad_input() {
    let Some(fx) = fixtures_dir() else { return };
    let tmp = tmpdir("shape");
    let text = std::fs::read_to_string(fx.join("tiny/llama/config.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["intermediate_size"] = 96.into();
    std::fs::write(tmp.join("config.json"), v.to_string()).unwrap();
    std::fs::copy(
        fx.join("tiny/llama/model.safetensors"),
        tmp.join("model.safetensors"),
    )
    .unwrap();
    let err = load_path(&tmp, &LoadOptions::default()).err().unwrap();
    assert_bad_input(err, &tmp, "expected [96, 64]");
}
