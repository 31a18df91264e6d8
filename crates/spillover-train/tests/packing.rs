//! Packing and the chunked loss against the plain forms they replace:
//!
//! - several examples of different lengths packed into rows (block-diagonal mask, positions from 0
//!   for every example) give the loss and LoRA gradients of the same examples left-padded one per
//!   row, within 1e-5 relative, on architectures with global attention, learned positions, and
//!   sliding windows shorter than the examples (tiny-gemma3, window 8; the Mistral fixture,
//!   window 4);
//! - whole training runs in the two layouts give the same losses step by step;
//! - the chunked cross-entropy (labelled positions unembedded a few at a time, each chunk's
//!   gradient collected at once) equals the full-logits loss in value and gradient, also with
//!   Gemma-2's final-logit soft-cap.

use candle_core::{Tensor, Var};
use spillover_model::fixtures::{fixtures_dir, test_device};
use spillover_model::lora::{add_lora, lora_tensors, LoraConfig};
use spillover_model::{load, load_path, LoadOptions, Model};
use spillover_train::batch::{collate, collate_packed, pack_rows, Batch, Example};
use spillover_train::loss::{chunked_cross_entropy_hidden, masked_cross_entropy_hidden, IGNORE};
use spillover_train::schedule::Decay;
use spillover_train::trainer::{train, train_with, Layout, RunOptions, TrainConfig};
use spillover_train::{masked_cross_entropy, Trainable};

/// A model on the test device: `tiny-*` or `fixture-ARCH` (fixtures/tiny/ARCH). None when the
/// fixtures are missing.
fn model(name: &str) -> Option<Model> {
    let opts = LoadOptions {
        device: test_device(),
        ..LoadOptions::default()
    };
    Some(match name.strip_prefix("fixture-") {
        Some(arch) => {
            load_path(&fixtures_dir()?.join("tiny").join(arch), &opts)
                .ok()?
                .model
        }
        None => load(name, &opts).unwrap().model,
    })
}

/// LoRA on the attention and MLP projections with every B non-zero, so A gets a gradient too.
fn with_lora(m: &mut Model) -> Trainable {
    let targets = match m.config().arch {
        spillover_model::Arch::Gpt2 => "c_attn,c_proj,c_fc",
        _ => "q_proj,k_proj,v_proj,o_proj,down_proj",
    };
    let cfg = LoraConfig::parse(&format!("r=4,alpha=8,targets={targets}")).unwrap();
    add_lora(m, &cfg, 3).unwrap();
    let t = Trainable::lora(m).unwrap();
    for (i, (name, v)) in t.names.iter().zip(&t.vars).enumerate() {
        if name.contains("lora_B") {
            let vals: Vec<f32> = (0..v.elem_count())
                .map(|j| (((i * 31 + j * 17) % 13) as f32 - 6.0) * 0.02)
                .collect();
            v.set(&Tensor::from_vec(vals, v.dims(), v.device()).unwrap())
                .unwrap();
        }
    }
    t
}

/// Examples of lengths 3..=30 tokens (below `vocab`), each with a prompt that carries no loss
/// and a completion that does (one with the loss on every token).
fn examples(vocab: usize) -> Vec<Example> {
    [7usize, 30, 3, 18, 11, 25, 5, 14]
        .iter()
        .enumerate()
        .map(|(k, &len)| {
            let ids: Vec<u32> = (0..len)
                .map(|j| ((k * 37 + j * 11 + 5) % (vocab - 10)) as u32 + 3)
                .collect();
            let prompt = if k == 2 { 0 } else { len / 2 };
            let labels = ids
                .iter()
                .enumerate()
                .map(|(j, &t)| if j < prompt { IGNORE } else { t as i64 })
                .collect();
            Example { ids, labels }
        })
        .collect()
}

/// Loss and gradients (in `t.vars` order) of one batch.
fn loss_and_grads(m: &Model, t: &Trainable, b: &Batch) -> (f32, Vec<Tensor>) {
    let hidden = m.forward_hidden(&b.step, None, None).unwrap();
    let loss = masked_cross_entropy_hidden(m, &hidden, &b.labels).unwrap();
    let g = loss.backward().unwrap();
    let grads = t
        .vars
        .iter()
        .map(|v| g.get(v.as_tensor()).unwrap().clone())
        .collect();
    (loss.to_scalar().unwrap(), grads)
}

