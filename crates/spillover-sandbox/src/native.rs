//! The default backend: namespaces, a new root, Landlock, seccomp and resource limits set up
//! by this crate, with no helper binary.
//!
//! Three processes per run, outermost first:
//!
//! - the **monitor**, forked from the caller (glibc's `fork`, so allocation stays safe in the
//!   child of a multi-threaded caller): a new session, stdio on the caller's pipes, every other
//!   descriptor closed, killed if the caller's thread dies. It clones the sandbox's first
//!   process into new user, mount, pid, network, ipc, uts and cgroup namespaces, writes its uid
//!   and gid maps (only `65534`, mapped to host uid 65534 for a root caller, to the caller's
//!   own uid otherwise), reports its pid and pid namespace, waits for it and exits with its
//!   status;
//! - the **setup** process (pid 1 of the new pid namespace): builds the new root (see
//!   [`build_root`]), brings up loopback, switches to uid/gid 65534 with no groups and no
//!   capabilities, sets `no_new_privs`, Landlock, the seccomp filters and the resource limits,
//!   then execs the Python init (`src/py/init.py`), which stays pid 1: it starts the program,
//!   reaps orphans and exits with the program's status; its exit kills every process left in
//!   the namespace.

use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::SandboxError;
use crate::host::{Host, SANDBOX_ID};
use crate::{Program, SandboxConfig};

/// Where the program's source appears inside the sandbox (read-only).
pub(crate) const PROGRAM_PATH: &str = "/sandbox/main.py";
/// The sandbox init and the runner of programs that must finish.
pub(crate) const INIT: &str = include_str!("py/init.py");
pub(crate) const RUNNER: &str = include_str!("py/runner.py");
/// Exit status of a run whose setup failed (the reason is the last line of its stderr).
const SETUP_FAILED: i32 = 125;

/// What the native backend found on the host.
#[derive(Debug)]
pub(crate) struct Native {
    /// The kernel's Landlock ABI version (1 or more).
    pub landlock_abi: i32,
    /// The seccomp filters, compiled once.
    pub filters: Vec<seccompiler::BpfProgram>,
}

impl Native {
    /// Checks user namespaces and Landlock, and compiles the seccomp filters.
    pub fn discover() -> Result<Self, SandboxError> {
        crate::kernel::check_user_namespaces()?;
        let landlock_abi = crate::kernel::landlock_abi()?;
        let filters = crate::seccomp::filters().map_err(|e| SandboxError::Unsupported {
            feature: "a seccomp filter for this architecture",
            detail: e,
            fix: "run on x86_64 or aarch64, or use SPILLOVER_SANDBOX=bwrap".into(),
        })?;
        Ok(Self {
            landlock_abi,
            filters,
        })
    }
}

/// The caller-side descriptors of one run (all close-on-exec, all above 2).
pub(crate) struct NativeFds {
    /// Write ends of the program's stdout and stderr pipes.
    pub stdout: RawFd,
    pub stderr: RawFd,
    /// Where the monitor reports `{"child-pid": N, "pid-namespace": INODE}`.
    pub status: RawFd,
    /// Written by the init just before the program starts.
    pub started: RawFd,
    /// The completion token's read end and the result pipe's write end, or -1.
    pub token: RawFd,
    pub result: RawFd,
}

/// Everything the child processes need, prepared before the fork.
struct Plan<'a> {
    parent: libc::pid_t,
    root_caller: bool,
    uid: u32,
    gid: u32,
    host: &'a Host,
    native: &'a Native,
    source: &'a [u8],
    config: &'a SandboxConfig,
    python: CString,
    argv: Vec<CString>,
    env: Vec<CString>,
}

