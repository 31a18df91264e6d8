//! The experiment files: every example parses and validates, the default experiment is what the
//! README says, overrides apply, and the run folder name follows the resolved config.

use spillover_evals::benchmarks::BenchmarkKind;
use spillover_pipeline::config::{self, InterventionKind, Profile, StatsSection};
use std::path::PathBuf;

/// The margin in force for `kind/metric`.
fn margin(stats: &StatsSection, kind: BenchmarkKind, metric: &str) -> f64 {
    spillover_pipeline::compare::margin_for(stats, kind, &kind.spec_of(metric).unwrap())
}

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
    assert_eq!(margin(&ok.stats, BenchmarkKind::Refusal, "refused"), 0.1);
    assert_eq!(
        margin(&ok.stats, BenchmarkKind::Arithmetic, "gold_logprob"),
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

/// Issue #22, case 1: `spillover run examples/benign-mix.toml --set benchmarks.refusal.limit=3
/// --dry-run` resolved to refusal only, and a file with one `[benchmarks.over_refusal]` section
/// dropped every other benchmark. Sections and `--set` now merge over the full list.
#[test]
fn one_benchmark_override_keeps_every_other_benchmark() {
    let all = config::benchmark_names();
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/benign-mix.toml");
    let exp = config::load(Some(&example), &["benchmarks.refusal.limit=3".into()]).unwrap();
    assert_eq!(exp.benchmarks.names(), all);
    assert_eq!(exp.benchmarks[&BenchmarkKind::Refusal].limit, Some(3));
    // The others keep their defaults (resolved: the quick profile's size).
    assert_eq!(exp.benchmarks[&BenchmarkKind::Mmlu].limit, Some(60));

    let text = "[benchmarks.over_refusal]\ndataset = \"data/xstest/xstest_prompts.csv\"\n";
    let exp = config::parse("one.toml", text, &[]).unwrap();
    assert_eq!(exp.benchmarks.names(), all);
    assert_eq!(
        exp.benchmarks[&BenchmarkKind::OverRefusal]
            .dataset
            .as_deref(),
        Some("data/xstest/xstest_prompts.csv")
    );
}

#[test]
fn benchmarks_only_selects_a_subset_explicitly_and_round_trips() {
    let text = "[benchmarks]\nonly = [\"mmlu\", \"refusal\"]\n[benchmarks.refusal]\nlimit = 2\n";
    let exp = config::parse("sub.toml", text, &[]).unwrap();
    assert_eq!(exp.benchmarks.names(), vec!["refusal", "mmlu"]);
    assert_eq!(exp.benchmarks[&BenchmarkKind::Refusal].limit, Some(2));
    // The resolved config, read back, runs the same benchmarks.
    let resolved = toml::to_string(&exp).unwrap();
    let again = config::parse("resolved", &resolved, &[]).unwrap();
    assert_eq!(again.benchmarks, exp.benchmarks);
    // The same subset from the command line.
    let exp = config::load(None, &["benchmarks.only=[\"kl\"]".into()]).unwrap();
    assert_eq!(exp.benchmarks.names(), vec!["kl"]);
    // A section outside `only` is an error naming both keys, not a silent drop.
    let text = "[benchmarks]\nonly = [\"mmlu\"]\n[benchmarks.kl]\nlimit = 4\n";
    let e = config::parse("x.toml", text, &[]).unwrap_err().to_string();
    assert!(
        e.contains("benchmarks.kl") && e.contains("benchmarks.only"),
        "{e}"
    );
    let e = config::parse("x.toml", "[benchmarks]\nonly = [\"mmlux\"]\n", &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("did you mean `mmlu`"), "{e}");
}

/// Issue #22, case 7: the resolved config of a user file omitted `intervention.lora`, `lr` and
/// `batch_size`; every applicable default is now written, and resolving is idempotent.
#[test]
fn the_resolved_config_spells_out_every_default() {
    let exp = config::parse("min.toml", "name = \"min\"\n", &[]).unwrap();
    let i = &exp.intervention;
    assert_eq!(
        i.lora.as_deref(),
        Some("r=8,alpha=16,targets=q_proj,k_proj,v_proj,o_proj")
    );
    assert_eq!(
        (i.epochs, i.lr, i.batch_size),
        (Some(3), Some(2e-4), Some(8))
    );
    assert_eq!(exp.benchmarks[&BenchmarkKind::Refusal].limit, Some(48));
    assert_eq!(
        exp.benchmarks[&BenchmarkKind::Refusal].max_new_tokens,
        Some(64)
    );
    assert_eq!(exp.benchmarks[&BenchmarkKind::Gsm8k].few_shot, Some(0));
    // The written-out file names the same experiment (and the same run folder).
    let text = toml::to_string(&exp).unwrap();
    let again = config::parse("resolved", &text, &[]).unwrap();
    assert_eq!(again, exp);
    let runs = std::path::Path::new("runs");
    assert_eq!(
        spillover_pipeline::run_dir(&again, runs),
        spillover_pipeline::run_dir(&exp, runs)
    );
    // Full profile: every item, written as limit = 0.
    let full = config::parse("f", "profile = \"full\"\n", &[]).unwrap();
    assert_eq!(full.benchmarks[&BenchmarkKind::Mmlu].limit, Some(0));
    let d = config::parse("d", "[intervention]\nkind = \"actadd\"\n", &[]).unwrap();
    assert_eq!(d.intervention.direction_prompts, Some(64));
    assert_eq!(d.intervention.lora, None);
}

#[test]
fn standard_and_full_default_to_three_seeds_and_an_explicit_count_wins() {
    let seeds = |overrides: &[&str]| {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        let exp = config::load(None, &o).unwrap();
        let resolved: toml::Table = toml::from_str(&toml::to_string(&exp).unwrap()).unwrap();
        // config.resolved.toml shows the count in force.
        assert_eq!(
            resolved["seeds"].as_integer(),
            Some(exp.seed_count() as i64),
            "{overrides:?}"
        );
        exp.seed_count()
    };
    assert_eq!(seeds(&[]), 1);
    assert_eq!(seeds(&["profile=standard"]), 3);
    assert_eq!(seeds(&["profile=full"]), 3);
    assert_eq!(seeds(&["profile=standard", "seeds=1"]), 1);
    assert_eq!(seeds(&["seeds=2"]), 2);
    let exp = config::load(None, &["seeds=3".to_string(), "seed=7".to_string()]).unwrap();
    assert_eq!(exp.seed_list(), [7, 8, 9]);
    // Resolving twice changes nothing (the resolved file runs the same experiment).
    assert_eq!(exp.clone().resolved(), exp);
}

/// `[analysis]` sizes: documented defaults (the MRI's cost at the quick profile), values from a
/// file, and bad values or unknown keys named.
#[test]
fn analysis_sizes_have_defaults_and_bad_ones_name_the_key() {
    let d = config::parse("x.toml", "", &[]).unwrap().analysis;
    assert_eq!((d.prompts, d.items, d.nulls), (32, 24, 1000));
    let a = config::parse(
        "x.toml",
        "[analysis]\nprompts = 8\nitems = 0\nnulls = 50\n",
        &[],
    )
    .unwrap()
    .analysis;
    assert_eq!((a.prompts, a.items, a.nulls), (8, 0, 50));
    let set = config::parse("x.toml", "", &["analysis.nulls=300".into()]).unwrap();
    assert_eq!(set.analysis.nulls, 300);
    // The MRI claims' settings: mean-ablation, 100 null draws, 4 prompts by default.
    use spillover_mri::claims::Ablation;
    assert_eq!(
        (d.ablation, d.ablation_nulls, d.null_prompts),
        (Ablation::Mean, 100, 4)
    );
    let c = config::parse(
        "x.toml",
        "[analysis]\nablation = \"zero\"\nablation_nulls = 0\nnull_prompts = 2\n",
        &[],
    )
    .unwrap()
    .analysis;
    assert_eq!(
        (c.ablation, c.ablation_nulls, c.null_prompts),
        (Ablation::Zero, 0, 2)
    );
    for (text, want) in [
        ("[analysis]\nprompt = 8\n", "did you mean `prompts`?"),
        ("[analysis]\nnulls = 19\n", "analysis.nulls: 19 is below 20"),
        (
            "[analysis]\nprompts = 0\n",
            "analysis.prompts: must be at least 1",
        ),
        ("[analysis]\nitems = \"many\"\n", "items"),
        (
            "[analysis]\nablation_nulls = 5\n",
            "analysis.ablation_nulls: 5 is below 20",
        ),
        (
            "[analysis]\nnull_prompts = 0\n",
            "analysis.null_prompts: must be at least 1",
        ),
        ("[analysis]\nablation = \"resample\"\n", "ablation"),
    ] {
        let e = config::parse("x.toml", text, &[]).unwrap_err().to_string();
        assert!(e.contains(want), "{text:?}: {e}");
    }
}
