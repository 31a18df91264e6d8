//! Refusal training sets: fixed vs pooled replies, the benign self-distillation mix, the
//! generator contract, and the atomically written JSONL.

mod datasets_support;

use spillover_errors::UserFixable;
use std::collections::HashSet;
use std::fs;

use datasets_support::prompts;
use spillover_data::datasets::{
    build_refusal_set, DatasetError, RefusalSet, RefusalSetConfig, ReplyMode, Result,
    TrainingExample, FIXED_REFUSAL, REFUSAL_META_FILE, REFUSAL_POOL, REFUSAL_TRAIN_FILE,
};

/// `n` harmful prompts named `harm-NNNN`.
fn harmful(n: usize) -> spillover_data::datasets::Dataset {
    let texts: Vec<String> = (0..n).map(|i| format!("harmful request {i}")).collect();
    prompts(
        "harm",
        &texts.iter().map(String::as_str).collect::<Vec<_>>(),
    )
}

/// A generator that answers every prompt with "answer to <prompt>" and counts its calls.
fn echo(calls: &mut usize) -> impl FnMut(&[String]) -> Result<Vec<String>> + '_ {
    move |p: &[String]| {
        *calls += 1;
        Ok(p.iter().map(|s| format!("answer to {s}")).collect())
    }
}

/// `n` benign prompts named `ok-NNNN`.
fn benign(n: usize) -> spillover_data::datasets::Dataset {
    let texts: Vec<String> = (0..n).map(|i| format!("benign question {i}")).collect();
    prompts("ok", &texts.iter().map(String::as_str).collect::<Vec<_>>())
}

/// A set from 40 harmful prompts and `benign_n` benign ones, answered by [`echo`].
fn build(cfg: RefusalSetConfig, benign_n: usize) -> RefusalSet {
    let mut calls = 0;
    let set = build_refusal_set(
        &harmful(40),
        Some(&benign(benign_n)),
        &cfg,
        &mut echo(&mut calls),
    );
    assert!(calls <= 1, "one batch call");
    set.unwrap()
}

#[test]
fn the_pool_is_large_varied_and_distinct() {
    assert!(REFUSAL_POOL.len() >= 20);
    let texts: HashSet<&str> = REFUSAL_POOL.iter().map(|r| r.text).collect();
    assert_eq!(texts.len(), REFUSAL_POOL.len(), "no reply twice");
    assert!(
        REFUSAL_POOL.iter().any(|r| r.text.len() < 40),
        "short replies"
    );
    assert!(
        REFUSAL_POOL.iter().any(|r| r.text.len() > 200),
        "long replies"
    );
    assert!(REFUSAL_POOL.iter().any(|r| r.explained) && REFUSAL_POOL.iter().any(|r| !r.explained));
}

#[test]
fn fixed_mode_gives_every_prompt_the_same_reply() {
    let set = build(
        RefusalSetConfig {
            replies: ReplyMode::Fixed,
            ..Default::default()
        },
        0,
    );
    assert_eq!(
        (set.n_harmful, set.n_benign, set.examples.len()),
        (40, 0, 40)
    );
    assert!(set.examples.iter().all(|e| e.completion == FIXED_REFUSAL));
}

#[test]
fn pool_mode_draws_varied_replies_by_seed() {
    let cfg = RefusalSetConfig {
        replies: ReplyMode::Pool,
        seed: 5,
        ..Default::default()
    };
    let a = build(cfg, 0);
    let used: HashSet<&str> = a.examples.iter().map(|e| e.completion.as_str()).collect();
    assert!(used.len() > 5, "only {} distinct replies", used.len());
    assert!(used
        .iter()
        .all(|u| REFUSAL_POOL.iter().any(|r| r.text == *u)));
    assert_eq!(a.examples, build(cfg, 0).examples, "same seed, same set");
    assert_ne!(
        a.examples,
        build(RefusalSetConfig { seed: 6, ..cfg }, 0).examples
    );
}

