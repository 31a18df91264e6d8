//! Hostile programs that attack the host's resources (processes, CPU, memory, output, time)
//! are stopped with the right reason, and nothing of them outlives the run.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{assert_failed, assert_raised, sandbox, short, Host};
use spillover_sandbox::FailReason;

#[test]
fn classic_fork_bomb_is_capped_and_the_host_can_still_fork() {
    let host = Host::new("forkbomb");
    let sb = short();
    let program = host.program("while True:\n    _os.fork()\n");
    let outcome = std::thread::scope(|s| {
        let run = s.spawn(|| sb.run(&program));
        // While the bomb runs the host still starts processes.
        let t = Instant::now();
        while !run.is_finished() && t.elapsed() < Duration::from_secs(2) {
            let status = Command::new("/bin/true").status().expect("host can fork");
            assert!(status.success());
            std::thread::sleep(Duration::from_millis(100));
        }
        run.join().unwrap()
    });
    // Every bomb process dies on its first refused fork, the first one included: exit 1
    // with BlockingIOError, unless the refusals never hit it before the wall-clock limit.
    assert!(!outcome.passed);
    match outcome.reason {
        Some(FailReason::Exit(1)) => assert!(outcome.stderr.contains("BlockingIOError")),
        Some(FailReason::Timeout) => {}
        ref other => panic!("unexpected reason {other:?}: {outcome:#?}"),
    }
    host.assert_unchanged(&outcome);
}

#[test]
fn persistent_fork_bomb_never_exceeds_the_process_limit() {
    let host = Host::new("forkbomb2");
    let sb = sandbox(|c| {
        c.wall_time = Duration::from_secs(3);
        c.max_processes = 20;
    });
    let body = "\
import time
root = _os.getpid()
while True:
    try:
        _os.fork()
    except OSError:
        break
if _os.getpid() == root:
    peak = 0
    for _ in range(20):
        peak = max(peak, sum(1 for p in _os.listdir('/proc') if p.isdigit()))
        time.sleep(0.02)
    print('peak', peak, flush=True)
while True:
    try:
        _os.fork()
    except OSError:
        time.sleep(0.01)
";
    let outcome = sb.run(&host.program(body));
    assert_failed(&outcome, FailReason::Timeout);
    let peak: u32 = outcome
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("peak "))
        .expect("the first process reports the peak")
        .parse()
        .unwrap();
    // The program's processes plus bwrap's pid 1.
    assert!(peak <= 20 + 1, "{peak} processes: {outcome:#?}");
    assert!(peak >= 10, "the bomb did fork ({peak})");
    host.assert_unchanged(&outcome);
}

#[test]
fn infinite_loop_hits_the_wall_clock_limit() {
    let host = Host::new("loop");
    let sb = sandbox(|c| c.wall_time = Duration::from_secs(2));
    let outcome = sb.run(&host.program("while True:\n    pass\n"));
    assert_failed(&outcome, FailReason::Timeout);
    assert!(outcome.wall_ms >= 2000, "{outcome:#?}");
    assert_eq!(outcome.signal, Some(9), "killed with SIGKILL");
    host.assert_unchanged(&outcome);
}

#[test]
fn cpu_burning_threads_hit_the_cpu_limit() {
    let host = Host::new("threads");
    let sb = sandbox(|c| {
        c.wall_time = Duration::from_secs(30);
        c.cpu_time = Duration::from_secs(1);
    });
    let body = "\
import threading
def burn():
    while True:
        pass
for _ in range(4):
    threading.Thread(target=burn).start()
burn()
";
    let outcome = sb.run(&host.program(body));
    assert_failed(&outcome, FailReason::CpuTime);
    // The kernel's RLIMIT_CPU check (SIGXCPU) uses tick-sampled time, the reported time is the
    // scheduler's exact runtime: with five threads they can differ by a tenth of a second.
    assert!(outcome.cpu_ms >= 500, "{outcome:#?}");
    host.assert_unchanged(&outcome);
}

#[test]
fn cpu_burning_processes_hit_the_namespace_wide_cpu_limit() {
    let host = Host::new("burners");
    let sb = sandbox(|c| {
        c.wall_time = Duration::from_secs(30);
        c.cpu_time = Duration::from_secs(2);
    });
    // Eight processes share the CPU: none reaches 2 s on its own before all of them
    // together do.
    let body = "\
for _ in range(7):
    if _os.fork() == 0:
        break
while True:
    pass
";
    let outcome = sb.run(&host.program(body));
    assert_failed(&outcome, FailReason::CpuTime);
    assert!(outcome.cpu_ms >= 2000, "{outcome:#?}");
    host.assert_unchanged(&outcome);
}

#[test]
fn one_huge_allocation_is_a_memory_failure() {
    let host = Host::new("bigalloc");
    let outcome = short().run(&host.program("x = bytearray(4 << 30)\n"));
    assert_failed(&outcome, FailReason::Memory);
    assert!(outcome.stderr.contains("MemoryError"), "{outcome:#?}");
    host.assert_unchanged(&outcome);
}

