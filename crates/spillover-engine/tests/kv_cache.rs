//! The preallocated KV cache and the cached fast attention paths: a cache with room reserved, a
//! grown one, a cloned one and one with copied rows give the logits of the dense reference path
//! (the same forward with hooks present) within 1e-4, on left-padded batches.

mod common;
use candle_core::{IndexOp, Tensor};
use common::{prompts, tiny, TINY};
use spillover_model::fixtures::test_device;
use spillover_model::layers::MaskSpec;
use spillover_model::{Hooks, KvCache, Model, Step};

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    spillover_model::fixtures::max_abs_diff(a, b)
}

/// Prefill `seqs` then feed `extra` one token at a time; returns the logits of every step.
fn run(
    m: &Model,
    seqs: &[Vec<u32>],
    extra: &[u32],
    cache: &mut KvCache,
    hooks: bool,
) -> Vec<Tensor> {
    let dev = test_device();
    let step = Step::left_padded(seqs, 256, &dev).unwrap();
    let mut h = Hooks::new();
    let mut fwd = |s: &Step, cache: &mut KvCache| {
        let hk = if hooks { Some(&mut h) } else { None };
        m.forward(s, Some(cache), hk).unwrap()
    };
    let mut out = vec![fwd(&step, cache)];
    let mut valid = step.mask.key_valid.clone();
    for (k, &tok) in extra.iter().enumerate() {
        out.push(fwd(&decode_step(seqs, &mut valid, k, tok), cache));
    }
    out
}

/// The step feeding `tok` to every row as its k-th new token (after the left-padded prompts).
fn decode_step(seqs: &[Vec<u32>], valid: &mut [Vec<bool>], k: usize, tok: u32) -> Step {
    let past = valid[0].len();
    valid.iter_mut().for_each(|v| v.push(true));
    Step {
        input_ids: Tensor::new(vec![vec![tok]; seqs.len()], &test_device()).unwrap(),
        positions: seqs.iter().map(|s| vec![(s.len() + k) as u32]).collect(),
        mask: MaskSpec {
            key_valid: valid.to_vec(),
            past,
            t: 1,
            branches: None,
        },
    }
}

/// Logits of the real (non-padding) prefill positions and of every decode step.
fn real_rows(seqs: &[Vec<u32>], steps: &[Tensor]) -> Vec<Tensor> {
    let t = steps[0].dims()[1];
    let mut rows = Vec::new();
    for (i, s) in seqs.iter().enumerate() {
        rows.push(steps[0].i((i, t - s.len()..t)).unwrap());
        for st in &steps[1..] {
            rows.push(st.i(i).unwrap());
        }
    }
    rows
}

fn long_prompts() -> Vec<Vec<u32>> {
    // Longer than the fused path's query limit, so the blocked path runs too.
    let mut p = prompts();
    p.push((0..40u32).map(|i| (i * 13 + 5) % 250).collect());
    p
}

#[test]
fn fast_paths_match_the_dense_reference() {
    for name in TINY {
        let lm = tiny(name);
        let n = lm.model.config().num_layers;
        for seqs in [prompts(), long_prompts()] {
            let extra = [17, 99, 3, 250, 42];
            let dense = run(&lm.model, &seqs, &extra, &mut KvCache::new(n), true);
            let fast = run(&lm.model, &seqs, &extra, &mut KvCache::new(n), false);
            let reserved = run(
                &lm.model,
                &seqs,
                &extra,
                &mut KvCache::with_capacity(n, 64),
                false,
            );
            for (a, (b, c)) in real_rows(&seqs, &dense).iter().zip(
                real_rows(&seqs, &fast)
                    .iter()
                    .zip(&real_rows(&seqs, &reserved)),
            ) {
                assert!(
                    max_diff(a, b) < 1e-4,
                    "{name}: fast vs dense {}",
                    max_diff(a, b)
                );
                assert!(
                    max_diff(b, c) < 1e-4,
                    "{name}: reserved vs grown {}",
                    max_diff(b, c)
                );
            }
        }
    }
}

/// Cached prefills that the fused path does not take (half precision here, every dtype on an
/// accelerator) go through the blocked path, also for prompts shorter than its 16-query blocks.
#[test]
fn half_precision_short_prompts_match_the_dense_reference() {
    // The tiny random models are f32 only; the fixture's HF weights load in any dtype.
    let Some(fx) = spillover_model::fixtures::fixtures_dir() else {
        return;
    };
    let dir = fx.join("tiny/llama");
    let cfg = spillover_model::ModelConfig::from_hf_file(&dir.join("config.json")).unwrap();
    let w = spillover_model::Weights::from_hf_dir(&dir, candle_core::DType::BF16, &test_device())
        .unwrap();
    let m = Model::from_weights(cfg, &w).unwrap();
    let n = m.config().num_layers;
    let extra = [17, 99];
    let dense = run(&m, &prompts(), &extra, &mut KvCache::new(n), true);
    let fast = run(&m, &prompts(), &extra, &mut KvCache::new(n), false);
    for (a, b) in real_rows(&prompts(), &dense)
        .iter()
        .zip(&real_rows(&prompts(), &fast))
    {
        let (a, b) = (
            a.to_dtype(candle_core::DType::F32).unwrap(),
            b.to_dtype(candle_core::DType::F32).unwrap(),
        );
        // bf16 keeps 8 significant bits: both paths round the same products, so they agree to
        // within a few bf16 steps of the logits.
        assert!(
            max_diff(&a, &b) < 2e-2,
            "fast vs dense {}",
            max_diff(&a, &b)
        );
    }
}

