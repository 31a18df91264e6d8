//! One run: start the sandbox (native or bubblewrap), feed it the program, watch the limits,
//! collect the outcome (and, for a program that must finish, the completion token).

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use crate::classify::{classify, decode_wait_status, Facts, Kill};
use crate::command::{above_stdio, command, ChildFds};
use crate::host::{Backend, Host};
use crate::native::{spawn as native_spawn, NativeFds};
use crate::watch::{sample, Usage};
use crate::{FailReason, Outcome, Program, SandboxConfig};

/// How often the run loop samples usage (and re-sends a kill that has not taken yet).
const TICK: Duration = Duration::from_millis(50);
/// How long to wait for the output pipes to close once the sandbox has exited.
const DRAIN: Duration = Duration::from_secs(5);

/// What the helper threads report to the run loop.
enum Event {
    /// bwrap reported the host pid of the sandbox's pid 1 and its pid namespace.
    Init { pid: i32, pid_ns: u64 },
    /// Whether the program starts (the byte arrived, or the stream ended without it).
    Started(bool),
    /// A stream went over the cap; sent once per stream.
    OutputOver,
    /// A stream is closed: which one (0 stdout, 1 stderr), the bytes kept, whether some were
    /// discarded.
    Output(usize, Vec<u8>, bool),
    /// What the init passed back on the result pipe (a program that must finish).
    Token(Vec<u8>),
    /// bwrap exited: its wait status, CPU time of it and everything it reaped, max RSS.
    Exited {
        status: i32,
        cpu_ms: u64,
        maxrss_bytes: u64,
    },
}

/// Runs `program` under `config`; never panics on program behaviour.
pub(crate) fn run(host: &Host, config: &SandboxConfig, program: &Program) -> Outcome {
    match run_inner(host, config, program) {
        Ok(outcome) => outcome,
        Err(e) => Outcome::sandbox_failure(&program.id, format!("{e}")),
    }
}

/// The started process: its pid (reaped by [`wait_exit`]) and its output streams.
struct Spawned {
    pid: i32,
    stdout: File,
    stderr: File,
}

/// The per-run completion token: what the caller expects, the read end of the pipe it went
/// into, and both ends of the result pipe.
struct Guard {
    token: Vec<u8>,
    token_r: OwnedFd,
    result_r: OwnedFd,
    result_w: OwnedFd,
}

impl Guard {
    /// 16 random bytes as hex, written into a fresh pipe (whose write end is then closed).
    fn new() -> io::Result<Self> {
        let mut raw = [0u8; 16];
        // SAFETY: getrandom fills the buffer it is given.
        let n = unsafe { libc::getrandom(raw.as_mut_ptr().cast(), raw.len(), 0) };
        if n != raw.len() as isize {
            return Err(io::Error::other("getrandom gave too few bytes"));
        }
        let token: Vec<u8> = raw
            .iter()
            .flat_map(|b| format!("{b:02x}").into_bytes())
            .collect();
        let (token_r, token_w) = pipe()?;
        File::from(token_w).write_all(&token)?;
        let (result_r, result_w) = pipe()?;
        Ok(Self {
            token,
            token_r,
            result_r,
            result_w,
        })
    }
}

