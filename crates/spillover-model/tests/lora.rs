//! LoRA on the runtime: a fresh adapter changes nothing, merge/unmerge round-trips the base weights,
//! disabling an adapter restores the base model, and a saved adapter reloads to the same outputs.

use candle_core::Tensor;
use spillover_errors::UserFixable;
use spillover_model::fixtures::{fixtures_dir, max_abs_diff, test_device};
use spillover_model::lora::{
    add_lora, load_peft, lora_tensors, save_peft, set_enabled, set_merged, LoraConfig, PeftBase,
};
use spillover_model::{load, load_path, LoadOptions, Model, Step};

/// A tiny random model on the test device (`$SPILLOVER_TEST_DEVICE`); `fixture-ARCH` is the HF
/// fixture `fixtures/tiny/ARCH`.
fn tiny(name: &str) -> Model {
    let opts = LoadOptions {
        device: test_device(),
        ..LoadOptions::default()
    };
    if let Some(arch) = name.strip_prefix("fixture-") {
        let dir = fixtures_dir().expect("fixtures").join("tiny").join(arch);
        return load_path(&dir, &opts).unwrap().model;
    }
    load(name, &opts).unwrap().model
}

fn logits(m: &Model) -> Tensor {
    let step =
        Step::left_padded(&[vec![5, 9, 77, 3, 12], vec![100, 7]], 256, &test_device()).unwrap();
    m.forward(&step, None, None).unwrap()
}

fn cfg(targets: &[&str]) -> LoraConfig {
    LoraConfig {
        r: 4,
        alpha: 8.0,
        dropout: 0.0,
        targets: targets.iter().map(|s| s.to_string()).collect(),
        use_rslora: false,
    }
}

/// Gives every B non-zero values so the adapter changes the output.
fn perturb_b(m: &mut Model) {
    for (i, (_, lin)) in m.linears_mut().into_iter().enumerate() {
        if let Some(l) = lin.lora.as_mut() {
            let n = l.b.elem_count();
            let vals: Vec<f32> = (0..n)
                .map(|j| (((i * 31 + j * 17) % 13) as f32 - 6.0) * 0.01)
                .collect();
            l.b = Tensor::from_vec(vals, l.b.dims(), l.b.device()).unwrap();
        }
    }
}

const ARCHS: [(&str, &[&str]); 6] = [
    ("tiny-gpt2", &["c_attn", "c_proj", "c_fc"]),
    ("tiny-llama", &["q_proj", "v_proj", "down_proj"]),
    ("tiny-gemma3", &["q_proj", "k_proj", "o_proj", "gate_proj"]),
    // Phi-3's fused projections are LoRA targets under their own module names.
    ("fixture-phi3", &["qkv_proj", "gate_up_proj", "o_proj"]),
    ("fixture-qwen2", &["q_proj", "k_proj", "v_proj", "o_proj"]),
    ("fixture-olmo2", &["q_proj", "up_proj", "down_proj"]),
];

/// LoRA targets name the fused Phi-3 layers by their HF module names, one adapter per layer.
#[test]
fn phi3_fused_modules_are_lora_targets() {
    if fixtures_dir().is_none() {
        return;
    }
    let mut m = tiny("fixture-phi3");
    let mut names = add_lora(&mut m, &cfg(&["qkv_proj", "gate_up_proj"]), 5).unwrap();
    names.sort();
    assert_eq!(
        names,
        [
            "model.layers.0.mlp.gate_up_proj",
            "model.layers.0.self_attn.qkv_proj",
            "model.layers.1.mlp.gate_up_proj",
            "model.layers.1.self_attn.qkv_proj",
        ]
    );
    // The adapter of the fused layer has the fused output width ([q; k; v] rows).
    let lin = m
        .linears_mut()
        .into_iter()
        .find(|(n, _)| n == "model.layers.0.self_attn.qkv_proj")
        .unwrap()
        .1;
    assert_eq!(lin.lora.as_ref().unwrap().b.dims(), &[128, 4]);
}

#[test]
fn fresh_adapter_leaves_logits_unchanged() {
    for (name, targets) in ARCHS {
        let mut m = tiny(name);
        let before = logits(&m);
        let adapted = add_lora(&mut m, &cfg(targets), 1).unwrap();
        assert!(!adapted.is_empty());
        assert_eq!(
            max_abs_diff(&before, &logits(&m)),
            0.0,
            "{name}: B = 0 must change nothing"
        );
    }
}

