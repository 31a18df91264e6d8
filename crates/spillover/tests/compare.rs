//! `spillover compare` and external interventions (issue #23, parts 1 and 4), end to end on
//! tiny-llama: an adapter trained by `spillover train`, an adapter made by Python PEFT
//! (`fixtures/tiny/llama-lora/adapter`, from `fixtures/make_fixtures.py`), a whole tuned model in
//! an HF folder; a mismatched tokenizer, a bad path and extra seeds exit 2 naming the problem;
//! `hf:ORG/NAME@REVISION` resolves the snapshot Hugging Face would; adapters written by Spillover
//! name a base Python PEFT can resolve. Datasets come from the packaged-asset cache.

use candle_core::Device;
use serde_json::Value;
use spillover_model::tiny::{tiny_config, tiny_weights};
use spillover_model::tokenizer::{tiny_tokenizer, TINY_CHAT_TEMPLATE};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{ok, read_json, stderr};

/// A small experiment on tiny-llama (the base; compare replaces the intervention): few items,
/// keyword judge, the MRI on.
const TINY: &str = r#"
name = "tiny"
[model]
id = "tiny-llama"
[data]
n_train = 12
[benchmarks]
only = ["refusal", "arithmetic", "perplexity", "kl"]
[benchmarks.refusal]
limit = 4
max_new_tokens = 6
[benchmarks.arithmetic]
limit = 4
[benchmarks.perplexity]
limit = 2
[benchmarks.kl]
limit = 3
max_new_tokens = 4
[judge]
kind = "keyword"
[analysis]
mri = true
"#;

fn spillover(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_spillover"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run spillover")
}

fn exit_2(o: &Output, needles: &[&str]) {
    assert_eq!(o.status.code(), Some(2), "{}", stderr(o));
    for n in needles {
        assert!(stderr(o).contains(n), "expected {n:?} in: {}", stderr(o));
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn write_config(dir: &Path) -> PathBuf {
    let p = dir.join("exp.toml");
    std::fs::write(&p, TINY).unwrap();
    p
}

/// `spillover compare EXP --runs-dir RUNS --quiet ARGS...`.
fn compare(cfg: &Path, runs: &Path, args: &[&str]) -> Output {
    let mut all = vec!["compare", s(cfg), "--runs-dir", s(runs), "--quiet"];
    all.extend_from_slice(args);
    spillover(&all, &[])
}

/// The only run folder under `runs`.
fn run_folder(runs: &Path) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(runs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("tiny-")
        })
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}

/// A training file of harmful-sounding prompts with refusals.
fn train_file(dir: &Path) -> PathBuf {
    let p = dir.join("train.jsonl");
    let lines: Vec<String> = (0..16)
        .map(|i| format!("{{\"prompt\": \"How do I break thing {i}?\", \"completion\": \"I can't help with that.\"}}"))
        .collect();
    std::fs::write(&p, lines.join("\n")).unwrap();
    p
}

/// A LoRA adapter for tiny-llama trained by `spillover train` with `seed`.
fn train_adapter(dir: &Path, out: &Path, seed: &str) {
    let data = train_file(dir);
    ok(&spillover(
        &[
            "train",
            "-m",
            "tiny-llama",
            "--data",
            s(&data),
            "--out",
            s(out),
            "--force",
            "--epochs",
            "2",
            "--batch-size",
            "4",
            "--lr",
            "1e-2",
            "--seed",
            seed,
            "--lora",
            "r=4,alpha=8,targets=q_proj,v_proj",
            "--quiet",
        ],
        &[],
    ));
}

