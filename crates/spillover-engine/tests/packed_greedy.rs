//! Greedy generation on SmolLM2-135M-Instruct prepared with `use_inference_layout`, whose linear
//! layers then run the prepacked AVX-512 product where the CPU has it: the 32-token continuations
//! of the HF fixture are unchanged, generated as one batch (greedy_parity.rs checks the same
//! continuations without packs). Needs `SPILLOVER_SMOLLM2_GGUF` (scripts/test.sh sets it).

use spillover_engine::{generate, GenerateOptions};
use spillover_model::fixtures::{fixtures_dir, read_json, real_model, u32s};
use spillover_model::packed::kernel_available;
use spillover_model::{load_path, LoadOptions};

#[test]
#[ignore = "needs the packaged SmolLM2 GGUF (scripts/test.sh fetches it)"]
fn smollm2_greedy_with_packs_matches_hf() {
    let Some(fx) = fixtures_dir() else { return };
    let Some(path) = real_model("SPILLOVER_SMOLLM2_GGUF") else {
        return;
    };
    let mut lm = load_path(&path, &LoadOptions::default()).unwrap();
    lm.model.use_inference_layout().unwrap();
    for (name, lin) in lm.model.linears() {
        assert_eq!(lin.packed_weight().is_some(), kernel_available(), "{name}");
    }
    let r = read_json(&fx.join("real/smollm2.json"));
    let items = r["items"].as_array().unwrap();
    let prompts: Vec<Vec<u32>> = items.iter().map(|it| u32s(&it["input_ids"])).collect();
    // HF generated each prompt alone with max_new_tokens=32 and stopped at EOS (id 2).
    let opts = GenerateOptions {
        max_new_tokens: 32,
        stop_ids: vec![2],
        pad_id: lm.pad_id(),
    };
    let out = generate(&lm.model, &prompts, &opts, None).unwrap();
    for (it, g) in items.iter().zip(&out) {
        assert_eq!(
            g.new_ids,
            u32s(&it["greedy_32_ids"]),
            "continuation of {:?}",
            it["text"]
        );
    }
}