fn run_inner(host: &Host, config: &SandboxConfig, program: &Program) -> io::Result<Outcome> {
    let (status_r, status_w) = pipe()?;
    let (started_r, started_w) = pipe()?;
    let guard = program.must_finish.then(Guard::new).transpose()?;
    let guard_fds = guard
        .as_ref()
        .map(|g| (g.token_r.as_raw_fd(), g.result_w.as_raw_fd()));
    let start = Instant::now();
    let spawned = match &host.backend {
        Backend::Native(native) => {
            let (out_r, out_w) = pipe()?;
            let (err_r, err_w) = pipe()?;
            let fds = NativeFds {
                stdout: out_w.as_raw_fd(),
                stderr: err_w.as_raw_fd(),
                status: status_w.as_raw_fd(),
                started: started_w.as_raw_fd(),
                token: guard_fds.map_or(-1, |g| g.0),
                result: guard_fds.map_or(-1, |g| g.1),
            };
            let pid = native_spawn(host, native, config, program, &fds)
                .map_err(|e| io::Error::new(e.kind(), format!("cannot start the sandbox: {e}")))?;
            Spawned {
                pid,
                stdout: File::from(out_r),
                stderr: File::from(err_r),
            }
        }
        Backend::Bwrap(bw) => {
            let source = memfd_with(program.source.as_bytes())?;
            let fds = ChildFds {
                source: source.as_raw_fd(),
                status: status_w.as_raw_fd(),
                started: started_w.as_raw_fd(),
                guard: guard_fds,
            };
            let mut child = command(host, bw, config, &fds)
                .spawn()
                .map_err(|e| io::Error::new(e.kind(), format!("cannot start bubblewrap: {e}")))?;
            let out = child.stdout.take().expect("stdout is piped");
            let err = child.stderr.take().expect("stderr is piped");
            let pid = child.id() as i32;
            drop(child); // reaped by `wait_exit`, not by `Child`
            Spawned {
                pid,
                stdout: File::from(OwnedFd::from(out)),
                stderr: File::from(OwnedFd::from(err)),
            }
        }
    };
    drop((status_w, started_w));
    let (expected, result_r) = match guard {
        Some(g) => {
            drop((g.token_r, g.result_w));
            (Some(g.token), Some(g.result_r))
        }
        None => (None, None),
    };
    let pid = spawned.pid;
    let mut killer = Killer::new(pid);

    let (tx, rx) = mpsc::channel();
    let cap = config.max_output_bytes;
    let (out, err) = (spawned.stdout, spawned.stderr);
    spawn_reader(tx.clone(), move |tx| capture(0, out, cap, tx));
    spawn_reader(tx.clone(), move |tx| capture(1, err, cap, tx));
    if let Some(r) = result_r {
        spawn_reader(tx.clone(), move |tx| read_token(File::from(r), tx));
    }
    spawn_reader(tx.clone(), move |tx| read_status(File::from(status_r), tx));
    spawn_reader(tx.clone(), move |tx| {
        read_started(File::from(started_r), tx)
    });
    spawn_reader(tx, move |tx| wait_exit(pid, tx));

    let State {
        kill,
        usage,
        started,
        streams: [Some((stdout, over_out)), Some((stderr, over_err))],
        exited: Some((status, cpu_ms, maxrss)),
        wall_ms,
        token,
        ..
    } = supervise(&rx, &mut killer, config, start, expected.is_some())?
    else {
        unreachable!("`supervise` waits for the exit and both streams")
    };
    let started = started == Some(true);
    let cpu_ms = cpu_ms.max(usage.cpu_ms);
    let (exit_code, signal) = decode_wait_status(status);
    let facts = Facts {
        kill,
        started,
        exit_code,
        signal,
        output_over: over_out || over_err,
        cpu_ms,
        cpu_limit_ms: config.cpu_time.as_millis() as u64,
        stderr: &stderr,
    };
    let mut reason = classify(&facts);
    if let Some(expected) = &expected {
        // Exit status 0 within every limit, but the init did not confirm that the program
        // ran to its end: it left early.
        if reason.is_none() && token.as_deref() != Some(expected.as_slice()) {
            reason = Some(FailReason::Unfinished);
        }
    }
    Ok(Outcome {
        id: program.id.clone(),
        passed: reason.is_none(),
        reason,
        exit_code,
        signal,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        truncated: over_out || over_err,
        wall_ms,
        cpu_ms,
        peak_memory_bytes: match host.backend {
            // The monitor's (and the setup process's) high-water mark is that of the caller
            // they were forked from; only the samples are the program's.
            Backend::Native(_) => usage.memory_bytes,
            Backend::Bwrap(_) => maxrss.max(usage.memory_bytes),
        },
    })
}