#[test]
fn cloned_caches_and_copied_rows_are_independent() {
    let lm = tiny("tiny-llama");
    let m = &lm.model;
    let n = m.config().num_layers;
    let seqs = prompts();
    let mut base = KvCache::with_capacity(n, 32);
    run(m, &seqs, &[], &mut base, false);
    let mut a = base.clone();
    let mut b = base.clone();
    let la = run_more(m, &seqs, &[5, 6], &mut a);
    let lb = run_more(m, &seqs, &[7, 8], &mut b);
    let mut fresh = KvCache::new(n);
    let want_b = run(m, &seqs, &[7, 8], &mut fresh, false);
    assert!(
        max_diff(&lb, want_b.last().unwrap()) < 1e-4,
        "b saw a's writes"
    );
    let mut fresh = KvCache::new(n);
    let want_a = run(m, &seqs, &[5, 6], &mut fresh, false);
    assert!(max_diff(&la, want_a.last().unwrap()) < 1e-4);
    // Row copies: rows [2, 2, 0] continue like rows 2, 2 and 0 of the batch.
    let mut c = base.clone();
    c.select_rows(&[2, 2, 0]).unwrap();
    assert_eq!(c.batch_size(), 3);
    assert_eq!(c.len(), base.len());
}

/// Feeds `extra` after the cached prefill of `seqs`; returns the last step's logits.
fn run_more(m: &Model, seqs: &[Vec<u32>], extra: &[u32], cache: &mut KvCache) -> Tensor {
    let mut valid = Step::left_padded(seqs, 256, &test_device())
        .unwrap()
        .mask
        .key_valid;
    let mut last = None;
    for (k, &tok) in extra.iter().enumerate() {
        last = Some(
            m.forward(&decode_step(seqs, &mut valid, k, tok), Some(cache), None)
                .unwrap(),
        );
    }
    last.unwrap()
}

/// `KvCache::stack` puts each part's rows after their leading padding (`lead`), which holds
/// zeros; `select_rows` carries rows and their padding along, and copies what they hold.
#[test]
fn stacked_and_selected_rows_hold_their_parts_keys() {
    let lm = tiny("tiny-llama");
    let m = &lm.model;
    let n = m.config().num_layers;
    let (a_seqs, b_seqs) = (prompts()[3..5].to_vec(), vec![prompts()[1].clone()]);
    let (mut a, mut b) = (KvCache::new(n), KvCache::new(n));
    run(m, &a_seqs, &[], &mut a, false);
    run(m, &b_seqs, &[], &mut b, false);
    let (la, lb) = (a.len(), b.len());
    assert!(lb < la);
    let s = KvCache::stack(&[a.clone(), b.clone()], la + 4).unwrap();
    assert_eq!((s.batch_size(), s.len()), (3, la));
    assert_eq!((s.lead(0), s.lead(1), s.lead(2)), (0, 0, la - lb));
    let rows = |c: &KvCache, l: usize, r: usize, from: usize| {
        let k = c.layers[l].k.as_ref().unwrap();
        k.i((r..r + 1, .., from..c.len(), ..)).unwrap()
    };
    for l in 0..n {
        for r in 0..2 {
            assert_eq!(max_diff(&rows(&s, l, r, 0), &rows(&a, l, r, 0)), 0.0);
        }
        assert_eq!(max_diff(&rows(&s, l, 2, la - lb), &rows(&b, l, 0, 0)), 0.0);
        let pad = s.layers[l].k.as_ref().unwrap().i((2, .., ..la - lb, ..));
        let pad_max = pad.unwrap().abs().unwrap().max_all().unwrap();
        assert_eq!(
            pad_max.to_scalar::<f32>().unwrap(),
            0.0,
            "padding holds zeros"
        );
    }
    let mut sel = s.clone();
    sel.select_rows(&[2, 0, 2]).unwrap();
    assert_eq!((sel.batch_size(), sel.len()), (3, la));
    assert_eq!(
        (sel.lead(0), sel.lead(1), sel.lead(2)),
        (la - lb, 0, la - lb)
    );
    for l in 0..n {
        assert_eq!(max_diff(&rows(&sel, l, 0, 0), &rows(&s, l, 2, 0)), 0.0);
        assert_eq!(max_diff(&rows(&sel, l, 1, 0), &rows(&s, l, 0, 0)), 0.0);
        assert_eq!(max_diff(&rows(&sel, l, 2, 0), &rows(&s, l, 2, 0)), 0.0);
    }
    assert!(sel.select_rows(&[3]).is_err(), "a row outside the batch");
}
