//! The native backend's file system view and network, built by the setup process inside its
//! new user and mount namespaces (nothing here touches the host's mounts: they are made
//! private first).
//!
//! The new root is a small tmpfs, read-only once built, holding: read-only recursive binds of
//! `/usr` (with the `/bin`, `/lib`… links or binds), `/etc/ld.so.cache` and the Python prefix
//! (bound while the process still has the caller's uid, so a prefix under a closed `/root` is
//! reachable); `/sandbox/main.py` (mode 0444); a fresh `/proc` of the new pid namespace; a
//! read-only `/dev` with `null`, `zero`, `full`, `random`, `urandom` and `tty` bound from the
//! host, the usual links, an empty `pts` (so no pseudo-terminals) and a bounded `/dev/shm`;
//! and a bounded `/tmp`. Then `pivot_root`, and the old root is detached.

use std::ffi::CString;
use std::io;
use std::path::{Component, Path};

use crate::host::Host;
use crate::native::{cstr, rel};
use crate::SandboxConfig;

type StepResult = Result<(), (&'static str, io::Error)>;

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;
const AT_RECURSIVE: libc::c_uint = 0x8000;

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn ok(step: &'static str, ret: libc::c_long) -> StepResult {
    if ret < 0 {
        Err((step, io::Error::last_os_error()))
    } else {
        Ok(())
    }
}

fn mount(
    step: &'static str,
    src: Option<&CString>,
    dst: &CString,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> StepResult {
    let fstype = fstype.map(cstr);
    let data = data.map(cstr);
    let p = |s: Option<&CString>| s.map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: NUL-terminated strings or null pointers, as mount(2) takes.
    let ret = unsafe {
        libc::mount(
            p(src),
            dst.as_ptr(),
            p(fstype.as_ref()),
            flags,
            p(data.as_ref()).cast(),
        )
    };
    ok(step, ret.into())
}

/// Makes the mount at `dst` (and, when `recursive`, those below it) read-only, nosuid, nodev.
fn seal(step: &'static str, dst: &CString, recursive: bool) -> StepResult {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let flags = if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: a valid path and attribute struct of the size passed.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            dst.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    ok(step, ret)
}

/// A read-only recursive bind of the host's `src` at `dst` (relative to the new root).
fn ro_bind(step: &'static str, src: &Path, dst: &CString) -> StepResult {
    let src = CString::new(src.as_os_str().as_encoded_bytes()).expect("no NUL");
    let flags = libc::MS_BIND | libc::MS_REC;
    mount(step, Some(&src), dst, None, flags, None)?;
    seal(step, dst, true)
}

fn mkdir_p(step: &'static str, path: &Path) -> StepResult {
    let mut at = std::path::PathBuf::new();
    for c in path.components() {
        if let Component::Normal(part) = c {
            at.push(part);
            let p = rel(&at);
            // SAFETY: a NUL-terminated path.
            if unsafe { libc::mkdir(p.as_ptr(), 0o755) } < 0
                && io::Error::last_os_error().raw_os_error() != Some(libc::EEXIST)
            {
                return Err((step, io::Error::last_os_error()));
            }
        }
    }
    Ok(())
}

/// Creates (or truncates) `path` with `bytes` and `mode`.
fn write_file(step: &'static str, path: &CString, bytes: &[u8], mode: u32) -> StepResult {
    let flags = libc::O_CREAT | libc::O_WRONLY | libc::O_TRUNC | libc::O_CLOEXEC;
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let fd = unsafe { libc::open(path.as_ptr(), flags, mode) };
    ok(step, fd.into())?;
    let mut rest = bytes;
    while !rest.is_empty() {
        // SAFETY: writing from a valid buffer.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            let e = io::Error::last_os_error();
            // SAFETY: closing our descriptor.
            unsafe { libc::close(fd) };
            return Err((step, e));
        }
        rest = &rest[n as usize..];
    }
    // SAFETY: as above.
    unsafe { libc::close(fd) };
    Ok(())
}

fn symlink(step: &'static str, target: &str, link: &str) -> StepResult {
    let (t, l) = (cstr(target), cstr(link));
    // SAFETY: NUL-terminated paths.
    ok(
        step,
        unsafe { libc::symlink(t.as_ptr(), l.as_ptr()) }.into(),
    )
}

/// Builds the new root and pivots into it (see the module documentation).
pub(crate) fn build_root(
    host: &Host,
    config: &SandboxConfig,
    source: &[u8],
    prefix_fd: Option<libc::c_int>,
) -> StepResult {
    let slash = cstr("/");
    let rec_private = libc::MS_REC | libc::MS_PRIVATE;
    mount(
        "making the mounts private",
        None,
        &slash,
        None,
        rec_private,
        None,
    )?;
    let base = cstr("/tmp");
    let nosuid_nodev = libc::MS_NOSUID | libc::MS_NODEV;
    let size = format!("mode=0755,size={}", (2 << 20) + source.len());
    let root_tmpfs = Some("tmpfs");
    mount(
        "mounting the new root",
        Some(&cstr("tmpfs")),
        &base,
        root_tmpfs,
        nosuid_nodev,
        Some(&size),
    )?;
    // SAFETY: a NUL-terminated path.
    ok(
        "entering the new root",
        unsafe { libc::chdir(base.as_ptr()) }.into(),
    )?;

    mkdir_p("creating /usr", Path::new("usr"))?;
    ro_bind("binding /usr", Path::new("/usr"), &cstr("usr"))?;
    for top in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        let host_path = Path::new("/").join(top);
        match std::fs::read_link(&host_path) {
            Ok(target) => symlink("linking /bin and /lib", &target.to_string_lossy(), top)?,
            Err(_) if host_path.is_dir() => {
                mkdir_p("creating /bin and /lib", Path::new(top))?;
                ro_bind("binding /bin and /lib", &host_path, &cstr(top))?;
            }
            Err(_) => {}
        }
    }
    mkdir_p("creating /etc", Path::new("etc"))?;
    let ld_cache = Path::new("/etc/ld.so.cache");
    if ld_cache.is_file() {
        let dst = cstr("etc/ld.so.cache");
        write_file("creating /etc/ld.so.cache", &dst, b"", 0o644)?;
        ro_bind("binding /etc/ld.so.cache", ld_cache, &dst)?;
    }
    if let Some(fd) = prefix_fd {
        mkdir_p("creating the Python prefix", &host.prefix)?;
        let handle = std::path::PathBuf::from(format!("/proc/self/fd/{fd}"));
        ro_bind("binding the Python prefix", &handle, &rel(&host.prefix))?;
        // SAFETY: closing our own descriptor.
        unsafe { libc::close(fd) };
    }
    mkdir_p("creating /sandbox", Path::new("sandbox"))?;
    write_file(
        "writing the program",
        &cstr("sandbox/main.py"),
        source,
        0o444,
    )?;

    mkdir_p("creating /proc", Path::new("proc"))?;
    let proc_flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
    let proc = cstr("proc");
    mount(
        "mounting /proc",
        Some(&proc),
        &proc,
        Some("proc"),
        proc_flags,
        None,
    )?;

    build_dev(config)?;

    mkdir_p("creating /tmp", Path::new("tmp"))?;
    let tmp_opts = format!("mode=1777,size={}", config.tmp_bytes);
    let tmp = cstr("tmp");
    mount(
        "mounting /tmp",
        Some(&tmp),
        &tmp,
        root_tmpfs,
        nosuid_nodev,
        Some(&tmp_opts),
    )?;

    let dot = cstr(".");
    // SAFETY: pivot_root(".", ".") stacks the old root on the new one; it is then detached.
    unsafe {
        let pivot = libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr());
        ok("pivot_root", pivot)?;
        ok(
            "detaching the old root",
            libc::umount2(dot.as_ptr(), libc::MNT_DETACH).into(),
        )?;
        ok("entering /", libc::chdir(slash.as_ptr()).into())?;
    }
    seal("making / read-only", &slash, false)
}