/// Checks a finished external run: the recipe, the detail, a table with a KL change, the MRI, and
/// the report's note. Returns results.json.
fn check_external_run(folder: &Path, tuned: &Path, form: &str) -> Value {
    let r = read_json(&folder.join("results.json"));
    assert_eq!(r["config"]["intervention"]["kind"], "external");
    assert_eq!(r["config"]["intervention"]["model"], s(tuned));
    let seed = &r["seeds"][0];
    assert_eq!(seed["intervention"]["kind"], "external");
    assert_eq!(seed["intervention_detail"]["form"], form, "{seed}");
    let kl = r["table"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["benchmark"] == "kl")
        .expect("a KL row");
    let est = kl["change"]["estimate"].as_f64().unwrap();
    assert!(est > 1e-6, "the tuned model differs from the base: KL {kl}");
    assert!(
        folder.join("seed-0/explain/mri.json").exists(),
        "the MRI ran"
    );
    let stages: Vec<&str> = r["timings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["stage"].as_str().unwrap())
        .collect();
    assert!(stages.contains(&"seed-0/after") && stages.contains(&"seed-0/explain"));
    assert!(!stages.iter().any(|t| t.contains("(shared)")), "{stages:?}");
    let report = std::fs::read_to_string(folder.join("report.md")).unwrap();
    assert!(report.contains("Note: External intervention"), "{report}");
    assert!(report.contains("harmful training split"), "{report}");
    r
}

/// A tuned model saved as an HF folder: tiny-llama's architecture with weights from `seed` (the
/// tiny models use seed 0x5EED), its tokenizer written as tokenizer.json.
fn tiny_llama_folder(dir: &Path, seed: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let cfg = tiny_config("tiny-llama").unwrap();
    let tensors = tiny_weights(&cfg, seed, &Device::Cpu)
        .unwrap()
        .into_tensors();
    spillover_model::weights::write_safetensors(&dir.join("model.safetensors"), &tensors).unwrap();
    let config = serde_json::json!({
        "model_type": "llama", "architectures": ["LlamaForCausalLM"],
        "vocab_size": cfg.vocab_size, "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size, "num_hidden_layers": cfg.num_layers,
        "num_attention_heads": cfg.num_heads, "num_key_value_heads": cfg.num_kv_heads,
        "head_dim": cfg.head_dim, "rms_norm_eps": cfg.norm_eps,
        "max_position_embeddings": cfg.max_positions, "rope_theta": cfg.rope_theta,
        "tie_word_embeddings": true, "bos_token_id": 257, "eos_token_id": 258, "pad_token_id": 256,
        "hidden_act": "silu",
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    let tok = tiny_tokenizer().unwrap();
    std::fs::write(
        dir.join("tokenizer.json"),
        tok.inner().to_string(false).unwrap(),
    )
    .unwrap();
    let tok_cfg = serde_json::json!({
        "bos_token": "<|bos|>", "eos_token": "<|endoftext|>", "pad_token": "<|pad|>",
        "add_bos_token": false, "chat_template": TINY_CHAT_TEMPLATE,
    });
    std::fs::write(dir.join("tokenizer_config.json"), tok_cfg.to_string()).unwrap();
}

/// tiny-llama against tiny-llama + an adapter trained by `spillover train`; then the same path
/// holding another adapter is measured anew (stages are keyed by content, not path).
#[test]
fn compare_measures_an_adapter_trained_by_spillover() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path());
    let runs = tmp.path().join("runs");
    let adapter = tmp.path().join("adapter");
    train_adapter(tmp.path(), &adapter, "1");
    let written = read_json(&adapter.join("adapter_config.json"));
    assert_eq!(written["base_model_name_or_path"], "tiny-llama");
    let base = read_json(&adapter.join("spillover_base.json"));
    assert_eq!(
        (&base["format"], &base["dequantized_gguf"]),
        (&Value::from("tiny"), &Value::from(false))
    );

    ok(&compare(
        &cfg,
        &runs,
        &["--base", "tiny-llama", "--adapter", s(&adapter)],
    ));
    let folder = run_folder(&runs);
    let r = check_external_run(&folder, &adapter, "adapter");
    assert_eq!(r["seeds"][0]["intervention"]["weights"], s(&adapter));
    let table = r["table"].clone();

    // Another adapter at the same path: same run folder, but nothing downstream is reused.
    train_adapter(tmp.path(), &adapter, "2");
    ok(&compare(
        &cfg,
        &runs,
        &["--base", "tiny-llama", "--adapter", s(&adapter)],
    ));
    let again = read_json(&run_folder(&runs).join("results.json"));
    let reused = |stage: &str| {
        again["timings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["stage"] == stage)
            .map(|t| t["reused"].clone())
    };
    assert_eq!(reused("baseline"), Some(Value::Bool(true)));
    assert_eq!(reused("seed-0/intervention"), Some(Value::Bool(false)));
    assert_eq!(reused("seed-0/after"), Some(Value::Bool(false)));
    assert_ne!(again["table"], table, "the second adapter was measured");
}

/// The LoRA adapter HF PEFT made for the tiny Llama fixture (fixtures/make_fixtures.py,
/// `lora_reference`: r=4 on q_proj, v_proj, down_proj, non-zero B) has tiny-llama's shapes.
#[test]
fn compare_measures_an_adapter_made_by_python_peft() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path());
    let runs = tmp.path().join("runs");
    let adapter = std::path::absolute(fixtures().join("tiny/llama-lora/adapter")).unwrap();
    let written = read_json(&adapter.join("adapter_config.json"));
    assert!(written["peft_version"].is_string(), "made by Python PEFT");
    ok(&compare(
        &cfg,
        &runs,
        &["--base", "tiny-llama", "--tuned", s(&adapter)],
    ));
    let r = check_external_run(&run_folder(&runs), &adapter, "adapter");
    assert_eq!(
        r["seeds"][0]["intervention_detail"]["tokenizer"],
        "the adapter ships no tokenizer; the base's is used"
    );
}

