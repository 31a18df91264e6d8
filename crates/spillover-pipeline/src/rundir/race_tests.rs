//! Two processes computing the same shared stage at the same time: both succeed and end with the
//! same published stage. The test binary runs itself twice as the competing processes
//! (`racer`, selected by `SPILLOVER_RACE_ROOT`).

use super::Stages;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ROOT: &str = "SPILLOVER_RACE_ROOT";
const NAME: &str = "SPILLOVER_RACE_NAME";

/// One competing process: computes stage `s` (inputs 42) but finishes only once both racers are
/// inside the computation, so neither can reuse the other's result; prints what it ended with.
#[test]
#[ignore = "helper process of two_processes_racing_for_a_shared_stage_agree"]
fn racer() {
    let (Ok(root), Ok(me)) = (std::env::var(ROOT), std::env::var(NAME)) else {
        return;
    };
    let root = Path::new(&root);
    let stages = Stages::shared(&root.join("shared")).unwrap();
    let r = stages
        .run("s", &42u32, |out, work| {
            assert!(work.is_dir());
            fs::write(root.join(format!("inside-{me}")), "").unwrap();
            let t0 = Instant::now();
            while fs::read_dir(root)
                .unwrap()
                .filter(|e| {
                    let e = e.as_ref().unwrap();
                    e.file_name().to_string_lossy().starts_with("inside-")
                })
                .count()
                < 2
            {
                assert!(t0.elapsed() < Duration::from_secs(60), "no second racer");
                std::thread::sleep(Duration::from_millis(5));
            }
            fs::write(out.join("out.txt"), "forty-two")?;
            Ok(84u32)
        })
        .unwrap();
    let text = fs::read_to_string(r.dir.join("out.txt")).unwrap();
    println!(
        "RESULT {} {} {text} reused={}",
        r.summary,
        r.dir.display(),
        r.reused
    );
}

#[test]
fn two_processes_racing_for_a_shared_stage_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let spawn = |me: &str| {
        Command::new(&exe)
            .args([
                "--exact",
                "rundir::race_tests::racer",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ROOT, tmp.path())
            .env(NAME, me)
            .output()
            .unwrap()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| spawn("a"));
        let b = s.spawn(|| spawn("b"));
        (a.join().unwrap(), b.join().unwrap())
    });
    let result = |o: &std::process::Output| {
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "racer failed:\n{out}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        out.lines()
            .find_map(|l| l.split_once("RESULT ").map(|(_, r)| r))
            .unwrap_or_else(|| panic!("no RESULT line in {out}"))
            .to_string()
    };
    let shared = tmp.path().join("shared");
    let expected = format!("84 {} forty-two reused=false", shared.join("s").display());
    assert_eq!(result(&a), expected);
    assert_eq!(result(&b), expected);
    // Both computed (neither reused), one copy was published, nothing temporary is left.
    assert!(tmp.path().join("inside-a").exists() && tmp.path().join("inside-b").exists());
    let mut left: Vec<String> = fs::read_dir(&shared)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["s"]);
    let stage = Stages::shared(&shared).unwrap();
    assert_eq!(stage.finished::<u32>("s", &42u32).unwrap().summary, 84);
}
