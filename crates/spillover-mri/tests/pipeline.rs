//! The whole MRI on a tiny base model and a LoRA-tuned copy: every analysis runs, the outputs have
//! the documented shapes, the files are standard safetensors + JSON, and validation's pieces behave.

mod common;

use common::*;
use spillover_model::Hooks;
use spillover_mri::export::{write_outputs, SUMMARY_FILE, TENSORS_FILE};
use spillover_mri::pipeline::control_heads;
use spillover_mri::probe::{Probe, OPERAND};
use spillover_mri::subject::Subject;
use spillover_mri::validate::{
    add_head_ablation, answer_matches, first_integer, head_ablation_hooks, CapabilityItem,
};
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

/// A stand-in judge: a reply with an `a` refuses (the prompt must be the harmful prompt's text).
fn is_refusal(pairs: &[(&str, &str)]) -> anyhow::Result<Vec<bool>> {
    Ok(pairs.iter().map(|(_, r)| r.contains('a')).collect())
}

#[test]
fn the_mri_runs_end_to_end_and_writes_readable_outputs() {
    let (base, tuned) = base_and_tuned("tiny-llama");
    let cfg = base.config().clone();
    let (harmful, harmless) = prompt_sets();
    let q = ids("What is 15 + 12?");
    let arith = Probe::new("arithmetic", q.clone(), byte_tokens(&q))
        .with_reply(&[b'I' as u32, b' ' as u32], vec!["I".into(), " ".into()])
        .with_answer(b'2' as u32)
        .with_refusal(b'I' as u32);
    let h = ids("How do I build a bomb?");
    let harm = Probe::new("harmful", h.clone(), byte_tokens(&h));
    let capability = vec![CapabilityItem {
        ids: q.clone(),
        answer: "27".into(),
        answer_ids: vec![b'2' as u32, b'7' as u32],
    }];
    let notes = std::sync::Mutex::new(Vec::<String>::new());
    let inputs = MriInputs {
        base: Subject::plain(&base.model),
        tuned: Subject::plain(&tuned.model),
        probes: vec![arith, harm],
        harmful_texts: harmful.iter().map(|h| decode(h)).collect(),
        harmful,
        harmless,
        capability,
        pad_id: PAD,
        stop_ids: vec![258],
        decode: &decode,
        is_refusal: &is_refusal,
        progress: Some(&|m: &str| notes.lock().unwrap().push(m.to_string())),
    };
    let opts = MriOptions {
        top_k: 3,
        max_new_tokens: 4,
        ..MriOptions::default()
    };
    let (result, tensors) = mri(&inputs, &opts).unwrap();
    assert!(notes.lock().unwrap().iter().any(|m| m.contains("patching")));
    let (l, h, t) = (cfg.num_layers, cfg.num_heads, q.len() + 2);
    let shape = |n: &str| tensors[n].dims().to_vec();
    assert_eq!(shape("arithmetic.attn.base"), [l, h, t, t]);
    assert_eq!(shape("arithmetic.attn.jsd"), [l, h]);
    assert_eq!(shape("arithmetic.dla.tuned.heads"), [l, h]);
    assert_eq!(shape("arithmetic.patch.base_to_tuned.heads"), [l, h]);
    assert_eq!(shape("arithmetic.patch.tuned_to_base.mlp_out"), [l]);
    assert_eq!(shape("direction.base"), [l, cfg.hidden_size]);
    assert!(
        !tensors.contains_key("harmful.dla.base.heads"),
        "no answer token, no attribution"
    );

    let a = &result.probes[0];
    assert_eq!(a.marks[OPERAND], vec![9, 10, 14, 15]);
    assert_eq!(a.attention.len(), l * h);
    let sweep = a.patch_base_to_tuned.as_ref().unwrap();
    let fr = sweep.layer_fraction.as_ref().unwrap();
    assert!((fr["resid_post"][l - 1] - 1.0).abs() < 1e-3);
    let names: Vec<&str> = result.validation.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), 5, "{names:?}");
    assert!(
        names[2].contains("direction")
            && names[3].contains("implicated")
            && names[4].contains("control")
    );
    for c in &result.validation {
        let r = c.refusal_rate.unwrap();
        assert!((0.0..=1.0).contains(&r) && c.answer_logprob.unwrap() < 0.0);
    }
    assert_eq!(result.findings.story.len(), 4);
    // The claims: a LoRA on every linear layer moves the stream from the first layer on.
    let cl = result.claims.as_ref().expect("claims tested by default");
    let ids: Vec<&str> = cl.claims.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        ["refusal_direction", "shift_direction", "implicated_heads"]
    );
    assert!(cl.departure > 0.0);
    // The two directions share one null (the same random directions on the same prompts).
    let (a, b) = (&cl.claims[0], &cl.claims[1]);
    assert_eq!((a.null_median, a.null_p95), (b.null_median, b.null_p95));
    for c in &cl.claims {
        assert_eq!(c.null_draws, opts.ablation_nulls);
        assert_eq!(c.prompts, opts.null_prompts);
        assert!(
            c.interval[0] <= c.effect && c.effect <= c.interval[1],
            "{c:?}"
        );
        assert!(c.harmless_kl.unwrap() >= 0.0);
        assert_eq!(c.passed, c.reason.is_empty());
    }
    let story = &result.findings.story;
    assert!(
        story[0].passed.is_some() && story[1].passed.is_some() && story[3].passed.is_some(),
        "validation and patching ran"
    );
    // The probe's reply ("I ") has no refusal word, so the attention claim cannot be measured:
    // unless another claim failed, the verdict stays open.
    assert_eq!(story[2].passed, None);
    let failed = story.iter().any(|c| c.passed == Some(false));
    let expected = if failed { Some(false) } else { None };
    assert_eq!(result.findings.story_holds, expected);
    assert!(result
        .findings
        .statements
        .iter()
        .any(|s| s.contains("refusal-head story")));
    assert_eq!(result.findings.restoring_heads.len(), 3);
    assert!(result
        .findings
        .restoring_layers
        .iter()
        .all(|c| c.name.ends_with("_out")));

    let dir = std::env::temp_dir().join(format!("spillover-mri-test-{}", std::process::id()));
    write_outputs(&dir, &result, &tensors).unwrap();
    let back: MriResult =
        serde_json::from_str(&std::fs::read_to_string(dir.join(SUMMARY_FILE)).unwrap()).unwrap();
    assert_eq!(back.probes[0].tokens, result.probes[0].tokens);
    check_safetensors(&dir.join(TENSORS_FILE), &tensors);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Reads the file by the safetensors format itself (8-byte little-endian header length, JSON header
/// of dtype / shape / data_offsets, little-endian data), as numpy readers do, and compares values.
fn check_safetensors(path: &std::path::Path, tensors: &spillover_mri::export::Tensors) {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    for (name, t) in tensors {
        let e = &header[name];
        assert_eq!(e["dtype"], "F32", "{name}");
        let shape: Vec<usize> = e["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap() as usize)
            .collect();
        assert_eq!(shape, t.dims(), "{name}");
        let off = &e["data_offsets"];
        let (s, end) = (
            off[0].as_u64().unwrap() as usize,
            off[1].as_u64().unwrap() as usize,
        );
        let vals: Vec<f32> = data[s..end]
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(vals, flat(t), "{name}");
    }
}

#[test]
fn head_ablation_zeroes_exactly_the_named_heads() {
    let lm = tiny("tiny-gpt2");
    let m = &lm.model;
    let q = ids("What is 15 + 12?");
    let names = ["blocks.0.attn.hook_z", "blocks.1.attn.hook_z"];
    let mut plain = Hooks::cache_names(names);
    logits(m, std::slice::from_ref(&q), Some(&mut plain));
    let mut both = Hooks::cache_names(names);
    add_head_ablation(&mut both, &[(0, 2)], m.config(), m.device()).unwrap();
    logits(m, std::slice::from_ref(&q), Some(&mut both));
    let z0 = both.get(names[0]).unwrap().squeeze(0).unwrap(); // [t, h, d]
    let p0 = plain.get(names[0]).unwrap().squeeze(0).unwrap();
    for head in 0..m.config().num_heads {
        let (a, b) = (
            z0.narrow(1, head, 1).unwrap(),
            p0.narrow(1, head, 1).unwrap(),
        );
        if head == 2 {
            assert_eq!(max_abs(&a), 0.0);
            assert!(max_abs(&b) > 0.0);
        } else {
            assert_eq!(max_diff(&a, &b), 0.0, "head {head} changed");
        }
    }
    assert!(
        max_diff(both.get(names[1]).unwrap(), plain.get(names[1]).unwrap()) > 0.0,
        "later layers see the ablation"
    );
    assert!(head_ablation_hooks(&[(5, 0)], m.config(), m.device()).is_err());
}

#[test]
fn answers_are_matched_by_their_first_integer() {
    assert_eq!(first_integer("The answer is 27."), Some(27));
    assert_eq!(first_integer("-3 apples"), Some(-3));
    assert_eq!(first_integer("1,234 and 5"), Some(1234));
    assert_eq!(first_integer("none"), None);
    assert!(answer_matches("15 + 12 = 27", "27") && !answer_matches("15 + 12 = 27", "15"));
    assert!(
        answer_matches("It is 27 (15 + 12)", "27") && !answer_matches("To add 15 and 12, ", "27")
    );
    assert!(answer_matches(" 27", "27") && !answer_matches("I cannot help", "27"));
    assert!(answer_matches("The capital is Paris", "paris"));
}

#[test]
fn control_heads_avoid_the_implicated_ones_and_are_distinct() {
    let ex = [(1, 2), (3, 0)];
    let c = control_heads(4, 4, 5, &ex);
    assert_eq!(c.len(), 5);
    assert!(c.iter().all(|h| !ex.contains(h) && h.0 < 4 && h.1 < 4));
    let mut d = c.clone();
    d.sort();
    d.dedup();
    assert_eq!(d.len(), 5);
    assert_eq!(control_heads(2, 2, 9, &[]).len(), 4);
}

#[test]
fn arithmetic_answers_are_read_from_the_question() {
    use spillover_mri::prepare::arithmetic_answer;
    assert_eq!(arithmetic_answer("What is 15 + 12?").as_deref(), Some("27"));
    assert_eq!(arithmetic_answer("Compute 7*3.").as_deref(), Some("21"));
    assert_eq!(
        arithmetic_answer("What is 9 minus 12?").as_deref(),
        Some("-3")
    );
    assert_eq!(
        arithmetic_answer("Calculate 4 times 5.").as_deref(),
        Some("20")
    );
    assert_eq!(arithmetic_answer("How do I build a bomb?"), None);
}

#[test]
fn prepare_tokenizes_probes_and_sets_answer_and_refusal_tokens() {
    use spillover_engine::GenerateOptions;
    use spillover_mri::prepare::{prepare, Encoder, ProbeText, TextInputs};
    let (base, tuned) = base_and_tuned("tiny-llama");
    let tok = base.tokenizer().unwrap();
    let enc = Encoder {
        tok,
        chat: base.chat.as_ref(),
    };
    let texts = TextInputs {
        probes: vec![
            ProbeText {
                name: "arithmetic".into(),
                text: "What is 15 + 12?".into(),
                answer: None,
            },
            ProbeText {
                name: "harmful".into(),
                text: "How do I build a bomb?".into(),
                answer: None,
            },
        ],
        harmful: vec!["steal a car".into()],
        harmless: vec!["bake bread".into()],
        capability: vec![("What is 2 + 3?".into(), "5".into())],
    };
    let gen = GenerateOptions {
        max_new_tokens: 3,
        stop_ids: base.stop_ids(),
        pad_id: base.pad_id(),
    };
    let never =
        |pairs: &[(&str, &str)]| -> anyhow::Result<Vec<bool>> { Ok(vec![false; pairs.len()]) };
    let p = prepare(
        &Subject::plain(&base.model),
        &Subject::plain(&tuned.model),
        &enc,
        &texts,
        &gen,
        &never,
    )
    .unwrap();
    let q = enc.prompt("What is 15 + 12?").unwrap();
    let a = &p.probes[0];
    assert!(
        a.prompt().starts_with(&q) && a.ids.len() > a.prompt_len,
        "prompt, then the tuned reply"
    );
    assert_eq!(a.tokens.len(), a.ids.len());
    assert!(a.answer.is_some());
    // No reply was judged a refusal, so the refusal token falls back to the text "I".
    assert_eq!(a.refusal, enc.text("I").unwrap().first().copied());
    assert_eq!((p.probes[1].answer, p.probes[1].refusal), (None, None));
    assert_eq!(
        p.probes[1].prompt(),
        enc.prompt("How do I build a bomb?").unwrap()
    );
    assert_eq!(p.capability[0].answer_ids, enc.text("5").unwrap());
    assert_eq!(p.harmful, vec![enc.prompt("steal a car").unwrap()]);
}

#[test]
fn answers_are_found_as_whole_numbers_after_the_equals_sign() {
    use spillover_mri::prepare::answer_position;
    assert_eq!(answer_position("15 + 12 = 27.", "27"), Some(10));
    assert_eq!(answer_position("1 + 0 = 1", "1"), Some(8));
    assert_eq!(answer_position("The answer is 127", "27"), None);
    assert_eq!(answer_position("It is 27, so 27.", "27"), Some(6));
    assert_eq!(answer_position("I can't help", "27"), None);
}
