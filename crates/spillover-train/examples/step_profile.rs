//! Times one LoRA training step's parts on a model file: forward without gradients, forward with
//! trainable adapters, loss and backward. Usage: step_profile MODEL.gguf [batch] [seq]
use candle_core::Device;
use spillover_model::lora::{add_lora, LoraConfig};
use spillover_model::{load, LoadOptions, Step};
use spillover_train::{masked_cross_entropy, Trainable};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let b: usize = args.get(2).map_or(8, |s| s.parse().unwrap());
    let t: usize = args.get(3).map_or(128, |s| s.parse().unwrap());
    let mut lm = load(&args[1], &LoadOptions::default()).unwrap();
    let seqs: Vec<Vec<u32>> = (0..b)
        .map(|i| {
            (0..t)
                .map(|j| ((i * 131 + j * 17) % 40000) as u32 + 100)
                .collect()
        })
        .collect();
    let labels: Vec<Vec<i64>> = seqs
        .iter()
        .map(|s| s.iter().map(|&x| x as i64).collect())
        .collect();
    let step = Step::left_padded(&seqs, 0, &Device::Cpu).unwrap();
    let now = Instant::now();
    let _ = lm.model.forward(&step, None, None).unwrap();
    println!("forward, no grad: {:.2}s", now.elapsed().as_secs_f64());
    add_lora(
        &mut lm.model,
        &LoraConfig::parse("r=8,alpha=16,targets=q_proj,v_proj").unwrap(),
        0,
    )
    .unwrap();
    let _tr = Trainable::lora(&mut lm.model).unwrap();
    let now = Instant::now();
    let logits = lm.model.forward(&step, None, None).unwrap();
    println!("forward, lora vars: {:.2}s", now.elapsed().as_secs_f64());
    let now = Instant::now();
    let loss = masked_cross_entropy(&logits, &labels).unwrap();
    println!("loss: {:.2}s", now.elapsed().as_secs_f64());
    let now = Instant::now();
    let _g = loss.backward().unwrap();
    println!("backward: {:.2}s", now.elapsed().as_secs_f64());
}
