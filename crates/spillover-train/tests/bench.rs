//! The training benchmark trains: its timed steps run the backward pass and change the adapter
//! (each step's loss differs from the last), and training a model again with variables a finished
//! run has detached is an error, not a silent forward-only run.

use spillover_model::fixtures::test_device;
use spillover_model::lora::{add_lora, LoraConfig};
use spillover_model::{load, LoadOptions};
use spillover_train::batch::Example;
use spillover_train::bench::{bench_batch, bench_lora};
use spillover_train::schedule::Decay;
use spillover_train::trainer::{train, RunOptions, TrainConfig};
use spillover_train::Trainable;

fn tiny() -> spillover_model::LoadedModel {
    let opts = LoadOptions {
        device: test_device(),
        ..LoadOptions::default()
    };
    load("tiny-llama", &opts).unwrap()
}

#[test]
fn timed_benchmark_steps_train() {
    let mut lm = tiny();
    let ids = bench_batch(2, 16, lm.config().vocab_size);
    let lora = LoraConfig::parse("r=4,alpha=8,targets=q_proj,v_proj").unwrap();
    let b = bench_lora(&mut lm.model, &ids, &lora, 3).unwrap();
    assert_eq!(b.losses.len(), 3);
    for w in b.losses.windows(2) {
        assert_ne!(
            w[0], w[1],
            "a timed step left the adapter unchanged: {:?}",
            b.losses
        );
    }
}

#[test]
fn training_with_detached_variables_is_an_error() {
    let mut lm = tiny();
    let lora = LoraConfig::parse("r=4,alpha=8,targets=q_proj").unwrap();
    add_lora(&mut lm.model, &lora, 0).unwrap();
    let t = Trainable::lora(&mut lm.model).unwrap();
    let ex = vec![Example {
        ids: vec![5, 6, 7, 8],
        labels: vec![5, 6, 7, 8],
    }];
    let cfg = TrainConfig {
        epochs: 1,
        lr: 1e-3,
        warmup_steps: 0,
        decay: Decay::Constant,
        weight_decay: 0.0,
        max_grad_norm: None,
        batch_size: 1,
        token_budget: 64,
        grad_accum: 1,
        seed: 0,
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
    train(&mut lm.model, &t, &ex, &cfg, &run).unwrap();
    let err = train(&mut lm.model, &t, &ex, &cfg, &run)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no trainable tensor"), "{err}");
    // A new Trainable over the same adapter trains again.
    let t = Trainable::lora(&mut lm.model).unwrap();
    train(&mut lm.model, &t, &ex, &cfg, &run).unwrap();
}
