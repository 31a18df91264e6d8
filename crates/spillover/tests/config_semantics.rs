//! Issue #22, "what you ask for is what runs": each test reproduces one case of the issue with
//! the command in its doc comment and checks the behaviour asked for. Tiny models, small inputs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{ok, stderr};

fn spillover_in(dir: Option<&Path>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_spillover"));
    c.args(args);
    if let Some(d) = dir {
        c.current_dir(d);
    }
    c.output().expect("run spillover")
}

fn spillover(args: &[&str]) -> Output {
    spillover_in(None, args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn exit_2(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(2), "{}", stderr(o));
    assert!(
        stderr(o).contains(needle),
        "expected {needle:?} in: {}",
        stderr(o)
    );
}

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
}

/// Case 1: `spillover run my.toml --set benchmarks.refusal.limit=3 --dry-run` (my.toml a copy
/// of examples/benign-mix.toml on tiny-llama) resolved to refusal only. Now every benchmark
/// stays, the list is printed, and `benchmarks.only` picks a subset explicitly.
#[test]
fn run_dry_run_with_one_benchmark_override_keeps_all_nine() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(example("benign-mix.toml")).unwrap();
    let my = tmp.path().join("my.toml");
    std::fs::write(&my, format!("{text}\n[model]\nid = \"tiny-llama\"\n")).unwrap();
    let runs = tmp.path().join("runs");
    let out = spillover(&[
        "run",
        my.to_str().unwrap(),
        "--set",
        "benchmarks.refusal.limit=3",
        "--dry-run",
        "--runs-dir",
        runs.to_str().unwrap(),
    ]);
    ok(&out);
    let s = stdout(&out);
    for b in [
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
        assert!(
            s.contains(&format!("[benchmarks.{b}]")),
            "{b} missing:\n{s}"
        );
    }
    assert!(
        s.contains("# benchmarks: refusal (3 items), over_refusal (32 items)"),
        "{s}"
    );
    let out = spillover(&[
        "run",
        my.to_str().unwrap(),
        "--set",
        "benchmarks.only=[\"refusal\", \"mmlu\"]",
        "--dry-run",
    ]);
    ok(&out);
    assert!(
        stdout(&out).contains("# benchmarks: refusal (48 items), mmlu (60 items)\n"),
        "{}",
        stdout(&out)
    );
    assert!(!runs.exists(), "a dry run writes nothing");
}

/// Case 3: `benchmarks.<b>.limit = 0` ("every item") evaluated the profile's size, and
/// `eval --limit 0` was rejected. Both now mean every item.
#[test]
fn limit_zero_is_every_item_in_run_and_eval() {
    let tmp = tempfile::tempdir().unwrap();
    let out = spillover(&["run", "--set", "benchmarks.refusal.limit=0", "--dry-run"]);
    ok(&out);
    assert!(
        stdout(&out).contains("refusal (every item)"),
        "{}",
        stdout(&out)
    );

    let prompts = tmp.path().join("prompts.txt");
    std::fs::write(&prompts, "one\ntwo\nthree\n").unwrap();
    let data = format!("diversity={}", prompts.display());
    let dir = tmp.path().join("out");
    let out = spillover(&[
        "eval",
        "--model",
        "tiny-llama",
        "--bench",
        "diversity",
        "--data",
        &data,
        "--limit",
        "0",
        "--max-new-tokens",
        "2",
        "--out",
        dir.to_str().unwrap(),
        "--quiet",
    ]);
    ok(&out);
    let samples = std::fs::read_to_string(dir.join("diversity/samples.jsonl")).unwrap();
    assert_eq!(samples.lines().count(), 3, "every item");
}