#[test]
fn growing_memory_is_a_memory_failure() {
    let host = Host::new("grow");
    let body = "chunks = []\nwhile True:\n    chunks.append(b'x' * (8 << 20))\n";
    let outcome = short().run(&host.program(body));
    assert_failed(&outcome, FailReason::Memory);
    assert!(outcome.peak_memory_bytes > 256 << 20, "{outcome:#?}");
    host.assert_unchanged(&outcome);
}

#[test]
fn memory_spread_over_processes_is_capped_as_a_whole() {
    let host = Host::new("forkmem");
    let sb = sandbox(|c| c.wall_time = Duration::from_secs(20));
    // Each child stays under the per-process limit (512 MiB); together they do not.
    let body = "\
import time
for _ in range(6):
    if _os.fork() == 0:
        data = b'x' * (200 << 20)
        time.sleep(600)
time.sleep(600)
";
    let outcome = sb.run(&host.program(body));
    assert_failed(&outcome, FailReason::Memory);
    assert!(outcome.peak_memory_bytes > 512 << 20, "{outcome:#?}");
    host.assert_unchanged(&outcome);
}

#[test]
fn huge_output_is_cut_at_the_cap_and_stopped() {
    let host = Host::new("output");
    let sb = sandbox(|c| c.max_output_bytes = 10_000);
    let outcome = sb.run(&host.program("while True:\n    print('y' * 1000)\n"));
    assert_failed(&outcome, FailReason::OutputLimit);
    assert!(outcome.truncated);
    assert_eq!(outcome.stdout.len(), 10_000);
    host.assert_unchanged(&outcome);
}

#[test]
fn huge_stderr_is_cut_too() {
    let host = Host::new("stderr");
    let sb = sandbox(|c| c.max_output_bytes = 4096);
    let body = "import sys\nwhile True:\n    sys.stderr.write('z' * 999)\n";
    let outcome = sb.run(&host.program(body));
    assert_failed(&outcome, FailReason::OutputLimit);
    assert!(
        outcome.truncated && outcome.stderr.len() == 4096,
        "{outcome:#?}"
    );
    host.assert_unchanged(&outcome);
}

#[test]
fn sleeping_past_the_wall_time_with_sigterm_ignored_is_killed() {
    let host = Host::new("sleeper");
    let sb = sandbox(|c| c.wall_time = Duration::from_secs(1));
    let body = "\
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGINT, signal.SIG_IGN)
time.sleep(3600)
";
    let outcome = sb.run(&host.program(body));
    assert_failed(&outcome, FailReason::Timeout);
    host.assert_unchanged(&outcome);
}

#[test]
fn a_daemon_that_tries_to_outlive_the_run_dies_with_it() {
    let host = Host::new("daemon");
    let body = format!(
        "\
import sys, time
if _os.fork() == 0:
    _os.setsid()
    if _os.fork() == 0:
        _os.execv('/usr/bin/sleep', ['{m}-daemon', '3600'])
    _os._exit(0)
for _ in range(100):
    cmds = []
    for p in _os.listdir('/proc'):
        try:
            cmds.append(open('/proc/%s/cmdline' % p, 'rb').read())
        except OSError:
            pass
    if any(b'{m}-daemon' in c for c in cmds):
        print('daemon alive', flush=True)
        break
    time.sleep(0.05)
sys.exit(9)
",
        m = host.marker
    );
    let outcome = short().run(&host.program(&body));
    assert_failed(&outcome, FailReason::Exit(9));
    assert!(outcome.stdout.contains("daemon alive"), "{outcome:#?}");
    host.assert_unchanged(&outcome);
}

#[test]
fn filling_the_private_tmp_stops_at_its_size() {
    let host = Host::new("diskfill");
    let sb = sandbox(|c| c.tmp_bytes = 8 << 20);
    let body = "\
with open('/tmp/fill', 'wb') as f:
    while True:
        f.write(b'x' * (1 << 20))
";
    let outcome = sb.run(&host.program(body));
    assert_raised(&outcome, &["No space left on device"]);
    host.assert_unchanged(&outcome);
}

#[test]
fn dev_is_read_only_without_ptys_and_dev_shm_is_bounded() {
    let host = Host::new("devfill");
    let sb = sandbox(|c| c.tmp_bytes = 8 << 20);
    let body = "\
try:
    open('/dev/fill', 'wb').write(b'x')
except OSError as e:
    print('dev:', e.strerror, flush=True)
try:
    _os.openpty()
except OSError as e:
    print('pty:', e.strerror, flush=True)
with open('/dev/shm/fill', 'wb') as f:
    while True:
        f.write(b'x' * (1 << 20))
";
    let outcome = sb.run(&host.program(body));
    assert_raised(&outcome, &["No space left on device"]);
    assert!(
        outcome.stdout.contains("dev: Read-only file system"),
        "{outcome:#?}"
    );
    assert!(outcome.stdout.contains("pty: No such file"), "{outcome:#?}");
    host.assert_unchanged(&outcome);
}
