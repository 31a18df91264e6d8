//! `spillover eval` end to end on the tiny random Llama: the files it writes and their contents,
//! and exit code 2 (with nothing written) for bad input.

use std::path::{Path, PathBuf};

mod common;
use common::{spillover, stderr};

/// A fresh folder for one test (removed first if a previous run left it).
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spillover-eval-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Prints why a test is skipped, or panics under `SPILLOVER_REQUIRE_FIXTURES`.
fn skip(why: &str) {
    if std::env::var_os("SPILLOVER_REQUIRE_FIXTURES").is_some() {
        panic!("SPILLOVER_REQUIRE_FIXTURES is set but {why}");
    }
    println!("skipped: {why}");
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn eval_writes_samples_and_scores() {
    let root = spillover_data::cache_root();
    if spillover_data::resolve_cached(&root, "mmlu").is_none() {
        return skip(&format!(
            "mmlu is not in the cache {} (run `spillover fetch mmlu`)",
            root.display()
        ));
    }
    let dir = scratch("files");
    let out_dir = dir.join("out");
    let out_arg = out_dir.to_str().unwrap();
    let args = [
        "eval",
        "--model",
        "tiny-llama",
        "--bench",
        "arithmetic,mmlu",
        "--limit",
        "4",
    ];
    let out = spillover(&[&args[..], &["--out", out_arg, "--quiet"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let scores: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("scores.json")).unwrap())
            .unwrap();
    for (bench, style, headline) in [
        ("arithmetic", "chat", "correct"),
        ("mmlu", "plain", "correct"),
    ] {
        let records = lines(&out_dir.join(bench).join("samples.jsonl"));
        assert_eq!(records.len(), 4, "{bench}");
        let b = &scores["benchmarks"][bench];
        assert_eq!(b["summary"]["n"], 4.0);
        assert_eq!(b["metrics"][0]["key"], headline);
        assert_eq!(b["format"]["style"], style);
        let ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
        let recorded: Vec<&str> = b["dataset"]["item_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(ids, recorded, "{bench}: samples follow the dataset record");
        let mean = records
            .iter()
            .map(|r| r["scores"][headline].as_f64().unwrap())
            .sum::<f64>()
            / 4.0;
        assert!((b["summary"][headline].as_f64().unwrap() - mean).abs() < 1e-12);
        for r in &records {
            assert!(r["prompt"].as_str().is_some_and(|p| !p.is_empty()));
            assert!(r["gold"].is_string());
        }
    }
    assert_eq!(
        lines(&out_dir.join("arithmetic/samples.jsonl"))[0]["id"],
        "arithmetic-probe"
    );
    assert_eq!(scores["seed"], 0);
    assert_eq!(scores["model"]["spec"], "tiny-llama");
    // Only the output folder is left: the temporary one was renamed.
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["out"]);
    // An output folder that is not empty is refused.
    let again = spillover(&[&args[..], &["--out", out_arg]].concat());
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_benchmark_exits_2_naming_the_valid_ones() {
    let dir = scratch("unknown");
    let out_dir = dir.join("out");
    let out = spillover(&[
        "eval",
        "--model",
        "tiny-llama",
        "--bench",
        "arithmetic,bogus",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("bogus"), "{err}");
    for name in [
        "refusal",
        "over_refusal",
        "arithmetic",
        "gsm8k",
        "humaneval",
        "mmlu",
        "perplexity",
        "kl",
        "diversity",
    ] {
        assert!(err.contains(name), "{err} should list {name}");
    }
    assert!(!out_dir.exists(), "nothing is written");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn kl_without_an_adapter_is_bad_input() {
    let dir = scratch("kl");
    let out_dir = dir.join("out");
    let out = spillover(&[
        "eval",
        "--model",
        "tiny-llama",
        "--bench",
        "kl",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--adapter"), "{}", stderr(&out));
    assert!(!out_dir.exists());
    let bad_data = spillover(&[
        "eval",
        "--model",
        "tiny-llama",
        "--bench",
        "arithmetic",
        "--data",
        "arithmetic=x.txt",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(bad_data.status.code(), Some(2), "{}", stderr(&bad_data));
    assert!(!out_dir.exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn help_is_a_manual_listing_every_benchmark() {
    let out = spillover(&["eval", "--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for name in [
        "refusal",
        "over_refusal",
        "gsm8k",
        "humaneval",
        "mmlu",
        "perplexity",
        "kl",
        "diversity",
    ] {
        assert!(
            text.contains(&format!("\n  {name}\n")),
            "{name} missing from:\n{text}"
        );
    }
    for flag in [
        "--bench",
        "--limit",
        "--judge",
        "--seed",
        "--out",
        "--adapter",
        "--data",
    ] {
        assert!(text.contains(flag), "{flag} missing");
    }
    assert!(text.contains("HarmBench") && text.contains("gold_logprob"));
}
