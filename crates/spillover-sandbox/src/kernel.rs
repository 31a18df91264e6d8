//! What the native backend needs from the kernel, checked before any program runs: user
//! namespaces (unprivileged ones for a non-root caller) and Landlock. A missing feature is a
//! [`SandboxError::Unsupported`] naming it and how to provide it.

use std::io;

use crate::error::SandboxError;

fn read_sysctl(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// User namespaces must be allowed (for an unprivileged caller: unprivileged ones).
pub(crate) fn check_user_namespaces() -> Result<(), SandboxError> {
    let missing = |detail: String, fix: &str| SandboxError::Unsupported {
        feature: "user namespaces",
        detail,
        fix: fix.into(),
    };
    if read_sysctl("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return Err(missing(
            "user.max_user_namespaces is 0".into(),
            "`sysctl -w user.max_user_namespaces=10000`",
        ));
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        if read_sysctl("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
            return Err(missing(
                "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0)"
                    .into(),
                "`sysctl -w kernel.unprivileged_userns_clone=1`, or run as root",
            ));
        }
        if read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref()
            == Some("1")
        {
            return Err(missing(
                "AppArmor restricts unprivileged user namespaces \
                 (kernel.apparmor_restrict_unprivileged_userns = 1)"
                    .into(),
                "`sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`, an AppArmor profile \
                 allowing `userns` for this program, or run as root",
            ));
        }
    }
    Ok(())
}

/// The Landlock ABI version, or why Landlock is unavailable.
pub(crate) fn landlock_abi() -> Result<i32, SandboxError> {
    const VERSION: libc::c_uint = 1; // LANDLOCK_CREATE_RULESET_VERSION
    let null = std::ptr::null::<libc::c_void>();
    // SAFETY: the documented version query: no ruleset, size 0.
    let abi = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, null, 0usize, VERSION) };
    if abi >= 1 {
        return Ok(abi as i32);
    }
    let err = io::Error::last_os_error();
    let fix = match err.raw_os_error() {
        Some(libc::EOPNOTSUPP) => {
            "Landlock is built into this kernel but disabled: add `landlock` to the `lsm=` \
             kernel boot parameter"
        }
        _ => {
            "use Linux 5.13 or later built with CONFIG_SECURITY_LANDLOCK=y and `landlock` in \
             `lsm=`"
        }
    };
    Err(SandboxError::Unsupported {
        feature: "Landlock",
        detail: format!("landlock_create_ruleset: {err}"),
        fix: fix.into(),
    })
}