/// `/dev`: a small tmpfs with a few host devices, links, an empty `pts` and a bounded `shm`,
/// read-only once built.
fn build_dev(config: &SandboxConfig) -> StepResult {
    mkdir_p("creating /dev", Path::new("dev"))?;
    let dev = cstr("dev");
    let flags = libc::MS_NOSUID | libc::MS_NOEXEC;
    mount(
        "mounting /dev",
        Some(&dev),
        &dev,
        Some("tmpfs"),
        flags,
        Some("mode=0755,size=65536"),
    )?;
    for node in ["null", "zero", "full", "random", "urandom", "tty"] {
        let host_node = Path::new("/dev").join(node);
        if !host_node.exists() {
            continue;
        }
        let dst = cstr(&format!("dev/{node}"));
        write_file("creating /dev nodes", &dst, b"", 0o666)?;
        let src = CString::new(host_node.as_os_str().as_encoded_bytes()).expect("no NUL");
        mount(
            "binding /dev nodes",
            Some(&src),
            &dst,
            None,
            libc::MS_BIND,
            None,
        )?;
    }
    for (target, link) in [
        ("/proc/self/fd", "dev/fd"),
        ("/proc/self/fd/0", "dev/stdin"),
        ("/proc/self/fd/1", "dev/stdout"),
        ("/proc/self/fd/2", "dev/stderr"),
        ("pts/ptmx", "dev/ptmx"),
    ] {
        symlink("linking /dev entries", target, link)?;
    }
    mkdir_p("creating /dev/pts", Path::new("dev/pts"))?;
    mkdir_p("creating /dev/shm", Path::new("dev/shm"))?;
    let shm = cstr("dev/shm");
    let opts = format!("mode=1777,size={}", config.tmp_bytes);
    let nosuid_nodev = libc::MS_NOSUID | libc::MS_NODEV;
    mount(
        "mounting /dev/shm",
        Some(&shm),
        &shm,
        Some("tmpfs"),
        nosuid_nodev,
        Some(&opts),
    )?;
    seal("making /dev read-only", &dev, false)
}

/// Loopback up (so connections to 127.0.0.1 are refused rather than unroutable), hostname
/// `sandbox`.
pub(crate) fn network_and_hostname() -> StepResult {
    // SAFETY: a socket, two ioctls on a zeroed ifreq naming `lo`, sethostname on a buffer.
    unsafe {
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        ok("opening a socket for loopback", sock.into())?;
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (i, b) in b"lo".iter().enumerate() {
            ifr.ifr_name[i] = *b as libc::c_char;
        }
        let get = libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut ifr);
        ok("reading loopback's flags", get.into())?;
        ifr.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        let set = libc::ioctl(sock, libc::SIOCSIFFLAGS, &ifr);
        ok("bringing loopback up", set.into())?;
        libc::close(sock);
        let name = b"sandbox";
        let set = libc::sethostname(name.as_ptr().cast(), name.len());
        ok("setting the hostname", set.into())?;
    }
    Ok(())
}
