//! The prepacked matrix product (`spillover_model::packed`) and its use in `Linear::forward`:
//! exact on integer data for every tile/panel remainder, within rounding of candle's matmul on
//! random data, and never used for a weight it was not built from.

use candle_core::{DType, Device, Module, Tensor, Var};
use spillover_model::linear::{Linear, Lora, PACKED_MAX_ROWS};
use spillover_model::packed::{kernel_available, rows_per_block, PackedWeight, MR, PANEL};
use spillover_model::{load, LoadOptions, Step};

const MS: [usize; 12] = [1, 2, 3, 7, 8, 9, 16, 63, 64, 65, 200, 2048];
/// (in, out): SmolLM2-135M's projections and sizes that leave every panel / k remainder.
const SHAPES: [(usize, usize); 9] = [
    (576, 576),
    (576, 192),
    (576, 1536),
    (1536, 576),
    (577, 33),
    (33, 577),
    (1, 1),
    (1, 47),
    (47, 1),
];

/// Deterministic values: integers in −4..=4 (`int`) or floats in (−1, 1).
fn values(n: usize, seed: u64, int: bool) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let u = (s >> 40) as f32 / (1u64 << 24) as f32;
            if int {
                (u * 9.0).floor() - 4.0
            } else {
                2.0 * u - 1.0
            }
        })
        .collect()
}

/// x [m, in] · Wᵀ in f64, and Σ_k |x_k|·|w_k| per output (the scale of its rounding error).
fn reference(x: &[f32], w: &[f32], m: usize, inp: usize, out: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut y, mut scale) = (vec![0f64; m * out], vec![0f64; m * out]);
    for r in 0..m {
        let xr = &x[r * inp..(r + 1) * inp];
        for o in 0..out {
            let wo = &w[o * inp..(o + 1) * inp];
            for (a, b) in xr.iter().zip(wo) {
                y[r * out + o] += *a as f64 * *b as f64;
                scale[r * out + o] += (*a as f64 * *b as f64).abs();
            }
        }
    }
    (y, scale)
}

/// The large rows counts only with the smaller shapes (keeps the f64 reference quick in debug).
fn cases() -> impl Iterator<Item = (usize, usize, usize)> {
    SHAPES.iter().flat_map(|&(inp, out)| {
        MS.iter()
            .filter(move |&&m| m < 200 || inp * out <= 120_000)
            .map(move |&m| (m, inp, out))
    })
}

#[test]
fn integer_products_are_exact_for_every_remainder() {
    // Integers of magnitude ≤ 4 summed over ≤ 1,536 terms stay below 2^24: every f32 sum is exact,
    // so any order of summation gives the reference bit for bit and any misplaced element shows.
    for (m, inp, out) in cases() {
        let x = values(m * inp, m as u64, true);
        let w = values(out * inp, (inp * out) as u64, true);
        let p = PackedWeight::from_rows(&w, out, inp);
        let (want, _) = reference(&x, &w, m, inp, out);
        let mut y = vec![f32::NAN; m * out];
        p.matmul(&x, m, &mut y);
        for (i, (a, b)) in y.iter().zip(&want).enumerate() {
            assert_eq!(
                *a as f64,
                *b,
                "m={m} in={inp} out={out} at [{}, {}]",
                i / out,
                i % out
            );
        }
    }
}

#[test]
fn portable_loop_matches_the_kernel_bit_for_bit() {
    // Both sum each output over k in ascending order with fused multiply-adds.
    for (m, inp, out) in [(9, 577, 33), (13, 576, 192), (65, 33, 577), (3, 1, 47)] {
        let x = values(m * inp, 3, false);
        let p = PackedWeight::from_rows(&values(out * inp, 4, false), out, inp);
        let (mut fast, mut portable) = (vec![0f32; m * out], vec![0f32; m * out]);
        p.matmul_with(&x, m, &mut fast, true);
        p.matmul_with(&x, m, &mut portable, false);
        assert_eq!(fast, portable, "m={m} in={inp} out={out}");
    }
}