#[test]
fn merge_unmerge_and_disable() {
    for (name, targets) in ARCHS {
        let mut m = tiny(name);
        let base_logits = logits(&m);
        let base_w: Vec<Tensor> = m
            .linears_mut()
            .into_iter()
            .map(|(_, l)| l.weight.clone())
            .collect();
        add_lora(&mut m, &cfg(targets), 2).unwrap();
        perturb_b(&mut m);
        let adapted = logits(&m);
        assert!(
            max_abs_diff(&adapted, &base_logits) > 1e-4,
            "{name}: adapter must matter"
        );
        set_enabled(&mut m, false);
        assert_eq!(
            max_abs_diff(&logits(&m), &base_logits),
            0.0,
            "{name}: disabled adapter must be a no-op"
        );
        set_enabled(&mut m, true);
        assert_eq!(max_abs_diff(&logits(&m), &adapted), 0.0);
        set_merged(&mut m, true).unwrap();
        let merged = logits(&m);
        assert!(
            max_abs_diff(&merged, &adapted) < 1e-5,
            "{name}: merged model differs from adapter"
        );
        set_merged(&mut m, false).unwrap();
        for (w0, (n, l)) in base_w.iter().zip(m.linears_mut()) {
            assert!(
                max_abs_diff(w0, &l.weight) < 1e-6,
                "{name}: {n} not restored by unmerge"
            );
        }
        assert!(max_abs_diff(&logits(&m), &adapted) < 1e-5);
    }
}

#[test]
fn saved_adapter_reloads_to_the_same_outputs() {
    for (name, targets) in ARCHS {
        let mut m = tiny(name);
        let c = cfg(targets);
        add_lora(&mut m, &c, 3).unwrap();
        perturb_b(&mut m);
        let want = logits(&m);
        let dir =
            std::env::temp_dir().join(format!("spillover-lora-{name}-{}", std::process::id()));
        save_peft(&mut m, &c, &PeftBase::named(name), &dir).unwrap();
        let cfg_json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("adapter_config.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(cfg_json["peft_type"], "LORA");
        assert_eq!(cfg_json["base_model_name_or_path"], name);
        assert_eq!(cfg_json["fan_in_fan_out"], name == "tiny-gpt2");
        let mut fresh = tiny(name);
        let loaded = load_peft(&mut fresh, &dir).unwrap();
        assert_eq!((loaded.r, loaded.alpha), (c.r, c.alpha));
        assert_eq!(
            max_abs_diff(&logits(&fresh), &want),
            0.0,
            "{name}: reloaded adapter differs"
        );
        assert_eq!(
            lora_tensors(&mut fresh).unwrap().len(),
            lora_tensors(&mut m).unwrap().len()
        );
    }
}

#[test]
fn lora_spec_parsing() {
    let c = LoraConfig::parse("r=8,alpha=16,targets=q_proj,v_proj,dropout=0.05").unwrap();
    assert_eq!((c.r, c.alpha, c.dropout), (8, 16.0, 0.05));
    assert_eq!(c.targets, vec!["q_proj", "v_proj"]);
    assert!((c.scale() - 2.0).abs() < 1e-12);
    let rs = LoraConfig::parse("r=4,alpha=8,targets=q_proj,rslora").unwrap();
    assert!(rs.use_rslora && (rs.scale() - 4.0).abs() < 1e-12);
    assert!(LoraConfig::parse("r=8,alpha=16")
        .unwrap_err()
        .contains("targets"));
    assert!(LoraConfig::parse("r=8,alpah=16,targets=q_proj")
        .unwrap_err()
        .contains("alpah"));
    assert!(
        c.matches("model.layers.3.self_attn.q_proj")
            && !c.matches("model.layers.3.self_attn.k_proj")
    );
}

#[test]
fn adapter_for_another_model_is_bad_input() {
    let mut m = tiny("tiny-llama");
    let c = cfg(&["q_proj"]);
    add_lora(&mut m, &c, 4).unwrap();
    let dir = std::env::temp_dir().join(format!("spillover-lora-mismatch-{}", std::process::id()));
    save_peft(&mut m, &c, &PeftBase::named("tiny-llama"), &dir).unwrap();
    let mut other = tiny("tiny-gpt2");
    let err = load_peft(&mut other, &dir).unwrap_err();
    assert!(
        err.user_can_fix() && err.to_string().contains("matches no linear layer"),
        "{err}"
    );
}
