//! Tokenizers rebuilt from real GGUF files. SmolLM2's must give the ids HF transformers gave for the same
//! file (`fixtures/real/smollm2.json`); Gemma-3's has no reference ids, so it must round-trip text and
//! keep its turn markers whole. Each test skips, saying why, when its model file or the fixtures are absent.

use spillover_errors::UserFixable;
use std::path::PathBuf;

use spillover_model::fixtures::{real_fixture, real_model};
use spillover_model::tokenizer::Tokenizer;

fn ids(v: &serde_json::Value) -> Vec<u32> {
    let items = v.as_array().expect("an array of ids");
    items
        .iter()
        .map(|x| x.as_u64().expect("an id") as u32)
        .collect()
}

fn smollm2() -> Option<(Tokenizer, serde_json::Value)> {
    let path = real_model("SPILLOVER_SMOLLM2_GGUF")?;
    let fixture = real_fixture("smollm2.json")?;
    Some((
        Tokenizer::from_gguf_file(&path).expect("SmolLM2 tokenizer builds"),
        fixture,
    ))
}

#[test]
fn smollm2_ids_match_transformers() {
    let Some((tok, fixture)) = smollm2() else {
        return;
    };
    let items = fixture["items"].as_array().expect("items");
    assert!(!items.is_empty());
    for item in items {
        let text = item["text"].as_str().expect("text");
        let got = tok.encode(text, false).expect("encodes");
        assert_eq!(got, ids(&item["input_ids"]), "ids of {text:?}");
        // add_bos_token is false in this file, so special tokens add nothing.
        assert_eq!(tok.encode(text, true).expect("encodes"), got);
    }
}

#[test]
fn smollm2_decode_matches_transformers() {
    let Some((tok, fixture)) = smollm2() else {
        return;
    };
    for item in fixture["items"].as_array().expect("items") {
        let greedy = ids(&item["greedy_32_ids"]);
        let want = item["greedy_32_text"].as_str().expect("greedy_32_text");
        assert_eq!(tok.decode(&greedy, false).expect("decodes"), want);
        let text = item["text"].as_str().expect("text");
        assert_eq!(
            tok.decode(&ids(&item["input_ids"]), false)
                .expect("decodes"),
            text
        );
    }
}

#[test]
fn smollm2_special_tokens() {
    let Some((tok, _)) = smollm2() else { return };
    let im_end = tok.token_to_id("<|im_end|>").expect("<|im_end|> in vocab");
    assert_eq!(
        tok.encode("<|im_start|>", false).unwrap(),
        [tok.token_to_id("<|im_start|>").unwrap()]
    );
    assert_eq!(tok.eos_id(), Some(im_end));
    assert!(tok.eos_ids().contains(&im_end));
    assert_eq!(tok.eos_token(), Some("<|im_end|>"));
    assert_eq!(tok.bos_token(), Some("<|im_start|>"));
    assert!(!tok.add_bos());
    assert_eq!(tok.vocab_size(), 49152);
    let ids = tok.encode("Hi<|im_end|>", false).unwrap();
    assert_eq!(tok.decode(&ids, true).unwrap(), "Hi");
    assert!(tok
        .chat_template()
        .is_some_and(|t| t.contains("<|im_start|>")));
    let batch = tok.encode_batch(&["a b", "c"], false).unwrap();
    assert_eq!(
        batch,
        [
            tok.encode("a b", false).unwrap(),
            tok.encode("c", false).unwrap()
        ]
    );
}

fn gemma() -> Option<Tokenizer> {
    let path = real_model("SPILLOVER_GEMMA3_GGUF")?;
    Some(Tokenizer::from_gguf_file(&path).expect("Gemma-3 tokenizer builds"))
}