/// Starts one run; returns the monitor's pid (the caller's child, to be reaped by it).
pub(crate) fn spawn(
    host: &Host,
    native: &Native,
    config: &SandboxConfig,
    program: &Program,
    fds: &NativeFds,
) -> io::Result<libc::pid_t> {
    let c = |s: &str| CString::new(s).map_err(io::Error::other);
    let python = CString::new(host.python.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let mut argv = vec![python.clone()];
    for a in ["-I", "-S", "-c", INIT] {
        argv.push(c(a)?);
    }
    for fd in [fds.started, fds.token, fds.result] {
        argv.push(c(&fd.to_string())?);
    }
    argv.extend([c(RUNNER)?, python.clone(), c(PROGRAM_PATH)?]);
    let env = crate::command::environment(host)
        .into_iter()
        .chain([("PWD", "/tmp".into())])
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).map_err(io::Error::other)
        })
        .collect::<io::Result<Vec<_>>>()?;
    // SAFETY: these have no preconditions.
    let (parent, uid, gid) = unsafe { (libc::getpid(), libc::geteuid(), libc::getegid()) };
    let plan = Plan {
        parent,
        root_caller: uid == 0,
        uid,
        gid,
        host,
        native,
        source: program.source.as_bytes(),
        config,
        python,
        argv,
        env,
    };
    // SAFETY: glibc's fork; the child only runs `monitor`, which never returns.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => monitor(&plan, fds),
        pid => Ok(pid),
    }
}

/// Writes `sandbox setup: STEP: ERR` to stderr and exits.
fn fail(step: &str, err: impl std::fmt::Display) -> ! {
    let msg = format!("sandbox setup: {step}: {err}\n");
    // SAFETY: writing a buffer to stderr, then exiting without running destructors.
    unsafe {
        libc::write(2, msg.as_ptr().cast(), msg.len());
        libc::_exit(SETUP_FAILED)
    }
}

fn check(step: &str, ret: libc::c_long) -> libc::c_long {
    if ret < 0 {
        fail(step, io::Error::last_os_error());
    }
    ret
}

/// Closes every descriptor from 3 up except `keep` (values below 3 are ignored).
fn close_all_except(keep: &[RawFd]) {
    let mut keep: Vec<u32> = keep.iter().filter(|&&f| f > 2).map(|&f| f as u32).collect();
    keep.sort_unstable();
    let mut from = 3u32;
    for k in keep {
        if k > from {
            // SAFETY: closing descriptors of this (single-threaded) process.
            unsafe { libc::syscall(libc::SYS_close_range, from, k - 1, 0u32) };
        }
        from = from.max(k + 1);
    }
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_close_range, from, u32::MAX, 0u32) };
}

/// The monitor (see the module documentation).
fn monitor(plan: &Plan, fds: &NativeFds) -> ! {
    // SAFETY: raw system calls in the single-threaded child; it never returns.
    unsafe {
        libc::setsid();
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != plan.parent {
            libc::_exit(SETUP_FAILED);
        }
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
        check("opening /dev/null", null.into());
        for (from, to) in [(null, 0), (fds.stdout, 1), (fds.stderr, 2)] {
            check("redirecting stdio", libc::dup2(from, to).into());
        }
        close_all_except(&[fds.status, fds.started, fds.token, fds.result]);
        let mut sync = [0; 2];
        check(
            "creating a pipe",
            libc::pipe2(sync.as_mut_ptr(), libc::O_CLOEXEC).into(),
        );
        let flags = libc::CLONE_NEWUSER
            | libc::CLONE_NEWNS
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWNET
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWCGROUP;
        let zero = 0usize;
        let flags = (flags | libc::SIGCHLD) as libc::c_ulong;
        let pid = libc::syscall(libc::SYS_clone, flags, zero, zero, zero, zero);
        let pid = check(
            "creating the namespaces (clone with CLONE_NEWUSER and friends; are user \
             namespaces allowed?)",
            pid,
        ) as libc::pid_t;
        if pid == 0 {
            libc::close(sync[1]);
            libc::close(fds.status);
            setup(plan, fds, sync[0]);
        }
        libc::close(sync[0]);
        if let Err(e) = write_maps(pid, plan) {
            libc::kill(pid, libc::SIGKILL);
            fail("writing the user namespace's uid and gid maps", e);
        }
        libc::write(sync[1], b"1".as_ptr().cast(), 1);
        libc::close(sync[1]);
        let ns = std::fs::read_link(format!("/proc/{pid}/ns/pid"))
            .ok()
            .and_then(|l| {
                let l = l.to_string_lossy().into_owned();
                l.strip_prefix("pid:[")?
                    .strip_suffix(']')?
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0);
        let status = format!("{{\"child-pid\": {pid}, \"pid-namespace\": {ns}}}\n");
        libc::write(fds.status, status.as_ptr().cast(), status.len());
        for fd in [fds.status, fds.started, fds.token, fds.result] {
            if fd >= 0 {
                libc::close(fd);
            }
        }
        let mut st = 0;
        loop {
            let r = libc::waitpid(pid, &mut st, 0);
            if r == pid {
                break;
            }
            if r < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                libc::_exit(SETUP_FAILED);
            }
        }
        if libc::WIFSIGNALED(st) {
            libc::_exit(128 + libc::WTERMSIG(st));
        }
        libc::_exit(libc::WEXITSTATUS(st))
    }
}