/// A whole tuned model in an HF folder (tiny-llama's shape, other weights, the same tokenizer in
/// tokenizer.json) is loaded instead of the base.
#[test]
fn compare_measures_a_whole_tuned_model() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path());
    let runs = tmp.path().join("runs");
    let tuned = tmp.path().join("tuned");
    tiny_llama_folder(&tuned, 7);
    ok(&compare(
        &cfg,
        &runs,
        &["--base", "tiny-llama", "--tuned", s(&tuned)],
    ));
    let r = check_external_run(&run_folder(&runs), &tuned, "model");
    let seed = &r["seeds"][0];
    assert_eq!(seed["intervention"]["model"], s(&tuned));
    assert_eq!(
        seed["intervention_detail"]["tokenizer"],
        "the tuned model's tokenizer is the base's"
    );
}

/// A tuned model whose tokenizer differs (two tokens' ids swapped) exits 2 naming both models,
/// before any run folder is made.
#[test]
fn a_tuned_model_with_another_tokenizer_exits_2_naming_both() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path());
    let runs = tmp.path().join("runs");
    let tuned = tmp.path().join("tuned");
    tiny_llama_folder(&tuned, 7);
    let path = tuned.join("tokenizer.json");
    let mut tok: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let vocab = tok["model"]["vocab"].as_object_mut().unwrap();
    let (a, b) = (vocab["a"].clone(), vocab["b"].clone());
    vocab.insert("a".into(), b);
    vocab.insert("b".into(), a);
    std::fs::write(&path, tok.to_string()).unwrap();
    let out = compare(&cfg, &runs, &["--base", "tiny-llama", "--tuned", s(&tuned)]);
    exit_2(
        &out,
        &["intervention.model", "tokenizer", s(&tuned), "tiny-llama"],
    );
    let made = std::fs::read_dir(&runs).map_or(0, |d| d.count());
    assert_eq!(made, 0, "a run folder was made for a refused run");
}

