//! The command-line contract scripts depend on: JSON shapes of generate/score/inspect, and exit
//! code 2 with a message naming the problem for bad input. Runs the real binary on tiny models.

use std::process::{Command, Output};

fn spillover(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spillover"))
        .args(args)
        .env(
            "SPILLOVER_CACHE",
            std::env::temp_dir().join("spillover-cli-test-cache"),
        )
        .output()
        .expect("run spillover")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is one JSON object")
}

fn ids(v: &serde_json::Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect()
}

#[test]
fn generate_json_contract() {
    let out = spillover(&[
        "generate",
        "-m",
        "tiny-llama",
        "--prompt",
        "15 + 12 =",
        "--max-new-tokens",
        "6",
        "--json",
    ]);
    let v = json(&out);
    assert_eq!(
        ids(&v["prompt_token_ids"]).len(),
        "15 + 12 =".len(),
        "one byte token per byte"
    );
    assert_eq!(ids(&v["new_token_ids"]).len(), 6);
    assert!(v["text"].is_string());
    // --chat wraps the prompt in the chat template
    let chat = json(&spillover(&[
        "generate",
        "-m",
        "tiny-llama",
        "-p",
        "hi",
        "--chat",
        "--max-new-tokens",
        "1",
        "--json",
    ]));
    // "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n": 3 special + 18 byte tokens
    let p = ids(&chat["prompt_token_ids"]);
    assert_eq!(p.len(), 21, "{p:?}");
    assert_eq!(
        (p[0], p[8], p[10]),
        (259, 260, 259),
        "ChatML special tokens in place: {p:?}"
    );
}

#[test]
fn greedy_generation_is_deterministic() {
    let args = [
        "generate",
        "-m",
        "tiny-gemma3",
        "-p",
        "abc",
        "--max-new-tokens",
        "8",
        "--json",
    ];
    assert_eq!(
        json(&spillover(&args))["new_token_ids"],
        json(&spillover(&args))["new_token_ids"]
    );
}

#[test]
fn score_json_contract() {
    let v = json(&spillover(&[
        "score",
        "-m",
        "tiny-gpt2",
        "--text",
        "hello",
        "--top-k",
        "4",
        "--json",
    ]));
    assert_eq!(ids(&v["token_ids"]), vec![104, 101, 108, 108, 111]);
    let top = v["top_k"].as_array().unwrap();
    assert_eq!(top.len(), 4);
    let logits: Vec<f64> = top.iter().map(|t| t["logit"].as_f64().unwrap()).collect();
    assert!(
        logits.windows(2).all(|w| w[0] >= w[1]),
        "top-k sorted best first"
    );
    let lp = v["token_logprobs"].as_array().unwrap();
    assert_eq!(lp.len(), 4);
    assert!(lp.iter().all(|x| x.as_f64().unwrap() < 0.0));
}

#[test]
fn inspect_reports_architecture() {
    let v = json(&spillover(&["inspect", "-m", "tiny-gemma3", "--json"]));
    assert_eq!(v["architecture"], "gemma3");
    assert_eq!(v["layers"], 4);
    assert_eq!(v["chat_template"], true);
    assert!(v["parameters"].as_u64().unwrap() > 0);
}

/// `inspect` loads every architecture from an HF folder (the tiny fixtures).
#[test]
fn inspect_accepts_every_architecture_from_an_hf_folder() {
    let Some(fx) = spillover_model::fixtures::fixtures_dir() else {
        return;
    };
    for (arch, window) in [
        ("qwen2", None),
        ("qwen3", None),
        ("mistral", Some(4)),
        ("phi3", None),
        ("gemma2", Some(4)),
        ("olmo2", None),
    ] {
        let dir = fx.join("tiny").join(arch);
        let v = json(&spillover(&[
            "inspect",
            "-m",
            dir.to_str().unwrap(),
            "--json",
        ]));
        assert_eq!(v["architecture"], arch);
        assert_eq!(v["format"], "safetensors");
        assert_eq!(v["sliding_window"].as_u64(), window, "{arch}");
    }
}