#[test]
fn float_products_match_candle_within_rounding() {
    // A sequential f32 sum of k products differs from the exact value by at most γ_k·Σ|x_k w_k|,
    // γ_k = k·u/(1 − k·u), u = 2⁻²⁴ (≈ 9e-5 for k = 1,536), whatever the values. Against candle
    // (another summation order) we ask 1e-5·Σ|x_k w_k|: typical rounding errors of either sum are
    // ~u·√k·(that scale) or smaller (≤ 2.3e-6 at k = 1,536), while one wrong or missing product
    // moves a sum by about scale/k ≥ 6.5e-4 of the scale.
    let dev = Device::Cpu;
    for (m, inp, out) in cases() {
        let x = values(m * inp, 11 + m as u64, false);
        let w = values(out * inp, 12, false);
        let wt = Tensor::from_vec(w.clone(), (out, inp), &dev).unwrap();
        let xt = Tensor::from_vec(x.clone(), (m, inp), &dev).unwrap();
        let p = PackedWeight::new(&wt).unwrap();
        let got = p.forward(&xt).unwrap();
        assert_eq!(got.dims(), &[m, out]);
        let got: Vec<f32> = got.flatten_all().unwrap().to_vec1().unwrap();
        let candle: Vec<f32> = xt
            .matmul(&wt.t().unwrap())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let (exact, scale) = reference(&x, &w, m, inp, out);
        let u = f64::from(f32::EPSILON) / 2.0;
        let gamma = inp as f64 * u / (1.0 - inp as f64 * u);
        for i in 0..m * out {
            let (g, c) = (got[i] as f64, candle[i] as f64);
            let at = format!("m={m} in={inp} out={out} at [{}, {}]", i / out, i % out);
            assert!(
                (g - exact[i]).abs() <= gamma * scale[i],
                "{at}: {g} vs exact {}",
                exact[i]
            );
            assert!((g - c).abs() <= 1e-5 * scale[i], "{at}: {g} vs candle {c}");
        }
    }
}

#[test]
fn forward_reads_strided_and_offset_inputs() {
    let dev = Device::Cpu;
    let (inp, out) = (40, 70);
    let w = Tensor::from_vec(values(out * inp, 5, true), (out, inp), &dev).unwrap();
    let p = PackedWeight::new(&w.t().unwrap().contiguous().unwrap().t().unwrap()).unwrap();
    let big = Tensor::from_vec(values(30 * inp, 6, true), (30, inp), &dev).unwrap();
    for x in [
        big.narrow(0, 7, 11).unwrap(),
        big.t().unwrap().contiguous().unwrap().t().unwrap(),
    ] {
        let want: Vec<f32> = x
            .matmul(&w.t().unwrap())
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let got: Vec<f32> = p
            .forward(&x)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(got, want, "integer data: exact in any order");
    }
    assert!(
        p.forward(&big.narrow(1, 0, 39).unwrap()).is_err(),
        "wrong width must fail"
    );
    assert!(PackedWeight::new(&w.to_dtype(DType::F64).unwrap()).is_err());
}

#[test]
fn row_blocks_are_whole_tiles() {
    for inp in [1, 33, 576, 1536, 100_000] {
        let b = rows_per_block(inp);
        assert!(b >= MR && b.is_multiple_of(MR), "in={inp}: {b}");
    }
    assert_eq!(PANEL, 32);
}

fn linear(out: usize, inp: usize, bias: bool, seed: u64) -> Linear {
    let dev = Device::Cpu;
    let w = Tensor::from_vec(values(out * inp, seed, false), (out, inp), &dev).unwrap();
    let b = bias.then(|| Tensor::from_vec(values(out, seed + 1, false), out, &dev).unwrap());
    Linear::new(w, b)
}

fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    spillover_model::fixtures::max_abs_diff(a, b)
}

/// x [.., in] · Wᵀ (+ b) with candle, the reference for `Linear::forward`.
fn plain(lin: &Linear, x: &Tensor) -> Tensor {
    let y = x.broadcast_matmul(&lin.weight.t().unwrap()).unwrap();
    match &lin.bias {
        Some(b) => y.broadcast_add(b).unwrap(),
        None => y,
    }
}

