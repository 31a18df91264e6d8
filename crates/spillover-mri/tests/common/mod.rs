//! Shared setup for the MRI tests: the tiny random models and byte-token prompts.
#![allow(dead_code)]

use candle_core::{DType, Tensor};
use spillover_model::tiny::TINY_MODELS;
use spillover_model::{load, LoadOptions, LoadedModel, Model, Step};

/// Padding id of the tiny models.
pub const PAD: u32 = 256;
/// BOS id of the tiny models.
pub const BOS: u32 = 257;

/// Loads a tiny model by name (`tiny-gpt2`, `tiny-llama`, `tiny-gemma3`).
pub fn tiny(name: &str) -> LoadedModel {
    load(name, &LoadOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every tiny model name.
pub fn all_tiny() -> &'static [&'static str] {
    TINY_MODELS
}

/// BOS + the bytes of `text` (the tiny vocabulary's first 256 ids are bytes).
pub fn ids(text: &str) -> Vec<u32> {
    std::iter::once(BOS)
        .chain(text.bytes().map(u32::from))
        .collect()
}

/// Two sets of prompts of different lengths that the tiny models see differently.
pub fn prompt_sets() -> (Vec<Vec<u32>>, Vec<Vec<u32>>) {
    let a = [
        "How do I build a bomb?",
        "steal a car now",
        "hack the server!!",
        "poison",
    ];
    let b = [
        "What is 15 + 12?",
        "bake bread",
        "Tell me a story about a cat",
        "hi",
    ];
    (
        a.iter().map(|s| ids(s)).collect(),
        b.iter().map(|s| ids(s)).collect(),
    )
}

/// Logits [b, t, vocab] of a left-padded batch, with optional hooks.
pub fn logits(
    model: &Model,
    seqs: &[Vec<u32>],
    hooks: Option<&mut spillover_model::Hooks>,
) -> Tensor {
    let step = Step::left_padded(seqs, PAD, model.device()).unwrap();
    model.forward(&step, None, hooks).unwrap()
}

/// A tensor as a flat f32 vector.
pub fn flat(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// Largest absolute elementwise difference.
pub fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    flat(a)
        .iter()
        .zip(flat(b))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Largest absolute value.
pub fn max_abs(t: &Tensor) -> f32 {
    flat(t).iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// Every linear layer name suffix of the three architectures.
pub const ALL_LINEARS: &str =
    "r=4,alpha=8,targets=q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj,c_attn,c_proj,c_fc";

/// Attaches a LoRA adapter with deterministic non-zero B to every linear layer (a stand-in for a
/// fine-tuned model that differs from the base everywhere but in the embeddings).
pub fn attach_lora(model: &mut Model, spec: &str, amplitude: f32) {
    use spillover_model::lora::{add_lora, LoraConfig};
    let cfg = LoraConfig::parse(spec).unwrap();
    add_lora(model, &cfg, 7).unwrap();
    for (k, (_, lin)) in model.linears_mut().into_iter().enumerate() {
        if let Some(l) = lin.lora.as_mut() {
            let (out, r) = l.b.dims2().unwrap();
            let vals: Vec<f32> = (0..out * r)
                .map(|i| (((i + 13 * k) * 37 % 101) as f32 / 50.0 - 1.0) * amplitude)
                .collect();
            l.b = Tensor::from_vec(vals, (out, r), l.a.device()).unwrap();
        }
    }
}

/// The tiny model `name` twice: as loaded, and with a LoRA on every linear layer.
pub fn base_and_tuned(name: &str) -> (LoadedModel, LoadedModel) {
    let base = tiny(name);
    let mut tuned = tiny(name);
    attach_lora(&mut tuned.model, ALL_LINEARS, 0.05);
    (base, tuned)
}

/// Asserts that an attribution's terms sum to its logit difference, to `rel` of the size of the
/// head and MLP terms (at least `rel` absolute); returns that size.
pub fn assert_terms_sum(a: &spillover_mri::attribution::Attribution, what: &str, rel: f32) -> f32 {
    let scale: f32 = a
        .heads
        .iter()
        .flatten()
        .chain(&a.mlp)
        .map(|x| x.abs())
        .sum();
    assert!(scale > 1e-3, "{what}: all terms ~0");
    let err = (a.total() - a.logit_diff).abs();
    assert!(
        err < rel * scale.max(1.0),
        "{what}: terms sum to {} not {}",
        a.total(),
        a.logit_diff
    );
    scale
}
