//! Greedy generation against HF `generate` (tiny fixtures: 8 new tokens from a left-padded batch;
//! SmolLM2: 32-token continuations), and batch invariance: a mixed-length batch gives the same
//! tokens as one-by-one generation.

use candle_core::DType;
use spillover_engine::{generate, token_logprobs, GenerateOptions};
use spillover_model::fixtures::{fixtures_dir, read_json, test_device, u32s};
use spillover_model::{load_path, LoadOptions, Model, ModelConfig, Weights};

fn tiny(arch: &str) -> Option<(Model, serde_json::Value)> {
    let dir = fixtures_dir()?.join("tiny").join(arch);
    let cfg = ModelConfig::from_hf_file(&dir.join("config.json")).unwrap();
    let w = Weights::from_hf_dir(&dir, DType::F32, &test_device()).unwrap();
    Some((
        Model::from_weights(cfg, &w).unwrap(),
        read_json(&dir.join("ref.json")),
    ))
}

fn check_tiny(arch: &str) {
    let Some((model, r)) = tiny(arch) else { return };
    let seqs: Vec<Vec<u32>> = r["seqs"].as_array().unwrap().iter().map(u32s).collect();
    let opts = GenerateOptions {
        max_new_tokens: 8,
        stop_ids: vec![],
        pad_id: 0,
    };
    let batch = generate(&model, &seqs, &opts, None).unwrap();
    for (i, want) in r["greedy_new_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        assert_eq!(
            batch[i].new_ids,
            u32s(want),
            "{arch}: row {i} differs from HF generate"
        );
        let alone = generate(&model, std::slice::from_ref(&seqs[i]), &opts, None).unwrap();
        assert_eq!(
            alone[0].new_ids, batch[i].new_ids,
            "{arch}: row {i} batch vs alone"
        );
    }
    // log-likelihoods: batched equals one-by-one within 1e-4
    let lp = token_logprobs(&model, &seqs, 0).unwrap();
    for (i, s) in seqs.iter().enumerate() {
        let one = token_logprobs(&model, std::slice::from_ref(s), 0).unwrap();
        for (a, b) in lp[i].iter().zip(&one[0]) {
            assert!(
                (a - b).abs() < 1e-4,
                "{arch}: logprob batch {a} vs alone {b}"
            );
        }
    }
}

#[test]
fn gpt2_greedy_matches_hf() {
    check_tiny("gpt2");
}
#[test]
fn llama_greedy_matches_hf() {
    check_tiny("llama");
}
#[test]
fn gemma3_greedy_matches_hf() {
    check_tiny("gemma3");
}

#[test]
fn finished_rows_stop_early() {
    let Some((model, r)) = tiny("llama") else {
        return;
    };
    let seqs: Vec<Vec<u32>> = r["seqs"].as_array().unwrap().iter().map(u32s).collect();
    // Stop on the first token HF generates for row 2: that row ends after one token, others go on.
    let stop = u32s(&r["greedy_new_tokens"][2])[0];
    let opts = GenerateOptions {
        max_new_tokens: 8,
        stop_ids: vec![stop],
        pad_id: 0,
    };
    let out = generate(&model, &seqs, &opts, None).unwrap();
    assert_eq!(out[2].new_ids, vec![stop]);
    assert_eq!(out[2].finish, spillover_engine::FinishReason::Stop);
    for g in &out {
        let first_stop = g.new_ids.iter().position(|&t| t == stop);
        assert!(
            first_stop.is_none_or(|p| p == g.new_ids.len() - 1),
            "tokens after a stop id"
        );
    }
}

/// Both weight layouts: as loaded, and prepared with `use_inference_layout`, whose linear layers
/// then run the prepacked AVX-512 product where the CPU has it.
#[test]
#[ignore = "needs the packaged SmolLM2 GGUF (scripts/test.sh fetches it)"]
fn smollm2_greedy_32_matches_hf_batched() {
    let Some(fx) = fixtures_dir() else { return };
    let path = std::env::var_os("SPILLOVER_SMOLLM2_GGUF").expect(
        "SPILLOVER_SMOLLM2_GGUF is not set: run scripts/test.sh, which fetches the packaged model",
    );
    let mut lm = load_path(std::path::Path::new(&path), &LoadOptions::default()).unwrap();
    let r = read_json(&fx.join("real/smollm2.json"));
    let items = r["items"].as_array().unwrap();
    let prompts: Vec<Vec<u32>> = items.iter().map(|it| u32s(&it["input_ids"])).collect();
    // HF generated each prompt alone with max_new_tokens=32 and stopped at EOS (id 2).
    let opts = GenerateOptions {
        max_new_tokens: 32,
        stop_ids: vec![2],
        pad_id: lm.pad_id(),
    };
    for packed in [false, true] {
        if packed {
            lm.model.use_inference_layout().unwrap();
            for (name, lin) in lm.model.linears() {
                let want = spillover_model::packed::kernel_available();
                assert_eq!(lin.packed_weight().is_some(), want, "{name}");
            }
        }
        let out = generate(&lm.model, &prompts, &opts, None).unwrap();
        let tok = lm.tokenizer().unwrap();
        for (it, g) in items.iter().zip(&out) {
            assert_eq!(
                g.new_ids,
                u32s(&it["greedy_32_ids"]),
                "continuation of {:?} (packed weights: {packed})",
                it["text"]
            );
            assert_eq!(
                tok.decode(&g.new_ids, false).unwrap(),
                it["greedy_32_text"].as_str().unwrap()
            );
        }
    }
}
