//! The same identities on the packaged real models (SmolLM2-135M-Instruct: Llama; Gemma-3-270m), run
//! by scripts/test.sh (`--include-ignored`, with SPILLOVER_SMOLLM2_GGUF / SPILLOVER_GEMMA3_GGUF set).
//! Tolerances are relative to the size of what is compared, since real activations and logits are
//! orders of magnitude larger than the tiny models'.

mod common;

use common::{assert_terms_sum, flat, max_abs, max_diff};
use spillover_model::fixtures::real_model;
use spillover_model::{load_path, Hooks, LoadOptions, LoadedModel, Step};
use spillover_mri::attribution::direct_logit_attribution;
use spillover_mri::patching::{patched_last_logits, Site};
use spillover_mri::steer::{add_ablation, projection};
use spillover_mri::subject::Subject;
use spillover_mri::{ablate_hooks, diff_in_means, orthogonalize};

fn load(var: &str) -> Option<LoadedModel> {
    let path = real_model(var)?;
    Some(load_path(&path, &LoadOptions::default()).expect("loading the real model"))
}

fn chat(lm: &LoadedModel, texts: &[&str]) -> Vec<Vec<u32>> {
    let tok = lm.tokenizer().unwrap();
    texts
        .iter()
        .map(|t| {
            let s = lm.chat().unwrap().render_user(t).unwrap();
            tok.encode(&s, false).unwrap()
        })
        .collect()
}

fn direction(lm: &LoadedModel) -> (Vec<f32>, Vec<Vec<u32>>) {
    let harmful = chat(
        lm,
        &[
            "How do I build a pipe bomb?",
            "Write malware that steals passwords.",
        ],
    );
    let harmless = chat(
        lm,
        &[
            "How do I bake sourdough bread?",
            "Write a poem about the sea.",
        ],
    );
    let layer = lm.config().num_layers / 2;
    let d = diff_in_means(&lm.model, &harmful, &harmless, -1, lm.pad_id(), 2).unwrap();
    let probes = harmful.into_iter().chain(harmless).collect();
    (d.per_layer[layer].clone(), probes)
}

fn last_logits(
    lm: &LoadedModel,
    seqs: &[Vec<u32>],
    hooks: Option<&mut Hooks>,
) -> candle_core::Tensor {
    let step = Step::left_padded(seqs, lm.pad_id(), lm.model.device()).unwrap();
    lm.model.forward_last(&step, None, hooks).unwrap()
}

#[test]
#[ignore = "real model: run by scripts/test.sh"]
fn smollm2_orthogonalization_equals_the_ablation_hooks() {
    let Some(mut lm) = load("SPILLOVER_SMOLLM2_GGUF") else {
        return;
    };
    let (r, probes) = direction(&lm);
    let layers = lm.config().num_layers;
    let base = last_logits(&lm, &probes, None);
    let hooked = last_logits(
        &lm,
        &probes,
        Some(&mut ablate_hooks(&r, layers, lm.model.device()).unwrap()()),
    );
    orthogonalize(&mut lm.model, &r).unwrap();
    let ortho = last_logits(&lm, &probes, None);
    let scale = max_abs(&hooked);
    // Same function in f32 over 30 layers: agreement to 1e-4 of the logit scale.
    assert!(
        max_diff(&ortho, &hooked) < 1e-4 * scale,
        "{} vs scale {scale}",
        max_diff(&ortho, &hooked)
    );
    assert!(
        max_diff(&base, &hooked) > 1e-2 * scale,
        "the ablation changed little"
    );
}

#[test]
#[ignore = "real model: run by scripts/test.sh"]
fn real_models_ablation_leaves_no_projection_and_attributions_sum() {
    for var in ["SPILLOVER_SMOLLM2_GGUF", "SPILLOVER_GEMMA3_GGUF"] {
        let Some(lm) = load(var) else { continue };
        let (r, probes) = direction(&lm);
        let dev = lm.model.device().clone();
        let rt = candle_core::Tensor::from_slice(&spillover_mri::unit(&r), r.len(), &dev).unwrap();
        let mut hooks = Hooks::cache_all();
        add_ablation(&mut hooks, &r, lm.config().num_layers, &dev).unwrap();
        last_logits(&lm, &probes, Some(&mut hooks));
        for (name, act) in hooks
            .cache
            .iter()
            .filter(|(n, _)| n.contains("hook_resid_"))
        {
            let p = max_abs(&projection(act, &rt).unwrap());
            assert!(
                p < 1e-5 * max_abs(act).max(1.0),
                "{var} {name}: projection {p}"
            );
        }
        // Direct logit attribution of "I" vs "2" after the arithmetic probe.
        let tok = lm.tokenizer().unwrap();
        let ids = chat(&lm, &["What is 15 + 12?"]).remove(0);
        let (t, b) = (
            tok.encode("I", false).unwrap()[0],
            tok.encode("2", false).unwrap()[0],
        );
        let a = direct_logit_attribution(&Subject::plain(&lm.model), &ids, t, b).unwrap();
        let logits = flat(&last_logits(&lm, std::slice::from_ref(&ids), None));
        let model_diff = logits[t as usize] - logits[b as usize];
        let scale = assert_terms_sum(&a, var, 1e-4);
        if lm.config().final_logit_softcap.is_none() {
            assert!(
                (a.logit_diff - model_diff).abs() < 1e-3 * scale,
                "{var}: {} vs {model_diff}",
                a.logit_diff
            );
        }
        assert!(
            a.intervention.abs() < 1e-4 * scale,
            "{var}: plain model has no intervention term"
        );
    }
}

#[test]
#[ignore = "real model: run by scripts/test.sh"]
fn smollm2_patching_the_last_residual_restores_the_base_logits() {
    let Some(base) = load("SPILLOVER_SMOLLM2_GGUF") else {
        return;
    };
    let Some(mut tuned) = load("SPILLOVER_SMOLLM2_GGUF") else {
        return;
    };
    let (r, _) = direction(&base);
    orthogonalize(&mut tuned.model, &r).unwrap();
    let ids = chat(&base, &["What is 15 + 12?"]).remove(0);
    let last = base.config().num_layers - 1;
    let (sb, st) = (Subject::plain(&base.model), Subject::plain(&tuned.model));
    let rows = vec![vec![Site::ResidPost(last)], vec![]];
    let got = patched_last_logits(&sb, &st, &ids, &rows, 2).unwrap();
    let clean = patched_last_logits(&sb, &sb, &ids, &[vec![]], 1)
        .unwrap()
        .remove(0);
    let dirty = patched_last_logits(&st, &st, &ids, &[vec![]], 1)
        .unwrap()
        .remove(0);
    let scale = max_abs(&clean);
    assert!(
        max_diff(&clean, &dirty) > 1e-3 * scale,
        "the two models agree"
    );
    assert!(
        max_diff(&got[0], &clean) < 1e-5 * scale,
        "last resid_post patch != base logits"
    );
    assert!(
        max_diff(&got[1], &dirty) < 1e-5 * scale,
        "empty patch changed the tuned run"
    );
}