#[test]
fn benign_mix_follows_the_ratio_and_uses_the_generator() {
    let cfg = RefusalSetConfig {
        benign_ratio: 0.25,
        ..Default::default()
    };
    let set = build(cfg, 30);
    assert_eq!((set.n_harmful, set.n_benign), (40, 10));
    let benign: Vec<&TrainingExample> = set
        .examples
        .iter()
        .filter(|e| e.id.starts_with("ok-"))
        .collect();
    assert_eq!(benign.len(), 10);
    assert!(benign
        .iter()
        .all(|e| e.completion == format!("answer to {}", e.prompt)));
    assert_eq!(set.sources[1].item_ids.len(), 10);
    let harm = set.examples.iter().filter(|e| e.id.starts_with("harm-"));
    assert!(harm
        .clone()
        .all(|e| e.completion != format!("answer to {}", e.prompt)));
    assert_eq!(harm.count(), 40);
}

#[test]
fn generator_misbehaviour_and_bad_ratios_are_errors() {
    let cfg = RefusalSetConfig {
        benign_ratio: 0.5,
        ..Default::default()
    };
    let benign = prompts(
        "ok",
        &["a benign one", "another benign one", "third", "fourth"],
    );
    let mut short = |p: &[String]| -> Result<Vec<String>> { Ok(vec![String::new(); p.len() - 1]) };
    let err = build_refusal_set(&harmful(4), Some(&benign), &cfg, &mut short).unwrap_err();
    assert!(
        matches!(err, DatasetError::Generation(_)) && !err.user_can_fix(),
        "{err}"
    );

    let mut failing =
        |_: &[String]| -> Result<Vec<String>> { Err(DatasetError::generation("model exploded")) };
    let err = build_refusal_set(&harmful(4), Some(&benign), &cfg, &mut failing).unwrap_err();
    assert!(err.to_string().contains("model exploded"), "{err}");

    // Issue #22, case 2: `benign_mix = 1.0` on tiny-llama kept 0 benign examples (every answer
    // blank) and the run went on as a plain one. Every answer blank is now an error naming the
    // knob; some blank is a warning the pipeline prints and reports.
    let mut blank =
        |p: &[String]| -> Result<Vec<String>> { Ok(p.iter().map(|_| " ".to_string()).collect()) };
    let err = build_refusal_set(&harmful(4), Some(&benign), &cfg, &mut blank).unwrap_err();
    assert!(err.user_can_fix(), "{err}");
    assert!(
        err.to_string().contains("data.benign_mix") && err.to_string().contains("blank"),
        "{err}"
    );
    let mut half = |p: &[String]| -> Result<Vec<String>> {
        Ok((0..p.len())
            .map(|i| {
                if i == 0 {
                    " ".into()
                } else {
                    "an answer".into()
                }
            })
            .collect())
    };
    let set = build_refusal_set(&harmful(4), Some(&benign), &cfg, &mut half).unwrap();
    assert_eq!(
        (set.n_benign, set.notes.len()),
        (1, 1),
        "one blank answer dropped and noted"
    );
    assert_eq!(set.warnings.len(), 1, "{:?}", set.warnings);
    assert!(
        set.warnings[0].contains("kept 1 of the 2"),
        "{:?}",
        set.warnings
    );

    let mut never = |_: &[String]| -> Result<Vec<String>> { panic!("not called") };
    for bad in [-1.0, f64::NAN, 10.0] {
        let cfg = RefusalSetConfig {
            benign_ratio: bad,
            ..Default::default()
        };
        let err = build_refusal_set(&harmful(4), Some(&benign), &cfg, &mut never).unwrap_err();
        assert!(err.user_can_fix(), "{bad}: {err}");
    }
    let err = build_refusal_set(&harmful(4), None, &cfg, &mut never).unwrap_err();
    assert!(err.user_can_fix(), "{err}");
}

#[test]
fn written_jsonl_round_trips_and_leaves_no_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let set = build(
        RefusalSetConfig {
            benign_ratio: 0.5,
            ..Default::default()
        },
        30,
    );
    let path = set.write_jsonl(&run).unwrap();
    assert_eq!(path, run.join(REFUSAL_TRAIN_FILE));
    let text = fs::read_to_string(&path).unwrap();
    let back: Vec<TrainingExample> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(back, set.examples);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let keys: HashSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, HashSet::from(["id", "prompt", "completion"]));
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&fs::read(run.join(REFUSAL_META_FILE)).unwrap()).unwrap();
    assert_eq!(meta["n_benign"], 20);
    let mut names: Vec<String> = fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [REFUSAL_TRAIN_FILE, REFUSAL_META_FILE]);
    set.write_jsonl(&run).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        text,
        "rewriting replaces in place"
    );
}
