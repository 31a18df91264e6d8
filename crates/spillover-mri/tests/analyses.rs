//! Phase-2 properties on the tiny models: attention rows are distributions, logit attributions sum
//! to the logit difference, patching the last residual restores the source exactly and patching
//! nothing restores nothing, and the SVD recovers a known decomposition.

mod common;

use candle_core::Tensor;
use common::*;
use spillover_mri::attention::{attention_patterns, head_changes, jensen_shannon, most_changed};
use spillover_mri::attribution::direct_logit_attribution;
use spillover_mri::linalg::{top_singular, weight_deltas};
use spillover_mri::patching::{
    answer_logprob, patch_sweep, patched_last_logits, patched_logprobs, Site,
};
use spillover_mri::steer::actadd_hooks;
use spillover_mri::subject::Subject;
use std::collections::BTreeMap;

#[test]
fn attention_rows_sum_to_one_and_respect_causality() {
    let ids = ids("What is 15 + 12?");
    for name in all_tiny() {
        let lm = tiny(name);
        let p = attention_patterns(&Subject::plain(&lm.model), &ids).unwrap();
        assert_eq!(p.per_layer.len(), lm.config().num_layers);
        assert_eq!((p.heads(), p.len()), (lm.config().num_heads, ids.len()));
        for l in 0..p.per_layer.len() {
            for h in 0..p.heads() {
                for (q, row) in p.head(l, h).unwrap().iter().enumerate() {
                    let s: f32 = row.iter().sum();
                    assert!(
                        (s - 1.0).abs() < 1e-5,
                        "{name} L{l}H{h} row {q} sums to {s}"
                    );
                    assert!(
                        row[q + 1..].iter().all(|x| *x == 0.0),
                        "{name}: attends ahead"
                    );
                }
            }
        }
    }
}

#[test]
fn jensen_shannon_is_zero_for_equal_and_ln2_for_disjoint_distributions() {
    let p = [0.2f32, 0.3, 0.5, 0.0];
    let q = [0.0f32, 0.0, 0.0, 1.0];
    assert_eq!(jensen_shannon(&p, &p), 0.0);
    assert!((jensen_shannon(&p, &q) - std::f32::consts::LN_2).abs() < 1e-6);
    let r = [0.25f32, 0.25, 0.25, 0.25];
    assert!((jensen_shannon(&p, &r) - jensen_shannon(&r, &p)).abs() < 1e-7);
    assert!(jensen_shannon(&p, &r) > 0.0);
}

#[test]
fn head_changes_are_zero_against_itself_and_masses_are_fractions_of_one() {
    let ids = ids("What is 15 + 12?");
    let (base, tuned) = base_and_tuned("tiny-llama");
    let pb = attention_patterns(&Subject::plain(&base.model), &ids).unwrap();
    let pt = attention_patterns(&Subject::plain(&tuned.model), &ids).unwrap();
    let marks = BTreeMap::from([
        ("all".to_string(), (0..ids.len()).collect::<Vec<_>>()),
        ("operand".to_string(), vec![9, 10, 14, 15]),
    ]);
    for c in head_changes(&pb, &pb, &marks).unwrap() {
        assert_eq!(
            (c.jsd_mean, c.jsd_last, c.mass_shift("operand")),
            (0.0, 0.0, 0.0)
        );
    }
    let changes = head_changes(&pb, &pt, &marks).unwrap();
    assert_eq!(changes.len(), 2 * 4);
    for c in &changes {
        assert!(
            (c.mass_base["all"] - 1.0).abs() < 1e-5 && (c.mass_tuned["all"] - 1.0).abs() < 1e-5
        );
        assert!((0.0..=1.0 + 1e-6).contains(&c.mass_tuned["operand"]));
    }
    let top = most_changed(&changes, 3);
    assert!(top[0].jsd_mean > 0.0 && top[0].jsd_mean >= top[1].jsd_mean);
}

#[test]
fn logit_attributions_sum_to_the_logit_difference() {
    let ids = ids("What is 15 + 12?");
    let (target, baseline) = (b'2' as u32, b'I' as u32);
    for name in all_tiny() {
        let (base, tuned) = base_and_tuned(name);
        for m in [&base.model, &tuned.model] {
            let a = direct_logit_attribution(&Subject::plain(m), &ids, target, baseline).unwrap();
            assert!(
                a.intervention.abs() < 1e-5,
                "{name}: plain model, no intervention term"
            );
            let logits = flat(&logits(m, std::slice::from_ref(&ids), None));
            let v = m.config().vocab_size;
            let last = &logits[(ids.len() - 1) * v..];
            let model_diff = last[target as usize] - last[baseline as usize];
            assert!(
                (a.logit_diff - model_diff).abs() < 1e-4,
                "{name}: {} vs {model_diff}",
                a.logit_diff
            );
            assert_terms_sum(&a, name, 1e-4);
            assert_eq!(a.heads.len(), m.config().num_layers);
            assert!(a.heads.iter().all(|h| h.len() == m.config().num_heads));
            if m.config().arch != spillover_model::Arch::Gpt2 {
                assert_eq!(a.final_bias, 0.0, "{name}: RMSNorm has no bias");
            }
        }
    }
}

