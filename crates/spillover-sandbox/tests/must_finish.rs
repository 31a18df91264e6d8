//! Programs that must finish (HumanEval): only the sandbox's init, through a secret token, can
//! make them pass. Exiting early with status 0 — `sys.exit(0)` or `os._exit(0)` in the body,
//! `raise SystemExit` or `sys.exit(0)` at module level — is `Unfinished`; so is printing a
//! token-like line, writing to the descriptors the init holds, or reading the token pipe.

mod common;

use common::{assert_failed, sandbox};
use spillover_sandbox::{FailReason, Program, Sandbox};

/// A HumanEval-shaped program: the prompt, `body` as the completion, a check that calls it.
fn program(name: &str, module_level: &str, body: &str) -> Program {
    let source = format!(
        "import os, sys\n\
         {module_level}\n\
         def add(a, b):\n\
         {body}\n\n\
         def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(2, 2) == 4\n\n\
         check(add)\n"
    );
    Program::must_finish(name, source)
}

fn sb() -> Sandbox {
    sandbox(|_| {})
}

#[test]
fn a_correct_solution_passes_and_a_wrong_one_fails() {
    let sb = sb();
    let good = sb.run(&program("good", "", "    return a + b"));
    assert!(good.passed, "{good:#?}");
    let wrong = sb.run(&program("wrong", "", "    return a - b"));
    assert_failed(&wrong, FailReason::Exit(1));
    assert!(wrong.stderr.contains("AssertionError"), "{wrong:#?}");
}

#[test]
fn early_exits_with_status_0_are_unfinished() {
    let sb = sb();
    let cheats = [
        ("sys_exit_in_body", "", "    sys.exit(0)"),
        ("os_exit_in_body", "", "    os._exit(0)"),
        ("raise_systemexit_in_body", "", "    raise SystemExit"),
        (
            "raise_systemexit_at_module_level",
            "raise SystemExit",
            "    return a + b",
        ),
        (
            "sys_exit_at_module_level",
            "sys.exit(0)",
            "    return a + b",
        ),
        ("os_exit_at_module_level", "os._exit(0)", "    return a + b"),
        ("exit_builtin_in_body", "", "    exit()"),
        (
            "kill_itself",
            "",
            "    import signal\n    os.kill(os.getpid(), signal.SIGKILL)",
        ),
    ];
    for (name, module_level, body) in cheats {
        let outcome = sb.run(&program(name, module_level, body));
        assert!(!outcome.passed, "{name} passed: {outcome:#?}");
        if outcome.exit_code == Some(0) {
            assert_eq!(
                outcome.reason,
                Some(FailReason::Unfinished),
                "{name}: {outcome:#?}"
            );
        }
    }
    // The same early exit in an ordinary program is a pass (status 0), as before.
    let plain = Program::new("plain", "import sys\nsys.exit(0)\n");
    assert!(sb.run(&plain).passed);
}

#[test]
fn forged_tokens_and_the_inits_descriptors_do_not_help() {
    let sb = sb();
    // Prints token-like lines, writes to every descriptor number it might have inherited,
    // tries the init's descriptors through /proc/1/fd, then exits 0.
    let body = r#"    import glob
    for i in range(64):
        print('%032x' % i, flush=True)
    for fd in range(3, 64):
        try:
            os.write(fd, b'0' * 32)
        except OSError:
            pass
    opened = 0
    for path in glob.glob('/proc/*/fd/*'):
        try:
            with open(path, 'rb', buffering=0) as f:
                opened += 1
                print('read', path, f.read(64), flush=True)
        except OSError:
            pass
        try:
            with open(path, 'wb', buffering=0) as f:
                f.write(b'0' * 32)
        except OSError:
            pass
    print('opened', opened, flush=True)
    os._exit(0)"#;
    let outcome = sb.run(&program("forge", "", body));
    assert!(!outcome.passed, "{outcome:#?}");
    assert_eq!(outcome.reason, Some(FailReason::Unfinished), "{outcome:#?}");
    // The loop over /proc/*/fd/* did run (so the check above is not vacuous).
    assert!(outcome.stdout.contains("\nopened "), "{outcome:#?}");
}
