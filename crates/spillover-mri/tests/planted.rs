//! Planted mechanisms, recovered: interventions whose mechanism is known by construction, run
//! through the whole MRI on tiny models. Each finding is also checked to disappear when the planted
//! component is taken away (the companion tests), so a test that always passed would show.

mod common;

use common::*;
use spillover_model::Model;
use spillover_mri::claims::Claims;
use spillover_mri::direction::{cosine, norm, subject_activations, unit};
use spillover_mri::probe::Probe;
use spillover_mri::steer::actadd_hooks;
use spillover_mri::subject::Subject;
use spillover_mri::validate::CapabilityItem;
use spillover_mri::{mri, MriInputs, MriOptions, MriResult};

fn byte_tokens(ids: &[u32]) -> Vec<String> {
    ids.iter()
        .map(|&i| {
            if i < 256 {
                (i as u8 as char).to_string()
            } else {
                "<special>".to_string()
            }
        })
        .collect()
}

fn decode(ids: &[u32]) -> String {
    ids.iter()
        .filter(|&&i| i < 256)
        .map(|&i| i as u8 as char)
        .collect()
}

fn is_refusal(pairs: &[(&str, &str)]) -> anyhow::Result<Vec<bool>> {
    Ok(pairs.iter().map(|(_, r)| r.contains('a')).collect())
}

/// The whole MRI on `base` vs `tuned` with the tiny prompt sets and an arithmetic probe.
fn run(base: Subject, tuned: Subject, top_k: usize) -> MriResult {
    run_with(
        base,
        tuned,
        MriOptions {
            top_k,
            ..MriOptions::default()
        },
    )
}

fn run_with(base: Subject, tuned: Subject, opts: MriOptions) -> MriResult {
    let (harmful, harmless) = prompt_sets();
    let q = ids("What is 15 + 12?");
    let arith = Probe::new("arithmetic", q.clone(), byte_tokens(&q))
        .with_answer(b'2' as u32)
        .with_refusal(b'I' as u32);
    let inputs = MriInputs {
        base,
        tuned,
        probes: vec![arith],
        harmful_texts: harmful.iter().map(|h| decode(h)).collect(),
        harmful,
        harmless,
        capability: vec![CapabilityItem {
            ids: q,
            answer: "27".into(),
            answer_ids: vec![b'2' as u32, b'7' as u32],
        }],
        pad_id: PAD,
        stop_ids: vec![258],
        decode: &decode,
        is_refusal: &is_refusal,
        progress: None,
    };
    let opts = MriOptions {
        max_new_tokens: 2,
        validate: false,
        ..opts
    };
    mri(&inputs, &opts).unwrap().0
}

fn claims(r: &MriResult) -> &Claims {
    r.claims.as_ref().expect("claims were tested")
}

fn passing(r: &MriResult) -> Vec<String> {
    claims(r).passing().map(|c| c.id.clone()).collect()
}

// ---- (a) activation addition of a known direction at a known layer ----

const ACTADD_MODEL: &str = "tiny-gemma3";
const ACTADD_LAYER: usize = 2;

/// A fixed direction unrelated to the prompts.
fn planted_direction(d: usize) -> Vec<f32> {
    unit(
        &(0..d)
            .map(|i| ((i * 29 % 17) as f32) - 8.0)
            .collect::<Vec<_>>(),
    )
}

/// Twice the base model's mean residual norm at `layer` (last token of the prompts): a strong plant.
fn strong_coefficient(model: &Model, layer: usize) -> f32 {
    let (a, b) = prompt_sets();
    let all: Vec<Vec<u32>> = a.into_iter().chain(b).collect();
    let acts =
        subject_activations(&Subject::plain(model), "hook_resid_pre", &all, -1, PAD, 4).unwrap();
    2.0 * acts.iter().map(|p| norm(&p[layer])).sum::<f32>() / acts.len() as f32
}

/// The MRI of `model` against itself with `direction` added at `layer` with coefficient `coeff`.
fn actadd_mri(direction: &[f32], layer: usize, coeff: f32) -> MriResult {
    let lm = tiny(ACTADD_MODEL);
    let m = &lm.model;
    let f = actadd_hooks(direction, layer, coeff, m.device()).unwrap();
    run(Subject::plain(m), Subject::with_hooks(m, &f), 3)
}

