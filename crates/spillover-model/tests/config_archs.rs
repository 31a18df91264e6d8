//! Reading the configs of the architectures beyond GPT-2/Llama/Gemma-3 from HF `config.json`, the
//! parameter count against the safetensors files, and the unsupported variants refused with an
//! error that names the file and the key.

use candle_core::Device;
use spillover_errors::UserFixable;
use spillover_model::config::AttnKind;
use spillover_model::fixtures::fixtures_dir;
use spillover_model::{load_path, Arch, LoadOptions, ModelConfig};
use std::path::Path;

const FIXTURES: [(&str, Arch); 9] = [
    ("gpt2", Arch::Gpt2),
    ("llama", Arch::Llama),
    ("gemma3", Arch::Gemma3),
    ("qwen2", Arch::Qwen2),
    ("qwen3", Arch::Qwen3),
    ("mistral", Arch::Mistral),
    ("phi3", Arch::Phi3),
    ("gemma2", Arch::Gemma2),
    ("olmo2", Arch::Olmo2),
];

/// Each fixture loads from its HF folder as its architecture, and the parameter count equals the
/// number of values in its safetensors file.
#[test]
fn fixtures_load_with_their_architecture_and_parameter_count() {
    let Some(fx) = fixtures_dir() else { return };
    for (name, arch) in FIXTURES {
        let dir = fx.join("tiny").join(name);
        let lm = load_path(&dir, &LoadOptions::default()).unwrap();
        assert_eq!(lm.config().arch, arch, "{name}");
        assert_eq!(lm.config().arch.name(), name);
        let file = spillover_model::weights::read_safetensors(
            &dir.join("model.safetensors"),
            &Device::Cpu,
        )
        .unwrap();
        // GPT-2's file also holds the causal-mask buffers `attn.bias` of old checkpoints.
        let stored: usize = file
            .iter()
            .filter(|(n, _)| !n.ends_with(".attn.bias") && !n.ends_with(".attn.masked_bias"))
            .map(|(_, t)| t.elem_count())
            .sum();
        assert_eq!(lm.model.num_params(), stored, "{name}: parameter count");
    }
}

#[test]
fn window_patterns_and_biases_from_config() {
    let Some(fx) = fixtures_dir() else { return };
    let cfg = |n: &str| ModelConfig::from_hf_file(&fx.join("tiny").join(n).join("config.json"));
    let m = cfg("mistral").unwrap();
    assert_eq!(m.sliding_window, Some(4));
    assert_eq!(m.layer_types, vec![AttnKind::Sliding; 2]);
    let g = cfg("gemma2").unwrap();
    use AttnKind::{Global, Sliding};
    assert_eq!(g.layer_types, vec![Sliding, Global, Sliding, Global]);
    assert_eq!(
        (g.attn_logit_softcap, g.final_logit_softcap),
        (Some(50.0), Some(30.0))
    );
    assert_eq!(g.rope_local_theta, g.rope_theta);
    assert!(
        (g.attn_scale - 0.25).abs() < 1e-12,
        "query_pre_attn_scalar 16"
    );
    assert!(cfg("qwen2").unwrap().attention_bias);
    assert!(!cfg("qwen3").unwrap().attention_bias);
    assert_eq!(cfg("qwen2").unwrap().layer_types, vec![Global; 2]);
    assert_eq!(cfg("phi3").unwrap().sliding_window, None);
}

/// The fixture's config with `edit` applied, parsed.
fn parse_edited(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> spillover_model::Error {
    let fx = fixtures_dir().unwrap();
    let text = std::fs::read_to_string(fx.join("tiny").join(name).join("config.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    edit(&mut v);
    ModelConfig::from_hf_json(Path::new("some/config.json"), &v).unwrap_err()
}

#[test]
fn unsupported_variants_are_bad_input_naming_the_key() {
    if fixtures_dir().is_none() {
        return;
    }
    let cases = [
        (
            parse_edited("qwen2", |v| v["use_sliding_window"] = true.into()),
            "use_sliding_window",
        ),
        (
            parse_edited("phi3", |v| {
                v["rope_parameters"]["partial_rotary_factor"] = 0.5.into()
            }),
            "partial_rotary_factor",
        ),
        (
            parse_edited("gemma2", |v| v["hidden_activation"] = "relu".into()),
            "hidden_activation",
        ),
        (
            parse_edited("olmo2", |v| v["model_type"] = "olmo3".into()),
            "qwen2, qwen3, mistral, phi3, gemma2, olmo2",
        ),
    ];
    for (err, key) in cases {
        assert!(err.user_can_fix(), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains(key) && msg.contains("some/config.json"),
            "{msg}"
        );
    }
}