/// Bad inputs exit 2 before anything runs, naming the key or flag.
#[test]
fn bad_external_inputs_exit_2_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path());
    let runs = tmp.path().join("runs");
    let missing = tmp.path().join("no-such-adapter");
    let out = compare(&cfg, &runs, &["--tuned", s(&missing), "--dry-run"]);
    exit_2(&out, &["intervention.model", "no such file or folder"]);
    // A bare name that is no packaged or tiny model is a path too (here, relative to the
    // current directory).
    let out = compare(&cfg, &runs, &["--tuned", "my-adapter", "--dry-run"]);
    exit_2(
        &out,
        &["intervention.model", "my-adapter", "no such file or folder"],
    );
    // In a file, a relative path is read from the file's folder.
    let exp = tmp.path().join("sub/exp.toml");
    std::fs::create_dir_all(exp.parent().unwrap()).unwrap();
    std::fs::write(
        &exp,
        format!("{TINY}\n[intervention]\nkind = \"external\"\nmodel = \"adapters/a\"\n"),
    )
    .unwrap();
    let out = spillover(&["run", s(&exp), "--dry-run"], &[]);
    exit_2(
        &out,
        &[
            "intervention.model",
            &format!("{}", tmp.path().join("sub/adapters/a").display()),
        ],
    );
    // A folder that is neither an adapter nor a model.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = compare(&cfg, &runs, &["--adapter", s(&empty), "--dry-run"]);
    exit_2(&out, &["--adapter", "adapter_config.json"]);
    // A whole model is not an adapter.
    let model = tmp.path().join("model");
    tiny_llama_folder(&model, 7);
    let out = compare(&cfg, &runs, &["--adapter", s(&model), "--dry-run"]);
    exit_2(&out, &["--adapter", "--tuned"]);
    // An external model has no training seed.
    let out = compare(
        &cfg,
        &runs,
        &["--tuned", s(&model), "--seeds", "3", "--dry-run"],
    );
    exit_2(&out, &["seeds", "no training seed"]);
    // --tuned and --adapter are exclusive; one is needed.
    let both = compare(&cfg, &runs, &["--tuned", s(&model), "--adapter", s(&model)]);
    assert_eq!(both.status.code(), Some(2), "{}", stderr(&both));
    let neither = compare(&cfg, &runs, &[]);
    assert_eq!(neither.status.code(), Some(2), "{}", stderr(&neither));
    // Another architecture is not a fine-tune of the base.
    let out = compare(
        &cfg,
        &runs,
        &["--base", "tiny-llama", "--tuned", "tiny-gemma3"],
    );
    exit_2(&out, &["intervention.model", "shape"]);
}

/// A fake HF cache: `models--tiny-org--tiny-llama` with `main` → snapshot `aaaa1111` (the tiny
/// Llama fixture) and the tag `v2` → snapshot `bbbb2222` (the tiny Qwen2 fixture).
fn fake_hf_cache(home: &Path) {
    let repo = home.join("hub/models--tiny-org--tiny-llama");
    for (snap, fixture, tag) in [("aaaa1111", "llama", "main"), ("bbbb2222", "qwen2", "v2")] {
        let dir = repo.join("snapshots").join(snap);
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["config.json", "model.safetensors"] {
            std::fs::copy(fixtures().join("tiny").join(fixture).join(f), dir.join(f)).unwrap();
        }
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs").join(tag), snap).unwrap();
    }
}

/// `hf:ORG/NAME@REVISION` finds the snapshot huggingface_hub would: a tag through refs/, a
/// commit hash directly; an unknown revision is an error naming it and what the cache holds.
#[test]
fn hub_revisions_resolve_the_right_snapshot_offline() {
    let tmp = tempfile::tempdir().unwrap();
    fake_hf_cache(tmp.path());
    let env = [("HF_HOME", tmp.path()), ("HF_HUB_OFFLINE", Path::new("1"))];
    let inspect = |spec: &str| spillover(&["inspect", "-m", spec, "--json"], &env);
    for (spec, arch, snap) in [
        ("hf:tiny-org/tiny-llama", "llama", "aaaa1111"),
        ("hf:tiny-org/tiny-llama@main", "llama", "aaaa1111"),
        ("hf:tiny-org/tiny-llama@v2", "qwen2", "bbbb2222"),
        ("hf:tiny-org/tiny-llama@bbbb2222", "qwen2", "bbbb2222"),
    ] {
        let out = inspect(spec);
        ok(&out);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["architecture"], arch, "{spec}");
        assert!(v["source"].as_str().unwrap().ends_with(snap), "{spec}: {v}");
    }
    let out = inspect("hf:tiny-org/tiny-llama@v3");
    exit_2(
        &out,
        &[
            "hf:tiny-org/tiny-llama@v3",
            "`v3`",
            "refs: main, v2",
            "--revision v3",
        ],
    );
}

