//! The native backend's kernel-facing restrictions: a seccomp filter (compiled once with
//! `seccompiler`) and a Landlock ruleset (with the `landlock` crate).
//!
//! The seccomp filter is a deny list on top of the namespaces: it removes system calls a
//! Python program never needs and that widen the kernel surface or break isolation
//! (debugging other processes, mounting, new namespaces, the kernel keyring, BPF, perf,
//! io_uring, modules, reboot, clocks…); they fail with `EPERM`. `clone3` fails with `ENOSYS`
//! (its flags live in memory a filter cannot read; the C library then falls back to `clone`,
//! whose namespace flags are denied).

use std::collections::BTreeMap;

use landlock::{
    Access, AccessFs, PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus,
    Scope, ABI,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// System calls that fail with `EPERM` whatever their arguments.
pub const DENIED: &[(&str, libc::c_long)] = &[
    ("ptrace", libc::SYS_ptrace),
    ("process_vm_readv", libc::SYS_process_vm_readv),
    ("process_vm_writev", libc::SYS_process_vm_writev),
    ("pidfd_getfd", libc::SYS_pidfd_getfd),
    ("kcmp", libc::SYS_kcmp),
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("pivot_root", libc::SYS_pivot_root),
    ("chroot", libc::SYS_chroot),
    ("fsopen", libc::SYS_fsopen),
    ("fsconfig", libc::SYS_fsconfig),
    ("fsmount", libc::SYS_fsmount),
    ("fspick", libc::SYS_fspick),
    ("move_mount", libc::SYS_move_mount),
    ("open_tree", libc::SYS_open_tree),
    ("mount_setattr", libc::SYS_mount_setattr),
    ("unshare", libc::SYS_unshare),
    ("setns", libc::SYS_setns),
    ("add_key", libc::SYS_add_key),
    ("request_key", libc::SYS_request_key),
    ("keyctl", libc::SYS_keyctl),
    ("bpf", libc::SYS_bpf),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("userfaultfd", libc::SYS_userfaultfd),
    ("io_uring_setup", libc::SYS_io_uring_setup),
    ("io_uring_enter", libc::SYS_io_uring_enter),
    ("io_uring_register", libc::SYS_io_uring_register),
    ("kexec_load", libc::SYS_kexec_load),
    ("kexec_file_load", libc::SYS_kexec_file_load),
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("reboot", libc::SYS_reboot),
    ("swapon", libc::SYS_swapon),
    ("swapoff", libc::SYS_swapoff),
    ("acct", libc::SYS_acct),
    ("quotactl", libc::SYS_quotactl),
    ("syslog", libc::SYS_syslog),
    ("vhangup", libc::SYS_vhangup),
    ("name_to_handle_at", libc::SYS_name_to_handle_at),
    ("open_by_handle_at", libc::SYS_open_by_handle_at),
    ("settimeofday", libc::SYS_settimeofday),
    ("clock_settime", libc::SYS_clock_settime),
    ("clock_adjtime", libc::SYS_clock_adjtime),
    ("adjtimex", libc::SYS_adjtimex),
    ("sethostname", libc::SYS_sethostname),
    ("setdomainname", libc::SYS_setdomainname),
    #[cfg(target_arch = "x86_64")]
    ("iopl", libc::SYS_iopl),
    #[cfg(target_arch = "x86_64")]
    ("ioperm", libc::SYS_ioperm),
];

/// `clone` flags that would create namespaces; `clone` with any of them fails with `EPERM`.
const NAMESPACE_FLAGS: &[libc::c_int] = &[
    libc::CLONE_NEWNS,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWCGROUP,
];

/// On x86_64, the x32 ABI reaches the same kernel entry points under other numbers (bit 30
/// set, same audit architecture), which a deny list by number would miss: every x32 call
/// fails with `ENOSYS` (another architecture kills the process).
#[cfg(target_arch = "x86_64")]
fn x32_guard() -> BpfProgram {
    use seccompiler::sock_filter;
    const LD_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const JGE: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
    const RET: u16 = 0x06; // BPF_RET | BPF_K
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    let op = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    vec![
        op(LD_ABS, 0, 0, 4), // seccomp_data.arch
        op(JEQ, 1, 0, AUDIT_ARCH_X86_64),
        op(RET, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
        op(LD_ABS, 0, 0, 0), // seccomp_data.nr
        op(JGE, 0, 1, 0x4000_0000),
        op(RET, 0, 0, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        op(RET, 0, 0, libc::SECCOMP_RET_ALLOW),
    ]
}

/// The filters, in installation order: the deny list (`EPERM`), then `clone3` (`ENOSYS`),
/// then (x86_64) the x32 guard.
pub(crate) fn filters() -> Result<Vec<BpfProgram>, String> {
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|e| e.to_string())?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED.iter().map(|&(_, nr)| (nr, Vec::new())).collect();
    let clone_rules = NAMESPACE_FLAGS
        .iter()
        .map(|&flag| {
            let flag = flag as u64;
            let cond = SeccompCondition::new(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag),
                flag,
            )?;
            SeccompRule::new(vec![cond])
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    rules.insert(libc::SYS_clone, clone_rules);
    let eperm = SeccompAction::Errno(libc::EPERM as u32);
    let enosys = SeccompAction::Errno(libc::ENOSYS as u32);
    let deny =
        SeccompFilter::new(rules, SeccompAction::Allow, eperm, arch).map_err(|e| e.to_string())?;
    let clone3 = BTreeMap::from([(libc::SYS_clone3, Vec::new())]);
    let clone3 = SeccompFilter::new(clone3, SeccompAction::Allow, enosys, arch)
        .map_err(|e| e.to_string())?;
    #[allow(unused_mut)]
    let mut programs = [deny, clone3]
        .into_iter()
        .map(|f| BpfProgram::try_from(f).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    #[cfg(target_arch = "x86_64")]
    programs.push(x32_guard());
    Ok(programs)
}

/// Restricts this process (and what it execs) with Landlock: read and execute beneath `/`,
/// everything beneath `/tmp` and `/dev/shm`, reading and writing device files beneath
/// `/dev`; signals and abstract unix sockets scoped to the sandbox where the kernel can
/// (ABI 6). Network access is left to the network namespace.
pub(crate) fn landlock(abi: i32) -> Result<(), String> {
    let abi = ABI::from(abi);
    let all = AccessFs::from_all(abi);
    let read = AccessFs::from_read(abi);
    let dev = read | AccessFs::WriteFile | (all & AccessFs::IoctlDev);
    let fd = |p: &str| PathFd::new(p).map_err(|e| format!("{p}: {e}"));
    let err = |e: landlock::RulesetError| e.to_string();
    let mut ruleset = Ruleset::default().handle_access(all).map_err(err)?;
    let scopes = Scope::from_all(abi);
    if !scopes.is_empty() {
        ruleset = ruleset.scope(scopes).map_err(err)?;
    }
    let status = ruleset
        .create()
        .map_err(err)?
        .add_rule(PathBeneath::new(fd("/")?, read))
        .map_err(err)?
        .add_rule(PathBeneath::new(fd("/tmp")?, all))
        .map_err(err)?
        .add_rule(PathBeneath::new(fd("/dev/shm")?, all))
        .map_err(err)?
        .add_rule(PathBeneath::new(fd("/dev")?, dev))
        .map_err(err)?
        .restrict_self()
        .map_err(err)?;
    if status.ruleset == RulesetStatus::NotEnforced {
        return Err("the kernel did not enforce the ruleset".into());
    }
    Ok(())
}