#[test]
fn linear_with_a_pack_gives_the_same_output() {
    let x = Tensor::from_vec(values(3 * 5 * 577, 9, false), (3, 5, 577), &Device::Cpu).unwrap();
    for bias in [false, true] {
        let base = linear(33, 577, bias, 1);
        let mut packed = base.clone();
        assert_eq!(packed.pack().unwrap(), kernel_available());
        let x2 = x.reshape((15, 577)).unwrap();
        assert_eq!(packed.packed_for(&x2, true).is_some(), kernel_available());
        let (a, b) = (base.forward(&x).unwrap(), packed.forward(&x).unwrap());
        assert_eq!(b.dims(), &[3, 5, 33]);
        assert!(max_diff(&a, &b) < 1e-5, "{}", max_diff(&a, &b));
    }
}

#[test]
fn a_replaced_weight_ignores_the_stale_pack() {
    let x = Tensor::from_vec(values(4 * 64, 2, false), (4, 64), &Device::Cpu).unwrap();
    let mut lin = linear(48, 64, true, 3);
    lin.pack().unwrap();
    lin.weight = linear(48, 64, false, 4).weight;
    assert!(lin.packed_for(&x, true).is_none());
    let y = lin.forward(&x).unwrap();
    assert!(
        max_diff(&y, &plain(&lin, &x)) < 1e-5,
        "must be the new weight's product"
    );
    // The same values in a new tensor (as unmerge or a layout change makes) do not revive it.
    lin.weight = lin.weight.t().unwrap().contiguous().unwrap().t().unwrap();
    assert!(lin.packed_for(&x, true).is_none());
    // Packing again follows the new weight.
    lin.pack().unwrap();
    assert_eq!(lin.packed_for(&x, true).is_some(), kernel_available());
    assert!(max_diff(&lin.forward(&x).unwrap(), &plain(&lin, &x)) < 1e-5);
}

#[test]
fn lora_on_a_packed_layer_adds_its_update_and_merging_drops_the_pack() {
    let dev = Device::Cpu;
    let (inp, out, r) = (64, 40, 4);
    let x = Tensor::from_vec(values(6 * inp, 7, false), (6, inp), &dev).unwrap();
    let mut lin = linear(out, inp, false, 8);
    lin.pack().unwrap();
    let base = plain(&lin, &x);
    lin.lora = Some(Lora {
        a: Tensor::from_vec(values(r * inp, 9, false), (r, inp), &dev).unwrap(),
        b: Tensor::from_vec(values(out * r, 10, false), (out, r), &dev).unwrap(),
        scale: 2.0,
        dropout: 0.0,
        training: false,
        rng: None,
        enabled: true,
        merged: false,
    });
    let delta = lin.lora.as_ref().unwrap().delta().unwrap();
    let want = (&base + x.matmul(&delta.t().unwrap()).unwrap()).unwrap();
    assert!(
        max_diff(&base, &want) > 0.1,
        "the adapter must change the output"
    );
    assert!(
        max_diff(&lin.forward(&x).unwrap(), &want) < 1e-4,
        "unmerged adapter"
    );
    lin.merge().unwrap();
    assert!(
        lin.packed_for(&x, true).is_none(),
        "merged weight is a new tensor"
    );
    assert!(
        max_diff(&lin.forward(&x).unwrap(), &want) < 1e-4,
        "merged adapter"
    );
    lin.unmerge().unwrap();
    lin.lora.as_mut().unwrap().enabled = false;
    assert!(
        max_diff(&lin.forward(&x).unwrap(), &base) < 1e-4,
        "disabled adapter"
    );
}

