//! HumanEval through the sandbox, on the packaged dataset: every canonical solution passes,
//! every solution with a planted bug fails, and completions that exit early with status 0
//! (in the body or at module level) are graded as failed.

mod common;

use spillover_data::datasets::{Builtin, Dataset};
use spillover_data::{cache_root, resolve_cached};
use spillover_sandbox::{humaneval_program, FailReason, Program};

/// The packaged HumanEval from the cache; `None` (with a printed reason) when absent, a
/// panic when absent under SPILLOVER_REQUIRE_FIXTURES.
fn humaneval() -> Option<Dataset> {
    let root = cache_root();
    let Some(asset) = resolve_cached(&root, "humaneval") else {
        let what = format!(
            "packaged asset `humaneval` in the cache {} (run `spillover fetch humaneval`)",
            root.display()
        );
        if std::env::var_os("SPILLOVER_REQUIRE_FIXTURES").is_some() {
            panic!("{what} is required (SPILLOVER_REQUIRE_FIXTURES is set) but absent");
        }
        println!("skipped: {what} is absent");
        return None;
    };
    Some(
        Builtin::Humaneval
            .from_asset(&asset)
            .expect("packaged HumanEval loads"),
    )
}

/// The planted bug: the body raises before returning anything, so every `check` that calls
/// the function at least once fails.
const PLANTED_BUG: &str = "    raise RuntimeError('planted bug')\n";

#[test]
fn canonical_solutions_pass_and_planted_bugs_fail() {
    let Some(ds) = humaneval() else { return };
    assert_eq!(ds.len(), 164);
    let sb = common::sandbox(|_| {});
    let canonical: Vec<Program> = ds
        .items
        .iter()
        .map(|item| {
            let solution = item.target.as_deref().expect("canonical solution");
            humaneval_program(item, solution).unwrap()
        })
        .collect();
    let outcomes = sb.run_all(&canonical);
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(|o| format!("{}: {:?} {}", o.id, o.reason, o.stderr))
        .collect();
    assert!(
        failed.is_empty(),
        "canonical solutions failed:\n{}",
        failed.join("\n")
    );

    let bugged: Vec<Program> = ds
        .items
        .iter()
        .map(|item| humaneval_program(item, PLANTED_BUG).unwrap())
        .collect();
    let outcomes = sb.run_all(&bugged);
    for (item, o) in ds.items.iter().zip(&outcomes) {
        assert_eq!(o.id, item.id);
        assert!(!o.passed, "{} passed with a planted bug", item.id);
        assert_eq!(o.reason, Some(FailReason::Exit(1)), "{}: {o:#?}", item.id);
        assert!(
            o.stderr.contains("planted bug"),
            "{}: {}",
            item.id,
            o.stderr
        );
    }
}

/// Completions that stop the program with status 0 before `check` finishes.
const CHEATS: [&str; 4] = [
    "    import sys\n    sys.exit(0)\n",
    "    import os\n    os._exit(0)\n",
    "    return None\nraise SystemExit\n",
    "    return None\nimport sys\nsys.exit(0)\n",
];

#[test]
fn early_exit_cheats_fail() {
    let Some(ds) = humaneval() else { return };
    let sb = common::sandbox(|_| {});
    let items = &ds.items[..24];
    let programs: Vec<Program> = CHEATS
        .iter()
        .flat_map(|cheat| {
            items
                .iter()
                .map(move |item| humaneval_program(item, cheat).unwrap())
        })
        .collect();
    let outcomes = sb.run_all(&programs);
    for (i, o) in outcomes.iter().enumerate() {
        let cheat = CHEATS[i / items.len()];
        assert!(!o.passed, "{} passed with {cheat:?}: {o:#?}", o.id);
        assert_eq!(o.exit_code, Some(0), "{}: {o:#?}", o.id);
        assert_eq!(o.reason, Some(FailReason::Unfinished), "{}: {o:#?}", o.id);
    }
}