#[test]
fn patching_the_last_residual_restores_the_source_logits_and_nothing_restores_nothing() {
    let ids = ids("What is 15 + 12?");
    let answer = b'2' as u32;
    for name in all_tiny() {
        let (base, tuned) = base_and_tuned(name);
        let (src, dst) = (&base.model, &tuned.model);
        let (s_src, s_dst) = (Subject::plain(src), Subject::plain(dst));
        let last = src.config().num_layers - 1;
        let rows = vec![vec![], vec![Site::ResidPost(last)], vec![]];
        let got = patched_last_logits(&s_src, &s_dst, &ids, &rows, 2).unwrap();
        let step = |m: &spillover_model::Model| {
            let s = spillover_model::Step::left_padded(std::slice::from_ref(&ids), 0, m.device())
                .unwrap();
            m.forward_last(&s, None, None).unwrap()
        };
        let (clean, corrupt) = (step(src), step(dst));
        assert!(
            max_diff(&clean, &corrupt) > 1e-3,
            "{name}: the two models agree"
        );
        assert!(
            max_diff(&got[1], &clean) < 1e-5,
            "{name}: last resid_post patch != clean"
        );
        assert!(
            max_diff(&got[0], &corrupt) < 1e-5,
            "{name}: empty patch changed the run"
        );
        assert!(
            max_diff(&got[2], &corrupt) < 1e-5,
            "{name}: empty patch changed the run"
        );

        let sweep = patch_sweep(&s_src, &s_dst, &ids, answer, 16).unwrap();
        assert!(
            (sweep.target_logprob - answer_logprob(&s_dst, &ids, answer).unwrap()).abs() < 1e-5
        );
        let frac = sweep
            .layer_fraction
            .as_ref()
            .expect("the models differ on this probe");
        assert!(
            (frac["resid_post"][last] - 1.0).abs() < 1e-3,
            "{name}: {}",
            frac["resid_post"][last]
        );
        // The adapters leave the embeddings alone: layer 0's resid_pre is the same in both runs.
        assert!(
            frac["resid_pre"][0].abs() < 1e-3,
            "{name}: {}",
            frac["resid_pre"][0]
        );
        let hf = sweep.head_fraction.as_ref().unwrap();
        assert_eq!(
            (hf.len(), hf[0].len()),
            (src.config().num_layers, src.config().num_heads)
        );
    }
}

#[test]
fn patching_a_model_into_itself_changes_nothing() {
    let ids = ids("What is 15 + 12?");
    let lm = tiny("tiny-gpt2");
    let m = &lm.model;
    let sm = Subject::plain(m);
    let all: Vec<Site> = (0..m.config().num_layers)
        .flat_map(|l| {
            [
                Site::Head { layer: l, head: 1 },
                Site::AttnOut(l),
                Site::MlpOut(l),
            ]
        })
        .collect();
    let lp = patched_logprobs(&sm, &sm, &ids, 7, &[all, vec![]], 2).unwrap();
    assert!((lp[0] - lp[1]).abs() < 1e-6, "{lp:?}");
    let err = patched_logprobs(&sm, &sm, &ids, 7, &[vec![Site::MlpOut(9)]], 1).unwrap_err();
    assert!(format!("{err}").contains("2 layers"), "{err}");
}

/// Orthonormal columns from deterministic vectors (Gram–Schmidt, two passes).
fn orthonormal(n: usize, k: usize, seed: usize) -> Vec<Vec<f64>> {
    let mut cols: Vec<Vec<f64>> = Vec::new();
    for j in 0..k {
        let mut v: Vec<f64> = (0..n)
            .map(|i| (((i * 31 + j * 17 + seed) * 2654435761usize) % 1000) as f64 / 1000.0 - 0.5)
            .collect();
        for c in cols.iter().chain(&cols) {
            let d: f64 = v.iter().zip(c).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(c).for_each(|(a, b)| *a -= d * b);
        }
        let n2 = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        cols.push(v.into_iter().map(|x| x / n2).collect());
    }
    cols
}

