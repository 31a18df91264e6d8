//! The bubblewrap backend (`SPILLOVER_SANDBOX=bwrap`): the command line for one program, and
//! what happens between fork and exec.
//!
//! Layers, outermost first: (root callers only) a switch to uid `nobody`, through a private
//! mount namespace when that uid cannot reach the Python prefix; bubblewrap's namespaces
//! (user, pid, net, ipc, uts, cgroup) and its read-only view of `/usr` and the prefix; then a
//! small Python launcher that sets the resource limits *inside* the new user namespace (where
//! the kernel counts processes per namespace) and execs the program.

use std::ffi::{CString, OsString};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::host::{Bwrap, Caller, Cover, Host, SANDBOX_ID};
use crate::native::{INIT, PROGRAM_PATH, RUNNER};
use crate::SandboxConfig;

/// The launcher, run with `python -I -S -c`: sets the limits, reports that the program is
/// about to start on the `started` fd (then closes it), and execs the program.
/// argv: fd nproc cpu_seconds memory_bytes nofile program_argv...
const LAUNCHER: &str = "\
import os, resource as R, sys
fd, nproc, cpu, mem, nofile = map(int, sys.argv[1:6])
for res, soft, hard in ((R.RLIMIT_NPROC, nproc, nproc), (R.RLIMIT_CPU, cpu, cpu + 1),
                        (R.RLIMIT_AS, mem, mem), (R.RLIMIT_NOFILE, nofile, nofile),
                        (R.RLIMIT_CORE, 0, 0)):
    R.setrlimit(res, (soft, hard))
os.write(fd, b'1')
os.close(fd)
os.execv(sys.argv[6], sys.argv[6:])
";

/// Open file descriptors per run: the program source (a memfd) and the write ends of the
/// status pipes. They are close-on-exec in this process; only the bwrap child keeps them.
pub(crate) struct ChildFds {
    /// Read by `--ro-bind-data` into [`PROGRAM_PATH`].
    pub source: RawFd,
    /// bwrap's `--json-status-fd`: reports the sandbox's pid 1 and pid namespace.
    pub status: RawFd,
    /// Written by the launcher just before the program starts.
    pub started: RawFd,
    /// For programs that must finish: the token's read end and the result's write end.
    pub guard: Option<(RawFd, RawFd)>,
}

/// The full command for one run: `bwrap ARGS -- python -I -S -c LAUNCHER ...`.
pub(crate) fn command(host: &Host, bw: &Bwrap, config: &SandboxConfig, fds: &ChildFds) -> Command {
    let mut cmd = Command::new(&bw.bwrap);
    cmd.args(bwrap_args(host, bw, config, fds));
    cmd.arg("--")
        .arg(&host.python)
        .args(["-I", "-S", "-c", LAUNCHER]);
    let cpu_seconds = config.cpu_time.as_secs_f64().ceil().max(1.0) as u64;
    // bwrap's own pid 1 is counted in the namespace too, hence the + 1 (+ 1 more for the
    // init that watches a program that must finish).
    let nproc = u64::from(config.max_processes) + 1 + u64::from(fds.guard.is_some());
    for n in [
        fds.started as u64,
        nproc,
        cpu_seconds,
        config.memory_bytes,
        256,
    ] {
        cmd.arg(n.to_string());
    }
    if let Some((token, result)) = fds.guard {
        cmd.arg(&host.python).args(["-I", "-S", "-c", INIT, "-1"]);
        cmd.args([token.to_string(), result.to_string()]);
        cmd.arg(RUNNER);
    }
    cmd.arg(&host.python).arg(PROGRAM_PATH);
    cmd.env_clear().envs(environment(host));
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let (token, result) = fds.guard.unwrap_or((fds.started, fds.started));
    let keep = [fds.source, fds.status, fds.started, token, result];
    let cover = match &bw.caller {
        Caller::Root { cover } => Some(cover.as_ref().map(ChildCover::from)),
        Caller::User => None,
    };
    // SAFETY: the closure only makes raw system calls on data prepared before the fork.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            // Nothing the caller has open reaches the sandbox, except the three fds it needs.
            let cloexec = libc::CLOSE_RANGE_CLOEXEC as libc::c_uint as libc::c_long;
            if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, cloexec) < 0 {
                for fd in 3..4096 {
                    libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                }
            }
            for fd in keep {
                check(libc::fcntl(fd, libc::F_SETFD, 0))?;
            }
            match &cover {
                None => Ok(()),
                Some(cover) => become_nobody(cover.as_ref()),
            }
        })
    };
    cmd
}

/// The fixed environment: nothing of the caller's leaks in.
pub(crate) fn environment(host: &Host) -> Vec<(&'static str, OsString)> {
    let mut path = OsString::new();
    if let Some(bin) = host.python.parent() {
        path.push(bin);
        path.push(":");
    }
    path.push("/usr/local/bin:/usr/bin:/bin");
    vec![
        ("PATH", path),
        ("HOME", "/tmp".into()),
        ("TMPDIR", "/tmp".into()),
        ("LANG", "C.UTF-8".into()),
        ("PYTHONHASHSEED", "0".into()),
        ("PYTHONDONTWRITEBYTECODE", "1".into()),
    ]
}