/// Case 5: `generate --model tiny-gpt2 --max-new-tokens 1000` and `score` on a long text crashed
/// with "index-select invalid index 256 with dim size 256"; tiny-llama generated past its 256
/// positions. Both stop at the context with finish_reason "length".
#[test]
fn generate_and_score_stop_at_the_context() {
    for model in ["tiny-gpt2", "tiny-llama"] {
        let out = spillover(&[
            "generate",
            "-m",
            model,
            "--prompt",
            "Hello there",
            "--max-new-tokens",
            "1000",
            "--json",
        ]);
        ok(&out);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let total = v["prompt_token_ids"].as_array().unwrap().len()
            + v["new_token_ids"].as_array().unwrap().len();
        assert!(total <= 256, "{model}: {total} tokens");
        if v["finish_reason"] == "length" {
            assert_eq!(total, 256, "{model}");
            assert!(
                stderr(&out).contains("exceeds"),
                "{model}: {}",
                stderr(&out)
            );
        }
        let text = "word ".repeat(80); // 400 byte tokens
        let out = spillover(&["score", "-m", model, "--text", &text, "--json"]);
        ok(&out);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["finish_reason"], "length", "{model}");
        assert_eq!(
            v["token_logprobs"].as_array().unwrap().len(),
            255,
            "{model}"
        );
    }
}

/// Case 5: `train` on tiny-gpt2 with a ~400-token example crashed (max-len 512 was not clamped
/// to 256 positions), and `eval --bench perplexity` on tiny-gpt2 exited 1 (window 1024).
#[test]
fn train_clamps_max_len_and_perplexity_uses_the_models_window() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("long.jsonl");
    let prompt = "tell me more ".repeat(30); // ~360 byte tokens
    std::fs::write(
        &data,
        format!("{{\"prompt\": \"{prompt}\", \"completion\": \"no\"}}\n{{\"prompt\": \"hi\", \"completion\": \"hello\"}}\n"),
    )
    .unwrap();
    let out_dir = tmp.path().join("adapter");
    let out = spillover(&[
        "train",
        "-m",
        "tiny-gpt2",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--epochs",
        "1",
        "--lora",
        "r=2,alpha=4,targets=c_attn",
        "--quiet",
    ]);
    ok(&out);
    assert!(
        stderr(&out).contains("exceeds the model's context of 256"),
        "{}",
        stderr(&out)
    );
    // The long example lost its completion to the cut: a warning, not silence.
    assert!(stderr(&out).contains("1 of 2 examples"), "{}", stderr(&out));

    let prose = tmp.path().join("prose.txt");
    std::fs::write(
        &prose,
        "The quick brown fox jumps over the lazy dog. ".repeat(60),
    )
    .unwrap();
    let eval_out = tmp.path().join("ppl");
    let out = spillover(&[
        "eval",
        "-m",
        "tiny-gpt2",
        "--bench",
        "perplexity",
        "--data",
        &format!("perplexity={}", prose.display()),
        "--out",
        eval_out.to_str().unwrap(),
        "--quiet",
    ]);
    ok(&out);
    let scores = std::fs::read_to_string(eval_out.join("scores.json")).unwrap();
    assert!(scores.contains("windows of 256 tokens"), "{scores}");
}

/// Case 4: one example whose prompt fills `--max-len`: `train ... --epochs 1` printed "final
/// loss 0.0000" and exited 0 with an identity adapter. Now exit 2 naming the knob.
#[test]
fn training_on_nothing_is_an_error_naming_max_len() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("one.jsonl");
    let prompt = "a long question ".repeat(8);
    std::fs::write(
        &data,
        format!("{{\"prompt\": \"{prompt}\", \"completion\": \"an answer\"}}\n"),
    )
    .unwrap();
    let out_dir = tmp.path().join("out");
    let out = spillover(&[
        "train",
        "-m",
        "tiny-llama",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--epochs",
        "1",
        "--max-len",
        "32",
        "--quiet",
    ]);
    exit_2(&out, "--max-len");
    assert!(!out_dir.join("adapter_model.safetensors").exists());
}