/// max |a − b| / max |a| over every element of two gradient lists.
fn rel_diff(a: &[Tensor], b: &[Tensor]) -> f32 {
    let (mut diff, mut scale) = (0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        let x: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        let y: Vec<f32> = y.flatten_all().unwrap().to_vec1().unwrap();
        for (p, q) in x.iter().zip(&y) {
            diff = diff.max((p - q).abs());
            scale = scale.max(p.abs());
        }
    }
    assert!(scale > 0.0, "all gradients are zero: nothing is compared");
    diff / scale
}

fn check_packed_equals_padded(name: &str) {
    let Some(mut m) = model(name) else {
        return;
    };
    let t = with_lora(&mut m);
    let ex = examples(m.config().vocab_size);
    let pad = m.config().pad_token_id.unwrap_or(0);
    let all: Vec<&Example> = ex.iter().collect();
    let padded = collate(&all, pad, &test_device()).unwrap();
    let lens: Vec<usize> = ex.iter().map(|e| e.ids.len()).collect();
    let items: Vec<usize> = (0..ex.len()).collect();
    let rows = pack_rows(&items, &lens, 40);
    assert!(
        rows.len() < ex.len() && rows.iter().any(|r| r.len() >= 3),
        "{rows:?}: the test needs rows of several examples"
    );
    let rows: Vec<Vec<&Example>> = rows
        .iter()
        .map(|r| r.iter().map(|&i| &ex[i]).collect())
        .collect();
    let packed = collate_packed(&rows, pad, &test_device()).unwrap();
    assert_eq!(packed.target_tokens, padded.target_tokens);
    assert_eq!(packed.tokens, padded.tokens);
    let (la, ga) = loss_and_grads(&m, &t, &padded);
    let (lb, gb) = loss_and_grads(&m, &t, &packed);
    let dl = ((la - lb) / la).abs();
    let dg = rel_diff(&ga, &gb);
    println!("{name}: loss padded {la} packed {lb} (relative {dl:e}); gradients relative {dg:e}");
    assert!(dl < 1e-5, "{name}: loss {la} padded vs {lb} packed");
    assert!(
        dg < 1e-5,
        "{name}: LoRA gradients differ by {dg} (relative)"
    );
}

#[test]
fn packed_equals_padded_llama() {
    check_packed_equals_padded("tiny-llama");
}

#[test]
fn packed_equals_padded_gpt2_learned_positions() {
    check_packed_equals_padded("tiny-gpt2");
}

#[test]
fn packed_equals_padded_gemma3_sliding_window() {
    let w = model("tiny-gemma3").unwrap().config().sliding_window;
    assert_eq!(w, Some(8), "the examples must be longer than the window");
    check_packed_equals_padded("tiny-gemma3");
}

#[test]
fn packed_equals_padded_mistral_sliding_window() {
    check_packed_equals_padded("fixture-mistral");
}

fn config(batch: usize) -> TrainConfig {
    TrainConfig {
        epochs: 2,
        lr: 1e-2,
        warmup_steps: 1,
        decay: Decay::Linear,
        weight_decay: 0.01,
        max_grad_norm: Some(1.0),
        batch_size: batch,
        token_budget: 4096,
        grad_accum: 1,
        seed: 4,
        checkpoint_every: None,
    }
}

/// Trains a fresh tiny-gemma3 adapter and returns the losses and the final LoRA weights.
fn run(cfg: &TrainConfig, layout: Option<Layout>) -> (Vec<f64>, Vec<Vec<f32>>, usize) {
    let mut m = model("tiny-gemma3").unwrap();
    let t = with_lora(&mut m);
    let ex = examples(m.config().vocab_size);
    let opts = RunOptions {
        checkpoint_dir: None,
        resume: false,
        progress: false,
        setup_hash: String::new(),
        stop_after: None,
        pad_id: m.config().pad_token_id.unwrap_or(0),
    };
    let r = match layout {
        None => train(&mut m, &t, &ex, cfg, &opts).unwrap(),
        Some(l) => train_with(&mut m, &t, &ex, cfg, &opts, l).unwrap(),
    };
    let w = lora_tensors(&mut m)
        .unwrap()
        .into_iter()
        .map(|(_, t)| t.flatten_all().unwrap().to_vec1().unwrap())
        .collect();
    (r.losses, w, r.padded_tokens)
}