#[test]
fn planted_actadd_is_found_at_its_layer_along_its_direction() {
    let lm = tiny(ACTADD_MODEL);
    let v = planted_direction(lm.config().hidden_size);
    let c = strong_coefficient(&lm.model, ACTADD_LAYER);
    let r = actadd_mri(&v, ACTADD_LAYER, c);
    let shift = r.direction.as_ref().unwrap().shift.as_ref().unwrap();
    assert_eq!(shift.layer, Some(ACTADD_LAYER), "{shift:?}");
    let cos = cosine(shift.direction.as_ref().unwrap(), &v).abs();
    assert!(cos > 0.9, "|cos| with the planted direction {cos}");
    // The causal claim about that direction passes its null.
    let cl = claims(&r);
    let s = cl
        .claims
        .iter()
        .find(|c| c.id == "shift_direction")
        .expect("a shift claim");
    assert!(s.passed, "{s:#?}");
    assert!(s.null_percentile >= 95.0 && s.interval[0] > 0.0);
    assert!(s.split.starts_with("in-sample"));
}

/// Companion of (a): the same plant at another layer or along another direction is found there and
/// along that one, so the layer and the cosine above come from the plant.
#[test]
fn without_that_plant_the_layer_and_direction_are_not_found() {
    let lm = tiny(ACTADD_MODEL);
    let d = lm.config().hidden_size;
    let v = planted_direction(d);
    let other = unit(
        &(0..d)
            .map(|i| ((i * 13 % 7) as f32) - 3.0)
            .collect::<Vec<_>>(),
    );
    assert!(cosine(&v, &other).abs() < 0.5, "the directions differ");
    let c = strong_coefficient(&lm.model, ACTADD_LAYER);
    let r = actadd_mri(&other, ACTADD_LAYER, c);
    let shift = r.direction.as_ref().unwrap().shift.clone().unwrap();
    let cos = cosine(shift.direction.as_ref().unwrap(), &v).abs();
    assert!(cos < 0.9, "another plant's direction matched v: {cos}");
    let elsewhere = actadd_mri(&v, 1, strong_coefficient(&lm.model, 1));
    let shift = elsewhere.direction.as_ref().unwrap().shift.clone().unwrap();
    assert_eq!(shift.layer, Some(1), "{shift:?}");
}

/// Zero-ablation is the option to mean-ablation: it finds the plant too (its projection is set to
/// zero rather than to the base model's mean).
#[test]
fn zero_ablation_also_recovers_the_planted_direction() {
    let lm = tiny(ACTADD_MODEL);
    let m = &lm.model;
    let v = planted_direction(lm.config().hidden_size);
    let c = strong_coefficient(m, ACTADD_LAYER);
    let f = actadd_hooks(&v, ACTADD_LAYER, c, m.device()).unwrap();
    let opts = MriOptions {
        ablation: spillover_mri::claims::Ablation::Zero,
        top_k: 3,
        ..MriOptions::default()
    };
    let r = run_with(Subject::plain(m), Subject::with_hooks(m, &f), opts);
    let s = claims(&r)
        .claims
        .iter()
        .find(|c| c.id == "shift_direction")
        .unwrap()
        .clone();
    assert_eq!(s.knockout, "direction ablation (zero)");
    assert!(s.passed, "{s:#?}");
}

// ---- (c) the α = 0 intervention ----

#[test]
fn the_zero_intervention_makes_no_claim_that_passes() {
    let lm = tiny(ACTADD_MODEL);
    let v = planted_direction(lm.config().hidden_size);
    let r = actadd_mri(&v, ACTADD_LAYER, 0.0);
    let shift = r.direction.as_ref().unwrap().shift.as_ref().unwrap();
    assert_eq!(shift.layer, None, "{shift:?}");
    let cl = claims(&r);
    assert!(!cl.claims.is_empty(), "claims were tested");
    assert_eq!(passing(&r), Vec::<String>::new());
    assert_eq!(cl.departure, 0.0);
    for c in &cl.claims {
        assert!(c.reason.contains("does not depart"), "{c:#?}");
    }
}

