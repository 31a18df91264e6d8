//! Hook points: caching, patching and ablation behave as TransformerLens users expect.

use candle_core::{IndexOp, Tensor};
use spillover_model::fixtures::{fixtures_dir, max_abs_diff, test_device};
use spillover_model::hooks::all_hook_names;
use spillover_model::{load, load_path, Arch, Hooks, LoadOptions, Model, Step};

/// A tiny random model on the test device (`$SPILLOVER_TEST_DEVICE`); `fixture-ARCH` is the HF
/// fixture `fixtures/tiny/ARCH`.
fn tiny(name: &str) -> Model {
    let opts = LoadOptions {
        device: test_device(),
        ..LoadOptions::default()
    };
    if let Some(arch) = name.strip_prefix("fixture-") {
        let dir = fixtures_dir().expect("fixtures").join("tiny").join(arch);
        return load_path(&dir, &opts).unwrap().model;
    }
    load(name, &opts).unwrap().model
}

/// One model of every architecture.
const MODELS: [&str; 9] = [
    "tiny-gpt2",
    "tiny-llama",
    "tiny-gemma3",
    "fixture-qwen2",
    "fixture-qwen3",
    "fixture-mistral",
    "fixture-phi3",
    "fixture-gemma2",
    "fixture-olmo2",
];

fn batch() -> Step {
    Step::left_padded(
        &[vec![5, 9, 77, 3, 12, 40], vec![100, 7, 8]],
        256,
        &test_device(),
    )
    .unwrap()
}

#[test]
fn no_hooks_and_empty_hooks_agree() {
    for name in MODELS {
        let m = tiny(name);
        let a = m.forward(&batch(), None, None).unwrap();
        let b = m.forward(&batch(), None, Some(&mut Hooks::new())).unwrap();
        assert_eq!(max_abs_diff(&a, &b), 0.0, "{name}");
    }
}

#[test]
fn cache_all_has_every_documented_hook_with_its_shape() {
    for name in MODELS {
        let m = tiny(name);
        let c = m.config().clone();
        let mut h = Hooks::cache_all();
        m.forward(&batch(), None, Some(&mut h)).unwrap();
        let names = all_hook_names(c.num_layers, c.arch == Arch::Gpt2);
        for n in &names {
            assert!(h.get(n).is_some(), "{name}: hook {n} was not cached");
        }
        assert_eq!(
            h.cache.len(),
            names.len(),
            "{name}: unexpected extra hook names"
        );
        let (b, t) = (2, 6);
        assert_eq!(
            h.get("blocks.0.attn.hook_pattern").unwrap().dims(),
            &[b, c.num_heads, t, t]
        );
        assert_eq!(
            h.get("blocks.0.attn.hook_z").unwrap().dims(),
            &[b, t, c.num_heads, c.head_dim]
        );
        assert_eq!(
            h.get("blocks.0.attn.hook_k").unwrap().dims(),
            &[b, t, c.num_kv_heads, c.head_dim]
        );
        assert_eq!(
            h.get("blocks.1.hook_resid_post").unwrap().dims(),
            &[b, t, c.hidden_size]
        );
        assert_eq!(
            h.get("blocks.0.mlp.hook_post").unwrap().dims(),
            &[b, t, c.intermediate_size]
        );
        // attention rows of real query tokens sum to 1
        let p = h.get("blocks.0.attn.hook_pattern").unwrap();
        let sums = p.sum(3).unwrap();
        let ones = Tensor::ones_like(&sums).unwrap();
        assert!(
            max_abs_diff(&sums, &ones) < 1e-5,
            "{name}: pattern rows do not sum to 1"
        );
    }
}

