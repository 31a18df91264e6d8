//! The experiment files: every example parses and validates, the default experiment is what the
//! README says, overrides apply, and the run folder name follows the resolved config.

use spillover_pipeline::config::{self, InterventionKind, Profile};
use std::path::PathBuf;

fn examples() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_example_parses_and_validates() {
    let all = examples();
    assert!(all.len() >= 5, "{all:?}");
    for p in all {
        config::load(Some(&p), &[]).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
}

#[test]
fn the_default_experiment_is_the_documented_one() {
    let exp = config::load(None, &[]).unwrap();
    assert_eq!(exp.model.id, "smollm2-135m-instruct");
    assert_eq!(exp.intervention.kind, InterventionKind::LoraSft);
    assert_eq!(
        exp.intervention.lora.as_deref(),
        Some("r=8,alpha=16,targets=q_proj,k_proj,v_proj,o_proj")
    );
    assert_eq!(exp.intervention.epochs, Some(3));
    assert_eq!(exp.data.n_train, 100);
    assert_eq!(exp.data.harmful_pool, "advbench");
    assert_eq!(exp.profile, Profile::Quick);
    assert_eq!(exp.benchmarks.len(), 9, "every benchmark runs by default");
    // An empty file means the same experiment (every default is the default file's value),
    // apart from the LoRA/epochs keys the default file spells out.
    let empty = config::parse("empty", "", &[]).unwrap();
    assert_eq!(empty.benchmarks, exp.benchmarks);
    assert_eq!(empty.data, exp.data);
}

#[test]
fn overrides_change_the_config_and_the_run_folder() {
    let a = config::load(None, &[]).unwrap();
    let b = config::load(
        None,
        &["intervention.epochs=1".into(), "profile=standard".into()],
    )
    .unwrap();
    assert_eq!(b.intervention.epochs, Some(1));
    assert_eq!(b.profile, Profile::Standard);
    let runs = std::path::Path::new("runs");
    assert_ne!(
        spillover_pipeline::run_dir(&a, runs),
        spillover_pipeline::run_dir(&b, runs)
    );
    assert_eq!(
        spillover_pipeline::run_dir(&a, runs),
        spillover_pipeline::run_dir(&config::load(None, &[]).unwrap(), runs),
        "the same config names the same folder"
    );
}

#[test]
fn errors_name_the_line_and_suggest_the_key() {
    let e = config::parse("x.toml", "name = \"a\"\n[data]\nntrain = 5\n", &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("x.toml"), "{e}");
    assert!(e.contains("line 3"), "{e}");
    assert!(e.contains("did you mean `n_train`?"), "{e}");
    let e = config::parse("x.toml", "[intervention]\nkind = \"lora\"\n", &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2") && e.contains("lora_sft"), "{e}");
    let e = config::parse("x.toml", "seeds = 0\n", &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("seeds"), "{e}");
}

#[test]
fn equivalence_margins_parse_and_bad_ones_name_the_key() {
    let ok = config::parse(
        "x.toml",
        "[stats.margins]\nrefusal = 0.1\narithmetic = { gold_logprob = 0.2 }\n",
        &[],
    )
    .unwrap();
    assert_eq!(
        spillover_pipeline::compare::margin_for(&ok.stats, "refusal", "refused"),
        0.1
    );
    assert_eq!(
        spillover_pipeline::compare::margin_for(&ok.stats, "arithmetic", "gold_logprob"),
        0.2
    );
    for (text, want) in [
        (
            "[stats.margins]\nrefusl = 0.1\n",
            "stats.margins.refusl: unknown benchmark",
        ),
        (
            "[stats.margins]\narithmetic = { acc = 0.1 }\n",
            "stats.margins.arithmetic.acc: unknown metric",
        ),
        (
            "[stats.margins]\nrefusal = -1\n",
            "stats.margins.refusal: -1 is not a positive",
        ),
    ] {
        let e = config::parse("x.toml", text, &[]).unwrap_err().to_string();
        assert!(e.contains(want), "{e}");
    }
}