/// Maps uid/gid [`SANDBOX_ID`] inside to host 65534 (root caller) or to the caller's ids.
fn write_maps(pid: libc::pid_t, plan: &Plan) -> io::Result<()> {
    let (uid, gid) = if plan.root_caller {
        (SANDBOX_ID, SANDBOX_ID)
    } else {
        std::fs::write(format!("/proc/{pid}/setgroups"), "deny")?;
        (plan.uid, plan.gid)
    };
    std::fs::write(
        format!("/proc/{pid}/uid_map"),
        format!("{SANDBOX_ID} {uid} 1\n"),
    )?;
    std::fs::write(
        format!("/proc/{pid}/gid_map"),
        format!("{SANDBOX_ID} {gid} 1\n"),
    )
}

/// The setup process (see the module documentation); never returns.
fn setup(plan: &Plan, fds: &NativeFds, sync: RawFd) -> ! {
    let mut byte = [0u8; 1];
    // SAFETY: reading one byte into a local buffer.
    if unsafe { libc::read(sync, byte.as_mut_ptr().cast(), 1) } != 1 {
        // SAFETY: exiting; the monitor reported why.
        unsafe { libc::_exit(SETUP_FAILED) };
    }
    // SAFETY: closing our own descriptor; setting the parent-death signal.
    unsafe {
        libc::close(sync);
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    // A handle on the prefix while this process still has the caller's uid (a prefix under
    // a closed `/root` is reachable only as such); bound from `/proc/self/fd` below.
    let prefix_fd = if plan.host.prefix_under_usr() {
        None
    } else {
        let path = CString::new(plan.host.prefix.as_os_str().as_bytes()).expect("no NUL");
        let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
        // SAFETY: a NUL-terminated path.
        let fd = unsafe { libc::open(path.as_ptr(), flags) };
        Some(check("opening the Python prefix", fd.into()) as RawFd)
    };
    if let Err((step, e)) = become_sandbox_user(plan.root_caller) {
        fail(step, e);
    }
    if let Err((step, e)) =
        crate::mounts::build_root(plan.host, plan.config, plan.source, prefix_fd)
    {
        fail(step, e);
    }
    if let Err((step, e)) = crate::mounts::network_and_hostname() {
        fail(step, e);
    }
    if let Err((step, e)) = drop_capabilities() {
        fail(step, e);
    }
    if let Err(e) = crate::seccomp::landlock(plan.native.landlock_abi) {
        fail("Landlock", e);
    }
    for filter in &plan.native.filters {
        if let Err(e) = seccompiler::apply_filter(filter) {
            fail("installing the seccomp filter", e);
        }
    }
    if let Err(e) = set_limits(plan.config) {
        fail("setting resource limits", e);
    }
    // SAFETY: raw system calls on descriptors and strings owned by this process.
    unsafe {
        for fd in [fds.started, fds.token, fds.result] {
            if fd >= 0 {
                check(
                    "passing descriptors",
                    libc::fcntl(fd, libc::F_SETFD, 0).into(),
                );
            }
        }
        check("entering /tmp", libc::chdir(c"/tmp".as_ptr()).into());
        let mut argv: Vec<*const libc::c_char> = plan.argv.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut env: Vec<*const libc::c_char> = plan.env.iter().map(|a| a.as_ptr()).collect();
        env.push(std::ptr::null());
        libc::execve(plan.python.as_ptr(), argv.as_ptr(), env.as_ptr());
    }
    fail(
        &format!("starting {}", plan.python.to_string_lossy()),
        io::Error::last_os_error(),
    )
}

type StepResult = Result<(), (&'static str, io::Error)>;

fn step(name: &'static str, ret: libc::c_int) -> StepResult {
    if ret < 0 {
        Err((name, io::Error::last_os_error()))
    } else {
        Ok(())
    }
}

/// uid/gid 65534 with no supplementary groups, keeping the namespace's capabilities for the
/// mounts (the files they create belong to 65534, which the namespace maps).
fn become_sandbox_user(root_caller: bool) -> StepResult {
    let id = SANDBOX_ID;
    // SAFETY: raw credential and prctl calls on this single-threaded process.
    unsafe {
        step(
            "keeping capabilities",
            libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0),
        )?;
        if root_caller {
            // A non-root caller's namespace denies setgroups; it keeps the caller's groups,
            // which are unmapped inside (as under bubblewrap).
            step("dropping groups", libc::setgroups(0, std::ptr::null()))?;
        }
        step("setresgid(65534)", libc::setresgid(id, id, id))?;
        step("setresuid(65534)", libc::setresuid(id, id, id))?;
        // The credential change cleared it.
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        // Whatever the uid change did to the effective set, the mounts need it: effective =
        // permitted.
        let header = [0x2008_0522u32, 0]; // _LINUX_CAPABILITY_VERSION_3, this process
        let mut data = [0u32; 6]; // (effective, permitted, inheritable) x 2
        let got = libc::syscall(libc::SYS_capget, header.as_ptr(), data.as_mut_ptr());
        step("reading capabilities", got as libc::c_int)?;
        data[0] = data[1];
        data[3] = data[4];
        let set = libc::syscall(libc::SYS_capset, header.as_ptr(), data.as_ptr());
        step("keeping capabilities for the mounts", set as libc::c_int)?;
    }
    Ok(())
}

/// No capabilities (bounding, ambient, effective, permitted, inheritable), `no_new_privs`.
fn drop_capabilities() -> StepResult {
    // SAFETY: prctl and capset on this single-threaded process.
    unsafe {
        for cap in 0..64 {
            libc::prctl(libc::PR_CAPBSET_DROP, cap);
        }
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        );
        step(
            "clearing keep-capabilities",
            libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0),
        )?;
        let header = [0x2008_0522u32, 0]; // _LINUX_CAPABILITY_VERSION_3, this process
        let data = [0u32; 6];
        step(
            "dropping capabilities",
            libc::syscall(libc::SYS_capset, header.as_ptr(), data.as_ptr()) as libc::c_int,
        )?;
        step(
            "setting no_new_privs",
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0),
        )?;
    }
    Ok(())
}

/// The per-process limits; the process count is per user namespace (+1 for the init).
fn set_limits(config: &SandboxConfig) -> io::Result<()> {
    let cpu = config.cpu_time.as_secs_f64().ceil().max(1.0) as u64;
    let nproc = u64::from(config.max_processes) + 1;
    for (res, soft, hard) in [
        (libc::RLIMIT_NPROC, nproc, nproc),
        (libc::RLIMIT_CPU, cpu, cpu + 1),
        (libc::RLIMIT_AS, config.memory_bytes, config.memory_bytes),
        (libc::RLIMIT_NOFILE, 256, 256),
        (libc::RLIMIT_CORE, 0, 0),
    ] {
        let lim = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: a valid rlimit struct.
        if unsafe { libc::setrlimit(res, &lim) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `path` relative to the new root (no leading `/`), as a C string.
pub(crate) fn rel(path: &Path) -> CString {
    let bytes = path.as_os_str().as_bytes();
    let trimmed = bytes.strip_prefix(b"/").unwrap_or(bytes);
    CString::new(trimmed).expect("paths have no NUL")
}

/// A C string from a literal path.
pub(crate) fn cstr(s: &str) -> CString {
    CString::new(s).expect("no NUL")
}