/// Companion of (c): with the plant in (α ≠ 0) a claim does pass, so the empty list above is the
/// zero intervention's, not a claim machinery that never passes.
#[test]
fn a_nonzero_intervention_makes_a_claim_that_passes() {
    let lm = tiny(ACTADD_MODEL);
    let v = planted_direction(lm.config().hidden_size);
    let c = strong_coefficient(&lm.model, ACTADD_LAYER);
    let r = actadd_mri(&v, ACTADD_LAYER, c);
    assert!(claims(&r).departure > 1e-3);
    assert!(!passing(&r).is_empty(), "{:#?}", claims(&r));
}

// ---- (b) a weight edit restricted to one head's output ----

const HEAD_MODEL: &str = "tiny-gpt2";
const HEAD_LAYER: usize = 1;

/// tiny-gpt2 with the value rows of `head` in `layer`'s `attn.c_attn` edited: only that head's
/// output (`attn.hook_z`) changes in that layer.
fn head_edited(layer: usize, head: Option<usize>) -> spillover_model::LoadedModel {
    let mut lm = tiny(HEAD_MODEL);
    let Some(head) = head else { return lm };
    let cfg = lm.config().clone();
    let (d, hd) = (cfg.hidden_size, cfg.hidden_size / cfg.num_heads);
    let name = format!("transformer.h.{layer}.attn.c_attn");
    let mut edited = false;
    for (module, lin) in lm.model.linears_mut() {
        if module != name {
            continue;
        }
        let w = lin.weight.to_dtype(candle_core::DType::F32).unwrap();
        let (rows, cols) = w.dims2().unwrap();
        assert_eq!((rows, cols), (3 * d, d), "c_attn is [q; k; v] x d");
        let mut v: Vec<f32> = w.flatten_all().unwrap().to_vec1().unwrap();
        for r in 2 * d + head * hd..2 * d + (head + 1) * hd {
            for c in 0..cols {
                v[r * cols + c] += 0.6 * ((((r * 31 + c * 17) % 23) as f32) / 11.0 - 1.0);
            }
        }
        lin.weight = candle_core::Tensor::from_vec(v, (rows, cols), w.device()).unwrap();
        edited = true;
    }
    assert!(edited, "{name} found");
    lm
}

fn head_claim(r: &MriResult) -> spillover_mri::claims::Claim {
    claims(r)
        .claims
        .iter()
        .find(|c| c.id == "implicated_heads")
        .cloned()
        .expect("a head claim")
}

#[test]
fn planted_head_is_ranked_first_by_patching_and_passes_its_null() {
    let base = tiny(HEAD_MODEL);
    let tuned = head_edited(HEAD_LAYER, Some(2));
    let r = run(Subject::plain(&base.model), Subject::plain(&tuned.model), 1);
    let ranked = spillover_mri::pipeline::implicated_heads(&r.probes, 3);
    assert_eq!(ranked[0], (HEAD_LAYER, 2), "{ranked:?}");
    let c = head_claim(&r);
    assert_eq!(c.component, "the implicated heads L1H2");
    assert!(c.passed, "{c:#?}");
    assert!(c.null_percentile >= 95.0 && c.interval[0] > 0.0, "{c:#?}");
}

/// Companion of (b): without the edit no head claim passes, and the same edit on another head
/// moves the ranking to that head.
#[test]
fn without_the_planted_head_no_head_passes_and_another_plant_moves_the_ranking() {
    let base = tiny(HEAD_MODEL);
    let plain = head_edited(HEAD_LAYER, None);
    let r = run(Subject::plain(&base.model), Subject::plain(&plain.model), 1);
    let c = head_claim(&r);
    assert!(!c.passed, "{c:#?}");
    let other = head_edited(HEAD_LAYER, Some(0));
    let r = run(Subject::plain(&base.model), Subject::plain(&other.model), 1);
    let ranked = spillover_mri::pipeline::implicated_heads(&r.probes, 3);
    assert_eq!(ranked[0], (HEAD_LAYER, 0), "{ranked:?}");
}