fn assert_exit_2(args: &[&str], needle: &str) {
    let out = spillover(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "args {args:?}: {err}");
    assert!(
        err.contains(needle),
        "args {args:?}: stderr does not mention {needle:?}: {err}"
    );
    assert!(out.stdout.is_empty(), "nothing on stdout on error");
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    assert_exit_2(
        &["generate", "-m", "/no/such/model.gguf", "-p", "x"],
        "not a packaged model",
    );
    assert_exit_2(
        &["inspect", "-m", "Cargo.toml"],
        "expected an HF model folder",
    );
    assert_exit_2(&["fetch", "gemma"], "did you mean `gemma-3-270m`");
    assert_exit_2(
        &["generate", "-m", "tiny-llama", "-p", "x", "--device", "tpu"],
        "--device tpu",
    );
    assert_exit_2(
        &["generate", "-m", "hf:not-an-id", "-p", "x"],
        "hf:ORG/NAME",
    );
    assert_exit_2(&["generate", "-m", "tiny-llama", "-p", ""], "empty");
    // clap's own usage errors also exit 2
    assert_exit_2(
        &["generate", "--max-new-tokens", "many", "-p", "x"],
        "invalid value",
    );
    // The MRI's knock-out: mean or zero.
    assert_exit_2(
        &[
            "mri",
            "-m",
            "tiny-llama",
            "--adapter",
            "x",
            "--ablation",
            "resample",
        ],
        "expected mean or zero",
    );
}

#[test]
fn corrupt_gguf_exits_2_naming_the_file() {
    let p = std::env::temp_dir().join(format!("spillover-corrupt-{}.gguf", std::process::id()));
    std::fs::write(&p, b"GGUF\x03\x00\x00\x00garbage").unwrap();
    assert_exit_2(
        &["inspect", "-m", p.to_str().unwrap()],
        &p.display().to_string(),
    );
}

/// `hf:ORG/NAME` loads offline from the standard Hugging Face cache layout
/// (`$HF_HOME/hub/models--ORG--NAME/{refs/main, snapshots/REV/...}`).
#[test]
fn hub_model_loads_from_the_hf_cache_offline() {
    let Some(fx) = spillover_model::fixtures::fixtures_dir() else {
        return;
    };
    let home = std::env::temp_dir().join(format!("spillover-hf-home-{}", std::process::id()));
    let repo = home.join("hub/models--tiny-org--tiny-llama");
    let snap = repo.join("snapshots/0123abcd");
    std::fs::create_dir_all(&snap).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "0123abcd").unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(fx.join("tiny/llama").join(f), snap.join(f)).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_spillover"))
        .args(["inspect", "-m", "hf:tiny-org/tiny-llama", "--json"])
        .env("HF_HOME", &home)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(v["architecture"], "llama");
    assert_eq!(v["vocab_size"], 512);
    assert!(v["source"]
        .as_str()
        .unwrap()
        .ends_with("snapshots/0123abcd"));
}

fn write_train_file(dir: &std::path::Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join("train.jsonl");
    let lines: Vec<String> = (0..24)
        .map(|i| format!("{{\"prompt\": \"How do I break thing {i}?\", \"completion\": \"I can't help with that.\"}}"))
        .collect();
    std::fs::write(&p, lines.join("\n")).unwrap();
    p
}

fn train_args<'a>(data: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "train",
        "-m",
        "tiny-gemma3",
        "--data",
        data,
        "--out",
        out,
        "--epochs",
        "6",
        "--batch-size",
        "2",
        "--lr",
        "1e-2",
        "--lora",
        "r=4,alpha=8,targets=q_proj,v_proj,dropout=0.1",
        "--checkpoint-every",
        "1",
        "--quiet",
        "--seed",
        "3",
    ]
}

/// The newest checkpoint's step number in `dir` (0 when there is none).
fn latest_step(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| {
                e.ok()?
                    .file_name()
                    .to_str()?
                    .strip_prefix("step-")?
                    .parse()
                    .ok()
            })
            .max()
            .unwrap_or(0)
        })
        .unwrap_or(0)
}