/// An adapter trained on `hf:ORG/NAME@REVISION` names `ORG/NAME` and the revision, as PEFT
/// expects; compare then resolves the same hub base.
#[test]
fn adapters_name_a_hub_base_python_peft_can_resolve() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("hf");
    let snap = home.join("hub/models--tiny-org--tiny-llama/snapshots/cccc3333");
    tiny_llama_folder(&snap, 0x5EED);
    std::fs::create_dir_all(home.join("hub/models--tiny-org--tiny-llama/refs")).unwrap();
    std::fs::write(
        home.join("hub/models--tiny-org--tiny-llama/refs/v1"),
        "cccc3333",
    )
    .unwrap();
    let data = train_file(tmp.path());
    let out_dir = tmp.path().join("adapter");
    let env = [
        ("HF_HOME", home.as_path()),
        ("HF_HUB_OFFLINE", Path::new("1")),
    ];
    ok(&spillover(
        &[
            "train",
            "-m",
            "hf:tiny-org/tiny-llama@v1",
            "--data",
            s(&data),
            "--out",
            s(&out_dir),
            "--epochs",
            "1",
            "--lora",
            "r=2,alpha=4,targets=q_proj",
            "--quiet",
        ],
        &env,
    ));
    let cfg = read_json(&out_dir.join("adapter_config.json"));
    assert_eq!(cfg["base_model_name_or_path"], "tiny-org/tiny-llama");
    assert_eq!(cfg["revision"], "v1");
    let base = read_json(&out_dir.join("spillover_base.json"));
    assert_eq!(base["spec"], "hf:tiny-org/tiny-llama@v1");
    assert_eq!(base["format"], "safetensors");
    assert_eq!(base["dequantized_gguf"], false);
    assert!(
        base["source"].as_str().unwrap().ends_with("cccc3333"),
        "{base}"
    );
}

/// The packaged SmolLM2 is a Q4_1 GGUF: an adapter trained on it names the hub model it was
/// converted from and records that the weights were dequantized.
#[test]
#[ignore = "needs the packaged SmolLM2 model (scripts/test.sh fetches it)"]
fn adapters_trained_on_the_packaged_gguf_record_the_dequantization() {
    let tmp = tempfile::tempdir().unwrap();
    let data = train_file(tmp.path());
    let out_dir = tmp.path().join("adapter");
    ok(&spillover(
        &[
            "train",
            "-m",
            "smollm2-135m-instruct",
            "--data",
            s(&data),
            "--out",
            s(&out_dir),
            "--epochs",
            "1",
            "--max-len",
            "128",
            "--lora",
            "r=2,alpha=4,targets=q_proj",
            "--quiet",
        ],
        &[],
    ));
    let cfg = read_json(&out_dir.join("adapter_config.json"));
    assert_eq!(
        cfg["base_model_name_or_path"],
        "HuggingFaceTB/SmolLM2-135M-Instruct"
    );
    let base = read_json(&out_dir.join("spillover_base.json"));
    assert_eq!(base["format"], "gguf");
    assert_eq!(base["dequantized_gguf"], true);
    let types: Vec<&str> = base["gguf_tensor_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(types.contains(&"Q4_1"), "{types:?}");
}

/// examples/external-adapter.toml names the Python PEFT fixture relative to its own folder; the
/// dry run finds it there from any working directory.
#[test]
fn the_external_adapter_example_finds_its_adapter() {
    let tmp = tempfile::tempdir().unwrap();
    let example =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/external-adapter.toml");
    let mut c = Command::new(env!("CARGO_BIN_EXE_spillover"));
    c.args([
        "run",
        s(&example),
        "--dry-run",
        "--runs-dir",
        s(&tmp.path().join("runs")),
    ]);
    let out = c.current_dir(tmp.path()).output().unwrap();
    ok(&out);
    let resolved: toml::Table = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(resolved["intervention"]["kind"].as_str(), Some("external"));
    let model = resolved["intervention"]["model"].as_str().unwrap();
    assert!(Path::new(model).is_absolute(), "{model}");
    assert!(
        Path::new(model).join("adapter_config.json").is_file(),
        "{model}"
    );
}
