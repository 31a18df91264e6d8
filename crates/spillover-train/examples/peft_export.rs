//! Trains a LoRA adapter with Spillover on the tiny Llama fixture (an HF folder PEFT can load as
//! the base) and writes OUT/adapter (PEFT format) and OUT/spillover_logits.json (input ids and our
//! logits with the adapter), for tools/peft_check.py to compare against PEFT.
//! Usage: cargo run --example peft_export -- BASE_DIR OUT_DIR

use candle_core::{DType, Device};
use spillover_model::lora::{add_lora, save_peft, LoraConfig, PeftBase};
use spillover_model::{Model, ModelConfig, Step, Weights};
use spillover_train::schedule::Decay;
use spillover_train::trainer::{train, RunOptions, TrainConfig};
use spillover_train::{batch::Example, Trainable};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (base, out) = (PathBuf::from(&args[1]), PathBuf::from(&args[2]));
    let cfg = ModelConfig::from_hf_file(&base.join("config.json"))?;
    let vocab = cfg.vocab_size as u32;
    let mut model =
        Model::from_weights(cfg, &Weights::from_hf_dir(&base, DType::F32, &Device::Cpu)?)?;
    let lora = LoraConfig::parse("r=4,alpha=8,targets=q_proj,v_proj,down_proj")?;
    add_lora(&mut model, &lora, 7)?;
    // A small deterministic task: continue each sequence with its first token repeated.
    let examples: Vec<Example> = (0..16u32)
        .map(|i| {
            let ids: Vec<u32> = (0..10)
                .map(|j| 3 + (i * 37 + j * 11) % (vocab - 3))
                .chain(std::iter::repeat_n(3 + i, 4))
                .collect();
            let labels = ids
                .iter()
                .enumerate()
                .map(|(k, &t)| if k >= 10 { t as i64 } else { -100 })
                .collect();
            Example { ids, labels }
        })
        .collect();
    let trainable = Trainable::lora(&mut model)?;
    let tc = TrainConfig {
        epochs: 3,
        lr: 1e-2,
        warmup_steps: 0,
        decay: Decay::Constant,
        weight_decay: 0.0,
        max_grad_norm: Some(1.0),
        batch_size: 4,
        token_budget: 4096,
        grad_accum: 1,
        seed: 1,
        checkpoint_every: None,
    };
    let run = RunOptions {
        checkpoint_dir: None,
        resume: false,
        progress: false,
        setup_hash: String::new(),
        stop_after: None,
        pad_id: 0,
    };
    let report = train(&mut model, &trainable, &examples, &tc, &run)?;
    save_peft(
        &mut model,
        &lora,
        &PeftBase::named(base.display().to_string()),
        &out.join("adapter"),
    )?;
    let seqs: Vec<Vec<u32>> = examples.iter().take(4).map(|e| e.ids.clone()).collect();
    let logits = model.forward(&Step::left_padded(&seqs, 0, &Device::Cpu)?, None, None)?;
    let json = serde_json::json!({"input_ids": seqs, "logits": logits.to_vec3::<f32>()?, "losses": report.losses});
    std::fs::write(out.join("spillover_logits.json"), json.to_string())?;
    println!("wrote {} (losses {:?})", out.display(), report.losses);
    Ok(())
}
