//! Runs untrusted Python programs (model-written code) so that they cannot harm the host.
//!
//! Each [`Program`] runs in its own sandbox, built by this crate (or, with
//! `SPILLOVER_SANDBOX=bwrap`, by bubblewrap): new user, pid, network, ipc, uts and cgroup
//! namespaces; a seccomp filter; Landlock; a read-only view of `/usr` and the Python prefix only; a private,
//! size-limited `/tmp` as working directory, `$HOME` and `$TMPDIR`; a fixed environment;
//! stdin on `/dev/null`; uid `nobody`; limits on wall time, CPU time, memory, processes and
//! output. See `docs/sandbox.md` for the threat model and each layer.
//!
//! ```no_run
//! use spillover_sandbox::{Program, Sandbox, SandboxConfig};
//! let sandbox = Sandbox::new(SandboxConfig::default())?;
//! let outcome = sandbox.run(&Program::new("demo", "print(sum(range(10)))"));
//! assert!(outcome.passed && outcome.stdout.trim() == "45");
//! # Ok::<(), spillover_sandbox::SandboxError>(())
//! ```

mod classify;
mod command;
mod error;
mod host;
pub mod humaneval;
mod kernel;
mod mounts;
mod native;
mod run;
mod seccomp;
mod watch;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use error::SandboxError;
pub use host::{find_bwrap, BACKEND_VAR};
pub use humaneval::humaneval_program;
pub use seccomp::DENIED as DENIED_SYSCALLS;

/// Limits and parallelism of a [`Sandbox`].
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxConfig {
    /// Wall-clock limit per program, from start to exit.
    pub wall_time: Duration,
    /// CPU time (user + system) limit per program, summed over all its processes and threads.
    pub cpu_time: Duration,
    /// Memory limit: each process's address space, and the resident memory of all the
    /// program's processes together.
    pub memory_bytes: u64,
    /// Processes and threads the program may have at once (its first process included).
    pub max_processes: u32,
    /// Bytes kept of each of stdout and stderr; a program that writes more is stopped and
    /// fails with [`FailReason::OutputLimit`].
    pub max_output_bytes: usize,
    /// Programs run at once by [`Sandbox::run_all`].
    pub parallelism: usize,
    /// Size of the private `/tmp`, and separately of `/dev/shm` (tmpfs: they count against
    /// host memory, not against `memory_bytes`).
    pub tmp_bytes: u64,
    /// The Python interpreter to use (default: `python3` on PATH, e.g. a pyenv shim, resolved
    /// once to the real interpreter).
    pub python: Option<PathBuf>,
}

impl Default for SandboxConfig {
    /// 10 s wall, 10 s CPU, 512 MiB, 32 processes, 64 KiB of output, one program per core,
    /// 64 MiB of `/tmp`.
    fn default() -> Self {
        Self {
            wall_time: Duration::from_secs(10),
            cpu_time: Duration::from_secs(10),
            memory_bytes: 512 << 20,
            max_processes: 32,
            max_output_bytes: 64 << 10,
            parallelism: std::thread::available_parallelism().map_or(1, |n| n.get()),
            tmp_bytes: 64 << 20,
            python: None,
        }
    }
}

impl SandboxConfig {
    /// Checks every field; the error names the field and what is expected.
    pub fn validate(&self) -> Result<(), SandboxError> {
        let bad = |key, reason: &str| {
            Err(SandboxError::Config {
                key,
                reason: reason.into(),
            })
        };
        if self.wall_time.is_zero() {
            return bad("wall_time", "must be positive");
        }
        if self.cpu_time.is_zero() {
            return bad("cpu_time", "must be positive");
        }
        if self.memory_bytes < 16 << 20 {
            return bad(
                "memory_bytes",
                "must be at least 16 MiB (Python needs that to start)",
            );
        }
        if self.max_processes == 0 {
            return bad("max_processes", "must be at least 1");
        }
        if self.parallelism == 0 {
            return bad("parallelism", "must be at least 1");
        }
        if self.tmp_bytes < 4096 {
            return bad("tmp_bytes", "must be at least 4096");
        }
        Ok(())
    }
}

/// A Python program: its source is written to a read-only file and run with `python3 FILE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    /// Identifies the program in its [`Outcome`] (e.g. a dataset item id).
    pub id: String,
    /// Python source.
    pub source: String,
    /// Pass only if the program ran to its end: `sys.exit`, `SystemExit` or `os._exit`
    /// before the last statement is [`FailReason::Unfinished`] even with status 0. The
    /// sandbox's init, not the program, confirms it with a secret token (see
    /// `docs/sandbox.md`). Set by [`humaneval_program`].
    #[serde(default)]
    pub must_finish: bool,
}

impl Program {
    /// A program with this id and source (status 0 passes).
    pub fn new(id: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            source: source.into(),
            must_finish: false,
        }
    }

    /// A program that passes only if it runs to its end (see [`Program::must_finish`]).
    pub fn must_finish(id: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            must_finish: true,
            ..Self::new(id, source)
        }
    }
}

