//! Phase-1 properties on the tiny models: ablation leaves no projection, orthogonalized weights equal
//! the ablation hooks, activation addition moves the projection by exactly its coefficient, and
//! difference-in-means does not depend on batching.

mod common;

use candle_core::Tensor;
use common::*;
use spillover_errors::UserFixable;
use spillover_model::{Hooks, Model};
use spillover_mri::direction::{activations, diff_in_means, unit};
use spillover_mri::steer::{ablate_hooks, actadd_hooks, add_ablation, projection};
use spillover_mri::{orthogonalize, Directions};

/// The difference-in-means direction of the tiny prompt sets at the model's last layer.
fn refusal_direction(model: &Model) -> Vec<f32> {
    let (a, b) = prompt_sets();
    let dirs = diff_in_means(model, &a, &b, -1, PAD, 3).unwrap();
    dirs.unit(model.config().num_layers - 1).unwrap()
}

fn r_tensor(r: &[f32], model: &Model) -> Tensor {
    Tensor::from_slice(r, r.len(), model.device()).unwrap()
}

/// Largest |projection on r̂| over the cached residual points `blocks.*.hook_resid_{pre,mid,post}`.
fn max_resid_projection(hooks: &Hooks, r: &Tensor) -> (f32, usize) {
    let mut worst = 0f32;
    let mut seen = 0;
    for (name, act) in &hooks.cache {
        if name.contains("hook_resid_") {
            worst = worst.max(max_abs(&projection(act, r).unwrap()));
            seen += 1;
        }
    }
    (worst, seen)
}

#[test]
fn ablated_direction_leaves_no_projection_at_any_residual_point() {
    let (a, b) = prompt_sets();
    let batch: Vec<Vec<u32>> = a.into_iter().chain(b).collect();
    for name in all_tiny() {
        let lm = tiny(name);
        let m = &lm.model;
        let layers = m.config().num_layers;
        let r = refusal_direction(m);
        let rt = r_tensor(&r, m);
        // Without the ablation the stream does carry the direction (so the check below can fail).
        let mut plain = Hooks::cache_all();
        logits(m, &batch, Some(&mut plain));
        let (before, _) = max_resid_projection(&plain, &rt);
        assert!(
            before > 1e-3,
            "{name}: direction absent before ablation ({before})"
        );

        let mut hooks = Hooks::cache_all();
        add_ablation(&mut hooks, &r, layers, m.device()).unwrap();
        logits(m, &batch, Some(&mut hooks));
        let (after, seen) = max_resid_projection(&hooks, &rt);
        assert_eq!(seen, 3 * layers, "{name}: every residual point cached");
        assert!(
            after < 1e-5,
            "{name}: projection {after} left after ablation"
        );
    }
}

#[test]
fn orthogonalized_weights_equal_the_ablation_hooks() {
    // Tolerance: 1e-5 absolute on logits; both sides compute the same function in f32, and differ
    // only in where the projection's rounding happens.
    const TOL: f32 = 1e-5;
    let (a, b) = prompt_sets();
    let batch: Vec<Vec<u32>> = a.into_iter().chain(b).collect();
    for name in ["tiny-gpt2", "tiny-llama"] {
        for variant in ["plain", "inference-layout", "lora"] {
            let mut lm = tiny(name);
            if variant == "inference-layout" {
                lm.model.use_inference_layout().unwrap();
            }
            if variant == "lora" {
                // A LoRA with non-zero B on the residual writers: orthogonalize must edit B too.
                attach_lora(
                    &mut lm.model,
                    "r=4,alpha=8,targets=o_proj,down_proj,c_proj",
                    0.05,
                );
            }
            let m = &mut lm.model;
            let r = refusal_direction(m);
            let base = logits(m, &batch, None);
            let hooked = logits(
                m,
                &batch,
                Some(&mut ablate_hooks(&r, m.config().num_layers, m.device()).unwrap()()),
            );
            let edited = orthogonalize(m, &r).unwrap();
            assert!(edited
                .iter()
                .any(|n| n.contains("embed") || n.contains("wte")));
            let ortho = logits(m, &batch, None);
            let change = max_diff(&base, &hooked);
            let err = max_diff(&ortho, &hooked);
            assert!(
                change > 100.0 * TOL,
                "{name}/{variant}: ablation changed logits by only {change}"
            );
            assert!(
                err < TOL,
                "{name}/{variant}: orthogonalized vs hooked logits differ by {err}"
            );
        }
    }
}

#[test]
fn gemma3_orthogonalization_is_refused_and_leaves_the_model_unchanged() {
    let mut lm = tiny("tiny-gemma3");
    let (a, _) = prompt_sets();
    let r = refusal_direction(&lm.model);
    let before = logits(&lm.model, &a, None);
    let err = orthogonalize(&mut lm.model, &r).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("Gemma-3") && msg.contains("RMSNorm"), "{msg}");
    let model_err = err
        .downcast_ref::<spillover_model::Error>()
        .expect("a model error");
    assert!(
        model_err.user_can_fix(),
        "refusal is a bad-input error (exit code 2)"
    );
    assert_eq!(max_diff(&before, &logits(&lm.model, &a, None)), 0.0);
}