#[test]
fn patching_last_resid_post_reproduces_clean_logits() {
    for name in MODELS {
        let m = tiny(name);
        let last = format!("blocks.{}.hook_resid_post", m.config().num_layers - 1);
        let clean = Step::left_padded(&[vec![1, 2, 3, 4]], 256, &test_device()).unwrap();
        let corrupt = Step::left_padded(&[vec![9, 9, 200, 31]], 256, &test_device()).unwrap();
        let mut cache = Hooks::cache_names([last.clone()]);
        let clean_logits = m.forward(&clean, None, Some(&mut cache)).unwrap();
        let corrupt_logits = m.forward(&corrupt, None, None).unwrap();
        assert!(
            max_abs_diff(&clean_logits, &corrupt_logits) > 1e-3,
            "{name}: inputs must differ"
        );
        let mut patch = Hooks::new();
        patch.patch(last.clone(), cache.get(&last).unwrap().clone());
        let patched = m.forward(&corrupt, None, Some(&mut patch)).unwrap();
        assert_eq!(
            max_abs_diff(&patched, &clean_logits),
            0.0,
            "{name}: patched logits differ"
        );
    }
}

/// Zeroing head h's z removes exactly z_h · W_O[:, h]ᵀ from the attention output, and nothing
/// upstream changes.
#[test]
fn zeroing_one_head_changes_only_its_contribution() {
    let m = &tiny("tiny-llama");
    let c = m.config().clone();
    let (layer, head, hd) = (1usize, 2usize, c.head_dim);
    let names = [
        format!("blocks.{layer}.attn.hook_z"),
        format!("blocks.{layer}.hook_attn_out"),
        format!("blocks.{layer}.hook_resid_pre"),
    ];
    let mut base = Hooks::cache_names(names.clone());
    m.forward(&batch(), None, Some(&mut base)).unwrap();
    let mut ablate = Hooks::cache_names(names.clone());
    ablate.add_hook(names[0].clone(), move |_, z| {
        let mask: Vec<f32> = (0..z.dims()[2])
            .map(|i| if i == head { 0.0 } else { 1.0 })
            .collect();
        let mask = Tensor::from_vec(mask, (1, 1, z.dims()[2], 1), z.device())?;
        z.broadcast_mul(&mask)
    });
    m.forward(&batch(), None, Some(&mut ablate)).unwrap();
    assert_eq!(
        max_abs_diff(base.get(&names[2]).unwrap(), ablate.get(&names[2]).unwrap()),
        0.0
    );
    let Model::Decoder(llama) = m else {
        panic!("tiny-llama is a Llama")
    };
    let w_o = &llama.blocks[layer].attn.o.weight; // [d, h·hd]
    let w_oh = w_o.narrow(1, head * hd, hd).unwrap(); // [d, hd]
    let w_oh = w_oh.contiguous().unwrap(); // CUDA's matmul needs densely packed rows
    let z_h = base.get(&names[0]).unwrap().i((.., .., head, ..)).unwrap(); // [b, t, hd]
    let (b, t, _) = z_h.dims3().unwrap();
    let contrib = z_h
        .reshape((b * t, hd))
        .unwrap()
        .matmul(&w_oh.t().unwrap())
        .unwrap()
        .reshape((b, t, c.hidden_size))
        .unwrap();
    let delta = (base.get(&names[1]).unwrap() - ablate.get(&names[1]).unwrap()).unwrap();
    assert!(
        max_abs_diff(&delta, &contrib) < 1e-6,
        "ablation removed more than head {head}'s term"
    );
    assert!(
        contrib
            .abs()
            .unwrap()
            .max_keepdim(2)
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
            > 1e-4
    );
}

#[test]
fn edit_with_wrong_shape_is_an_error() {
    let m = tiny("tiny-llama");
    let mut h = Hooks::new();
    h.add_hook("blocks.0.hook_resid_pre", |_, x| x.narrow(1, 0, 1));
    let err = m
        .forward(&batch(), None, Some(&mut h))
        .expect_err("must fail");
    assert!(err.to_string().contains("blocks.0.hook_resid_pre"), "{err}");
}
