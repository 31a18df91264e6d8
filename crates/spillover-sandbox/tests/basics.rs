//! Ordinary programs: passing, failing, output, stdin, the private /tmp, ordering of
//! `run_all`, configuration errors and serialisation.

mod common;

use std::time::Duration;

use common::{assert_failed, assert_raised, sandbox};
use spillover_sandbox::{FailReason, Program, Sandbox, SandboxConfig, SandboxError};

fn default_sandbox() -> Sandbox {
    sandbox(|_| {})
}

#[test]
fn a_normal_program_passes_and_its_stdout_comes_back() {
    let sb = default_sandbox();
    let outcome = sb.run(&Program::new("sum", "print(sum(range(101)))\n"));
    assert!(outcome.passed, "{outcome:#?}");
    assert_eq!(outcome.reason, None);
    assert_eq!(outcome.exit_code, Some(0));
    assert_eq!(outcome.signal, None);
    assert_eq!(outcome.stdout, "5050\n");
    assert_eq!(outcome.stderr, "");
    assert!(!outcome.truncated);
    assert_eq!(outcome.id, "sum");
}

#[test]
fn exit_code_3_is_reported_as_exit_3() {
    let sb = default_sandbox();
    let outcome = sb.run(&Program::new(
        "three",
        "import sys\nprint('bye')\nsys.exit(3)\n",
    ));
    assert_failed(&outcome, FailReason::Exit(3));
    assert_eq!(outcome.exit_code, Some(3));
    assert_eq!(outcome.stdout, "bye\n");
    assert_eq!(FailReason::Exit(3).to_string(), "exited with status 3");
}

#[test]
fn an_uncaught_exception_is_exit_1_with_its_traceback() {
    let sb = default_sandbox();
    let outcome = sb.run(&Program::new(
        "boom",
        "def f():\n    raise ValueError('nope')\nf()\n",
    ));
    assert_raised(&outcome, &["ValueError: nope"]);
    assert!(outcome.stderr.contains("Traceback"), "{outcome:#?}");
}

#[test]
fn a_crash_is_reported_as_its_signal() {
    let sb = default_sandbox();
    let outcome = sb.run(&Program::new(
        "segv",
        "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n",
    ));
    assert_failed(&outcome, FailReason::Signal(11));
    assert_eq!(outcome.signal, Some(11));
    assert!(FailReason::Signal(11).to_string().contains("SIGSEGV"));
}

#[test]
fn stdin_is_closed() {
    let sb = sandbox(|c| c.wall_time = Duration::from_secs(5));
    let outcome = sb.run(&Program::new(
        "stdin",
        "import sys\nprint(repr(sys.stdin.read()))\ninput()\n",
    ));
    assert_raised(&outcome, &["EOFError"]);
    assert_eq!(outcome.stdout, "''\n");
}

#[test]
fn the_program_runs_unprivileged_in_a_private_writable_tmp() {
    let sb = default_sandbox();
    let body = "\
import os, tempfile
print(os.getuid(), os.getgid(), os.getcwd(), os.environ['HOME'], tempfile.gettempdir())
with tempfile.NamedTemporaryFile('w', delete=False) as f:
    f.write('scratch')
print(open(f.name).read(), open('/proc/self/status').read().split('NoNewPrivs:')[1].split()[0])
";
    let outcome = sb.run(&Program::new("tmp", body));
    assert!(outcome.passed, "{outcome:#?}");
    assert_eq!(outcome.stdout, "65534 65534 /tmp /tmp /tmp\nscratch 1\n");
}

#[test]
fn each_program_gets_a_fresh_tmp() {
    let sb = default_sandbox();
    let write = Program::new("w", "open('/tmp/left-behind', 'w').write('x')\n");
    assert!(sb.run(&write).passed);
    let look = sb.run(&Program::new("r", "import os\nprint(os.listdir('/tmp'))\n"));
    assert_eq!(look.stdout, "[]\n", "{look:#?}");
}

#[test]
fn run_all_keeps_input_order() {
    let sb = sandbox(|c| c.parallelism = 3);
    // Later programs finish first.
    let programs: Vec<Program> = (0..6)
        .map(|i| {
            let source = format!(
                "import time\ntime.sleep({})\nprint({i})\n",
                (6 - i) as f64 * 0.1
            );
            Program::new(format!("p{i}"), source)
        })
        .collect();
    let outcomes = sb.run_all(&programs);
    assert_eq!(outcomes.len(), 6);
    for (i, o) in outcomes.iter().enumerate() {
        assert_eq!(o.id, format!("p{i}"));
        assert!(o.passed, "{o:#?}");
        assert_eq!(o.stdout, format!("{i}\n"));
    }
}

#[test]
fn an_interpreter_under_usr_works_too() {
    // The default interpreter here is a pyenv build under /root (reached through a cover);
    // Debian's own python3 exercises the plain path. Where it is absent, the default
    // interpreter is usually that very python3.
    let python = std::path::Path::new("/usr/bin/python3");
    if !python.exists() {
        println!("skipped: /usr/bin/python3 is absent");
        return;
    }
    let sb = sandbox(|c| c.python = Some(python.into()));
    assert!(sb.python().starts_with("/usr"), "{:?}", sb.python());
    let outcome = sb.run(&Program::new("usr", "import sys\nprint(sys.prefix)\n"));
    assert!(outcome.passed, "{outcome:#?}");
    assert_eq!(outcome.stdout, "/usr\n");
}

#[test]
fn bad_config_names_the_field() {
    type Change = fn(&mut SandboxConfig);
    let cases: [(&str, Change); 4] = [
        ("wall_time", |c| c.wall_time = Duration::ZERO),
        ("memory_bytes", |c| c.memory_bytes = 1 << 20),
        ("max_processes", |c| c.max_processes = 0),
        ("parallelism", |c| c.parallelism = 0),
    ];
    for (key, change) in cases {
        let mut config = SandboxConfig::default();
        change(&mut config);
        let err = Sandbox::new(config).unwrap_err();
        assert!(
            matches!(&err, SandboxError::Config { key: k, .. } if *k == key),
            "{err}"
        );
        assert!(err.to_string().contains(key), "{err}");
    }
}

#[test]
fn a_missing_interpreter_is_a_clear_error() {
    let config = SandboxConfig {
        python: Some("/nonexistent/python3".into()),
        ..SandboxConfig::default()
    };
    let err = Sandbox::new(config).unwrap_err().to_string();
    assert!(err.contains("/nonexistent/python3"), "{err}");
}

#[test]
fn outcomes_serialise_for_logging() {
    let sb = default_sandbox();
    let outcome = sb.run(&Program::new("json", "raise SystemExit(3)\n"));
    let json = serde_json::to_value(&outcome).unwrap();
    assert_eq!(json["id"], "json");
    assert_eq!(json["passed"], false);
    assert_eq!(
        json["reason"],
        serde_json::json!({"kind": "exit", "detail": 3})
    );
    let back: spillover_sandbox::Outcome = serde_json::from_value(json).unwrap();
    assert_eq!(back, outcome);
    let timeout = serde_json::to_value(FailReason::Timeout).unwrap();
    assert_eq!(timeout, serde_json::json!({"kind": "timeout"}));
}
