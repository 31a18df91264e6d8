//! Parity with PEFT on fixtures/tiny/llama-lora: the PEFT adapter loads and gives PEFT's
//! logits (1e-4); five AdamW steps from it on the fixture batch reproduce PEFT's losses (1e-4
//! relative) and final LoRA weights (1e-4). Runs on `$SPILLOVER_TEST_DEVICE` (cpu by default) and
//! prints the largest differences seen (`--nocapture`).

use candle_core::{DType, Tensor};
use spillover_model::fixtures::{f32s, fixtures_dir, max_abs_diff, read_json, test_device};
use spillover_model::lora::{load_peft, lora_tensors};
use spillover_model::{Model, ModelConfig, Step, Weights};
use spillover_train::loss::masked_cross_entropy_hidden;
use spillover_train::{masked_cross_entropy, AdamW, AdamWConfig, Trainable};

fn rows<T>(v: &serde_json::Value, f: impl Fn(&serde_json::Value) -> T) -> Vec<Vec<T>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(&f).collect())
        .collect()
}

fn setup() -> Option<(Model, serde_json::Value, Step, Vec<Vec<i64>>)> {
    let fx = fixtures_dir()?;
    let base = fx.join("tiny/llama");
    let cfg = ModelConfig::from_hf_file(&base.join("config.json")).unwrap();
    let w = Weights::from_hf_dir(&base, DType::F32, &test_device()).unwrap();
    let mut model = Model::from_weights(cfg, &w).unwrap();
    load_peft(&mut model, &fx.join("tiny/llama-lora/adapter")).unwrap();
    let r = read_json(&fx.join("tiny/llama-lora/ref.json"));
    let ids: Vec<Vec<u32>> = rows(&r["input_ids"], |x| x.as_u64().unwrap() as u32);
    let mask: Vec<Vec<u32>> = rows(&r["attention_mask"], |x| x.as_u64().unwrap() as u32);
    let labels: Vec<Vec<i64>> = rows(&r["labels"], |x| x.as_i64().unwrap());
    // The fixture batch is left-padded with pad id 0; rebuild it from the unpadded rows.
    let seqs: Vec<Vec<u32>> = ids
        .iter()
        .zip(&mask)
        .map(|(i, m)| {
            i.iter()
                .zip(m)
                .filter(|(_, &m)| m == 1)
                .map(|(&i, _)| i)
                .collect()
        })
        .collect();
    // HF's training forward gives every row positions 0..t (padding included); RoPE makes that
    // equivalent up to rounding, and matching it keeps Adam's near-zero-gradient updates comparable.
    let step = Step::left_padded_absolute(&seqs, 0, &test_device()).unwrap();
    assert_eq!(step.input_ids.to_vec2::<u32>().unwrap(), ids);
    Some((model, r, step, labels))
}

#[test]
fn peft_adapter_logits_match() {
    let Some((model, r, step, _)) = setup() else {
        return;
    };
    let logits = model.forward(&step, None, None).unwrap();
    let want = Tensor::from_vec(
        f32s(&r["logits_with_adapter"]),
        logits.dims(),
        &test_device(),
    )
    .unwrap();
    let mask: Vec<Vec<u32>> = rows(&r["attention_mask"], |x| x.as_u64().unwrap() as u32);
    let m: Vec<f32> = mask.iter().flatten().map(|&x| x as f32).collect();
    let m = Tensor::from_vec(m, (3, 12, 1), &test_device()).unwrap();
    let d = max_abs_diff(
        &logits.broadcast_mul(&m).unwrap(),
        &want.broadcast_mul(&m).unwrap(),
    );
    println!("max |logit with adapter - PEFT| = {d:e}");
    assert!(d < 1e-4, "logits with adapter differ from PEFT by {d}");
}

#[test]
fn five_adamw_steps_match_peft() {
    let Some((mut model, r, step, labels)) = setup() else {
        return;
    };
    let trainable = Trainable::lora(&mut model).unwrap();
    let a = &r["adamw"];
    let cfg = AdamWConfig {
        lr: a["lr"].as_f64().unwrap(),
        beta1: a["betas"][0].as_f64().unwrap(),
        beta2: a["betas"][1].as_f64().unwrap(),
        eps: a["eps"].as_f64().unwrap(),
        weight_decay: a["weight_decay"].as_f64().unwrap(),
    };
    let lr = cfg.lr;
    let mut opt = AdamW::new(trainable.vars.clone(), cfg).unwrap();
    for (k, want) in r["train_losses"].as_array().unwrap().iter().enumerate() {
        let logits = model.forward(&step, None, None).unwrap();
        let loss = masked_cross_entropy(&logits, &labels).unwrap();
        let got: f32 = loss.to_scalar().unwrap();
        let want = want.as_f64().unwrap() as f32;
        println!(
            "step {k}: loss {got} vs PEFT {want}, relative {:e}",
            ((got - want) / want).abs()
        );
        assert!(
            ((got - want) / want).abs() < 1e-4,
            "step {k}: loss {got} vs PEFT {want}"
        );
        let grads = opt.grads_of(&loss.backward().unwrap()).unwrap();
        opt.step(&grads, lr, 1.0).unwrap();
    }
    let finals = &r["final_lora_weights"];
    for (name, t) in lora_tensors(&mut model).unwrap() {
        let key = name
            .replace("base_model.model.", "")
            .replace(".weight", ".default.weight");
        let want = Tensor::from_vec(f32s(&finals[&key]), t.dims(), &test_device()).unwrap();
        let d = max_abs_diff(&t, &want);
        println!("{name}: max |weight after 5 steps - PEFT| = {d:e}");
        assert!(d < 1e-4, "{name} after 5 steps differs from PEFT by {d}");
    }
}

/// The hidden-state form of the loss (unembedding labelled positions only) gives the same loss and
/// the same gradients as the full-logits form.
#[test]
fn hidden_state_loss_equals_full_logits_loss() {
    let Some((mut model, _, step, labels)) = setup() else {
        return;
    };
    let t = Trainable::lora(&mut model).unwrap();
    let full = masked_cross_entropy(&model.forward(&step, None, None).unwrap(), &labels).unwrap();
    let hidden = model.forward_hidden(&step, None, None).unwrap();
    let part = masked_cross_entropy_hidden(&model, &hidden, &labels).unwrap();
    let (a, b): (f32, f32) = (full.to_scalar().unwrap(), part.to_scalar().unwrap());
    println!("hidden-state loss {b} vs full-logits loss {a}");
    assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    let (ga, gb) = (full.backward().unwrap(), part.backward().unwrap());
    for v in &t.vars {
        let d = max_abs_diff(
            ga.get(v.as_tensor()).unwrap(),
            gb.get(v.as_tensor()).unwrap(),
        );
        println!("max |gradient difference| = {d:e}");
        assert!(d < 1e-6, "gradients differ by {d}");
    }
}