#[test]
fn actadd_zero_changes_nothing_and_c_moves_the_projection_by_c() {
    let (a, b) = prompt_sets();
    let batch: Vec<Vec<u32>> = a.into_iter().chain(b).collect();
    for name in all_tiny() {
        let lm = tiny(name);
        let m = &lm.model;
        let r = refusal_direction(m);
        let rt = r_tensor(&unit(&r), m);
        let layer = m.config().num_layers / 2;
        let base = logits(m, &batch, None);
        let zero = logits(
            m,
            &batch,
            Some(&mut actadd_hooks(&r, layer, 0.0, m.device()).unwrap()()),
        );
        assert_eq!(
            max_diff(&base, &zero),
            0.0,
            "{name}: coeff 0 changed the logits"
        );

        let names: Vec<String> = (0..=layer)
            .map(|l| format!("blocks.{l}.hook_resid_pre"))
            .collect();
        let mut plain = Hooks::cache_names(names.clone());
        logits(m, &batch, Some(&mut plain));
        for c in [3.0f32, -0.5] {
            let mut hooks = Hooks::cache_names(names.clone());
            spillover_mri::steer::add_actadd(&mut hooks, &r, layer, c, m.device()).unwrap();
            let steered = logits(m, &batch, Some(&mut hooks));
            assert!(
                max_diff(&steered, &base) > 1e-4,
                "{name}: coeff {c} changed nothing"
            );
            let at = &names[layer];
            let p0 = flat(&projection(plain.get(at).unwrap(), &rt).unwrap());
            let p1 = flat(&projection(hooks.get(at).unwrap(), &rt).unwrap());
            for (x, y) in p0.iter().zip(&p1) {
                assert!(
                    (y - x - c).abs() < 1e-5,
                    "{name}: moved by {} not {c}",
                    y - x
                );
            }
            for earlier in &names[..layer] {
                let d = max_diff(plain.get(earlier).unwrap(), hooks.get(earlier).unwrap());
                assert_eq!(
                    d, 0.0,
                    "{name}: {earlier} changed by steering a later layer"
                );
            }
        }
    }
}

/// Mean over prompts of per-prompt activations, each from an unpadded forward pass of its own.
fn per_prompt_mean(model: &Model, prompts: &[Vec<u32>], position: isize) -> Vec<Vec<f32>> {
    let per: Vec<Vec<Vec<f32>>> = prompts
        .iter()
        .map(|p| {
            activations(
                model,
                "hook_resid_pre",
                std::slice::from_ref(p),
                position,
                PAD,
                1,
            )
            .unwrap()
            .remove(0)
        })
        .collect();
    let (layers, d) = (per[0].len(), per[0][0].len());
    (0..layers)
        .map(|l| {
            (0..d)
                .map(|i| per.iter().map(|p| p[l][i]).sum::<f32>() / per.len() as f32)
                .collect()
        })
        .collect()
}

#[test]
fn diff_in_means_of_padded_batches_equals_the_per_prompt_computation() {
    let (a, b) = prompt_sets();
    for name in all_tiny() {
        let lm = tiny(name);
        let m = &lm.model;
        for position in [-1isize, -2, 1] {
            let batched = diff_in_means(m, &a, &b, position, PAD, 3).unwrap();
            let (ma, mb) = (
                per_prompt_mean(m, &a, position),
                per_prompt_mean(m, &b, position),
            );
            assert_eq!(batched.per_layer.len(), m.config().num_layers);
            let mut worst = 0f32;
            for (l, v) in batched.per_layer.iter().enumerate() {
                assert_eq!(v.len(), m.config().hidden_size);
                for (i, x) in v.iter().enumerate() {
                    worst = worst.max((x - (ma[l][i] - mb[l][i])).abs());
                }
            }
            assert!(
                worst < 1e-5,
                "{name} position {position}: batched vs per-prompt {worst}"
            );
            assert!(
                batched.norms().iter().all(|n| *n > 1e-3),
                "{name}: a layer's difference is ~0"
            );
            assert_eq!((batched.n_harmful, batched.n_harmless), (a.len(), b.len()));
        }
    }
}

#[test]
fn diff_in_means_rejects_positions_outside_a_prompt() {
    let lm = tiny("tiny-llama");
    let (a, b) = prompt_sets();
    let err = diff_in_means(&lm.model, &a, &b, -6, PAD, 2).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("position -6") && msg.contains("prompt 3"),
        "{msg}"
    );
    let empty: Vec<Vec<u32>> = vec![];
    assert!(diff_in_means(&lm.model, &empty, &b, -1, PAD, 2).is_err());
}

#[test]
fn directions_round_trip_through_json() {
    let lm = tiny("tiny-gpt2");
    let (a, b) = prompt_sets();
    let d = diff_in_means(&lm.model, &a, &b, -1, PAD, 4).unwrap();
    let back: Directions = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
    assert_eq!(back, d);
}

/// Every architecture with post-attention / post-feedforward norms (here Gemma-2 and OLMo-2 from
/// their HF fixtures) is refused the same way, weights untouched.
#[test]
fn post_norm_architectures_are_refused() {
    let Some(fx) = spillover_model::fixtures::fixtures_dir() else {
        return;
    };
    for arch in ["gemma2", "olmo2"] {
        let dir = fx.join("tiny").join(arch);
        let mut lm = spillover_model::load_path(&dir, &Default::default()).unwrap();
        let before: Vec<Tensor> = lm
            .model
            .linears()
            .iter()
            .map(|(_, l)| l.weight.clone())
            .collect();
        let r = vec![1.0f32; lm.config().hidden_size];
        let err = orthogonalize(&mut lm.model, &r).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("OLMo-2") && msg.contains(arch), "{msg}");
        for (w, (n, l)) in before.iter().zip(lm.model.linears()) {
            assert_eq!(max_diff(w, &l.weight), 0.0, "{arch}: {n} was edited");
        }
    }
}