/// bwrap's options: namespaces, the read-only view, the private /tmp, the program file.
fn bwrap_args(host: &Host, bw: &Bwrap, config: &SandboxConfig, fds: &ChildFds) -> Vec<OsString> {
    let id = SANDBOX_ID.to_string();
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |items: &[&str]| a.extend(items.iter().map(OsString::from));
    push(&[
        "--unshare-user",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
    ]);
    push(&[
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "sandbox",
    ]);
    push(&["--uid", &id, "--gid", &id]);
    if bw.disable_userns {
        push(&["--disable-userns"]);
    }
    push(&["--die-with-parent", "--new-session"]);
    push(&["--ro-bind", "/usr", "/usr"]);
    for top in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        let host_path = Path::new("/").join(top);
        let dest = format!("/{top}");
        match std::fs::read_link(&host_path) {
            Ok(target) => push(&["--symlink", &target.to_string_lossy(), &dest]),
            Err(_) if host_path.is_dir() => push(&["--ro-bind", &dest, &dest]),
            Err(_) => {}
        }
    }
    push(&["--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache"]);
    if !host.prefix_under_usr() {
        let prefix = host.prefix.to_string_lossy();
        push(&["--ro-bind", &prefix, &prefix]);
    }
    // /dev is a tmpfs too: read-only after setup, with a bounded /dev/shm in it and no
    // pseudo-terminals (ptys are a host-wide pool a program could drain).
    let size = config.tmp_bytes.to_string();
    push(&[
        "--proc", "/proc", "--dev", "/dev", "--size", &size, "--tmpfs", "/dev/shm",
    ]);
    push(&["--tmpfs", "/dev/pts", "--remount-ro", "/dev/pts"]);
    push(&["--size", &size, "--tmpfs", "/tmp"]);
    let source = fds.source.to_string();
    push(&["--perms", "0444", "--ro-bind-data", &source, PROGRAM_PATH]);
    push(&[
        "--remount-ro",
        "/dev",
        "--remount-ro",
        "/",
        "--chdir",
        "/tmp",
    ]);
    push(&["--json-status-fd", &fds.status.to_string()]);
    a
}

/// The parts of a [`Cover`] the child needs, moved into the `pre_exec` closure.
struct ChildCover {
    on: CString,
    dirs: Vec<CString>,
}

impl From<&Cover> for ChildCover {
    fn from(c: &Cover) -> Self {
        Self {
            on: c.on.clone(),
            dirs: c.dirs.clone(),
        }
    }
}

/// In the forked child of a root caller: cover the closed ancestor of the prefix (if any) in
/// a private mount namespace, then drop to uid/gid [`SANDBOX_ID`] with no groups.
fn become_nobody(cover: Option<&ChildCover>) -> io::Result<()> {
    const NONE: *const libc::c_char = std::ptr::null();
    // SAFETY: raw system calls on NUL-terminated strings owned by `cover`.
    unsafe {
        if let Some(c) = cover {
            let prefix = c.dirs.last().expect("the prefix is the last dir").as_ptr();
            check(libc::unshare(libc::CLONE_NEWNS))?;
            let root = c"/".as_ptr();
            check(libc::mount(
                NONE,
                root,
                NONE,
                libc::MS_REC | libc::MS_PRIVATE,
                NONE.cast(),
            ))?;
            // A handle on the prefix in this namespace, taken before it is covered.
            let fd = libc::open(prefix, libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC);
            check(fd)?;
            let tmpfs = c"tmpfs".as_ptr();
            let opts = c"mode=0755,size=65536".as_ptr();
            let flags = libc::MS_NOSUID | libc::MS_NODEV;
            check(libc::mount(tmpfs, c.on.as_ptr(), tmpfs, flags, opts.cast()))?;
            for d in &c.dirs {
                check(libc::mkdir(d.as_ptr(), 0o755))?;
            }
            let source = FdPath::new(fd);
            let flags = libc::MS_BIND | libc::MS_REC;
            check(libc::mount(
                source.as_ptr(),
                prefix,
                NONE,
                flags,
                NONE.cast(),
            ))?;
            libc::close(fd);
        }
        let id = SANDBOX_ID;
        check(libc::setgroups(0, std::ptr::null()))?;
        check(libc::setresgid(id, id, id))?;
        check(libc::setresuid(id, id, id))?;
    }
    Ok(())
}

/// `/proc/self/fd/N` as a C string, formatted without allocating (safe after fork).
struct FdPath([u8; 32]);

impl FdPath {
    fn new(fd: RawFd) -> Self {
        let mut buf = [0u8; 32];
        let head = b"/proc/self/fd/";
        buf[..head.len()].copy_from_slice(head);
        let mut digits = [0u8; 10];
        let (mut n, mut len) = (fd.unsigned_abs(), 0);
        loop {
            digits[len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        for i in 0..len {
            buf[head.len() + i] = digits[len - 1 - i];
        }
        Self(buf) // the rest stays 0: NUL-terminated
    }

    fn as_ptr(&self) -> *const libc::c_char {
        self.0.as_ptr().cast()
    }
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Makes sure `fd` is not 0, 1 or 2 (which `Command` overwrites with the child's stdio).
pub(crate) fn above_stdio(fd: std::os::fd::OwnedFd) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: duplicating a valid fd; the new one is owned by the returned OwnedFd.
    let dup = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    check(dup)?;
    // SAFETY: `dup` is a fresh descriptor owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(dup) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_paths_are_nul_terminated_decimal() {
        for fd in [0, 7, 10, 123, i32::MAX] {
            let p = FdPath::new(fd);
            // SAFETY: FdPath always holds a NUL within its buffer.
            let s = unsafe { std::ffi::CStr::from_ptr(p.as_ptr()) };
            assert_eq!(s.to_str().unwrap(), format!("/proc/self/fd/{fd}"));
        }
    }
}