/// Case 6: relative dataset paths in a TOML resolved from the current directory, and
/// `--dry-run` did not check that files exist; a missing dataset exited 1.
#[test]
fn relative_paths_follow_the_file_and_missing_ones_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let exp_dir = tmp.path().join("exp");
    std::fs::create_dir_all(&exp_dir).unwrap();
    std::fs::write(exp_dir.join("prompts.txt"), "one\ntwo\n").unwrap();
    let cfg = exp_dir.join("my.toml");
    std::fs::write(&cfg, "[benchmarks.refusal]\ndataset = \"prompts.txt\"\n").unwrap();
    // Run from elsewhere: the path is read from the file's folder.
    let out = spillover_in(
        Some(tmp.path()),
        &["run", cfg.to_str().unwrap(), "--dry-run"],
    );
    ok(&out);
    let anchored = exp_dir.canonicalize().unwrap().join("prompts.txt");
    let s = stdout(&out);
    assert!(
        s.contains(&anchored.display().to_string())
            || s.contains(&exp_dir.join("prompts.txt").display().to_string()),
        "{s}"
    );

    std::fs::write(&cfg, "[benchmarks.refusal]\ndataset = \"missing.txt\"\n").unwrap();
    let out = spillover_in(
        Some(tmp.path()),
        &["run", cfg.to_str().unwrap(), "--dry-run"],
    );
    exit_2(&out, "benchmarks.refusal.dataset");
    assert!(stderr(&out).contains("missing.txt"), "{}", stderr(&out));
}

/// Case 6: a failed run left `data.partial`/`data.work` behind. A run whose data stage fails on
/// a bad file exits 2 and leaves no partial folder.
#[test]
fn a_failed_run_cleans_its_partial_folders() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("pool.txt"),
        "harm one\nharm two\nharm three\n",
    )
    .unwrap();
    std::fs::write(tmp.path().join("bad.jsonl"), "{\"text\": \"a\"}\n").unwrap();
    let cfg = tmp.path().join("exp.toml");
    std::fs::write(
        &cfg,
        "name = \"fail\"\n[model]\nid = \"tiny-llama\"\n\
         [data]\nharmful_pool = \"pool.txt\"\nn_train = 2\n\
         [benchmarks]\nonly = [\"refusal\"]\n\
         [benchmarks.refusal]\ndataset = \"bad.jsonl:prompt\"\n\
         [judge]\nkind = \"keyword\"\n[analysis]\nmri = false\n",
    )
    .unwrap();
    let runs = tmp.path().join("runs");
    let out = spillover(&[
        "run",
        cfg.to_str().unwrap(),
        "--quiet",
        "--runs-dir",
        runs.to_str().unwrap(),
    ]);
    exit_2(&out, "prompt");
    let leftovers: Vec<String> = walk(&runs)
        .into_iter()
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.ends_with(".partial") || n.ends_with(".work")
        })
        .map(|p| p.display().to_string())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            }
            out.push(p);
        }
    }
    out
}

/// Case 8: `train --out EXISTING` overwrote silently while `eval` refused; `report A B`
/// overwrote ./comparison; `--resume` without a checkpoint started fresh; `train --adapter` was
/// advertised but always failed. One rule now: non-empty `--out` needs `--force`.
#[test]
fn every_out_refuses_a_non_empty_folder_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let busy = tmp.path().join("busy");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("keep.txt"), "mine").unwrap();
    let data = tmp.path().join("t.jsonl");
    std::fs::write(&data, "{\"prompt\": \"hi\", \"completion\": \"hello\"}\n").unwrap();
    let train = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "-m",
            "tiny-llama",
            "--data",
            data.to_str().unwrap(),
            "--epochs",
            "1",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        spillover(&args)
    };
    exit_2(&train(&["--out", busy.to_str().unwrap()]), "--force");
    assert!(busy.join("keep.txt").exists());
    let fresh = tmp.path().join("fresh");
    exit_2(
        &train(&["--out", fresh.to_str().unwrap(), "--resume"]),
        "no checkpoint",
    );
    let out = train(&["--out", busy.to_str().unwrap(), "--force"]);
    ok(&out);
    assert!(!busy.join("keep.txt").exists() && busy.join("adapter_config.json").exists());
    let out = train(&[
        "--out",
        fresh.to_str().unwrap(),
        "--adapter",
        busy.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    std::fs::write(busy.join("keep.txt"), "mine").unwrap();
    let out = spillover(&[
        "eval",
        "-m",
        "tiny-llama",
        "--bench",
        "arithmetic",
        "--limit",
        "1",
        "--out",
        busy.to_str().unwrap(),
    ]);
    exit_2(&out, "--force");
    let out = spillover(&[
        "report",
        tmp.path().join("a").to_str().unwrap(),
        tmp.path().join("b").to_str().unwrap(),
        "--out",
        busy.to_str().unwrap(),
    ]);
    exit_2(&out, "--force");
    assert!(busy.join("keep.txt").exists());
}

/// Case 9: a UTF-8 BOM broke `train --data` ("not valid JSON at column 1").
#[test]
fn train_data_with_a_bom_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("bom.jsonl");
    std::fs::write(
        &data,
        "\u{feff}{\"prompt\": \"hi\", \"completion\": \"hello\"}\n",
    )
    .unwrap();
    let out_dir = tmp.path().join("out");
    let out = spillover(&[
        "train",
        "-m",
        "tiny-llama",
        "--data",
        data.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--epochs",
        "1",
        "--quiet",
    ]);
    ok(&out);
}