#[test]
fn the_pack_is_skipped_off_avx512_for_training_and_for_other_inputs() {
    let dev = Device::Cpu;
    let mut lin = linear(40, 64, false, 12);
    if !lin.pack().unwrap() {
        assert!(
            !kernel_available(),
            "pack() must succeed where the kernel runs"
        );
        assert!(lin.packed_weight().is_none());
        return;
    }
    let x = Tensor::from_vec(values(5 * 64, 13, false), (5, 64), &dev).unwrap();
    assert!(lin.packed_for(&x, true).is_some());
    assert!(
        lin.packed_for(&x, false).is_none(),
        "no AVX-512 kernel: candle's path"
    );
    assert!(lin
        .packed_for(&x.to_dtype(DType::F64).unwrap(), true)
        .is_none());
    assert!(lin.packed_for(&x.narrow(0, 0, 0).unwrap(), true).is_none());
    let many = Tensor::zeros((PACKED_MAX_ROWS + 1, 64), DType::F32, &dev).unwrap();
    assert!(lin.packed_for(&many, true).is_none());
    // An input under autograd keeps candle's path, and its gradient flows.
    let xv = Var::from_tensor(&x).unwrap();
    assert!(lin.packed_for(xv.as_tensor(), true).is_none());
    let grads = lin
        .forward(xv.as_tensor())
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let g = grads.get(xv.as_tensor()).expect("gradient of x");
    let want = lin
        .weight
        .sum(0)
        .unwrap()
        .unsqueeze(0)
        .unwrap()
        .broadcast_as((5, 64))
        .unwrap();
    assert!(max_diff(g, &want) < 1e-4);
    // A trainable weight (a Var) is never packed, nor used packed.
    let wv = Var::from_tensor(&lin.weight).unwrap();
    lin.weight = wv.as_tensor().clone();
    assert!(lin.packed_for(&x, true).is_none());
    assert!(!lin.pack().unwrap());
}

#[test]
fn inference_layout_packs_every_linear_and_keeps_the_logits() {
    for name in ["tiny-llama", "tiny-gpt2", "tiny-gemma3"] {
        let opts = LoadOptions {
            device: Device::Cpu,
            ..LoadOptions::default()
        };
        let mut model = load(name, &opts).unwrap().model;
        let step =
            Step::left_padded(&[vec![5, 9, 77, 3, 12], vec![100, 7]], 0, &Device::Cpu).unwrap();
        let before = model.forward(&step, None, None).unwrap();
        model.use_inference_layout().unwrap();
        for (path, lin) in model.linears() {
            let p = lin.packed_weight();
            assert_eq!(p.is_some(), kernel_available(), "{name} {path}");
            if let Some(p) = p {
                assert_eq!(p.source(), Some(lin.weight.id()), "{name} {path}");
            }
        }
        let after = model.forward(&step, None, None).unwrap();
        assert!(
            max_diff(&before, &after) < 1e-4,
            "{name}: {}",
            max_diff(&before, &after)
        );
    }
}

#[test]
#[ignore = "needs the packaged SmolLM2 GGUF (scripts/test.sh fetches it)"]
fn smollm2_with_packs_matches_hf_top10() {
    use spillover_model::fixtures::{f32s, fixtures_dir, read_json, real_model, u32s};
    let Some(fx) = fixtures_dir() else { return };
    let Some(path) = real_model("SPILLOVER_SMOLLM2_GGUF") else {
        return;
    };
    let r = read_json(&fx.join("real/smollm2.json"));
    let mut lm = spillover_model::load_path(&path, &LoadOptions::default()).unwrap();
    lm.model.use_inference_layout().unwrap();
    let packed = lm
        .model
        .linears()
        .iter()
        .filter(|(_, l)| l.packed_weight().is_some())
        .count();
    assert_eq!(packed > 0, kernel_available());
    // All fixture texts in one left-padded batch, so the packed products see many rows.
    let items = r["items"].as_array().unwrap();
    let seqs: Vec<Vec<u32>> = items.iter().map(|it| u32s(&it["input_ids"])).collect();
    let step = Step::left_padded(&seqs, 0, &Device::Cpu).unwrap();
    let logits = lm.model.forward_last(&step, None, None).unwrap();
    for (row, item) in items.iter().enumerate() {
        let all: Vec<f32> = logits.get(row).unwrap().to_vec1().unwrap();
        let mut order: Vec<u32> = (0..all.len() as u32).collect();
        order.sort_by(|a, b| all[*b as usize].total_cmp(&all[*a as usize]));
        let want_ids = u32s(&item["top10_ids"]);
        assert_eq!(
            &order[..10],
            &want_ids[..],
            "top-10 ids differ for {:?}",
            item["text"]
        );
        // The tolerance of the unpacked parity test (tests/parity_smollm2.rs).
        for (id, want) in want_ids.iter().zip(f32s(&item["top10_logits"])) {
            let got = all[*id as usize];
            assert!(
                (got - want).abs() < 1e-3,
                "logit of {id}: {got} vs HF {want}"
            );
        }
    }
}
