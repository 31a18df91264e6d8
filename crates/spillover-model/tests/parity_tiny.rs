//! Parity with HF transformers on the tiny random models in fixtures/tiny/{gpt2,llama,gemma3}.
//! Tolerances (from the issue): logits 1e-4, attention patterns 1e-5, token log-probs 1e-4.
//! Runs on `$SPILLOVER_TEST_DEVICE` (cpu by default, cuda for a GPU build) and prints the largest
//! differences seen (`--nocapture`).

use candle_core::{DType, IndexOp, D};
use spillover_model::fixtures::{f32s, fixtures_dir, read_json, test_device, u32s};
use spillover_model::{Hooks, Model, ModelConfig, Step, Weights};
use std::path::Path;

fn load(dir: &Path) -> Model {
    let cfg = ModelConfig::from_hf_file(&dir.join("config.json")).unwrap();
    let w = Weights::from_hf_dir(dir, DType::F32, &test_device()).unwrap();
    Model::from_weights(cfg, &w).unwrap()
}

fn seqs(r: &serde_json::Value) -> Vec<Vec<u32>> {
    r["seqs"].as_array().unwrap().iter().map(u32s).collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Logits, attention patterns and token log-probs of the left-padded batch, with HF's positions
/// (0..t for every row, as `model(input_ids, attention_mask)` uses), at non-padding positions.
fn check_padded_batch(arch: &str) {
    let Some(fx) = fixtures_dir() else { return };
    let dir = fx.join("tiny").join(arch);
    let r = read_json(&dir.join("ref.json"));
    let model = load(&dir);
    let seqs = seqs(&r);
    let step = Step::left_padded_absolute(&seqs, 0, &test_device()).unwrap();
    let mut hooks = Hooks::cache_names(
        (0..model.config().num_layers).map(|l| format!("blocks.{l}.attn.hook_pattern")),
    );
    let logits = model.forward(&step, None, Some(&mut hooks)).unwrap();
    let (b, t, v) = logits.dims3().unwrap();
    let want = f32s(&r["logits"]);
    let got: Vec<f32> = logits.flatten_all().unwrap().to_vec1().unwrap();
    let mask: Vec<Vec<u32>> = r["attention_mask"]
        .as_array()
        .unwrap()
        .iter()
        .map(u32s)
        .collect();
    let mut worst = 0f32;
    for (bi, row) in mask.iter().enumerate() {
        for ti in (0..t).filter(|&ti| row[ti] == 1) {
            let o = (bi * t + ti) * v;
            worst = worst.max(max_abs_diff(&got[o..o + v], &want[o..o + v]));
        }
    }
    println!("{arch}: max |logit - HF| = {worst:e}");
    assert!(worst < 1e-4, "{arch}: logits differ from HF by {worst}");

    // Attention patterns on rows of real query tokens.
    let heads = model.config().num_heads;
    for (l, want) in r["attentions"].as_array().unwrap().iter().enumerate() {
        let want = f32s(want);
        let got = hooks.get(&format!("blocks.{l}.attn.hook_pattern")).unwrap();
        let got: Vec<f32> = got.flatten_all().unwrap().to_vec1().unwrap();
        let mut worst = 0f32;
        for (bi, row) in mask.iter().enumerate() {
            for h in 0..heads {
                for q in (0..t).filter(|&q| row[q] == 1) {
                    let o = ((bi * heads + h) * t + q) * t;
                    worst = worst.max(max_abs_diff(&got[o..o + t], &want[o..o + t]));
                }
            }
        }
        println!("{arch}: layer {l} max |pattern - HF| = {worst:e}");
        assert!(
            worst < 1e-5,
            "{arch}: layer {l} attention pattern differs by {worst}"
        );
    }

    // log p(ids[t+1] | ids[..=t]) at positions whose next token is real.
    let logp = candle_nn::ops::log_softmax(&logits, D::Minus1).unwrap();
    let want = f32s(&r["token_logprobs"]);
    let ids: Vec<Vec<u32>> = r["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(u32s)
        .collect();
    let mut worst = 0f32;
    for bi in 0..b {
        for ti in 0..t - 1 {
            if mask[bi][ti + 1] == 0 {
                continue;
            }
            let got: f32 = logp
                .i((bi, ti, ids[bi][ti + 1] as usize))
                .unwrap()
                .to_scalar()
                .unwrap();
            let w = want[bi * (t - 1) + ti];
            worst = worst.max((got - w).abs());
            assert!(
                (got - w).abs() < 1e-4,
                "{arch}: token logprob [{bi},{ti}] {got} vs HF {w}"
            );
        }
    }
    println!("{arch}: max |token logprob - HF| = {worst:e}");
}

/// With positions counted from the first real token, every row of the padded batch equals HF's
/// logits for that sequence alone.
fn check_batch_equals_single(arch: &str) {
    let Some(fx) = fixtures_dir() else { return };
    let dir = fx.join("tiny").join(arch);
    let r = read_json(&dir.join("ref.json"));
    let model = load(&dir);
    let seqs = seqs(&r);
    let step = Step::left_padded(&seqs, 0, &test_device()).unwrap();
    let logits = model.forward(&step, None, None).unwrap();
    let t = logits.dims()[1];
    for (i, s) in seqs.iter().enumerate() {
        let row = logits.i((i, t - s.len()..t)).unwrap();
        let got: Vec<f32> = row.flatten_all().unwrap().to_vec1().unwrap();
        let want = f32s(&r["single_logits"][i]);
        let d = max_abs_diff(&got, &want);
        println!("{arch}: row {i} max |padded logit - HF unpadded| = {d:e}");
        assert!(
            d < 1e-4,
            "{arch}: padded row {i} differs from HF's unpadded logits by {d}"
        );
        // and from our own unpadded run
        let alone = Step::left_padded(std::slice::from_ref(s), 0, &test_device()).unwrap();
        let own: Vec<f32> = model
            .forward(&alone, None, None)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let d = max_abs_diff(&got, &own);
        println!("{arch}: row {i} max |padded logit - own unpadded| = {d:e}");
        assert!(
            d < 1e-5,
            "{arch}: padded row {i} differs from our unpadded run by {d}"
        );
    }
}

#[test]
fn gpt2_padded_batch_matches_hf() {
    check_padded_batch("gpt2");
}
#[test]
fn llama_padded_batch_matches_hf() {
    check_padded_batch("llama");
}
#[test]
fn gemma3_padded_batch_matches_hf() {
    check_padded_batch("gemma3");
}
#[test]
fn gpt2_batch_equals_single() {
    check_batch_equals_single("gpt2");
}
#[test]
fn llama_batch_equals_single() {
    check_batch_equals_single("llama");
}
#[test]
fn gemma3_batch_equals_single() {
    check_batch_equals_single("gemma3");
}

/// bf16 and f16 are selectable and stay close to f32 (their rounding, not a different computation).
#[test]
fn half_precision_stays_close_to_f32() {
    let Some(fx) = fixtures_dir() else { return };
    let dir = fx.join("tiny/llama");
    let r = read_json(&dir.join("ref.json"));
    let step = Step::left_padded(&seqs(&r), 0, &test_device()).unwrap();
    let run = |dtype: DType| {
        let cfg = ModelConfig::from_hf_file(&dir.join("config.json")).unwrap();
        let w = Weights::from_hf_dir(&dir, dtype, &test_device()).unwrap();
        let m = Model::from_weights(cfg, &w).unwrap();
        m.forward(&step, None, None)
            .unwrap()
            .to_dtype(DType::F32)
            .unwrap()
    };
    let full = run(DType::F32);
    for dt in [DType::BF16, DType::F16] {
        let half = run(dt);
        assert_eq!(half.dtype(), DType::F32);
        let d = spillover_model::fixtures::max_abs_diff(&half, &full);
        println!("{dt:?}: max |logit - f32 logit| = {d:e}");
        assert!(d < 2e-2, "{dt:?} logits differ from f32 by {d}");
        assert!(d > 0.0, "{dt:?} should actually compute in lower precision");
    }
}