#[test]
fn gemma3_round_trips_text() {
    let Some(tok) = gemma() else { return };
    let texts = [
        "The quick brown fox jumps over the lazy dog.",
        "What is 15 + 12? It is 27, and 1234567890 has ten digits.",
        "line one\nline two\n\n\tindented\n    four spaces",
        "  leading and trailing spaces  ",
        "Grüße aus Köln — naïve café, 東京, Привет, مرحبا",
        "Emoji: 🤖🎨 and a rare one 🦩🫠",
        "def f(x):\n    return x ** 2  # square",
        "<table><tr><td>cell</td></tr></table>",
    ];
    for text in texts {
        let ids = tok.encode(text, false).unwrap();
        assert!(!ids.is_empty());
        assert_eq!(tok.decode(&ids, false).unwrap(), text, "ids {ids:?}");
        let with_bos = tok.encode(text, true).unwrap();
        assert_eq!(with_bos[0], tok.bos_id().unwrap());
        assert_eq!(&with_bos[1..], &ids[..]);
        assert_eq!(tok.decode(&with_bos, true).unwrap(), text);
    }
    // Common words are single tokens (a BPE over the merge ranks, not a Unigram over them).
    for word in ["capital", " capital", " France", "Hello"] {
        assert_eq!(tok.encode(word, false).unwrap().len(), 1, "{word:?}");
    }
}

#[test]
fn gemma3_turn_markers_are_single_ids() {
    let Some(tok) = gemma() else { return };
    for marker in ["<start_of_turn>", "<end_of_turn>", "<bos>"] {
        let id = tok
            .token_to_id(marker)
            .unwrap_or_else(|| panic!("{marker} in vocab"));
        assert_eq!(tok.encode(marker, false).unwrap(), [id], "{marker}");
    }
    let text = "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n";
    let ids = tok.encode(text, false).unwrap();
    assert_eq!(ids[0], tok.token_to_id("<start_of_turn>").unwrap());
    assert_eq!(tok.decode(&ids, false).unwrap(), text);
    assert_eq!(tok.decode(&ids, true).unwrap(), "user\nHi\nmodel\n");
    assert_eq!(tok.bos_token(), Some("<bos>"));
    assert_eq!(tok.eos_token(), Some("<eos>"));
    assert!(tok.add_bos());
    assert!(tok
        .eos_ids()
        .contains(&tok.token_to_id("<end_of_turn>").unwrap()));
    assert_eq!(tok.vocab_size(), 262144);
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spillover-tok-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn tokenizer_json_round_trips_through_from_file() {
    let Some((gguf, fixture)) = smollm2() else {
        return;
    };
    let dir = scratch_dir("json");
    gguf.inner()
        .save(dir.join("tokenizer.json"), false)
        .expect("saves");
    let config = serde_json::json!({
        "bos_token": {"content": "<|im_start|>", "special": true},
        "eos_token": "<|im_end|>",
        "pad_token": "<|im_end|>",
        "add_bos_token": true,
        "chat_template": gguf.chat_template().unwrap(),
    });
    std::fs::write(dir.join("tokenizer_config.json"), config.to_string()).unwrap();
    let tok = Tokenizer::from_file(dir.join("tokenizer.json")).expect("loads");
    for item in fixture["items"].as_array().expect("items") {
        let text = item["text"].as_str().unwrap();
        assert_eq!(tok.encode(text, false).unwrap(), ids(&item["input_ids"]));
        let with_bos = tok.encode(text, true).unwrap();
        assert_eq!(with_bos[0], tok.bos_id().unwrap());
    }
    assert_eq!(tok.eos_id(), gguf.eos_id());
    assert_eq!(tok.pad_id(), gguf.pad_id());
    assert_eq!(tok.chat_template(), gguf.chat_template());
    assert_eq!(tok.vocab_size(), gguf.vocab_size());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn unreadable_tokenizer_files_are_bad_input() {
    let dir = scratch_dir("bad");
    let missing = dir.join("tokenizer.json");
    let err = Tokenizer::from_file(&missing).unwrap_err();
    assert!(
        err.user_can_fix() && err.to_string().contains("tokenizer.json"),
        "{err}"
    );
    std::fs::write(&missing, "{ not json").unwrap();
    let err = Tokenizer::from_file(&missing).unwrap_err();
    assert!(
        err.user_can_fix() && err.to_string().contains("tokenizer.json"),
        "{err}"
    );
    let not_gguf = dir.join("model.gguf");
    std::fs::write(&not_gguf, "not a gguf file").unwrap();
    let err = Tokenizer::from_gguf_file(&not_gguf).unwrap_err();
    assert!(
        err.user_can_fix() && err.to_string().contains("model.gguf"),
        "{err}"
    );
    println!("{err}");
    std::fs::remove_dir_all(&dir).ok();
}
