//! The training loop on a tiny model: loss masks follow the chat template, training lowers the loss,
//! and a run stopped mid-way and resumed from its last checkpoint ends with exactly the adapter of an
//! uninterrupted run (with dropout on, so the dropout stream is part of what must resume).

use spillover_model::lora::{add_lora, lora_tensors, LoraConfig};
use spillover_model::{load, LoadOptions, LoadedModel};
use spillover_train::batch::Example;
use spillover_train::data::{read_jsonl, Encoder, LossOn, Record};
use spillover_train::loss::IGNORE;
use spillover_train::schedule::Decay;
use spillover_train::trainer::{train, RunOptions, TrainConfig};
use spillover_train::Trainable;
use std::path::PathBuf;

/// Default load options on the test device (`$SPILLOVER_TEST_DEVICE`, cpu by default).
fn on_test_device() -> LoadOptions {
    LoadOptions {
        device: spillover_model::fixtures::test_device(),
        ..LoadOptions::default()
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("spillover-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn records() -> Vec<Record> {
    (0..12)
        .map(|i| Record::PromptCompletion {
            prompt: format!("How do I do bad thing {i}?"),
            completion: "I can't help with that.".to_string(),
        })
        .collect()
}

fn encode(lm: &LoadedModel, loss_on: LossOn) -> Vec<Example> {
    let enc = Encoder {
        tokenizer: lm.tokenizer().unwrap(),
        chat: lm.chat.as_ref(),
        loss_on,
        max_len: 256,
    };
    enc.encode_all(&records()).unwrap().0
}

fn config(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        lr: 5e-3,
        warmup_steps: 2,
        decay: Decay::Cosine,
        weight_decay: 0.01,
        max_grad_norm: Some(1.0),
        batch_size: 3,
        token_budget: 512,
        grad_accum: 2,
        seed: 11,
        checkpoint_every: Some(2),
    }
}

fn run(
    stop_after: Option<u64>,
    resume: bool,
    ckpt: Option<PathBuf>,
    cfg: TrainConfig,
) -> (Vec<(String, Vec<f32>)>, Vec<f64>) {
    let mut lm = load("tiny-llama", &on_test_device()).unwrap();
    let lora =
        LoraConfig::parse("r=4,alpha=8,targets=q_proj,v_proj,down_proj,dropout=0.1").unwrap();
    add_lora(&mut lm.model, &lora, 5).unwrap();
    let examples = encode(&lm, LossOn::Completion);
    let trainable = Trainable::lora(&mut lm.model).unwrap();
    let opts = RunOptions {
        checkpoint_dir: ckpt,
        resume,
        progress: false,
        setup_hash: "test".into(),
        stop_after,
        pad_id: lm.pad_id(),
    };
    let report = train(&mut lm.model, &trainable, &examples, &cfg, &opts).unwrap();
    let w = lora_tensors(&mut lm.model).unwrap();
    (
        w.into_iter()
            .map(|(n, t)| (n, t.flatten_all().unwrap().to_vec1().unwrap()))
            .collect(),
        report.losses,
    )
}

#[test]
fn chat_template_masks_all_but_the_assistant_reply() {
    let lm = load("tiny-llama", &LoadOptions::default()).unwrap();
    let tok = lm.tokenizer().unwrap();
    for e in encode(&lm, LossOn::Completion) {
        let learned: Vec<u32> = e
            .labels
            .iter()
            .filter(|&&l| l != IGNORE)
            .map(|&l| l as u32)
            .collect();
        assert_eq!(
            tok.decode(&learned, false).unwrap(),
            "I can't help with that.<|im_end|>\n"
        );
        let text = tok.decode(&e.ids, false).unwrap();
        assert!(
            text.starts_with("<|im_start|>user\nHow do I do bad thing"),
            "{text}"
        );
    }
    let all = encode(&lm, LossOn::All);
    assert!(all.iter().all(|e| e.labels.iter().all(|&l| l != IGNORE)));
}

#[test]
fn plain_text_learns_completion_and_eos() {
    let lm = load("tiny-gpt2", &LoadOptions::default()).unwrap();
    let tok = lm.tokenizer().unwrap();
    let enc = Encoder {
        tokenizer: tok,
        chat: None,
        loss_on: LossOn::Completion,
        max_len: 256,
    };
    let e = enc.encode(&records()[0]).unwrap();
    let learned: Vec<u32> = e
        .labels
        .iter()
        .filter(|&&l| l != IGNORE)
        .map(|&l| l as u32)
        .collect();
    assert_eq!(*learned.last().unwrap(), tok.eos_id().unwrap());
    assert_eq!(
        tok.decode(&learned[..learned.len() - 1], false).unwrap(),
        "I can't help with that."
    );
}

#[test]
fn training_lowers_the_loss() {
    let cfg = TrainConfig {
        lr: 3e-2,
        epochs: 10,
        ..config(10)
    };
    let (_, losses) = run(None, false, None, cfg);
    // Tied unembedding rows of norm ~0.16 cap the logit gap a tiny random model can reach at ~1.3
    // nats below uniform (ln 264 ≈ 5.58), so a drop of a quarter nat is a clear learning signal.
    let (first, last) = (losses[0], *losses.last().unwrap());
    assert!(last < first - 0.25, "loss went from {first} to {last}");
    let tail = &losses[losses.len() - 4..];
    assert!(
        tail.iter().all(|&l| l < first),
        "late losses {tail:?} not below the first {first}"
    );
}

#[test]
fn resume_after_a_stop_equals_an_uninterrupted_run() {
    let (full, full_losses) = run(None, false, None, config(2));
    let ckpt = tmp("resume");
    // Stops after step 3; the newest checkpoint is step 2, so step 3 is redone on resume.
    let (_, partial) = run(Some(3), false, Some(ckpt.clone()), config(2));
    assert_eq!(partial.len(), 3);
    let (resumed, resumed_losses) = run(None, true, Some(ckpt), config(2));
    assert_eq!(
        resumed_losses, full_losses,
        "loss history differs after resume"
    );
    for ((n, a), (_, b)) in full.iter().zip(&resumed) {
        assert_eq!(a, b, "{n} differs after resume");
    }
}

#[test]
fn malformed_jsonl_names_file_and_line() {
    let d = tmp("jsonl");
    let p = d.join("train.jsonl");
    std::fs::write(
        &p,
        "{\"prompt\": \"a\", \"completion\": \"b\"}\n\n{\"prompt\": \"a\"}\n",
    )
    .unwrap();
    let err = read_jsonl(&p).unwrap_err().to_string();
    assert!(
        err.contains("train.jsonl:3") && err.contains("completion"),
        "{err}"
    );
    std::fs::write(&p, "not json\n").unwrap();
    assert!(read_jsonl(&p)
        .unwrap_err()
        .to_string()
        .contains(":1: not valid JSON"));
    std::fs::write(
        &p,
        "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}\n",
    )
    .unwrap();
    assert!(read_jsonl(&p)
        .unwrap_err()
        .to_string()
        .contains("no assistant turn"));
}

#[test]
fn trained_model_is_left_without_autograd_tracking() {
    let mut lm = load("tiny-llama", &on_test_device()).unwrap();
    add_lora(
        &mut lm.model,
        &LoraConfig::parse("r=2,alpha=4,targets=q_proj").unwrap(),
        1,
    )
    .unwrap();
    let examples = encode(&lm, LossOn::Completion);
    let trainable = Trainable::lora(&mut lm.model).unwrap();
    let opts = RunOptions {
        checkpoint_dir: None,
        resume: false,
        progress: false,
        setup_hash: String::new(),
        stop_after: None,
        pad_id: lm.pad_id(),
    };
    train(&mut lm.model, &trainable, &examples, &config(1), &opts).unwrap();
    for (name, lin) in lm.model.linears_mut() {
        assert!(!lin.weight.track_op(), "{name}");
        if let Some(l) = &lin.lora {
            assert!(
                !l.a.track_op() && !l.b.track_op(),
                "{name} adapter still tracked"
            );
        }
    }
}