#[test]
fn top_singular_recovers_a_known_decomposition() {
    let (rows, cols) = (12, 20);
    let sig = [5.0, 3.0, 2.0, 0.5];
    let u = orthonormal(rows, 4, 1);
    let v = orthonormal(cols, 4, 2);
    let mut m = vec![0f64; rows * cols];
    for (k, s) in sig.iter().enumerate() {
        for i in 0..rows {
            for j in 0..cols {
                m[i * cols + j] += s * u[k][i] * v[k][j];
            }
        }
    }
    let t = Tensor::from_vec(m, (rows, cols), &candle_core::Device::Cpu).unwrap();
    for a in 0..4 {
        for b in 0..4 {
            let d: f64 = u[a].iter().zip(&u[b]).map(|(x, y)| x * y).sum();
            assert!(
                (d - f64::from(u8::from(a == b))).abs() < 1e-12,
                "test basis"
            );
        }
    }
    let got = top_singular(&t, 3, 50).unwrap();
    assert_eq!(got.len(), 3);
    for (k, s) in got.iter().enumerate() {
        assert!(
            (s.sigma - sig[k]).abs() < 1e-8,
            "sigma {k}: {} vs {}",
            s.sigma,
            sig[k]
        );
        let cu: f64 = s.u.iter().zip(&u[k]).map(|(a, b)| a * b).sum();
        let cv: f64 = s.v.iter().zip(&v[k]).map(|(a, b)| a * b).sum();
        assert!((cu.abs() - 1.0).abs() < 1e-8 && (cv.abs() - 1.0).abs() < 1e-8);
        assert!(cu * cv > 0.0, "u and v signs agree (M v = sigma u)");
    }
}

#[test]
fn weight_deltas_are_the_lora_updates() {
    let (base, mut tuned) = base_and_tuned("tiny-llama");
    let deltas = weight_deltas(&base.model, &tuned.model).unwrap();
    assert_eq!(deltas.len(), 7 * tuned.config().num_layers);
    let expected: Vec<(String, Tensor)> = tuned
        .model
        .linears_mut()
        .into_iter()
        .map(|(n, l)| (n, l.lora.as_ref().unwrap().delta().unwrap()))
        .collect();
    for ((n, d), (en, e)) in deltas.iter().zip(&expected) {
        assert_eq!(n, en);
        assert!(max_diff(d, e) < 1e-6, "{n}");
        // A rank-4 update has no fifth singular value.
        let s = top_singular(d, 5, 30).unwrap();
        assert!(
            s[3].sigma > 1e-4 && s[4].sigma < 1e-5 * s[0].sigma,
            "{n}: {:?}",
            s.iter().map(|x| x.sigma).collect::<Vec<_>>()
        );
    }
    assert!(weight_deltas(&base.model, &base.model).unwrap().is_empty());
}

#[test]
fn hook_interventions_are_analysed_through_their_subject() {
    // The tuned subject is the base model with activation addition at layer 1.
    let ids = ids("What is 15 + 12?");
    let (target, baseline) = (b'2' as u32, b'I' as u32);
    for name in all_tiny() {
        let lm = tiny(name);
        let m = &lm.model;
        let d = m.config().hidden_size;
        let v: Vec<f32> = (0..d).map(|i| ((i * 7 % 13) as f32 - 6.0) / 6.0).collect();
        let make = actadd_hooks(&v, 1, 4.0, m.device()).unwrap();
        let (plain, steered) = (Subject::plain(m), Subject::with_hooks(m, &make));
        let a = direct_logit_attribution(&steered, &ids, target, baseline).unwrap();
        assert_terms_sum(&a, name, 1e-4);
        assert!(
            a.intervention.abs() > 1e-3,
            "{name}: the steering vector shows up as a term"
        );
        let p = direct_logit_attribution(&plain, &ids, target, baseline).unwrap();
        assert!(
            (a.logit_diff - p.logit_diff).abs() > 1e-4,
            "{name}: steering changed nothing"
        );
        // A patch at the steered point overrides the steering: everything before it is the same,
        // so base → steered patching of blocks.1.hook_resid_pre restores the base run exactly.
        let rows = vec![vec![Site::ResidPre(1)], vec![Site::ResidPre(0)]];
        let got = patched_last_logits(&plain, &steered, &ids, &rows, 2).unwrap();
        let clean = patched_last_logits(&plain, &plain, &ids, &[vec![]], 1).unwrap();
        let dirty = patched_last_logits(&steered, &steered, &ids, &[vec![]], 1).unwrap();
        assert!(
            max_diff(&got[0], &clean[0]) < 1e-5,
            "{name}: patch did not override the edit"
        );
        assert!(
            max_diff(&got[1], &dirty[0]) < 1e-5,
            "{name}: identical layer-0 patch changed the run"
        );
        assert!(max_diff(&clean[0], &dirty[0]) > 1e-3, "{name}");
    }
}

