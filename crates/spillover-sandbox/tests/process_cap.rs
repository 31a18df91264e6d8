//! The process limit holds whoever calls: the kernel ignores `RLIMIT_NPROC` for real uid 0,
//! and counts it per user otherwise, so both a root and an ordinary caller are checked, the
//! latter while the same uid already runs other processes (the cap is per sandbox).

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use spillover_sandbox::{Program, Sandbox, SandboxConfig};

const MAX_PROCESSES: u32 = 12;

/// Forks up to 100 sleeping children and reports how many forks succeeded.
const FORKER: &str = "\
import os, time
n = 0
for _ in range(100):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(2)
        os._exit(0)
    n += 1
print('forked', n)
";

#[test]
fn process_cap_holds_for_this_caller() {
    // Other processes of the caller's uid must not eat into the sandbox's budget.
    let mut others: Vec<Child> = (0..40)
        .map(|_| Command::new("/usr/bin/sleep").arg("30").spawn().unwrap())
        .collect();
    let config = SandboxConfig {
        max_processes: MAX_PROCESSES,
        ..SandboxConfig::default()
    };
    let sb = Sandbox::new(config).unwrap();
    let outcome = sb.run(&Program::new("forker", FORKER));
    for c in &mut others {
        c.kill().unwrap();
        c.wait().unwrap();
    }
    assert!(outcome.passed, "{outcome:#?}");
    // The program itself is one of the MAX_PROCESSES.
    assert_eq!(outcome.stdout, format!("forked {}\n", MAX_PROCESSES - 1));
    // SAFETY: getuid has no preconditions.
    println!("uid {} ok", unsafe { libc::getuid() });
}

#[test]
fn process_cap_holds_for_a_non_root_caller_too() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("already not root: process_cap_holds_for_this_caller covers it");
        return;
    }
    if !std::path::Path::new("/usr/bin/python3").exists() {
        println!("skipped: no /usr/bin/python3 for uid 65534 to run");
        return;
    }
    // Rerun the test above from a copy of this binary that uid 65534 can read, as that uid.
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let exe = dir.path().join("process_cap");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    let mut cmd = Command::new(&exe);
    cmd.args([
        "--exact",
        "process_cap_holds_for_this_caller",
        "--nocapture",
    ])
    .env_clear()
    .env("PATH", "/usr/bin:/bin")
    .current_dir(dir.path())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    // SAFETY: only raw system calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let id = 65534;
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setresgid(id, id, id) != 0
                || libc::setresuid(id, id, id) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // A child forked by another test thread between our copy's open and close may still hold the
    // copy's write descriptor until it execs, which makes exec fail with ETXTBSY; retry briefly.
    let out = (0..50)
        .find_map(|_| match cmd.output() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
                None
            }
            r => Some(r.unwrap()),
        })
        .expect("the copied test binary stayed busy (ETXTBSY) for a second");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("uid 65534 ok"), "{stdout}");
    assert!(stdout.contains("1 passed"), "{stdout}");
}