/// Watches one run until bwrap has exited and every reader is done: enforces the wall-clock
/// deadline and the namespace-wide CPU and memory limits, and kills on any event that calls
/// for it (output over the cap).
fn supervise(
    rx: &Receiver<Event>,
    killer: &mut Killer,
    config: &SandboxConfig,
    start: Instant,
    want_token: bool,
) -> io::Result<State> {
    let deadline = start + config.wall_time;
    let mut st = State::default();
    let mut last_sample = Instant::now();
    while st.exited.is_none() {
        let wait = match st.kill {
            Some(_) => TICK,
            None => deadline.saturating_duration_since(Instant::now()).min(TICK),
        };
        match rx.recv_timeout(wait) {
            Ok(event) => st.absorb(event, killer),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                return Err(io::Error::other("lost track of the sandbox process"));
            }
        }
        if st.kill.is_some() {
            killer.kill();
        } else if Instant::now() >= deadline {
            st.trigger(Kill::Wall, killer);
        } else if let Some(ns) = st
            .pid_ns
            // Before the program starts, the native backend's setup process is still a copy
            // of this (possibly large) process: its memory is not the program's.
            .filter(|_| st.started == Some(true) && last_sample.elapsed() >= TICK)
        {
            last_sample = Instant::now();
            st.usage = st.usage.max(sample(ns, config.memory_bytes));
            if st.usage.cpu_ms >= config.cpu_time.as_millis() as u64 {
                st.trigger(Kill::Cpu, killer);
            } else if st.usage.memory_bytes > config.memory_bytes {
                st.trigger(Kill::Memory, killer);
            }
        }
    }
    st.wall_ms = start.elapsed().as_millis() as u64;

    // The namespace is gone (its pid 1 exits only after every other process in it), so the
    // pipes close: wait for what the readers kept.
    let drain_until = Instant::now() + DRAIN;
    while st.streams.iter().any(Option::is_none)
        || st.started.is_none()
        || (want_token && st.token.is_none())
    {
        match rx.recv_timeout(drain_until.saturating_duration_since(Instant::now())) {
            Ok(event) => st.absorb(event, killer),
            Err(_) => {
                killer.kill();
                return Err(io::Error::other(
                    "the sandbox exited but its pipes stayed open",
                ));
            }
        }
    }
    Ok(st)
}

/// What the run loop has learnt so far.
#[derive(Default)]
struct State {
    kill: Option<Kill>,
    usage: Usage,
    pid_ns: Option<u64>,
    started: Option<bool>,
    streams: [Option<(Vec<u8>, bool)>; 2],
    exited: Option<(i32, u64, u64)>,
    wall_ms: u64,
    token: Option<Vec<u8>>,
}

impl State {
    fn absorb(&mut self, event: Event, killer: &mut Killer) {
        match event {
            Event::Init { pid, pid_ns } => {
                killer.set_init(pid, pid_ns);
                self.pid_ns = Some(pid_ns);
            }
            Event::Started(s) => self.started = Some(s),
            Event::OutputOver => self.trigger(Kill::Output, killer),
            Event::Output(i, bytes, over) => self.streams[i] = Some((bytes, over)),
            Event::Token(bytes) => self.token = Some(bytes),
            Event::Exited {
                status,
                cpu_ms,
                maxrss_bytes,
            } => self.exited = Some((status, cpu_ms, maxrss_bytes)),
        }
    }

    /// Kills the sandbox; the first reason sticks.
    fn trigger(&mut self, why: Kill, killer: &Killer) {
        self.kill.get_or_insert(why);
        killer.kill();
    }
}

impl Outcome {
    /// A failure before the program could run.
    pub(crate) fn sandbox_failure(id: &str, why: String) -> Outcome {
        Outcome {
            id: id.to_string(),
            passed: false,
            reason: Some(FailReason::Sandbox(why)),
            exit_code: None,
            signal: None,
            stdout: String::new(),
            stderr: String::new(),
            truncated: false,
            wall_ms: 0,
            cpu_ms: 0,
            peak_memory_bytes: 0,
        }
    }
}

fn spawn_reader(tx: Sender<Event>, f: impl FnOnce(&Sender<Event>) + Send + 'static) {
    thread::spawn(move || f(&tx));
}

/// Keeps the first `cap` bytes of a stream and drains the rest.
fn capture(which: usize, mut r: impl Read, cap: usize, tx: &Sender<Event>) {
    let (mut kept, mut over) = (Vec::new(), false);
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let room = cap - kept.len();
        kept.extend_from_slice(&buf[..n.min(room)]);
        if n > room && !over {
            over = true;
            let _ = tx.send(Event::OutputOver);
        }
    }
    let _ = tx.send(Event::Output(which, kept, over));
}