#[test]
fn top_singular_converges_on_a_full_rank_matrix() {
    // 30 x 40, full rank, spectrum not known in advance: check the singular-pair equations.
    let (rows, cols) = (30, 40);
    let m: Vec<f64> = (0..rows * cols)
        .map(|i| {
            (((i * 7919) % 1013) as f64 / 1013.0 - 0.5)
                + if i % (cols + 1) == 0 { 2.0 } else { 0.0 }
        })
        .collect();
    let t = Tensor::from_vec(m.clone(), (rows, cols), &candle_core::Device::Cpu).unwrap();
    let got = top_singular(&t, 3, 500).unwrap();
    for w in got.windows(2) {
        assert!(w[0].sigma >= w[1].sigma);
    }
    for s in &got {
        let mv: Vec<f64> = (0..rows)
            .map(|r| (0..cols).map(|c| m[r * cols + c] * s.v[c]).sum())
            .collect();
        let mtu: Vec<f64> = (0..cols)
            .map(|c| (0..rows).map(|r| m[r * cols + c] * s.u[r]).sum())
            .collect();
        let e1 = mv
            .iter()
            .zip(&s.u)
            .map(|(a, b)| (a - s.sigma * b).powi(2))
            .sum::<f64>()
            .sqrt();
        let e2 = mtu
            .iter()
            .zip(&s.v)
            .map(|(a, b)| (a - s.sigma * b).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(
            e1 < 1e-6 * s.sigma && e2 < 1e-6 * s.sigma,
            "sigma {}: residuals {e1} {e2}",
            s.sigma
        );
    }
}

#[test]
fn direction_analysis_sees_an_orthogonalized_model_exactly() {
    use spillover_mri::direction_analysis::{analyse_direction, DirectionInputs};
    let (harmful, harmless) = prompt_sets();
    let capability = vec![ids("What is 15 + 12?"), ids("2 + 3 =")];
    let base = tiny("tiny-llama");
    let inp = DirectionInputs {
        harmful: &harmful,
        harmless: &harmless,
        capability: &capability,
        pad_id: PAD,
        batch_size: 3,
        layer: Some(1),
        svd_k: 2,
        lens_k: 5,
    };
    let same = analyse_direction(
        &Subject::plain(&base.model),
        &Subject::plain(&base.model),
        &inp,
    )
    .unwrap();
    assert!(same.alignments.is_empty(), "no weight changed");
    assert!(same.cos_base_tuned.iter().all(|c| (c - 1.0).abs() < 1e-5));
    assert_eq!(same.reflex_base, same.reflex_tuned);
    assert!(same.lens_up.windows(2).all(|w| w[0].1 >= w[1].1));
    assert!(same.lens_down.windows(2).all(|w| w[0].1 <= w[1].1));

    let mut edited = tiny("tiny-llama");
    spillover_mri::orthogonalize(&mut edited.model, &same.direction).unwrap();
    let d = analyse_direction(
        &Subject::plain(&base.model),
        &Subject::plain(&edited.model),
        &inp,
    )
    .unwrap();
    assert_eq!(d.direction, same.direction);
    let p = &d.projections;
    for v in [&p.harmful_tuned, &p.harmless_tuned, &p.capability_tuned] {
        assert!(
            v.iter().all(|x| x.abs() < 1e-5),
            "projection left after orthogonalization: {v:?}"
        );
    }
    assert!(p.harmful_base[1] - p.harmless_base[1] > 1e-3);
    // W' = W − r̂ r̂ᵀ W: each edited writer's update is rank one along r̂.
    assert_eq!(
        d.alignments.len(),
        2 * base.config().num_layers,
        "o_proj and down_proj per layer"
    );
    for a in &d.alignments {
        assert_eq!(a.side, "output");
        assert!((a.cos[0] - 1.0).abs() < 1e-4, "{}: {:?}", a.module, a.cos);
        assert!(a.sigma[1] < 1e-4 * a.sigma[0], "{}: rank one", a.module);
    }
}

#[test]
fn every_linear_layer_of_every_architecture_has_a_residual_role() {
    use spillover_mri::direction_analysis::{residual_role, ResidualRole};
    for name in all_tiny() {
        let lm = tiny(name);
        let d = lm.config().hidden_size;
        for (module, lin) in lm.model.linears() {
            let role = residual_role(&module).unwrap_or_else(|| panic!("{module}: no role"));
            let (out, inp) = lin.weight.dims2().unwrap();
            // The role's residual space has the stream's width.
            match role {
                ResidualRole::Writer => assert_eq!(out, d, "{module}"),
                ResidualRole::Reader => assert_eq!(inp, d, "{module}"),
            }
        }
    }
    // Square matrices on both sides: the role comes from the name, not the shape.
    assert_eq!(
        residual_role("model.layers.0.self_attn.q_proj"),
        Some(ResidualRole::Reader)
    );
    assert_eq!(
        residual_role("model.layers.0.self_attn.o_proj"),
        Some(ResidualRole::Writer)
    );
    assert_eq!(
        residual_role("transformer.h.1.attn.c_proj"),
        Some(ResidualRole::Writer)
    );
    assert_eq!(
        residual_role("transformer.h.1.attn.c_attn"),
        Some(ResidualRole::Reader)
    );
    assert_eq!(residual_role("lm_head"), None);
}

/// ΔW = b r̂ᵀ on a square reader (`q_proj` reads along r̂): the right singular vector is r̂, the
/// left one is b's direction. Classed by shape, the reader would be compared on its output side.
#[test]
fn a_reader_update_is_compared_in_its_input_space() {
    use spillover_mri::direction_analysis::delta_alignment;
    let base = tiny("tiny-llama");
    let mut tuned = tiny("tiny-llama");
    let d = base.config().hidden_size;
    let r = spillover_mri::unit(
        &(0..d)
            .map(|i| ((i * 7 % 11) as f32) - 5.0)
            .collect::<Vec<_>>(),
    );
    let b: Vec<f32> = (0..d).map(|i| ((i * 5 % 13) as f32) - 6.0).collect();
    for (module, lin) in tuned.model.linears_mut() {
        if module == "model.layers.1.self_attn.q_proj" {
            let (rows, cols) = lin.weight.dims2().unwrap();
            assert_eq!((rows, cols), (d, d), "q_proj is square in tiny-llama");
            let outer: Vec<f32> = (0..rows * cols)
                .map(|i| 0.1 * b[i / cols] * r[i % cols])
                .collect();
            let dw = Tensor::from_vec(outer, (rows, cols), lin.weight.device()).unwrap();
            lin.weight = (lin.weight.to_dtype(candle_core::DType::F32).unwrap() + dw).unwrap();
        }
    }
    let al = delta_alignment(&base.model, &tuned.model, &r, 2).unwrap();
    assert_eq!(al.len(), 1, "{al:?}");
    assert_eq!(al[0].module, "model.layers.1.self_attn.q_proj");
    assert_eq!(al[0].side, "input");
    assert!((al[0].cos[0] - 1.0).abs() < 1e-4, "{:?}", al[0].cos);
    // The output side holds b's direction, which is not r̂.
    let cos_b = spillover_mri::direction::cosine(&b, &r).abs();
    assert!(cos_b < 0.9, "the test needs b not along r̂ ({cos_b})");
}

#[test]
fn the_max_cos_null_grows_with_the_comparisons_and_ranks_a_planted_match_last() {
    use spillover_mri::direction_analysis::max_cos_null;
    use spillover_mri::rng::Rng;
    let d = 64;
    let mut rng = Rng::new(3);
    let vecs: Vec<Vec<f32>> = (0..480).map(|_| rng.unit_vector(d)).collect();
    let refs: Vec<&[f32]> = vecs.iter().map(Vec::as_slice).collect();
    let r = rng.unit_vector(d);
    let one = max_cos_null(&r, &refs[..1], 400, 1).unwrap();
    let many = max_cos_null(&r, &refs, 400, 1).unwrap();
    let single = (2.0 / (std::f32::consts::PI * d as f32)).sqrt();
    // One comparison: the median |cos| of a random pair, near the expected single |cos| (0.1).
    assert!((one.median - single).abs() < 0.04, "{one:?} vs {single}");
    // The maximum of 480 is far above it: the scale the old sentence got wrong.
    assert!(many.median > 2.0 * single, "{many:?}");
    assert!(many.p95 >= many.median);
    assert_eq!(many.comparisons, 480);
    // A random r̂ sits inside its null; r̂ equal to one of the vectors sits beyond every draw.
    assert!(many.percentile > 2.0 && many.percentile < 98.0, "{many:?}");
    let planted = max_cos_null(&vecs[17], &refs, 400, 1).unwrap();
    assert!((planted.observed - 1.0).abs() < 1e-5);
    assert_eq!(planted.percentile, 100.0);
    assert!(max_cos_null(&r, &[], 400, 1).is_none());
}
