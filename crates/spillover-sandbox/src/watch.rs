//! Namespace-wide usage: the per-process rlimits bound each process, this bounds them together.
//!
//! Every process of a sandbox lives in the sandbox's own pid namespace, so the host's `/proc`
//! lists them all (`/proc/PID/ns/pid` names the namespace). Summing their CPU time (including
//! that of children they already reaped) and resident memory gives the usage of the whole
//! program, which the run loop compares with the limits a few times a second.

use std::fs;

/// The usage of every process in one pid namespace, at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Processes in the namespace (bwrap's pid 1 included).
    pub processes: u32,
    /// User + system CPU time of those processes and of the children they reaped, in ms.
    pub cpu_ms: u64,
    /// Memory of those processes together: the sum of their resident sizes, or, when that
    /// is above the threshold given to [`sample`], the sum of their proportional set sizes
    /// (pages shared after a fork count once in all).
    pub memory_bytes: u64,
}

impl Usage {
    /// The larger of each field.
    pub fn max(self, other: Usage) -> Usage {
        Usage {
            processes: self.processes.max(other.processes),
            cpu_ms: self.cpu_ms.max(other.cpu_ms),
            memory_bytes: self.memory_bytes.max(other.memory_bytes),
        }
    }
}

/// Samples every process whose pid namespace has inode `pid_ns`. Resident sizes overcount
/// memory shared between forked processes, so above `exact_above` bytes the (slower, exact)
/// proportional set sizes are summed instead.
pub(crate) fn sample(pid_ns: u64, exact_above: u64) -> Usage {
    let want = format!("pid:[{pid_ns}]");
    let mut usage = Usage::default();
    let mut members = Vec::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return usage;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let in_ns = fs::read_link(format!("/proc/{pid}/ns/pid"))
            .is_ok_and(|link| link.as_os_str() == want.as_str());
        if !in_ns {
            continue;
        }
        // A process that exits between the two reads simply drops out of this sample.
        if let Some((cpu_ticks, rss_pages)) = fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .as_deref()
            .and_then(parse_stat)
        {
            usage.processes += 1;
            usage.cpu_ms += cpu_ticks * 1000 / clock_ticks();
            usage.memory_bytes += rss_pages * page_size();
            members.push(pid.to_string());
        }
    }
    if usage.memory_bytes > exact_above {
        usage.memory_bytes = members.iter().filter_map(|pid| pss_bytes(pid)).sum();
    }
    usage
}

/// The proportional set size of a process, from `/proc/PID/smaps_rollup`.
fn pss_bytes(pid: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let line = text.lines().find(|l| l.starts_with("Pss:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// From `/proc/PID/stat`: (utime + stime + cutime + cstime in clock ticks, rss in pages).
fn parse_stat(stat: &str) -> Option<(u64, u64)> {
    // The command name (field 2) is in parentheses and may contain spaces or ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, rss field 24.
    let field = |n: usize| fields.get(n - 3)?.parse::<i64>().ok();
    let cpu: i64 = [14, 15, 16, 17]
        .iter()
        .map(|&n| field(n))
        .sum::<Option<i64>>()?;
    let rss = field(24)?;
    Some((cpu.max(0) as u64, rss.max(0) as u64))
}

fn clock_ticks() -> u64 {
    sysconf_or(libc::_SC_CLK_TCK, 100)
}

fn page_size() -> u64 {
    sysconf_or(libc::_SC_PAGESIZE, 4096)
}

/// `sysconf(name)`, or `default` where the system does not say.
fn sysconf_or(name: libc::c_int, default: u64) -> u64 {
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(name) };
    if v > 0 {
        v as u64
    } else {
        default
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        // utime stime cutime cstime priority nice threads itreal starttime vsize rss ...
        let stat = "42 (a) b) c) R 1 42 42 0 -1 4194304 10 0 0 0 \
                    7 3 20 5 20 0 1 0 100 1000000 250 18446744073709551615";
        assert_eq!(parse_stat(stat), Some((7 + 3 + 20 + 5, 250)));
        assert_eq!(parse_stat("42 (x) R 1"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_is_found_in_its_own_pid_namespace() {
        let link = fs::read_link("/proc/self/ns/pid").unwrap();
        let text = link.to_string_lossy();
        let inode: u64 = text["pid:[".len()..text.len() - 1].parse().unwrap();
        let rss = sample(inode, u64::MAX);
        assert!(rss.processes >= 1, "{rss:?}");
        assert!(rss.memory_bytes > 0, "{rss:?}");
        let pss = sample(inode, 0);
        assert!(pss.memory_bytes > 0, "{pss:?}");
        let none = sample(u64::MAX, 0);
        assert_eq!(none, Usage::default(), "no process is in a bogus namespace");
    }
}