/// Steps of 3 examples, padded (one micro-batch per step) and packed (rows of at most 24 tokens,
/// forward passes of at most 24: several per step): the same steps, so the same losses and
/// weights.
#[test]
fn packed_training_follows_padded_training() {
    let (la, wa, pa) = run(&config(3), None);
    let cfg = TrainConfig {
        token_budget: 24,
        ..config(3)
    };
    let (lb, wb, pb) = run(&cfg, Some(Layout::Packed { row_tokens: 24 }));
    assert_eq!(la.len(), 6, "8 examples in steps of 3, 2 epochs");
    assert_eq!(la.len(), lb.len());
    assert!(pb < pa, "packing computed {pb} positions, padding {pa}");
    for (k, (a, b)) in la.iter().zip(&lb).enumerate() {
        assert!(
            ((a - b) / a).abs() < 1e-5,
            "step {k}: loss {a} padded vs {b} packed"
        );
    }
    for (a, b) in wa.iter().zip(&wb) {
        let d = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(d < 1e-5, "final LoRA weights differ by {d}");
    }
}

fn check_chunked_equals_full(name: &str) {
    let Some(mut m) = model(name) else {
        return;
    };
    let t = with_lora(&mut m);
    let ex = examples(m.config().vocab_size);
    let all: Vec<&Example> = ex.iter().collect();
    let b = collate(&all, 0, &test_device()).unwrap();
    let full = masked_cross_entropy(&m.forward(&b.step, None, None).unwrap(), &b.labels).unwrap();
    let gf = full.backward().unwrap();
    let gf: Vec<Tensor> = t
        .vars
        .iter()
        .map(|v| gf.get(v.as_tensor()).unwrap().clone())
        .collect();
    let lf: f32 = full.to_scalar().unwrap();
    assert!(
        b.target_tokens > 40,
        "{} labelled positions",
        b.target_tokens
    );
    for chunk in [1, 7, 16, b.target_tokens] {
        let hidden = m.forward_hidden(&b.step, None, None).unwrap();
        let loss = chunked_cross_entropy_hidden(&m, &hidden, &b.labels, chunk).unwrap();
        let l: f32 = loss.to_scalar().unwrap();
        let g = loss.backward().unwrap();
        let gc: Vec<Tensor> = t
            .vars
            .iter()
            .map(|v| g.get(v.as_tensor()).unwrap().clone())
            .collect();
        let dg = rel_diff(&gf, &gc);
        println!("{name}, chunks of {chunk}: loss {l} vs full {lf}; gradients relative {dg:e}");
        assert!(
            ((l - lf) / lf).abs() < 1e-6,
            "chunks of {chunk}: loss {l} vs {lf}"
        );
        assert!(
            dg < 1e-5,
            "chunks of {chunk}: gradients differ by {dg} (relative)"
        );
    }
    // Without autograd (hidden states of a forward with nothing to train) only the value is made.
    let h = m.forward_hidden(&b.step, None, None).unwrap().detach();
    let l: f32 = chunked_cross_entropy_hidden(&m, &h, &b.labels, 5)
        .unwrap()
        .to_scalar()
        .unwrap();
    assert!(((l - lf) / lf).abs() < 1e-6, "untracked: {l} vs {lf}");
}

#[test]
fn chunked_cross_entropy_equals_full_llama() {
    check_chunked_equals_full("tiny-llama");
}

#[test]
fn chunked_cross_entropy_equals_full_with_final_softcap() {
    if let Some(m) = model("fixture-gemma2") {
        assert!(m.config().final_logit_softcap.is_some());
    }
    check_chunked_equals_full("fixture-gemma2");
}

/// The gradient reaches hidden states that are a variable themselves (no LoRA in between).
#[test]
fn chunked_gradient_of_the_hidden_states() {
    let m = model("tiny-llama").unwrap();
    let ex = examples(m.config().vocab_size);
    let all: Vec<&Example> = ex.iter().collect();
    let b = collate(&all, 0, &test_device()).unwrap();
    let h = Var::from_tensor(&m.forward_hidden(&b.step, None, None).unwrap()).unwrap();
    let full = masked_cross_entropy(&m.unembed(h.as_tensor()).unwrap(), &b.labels).unwrap();
    let chunked = chunked_cross_entropy_hidden(&m, h.as_tensor(), &b.labels, 9).unwrap();
    let ga = full.backward().unwrap().get(h.as_tensor()).unwrap().clone();
    let gb = chunked
        .backward()
        .unwrap()
        .get(h.as_tensor())
        .unwrap()
        .clone();
    let d = rel_diff(&[ga], &[gb]);
    assert!(d < 1e-5, "hidden-state gradients differ by {d} (relative)");
}