/// Reads bwrap's first status document (`child-pid`, `pid-namespace`), then drains the pipe
/// (closing it early would kill bwrap with SIGPIPE when it reports the exit code).
fn read_status(file: File, tx: &Sender<Event>) {
    let mut reader = BufReader::new(file);
    let first = serde_json::Deserializer::from_reader(&mut reader)
        .into_iter::<serde_json::Value>()
        .next();
    if let Some(Ok(v)) = first {
        if let (Some(pid), Some(ns)) = (v["child-pid"].as_i64(), v["pid-namespace"].as_u64()) {
            let _ = tx.send(Event::Init {
                pid: pid as i32,
                pid_ns: ns,
            });
        }
    }
    let _ = io::copy(&mut reader, &mut io::sink());
}

/// Reports, at end of stream, whether the launcher wrote its byte.
/// Reports, as soon as the byte arrives (or at end of stream without it), whether the
/// program starts.
fn read_started(mut file: File, tx: &Sender<Event>) {
    let mut byte = [0u8; 1];
    let started = loop {
        match file.read(&mut byte) {
            Ok(n) => break n == 1,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break false,
        }
    };
    let _ = tx.send(Event::Started(started));
}

/// Reads the result pipe to its end (at most 256 bytes kept).
fn read_token(file: File, tx: &Sender<Event>) {
    let mut kept = Vec::new();
    let _ = file.take(256).read_to_end(&mut kept);
    let _ = tx.send(Event::Token(kept));
}

/// Reaps bwrap and reports its status and the CPU time of it and all it reaped.
fn wait_exit(pid: i32, tx: &Sender<Event>) {
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to locals.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        if r < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        return; // the loop sees the channel disconnect
    }
    let ms = |t: libc::timeval| t.tv_sec as u64 * 1000 + t.tv_usec as u64 / 1000;
    let _ = tx.send(Event::Exited {
        status,
        cpu_ms: ms(ru.ru_utime) + ms(ru.ru_stime),
        maxrss_bytes: ru.ru_maxrss.max(0) as u64 * 1024,
    });
}

/// Kills the sandbox: SIGKILL to its pid 1 takes the whole pid namespace down at once; before
/// pid 1 is known, SIGKILL to bwrap (whose child then dies through `--die-with-parent`).
/// Both go through pidfds, so a recycled pid is never hit.
struct Killer {
    monitor: Option<OwnedFd>,
    monitor_pid: i32,
    init: Option<OwnedFd>,
}

impl Killer {
    fn new(monitor_pid: i32) -> Self {
        Self {
            monitor: pidfd_open(monitor_pid),
            monitor_pid,
            init: None,
        }
    }

    /// Remembers pid 1 if `pid` is still in namespace `pid_ns` once its pidfd is held.
    fn set_init(&mut self, pid: i32, pid_ns: u64) {
        let Some(fd) = pidfd_open(pid) else { return };
        let link = std::fs::read_link(format!("/proc/{pid}/ns/pid"));
        if link.is_ok_and(|l| l.as_os_str() == format!("pid:[{pid_ns}]").as_str()) {
            self.init = Some(fd);
        }
    }

    fn kill(&self) {
        match (&self.init, &self.monitor) {
            (Some(fd), _) | (None, Some(fd)) => pidfd_kill(fd),
            // SAFETY: the pid is our unreaped child (no pidfd support).
            (None, None) => unsafe {
                libc::kill(self.monitor_pid, libc::SIGKILL);
            },
        }
    }
}

fn pidfd_open(pid: i32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags; the result is a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    // SAFETY: a non-negative result is a fresh descriptor owned by nobody else.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn pidfd_kill(fd: &OwnedFd) {
    let null = std::ptr::null::<libc::siginfo_t>();
    // SAFETY: a valid pidfd, a signal number, no siginfo, no flags.
    unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            libc::SIGKILL,
            null,
            0,
        )
    };
}

/// An anonymous in-memory file holding `bytes`, positioned at its start.
fn memfd_with(bytes: &[u8]) -> io::Result<OwnedFd> {
    // SAFETY: a NUL-terminated name and flags; the result is a new fd or -1.
    let fd = unsafe { libc::memfd_create(c"spillover-program".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor owned by nobody else.
    let mut file = File::from(above_stdio(unsafe { OwnedFd::from_raw_fd(fd) })?);
    file.write_all(bytes)?;
    file.rewind()?;
    Ok(file.into())
}

/// A close-on-exec pipe: (read end, write end).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both descriptors are fresh and owned by nobody else.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((above_stdio(r)?, above_stdio(w)?))
}