/// Why a program did not pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum FailReason {
    /// It exited with this non-zero status (an uncaught exception gives 1).
    Exit(i32),
    /// It ran past the wall-clock limit and was killed.
    Timeout,
    /// It used up its CPU time and was killed.
    CpuTime,
    /// It ran out of memory (a `MemoryError` under the address-space limit, or the resident
    /// memory of all its processes together went over the limit and it was killed).
    Memory,
    /// A signal ended it (a crash, or a signal it sent itself).
    Signal(i32),
    /// It wrote more than the output cap to stdout or stderr and was killed.
    OutputLimit,
    /// The sandbox itself failed; the program may not have run.
    Sandbox(String),
    /// A program that must finish ([`Program::must_finish`]) ended before its last
    /// statement (`sys.exit`, `SystemExit`, `os._exit`…), whatever its exit status.
    Unfinished,
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exit(code) => write!(f, "exited with status {code}"),
            Self::Timeout => write!(f, "killed: wall-clock time limit exceeded"),
            Self::CpuTime => write!(f, "killed: CPU time limit exceeded"),
            Self::Memory => write!(f, "out of memory: memory limit exceeded"),
            Self::Signal(sig) => write!(f, "killed by signal {sig}{}", signal_name(*sig)),
            Self::OutputLimit => write!(f, "killed: output limit exceeded (excess discarded)"),
            Self::Sandbox(why) => write!(f, "sandbox failure: {why}"),
            Self::Unfinished => write!(
                f,
                "ended before its checks ran to the end (exit, SystemExit or os._exit)"
            ),
        }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGABRT => " (SIGABRT)",
        libc::SIGBUS => " (SIGBUS)",
        libc::SIGFPE => " (SIGFPE)",
        libc::SIGILL => " (SIGILL)",
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGTERM => " (SIGTERM)",
        libc::SIGXCPU => " (SIGXCPU)",
        libc::SIGXFSZ => " (SIGXFSZ)",
        _ => "",
    }
}

/// The result of running one [`Program`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The program's id.
    pub id: String,
    /// Exit status 0, within every limit.
    pub passed: bool,
    /// Why it did not pass (`None` exactly when `passed`).
    pub reason: Option<FailReason>,
    /// The exit status, when the program exited by itself.
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did (supervisor kills are SIGKILL).
    pub signal: Option<i32>,
    /// The first `max_output_bytes` of stdout (invalid UTF-8 replaced).
    pub stdout: String,
    /// The first `max_output_bytes` of stderr (invalid UTF-8 replaced).
    pub stderr: String,
    /// Whether output beyond the cap was discarded.
    pub truncated: bool,
    /// Wall-clock time from start to exit.
    pub wall_ms: u64,
    /// CPU time of all the program's processes.
    pub cpu_ms: u64,
    /// The largest resident memory seen: of all the program's processes together, sampled
    /// every 50 ms (under bubblewrap, also the largest single process's high-water mark).
    pub peak_memory_bytes: u64,
}

/// Runs programs in sandboxes. Build once, run many (from any number of threads).
pub struct Sandbox {
    config: SandboxConfig,
    host: host::Host,
    pool: rayon::ThreadPool,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("config", &self.config)
            .field("host", &self.host)
            .finish()
    }
}

impl Sandbox {
    /// Finds the real Python interpreter, checks the backend (`SPILLOVER_SANDBOX`: unset or
    /// `native` for the built-in one, `bwrap` for bubblewrap) and that a trivial program runs
    /// and prints what it should. A kernel without what the backend needs is an error naming
    /// it ([`SandboxError::Unsupported`]).
    pub fn new(config: SandboxConfig) -> Result<Self, SandboxError> {
        config.validate()?;
        let backend = std::env::var_os(BACKEND_VAR);
        let host = host::Host::discover(config.python.as_deref(), backend.as_deref())?;
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.parallelism)
            .thread_name(|i| format!("sandbox-{i}"))
            .build()
            .map_err(|e| {
                SandboxError::io("starting the sandbox threads", std::io::Error::other(e))
            })?;
        let sandbox = Self { config, host, pool };
        // The configured limits, except a generous wall time: a busy machine is no reason
        // to refuse to build.
        let relaxed = SandboxConfig {
            wall_time: sandbox.config.wall_time.max(Duration::from_secs(30)),
            ..sandbox.config.clone()
        };
        let program = Program::new("self-test", "print(6 * 7)");
        let check = run::run(&sandbox.host, &relaxed, &program);
        if !check.passed || check.stdout.trim() != "42" {
            let reason = match &check.reason {
                Some(r) => r.to_string(),
                None => format!("it printed {:?} instead of 42", check.stdout),
            };
            return Err(SandboxError::SelfTest {
                reason,
                stderr: check.stderr,
            });
        }
        Ok(sandbox)
    }

    /// The configuration.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// The backend in use: `native` or `bwrap`.
    pub fn backend(&self) -> &'static str {
        match self.host.backend {
            host::Backend::Native(_) => "native",
            host::Backend::Bwrap(_) => "bwrap",
        }
    }

    /// The real interpreter programs run with.
    pub fn python(&self) -> &Path {
        &self.host.python
    }

    /// Runs one program to completion (or to a limit).
    pub fn run(&self, program: &Program) -> Outcome {
        run::run(&self.host, &self.config, program)
    }

    /// Runs programs `parallelism` at a time; outcomes are in input order.
    pub fn run_all(&self, programs: &[Program]) -> Vec<Outcome> {
        self.pool
            .install(|| programs.par_iter().map(|p| self.run(p)).collect())
    }
}
