//! The seccomp filter of the default (native) backend: system calls that debug other
//! processes, mount, make namespaces, reach the kernel keyring, load BPF or open perf events
//! fail with EPERM from inside the program (checked through ctypes `syscall()`, so Python's
//! own wrappers cannot hide the failure), and the host stays as it was.

mod common;

use common::{short, Host};

/// Python that calls `syscall(nr, args...)` and prints `NAME -1 ERRNO` (or `NAME ret`).
fn probe(name: &str, nr: libc::c_long, args: &str) -> String {
    format!(
        "r = _libc.syscall({nr}{args})\n\
         print('{name}', r, _ctypes.get_errno() if r == -1 else 0, flush=True)\n"
    )
}

#[test]
fn dangerous_syscalls_fail_with_eperm() {
    let sb = short();
    if sb.backend() != "native" {
        println!("skipped: the seccomp filter is the native backend's");
        return;
    }
    let host = Host::new("seccomp");
    let mut body = String::from(
        "import ctypes as _ctypes\n\
         _libc = _ctypes.CDLL(None, use_errno=True)\n\
         _libc.syscall.restype = _ctypes.c_long\n\
         status = open('/proc/self/status').read()\n\
         print('seccomp', status.split('Seccomp:')[1].split()[0], flush=True)\n",
    );
    let cases: [(&str, libc::c_long, String); 8] = [
        // PTRACE_TRACEME: succeeds for any unfiltered process.
        ("ptrace", libc::SYS_ptrace, ", 0, 0, 0, 0".into()),
        (
            "mount",
            libc::SYS_mount,
            ", b'none', b'/tmp', b'tmpfs', 0, None".into(),
        ),
        // A new user namespace: allowed to unprivileged processes without the filter.
        (
            "unshare",
            libc::SYS_unshare,
            format!(", {}", libc::CLONE_NEWUSER),
        ),
        (
            "add_key",
            libc::SYS_add_key,
            // type "user" into the session keyring (-3).
            ", b'user', b'spillover', b'secret', 6, -3".into(),
        ),
        // KEYCTL_GET_KEYRING_ID (0) of the session keyring (-3).
        ("keyctl", libc::SYS_keyctl, ", 0, -3, 0".into()),
        // BPF_MAP_CREATE with a null attribute: EFAULT/EPERM without the filter.
        ("bpf", libc::SYS_bpf, ", 0, None, 0".into()),
        // A null attr: EFAULT without the filter, EPERM with it.
        (
            "perf_event_open",
            libc::SYS_perf_event_open,
            ", None, 0, -1, -1, 0".into(),
        ),
        // clone(CLONE_NEWUSER | SIGCHLD): a child in a new user namespace without the filter.
        (
            "clone_newuser",
            libc::SYS_clone,
            format!(
                ", {}, None, None, None, None",
                libc::CLONE_NEWUSER | libc::SIGCHLD
            ),
        ),
    ];
    for (name, nr, args) in &cases {
        body.push_str(&probe(name, *nr, args));
    }
    let outcome = sb.run(&host.program(&body));
    assert!(outcome.passed, "{outcome:#?}");
    let lines: Vec<&str> = outcome.stdout.lines().collect();
    assert!(lines.contains(&"seccomp 2"), "no filter: {outcome:#?}");
    for (name, _, _) in &cases {
        let want = format!("{name} -1 {}", libc::EPERM);
        assert!(
            lines.contains(&want.as_str()),
            "{name} did not fail with EPERM: {outcome:#?}"
        );
    }
    host.assert_unchanged(&outcome);
}

#[test]
fn clone3_is_enosys_so_threads_and_subprocesses_still_work() {
    let sb = short();
    if sb.backend() != "native" {
        println!("skipped: the seccomp filter is the native backend's");
        return;
    }
    let host = Host::new("clone3");
    let body = format!(
        "import ctypes, subprocess, threading\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         r = libc.syscall({nr}, None, 0)\n\
         print('clone3', r, ctypes.get_errno(), flush=True)\n\
         t = threading.Thread(target=lambda: print('thread ran', flush=True))\n\
         t.start(); t.join()\n\
         print(subprocess.run(['/usr/bin/echo', 'child ran'], capture_output=True, text=True).stdout, end='', flush=True)\n",
        nr = libc::SYS_clone3
    );
    let outcome = sb.run(&host.program(&body));
    assert!(outcome.passed, "{outcome:#?}");
    let want = format!("clone3 -1 {}\nthread ran\nchild ran\n", libc::ENOSYS);
    assert!(outcome.stdout.ends_with(&want), "{outcome:#?}");
    host.assert_unchanged(&outcome);
}

#[test]
#[cfg(target_arch = "x86_64")]
fn x32_system_calls_fail_with_enosys() {
    let sb = short();
    if sb.backend() != "native" {
        println!("skipped: the seccomp filter is the native backend's");
        return;
    }
    // x32 getpid (39 | bit 30) and x32 ptrace (521 | bit 30): ENOSYS whether or not the kernel
    // has the x32 ABI; the process is not killed.
    let body = "import ctypes\n\
                libc = ctypes.CDLL(None, use_errno=True)\n\
                for nr in (0x40000000 | 39, 0x40000000 | 521):\n    \
                    r = libc.syscall(nr, 0, 0, 0, 0)\n    \
                    print(r, ctypes.get_errno(), flush=True)\n";
    let outcome = sb.run(&spillover_sandbox::Program::new("x32", body));
    assert!(outcome.passed, "{outcome:#?}");
    let want = format!("-1 {0}\n-1 {0}\n", libc::ENOSYS);
    assert_eq!(outcome.stdout, want, "{outcome:#?}");
}
