//! all-MiniLM-L6-v2 in candle against reference embeddings from HF transformers
//! (`fixtures/real/minilm.json`: mean-pooled over the attention mask, L2-normalised).

mod common;

use candle_core::Device;
use spillover_evals::judge::minilm::{MiniLm, ASSET_ID, DEFAULT_MAX_TOKENS};

struct Reference {
    sentences: Vec<String>,
    input_ids: Vec<Vec<u32>>,
    embeddings: Vec<Vec<f32>>,
}

fn reference() -> Option<Reference> {
    let path = common::fixture("real/minilm.json")?;
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let strings = |k: &str| -> Vec<String> {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    let rows = |k: &str| -> Vec<Vec<f64>> {
        v[k].as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r.as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_f64().unwrap())
                    .collect()
            })
            .collect()
    };
    // The reference batch is right-padded with id 0; the real ids end at [SEP] (102).
    let input_ids = rows("input_ids")
        .into_iter()
        .map(|r| {
            let ids: Vec<u32> = r.iter().map(|&x| x as u32).collect();
            let end = ids.iter().rposition(|&i| i != 0).map_or(0, |p| p + 1);
            ids[..end].to_vec()
        })
        .collect();
    let embeddings = rows("embeddings")
        .into_iter()
        .map(|r| r.into_iter().map(|x| x as f32).collect())
        .collect();
    Some(Reference {
        sentences: strings("sentences"),
        input_ids,
        embeddings,
    })
}

fn load() -> Option<(MiniLm, Reference)> {
    let r = reference()?;
    let dir = common::cached(ASSET_ID)?;
    Some((MiniLm::load(&dir, &Device::Cpu).unwrap(), r))
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn token_ids_match_the_reference_tokenizer() {
    let Some((m, r)) = load() else { return };
    for (s, want) in r.sentences.iter().zip(&r.input_ids) {
        assert_eq!(&m.tokenize(s, DEFAULT_MAX_TOKENS).unwrap(), want, "{s:?}");
    }
}

#[test]
fn padded_batch_embeddings_match_the_reference() {
    let Some((m, r)) = load() else { return };
    let got = m.embed_ids(&r.input_ids).unwrap();
    for (i, (g, want)) in got.iter().zip(&r.embeddings).enumerate() {
        let d = max_diff(g, want);
        assert!(d < 1e-4, "sentence {i}: max |diff| {d}");
    }
}

#[test]
fn batching_and_order_do_not_change_embeddings() {
    let Some((m, r)) = load() else { return };
    let texts: Vec<&str> = r.sentences.iter().map(String::as_str).collect();
    let together = m.embed(&texts, DEFAULT_MAX_TOKENS).unwrap();
    for (i, t) in texts.iter().enumerate() {
        let alone = m.embed(&[t], DEFAULT_MAX_TOKENS).unwrap().remove(0);
        let d = max_diff(&alone, &together[i]);
        assert!(d < 1e-5, "sentence {i}: alone vs batched differ by {d}");
        let norm: f32 = alone.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
    }
}

#[test]
fn long_texts_are_cut_to_max_tokens_ending_in_sep() {
    let Some((m, _)) = load() else { return };
    let long = "word ".repeat(1000);
    let ids = m.tokenize(&long, 64).unwrap();
    assert_eq!(ids.len(), 64);
    assert_eq!((ids[0], ids[63]), (101, 102));
}

#[test]
fn packed_and_candle_matmul_give_the_same_embeddings() {
    let Some((packed, r)) = load() else { return };
    let dir = common::cached(ASSET_ID).unwrap();
    let candle = MiniLm::load_with_candle_matmul(&dir, &Device::Cpu).unwrap();
    let a = packed.embed_ids(&r.input_ids).unwrap();
    let b = candle.embed_ids(&r.input_ids).unwrap();
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let d = max_diff(x, y);
        assert!(d < 1e-5, "sentence {i}: packed vs candle differ by {d}");
        let w = max_diff(y, &r.embeddings[i]);
        assert!(w < 1e-4, "sentence {i}: candle matmul vs reference {w}");
    }
}
