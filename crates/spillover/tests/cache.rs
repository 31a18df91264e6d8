//! `spillover cache`: TransformerLens-keyed activations in a safetensors file, on tiny-llama (whose
//! tokenizer maps each byte to its own id, so the expected token ids are the texts' bytes).

use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::Path;

mod common;
use common::spillover;

fn cache(out: &Path, texts: &[&str], hooks: &str) -> HashMap<String, Tensor> {
    let mut args = vec!["cache", "-m", "tiny-llama", "--quiet", "--hooks", hooks];
    for t in texts {
        args.extend(["--text", t]);
    }
    let o = out.to_str().unwrap();
    args.extend(["--out", o, "--force"]);
    let res = spillover(&args);
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    candle_core::safetensors::load(out, &Device::Cpu).unwrap()
}

fn values(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

#[test]
fn activations_are_keyed_by_hook_name_padded_and_independent_of_the_other_texts() {
    let tmp = tempfile::tempdir().unwrap();
    let (short, long) = ("hi", "hello there");
    let hooks = "blocks.*.hook_resid_post,blocks.0.attn.hook_pattern";
    let both = cache(&tmp.path().join("both.safetensors"), &[short, long], hooks);

    // `*` expanded to every layer of tiny-llama, plus the pattern and the two index tensors.
    let mut keys: Vec<&String> = both.keys().collect();
    keys.sort();
    assert!(keys.iter().any(|k| *k == "blocks.0.hook_resid_post"));
    assert!(keys.iter().any(|k| *k == "blocks.1.hook_resid_post"));
    assert!(keys.iter().any(|k| *k == "input_ids") && keys.iter().any(|k| *k == "lengths"));

    // Token ids are the bytes, right-padded with -1; lengths say where each text ends.
    let n = long.len();
    let ids = both["input_ids"].to_vec2::<i64>().unwrap();
    let expect_short: Vec<i64> = short
        .bytes()
        .map(i64::from)
        .chain(std::iter::repeat_n(-1, n - short.len()))
        .collect();
    assert_eq!(ids[0], expect_short);
    assert_eq!(ids[1], long.bytes().map(i64::from).collect::<Vec<_>>());
    assert_eq!(both["lengths"].to_vec1::<i64>().unwrap(), vec![2, n as i64]);

    let resid = &both["blocks.1.hook_resid_post"];
    let d = resid.dims()[2];
    assert_eq!(resid.dims(), &[2, n, d]);
    // Positions past the short text's end are zero; real ones are not.
    let row0 = values(&resid.get(0).unwrap());
    assert!(row0[short.len() * d..].iter().all(|x| *x == 0.0));
    assert!(row0[..short.len() * d].iter().any(|x| *x != 0.0));

    // The short text's activations do not depend on which other texts were cached with it.
    let alone = cache(&tmp.path().join("alone.safetensors"), &[short], hooks);
    let a = values(&alone["blocks.1.hook_resid_post"]);
    assert_eq!(a.len(), short.len() * d);
    assert_eq!(a, row0[..short.len() * d].to_vec());

    // Attention patterns: [n, heads, pos, pos]; each real query's row sums to 1.
    let pat = &both["blocks.0.attn.hook_pattern"];
    let dims = pat.dims().to_vec();
    assert_eq!((dims[0], dims[2], dims[3]), (2, n, n));
    let rows = values(pat);
    let heads = dims[1];
    for h in 0..heads {
        for q in 0..short.len() {
            let start = ((h * n) + q) * n;
            let sum: f32 = rows[start..start + n].iter().sum();
            assert!((sum - 1.0).abs() < 1e-5, "head {h} query {q}: {sum}");
        }
    }
}

#[test]
fn unknown_hook_and_existing_out_are_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("a.safetensors");
    let o = out.to_str().unwrap();
    let res = spillover(&[
        "cache",
        "-m",
        "tiny-llama",
        "--hooks",
        "blocks.9.hook_nope",
        "--text",
        "x",
        "--out",
        o,
    ]);
    assert_eq!(res.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&res.stderr).contains("blocks.9.hook_nope"));
    assert!(!out.exists(), "nothing written for bad input");

    std::fs::write(&out, b"keep").unwrap();
    let res = spillover(&[
        "cache",
        "-m",
        "tiny-llama",
        "--hooks",
        "hook_embed",
        "--text",
        "x",
        "--out",
        o,
    ]);
    assert_eq!(res.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&res.stderr).contains("--force"));
    assert_eq!(std::fs::read(&out).unwrap(), b"keep");
}