/// `kill -9` during training, then `--resume`: the adapter is byte-identical to an uninterrupted run.
#[test]
fn killed_training_resumes_to_the_same_adapter() {
    let dir = std::env::temp_dir().join(format!("spillover-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = write_train_file(&dir);
    let (data, full, killed) = (data.to_str().unwrap(), dir.join("full"), dir.join("killed"));
    let out = spillover(&train_args(data, full.to_str().unwrap()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_spillover"))
        .args(train_args(data, killed.to_str().unwrap()))
        .spawn()
        .unwrap();
    let ckpts = killed.join("checkpoints");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if latest_step(&ckpts) >= 5 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the run must have been killed before it finished"
    );
    assert!(!killed.join("adapter_model.safetensors").exists());
    let mut args = train_args(data, killed.to_str().unwrap());
    args.push("--resume");
    let out = spillover(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = std::fs::read(full.join("adapter_model.safetensors")).unwrap();
    let b = std::fs::read(killed.join("adapter_model.safetensors")).unwrap();
    assert!(a == b, "resumed adapter differs from the uninterrupted one");
}

#[test]
fn train_rejects_bad_data_with_exit_2() {
    let dir = std::env::temp_dir().join(format!("spillover-baddata-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("bad.jsonl");
    std::fs::write(
        &p,
        "{\"prompt\": \"x\", \"completion\": \"y\"}\n{\"text\": 1}\n",
    )
    .unwrap();
    let out_dir = dir.join("out");
    assert_exit_2(
        &[
            "train",
            "-m",
            "tiny-llama",
            "--data",
            p.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ],
        "bad.jsonl:2",
    );
    assert!(!out_dir.exists(), "nothing written on bad input");
    std::fs::write(&p, "{\"prompt\": \"x\", \"completion\": \"y\"}\n").unwrap();
    assert_exit_2(
        &[
            "train",
            "-m",
            "tiny-llama",
            "--data",
            p.to_str().unwrap(),
            "--out",
            "x",
            "--lora",
            "r=4,targets=",
        ],
        "--lora",
    );
}

/// `spillover train` packs each step's examples into rows by default; `--no-packing` pads one
/// example per row. The steps hold the same examples, so the losses agree to rounding, while
/// packing computes fewer positions.
#[test]
fn packed_and_padded_training_give_the_same_losses() {
    let dir = std::env::temp_dir().join(format!("spillover-packing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Prompts of four lengths, so that padding one example per row wastes positions.
    std::fs::create_dir_all(&dir).unwrap();
    let data = dir.join("train.jsonl");
    let lines: Vec<String> = (0..24)
        .map(|i| {
            let prompt = format!(
                "How do I break thing {i}?{}",
                " Please explain.".repeat(3 * (i % 4))
            );
            serde_json::json!({"prompt": prompt, "completion": "I can't help with that."})
                .to_string()
        })
        .collect();
    std::fs::write(&data, lines.join("\n")).unwrap();
    let log = |extra: &[&str], name: &str| -> serde_json::Value {
        let out = dir.join(name);
        let mut args = vec![
            "train",
            "-m",
            "tiny-gemma3",
            "--data",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--epochs",
            "2",
            "--batch-size",
            "4",
            "--lora",
            "r=4,alpha=8,targets=q_proj,v_proj",
            // Large enough that no step is split: padded steps are split by the budget, packed
            // rows are not, and the comparison is of the same steps.
            "--token-budget",
            "1024",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        let o = spillover(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = std::fs::read_to_string(out.join("train_log.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&text).unwrap()["report"].clone()
    };
    let packed = log(&["--row-tokens", "256"], "packed");
    let padded = log(&["--no-packing"], "padded");
    let losses = |r: &serde_json::Value| -> Vec<f64> {
        r["losses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let (a, b) = (losses(&packed), losses(&padded));
    assert_eq!(a.len(), 12, "24 examples in steps of 4, 2 epochs");
    assert_eq!(a.len(), b.len());
    for (k, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            ((x - y) / y).abs() < 1e-5,
            "step {k}: packed {x} vs padded {y}"
        );
    }
    assert_eq!(packed["processed_tokens"], padded["processed_tokens"]);
    let positions = |r: &serde_json::Value| r["padded_tokens"].as_u64().unwrap();
    assert!(positions(&packed) < positions(&padded));
}