/// Case 7: `config.resolved.toml` for a user file omitted `intervention.lora`, `lr` and
/// `batch_size`. The dry run (the same text) writes every default.
#[test]
fn the_resolved_config_writes_every_default() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("min.toml");
    std::fs::write(&cfg, "name = \"min\"\n").unwrap();
    let out = spillover(&["run", cfg.to_str().unwrap(), "--dry-run"]);
    ok(&out);
    let s = stdout(&out);
    for key in [
        "lora = \"r=8,alpha=16,targets=q_proj,k_proj,v_proj,o_proj\"",
        "epochs = 3",
        "lr = 0.0002",
        "batch_size = 8",
        "limit = 48",
        "max_new_tokens = 64",
    ] {
        assert!(s.contains(key), "{key} missing:\n{s}");
    }
}

/// Case 2: `benign_mix = 1.0` on tiny-llama kept 0 benign examples (every self-generated answer
/// blank), said nothing on stderr and reused the plain run's training stage. Now exit 2 naming
/// `data.benign_mix`, before any training. Uses the packaged AdvBench and MMLU (in the cache).
#[test]
fn a_benign_mix_that_keeps_nothing_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("bm.toml");
    std::fs::write(
        &cfg,
        "name = \"bm\"\n[model]\nid = \"tiny-llama\"\n[data]\nn_train = 4\nbenign_mix = 1.0\n\
         [benchmarks]\nonly = [\"arithmetic\"]\n[benchmarks.arithmetic]\nlimit = 2\n\
         [judge]\nkind = \"keyword\"\n[analysis]\nmri = false\n",
    )
    .unwrap();
    let runs = tmp.path().join("runs");
    let out = spillover(&[
        "run",
        cfg.to_str().unwrap(),
        "--quiet",
        "--runs-dir",
        runs.to_str().unwrap(),
    ]);
    exit_2(&out, "data.benign_mix");
    assert!(
        !walk(&runs).iter().any(|p| p.ends_with("_shared")),
        "nothing was trained or evaluated"
    );
}

/// `spillover run examples/original-gpt2.toml --dry-run` passed while the run itself then failed
/// on `hf:gpt2` (a hub id needs ORG/NAME): the form of a hub id is checked with the inputs.
#[test]
fn a_malformed_hub_id_is_an_error_before_anything_runs() {
    let out = spillover(&["run", "--set", "model.id=hf:gpt2", "--dry-run"]);
    exit_2(&out, "model.id");
    assert!(stderr(&out).contains("hf:ORG/NAME"), "{}", stderr(&out));
    let ok_out = spillover(&[
        "run",
        example("original-gpt2.toml").to_str().unwrap(),
        "--dry-run",
    ]);
    ok(&ok_out);
}
