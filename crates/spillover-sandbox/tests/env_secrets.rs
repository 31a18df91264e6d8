//! A secret in the caller's environment never reaches the program: the sandbox's environment
//! is a fixed list. (One test in this file, so setting the variable races with nothing.)

mod common;

use common::{assert_raised, short, Host};

#[test]
fn environment_secrets_are_not_visible() {
    let host = Host::new("env");
    let secret = format!("{}-TOKEN", host.marker);
    // No other thread of this test binary reads the environment meanwhile: this is the only
    // test here, and the sandbox is built after the variable is set.
    std::env::set_var("SPILLOVER_SBX_SECRET", &secret);
    let body = "\
import os
print('keys', sorted(os.environ), flush=True)
for pid in ('self', '1'):
    try:
        data = open('/proc/%s/environ' % pid, 'rb').read()
        print(pid, data.decode(errors='replace'), flush=True)
    except OSError as e:
        print(pid, 'unreadable', type(e).__name__, flush=True)
print(os.environ['SPILLOVER_SBX_SECRET'])
";
    let outcome = short().run(&host.program(body));
    std::env::remove_var("SPILLOVER_SBX_SECRET");
    assert_raised(&outcome, &["KeyError"]);
    let keys = outcome
        .stdout
        .lines()
        .find(|l| l.starts_with("keys "))
        .unwrap();
    assert_eq!(
        keys,
        "keys ['HOME', 'LANG', 'PATH', 'PWD', 'PYTHONDONTWRITEBYTECODE', 'PYTHONHASHSEED', 'TMPDIR']",
        "{outcome:#?}"
    );
    assert!(!outcome.stdout.contains(&secret), "{outcome:#?}");
    assert!(!outcome.stderr.contains(&secret), "{outcome:#?}");
    host.assert_unchanged(&outcome);
}
