//! Shared by the sandbox tests: sandboxes with short limits, and a host fixture that plants
//! canaries before a hostile program runs and checks afterwards that nothing changed.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use spillover_sandbox::{FailReason, Outcome, Program, Sandbox, SandboxConfig};

/// A sandbox with the default limits except those `f` changes.
pub fn sandbox(f: impl FnOnce(&mut SandboxConfig)) -> Sandbox {
    let mut config = SandboxConfig::default();
    f(&mut config);
    Sandbox::new(config).expect("bubblewrap and python3 are installed (see docs/sandbox.md)")
}

/// Short limits for hostile programs: 4 s wall, 10 s CPU (so wall-clock wins for sleepers).
pub fn short() -> Sandbox {
    sandbox(|c| c.wall_time = Duration::from_secs(4))
}

/// The host-side fixture of one hostile program.
pub struct Host {
    /// Unique to this test run; appears in every path and process name the program targets.
    pub marker: String,
    /// A directory in the host's /tmp holding the canaries (invisible to the sandbox).
    pub dir: tempfile::TempDir,
    /// A canary file with known content.
    pub canary: PathBuf,
    /// A `$HOME`-like directory with a fake `.ssh/id_rsa`.
    pub fake_home: PathBuf,
    /// The fake private key.
    pub secret_key: PathBuf,
    /// Its content, which must never reach the program's output.
    pub secret: String,
    /// A snapshot of `dir` (paths and contents).
    before: Vec<(PathBuf, Vec<u8>)>,
}

impl Host {
    /// Plants the canaries for the test `name`.
    pub fn new(name: &str) -> Host {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let marker = format!("spillover-sbx-{name}-{}-{nanos}", std::process::id());
        let dir = tempfile::Builder::new()
            .prefix(&marker)
            .tempdir_in("/tmp")
            .unwrap();
        let canary = dir.path().join("canary.txt");
        fs::write(&canary, format!("canary {marker}\n")).unwrap();
        let fake_home = dir.path().join("home");
        fs::create_dir_all(fake_home.join(".ssh")).unwrap();
        let secret_key = fake_home.join(".ssh/id_rsa");
        let secret = format!("-----BEGIN FAKE KEY {marker}-----");
        fs::write(&secret_key, &secret).unwrap();
        let before = snapshot(dir.path());
        Host {
            marker,
            dir,
            canary,
            fake_home,
            secret_key,
            secret,
            before,
        }
    }

    /// Python that starts a `sleep` whose command line carries the marker (so a process that
    /// outlives the sandbox would be found), then the program.
    pub fn program(&self, body: &str) -> Program {
        let prelude = format!(
            "import os as _os\n\
             _os.posix_spawn('/usr/bin/sleep', ['{m}-sentinel', '600'], {{}})\n\
             print('sentinel started', flush=True)\n",
            m = self.marker
        );
        Program::new(&self.marker, format!("{prelude}{body}"))
    }

    /// Host paths a program may try to create, all named after the marker.
    pub fn forbidden_paths(&self) -> Vec<PathBuf> {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let home = std::env::var_os("HOME").map_or_else(|| "/root".into(), PathBuf::from);
        [
            Path::new("/tmp"),
            Path::new("/usr"),
            &repo,
            &home,
            Path::new("/"),
        ]
        .iter()
        .map(|d| d.join(&self.marker))
        .collect()
    }

    /// Asserts the host is as before: canaries intact, no file named after the marker, no
    /// process carrying the marker. `outcome` must show that the sentinel had started.
    pub fn assert_unchanged(&self, outcome: &Outcome) {
        assert!(
            outcome.stdout.starts_with("sentinel started"),
            "the sentinel never started, so the process check proves nothing: {outcome:#?}"
        );
        assert_eq!(snapshot(self.dir.path()), self.before, "canary dir changed");
        for p in self.forbidden_paths() {
            assert!(!p.exists(), "{} appeared on the host", p.display());
        }
        let survivors = processes_with(&self.marker);
        assert!(
            survivors.is_empty(),
            "processes outlived the sandbox: {survivors:?}"
        );
        assert!(!outcome.stdout.contains(&self.secret), "the secret leaked");
        assert!(!outcome.stderr.contains(&self.secret), "the secret leaked");
    }
}

/// Every file under `dir` with its content, sorted.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.push((p.clone(), b"<dir>".to_vec()));
                stack.push(p);
            } else {
                out.push((p.clone(), fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// (pid, command line) of every host process whose command line contains `needle`.
pub fn processes_with(needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if pid == std::process::id() {
            continue;
        }
        if let Ok(raw) = fs::read(format!("/proc/{pid}/cmdline")) {
            let cmd = String::from_utf8_lossy(&raw).replace('\0', " ");
            if cmd.contains(needle) {
                found.push((pid, cmd));
            }
        }
    }
    found
}

/// Asserts `outcome` failed for `reason`, with a readable message.
pub fn assert_failed(outcome: &Outcome, reason: FailReason) {
    assert!(!outcome.passed, "{outcome:#?}");
    assert_eq!(outcome.reason.as_ref(), Some(&reason), "{outcome:#?}");
}

/// Asserts `outcome` failed with exit status 1 (an uncaught exception) and that stderr
/// mentions one of `errors`.
pub fn assert_raised(outcome: &Outcome, errors: &[&str]) {
    assert_failed(outcome, FailReason::Exit(1));
    assert!(
        errors.iter().any(|e| outcome.stderr.contains(e)),
        "expected one of {errors:?} in stderr: {outcome:#?}"
    );
}
