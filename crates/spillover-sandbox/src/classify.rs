//! From what was observed about a run to its [`FailReason`].

use crate::FailReason;

/// Why the supervisor killed a sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kill {
    /// The wall-clock limit passed.
    Wall,
    /// The namespace-wide CPU time reached the limit.
    Cpu,
    /// The namespace-wide resident memory went over the limit.
    Memory,
    /// stdout or stderr went over the output cap.
    Output,
}

/// What is known about a finished run.
#[derive(Debug)]
pub(crate) struct Facts<'a> {
    /// Set when the supervisor killed the sandbox (the first reason).
    pub kill: Option<Kill>,
    /// Whether the launcher reached the program (false: bubblewrap itself failed).
    pub started: bool,
    /// The program's exit status, when it exited.
    pub exit_code: Option<i32>,
    /// The signal that ended the program, when one did.
    pub signal: Option<i32>,
    /// Whether stdout or stderr went over the cap.
    pub output_over: bool,
    /// CPU time used by all processes of the run.
    pub cpu_ms: u64,
    /// The CPU time limit.
    pub cpu_limit_ms: u64,
    /// The captured stderr.
    pub stderr: &'a [u8],
}

/// bwrap's wait status as (exit code, signal). bwrap reports a program killed by signal `n`
/// as exit code `128 + n`, as shells do; codes 129..=192 are therefore read as signals.
pub(crate) fn decode_wait_status(status: i32) -> (Option<i32>, Option<i32>) {
    if libc::WIFSIGNALED(status) {
        return (None, Some(libc::WTERMSIG(status)));
    }
    match libc::WEXITSTATUS(status) {
        code @ 129..=192 => (None, Some(code - 128)),
        code => (Some(code), None),
    }
}

/// The failure reason, or `None` for a program that exited 0 within every limit.
pub(crate) fn classify(f: &Facts) -> Option<FailReason> {
    if !f.started {
        let why = match f.kill {
            Some(Kill::Wall) => "it did not start the program within the wall-time limit".into(),
            _ => format!(
                "it failed before starting the program: {}",
                last_line(f.stderr)
            ),
        };
        return Some(FailReason::Sandbox(why));
    }
    if f.output_over {
        return Some(FailReason::OutputLimit);
    }
    match f.kill {
        Some(Kill::Wall) => return Some(FailReason::Timeout),
        Some(Kill::Cpu) => return Some(FailReason::CpuTime),
        Some(Kill::Memory) => return Some(FailReason::Memory),
        Some(Kill::Output) => return Some(FailReason::OutputLimit),
        None => {}
    }
    match (f.exit_code, f.signal) {
        (_, Some(libc::SIGXCPU)) => Some(FailReason::CpuTime),
        (_, Some(libc::SIGKILL)) if f.cpu_ms >= f.cpu_limit_ms => Some(FailReason::CpuTime),
        (_, Some(sig)) => Some(FailReason::Signal(sig)),
        (Some(0), None) => None,
        (Some(_), None) if last_line(f.stderr).starts_with("MemoryError") => {
            Some(FailReason::Memory)
        }
        (Some(code), None) => Some(FailReason::Exit(code)),
        (None, None) => Some(FailReason::Sandbox("no exit status".into())),
    }
}

/// The last non-blank line of `bytes`, trimmed.
fn last_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().rev().find(|l| !l.trim().is_empty());
    line.unwrap_or("").trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(exit_code: Option<i32>, signal: Option<i32>) -> Facts<'static> {
        Facts {
            kill: None,
            started: true,
            exit_code,
            signal,
            output_over: false,
            cpu_ms: 10,
            cpu_limit_ms: 1000,
            stderr: b"",
        }
    }

    #[test]
    fn exit_statuses_decode_like_a_shell() {
        let exited = |code: i32| code << 8;
        assert_eq!(decode_wait_status(exited(0)), (Some(0), None));
        assert_eq!(decode_wait_status(exited(3)), (Some(3), None));
        assert_eq!(decode_wait_status(exited(128)), (Some(128), None));
        assert_eq!(decode_wait_status(exited(137)), (None, Some(9)));
        assert_eq!(decode_wait_status(exited(152)), (None, Some(24)));
        assert_eq!(decode_wait_status(exited(255)), (Some(255), None));
        assert_eq!(decode_wait_status(libc::SIGKILL), (None, Some(9)));
    }

    #[test]
    fn only_a_clean_exit_passes() {
        assert_eq!(classify(&facts(Some(0), None)), None);
        assert_eq!(classify(&facts(Some(3), None)), Some(FailReason::Exit(3)));
        assert_eq!(
            classify(&facts(None, Some(11))),
            Some(FailReason::Signal(11))
        );
        let over = Facts {
            output_over: true,
            ..facts(Some(0), None)
        };
        assert_eq!(classify(&over), Some(FailReason::OutputLimit));
    }

    #[test]
    fn supervisor_kills_name_the_limit() {
        for (kill, reason) in [
            (Kill::Wall, FailReason::Timeout),
            (Kill::Cpu, FailReason::CpuTime),
            (Kill::Memory, FailReason::Memory),
            (Kill::Output, FailReason::OutputLimit),
        ] {
            let f = Facts {
                kill: Some(kill),
                ..facts(None, Some(9))
            };
            assert_eq!(classify(&f), Some(reason));
        }
    }

    #[test]
    fn rlimit_deaths_are_recognised() {
        assert_eq!(classify(&facts(None, Some(24))), Some(FailReason::CpuTime));
        let hard_cpu = Facts {
            cpu_ms: 1000,
            ..facts(None, Some(9))
        };
        assert_eq!(classify(&hard_cpu), Some(FailReason::CpuTime));
        assert_eq!(classify(&facts(None, Some(9))), Some(FailReason::Signal(9)));
        let oom = Facts {
            stderr: b"Traceback (most recent call last):\n  ...\nMemoryError\n\n",
            ..facts(Some(1), None)
        };
        assert_eq!(classify(&oom), Some(FailReason::Memory));
    }

    #[test]
    fn a_program_that_never_started_is_a_sandbox_failure() {
        let f = Facts {
            started: false,
            stderr: b"bwrap: Can't find source path /x: No such file or directory\n",
            ..facts(Some(1), None)
        };
        let Some(FailReason::Sandbox(why)) = classify(&f) else {
            panic!("expected a sandbox failure")
        };
        assert!(why.contains("Can't find source path /x"), "{why}");
    }
}
